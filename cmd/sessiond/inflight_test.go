package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
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
		for w := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					// Not client.do: a transport error here is only a
					// login that did not happen, and must not fail the
					// test from this goroutine.
					res, err := http.Post(nodes[(w+i)%2].url+"/api/auth/session-v2", "application/json", strings.NewReader(body(pw)))
					if err != nil {
						continue
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
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
	// retry repeats an answer of 503 (the hashing slots full on a busy
	// machine, the store slow): the change has not happened yet.
	retry := func(what string, call func() (int, string)) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			code, body := call()
			if code == 200 {
				return
			}
			if code != 503 || time.Now().After(deadline) {
				t.Fatalf("%s on node B: %d %s", what, code, body)
			}
		}
	}
	for trial := range 3 {
		tokens := race("password", func() {
			retry("disable", func() (int, string) { return nodes[1].adminDo("POST", "/admin/v1/users/"+userID+"/disable", "") })
		})
		check("disable", trial, tokens)
		survivors += len(tokens)
		retry("enable", func() (int, string) {
			return nodes[1].adminDo("PATCH", "/admin/v1/users/"+userID, `{"disabled":false}`)
		})
	}
	for trial := range 3 {
		changer := nodes[1].login(email, "password")
		tokens := race("password", func() {
			retry("password change", func() (int, string) {
				res, body := nodes[1].do("POST", "/api/auth/password", `{"current_password":"password","new_password":"password-two"}`, changer)
				return res.StatusCode, body
			})
		})
		check("password change", trial, tokens)
		survivors += len(tokens)
		// Back to the old password for the next trial.
		restorer := nodes[1].login(email, "password-two")
		retry("password change back", func() (int, string) {
			res, body := nodes[1].do("POST", "/api/auth/password", `{"current_password":"password-two","new_password":"password"}`, restorer)
			return res.StatusCode, body
		})
	}
	t.Logf("checked %d sessions from logins racing 3 disables and 3 password changes: none survived", survivors)
}
