package sqlitestore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

// WatchChanges implements sessiond.ChangeWatcher by polling the change feed
// every PollInterval.
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	var last int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&last); err != nil {
		return translate(err)
	}
	connected()
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		next, err := s.readChanges(ctx, last, onChange)
		if err != nil {
			return err
		}
		last = next
	}
}

func (s *Store) readChanges(ctx context.Context, after int64, onChange func(sessiond.Change)) (int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, session_id, user_id, tenant_id FROM changes WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return after, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c sessiond.Change
		if err := rows.Scan(&after, &c.SessionID, &c.UserID, &c.TenantID); err != nil {
			return after, translate(err)
		}
		onChange(c)
	}
	return after, translate(rows.Err())
}

func logChange(t wtx, c sessiond.Change) error {
	_, err := t.exec(`INSERT INTO changes (session_id, user_id, tenant_id, at) VALUES (?, ?, ?, ?)`,
		c.SessionID, c.UserID, c.TenantID, time.Now().UnixMicro())
	return err
}
