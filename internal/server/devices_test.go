package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/password"
)

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	chromeMac    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
)

// call sends a JSON request with the session cookie; headers are pairs.
func (s *testServer) call(t *testing.T, method, path, body, token string, headers ...string) response {
	t.Helper()
	h := append([]string{}, headers...)
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	if token != "" {
		h = append(h, "Cookie", "sid="+token)
	}
	return s.do(t, method, path, body, h...)
}

func (s *testServer) loginAs(t *testing.T, email, pw string, headers ...string) string {
	t.Helper()
	r := s.call(t, "POST", sessionPath, loginBody(email, pw), "", headers...)
	if r.status != http.StatusOK {
		t.Fatalf("login as %s: %d %s", email, r.status, r.body)
	}
	return sidFrom(t, r)
}

type deviceList struct {
	Sessions []struct {
		ID      string   `json:"id"`
		Device  string   `json:"device"`
		Current bool     `json:"current"`
		Flags   []string `json:"flags"`
	} `json:"sessions"`
}

func (s *testServer) devices(t *testing.T, token string) deviceList {
	t.Helper()
	r := s.call(t, "GET", "/api/auth/sessions", "", token)
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/auth/sessions: %d %s", r.status, r.body)
	}
	var d deviceList
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func sessionID(t *testing.T, s *testServer, token string) string {
	t.Helper()
	var body struct{ Session struct{ ID string } }
	json.Unmarshal([]byte(s.get(t, token).body), &body)
	if body.Session.ID == "" {
		t.Fatal("no session id")
	}
	return body.Session.ID
}

func TestDevices_ListsTheUsersSessionsAndMarksTheCurrentOne(t *testing.T) {
	s := start(t, options{})
	ff := s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	ch := s.loginAs(t, userEmail, userPassword, "User-Agent", chromeMac)
	d := s.devices(t, ff)
	if len(d.Sessions) != 2 {
		t.Fatalf("%d sessions listed, want 2", len(d.Sessions))
	}
	labels := map[string]bool{}
	current := 0
	for _, x := range d.Sessions {
		labels[x.Device] = true
		if x.Current {
			current++
			if x.ID != sessionID(t, s, ff) {
				t.Fatal("the wrong session is marked current")
			}
		}
	}
	if !labels["Firefox on Linux"] || !labels["Chrome on macOS"] || current != 1 {
		t.Fatalf("devices %+v", d.Sessions)
	}
	if r := s.call(t, "GET", "/api/auth/sessions", "", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("without a session: %d", r.status)
	}
	if strings.Contains(s.call(t, "GET", "/api/auth/sessions", "", ch).body, ch) {
		t.Fatal("the device list shows a token")
	}
}

func TestRevokeSession_OnlyTheUsersOwn_SEC11(t *testing.T) {
	s := start(t, options{})
	if _, err := s.accounts.AddUser(context.Background(), accounts.UserParams{Email: "bob@example.com", Password: "bob's password"}); err != nil {
		t.Fatal(err)
	}
	mine := s.loginAs(t, userEmail, userPassword)
	myOther := s.loginAs(t, userEmail, userPassword)
	bobs := s.loginAs(t, "bob@example.com", "bob's password")
	bobsID := sessionID(t, s, bobs)

	for _, c := range []struct {
		id   string
		want int
	}{
		{"not-a-uuid", 400},
		{"00000000-0000-0000-0000-000000000000%27", 400},
		{strings.ToUpper(bobsID), 400},
		{bobsID, 404},
		{"00000000-0000-4000-8000-000000000000", 404},
	} {
		if r := s.call(t, "DELETE", "/api/auth/sessions/"+c.id, "", mine); r.status != c.want {
			t.Errorf("DELETE %s: %d %s, want %d", c.id, r.status, r.body, c.want)
		}
	}
	if s.get(t, bobs).status != http.StatusOK {
		t.Fatal("another user's session was revoked")
	}
	if r := s.call(t, "DELETE", "/api/auth/sessions/"+sessionID(t, s, myOther), "", mine); r.status != http.StatusNoContent {
		t.Fatalf("revoking my other session: %d %s", r.status, r.body)
	}
	if s.get(t, myOther).status != http.StatusUnauthorized {
		t.Fatal("revoked device still signed in")
	}
	// Revoking the current session through the devices API is a logout.
	r := s.call(t, "DELETE", "/api/auth/sessions/"+sessionID(t, s, mine), "", mine)
	if r.status != http.StatusNoContent || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("revoking the current session: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
	if s.get(t, mine).status != http.StatusUnauthorized {
		t.Fatal("current session survived its revocation")
	}
}

func TestRevokeSession_RacingRequestsNeverKeepItAlive_SEC10(t *testing.T) {
	s := start(t, options{cache: true})
	actor := s.loginAs(t, userEmail, userPassword)
	victim := s.loginAs(t, userEmail, userPassword)
	id := sessionID(t, s, victim)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					s.get(t, victim)
					s.call(t, "PATCH", sessionPath, `{"data":{"x":1}}`, victim)
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if r := s.call(t, "DELETE", "/api/auth/sessions/"+id, "", actor); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d", r.status)
	}
	close(stop)
	wg.Wait()
	if s.get(t, victim).status != http.StatusUnauthorized {
		t.Fatal("a session revoked during traffic is still valid")
	}
	if _, err := s.manager.Lookup(context.Background(), id); err == nil {
		t.Fatal("a racing request brought the session back into the store")
	}
}

func TestRevokeOthersAndReauth_NeedARecentAuthentication_SEC12(t *testing.T) {
	s := start(t, options{})
	current := s.loginAs(t, userEmail, userPassword)
	other := s.loginAs(t, userEmail, userPassword)
	s.clock.Advance(11 * time.Minute) // past the default 10-minute window
	r := s.call(t, "POST", "/api/auth/sessions/revoke-others", "", current)
	if r.status != http.StatusForbidden || r.json(t)["error"] != "reauth_required" {
		t.Fatalf("stale revoke-others: %d %s, want 403 reauth_required", r.status, r.body)
	}
	if r := s.call(t, "POST", "/api/auth/reauth", `{"password":"wrong password"}`, current); r.status != http.StatusForbidden || r.json(t)["error"] != "wrong_password" {
		t.Fatalf("reauth with a wrong password: %d %s", r.status, r.body)
	}
	r = s.call(t, "POST", "/api/auth/reauth", `{"password":"`+userPassword+`"}`, current)
	if r.status != http.StatusOK {
		t.Fatalf("reauth: %d %s", r.status, r.body)
	}
	fresh := sidFrom(t, r)
	if fresh == current || s.get(t, current).status != http.StatusUnauthorized {
		t.Fatal("re-authentication did not rotate the token")
	}
	r = s.call(t, "POST", "/api/auth/sessions/revoke-others", "", fresh)
	if r.status != http.StatusOK || r.json(t)["revoked"] != float64(1) {
		t.Fatalf("revoke-others: %d %s", r.status, r.body)
	}
	if s.get(t, other).status != http.StatusUnauthorized || s.get(t, fresh).status != http.StatusOK {
		t.Fatal("revoke-others ended the wrong sessions")
	}
}

func TestChangePassword_RotatesAndEndsEveryOtherSession_SEC07(t *testing.T) {
	s := start(t, options{})
	current := s.loginAs(t, userEmail, userPassword)
	other := s.loginAs(t, userEmail, userPassword)
	const next = "a brand new passphrase"
	for _, c := range []struct {
		body string
		want int
		code string
	}{
		{`{"current_password":"nope","new_password":"` + next + `"}`, 403, "wrong_password"},
		{`{"current_password":"` + userPassword + `","new_password":"short"}`, 400, "invalid_input"},
		{`{"current_password":"` + userPassword + `"}`, 400, "invalid_input"},
		{`{"current_password":1,"new_password":"` + next + `"}`, 400, "invalid_input"},
	} {
		r := s.call(t, "POST", "/api/auth/password", c.body, current)
		if r.status != c.want || r.json(t)["error"] != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.body, r.status, r.body, c.want, c.code)
		}
	}
	r := s.call(t, "POST", "/api/auth/password", `{"current_password":"`+userPassword+`","new_password":"`+next+`"}`, current)
	if r.status != http.StatusOK {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	rotated := sidFrom(t, r)
	for name, c := range map[string]struct {
		token string
		want  int
	}{"old current token": {current, 401}, "other session": {other, 401}, "rotated token": {rotated, 200}} {
		if got := s.get(t, c.token).status; got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != http.StatusUnauthorized {
		t.Fatalf("old password still works: %d", r.status)
	}
	s.loginAs(t, userEmail, next)

	s.clock.Advance(11 * time.Minute)
	r = s.call(t, "POST", "/api/auth/password", `{"current_password":"`+next+`","new_password":"yet another passphrase"}`, rotated)
	if r.status != http.StatusForbidden || r.json(t)["error"] != "reauth_required" {
		t.Fatalf("password change with a stale authentication: %d %s", r.status, r.body)
	}
}

func TestCap_HoldsUnderParallelLogins_SEC19(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		// The test is about the cap, not about hashing: on a busy machine
		// under the race detector, eight argon2 hashes on two slots can
		// wait past the default 2 s and answer 503 busy.
		// Eight parallel attempts on one account exceed the throttle's
		// free attempts (SEC-29); the cap is what is tested here.
		s := start(t, options{config: func(c *sessiond.Config) { c.MaxSessionsPerUser = 2; c.RefuseAtLimit = refuse },
			hasher: password.New(password.Options{MaxWait: time.Minute}), throttle: accounts.Throttle{AccountAttempts: 100}})
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for range 8 {
			wg.Go(func() {
				r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), "")
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		list, err := s.manager.List(context.Background(), s.userID(t))
		if err != nil || len(list) != 2 {
			t.Fatalf("refuse=%v: %d live sessions after 8 parallel logins at a cap of 2 (%v)", refuse, len(list), err)
		}
		if refuse && (statuses[200] != 2 || statuses[409] != 6) {
			t.Fatalf("refuse mode statuses %v, want 2×200 and 6×409", statuses)
		}
		if !refuse && statuses[200] != 8 {
			t.Fatalf("evict mode statuses %v, want 8×200", statuses)
		}
	}
}

func TestCap_SingleSessionModeEndsThePreviousSession(t *testing.T) {
	s := start(t, options{config: func(c *sessiond.Config) { c.MaxSessionsPerUser = 1 }})
	first := s.loginAs(t, userEmail, userPassword)
	s.clock.Advance(time.Second)
	second := s.loginAs(t, userEmail, userPassword)
	if s.get(t, first).status != http.StatusUnauthorized || s.get(t, second).status != http.StatusOK {
		t.Fatal("single-session mode kept the first session")
	}
	r := s.call(t, "GET", "/api/auth/events", "", second)
	if !strings.Contains(r.body, `"reason":"session_limit"`) {
		t.Fatalf("no revocation event names the cap: %s", r.body)
	}
}

func TestAnomaly_FlagsAgentAndNetworkChanges_SEC20(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	s := start(t, options{proxies: proxies})
	token := s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux, "X-Forwarded-For", "198.51.100.7")
	// Same browser family, same /24: nothing.
	r := s.call(t, "GET", sessionPath, "", token, "User-Agent", strings.Replace(firefoxLinux, "140.0", "141.0", 2), "X-Forwarded-For", "198.51.100.99")
	if r.status != 200 || strings.Contains(r.body, "changed") {
		t.Fatalf("an update of the same browser in the same network was flagged: %s", r.body)
	}
	r = s.call(t, "GET", sessionPath, "", token, "User-Agent", chromeMac, "X-Forwarded-For", "203.0.113.5")
	if r.status != 200 || !strings.Contains(r.body, `"flags":["agent_changed","network_changed"]`) {
		t.Fatalf("changed agent and network: %d %s", r.status, r.body)
	}
	events := s.call(t, "GET", "/api/auth/events", "", token).body
	if strings.Count(events, `"type":"anomaly"`) != 2 || !strings.Contains(events, `"ip_address":"203.0.113.5"`) {
		t.Fatalf("anomaly events: %s", events)
	}
	if s.call(t, "PATCH", sessionPath, `{"data":{"a":1}}`, token).status != http.StatusOK {
		t.Fatal("flag mode blocked a state-changing request")
	}
}

// A page that fires a burst of calls from a new browser (or a stolen cookie
// replayed in parallel) records the change once, with or without the node
// cache, and every call is answered.
func TestAnomaly_ABurstFromANewBrowserIsRecordedOnce_SEC20(t *testing.T) {
	for _, cache := range []bool{false, true} {
		s := start(t, options{cache: cache})
		token := s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
		if s.call(t, "GET", sessionPath, "", token, "User-Agent", firefoxLinux).status != http.StatusOK {
			t.Fatal("the session is not valid in its own browser")
		}
		const n = 24
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", s.url+sessionPath, nil)
				req.Header.Set("Cookie", "sid="+token)
				req.Header.Set("User-Agent", chromeMac)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			})
		}
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusOK {
				t.Fatalf("cache %v: request %d of the burst answered %d", cache, i, st)
			}
		}
		events := s.call(t, "GET", "/api/auth/events", "", token, "User-Agent", chromeMac).body
		if got := strings.Count(events, `"type":"anomaly"`); got != 1 {
			t.Fatalf("cache %v: %d anomaly events for one new browser, want 1: %s", cache, got, events)
		}
		if r := s.call(t, "GET", sessionPath, "", token, "User-Agent", chromeMac); !strings.Contains(r.body, `"flags":["agent_changed"]`) {
			t.Fatalf("cache %v: flags after the burst: %s", cache, r.body)
		}
	}
}

func TestAnomaly_ForwardedHeadersOnlyFromTrustedProxies_SEC20(t *testing.T) {
	s := start(t, options{})
	token := s.loginAs(t, userEmail, userPassword, "X-Forwarded-For", "198.51.100.7")
	r := s.call(t, "GET", sessionPath, "", token, "X-Forwarded-For", "203.0.113.5", "Forwarded", "for=203.0.113.5")
	if r.status != 200 || strings.Contains(r.body, "network_changed") || !strings.Contains(r.body, `"ip_address":"127.0.0.1"`) {
		t.Fatalf("a forwarded header from an untrusted peer was believed: %s", r.body)
	}
}

func TestAnomaly_ReauthAndRevokePolicies_SEC20(t *testing.T) {
	s := start(t, options{config: func(c *sessiond.Config) { c.Anomaly = sessiond.AnomalyReauth }})
	token := s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	if r := s.call(t, "GET", sessionPath, "", token, "User-Agent", chromeMac); r.status != http.StatusOK {
		t.Fatalf("reauth policy: reads still work, got %d", r.status)
	}
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"a":1}}`, token, "User-Agent", chromeMac); r.status != http.StatusForbidden || r.json(t)["error"] != "reauth_required" {
		t.Fatalf("reauth policy: state change allowed: %d %s", r.status, r.body)
	}
	r := s.call(t, "POST", "/api/auth/reauth", `{"password":"`+userPassword+`"}`, token, "User-Agent", chromeMac)
	if r.status != http.StatusOK {
		t.Fatalf("reauth: %d %s", r.status, r.body)
	}
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"a":1}}`, sidFrom(t, r), "User-Agent", chromeMac); r.status != http.StatusOK {
		t.Fatalf("after re-authentication: %d %s", r.status, r.body)
	}

	s = start(t, options{config: func(c *sessiond.Config) { c.Anomaly = sessiond.AnomalyRevoke }})
	token = s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	if r := s.call(t, "GET", sessionPath, "", token, "User-Agent", chromeMac); r.status != http.StatusUnauthorized {
		t.Fatalf("revoke policy: %d", r.status)
	}
	if r := s.call(t, "GET", sessionPath, "", token, "User-Agent", firefoxLinux); r.status != http.StatusUnauthorized {
		t.Fatal("revoke policy: the session survived")
	}
}

func TestNewDevice_RaisesAnEventOncePerDevice_SEC20(t *testing.T) {
	s := start(t, options{})
	s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	token := s.loginAs(t, userEmail, userPassword, "User-Agent", chromeMac)
	events := s.call(t, "GET", "/api/auth/events", "", token).body
	if n := strings.Count(events, `"type":"new_device"`); n != 2 {
		t.Fatalf("%d new_device events for two devices: %s", n, events)
	}
}

func TestThrottle_BacksOffPerAccountAlikeForUnknownEmails_SEC14_SEC15(t *testing.T) {
	s := start(t, options{})
	fail := func(email string) response {
		return s.call(t, "POST", sessionPath, loginBody(email, "wrong password"), "")
	}
	for _, email := range []string{userEmail, "nobody@example.com"} {
		for i := range 5 {
			if r := fail(email); r.status != http.StatusUnauthorized {
				t.Fatalf("%s failure %d: %d", email, i+1, r.status)
			}
		}
	}
	known, unknown := fail(userEmail), fail("nobody@example.com")
	if known.status != 429 || unknown.status != 429 || known.body != unknown.body ||
		known.header.Get("Retry-After") != unknown.header.Get("Retry-After") || known.header.Get("Retry-After") == "" {
		t.Fatalf("throttled answers differ or are not 429:\n%d %q %s\n%d %q %s", known.status, known.header.Get("Retry-After"), known.body,
			unknown.status, unknown.header.Get("Retry-After"), unknown.body)
	}
	// Even the right password waits out the back-off...
	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != 429 {
		t.Fatalf("right password during back-off: %d", r.status)
	}
	// ...which ends: never a permanent lock-out.
	s.clock.Advance(2 * time.Second)
	s.loginAs(t, userEmail, userPassword)
	// Success clears the account's failures.
	if r := fail(userEmail); r.status != http.StatusUnauthorized {
		t.Fatalf("first failure after a success: %d", r.status)
	}

	// The counters live in the store: a second node on it sees them.
	node2 := start(t, options{store: s.store.Store, clock: s.clock})
	for range 4 {
		fail(userEmail)
	}
	if r := node2.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != 429 {
		t.Fatalf("the other node ignored the throttle: %d", r.status)
	}
}

func TestThrottle_PerAddress_SEC14(t *testing.T) {
	s := start(t, options{})
	for i := range 20 {
		if r := s.call(t, "POST", sessionPath, loginBody("user"+strings.Repeat("x", i)+"@example.com", "wrong password"), ""); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.status)
		}
	}
	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != 429 {
		t.Fatalf("21st attempt from one address: %d, want 429", r.status)
	}
}

func TestEvents_AreTheUsersOwnAndCarryNoSecret_SEC22(t *testing.T) {
	s := start(t, options{})
	if _, err := s.accounts.AddUser(context.Background(), accounts.UserParams{Email: "bob@example.com", Password: "bob's password"}); err != nil {
		t.Fatal(err)
	}
	s.call(t, "POST", sessionPath, loginBody(userEmail, "a wrong guess"), "")
	first := s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	s.call(t, "DELETE", sessionPath, "", first)
	s.loginAs(t, "bob@example.com", "bob's password")
	token := s.loginAs(t, userEmail, userPassword)
	r := s.call(t, "GET", "/api/auth/events?limit=50", "", token)
	if r.status != 200 {
		t.Fatalf("events: %d %s", r.status, r.body)
	}
	var body struct {
		Events []sessiond.Event `json:"events"`
	}
	json.Unmarshal([]byte(r.body), &body)
	types := map[sessiond.EventType]int{}
	for _, e := range body.Events {
		types[e.Type]++
		if e.UserID != s.userID(t) {
			t.Fatalf("another user's event: %+v", e)
		}
		if e.At.IsZero() || e.ID == "" {
			t.Fatalf("event without id or time: %+v", e)
		}
	}
	if types["login"] != 2 || types["login_failed"] != 1 || types["logout"] != 1 || types["new_device"] < 1 {
		t.Fatalf("event types %v", types)
	}
	for _, secret := range []string{userPassword, "a wrong guess", first, token} {
		if strings.Contains(r.body, secret) {
			t.Fatalf("events contain a secret: %s", r.body)
		}
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1001"} {
		if r := s.call(t, "GET", "/api/auth/events?"+q, "", token); r.status != 400 {
			t.Errorf("?%s: %d", q, r.status)
		}
	}
}

func TestThrottle_AddsNoStoreRoundTripToValidation_SEC14(t *testing.T) {
	s := start(t, options{cache: true})
	token := s.login(t)
	s.get(t, token) // warm the node cache
	counters, lookups := s.store.counters.Load(), s.store.lookups.Load()
	for range 20 {
		if s.get(t, token).status != http.StatusOK {
			t.Fatal("GET failed")
		}
	}
	if n := s.store.counters.Load() - counters; n != 0 {
		t.Fatalf("20 validations read throttle counters %d times", n)
	}
	if n := s.store.lookups.Load() - lookups; n != 0 {
		t.Fatalf("20 cached validations made %d session lookups", n)
	}
}

func TestAnomaly_SessionsWithoutLoginMetadataAreNeverFlagged_SEC20(t *testing.T) {
	s := start(t, options{admin: adminToken, config: func(c *sessiond.Config) { c.Anomaly = sessiond.AnomalyRevoke }})
	r := s.admin(t, "POST", "/admin/v1/sessions", `{"user_id":"ext-1"}`)
	var created struct{ Token string }
	json.Unmarshal([]byte(r.body), &created)
	for range 2 {
		if r := s.call(t, "GET", sessionPath, "", created.Token, "User-Agent", chromeMac); r.status != http.StatusOK || strings.Contains(r.body, "changed") {
			t.Fatalf("admin-made session without agent or address: %d %s", r.status, r.body)
		}
	}
}

// A signed-in user's own password is checked against that user, never
// against whoever now holds the email this node remembers for them: with
// the node's cache stale (the email moved to another account behind its
// back), the other account's password neither re-authenticates the session
// nor changes anybody's password (SEC-12).
func TestOwnPassword_IsCheckedAgainstTheSessionsUserNotTheEmailsNewOwner_SEC12(t *testing.T) {
	s := start(t, options{cache: true})
	sid := s.loginAs(t, userEmail, userPassword)
	if r := s.get(t, sid); r.status != http.StatusOK { // the user is now in this node's cache
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	// Straight in the store, past the Manager (nothing leaves the cache):
	// Ann's email moves, and a new account takes it with its own password.
	ctx := context.Background()
	raw := s.store.Store
	ann, err := raw.UserByEmailKey(ctx, userEmail)
	if err != nil {
		t.Fatal(err)
	}
	ann.Email, ann.EmailKey, ann.UpdatedAt = "ann.old@example.com", "ann.old@example.com", s.clock.Now()
	if err := raw.UpdateUser(ctx, ann); err != nil {
		t.Fatal(err)
	}
	const otherPassword = "the other account's passphrase"
	if _, err := s.accounts.AddUser(ctx, accounts.UserParams{Email: userEmail, Password: otherPassword, TenantID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if r := s.call(t, "POST", "/api/auth/reauth", `{"password":"`+otherPassword+`"}`, sid); r.status != http.StatusForbidden || r.json(t)["error"] != "wrong_password" {
		t.Fatalf("reauth of Ann's session with the other account's password: %d %s, want 403 wrong_password", r.status, r.body)
	}
	if r := s.call(t, "POST", "/api/auth/password", `{"current_password":"`+otherPassword+`","new_password":"a brand new passphrase"}`, sid); r.status != http.StatusForbidden || r.json(t)["error"] != "wrong_password" {
		t.Fatalf("password change of Ann's session with the other account's password: %d %s, want 403 wrong_password", r.status, r.body)
	}
	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, otherPassword), ""); r.status != http.StatusOK {
		t.Fatalf("the other account's password no longer signs it in: %d %s", r.status, r.body)
	}
}

// A password change whose session cannot carry on (its token replaced by a
// rotation on another node while this node's cache still answered it) ends
// every session of the user, this one too: the password has changed, and
// none of the others may stay (SEC-07).
func TestChangePassword_WithAReplacedTokenEndsEverySession_SEC07(t *testing.T) {
	s := start(t, options{cache: true})
	current := s.loginAs(t, userEmail, userPassword)
	other := s.loginAs(t, userEmail, userPassword)
	if r := s.get(t, current); r.status != http.StatusOK { // now in this node's cache
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	node := sessiond.NewManager(s.store.Store, sessiond.Config{Now: s.clock.Now, PurgeInterval: -1})
	t.Cleanup(func() { node.Close() })
	sess, err := node.Validate(ctx, current, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	successor, _, err := node.Reauthenticate(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	const next = "a brand new passphrase"
	r := s.call(t, "POST", "/api/auth/password", `{"current_password":"`+userPassword+`","new_password":"`+next+`"}`, current)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("password change with a replaced token: %d %s, want 401", r.status, r.body)
	}
	for name, tok := range map[string]string{"the other session": other, "the successor": successor} {
		if r := s.get(t, tok); r.status != http.StatusUnauthorized {
			t.Errorf("%s after the password change: %d, want 401", name, r.status)
		}
	}
	s.loginAs(t, userEmail, next)
}
