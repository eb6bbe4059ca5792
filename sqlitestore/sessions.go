package sqlitestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

const sessionColumns = `id, token_hash, user_id, tenant_id, ip_address, user_agent,
	created_at, last_activity, expires_at, authenticated_at, data, version, flags`

// CreateSession implements sessiond.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *sessiond.Session) error {
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sessionArgs(sess)...)
		return err
	})
}

func sessionArgs(sess *sessiond.Session) []any {
	var data any
	if sess.Data != nil {
		data = []byte(sess.Data)
	}
	return []any{sess.ID, sess.TokenHash[:], sess.UserID, sess.TenantID, sess.IPAddress, sess.UserAgent,
		micros(sess.CreatedAt), micros(sess.LastActivity), micros(sess.ExpiresAt), micros(sess.AuthenticatedAt),
		data, sess.Version, strings.Join(sess.Flags, ",")}
}

// SessionByTokenHash implements sessiond.SessionStore.
func (s *Store) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	return scanSession(s.bySessionHash.QueryRowContext(ctx, h[:]))
}

// SessionAndUserByTokenHash implements sessiond.SessionUserReader: one
// prepared statement, the session and (LEFT JOIN) its user, read from one
// snapshot.
func (s *Store) SessionAndUserByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, *sessiond.User, error) {
	var (
		sr      sessionRow
		ur      userRow
		hasUser bool
	)
	dest := append(append(sr.dest(), &hasUser), ur.dest()...)
	if err := s.sessionAndUserByHash.QueryRowContext(ctx, h[:]).Scan(dest...); err != nil {
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
	qualify("u", userColumns, map[string]string{"needs_onboarding": "0", "disabled": "0",
		"created_at": "0", "updated_at": "0", "version": "0", "": "''"}) + `
	FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`

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
	return scanSession(s.bySessionID.QueryRowContext(ctx, id))
}

// SessionsByUser implements sessiond.SessionStore with the user_id index.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	rows, err := s.byUser.QueryContext(ctx, userID)
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

// TouchSessions implements sessiond.SessionStore in one transaction.
func (s *Store) TouchSessions(ctx context.Context, touches []sessiond.Touch) error {
	return s.write(ctx, func(t wtx) error {
		stmt, err := t.tx.PrepareContext(t.ctx, `UPDATE sessions SET last_activity = ? WHERE id = ? AND last_activity < ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, touch := range touches {
			at := micros(touch.At)
			if _, err := stmt.ExecContext(t.ctx, at, touch.ID, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateSessionData implements sessiond.SessionStore.
func (s *Store) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	return s.write(ctx, func(t wtx) error {
		var d any
		if data != nil {
			d = []byte(data)
		}
		res, err := t.exec(`UPDATE sessions SET data = ?, version = version + 1 WHERE id = ? AND version = ?`, d, id, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			err := t.queryRow(`SELECT count(*) FROM sessions WHERE id = ?`, id).Scan(&exists)
			switch {
			case err != nil:
				return err
			case exists == 0:
				return sessiond.ErrNotFound
			default:
				return sessiond.ErrConflict
			}
		}
		return logChange(t, sessiond.Change{SessionID: id})
	})
}

// RotateSession implements sessiond.SessionStore.
func (s *Store) RotateSession(ctx context.Context, oldID string, sess *sessiond.Session) error {
	return s.write(ctx, func(t wtx) error {
		res, err := t.exec(`DELETE FROM sessions WHERE id = ?`, oldID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		if _, err := t.exec(`INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sessionArgs(sess)...); err != nil {
			return err
		}
		return logChange(t, sessiond.Change{SessionID: oldID})
	})
}

// DeleteSession implements sessiond.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.write(ctx, func(t wtx) error {
		res, err := t.exec(`DELETE FROM sessions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return logChange(t, sessiond.Change{SessionID: id})
	})
}

// DeleteUserSessions implements sessiond.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	var n int64
	err := s.write(ctx, func(t wtx) error {
		res, err := t.exec(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, except)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n == 0 {
			return nil
		}
		return logChange(t, sessiond.Change{UserID: userID})
	})
	if err != nil {
		return 0, err // a caller that gave up reads nothing the writer may still set
	}
	return int(n), nil
}

// CreateSessionLimited implements sessiond.SessionStore. The transaction
// takes SQLite's write lock at BEGIN (IMMEDIATE), so concurrent calls for one
// user are serialized and the count cannot be raced.
func (s *Store) CreateSessionLimited(ctx context.Context, sess *sessiond.Session, lim sessiond.Limit) ([]*sessiond.Session, error) {
	var evicted []*sessiond.Session
	err := s.write(ctx, func(t wtx) error {
		evicted = nil
		if lim.Max > 0 {
			rows, err := t.query(`SELECT `+sessionColumns+` FROM sessions
				WHERE user_id = ? AND expires_at > ? AND last_activity > ?
				ORDER BY last_activity, id`, sess.UserID, micros(lim.Now), micros(lim.IdleBefore))
			if err != nil {
				return err
			}
			var live []*sessiond.Session
			for rows.Next() {
				ls, err := scanSession(rows)
				if err != nil {
					rows.Close()
					return err
				}
				live = append(live, ls)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if over := len(live) - lim.Max + 1; over > 0 {
				if !lim.Evict {
					return sessiond.ErrLimitReached
				}
				for _, old := range live[:over] {
					if _, err := t.exec(`DELETE FROM sessions WHERE id = ?`, old.ID); err != nil {
						return err
					}
					if err := logChange(t, sessiond.Change{SessionID: old.ID}); err != nil {
						return err
					}
					evicted = append(evicted, old)
				}
			}
		}
		_, err := t.exec(`INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sessionArgs(sess)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evicted, nil
}

// SetSessionFlags implements sessiond.SessionStore.
func (s *Store) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	return s.write(ctx, func(t wtx) error {
		res, err := t.exec(`UPDATE sessions SET flags = ? WHERE id = ?`, strings.Join(flags, ","), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return logChange(t, sessiond.Change{SessionID: id})
	})
}

// DeleteTenantSessions implements sessiond.SessionStore.
func (s *Store) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	var n int64
	err := s.write(ctx, func(t wtx) error {
		res, err := t.exec(`DELETE FROM sessions WHERE tenant_id = ?`, tenantID)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		return logChange(t, sessiond.Change{TenantID: tenantID})
	})
	if err != nil {
		return 0, err // a caller that gave up reads nothing the writer may still set
	}
	return int(n), nil
}

// DeleteExpiredSessions implements sessiond.SessionStore. It also deletes
// expired counters and migration records and trims the change feed, each
// in batches of limit rows, every batch its own short transaction, so
// that a large backlog never holds the write lock for long (#9.18).
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(t wtx) error {
		// Each branch is an index scan that stops after limit rows; a
		// plain UNION or OR would first collect every expired row, for
		// every batch.
		res, err := t.exec(`DELETE FROM sessions WHERE id IN (
			SELECT id FROM (SELECT id FROM sessions WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?3)
			UNION ALL
			SELECT id FROM (SELECT id FROM sessions WHERE last_activity <= ?2 ORDER BY last_activity LIMIT ?3)
			LIMIT ?3)`, micros(now), micros(idleBefore), limit)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, err // a caller that gave up reads nothing the writer may still set
	}
	for _, q := range []struct {
		sql   string
		since int64
	}{
		{`DELETE FROM counters WHERE rowid IN (SELECT rowid FROM counters WHERE expires_at <= ?1 LIMIT ?2)`, micros(now)},
		{`DELETE FROM legacy_migrations WHERE rowid IN (SELECT rowid FROM legacy_migrations WHERE expires_at <= ?1 LIMIT ?2)`, micros(now)},
		{`DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < ?1 ORDER BY at LIMIT ?2)`, micros(now.Add(-s.opts.ChangeRetention))},
	} {
		if err := s.deleteBatches(ctx, q.sql, q.since, limit); err != nil {
			return int(n), err
		}
	}
	return int(n), nil
}

// maxSideBatches bounds the batches of one side table that one purge call
// deletes: a backlog shrinks by up to this many batches a minute, and the
// writer is free between batches.
const maxSideBatches = 200

// deleteBatches runs a batched DELETE (?1 the cutoff, ?2 the batch size)
// until a batch deletes fewer than limit rows, maxSideBatches have run or
// ctx ends.
func (s *Store) deleteBatches(ctx context.Context, query string, cutoff int64, limit int) error {
	for range maxSideBatches {
		var n int64
		err := s.write(ctx, func(t wtx) error {
			res, err := t.exec(query, cutoff, limit)
			if err == nil {
				n, _ = res.RowsAffected()
			}
			return err
		})
		if err != nil {
			return err
		}
		if n < int64(limit) {
			return nil
		}
	}
	return nil
}

func scanSession(row scanner) (*sessiond.Session, error) {
	var r sessionRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, translate(err)
	}
	return r.session()
}

// sessionRow receives the columns of sessionColumns.
type sessionRow struct {
	sess                             sessiond.Session
	hash, data                       []byte
	created, last, expires, authedAt int64
	flags                            string
}

func (r *sessionRow) dest() []any {
	return []any{&r.sess.ID, &r.hash, &r.sess.UserID, &r.sess.TenantID, &r.sess.IPAddress, &r.sess.UserAgent,
		&r.created, &r.last, &r.expires, &r.authedAt, &r.data, &r.sess.Version, &r.flags}
}

func (r *sessionRow) session() (*sessiond.Session, error) {
	sess := &r.sess
	if len(r.hash) != len(sess.TokenHash) {
		return nil, fmt.Errorf("sqlitestore: session %s has a token hash of %d bytes", sess.ID, len(r.hash))
	}
	copy(sess.TokenHash[:], r.hash)
	sess.CreatedAt, sess.LastActivity = fromMicros(r.created), fromMicros(r.last)
	sess.ExpiresAt, sess.AuthenticatedAt = fromMicros(r.expires), fromMicros(r.authedAt)
	if r.data != nil {
		sess.Data = json.RawMessage(r.data)
	}
	if r.flags != "" {
		sess.Flags = strings.Split(r.flags, ",")
	}
	return sess, nil
}
