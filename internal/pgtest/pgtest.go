// Package pgtest gives tests a PostgreSQL schema of their own on the
// server named by SESSIOND_TEST_POSTGRES_URL, dropped when the test ends:
// the server is shared by every test run on the machine.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"

	"github.com/jackc/pgx/v5"
)

// Schema returns the server's URL and a new schema's name. Without
// SESSIOND_TEST_POSTGRES_URL the test is skipped, or fails when
// SESSIOND_TEST_REQUIRE_SERVICES=1 (as in CI).
func Schema(t testing.TB, prefix string) (url, schema string) {
	t.Helper()
	url = testenv.Service(t, "SESSIOND_TEST_POSTGRES_URL")
	var b [6]byte
	rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// URL returns url with search_path set to schema, the form sessiond's
// --store takes.
func URL(url, schema string) string {
	return testenv.WithParam(url, "search_path="+schema)
}
