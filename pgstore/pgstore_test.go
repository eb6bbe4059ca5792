package pgstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/pgtest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store {
		url, schema := pgtest.Schema(t, "sessiond_test_")
		s, err := pgstore.Open(context.Background(), url, pgstore.Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
		return s
	})
}

// TestPurge_ADroppedSchemaIsAPlainErrorNotAScanError: the purge's lock key
// once came from current_schema(), NULL when the schema is gone, and every
// purge then failed to scan the lock's answer (#9.17).
func TestPurge_ADroppedSchemaIsAPlainErrorNotAScanError(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.Schema(t, "sessiond_test_")
	s, err := pgstore.Open(ctx, url, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.DeleteExpiredSessions(ctx, time.Now(), time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Fatal(err)
	}
	_, err = s.DeleteExpiredSessions(ctx, time.Now(), time.Now(), 10)
	if err == nil || strings.Contains(err.Error(), "scan") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("purge after the schema was dropped: %v, want an error naming the missing table", err)
	}
}

// TestOpen_RefusesSchemaNamesThatAreNotPlain (#16.6): mixed case, lists,
// quotes and long non-ASCII names are refused before anything is created.
func TestOpen_RefusesSchemaNamesThatAreNotPlain(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_POSTGRES_URL")
	for _, schema := range []string{"Mixed", "a,public", `a"b`, "1abc", "sessiond-x", strings.Repeat("é", 30), strings.Repeat("a", 55)} {
		s, err := pgstore.Open(context.Background(), url, pgstore.Options{Schema: schema})
		if err == nil {
			s.Close()
			t.Errorf("schema %q accepted", schema)
			continue
		}
		if !strings.Contains(err.Error(), "schema") {
			t.Errorf("schema %q: %v, want a refusal naming the schema", schema, err)
		}
	}
}
