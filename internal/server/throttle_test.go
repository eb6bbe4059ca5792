package server_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/password"
)

func TestLogin_ParallelGuessesCostAtMostTheFreeAttempts_SEC29(t *testing.T) {
	// Enough hashing room that no guess is refused as busy: only the
	// throttle may refuse.
	s := start(t, options{hasher: password.New(password.Options{MaxWait: time.Minute, Queue: 64})})
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r := s.call(t, "POST", sessionPath, loginBody(userEmail, "wrong password"), "")
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// Five free attempts per account (the default): five passwords were
	// checked, fifteen refused before any hashing.
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 15 {
		t.Fatalf("20 parallel wrong guesses: %v, want 5×401 and 15×429", statuses)
	}
	// Right after the burst, the right password waits out the back-off too.
	r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), "")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("the right password right after the burst: %d %q, want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	s.clock.Advance(2 * time.Second)
	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != http.StatusOK {
		t.Fatalf("the right password after the back-off: %d %s", r.status, r.body)
	}
}
