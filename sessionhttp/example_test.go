package sessionhttp_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/sqlitestore"
)

// A Go application embeds the engine: Middleware puts the session on the
// request context, Require guards the handlers that need one.
func ExampleSessions_Middleware() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "sessions.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	manager := sessiond.NewManager(store, sessiond.Config{Logger: slog.New(slog.DiscardHandler)})
	defer manager.Close()
	cookies, _ := sessionhttp.NewCookies(sessionhttp.CookieConfig{})
	sessions := &sessionhttp.Sessions{Manager: manager, Cookies: cookies}

	account := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessiond.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s of %s", s.UserID, s.TenantID)
	})
	mux := http.NewServeMux()
	mux.Handle("/account", sessionhttp.Require("", account))
	app := sessions.Middleware(mux)

	// After the application checked a password, it mints a session.
	token, _, _ := manager.Create(context.Background(), sessiond.SessionParams{UserID: "u42", TenantID: "acme"})

	for _, cookie := range []string{"sid=" + token, ""} {
		r := httptest.NewRequest("GET", "/account", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 hello u42 of acme
	// 401 {"error":"unauthenticated","message":"no valid session"}
}

// Require sends browsers without a session to the login page, with the page
// they wanted in "next".
func ExampleRequire() {
	h := sessionhttp.Require("/login", http.NotFoundHandler())
	r := httptest.NewRequest("GET", "/reports?q=1", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Location"))
	// Output:
	// 303 /login?next=%2Freports%3Fq%3D1
}

// Forward auth for nginx auth_request, Traefik ForwardAuth or Caddy
// forward_auth: 200 with the identity headers for a valid session, 401
// otherwise; the proxy copies the headers onto the request it passes on.
func ExampleForwardAuth() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "sessions.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	manager := sessiond.NewManager(store, sessiond.Config{Logger: slog.New(slog.DiscardHandler)})
	defer manager.Close()
	cookies, _ := sessionhttp.NewCookies(sessionhttp.CookieConfig{})
	verify := &sessionhttp.ForwardAuth{
		Sessions: &sessionhttp.Sessions{Manager: manager, Cookies: cookies},
		Headers:  sessionhttp.DefaultIdentityHeaders(),
	}
	token, _, _ := manager.Create(context.Background(), sessiond.SessionParams{UserID: "u42", TenantID: "acme"})

	for _, cookie := range []string{"sid=" + token, "sid=forged"} {
		r := httptest.NewRequest("GET", "/auth/verify", nil)
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		verify.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("X-User-Id"), w.Header().Get("X-Tenant-Id"))
	}
	// Output:
	// 200 u42 acme
	// 401
}

// The Migrator moves a browser from the old backend's cookies to one sid
// cookie without logging it out: the old backend vouches for the legacy
// cookie once, the browser is sent back to the same URL with the new
// cookie, and the legacy cookies are expired.
func ExampleMigrator() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "sessions.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	manager := sessiond.NewManager(store, sessiond.Config{Logger: slog.New(slog.DiscardHandler)})
	defer manager.Close()
	cookies, _ := sessionhttp.NewCookies(sessionhttp.CookieConfig{})
	sessions := &sessionhttp.Sessions{Manager: manager, Cookies: cookies}

	// The old backend's validation endpoint answers who a cookie belongs to.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("dott_auth_session"); err != nil || c.Value != "legacy-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"user_id":"u42","tenant_id":"acme"}`)
	}))
	defer old.Close()

	migrator := &sessionhttp.Migrator{
		Sessions:        sessions,
		Store:           manager.Bound(store),
		Validator:       &sessionhttp.HTTPValidator{URL: old.URL},
		CookieNames:     []string{"dott_auth_session", "onboarding_status"},
		CredentialNames: []string{"dott_auth_session"},
		Logger:          slog.New(slog.DiscardHandler),
	}
	app := migrator.Middleware(sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello ", sessiond.FromContext(r.Context()).UserID)
	})))

	r := httptest.NewRequest("GET", "/dashboard", nil)
	r.Header.Set("Cookie", "dott_auth_session=legacy-token; onboarding_status=done")
	w := httptest.NewRecorder()
	app.ServeHTTP(w, r)
	var sid string
	for _, c := range w.Result().Cookies() {
		if c.Name == "sid" {
			sid = c.Value
		}
	}
	fmt.Println(w.Code, w.Header().Get("Location"), len(sid))

	r = httptest.NewRequest("GET", "/dashboard", nil)
	r.Header.Set("Cookie", "sid="+sid)
	w = httptest.NewRecorder()
	app.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 303 /dashboard 36
	// 200 hello u42
}
