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
