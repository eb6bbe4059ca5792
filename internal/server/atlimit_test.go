package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func endOldestBody(pw string) string {
	b, _ := json.Marshal(map[string]any{"email": userEmail, "password": pw, "end_oldest_session": true})
	return string(b)
}

// At --at-limit refuse, a login that proves the password may ask to end
// the least recently used session instead of being refused, so that a user
// who lost the device holding it is not locked out; a wrong password ends
// nothing, and the ended session is an audit event.
func TestLogin_AtLimitRefuseMayEndTheLeastRecentlyUsedSession_SEC19(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := start(t, options{clock: clk, config: func(c *sessiond.Config) { c.MaxSessionsPerUser = 2; c.RefuseAtLimit = true }})
	kept := s.loginAs(t, userEmail, userPassword)
	clk.Advance(2 * time.Minute)
	lost := s.loginAs(t, userEmail, userPassword) // the device that went missing
	clk.Advance(2 * time.Minute)
	if s.get(t, kept).status != http.StatusOK { // used after the lost one: not the least recently used
		t.Fatal("the first session does not work")
	}

	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != http.StatusConflict || r.json(t)["error"] != "session_limit_reached" {
		t.Fatalf("a plain login at the cap: %d %s, want 409 session_limit_reached", r.status, r.body)
	}
	if r := s.call(t, "POST", sessionPath, endOldestBody("a wrong password"), ""); r.status != http.StatusUnauthorized {
		t.Fatalf("end_oldest_session with a wrong password: %d %s, want 401", r.status, r.body)
	}
	if s.get(t, kept).status != http.StatusOK || s.get(t, lost).status != http.StatusOK {
		t.Fatal("a refused login ended a session")
	}
	clk.Advance(2 * time.Minute) // both were just used: use the first again
	if s.get(t, kept).status != http.StatusOK {
		t.Fatal("the first session does not work")
	}
	if r := s.call(t, "POST", sessionPath, `{"email":"`+userEmail+`","password":"`+userPassword+`","end_oldest_session":"yes"}`, ""); r.status != http.StatusBadRequest {
		t.Fatalf("end_oldest_session as a string: %d, want 400", r.status)
	}

	r := s.call(t, "POST", sessionPath, endOldestBody(userPassword), "")
	if r.status != http.StatusOK {
		t.Fatalf("a login asking to end the least recently used session: %d %s", r.status, r.body)
	}
	fresh := sidFrom(t, r)
	if got := [3]int{s.get(t, kept).status, s.get(t, lost).status, s.get(t, fresh).status}; got != [3]int{200, 401, 200} {
		t.Fatalf("after the login: kept %d, least recently used %d, new %d; want 200, 401, 200", got[0], got[1], got[2])
	}
	if n := len(s.devices(t, fresh).Sessions); n != 2 {
		t.Fatalf("%d sessions after the login at a cap of 2", n)
	}
	events := s.call(t, "GET", "/api/auth/events", "", fresh).body
	if !strings.Contains(events, `"type":"session_revoked"`) || !strings.Contains(events, `"by":"login","reason":"session_limit"`) {
		t.Fatalf("no audit event for the ended session: %s", events)
	}
}
