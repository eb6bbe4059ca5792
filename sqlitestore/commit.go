package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"
)

// Group commit. Every write is a function queued to one writer goroutine,
// which runs the writes waiting at that moment in one transaction, each
// under a savepoint of its own, commits once (one fsync of the WAL for
// the whole batch) and only then answers each caller: an answered write is
// as durable as before, and a burst of writes costs one commit, not one
// each. A write that fails rolls back to its savepoint and fails only its
// own caller.
//
// The WAL is checkpointed by a goroutine of its own (PASSIVE: it never
// takes the write lock), not by the commit that happens to fill it, which
// would make that caller wait for the copy and two fsyncs. Under a steady
// stream of commits a checkpoint that runs beside them never catches up
// with the last one, and SQLite starts the WAL over only after a complete
// one: so when the WAL has grown past walRestartFrames, the writer
// checkpoints once itself between two batches, which leaves it only the
// frames written since the background checkpoint to copy.

// maxBatch bounds the writes committed together.
const maxBatch = 128

// walRestartFrames is the WAL's length, in frames (pages), past which the
// writer completes a checkpoint itself: SQLite's default autocheckpoint.
const walRestartFrames = 1000

// errClosed answers the writes queued or made after Close.
var errClosed = errors.New("sqlitestore: store closed")

// wtx is one write's share of a batch: its statements, in the batch's
// transaction. They run under the batch's context, not the caller's: an
// interrupted statement would roll back the whole transaction (SQLite's
// rule), and with it the other callers' writes.
type wtx struct {
	ctx context.Context
	tx  *sql.Tx
}

func (t wtx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t wtx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

func (t wtx) query(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, query, args...)
}

// writeReq is one queued write: a caller blocked sending it on the
// writer's (unbuffered) queue. fn may run more than once (when a batch is
// run again without a write that broke its transaction): it must set its
// results afresh each time.
type writeReq struct {
	ctx      context.Context
	fn       func(wtx) error
	done     chan error // buffered: the writer never waits for a caller
	attempts int
}

// write queues fn and waits for its batch's commit. It returns fn's error,
// or the commit's, or ctx's when the caller stops waiting (the write's
// fate is then unknown, as with a network store's timeout).
func (s *Store) write(ctx context.Context, fn func(wtx) error) error {
	if err := ctx.Err(); err != nil {
		return translate(err)
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.queue <- r:
	case <-ctx.Done():
		return translate(ctx.Err())
	case <-s.closing:
		return errClosed
	}
	select {
	case err := <-r.done:
		return translate(err)
	case <-ctx.Done():
		return translate(ctx.Err())
	}
}

// writeLoop is the writer goroutine: it takes the first queued write, every
// other write queued by then (up to maxBatch), and runs them as one batch.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	var retry []*writeReq
	for {
		batch := retry
		if len(batch) == 0 {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			case <-s.closing:
				return
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		retry = s.runBatch(batch)
		if s.walLong.Swap(false) {
			s.w.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// runBatch runs the batch in one transaction and answers its callers. It
// returns the writes to run again: those of a transaction that one write's
// failure rolled back whole (SQLite does so on an I/O error, a full disk
// or an interrupt), that write left out.
func (s *Store) runBatch(batch []*writeReq) (retry []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err // the caller is gone: nothing of it runs
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return nil
	}
	// The batch's context ends when every caller has stopped waiting:
	// then a BEGIN waiting for another process's lock gives up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int32
	waiting.Store(int32(len(live)))
	for _, r := range live {
		stop := context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range live {
			r.done <- err
		}
		return nil
	}
	t := wtx{ctx, tx}
	if len(live) == 1 {
		// Alone in its batch: no savepoint needed.
		r := live[0]
		if err := r.fn(t); err != nil {
			tx.Rollback()
			r.done <- err
			return nil
		}
		r.done <- tx.Commit()
		s.checkpointSoon()
		return nil
	}
	results := make([]error, len(live))
	for i, r := range live {
		if _, err := t.exec(`SAVEPOINT w`); err != nil {
			return abort(tx, live, -1, err)
		}
		if results[i] = r.fn(t); results[i] != nil {
			if _, err := t.exec(`ROLLBACK TO w`); err != nil {
				// The transaction is gone with the failed write.
				return abort(tx, live, i, results[i])
			}
		}
		if _, err := t.exec(`RELEASE w`); err != nil {
			return abort(tx, live, -1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range live {
			r.done <- err
		}
		return nil
	}
	for i, r := range live {
		r.done <- results[i]
	}
	s.checkpointSoon()
	return nil
}

// abort rolls back a batch whose transaction broke: write culprit (-1:
// none) gets err, the others run again in a new batch, at most twice each.
func abort(tx *sql.Tx, live []*writeReq, culprit int, err error) []*writeReq {
	tx.Rollback()
	var retry []*writeReq
	for j, r := range live {
		if j == culprit {
			r.done <- err
			continue
		}
		if r.attempts++; r.attempts > 2 {
			r.done <- err
			continue
		}
		retry = append(retry, r)
	}
	return retry
}

// checkpointInterval is the least time between two background checkpoints.
const checkpointInterval = 100 * time.Millisecond

// checkpointSoon tells the checkpointer that the WAL grew.
func (s *Store) checkpointSoon() {
	select {
	case s.walGrew <- struct{}{}:
	default:
	}
}

// checkpointLoop copies the WAL back into the database file after commits,
// at most every checkpointInterval, on a connection of its own. PASSIVE
// neither waits for nor blocks readers and writers; the writer's
// connection has wal_autocheckpoint off, so no commit waits for a
// checkpoint.
func (s *Store) checkpointLoop() {
	defer close(s.checkpointerDone)
	for {
		select {
		case <-s.walGrew:
		case <-s.closing:
			return
		}
		var busy, frames, copied int
		err := s.ck.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if err == nil && frames >= walRestartFrames {
			s.walLong.Store(true)
		}
		select {
		case <-time.After(checkpointInterval):
		case <-s.closing:
			return
		}
	}
}
