package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/storetest"
)

// databaseURL returns SESSIOND_TEST_POSTGRES_URL, skipping (or, with
// SESSIOND_TEST_REQUIRE_SERVICES=1, failing) without it.
func databaseURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("SESSIOND_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("SESSIOND_TEST_POSTGRES_URL is not set and SESSIOND_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("SESSIOND_TEST_POSTGRES_URL is not set: skipping the PostgreSQL store")
	}
	return url
}

// openStore opens a store in a schema of its own, dropped at the end: the
// database is shared with every other test run on the machine.
func openStore(t *testing.T) *pgstore.Store {
	t.Helper()
	url := databaseURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "sessiond_test_" + hex.EncodeToString(b[:])
	s, err := pgstore.Open(context.Background(), url, pgstore.Options{Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openStore(t) })
}
