package accounts_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
)

func backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDelegate_SignsTheExactBodyWithATimestamp(t *testing.T) {
	key := []byte("the-login-verify-key-0123456789")
	now := time.Unix(1_900_000_000, 0)
	var got atomic.Value
	url := backend(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.Store([2]string{r.Header.Get("X-Sessiond-Signature"), string(body)})
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		io.WriteString(w, `{"user_id":"7","email":"ann@example.com","tenant_id":"t","needs_onboarding":true,"onboarding_step":"s","attributes":{"a":1},"extra":"ignored"}`)
	})
	d := &accounts.Delegate{URL: url, Secret: key, Now: func() time.Time { return now }}
	e, err := d.Verify(context.Background(), "Ann@Example.com", "pässword \"quoted\"")
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "7" || e.Email != "ann@example.com" || e.TenantID != "t" || !e.NeedsOnboarding || e.OnboardingStep != "s" || string(e.Attributes) != `{"a":1}` {
		t.Fatalf("identity %+v", e)
	}
	v := got.Load().([2]string)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("1900000000." + v[1]))
	if want := "t=1900000000,v1=" + hex.EncodeToString(mac.Sum(nil)); v[0] != want {
		t.Fatalf("signature %q, want %q", v[0], want)
	}
	if v[1] != `{"email":"Ann@Example.com","password":"pässword \"quoted\""}` {
		t.Fatalf("body %s", v[1])
	}
	if accounts.Sign(key, 1900000000, []byte(v[1])) != v[0] {
		t.Fatal("Sign disagrees with the header")
	}
}

func TestDelegate_OnlyA200WithAValidIdentitySignsIn(t *testing.T) {
	var followed atomic.Int64
	target := backend(t, func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		io.WriteString(w, `{"user_id":"7"}`)
	})
	for _, c := range []struct {
		name   string
		status int
		answer string
		want   error
	}{
		{"401 is a wrong password", 401, `{}`, sessiond.ErrInvalidCredentials},
		{"403 is a wrong password", 403, ``, sessiond.ErrInvalidCredentials},
		{"500", 500, `{"user_id":"7"}`, sessiond.ErrUnavailable},
		{"404", 404, ``, sessiond.ErrUnavailable},
		{"204", 204, ``, sessiond.ErrUnavailable},
		{"a redirect is not followed", 307, ``, sessiond.ErrUnavailable},
		{"not JSON", 200, `<html>`, sessiond.ErrUnavailable},
		{"no user id", 200, `{"email":"ann@example.com"}`, sessiond.ErrUnavailable},
		{"a NUL in the id", 200, `{"user_id":"7\u0000"}`, sessiond.ErrUnavailable},
		{"a newline in the tenant", 200, `{"user_id":"7","tenant_id":"a\nb"}`, sessiond.ErrUnavailable},
		{"a control character in the step", 200, `{"user_id":"7","onboarding_step":"\u001b[31m"}`, sessiond.ErrUnavailable},
		{"an email that is not one", 200, `{"user_id":"7","email":"ann example"}`, sessiond.ErrUnavailable},
		{"attributes not an object", 200, `{"user_id":"7","attributes":[1]}`, sessiond.ErrUnavailable},
		{"an id over 256 bytes", 200, `{"user_id":"` + strings.Repeat("x", 257) + `"}`, sessiond.ErrUnavailable},
		{"an answer over 64 KiB", 200, `{"user_id":"7","pad":"` + strings.Repeat("x", 64<<10) + `"}`, sessiond.ErrUnavailable},
		{"duplicate keys (SEC-30)", 200, `{"user_id":"7","user_id":"8"}`, sessiond.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := backend(t, func(w http.ResponseWriter, r *http.Request) {
				if c.status == 307 {
					http.Redirect(w, r, target, c.status)
					return
				}
				w.WriteHeader(c.status)
				io.WriteString(w, c.answer)
			})
			e, err := (&accounts.Delegate{URL: url}).Verify(context.Background(), "ann@example.com", "pw")
			if !errors.Is(err, c.want) || e != nil {
				t.Fatalf("Verify = %+v, %v; want %v", e, err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw\"") {
				t.Fatalf("the error carries the password: %v", err)
			}
		})
	}
	if followed.Load() != 0 {
		t.Fatalf("the redirect was followed %d times", followed.Load())
	}
}

func TestDelegate_ABackendThatHangsIsUnavailableAtTheTimeout(t *testing.T) {
	release := make(chan struct{})
	url := backend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	start := time.Now()
	_, err := (&accounts.Delegate{URL: url, Timeout: 200 * time.Millisecond}).Verify(context.Background(), "ann@example.com", "pw")
	if took := time.Since(start); !errors.Is(err, sessiond.ErrUnavailable) || took > 3*time.Second {
		t.Fatalf("Verify = %v after %v; want unavailable after about 200ms", err, took)
	}
	if accounts.DelegateTimeout != 3*time.Second || accounts.DelegateMaxAnswer != 64<<10 {
		t.Fatal("the documented bounds changed")
	}
}
