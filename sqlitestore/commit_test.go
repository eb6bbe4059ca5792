package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// insertReq is a queued write that inserts the counter key, then fails
// with fail when it is not nil.
func insertReq(key string, fail error) *writeReq {
	return &writeReq{ctx: context.Background(), done: make(chan error, 1), fn: func(t wtx) error {
		if _, err := t.exec(`INSERT INTO counters (key, count, last_at, expires_at) VALUES (?, 1, 0, 0)`, key); err != nil {
			return err
		}
		return fail
	}}
}

func counterKeys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.r.Query(`SELECT key FROM counters WHERE key <> 'sessiond:ping'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]bool{}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys[k] = true
	}
	return keys
}

// TestBatch_AFailedWriteFailsOnlyItsCaller: in one batch, a write whose
// statement fails (a duplicate key) and a write that returns an error after
// its statement succeeded leave nothing behind, and every other write of
// the batch commits and is answered nil.
func TestBatch_AFailedWriteFailsOnlyItsCaller(t *testing.T) {
	s, _ := openTest(t)
	refused := errors.New("refused after writing")
	batch := []*writeReq{insertReq("a", nil), insertReq("a", nil), insertReq("b", refused), insertReq("c", nil)}
	if retry := s.runBatch(batch); len(retry) != 0 {
		t.Fatalf("%d writes to run again, want none", len(retry))
	}
	want := []string{"nil", "conflict", "refused", "nil"}
	for i, r := range batch {
		err := <-r.done
		got := "nil"
		switch {
		case err == nil:
		case errors.Is(translate(err), sessiond.ErrConflict):
			got = "conflict"
		case errors.Is(err, refused):
			got = "refused"
		default:
			got = err.Error()
		}
		if got != want[i] {
			t.Errorf("write %d answered %s, want %s", i, got, want[i])
		}
	}
	if keys := counterKeys(t, s); len(keys) != 2 || !keys["a"] || !keys["c"] {
		t.Fatalf("stored %v, want a and c", keys)
	}
}

// TestBatch_AWriteThatBreaksTheTransactionIsLeftOut: when one write's
// failure rolls back the whole transaction (SQLite does so on an I/O
// error, a full disk or an interrupt; here the write rolls it back
// itself), that write gets its error and the others, before and after it,
// are run again in a new batch and commit.
func TestBatch_AWriteThatBreaksTheTransactionIsLeftOut(t *testing.T) {
	s, _ := openTest(t)
	broken := errors.New("broke the transaction")
	breaker := &writeReq{ctx: context.Background(), done: make(chan error, 1), fn: func(t wtx) error {
		if _, err := t.exec(`ROLLBACK`); err != nil {
			return err
		}
		return broken
	}}
	batch := []*writeReq{insertReq("a", nil), breaker, insertReq("b", nil)}
	retry := s.runBatch(batch)
	if err := <-breaker.done; !errors.Is(err, broken) {
		t.Fatalf("the breaking write answered %v, want its own error", err)
	}
	if len(retry) != 2 || retry[0] != batch[0] || retry[1] != batch[2] {
		t.Fatalf("writes to run again: %d, want the other two", len(retry))
	}
	if keys := counterKeys(t, s); len(keys) != 0 {
		t.Fatalf("stored %v before the writes ran again, want nothing", keys)
	}
	if again := s.runBatch(retry); len(again) != 0 {
		t.Fatalf("%d writes to run a third time", len(again))
	}
	for _, r := range retry {
		if err := <-r.done; err != nil {
			t.Fatalf("a write run again answered %v", err)
		}
	}
	if keys := counterKeys(t, s); len(keys) != 2 || !keys["a"] || !keys["b"] {
		t.Fatalf("stored %v, want a and b", keys)
	}
}

// TestBatch_ACallerGoneBeforeItsTurnWritesNothing: a write whose caller
// stopped waiting before its batch ran is answered with its context's
// error and never runs.
func TestBatch_ACallerGoneBeforeItsTurnWritesNothing(t *testing.T) {
	s, _ := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := insertReq("gone", nil)
	gone.ctx = ctx
	batch := []*writeReq{gone, insertReq("kept", nil)}
	s.runBatch(batch)
	if err := <-gone.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the gone caller's write answered %v", err)
	}
	if err := <-batch[1].done; err != nil {
		t.Fatal(err)
	}
	if keys := counterKeys(t, s); len(keys) != 1 || !keys["kept"] {
		t.Fatalf("stored %v, want only kept", keys)
	}
}

// TestWrite_AfterCloseFailsAtOnce: a write made after Close is an error,
// not a wait for a writer that is gone.
func TestWrite_AfterCloseFailsAtOnce(t *testing.T) {
	s, _ := openTest(t)
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.ResetCounter(ctx, "k"); !errors.Is(err, errClosed) {
		t.Fatalf("write after Close: %v, want %v", err, errClosed)
	}
}

// TestCheckpoint_CopiesTheWALIntoTheDatabaseInTheBackground: the writer's
// connection never checkpoints (wal_autocheckpoint off), so the database
// file grows only if the background checkpointer copies the WAL into it.
func TestCheckpoint_CopiesTheWALIntoTheDatabaseInTheBackground(t *testing.T) {
	s, path := openTest(t)
	// About 1 MB of rows, in one write.
	err := s.write(context.Background(), func(t wtx) error {
		for i := range 2000 {
			if _, err := t.exec(`INSERT INTO counters (key, count, last_at, expires_at) VALUES (?, 1, 0, 0)`,
				fmt.Sprintf("%04d-%0400d", i, i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = 800 << 10
	deadline := time.Now().Add(20 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes 20s after a write of about 1 MB, want at least %d: the WAL was not checkpointed", fi.Size(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
