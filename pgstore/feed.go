package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

// notify announces a change to every node's cache. NOTIFY is delivered on
// commit, and not at all on rollback. The payload names no session, user
// or tenant: any role that can connect may LISTEN, so ids are concealed
// (see ConcealChange).
func (s *Store) notify(ctx context.Context, tx pgx.Tx, c sessiond.Change) error {
	payload := s.ConcealChange(c).String()
	if len(payload) > 7000 {
		// NOTIFY payloads are limited to 8000 bytes; ids never come close,
		// but a truncated one would be a silent miss.
		return fmt.Errorf("pgstore: change %q too long to announce", payload[:32])
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, payload)
	return err
}

// ConcealChange implements sessiond.ChangeConcealer with the key of the
// feed_key table, which only roles that can read sessiond's tables can
// read: a listener without them learns that something changed, not what.
func (s *Store) ConcealChange(c sessiond.Change) sessiond.Change {
	return sessiond.ConcealChange(s.feedKey, c)
}

// ProbeFeed implements sessiond.FeedProber: the probe is a NOTIFY on the
// channel that WatchChanges listens to, delivered in commit order with every
// other change.
func (s *Store) ProbeFeed(ctx context.Context, probe string) error {
	_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, sessiond.Change{Probe: probe}.String())
	return translate(err)
}

// WatchChanges implements sessiond.ChangeWatcher with LISTEN on a dedicated
// connection: a change reaches the callback as soon as its transaction
// commits. It returns when the connection is lost.
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return translate(err)
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return translate(err)
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return translate(err)
		}
		if c, ok := sessiond.ParseChange(n.Payload); ok {
			onChange(c)
		}
	}
}
