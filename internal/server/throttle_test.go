package server_test

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/server"
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

func TestLogin_IPv6ClientsAreThrottledPerSlash64_SEC14(t *testing.T) {
	// Trust the test's own loopback peer for X-Forwarded-For, so that the
	// test can speak from many IPv6 addresses of one /64.
	s := start(t, options{proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		hasher: password.New(password.Options{MaxWait: time.Minute, Queue: 64})})
	// Twenty free failures per address, each guess against another
	// account, from another address of the same /64.
	for i := range 20 {
		email := fmt.Sprintf("nobody%d@example.com", i)
		r := s.call(t, "POST", sessionPath, loginBody(email, "guess"), "", "X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, r.status)
		}
	}
	r := s.call(t, "POST", sessionPath, loginBody("nobody-else@example.com", "guess"), "", "X-Forwarded-For", "2001:db8:1:2:ffff::1")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("the 21st guess from the same /64: %d, want 429", r.status)
	}
	if r := s.call(t, "POST", sessionPath, loginBody("nobody-else@example.com", "guess"), "", "X-Forwarded-For", "2001:db8:1:3::1"); r.status != http.StatusUnauthorized {
		t.Fatalf("a guess from another /64: %d, want 401", r.status)
	}
}

// TestLimitListener_OneIPv6ClientIsItsSlash64: a client holding a /64
// cannot take a fresh address per connection past the per-client bound.
func TestLimitListener_OneIPv6ClientIsItsSlash64(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	// A test has one IPv6 address to connect from, so the key is checked
	// on addresses of one /64 and of two, and the listener on one address.
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"192.0.2.1", "192.0.2.2", false},
	} {
		if got := sessiond.AddressKey(c.a) == sessiond.AddressKey(c.b); got != c.same {
			t.Errorf("%s and %s one client: %v, want %v", c.a, c.b, got, c.same)
		}
	}
	limited := server.LimitListener(ln, 0, 1, nil)
	go func() {
		for {
			c, err := limited.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatal("a second connection from one client was kept at a bound of 1")
	}
}
