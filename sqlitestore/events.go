package sqlitestore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

// AppendEvent implements sessiond.EventStore.
func (s *Store) AppendEvent(ctx context.Context, e *sessiond.Event) error {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return err
	}
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`INSERT INTO events (id, type, user_id, session_id, ip_address, user_agent, at, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Type, e.UserID, e.SessionID, e.IPAddress, e.UserAgent, micros(e.At), string(detail))
		return err
	})
}

// EventsByUser implements sessiond.EventStore.
func (s *Store) EventsByUser(ctx context.Context, userID string, limit int) ([]*sessiond.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, type, user_id, session_id, ip_address, user_agent, at, detail
		FROM events WHERE user_id = ? ORDER BY at DESC, id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*sessiond.Event
	for rows.Next() {
		var (
			e      sessiond.Event
			at     int64
			detail string
		)
		if err := rows.Scan(&e.ID, &e.Type, &e.UserID, &e.SessionID, &e.IPAddress, &e.UserAgent, &at, &detail); err != nil {
			return nil, translate(err)
		}
		e.At = fromMicros(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlitestore: event %s: detail: %v", e.ID, err)
		}
		out = append(out, &e)
	}
	return out, translate(rows.Err())
}

// DeleteEventsBefore implements sessiond.EventStore.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(t wtx) error {
		res, err := t.exec(`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? LIMIT ?)`, micros(before), limit)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
