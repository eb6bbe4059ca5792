package main

import (
	"context"
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestConfig_TheCLIsDefaultsAreTheLibrarysDefaults: every session-policy
// default written in the flags (and the README's table) is the library's
// own, so that a Go program embedding sessiond and the server behave alike
// (#13.1).
func TestConfig_TheCLIsDefaultsAreTheLibrarysDefaults(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	load := config.Register(fs, func(string) string { return "" }, config.Common, config.Serve)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cli := sessiond.NewManager(store, managerConfig(cfg))
	defer cli.Close()
	lib := sessiond.NewManager(store, sessiond.Config{})
	defer lib.Close()
	got, want := cli.Config(), lib.Config()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"lifetime", got.Lifetime, want.Lifetime},
		{"idle timeout", got.IdleTimeout, want.IdleTimeout},
		{"touch interval", got.TouchInterval, want.TouchInterval},
		{"cache size", got.CacheSize, want.CacheSize},
		{"cache TTL", got.CacheTTL, want.CacheTTL},
		{"sessions per user", got.MaxSessionsPerUser, want.MaxSessionsPerUser},
		{"refuse at limit", got.RefuseAtLimit, want.RefuseAtLimit},
		{"reauth window", got.ReauthWindow, want.ReauthWindow},
		{"anomaly action", got.Anomaly, want.Anomaly},
		{"IPv4 prefix", got.IPv4Prefix, want.IPv4Prefix},
		{"IPv6 prefix", got.IPv6Prefix, want.IPv6Prefix},
		{"event retention", got.EventRetention, want.EventRetention},
	} {
		if c.got != c.want {
			t.Errorf("%s: the CLI's default is %v, the library's %v", c.name, c.got, c.want)
		}
	}
}
