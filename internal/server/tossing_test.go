package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/accounts"
)

// junkToken is a well-formed token that names no session.
func junkToken(t *testing.T) string {
	b := make([]byte, 27)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func cookieHeader(tokens ...string) string {
	parts := make([]string, len(tokens))
	for i, tok := range tokens {
		parts[i] = "sid=" + tok
	}
	return strings.Join(parts, "; ")
}

func TestCookieTossing_JunkCookiesDoNotLockTheUserOut_SEC33(t *testing.T) {
	s := start(t, options{})
	for _, n := range []int{4, 15, 40} {
		var junk []string
		for range n {
			junk = append(junk, junkToken(t))
		}
		// Planted before the login, sent with it and with every request
		// after it (a parent-domain cookie stays beside the host's).
		r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", "application/json", "Cookie", cookieHeader(junk...))
		if r.status != http.StatusOK {
			t.Fatalf("%d junk cookies: login %d %s", n, r.status, r.body)
		}
		token := sidFrom(t, r)
		orders := [][]string{append(slices.Clone(junk), token)}
		if n < 16 {
			// Within the bound the order does not matter; past it the
			// browser's order (planted first, the fresh cookie last) does.
			orders = append(orders, append([]string{token}, junk...))
		}
		for _, order := range orders {
			if g := s.do(t, "GET", sessionPath, "", "Cookie", cookieHeader(order...)); g.status != http.StatusOK {
				t.Fatalf("%d junk cookies beside a fresh session: %d %s", n, g.status, g.body)
			}
		}
	}
}

func TestCookieTossing_ALoginRevokesEveryPresentedSession_SEC33(t *testing.T) {
	s := start(t, options{})
	// The attacker signs into an account of their own and plants that
	// valid session beside the victim's: the request is ambiguous.
	if _, err := s.accounts.AddUser(context.Background(), accounts.UserParams{Email: "mallory@example.com", Password: "mallory's own password"}); err != nil {
		t.Fatal(err)
	}
	planted := s.loginAs(t, "mallory@example.com", "mallory's own password")
	victim := s.login(t)
	if g := s.do(t, "GET", sessionPath, "", "Cookie", cookieHeader(planted, victim)); g.status != http.StatusUnauthorized {
		t.Fatalf("two valid sessions in one request: %d, want 401 (never pick one)", g.status)
	}
	r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", "application/json", "Cookie", cookieHeader(planted, victim))
	fresh := sidFrom(t, r)
	for name, tok := range map[string]string{"planted": planted, "previous": victim} {
		if g := s.get(t, tok); g.status != http.StatusUnauthorized {
			t.Errorf("the %s session presented at login still answers %d", name, g.status)
		}
	}
	if g := s.do(t, "GET", sessionPath, "", "Cookie", cookieHeader(planted, victim, fresh)); g.status != http.StatusOK || !strings.Contains(g.body, userEmail) {
		t.Fatalf("after the login, with the planted cookie still sent: %d %s", g.status, g.body)
	}
}
