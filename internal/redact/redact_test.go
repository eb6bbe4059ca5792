package redact_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/redact"
)

func TestURL_HidesCredentialsQueryValuesAndSecretPaths_SEC31(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://app:s3cret-pw@db:5432/test?sslmode=disable&password=hunter2": "postgres://app:REDACTED@db:5432/test?sslmode=disable&password=REDACTED",
		"redis://:s3cret-pw@127.0.0.1:6379/0?prefix=app":                         "redis://:REDACTED@127.0.0.1:6379/0?prefix=app",
		"https://hooks.example.com/services/T0001/B0002/XyZ123abcDEF456ghi789":   "https://hooks.example.com/services/T0001/B0002/REDACTED",
		"https://old.example.com/api/legacy-session?token=abc#frag":              "https://old.example.com/api/legacy-session?token=REDACTED#REDACTED",
		"sqlite:sessiond.db":                                               "sqlite:sessiond.db",
		"sqlite:/var/lib/sessiond/sessiond.db":                             "sqlite:/var/lib/sessiond/sessiond.db",
		"postgres://sessiond@db:5432/test?search_path=app&sslmode=require": "postgres://sessiond@db:5432/test?search_path=app&sslmode=require",
		"http://user@host/x":                                               "http://REDACTED@host/x", // on http(s) a user name is a token
		"not a url with @ in it":                                           "REDACTED",
		"::::@":                                                            "REDACTED",
		// What a review found leaking.
		"host=db user=u password=S3cretPw dbname=d":     "REDACTED",
		"https://ghp_tok3n@host/":                       "https://REDACTED@host/",
		"https://host/hook?S3cretT0ken":                 "https://host/hook?REDACTED",
		"https://host/abcdefghijklmnopqrstuvwxyzsecret": "https://host/REDACTED",
		"https://host/a/t0k%2Fen-abc%2Fdefgh12345678/x": "https://host/a/REDACTED/x",
	} {
		got := redact.URL(raw)
		if got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
		for _, secret := range []string{"s3cret-pw", "hunter2", "XyZ123abcDEF456ghi789", "token=abc", "S3cretPw", "ghp_tok3n", "S3cretT0ken", "zsecret", "defgh12345678"} {
			if strings.Contains(got, secret) {
				t.Errorf("URL(%q) = %q keeps %q", raw, got, secret)
			}
		}
	}
}

func TestError_RedactsTheURLOfAClientError_SEC31(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "https://old.example.com/check?token=abc", Err: errors.New("connection refused")}
	got := redact.Error(err).Error()
	if strings.Contains(got, "abc") || !strings.Contains(got, "connection refused") {
		t.Fatalf("redacted error %q", got)
	}
	if plain := errors.New("x"); redact.Error(plain) != plain {
		t.Fatal("an error without a URL changed")
	}
}

func FuzzURL(f *testing.F) {
	for _, s := range []string{"postgres://a:b@c/d?e=f", "redis://:p@h", "http://h/p#f", "sqlite:x", "%", "://@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := redact.URL(raw)
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && len(p) > 3 && strings.Contains(got, p) && !strings.Contains(redact.Mark, p) {
				t.Fatalf("URL(%q) = %q keeps the password %q", raw, got, p)
			}
		}
	})
}
