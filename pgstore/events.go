package pgstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

// AppendEvent implements sessiond.EventStore.
func (s *Store) AppendEvent(ctx context.Context, e *sessiond.Event) error {
	detail := e.Detail
	if detail == nil {
		detail = map[string]string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO events (id, type, user_id, session_id, ip_address, user_agent, at, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.Type, e.UserID, e.SessionID, e.IPAddress, e.UserAgent, e.At, detail)
	return translate(err)
}

// EventsByUser implements sessiond.EventStore.
func (s *Store) EventsByUser(ctx context.Context, userID string, limit int) ([]*sessiond.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, type, user_id, session_id, ip_address, user_agent, at, detail
		FROM events WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*sessiond.Event
	for rows.Next() {
		var e sessiond.Event
		if err := rows.Scan(&e.ID, &e.Type, &e.UserID, &e.SessionID, &e.IPAddress, &e.UserAgent, &e.At, &e.Detail); err != nil {
			return nil, translate(err)
		}
		e.At = e.At.UTC()
		if len(e.Detail) == 0 {
			e.Detail = nil
		}
		out = append(out, &e)
	}
	return out, translate(rows.Err())
}

// DeleteEventsBefore implements sessiond.EventStore.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 LIMIT $2)`, before, limit)
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}
