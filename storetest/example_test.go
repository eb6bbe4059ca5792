package storetest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
	"github.com/sessiond/sessiond/storetest"
)

// A store of your own passes the conformance suite from its package's
// tests: Run calls the function for a new, empty store for every case.
func ExampleRun() {
	// In mystore_test.go:
	_ = func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) sessiond.Store {
			s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	}
}
