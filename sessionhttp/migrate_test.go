package sessionhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/password"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/sqlitestore"
)

var legacyNames = []string{"dott_auth_session", "session_token", "onboarding_status"}

// oldBackend is a stand-in for the old backend's validation endpoint: the
// legacy session "good-…" is valid, "bad-…" is not, and it counts calls.
type oldBackend struct {
	calls atomic.Int64
	srv   *httptest.Server
	delay time.Duration
}

func newOldBackend(t *testing.T, delay time.Duration) *oldBackend {
	b := &oldBackend{delay: delay}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		time.Sleep(b.delay)
		if r.Header.Get("X-Secret") != "" || r.URL.RawQuery != "" {
			t.Errorf("the validation request carries more than the legacy cookies: %v", r.Header)
		}
		c, err := r.Cookie("dott_auth_session")
		if err != nil || !strings.HasPrefix(c.Value, "good-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"user_id": "legacy-" + strings.TrimPrefix(c.Value, "good-"),
			"email": "old@example.com", "tenant_id": "acme", "needs_onboarding": true, "onboarding_step": "billing"})
	}))
	t.Cleanup(b.srv.Close)
	return b
}

type node struct {
	m        *sessiond.Manager
	users    *accounts.Service
	migrator *sessionhttp.Migrator
	handler  http.Handler
}

// newNode builds one sessiond "process" on the store: its own Manager and
// Migrator, as separate nodes would have.
func newNode(t *testing.T, store *sqlitestore.Store, v sessionhttp.LegacyValidator) *node {
	m := sessiond.NewManager(store, sessiond.Config{Logger: slog.New(slog.DiscardHandler), PurgeInterval: -1})
	t.Cleanup(func() { m.Close() })
	cookies, _ := sessionhttp.NewCookies(sessionhttp.CookieConfig{})
	sessions := &sessionhttp.Sessions{Manager: m, Cookies: cookies}
	users := accounts.New(store, m, password.New(password.Options{}), accounts.Throttle{})
	mig := &sessionhttp.Migrator{Sessions: sessions, Store: store, Validator: v, CookieNames: legacyNames,
		CookieDomain: "example.com", Logger: slog.New(slog.DiscardHandler), Users: users}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := sessiond.FromContext(r.Context()); s != nil {
			fmt.Fprintf(w, "user=%s", s.UserID)
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	return &node{m: m, users: users, migrator: mig, handler: mig.Middleware(sessions.Middleware(app))}
}

func openStore(t *testing.T) *sqlitestore.Store {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func legacyRequest(method, target string, cookies ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if len(cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	return r
}

func setCookies(w *httptest.ResponseRecorder) []string { return w.Result().Header.Values("Set-Cookie") }

func sidOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "sid" && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("no sid cookie set: %q", setCookies(w))
	return ""
}

func TestMigration_RedirectsWithOnlySidLeft_SEC25(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/dashboard?tab=2", "dott_auth_session=good-1", "onboarding_status=done", "other=keep"))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/dashboard?tab=2" {
		t.Fatalf("GET: %d to %q, want 303 to the same URL", w.Code, w.Header().Get("Location"))
	}
	token := sidOf(t, w)
	all := strings.Join(setCookies(w), "\n")
	for _, name := range legacyNames {
		if !strings.Contains(all, name+"=; Path=/; Max-Age=0") || !strings.Contains(all, name+"=; Path=/; Domain=example.com; Max-Age=0") {
			t.Errorf("%s not expired host-only and on the parent domain:\n%s", name, all)
		}
	}
	if strings.Contains(all, "other=") {
		t.Error("a cookie that is not legacy was touched")
	}
	s, err := n.m.Validate(context.Background(), token, sessiond.Client{})
	if err != nil || s.UserID != "legacy-1" || s.TenantID != "acme" || len(s.Data) != 0 {
		t.Fatalf("migrated session %+v, %v: want the user and tenant, and no identity in the browser-writable data", s, err)
	}
	// What the old backend vouched for lives in a record only the server
	// writes (SEC-27).
	u, err := n.users.UserByID(context.Background(), "legacy-1")
	if err != nil || u.Email != "old@example.com" || !u.NeedsOnboarding || u.OnboardingStep != "billing" || u.PasswordHash != "" {
		t.Fatalf("migrated user record %+v, %v", u, err)
	}

	w = httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("POST", "/orders", "dott_auth_session=good-2"))
	if w.Code != http.StatusTemporaryRedirect {
		t.Fatalf("POST: %d, want 307 so that the body is sent again", w.Code)
	}
}

func TestMigration_ParallelRequestsShareOneSessionAcrossNodes_SEC25(t *testing.T) {
	b := newOldBackend(t, 100*time.Millisecond)
	store := openStore(t)
	v := &sessionhttp.HTTPValidator{URL: b.srv.URL}
	nodes := []*node{newNode(t, store, v), newNode(t, store, v)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	tokens := map[string]int{}
	for i := range 50 {
		wg.Go(func() {
			w := httptest.NewRecorder()
			nodes[i%2].handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-burst", "session_token=t"))
			if w.Code != http.StatusSeeOther {
				t.Errorf("request %d: %d", i, w.Code)
				return
			}
			mu.Lock()
			tokens[sidOf(t, w)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(tokens) != 1 {
		t.Fatalf("50 parallel requests on two nodes got %d distinct sessions, want 1", len(tokens))
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("the old backend was called %d times, want 1", n)
	}
	list, _ := nodes[0].m.List(context.Background(), "legacy-burst")
	if len(list) != 1 {
		t.Fatalf("%d sessions for the user, want 1", len(list))
	}
}

func TestMigration_AReplayAfterTheWindowMintsNothing_SEC25(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	n.migrator.ShareWindow = 50 * time.Millisecond
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-replay"))
	sidOf(t, w)
	time.Sleep(60 * time.Millisecond) // past the share window (wall clock: the record lives in the store)
	w = httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-replay"))
	if w.Code != http.StatusOK || w.Body.String() != "anonymous" || strings.Contains(strings.Join(setCookies(w), ""), "sid=") {
		t.Fatalf("replay: %d %q %q, want the request to go on anonymously with no new session", w.Code, w.Body, setCookies(w))
	}
	if !strings.Contains(strings.Join(setCookies(w), ""), "dott_auth_session=; Path=/; Max-Age=0") {
		t.Fatal("the replayed legacy cookie was not expired")
	}
	if list, _ := n.m.List(context.Background(), "legacy-replay"); len(list) != 1 {
		t.Fatalf("%d sessions after a replay, want 1", len(list))
	}
}

func TestMigration_InvalidLegacyCookiesAreClearedAndTheRequestGoesOn(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	for _, cookies := range [][]string{
		{"dott_auth_session=bad-1"},
		{"session_token=" + strings.Repeat("x", 17<<10)}, // huge: refused without a backend call
	} {
		w := httptest.NewRecorder()
		n.handler.ServeHTTP(w, legacyRequest("GET", "/", cookies...))
		if w.Code != http.StatusOK || w.Body.String() != "anonymous" {
			t.Fatalf("%.40q: %d %q", cookies, w.Code, w.Body)
		}
		if all := strings.Join(setCookies(w), "\n"); strings.Contains(all, "sid=") || !strings.Contains(all, "Max-Age=0") {
			t.Fatalf("%.40q: Set-Cookie %q", cookies, all)
		}
	}
	// Empty legacy cookies are not legacy sessions at all.
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session="))
	if w.Code != 200 || len(setCookies(w)) != 0 {
		t.Fatalf("empty legacy cookie: %d %q", w.Code, setCookies(w))
	}
}

func TestMigration_BackendFailuresLeaveEverythingAsItWas(t *testing.T) {
	cases := map[string]http.HandlerFunc{
		"500":      func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
		"garbage":  func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>not json") },
		"no user":  func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"email":"a@b.c"}`) },
		"redirect": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) },
		"huge body": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"user_id":"`+strings.Repeat("a", 100<<10)+`"}`)
		},
		"hangs": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: srv.URL, Timeout: 200 * time.Millisecond})
			start := time.Now()
			w := httptest.NewRecorder()
			n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-1"))
			if w.Code != 200 || w.Body.String() != "anonymous" || len(setCookies(w)) != 0 {
				t.Fatalf("%d %q %q: want the request to go on with its cookies untouched", w.Code, w.Body, setCookies(w))
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v: the backend timeout is not bounded", d)
			}
		})
	}
}

func TestMigration_AValidSidWinsAndLegacyCookiesStillGo(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	token, _, err := n.m.Create(context.Background(), sessiond.SessionParams{UserID: "current"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "sid="+token, "dott_auth_session=good-9"))
	if w.Code != 200 || w.Body.String() != "user=current" || b.calls.Load() != 0 {
		t.Fatalf("%d %q, backend calls %d", w.Code, w.Body, b.calls.Load())
	}
	if !strings.Contains(strings.Join(setCookies(w), ""), "dott_auth_session=; Path=/; Max-Age=0") {
		t.Fatal("legacy cookies kept beside a valid sid")
	}
}

func TestMigration_RollbackLeavesLegacyCookiesAlone(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	n.migrator.SetEnabled(false)
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-1"))
	if w.Code != 200 || len(setCookies(w)) != 0 || b.calls.Load() != 0 {
		t.Fatalf("migration off: %d %q, backend calls %d", w.Code, setCookies(w), b.calls.Load())
	}
}

func TestMigration_GoValidatorFunc(t *testing.T) {
	v := sessionhttp.LegacyValidatorFunc(func(ctx context.Context, cookies []*http.Cookie) (*sessionhttp.LegacyUser, error) {
		for _, c := range cookies {
			if c.Name == "session_token" && c.Value == "ok" {
				return &sessionhttp.LegacyUser{UserID: "go-user", ExpiresAt: time.Now().Add(time.Hour)}, nil
			}
		}
		return nil, sessionhttp.ErrLegacyInvalid
	})
	n := newNode(t, openStore(t), v)
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/x", "session_token=ok"))
	s, err := n.m.Validate(context.Background(), sidOf(t, w), sessiond.Client{})
	if err != nil || s.UserID != "go-user" {
		t.Fatalf("%+v %v", s, err)
	}
	// SEC-25: the new session never outlives the legacy one.
	if s.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("migrated session expires %v, after the legacy session's deadline", s.ExpiresAt)
	}
	if errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatal("unreachable")
	}
}

func TestMigration_AReplayWithAnotherStateCookieMintsNothing_SEC25(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	clk := testenv.NewClock(time.Now())
	n.migrator.Now = clk.Now
	n.migrator.CredentialNames = []string{"dott_auth_session", "session_token"}
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-stolen"))
	sidOf(t, w)
	clk.Advance(time.Minute) // past the share window
	// The thief adds, changes or drops a state cookie: the credential is
	// the same, and a replay it stays.
	// Nor does adding another credential cookie the old backend ignores,
	// or a second value under the credential's name (each value is
	// recorded, and the stolen one is found among them).
	for _, extra := range []string{"onboarding_status=x", "onboarding_status=y", "onboarding_status=z; session_token=",
		"session_token=junk", "session_token=junk2; onboarding_status=w", "dott_auth_session=zzzz", "dott_auth_session=aaaa"} {
		w = httptest.NewRecorder()
		n.handler.ServeHTTP(w, legacyRequest("GET", "/", "dott_auth_session=good-stolen", extra))
		if strings.Contains(strings.Join(setCookies(w), ""), "sid=") || w.Body.String() != "anonymous" {
			t.Fatalf("replay with %q: %d %q, want no new session", extra, w.Code, setCookies(w))
		}
	}
	if list, _ := n.m.List(context.Background(), "legacy-stolen"); len(list) != 1 {
		t.Fatalf("%d sessions after replays with other state cookies, want 1", len(list))
	}
	// State cookies alone are no credential: nothing asks the old backend.
	calls := b.calls.Load()
	w = httptest.NewRecorder()
	n.handler.ServeHTTP(w, legacyRequest("GET", "/", "onboarding_status=done"))
	if b.calls.Load() != calls || w.Body.String() != "anonymous" || !strings.Contains(strings.Join(setCookies(w), ""), "onboarding_status=; Path=/; Max-Age=0") {
		t.Fatalf("state cookies alone: %d backend calls, %q %q", b.calls.Load()-calls, w.Body, setCookies(w))
	}
}

func TestMigration_AttemptsThatDoNotMigrateAreLimitedPerAddress(t *testing.T) {
	b := newOldBackend(t, 0)
	store := openStore(t)
	n := newNode(t, store, &sessionhttp.HTTPValidator{URL: b.srv.URL})
	clk := testenv.NewClock(time.Now())
	n.migrator.Now = clk.Now
	n.migrator.Attempts = store
	n.migrator.AttemptBackoff = sessiond.Backoff{Free: 3, Base: time.Second, Max: time.Minute}
	n.migrator.Sessions.Client = func(*http.Request) sessiond.Client { return sessiond.Client{IPAddress: "192.0.2.7"} }
	for i := range 3 {
		w := httptest.NewRecorder()
		n.handler.ServeHTTP(w, legacyRequest("GET", "/", fmt.Sprintf("dott_auth_session=bad-guess-%d", i)))
	}
	calls := b.calls.Load()
	res := n.migrator.Migrate(context.Background(), legacyRequest("GET", "/", "dott_auth_session=bad-guess-x"))
	if res.Outcome != sessionhttp.OutcomeThrottled || b.calls.Load() != calls {
		t.Fatalf("the fourth failed credential from one address: %s with %d backend calls, want throttled and none", res.Outcome, b.calls.Load()-calls)
	}
	// A valid credential is not refused by others' failures once the
	// back-off has passed, and does not count itself.
	clk.Advance(2 * time.Second)
	if res := n.migrator.Migrate(context.Background(), legacyRequest("GET", "/", "dott_auth_session=good-after")); res.Outcome != sessionhttp.OutcomeMigrated {
		t.Fatalf("a valid credential after the back-off: %s", res.Outcome)
	}
}

// disabledMeanwhile is a user directory whose user is disabled between the
// record and the session: what a disable racing a migration looks like.
type disabledMeanwhile struct{ sessionhttp.UserSyncer }

func (disabledMeanwhile) Admit(context.Context, string, string) error {
	return sessiond.ErrInvalidCredentials
}

func TestMigration_AUserDisabledDuringTheMigrationKeepsNoSession_SEC37(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	n.migrator.Users = disabledMeanwhile{n.users}
	res := n.migrator.Migrate(context.Background(), legacyRequest("GET", "/", "dott_auth_session=good-raced"))
	if res.Outcome != sessionhttp.OutcomeInvalid {
		t.Fatalf("outcome %s, want invalid", res.Outcome)
	}
	if list, _ := n.m.List(context.Background(), "legacy-raced"); len(list) != 0 {
		t.Fatalf("%d sessions left for a user disabled during the migration", len(list))
	}
}

// TestMigration_TheRedirectBackStaysOnTheSite: a request target such as
// "//evil.example/landing" reaches a handler wrapped in the middleware
// outside a ServeMux as it is; the redirect back must not leave the site.
func TestMigration_TheRedirectBackStaysOnTheSite(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	r := legacyRequest("GET", "/", "dott_auth_session=good-redirect")
	r.URL.Path, r.RequestURI = "//evil.example/landing", "//evil.example/landing"
	w := httptest.NewRecorder()
	n.handler.ServeHTTP(w, r)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != "/" {
		t.Fatalf("migration of a request for //evil.example/landing: %d to %q, want 303 to /", w.Code, loc)
	}
}

// TestMigration_OneValueOnTheHostAndTheParentDomainIsOneCredential: the
// legacy app set its cookie twice, host-only and on the parent domain,
// with the same value; the browser sends both.
func TestMigration_OneValueOnTheHostAndTheParentDomainIsOneCredential(t *testing.T) {
	b := newOldBackend(t, 0)
	n := newNode(t, openStore(t), &sessionhttp.HTTPValidator{URL: b.srv.URL})
	n.migrator.CredentialNames = []string{"dott_auth_session", "session_token"}
	res := n.migrator.Migrate(context.Background(), legacyRequest("GET", "/", "dott_auth_session=good-twice", "dott_auth_session=good-twice", "session_token=t"))
	if res.Outcome != sessionhttp.OutcomeMigrated || b.calls.Load() != 1 {
		t.Fatalf("the same credential on host and parent domain: %s after %d backend calls, want migrated after 1", res.Outcome, b.calls.Load())
	}
}
