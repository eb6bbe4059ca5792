package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sqlitestore"
)

// django is the example backend of examples/django, run by Debian's
// python3-django with a database of the test's own.
type django struct {
	t      *testing.T
	python string
	dir    string // examples/django
	env    []string
	url    string
	stderr *testenv.Buffer
}

// needDjango returns the python3 that has Django, skipping without it
// (failing under SESSIOND_TEST_REQUIRE_SERVICES=1, as testenv.Tool does).
func needDjango(t *testing.T) string {
	t.Helper()
	python := testenv.Tool(t, "python3")
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		python = "/usr/bin/python3" // Debian's, which python3-django extends
	}
	if out, err := exec.Command(python, "-c", "import django, bcrypt, argon2").CombinedOutput(); err != nil {
		if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("python3-django, python3-bcrypt or python3-argon2 is missing and SESSIOND_TEST_REQUIRE_SERVICES=1: %s", out)
		}
		t.Skipf("Django is not installed (apt-get install python3-django python3-bcrypt python3-argon2): %s", out)
	}
	return python
}

func newDjango(t *testing.T, work string, env ...string) *django {
	t.Helper()
	dir, err := filepath.Abs("../../examples/django")
	if err != nil {
		t.Fatal(err)
	}
	d := &django{t: t, python: needDjango(t), dir: dir, stderr: &testenv.Buffer{},
		env: append(append(os.Environ(), "DJANGO_DB="+filepath.Join(work, "django.sqlite3"),
			"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"), env...)}
	return d
}

// manage runs "python3 manage.py args…" and returns its standard output.
func (d *django) manage(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(d.python, append([]string{"manage.py"}, args...)...)
	cmd.Dir, cmd.Env = d.dir, d.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("manage.py %s failed after %v: %v\n%s", strings.Join(args, " "), time.Since(start), err, stderr.String())
	}
	return string(out)
}

// serve starts Django's development server and waits until it answers.
func (d *django) serve() {
	d.t.Helper()
	port := testenv.FreePort(d.t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, d.python, "manage.py", "runserver", fmt.Sprintf("127.0.0.1:%d", port), "--noreload")
	cmd.Dir, cmd.Env = d.dir, d.env
	cmd.Stdout, cmd.Stderr = d.stderr, d.stderr
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	d.t.Cleanup(func() {
		cancel()
		<-done
	})
	d.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	start := time.Now()
	for {
		res, err := http.Get(d.url + "/sessiond/validate")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		select {
		case err := <-done:
			d.t.Fatalf("Django's runserver exited before answering: %v\n%s", err, d.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			d.t.Fatalf("Django's runserver on %s did not answer within 30s\n%s", d.url, d.stderr)
		}
	}
}

// djangoBlock returns the README's "Coming from Django" commands, one
// command a line (continuations joined).
func djangoBlock(t *testing.T) []string {
	t.Helper()
	block := strings.ReplaceAll(readmeWalkthrough(t, "django"), "\\\n", " ")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines
}

// TestDjango_UsersOfADjangoBackendSignInThroughSessiond is the README's
// "Coming from Django", run as written against examples/django: a Django
// user signs in with the Django password (delegated login), another
// imported with the Django hash signs in and is upgraded to argon2id, an
// old Django session cookie is migrated to sid, and the backend marks
// onboarding done through the admin API.
func TestDjango_UsersOfADjangoBackendSignInThroughSessiond(t *testing.T) {
	work := t.TempDir()
	for name, v := range map[string]string{"admin.token": testAdminToken, "verify.key": "a-login-verify-key-of-32-bytes-0123"} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := newDjango(t, work, "SESSIOND_ADMIN_TOKEN_FILE="+filepath.Join(work, "admin.token"),
		"SESSIOND_VERIFY_SECRET_FILE="+filepath.Join(work, "verify.key"))
	d.manage("migrate", "--noinput")
	// Three users of the old application, with Django's own password
	// hashing (PBKDF2-SHA256, 260,000 iterations in Django 3.2).
	d.manage("shell", "-c", `
from django.contrib.auth.models import User
from legacyapp.models import Profile
for name in ("ann", "bob", "cat"):
    u = User.objects.create_user(name + "@example.com", name + "@example.com", name + "-django-password")
    Profile.objects.create(user=u, tenant_id="acme", needs_onboarding=True, onboarding_step="welcome")
`)
	d.serve()
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(d.manage("shell", "-c",
		`from django.contrib.auth.models import User
for u in User.objects.all(): print(u.email, u.pk)`)), "\n") {
		email, pk, _ := strings.Cut(line, " ")
		ids[email] = pk
	}

	// Cat still has a Django session cookie from before sessiond.
	legacy := djangoLogin(t, d, "cat@example.com", "cat-django-password")

	// The README's commands, in order: migrate, export bob, import, serve.
	db := filepath.Join(work, "sessiond.db")
	var p *proc
	for _, line := range djangoBlock(t) {
		line = strings.ReplaceAll(line, "http://127.0.0.1:8000", d.url)
		switch {
		case strings.HasPrefix(line, "cd "):
		case strings.HasPrefix(line, "python3 manage.py "):
			args, out, _ := strings.Cut(strings.TrimPrefix(line, "python3 manage.py "), " > ")
			got := d.manage(strings.Fields(args)...)
			if out != "" {
				os.WriteFile(filepath.Join(work, out), []byte(got), 0o600)
			}
		case strings.HasPrefix(line, "sessiond user import "):
			file := filepath.Join(work, strings.TrimPrefix(line, "sessiond user import "))
			if out, errOut, err := cli(t, "", "user", "import", "--store", "sqlite:"+db, file); err != nil {
				t.Fatalf("%s: %v %s %s", line, err, out, errOut)
			}
		case strings.HasPrefix(line, "sessiond serve "):
			args := strings.Fields(strings.TrimPrefix(line, "sessiond serve "))
			for i, a := range args {
				if a == "admin.token" || a == "verify.key" {
					args[i] = filepath.Join(work, a)
				}
			}
			p = startServer(t, db, append(args, "--cookie-secure=false")...)
		default:
			t.Fatalf("README's Django block has a command this test cannot run: %q", line)
		}
	}
	if p == nil {
		t.Fatal("README's Django block starts no sessiond")
	}
	c := client{t, p.url}
	session := func(token string) map[string]any {
		t.Helper()
		res, body := c.do("GET", "/api/auth/session-v2", "", token)
		var v struct {
			User map[string]any `json:"user"`
		}
		if res.StatusCode != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("GET session: %d %s", res.StatusCode, body)
		}
		return v.User
	}

	// 1. Ann, unknown to sessiond: Django checks her password.
	ann := c.login("ann@example.com", "ann-django-password")
	if u := session(ann); u["id"] != ids["ann@example.com"] || u["email"] != "ann@example.com" || u["tenant_id"] != "acme" || u["needs_onboarding"] != true {
		t.Fatalf("Ann's session after a delegated login: %v", u)
	}
	res, body := c.do("POST", "/api/auth/session-v2", `{"email":"ann@example.com","password":"wrong"}`, "")
	if res.StatusCode != 401 || !strings.Contains(body, "invalid_credentials") {
		t.Fatalf("Ann with a wrong password: %d %s", res.StatusCode, body)
	}

	// 2. Bob, imported with his Django hash: checked here, then argon2id.
	bob := c.login("bob@example.com", "bob-django-password")
	if u := session(bob); u["id"] != ids["bob@example.com"] {
		t.Fatalf("Bob's session: %v", u)
	}
	st, err := sqlitestore.Open(context.Background(), db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.UserByEmailKey(context.Background(), "bob@example.com")
	st.Close()
	if err != nil || !strings.HasPrefix(rec.PasswordHash, "$argon2id$") {
		t.Fatalf("Bob's record after his first login: %v; hash %.20q, want $argon2id$", err, rec.PasswordHash)
	}
	c.login("bob@example.com", "bob-django-password")

	// 3. Cat's old Django session cookie becomes a sid.
	req, _ := http.NewRequest("POST", p.url+"/api/auth/migrate-session", nil)
	req.Header.Set("Cookie", "sessionid="+legacy)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var sid string
	expired := false
	for _, ck := range res.Cookies() {
		switch {
		case ck.Name == "sid":
			sid = ck.Value
		case ck.Name == "sessionid" && ck.MaxAge < 0:
			expired = true
		}
	}
	if res.StatusCode != 200 || sid == "" || !expired {
		t.Fatalf("migrating Cat's Django session: %d, sid %q, sessionid expired %v (Set-Cookie %q)\nDjango:\n%s",
			res.StatusCode, sid, expired, res.Header.Values("Set-Cookie"), d.stderr)
	}
	if u := session(sid); u["id"] != ids["cat@example.com"] || u["email"] != "cat@example.com" || u["onboarding_step"] != "welcome" {
		t.Fatalf("Cat's migrated session: %v", u)
	}

	// 4. The backend marks Ann's onboarding done through the admin API.
	d.env = append(d.env, "SESSIOND_URL="+p.url)
	if out := d.manage("finish_onboarding", "ann@example.com"); !strings.Contains(out, "onboarding done") {
		t.Fatalf("finish_onboarding: %s", out)
	}
	if u := session(ann); u["needs_onboarding"] != false || u["onboarding_step"] != "" {
		t.Fatalf("Ann's session after the backend finished her onboarding: %v", u)
	}
	// Her next delegated login keeps it: Django answers what it now holds.
	if u := session(c.login("ann@example.com", "ann-django-password")); u["needs_onboarding"] != false {
		t.Fatalf("Ann after logging in again: %v", u)
	}
	if regexp.MustCompile(`django-password`).MatchString(p.stderr.String()) {
		t.Fatal("a password reached sessiond's log")
	}
}

// djangoLogin signs in to the Django application itself and returns its
// session cookie.
func djangoLogin(t *testing.T, d *django, email, pw string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	res, err := http.Post(d.url+"/legacy/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "sessionid" {
			return ck.Value
		}
	}
	t.Fatalf("Django's login answered %d without a sessionid cookie\n%s", res.StatusCode, d.stderr)
	return ""
}
