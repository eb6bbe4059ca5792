package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// The Manager on a store: a login creates a session and hands out its token
// once; each request validates the token; a logout or a revocation from
// another device ends it at once.
func ExampleManager() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "sessions.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	m := sessiond.NewManager(store, sessiond.Config{Logger: slog.New(slog.DiscardHandler)})
	defer m.Close()

	// After the password check: the token goes into the sid cookie.
	token, s, err := m.Create(ctx, sessiond.SessionParams{UserID: "u42", TenantID: "acme", UserAgent: "Mozilla/5.0 (Macintosh) Firefox/140.0"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(token), s.Device())

	// On each request.
	s, err = m.Validate(ctx, token, sessiond.Client{})
	fmt.Println(s.UserID, err)

	// The user ends this device from another one.
	if err := m.Revoke(ctx, s.ID); err != nil {
		log.Fatal(err)
	}
	_, err = m.Validate(ctx, token, sessiond.Client{})
	fmt.Println(errors.Is(err, sessiond.ErrUnauthenticated))
	// Output:
	// 36 Firefox on macOS
	// u42 <nil>
	// true
}

// MergePatch applies an RFC 7386 patch: members replace, null deletes,
// objects merge.
func ExampleMergePatch() {
	doc := json.RawMessage(`{"theme":"dark","onboarding":{"step":"profile","done":false}}`)
	patch := json.RawMessage(`{"theme":null,"onboarding":{"step":"billing"}}`)
	out, err := sessiond.MergePatch(doc, patch)
	fmt.Println(string(out), err)
	// Output:
	// {"onboarding":{"done":false,"step":"billing"}} <nil>
}
