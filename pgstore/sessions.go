package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

const sessionColumns = `id, token_hash, user_id, tenant_id, ip_address, user_agent,
	created_at, last_activity, expires_at, authenticated_at, data, version, flags`

const insertSession = `INSERT INTO sessions (` + sessionColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

func sessionArgs(s *sessiond.Session) []any {
	var data []byte
	if s.Data != nil {
		data = s.Data
	}
	flags := s.Flags
	if flags == nil {
		flags = []string{}
	}
	return []any{s.ID, s.TokenHash[:], s.UserID, s.TenantID, s.IPAddress, s.UserAgent,
		s.CreatedAt, s.LastActivity, s.ExpiresAt, s.AuthenticatedAt, data, s.Version, flags}
}

// CreateSession implements sessiond.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *sessiond.Session) error {
	_, err := s.pool.Exec(ctx, insertSession, sessionArgs(sess)...)
	return translate(err)
}

// SessionByTokenHash implements sessiond.SessionStore.
func (s *Store) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	return scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, h[:]))
}

// SessionAndUserByTokenHash implements sessiond.SessionUserReader: one
// statement, the session and (LEFT JOIN) its user, so that a validation
// that misses the cache costs one round trip. pgx prepares and caches the
// statement on each connection.
func (s *Store) SessionAndUserByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, *sessiond.User, error) {
	var (
		sr      sessionRow
		ur      userRow
		hasUser bool
	)
	dest := append(append(sr.dest(), &hasUser), ur.dest()...)
	if err := s.pool.QueryRow(ctx, sessionAndUserByHash, h[:]).Scan(dest...); err != nil {
		return nil, nil, translate(err)
	}
	sess, err := sr.session()
	if err != nil || !hasUser {
		return sess, nil, err
	}
	return sess, ur.user(), nil
}

// sessionAndUserByHash selects sessionColumns, whether the session's user
// exists, then userColumns (their zero values when it does not: NULL would
// not scan).
var sessionAndUserByHash = `SELECT ` + qualify("s", sessionColumns, nil) + `, u.id IS NOT NULL, ` +
	qualify("u", userColumns, map[string]string{"needs_onboarding": "false", "disabled": "false",
		"created_at": "'epoch'", "updated_at": "'epoch'", "version": "0", "": "''"}) + `
	FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`

// qualify prefixes each column of the comma-separated list with table.
// With zeros, each becomes COALESCE(table.column, zero), zero the value
// zeros gives the column or else zeros[""].
func qualify(table, columns string, zeros map[string]string) string {
	var out []string
	for _, c := range strings.Split(columns, ",") {
		c = strings.TrimSpace(c)
		q := table + "." + c
		if zeros != nil {
			zero, ok := zeros[c]
			if !ok {
				zero = zeros[""]
			}
			q = "COALESCE(" + q + ", " + zero + ")"
		}
		out = append(out, q)
	}
	return strings.Join(out, ", ")
}

// SessionByID implements sessiond.SessionStore.
func (s *Store) SessionByID(ctx context.Context, id string) (*sessiond.Session, error) {
	return scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
}

// SessionsByUser implements sessiond.SessionStore with the user_id index.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	return s.querySessions(ctx, s.pool, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1`, userID)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *Store) querySessions(ctx context.Context, q querier, sql string, args ...any) ([]*sessiond.Session, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*sessiond.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, translate(rows.Err())
}

// TouchSessions implements sessiond.SessionStore with one statement.
func (s *Store) TouchSessions(ctx context.Context, touches []sessiond.Touch) error {
	ids := make([]string, len(touches))
	ats := make([]time.Time, len(touches))
	for i, t := range touches {
		ids[i], ats[i] = t.ID, t.At
	}
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_activity = t.at
		FROM unnest($1::text[], $2::timestamptz[]) AS t(id, at)
		WHERE sessions.id = t.id AND sessions.last_activity < t.at`, ids, ats)
	return translate(err)
}

// UpdateSessionData implements sessiond.SessionStore.
func (s *Store) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var d []byte
		if data != nil {
			d = data
		}
		tag, err := tx.Exec(ctx, `UPDATE sessions SET data = $1, version = version + 1 WHERE id = $2 AND version = $3`, d, id, version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return sessiond.ErrNotFound
			}
			return sessiond.ErrConflict
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// RotateSession implements sessiond.SessionStore.
func (s *Store) RotateSession(ctx context.Context, oldID string, sess *sessiond.Session) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, oldID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		if _, err := tx.Exec(ctx, insertSession, sessionArgs(sess)...); err != nil {
			return err
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: oldID})
	})
}

// DeleteSession implements sessiond.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// DeleteUserSessions implements sessiond.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, except)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return s.notify(ctx, tx, sessiond.Change{UserID: userID})
	})
	return int(n), err
}

// CreateSessionLimited implements sessiond.SessionStore. A transaction-scoped
// advisory lock on the user serializes concurrent logins of that user on
// every node, so the count cannot be raced.
func (s *Store) CreateSessionLimited(ctx context.Context, sess *sessiond.Session, lim sessiond.Limit) ([]*sessiond.Session, error) {
	var evicted []*sessiond.Session
	err := s.tx(ctx, func(tx pgx.Tx) error {
		evicted = nil
		if lim.Max > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "sessiond_user:"+s.schema+":"+sess.UserID); err != nil {
				return err
			}
			live, err := s.querySessions(ctx, tx, `SELECT `+sessionColumns+` FROM sessions
				WHERE user_id = $1 AND expires_at > $2 AND last_activity > $3 ORDER BY last_activity, id`,
				sess.UserID, lim.Now, lim.IdleBefore)
			if err != nil {
				return err
			}
			if over := len(live) - lim.Max + 1; over > 0 {
				if !lim.Evict {
					return sessiond.ErrLimitReached
				}
				for _, old := range live[:over] {
					if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, old.ID); err != nil {
						return err
					}
					if err := s.notify(ctx, tx, sessiond.Change{SessionID: old.ID}); err != nil {
						return err
					}
					evicted = append(evicted, old)
				}
			}
		}
		_, err := tx.Exec(ctx, insertSession, sessionArgs(sess)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evicted, nil
}

// SetSessionFlags implements sessiond.SessionStore.
func (s *Store) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	if flags == nil {
		flags = []string{}
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sessions SET flags = $1 WHERE id = $2`, flags, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// DeleteTenantSessions implements sessiond.SessionStore.
func (s *Store) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE tenant_id = $1`, tenantID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return s.notify(ctx, tx, sessiond.Change{TenantID: tenantID})
	})
	return int(n), err
}

// DeleteExpiredSessions implements sessiond.SessionStore. Only one node
// purges at a time: a node that does not get the advisory lock deletes
// nothing and returns 0. It also deletes expired counters and migration
// records.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var leader bool
		// The key names the configured schema: current_schema() is NULL
		// once the schema is gone, and the lock call would fail to scan.
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, "sessiond_purge_"+s.schema).Scan(&leader); err != nil || !leader {
			return err
		}
		// Each branch is an index scan that stops after limit rows; a
		// plain UNION or OR would first collect every expired row, for
		// every batch.
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM (
				(SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $3)
				UNION ALL
				(SELECT id FROM sessions WHERE last_activity <= $2 ORDER BY last_activity LIMIT $3)
			) AS victims LIMIT $3)`, now, idleBefore, limit)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM counters WHERE expires_at <= $1`, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM legacy_migrations WHERE expires_at <= $1`, now)
		return err
	})
	return int(n), err
}

func scanSession(row pgx.Row) (*sessiond.Session, error) {
	var r sessionRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, translate(err)
	}
	return r.session()
}

// sessionRow receives the columns of sessionColumns.
type sessionRow struct {
	sess  sessiond.Session
	hash  []byte
	data  []byte
	flags []string
}

func (r *sessionRow) dest() []any {
	return []any{&r.sess.ID, &r.hash, &r.sess.UserID, &r.sess.TenantID, &r.sess.IPAddress, &r.sess.UserAgent,
		&r.sess.CreatedAt, &r.sess.LastActivity, &r.sess.ExpiresAt, &r.sess.AuthenticatedAt, &r.data, &r.sess.Version, &r.flags}
}

func (r *sessionRow) session() (*sessiond.Session, error) {
	sess := &r.sess
	if len(r.hash) != len(sess.TokenHash) {
		return nil, fmt.Errorf("pgstore: session %s has a token hash of %d bytes", sess.ID, len(r.hash))
	}
	copy(sess.TokenHash[:], r.hash)
	sess.CreatedAt, sess.LastActivity = sess.CreatedAt.UTC(), sess.LastActivity.UTC()
	sess.ExpiresAt, sess.AuthenticatedAt = sess.ExpiresAt.UTC(), sess.AuthenticatedAt.UTC()
	if r.data != nil {
		sess.Data = json.RawMessage(r.data)
	}
	if len(r.flags) > 0 {
		sess.Flags = r.flags
	}
	return sess, nil
}
