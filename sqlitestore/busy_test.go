package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/sqlitetest"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestWrites_HonourTheCallersDeadlineBehindAnotherProcesssLock: another
// process (the CLI) holding the write lock must not keep a write waiting
// past its caller's deadline (the store timeout) for the whole
// busy_timeout (#9.16). Each kind of write is checked: a plain statement,
// a statement with a result, a transaction and the touch batch.
func TestWrites_HonourTheCallersDeadlineBehindAnotherProcesssLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{BusyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sqlitetest.HoldWriteLock(t, path)
	const deadline = 300 * time.Millisecond
	for name, write := range map[string]func(ctx context.Context) error{
		"statement": func(ctx context.Context) error { return s.ResetCounter(ctx, "k") },
		"returning": func(ctx context.Context) error {
			_, err := s.IncrementCounter(ctx, "k", time.Now(), time.Hour)
			return err
		},
		"transaction": func(ctx context.Context) error {
			return s.DeleteSession(ctx, "00000000-0000-4000-8000-000000000000")
		},
		"touches": func(ctx context.Context) error {
			return s.TouchSessions(ctx, []sessiond.Touch{{ID: "00000000-0000-4000-8000-000000000000", At: time.Now()}})
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		err := write(ctx)
		took := time.Since(start)
		cancel()
		// The busy timeout is 30 s: anything near the deadline shows the
		// wait was cut by the caller's context, not by SQLite.
		if !errors.Is(err, context.DeadlineExceeded) || took > 10*deadline {
			t.Errorf("%s behind another connection's write lock: %v after %v; want the deadline of %v to end it", name, err, took, deadline)
		}
	}
}

// TestPurge_TrimsALargeChangeFeedBacklogInBatches: the change feed's old
// rows once went in one DELETE inside the purge's transaction; a backlog of
// millions made every purge time out and never shrink (#9.18). Now each
// call trims it batch by batch.
func TestPurge_TrimsALargeChangeFeedBacklogInBatches(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{ChangeRetention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := time.Now().Add(-time.Hour).UnixMicro()
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
		INSERT INTO changes (session_id, user_id, tenant_id, at) SELECT 's' || i, '', '', ? FROM n`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteExpiredSessions(ctx, time.Now(), time.Now().Add(-time.Hour), 500); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM changes`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d of 20000 expired change rows left after a purge", left)
	}
}
