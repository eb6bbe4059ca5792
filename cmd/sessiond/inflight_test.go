package main

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redistest"
)

func TestTwoNodes_PostgreSQL_NoLoginInFlightSurvivesADisableOrPasswordChange_SEC37(t *testing.T) {
	noLoginInFlightSurvives(t, postgresStore(t))
}

func TestTwoNodes_Redis_NoLoginInFlightSurvivesADisableOrPasswordChange_SEC37(t *testing.T) {
	noLoginInFlightSurvives(t, redistest.URL(redistest.Prefix(t)))
}

// noLoginInFlightSurvives races logins on two nodes against a disable, then
// against a password change, trial after trial (#16.1). A login checks the
// password, then creates the session; a disable or a password change
// updates the user, then revokes. Every login that answered 200 with the
// old state must be dead on both nodes once the change has answered.
func noLoginInFlightSurvives(t *testing.T, store string) {
	tokenFile := adminTokenFile(t)
	flags := []string{"--cache-ttl", "1h", "--admin-token-file", tokenFile,
		"--throttle-account-attempts", "100000", "--throttle-address-attempts", "100000"}
	a, b := startNode(t, store, flags...), startNode(t, store, flags...)
	nodes := []client{{t, a.url}, {t, b.url}}
	const email = "test@example.com"
	var userID string
	{
		res, body := nodes[0].do("GET", "/api/auth/session-v2", "", nodes[0].login(email, "password"))
		var s struct{ User struct{ ID string } }
		json.Unmarshal([]byte(body), &s)
		if res.StatusCode != 200 || s.User.ID == "" {
			t.Fatalf("the demo user: %d %s", res.StatusCode, body)
		}
		userID = s.User.ID
	}
	body := func(pw string) string {
		b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
		return string(b)
	}
	type minted struct{ token, node string }
	// race runs four login loops with pw on alternating nodes while change
	// runs on node B, and returns every session a login answered 200 with.
	race := func(pw string, change func()) []minted {
		var (
			mu     sync.Mutex
			tokens []minted
			wg     sync.WaitGroup
		)
		stop := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					res, _ := nodes[(w+i)%2].do("POST", "/api/auth/session-v2", body(pw), "")
					for _, c := range res.Cookies() {
						if c.Name == "sid" && c.MaxAge > 0 {
							mu.Lock()
							tokens = append(tokens, minted{c.Value, nodes[(w+i)%2].url})
							mu.Unlock()
						}
					}
				}
			})
		}
		// Let the logins get going, so that some are in flight.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(tokens)
			mu.Unlock()
			if n >= 2 || time.Now().After(deadline) {
				break
			}
		}
		change()
		close(stop)
		wg.Wait()
		return tokens
	}
	// check: past the propagation bound, every such session is dead on
	// both nodes.
	check := func(kind string, trial int, tokens []minted) {
		t.Helper()
		for _, m := range tokens {
			for _, n := range nodes {
				deadline := time.Now().Add(sessiond.DefaultFeedLease + time.Second)
				for n.status(m.token) != 401 {
					if time.Now().After(deadline) {
						t.Fatalf("%s trial %d: a session from a login on %s (old state) still answers 200 on %s after the change answered", kind, trial, m.node, n.url)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
	}
	survivors := 0
	for trial := range 6 {
		tokens := race("password", func() {
			if code, body := nodes[1].adminDo("POST", "/admin/v1/users/"+userID+"/disable", ""); code != 200 {
				t.Fatalf("disable on B: %d %s", code, body)
			}
		})
		check("disable", trial, tokens)
		survivors += len(tokens)
		if code, body := nodes[1].adminDo("PATCH", "/admin/v1/users/"+userID, `{"disabled":false}`); code != 200 {
			t.Fatalf("enable on B: %d %s", code, body)
		}
	}
	for trial := range 6 {
		changer := nodes[1].login(email, "password")
		tokens := race("password", func() {
			res, body := nodes[1].do("POST", "/api/auth/password", `{"current_password":"password","new_password":"password-two"}`, changer)
			if res.StatusCode != 200 {
				t.Fatalf("password change on B: %d %s", res.StatusCode, body)
			}
		})
		check("password change", trial, tokens)
		survivors += len(tokens)
		// Back to the old password for the next trial.
		restorer := nodes[1].login(email, "password-two")
		if res, body := nodes[1].do("POST", "/api/auth/password", `{"current_password":"password-two","new_password":"password"}`, restorer); res.StatusCode != 200 {
			t.Fatalf("password change back on B: %d %s", res.StatusCode, body)
		}
	}
	t.Logf("checked %d sessions from logins racing 6 disables and 6 password changes: none survived", survivors)
}
