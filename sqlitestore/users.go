package sqlitestore

import (
	"context"
	"encoding/json"

	"github.com/sessiond/sessiond"
)

const userColumns = `id, email, email_key, password_hash, tenant_id, needs_onboarding,
	onboarding_step, disabled, attributes, created_at, updated_at, version`

// CreateUser implements sessiond.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *sessiond.User) error {
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding,
			u.OnboardingStep, u.Disabled, attributes(u), micros(u.CreatedAt), micros(u.UpdatedAt), u.Version)
		return err
	})
}

// UserByID implements sessiond.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	return scanUser(s.userByID.QueryRowContext(ctx, id))
}

// UserByEmailKey implements sessiond.UserStore.
func (s *Store) UserByEmailKey(ctx context.Context, key string) (*sessiond.User, error) {
	return scanUser(s.userByEmail.QueryRowContext(ctx, key))
}

// UpdateUser implements sessiond.UserStore: the update is conditional on
// the version, in the writer's transaction.
func (s *Store) UpdateUser(ctx context.Context, u *sessiond.User) error {
	err := s.write(ctx, func(t wtx) error {
		res, err := t.exec(`UPDATE users SET email = ?, email_key = ?, password_hash = ?, tenant_id = ?,
			needs_onboarding = ?, onboarding_step = ?, disabled = ?, attributes = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ?`,
			u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding, u.OnboardingStep, u.Disabled,
			attributes(u), micros(u.UpdatedAt), u.ID, u.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var found int
			if err := t.queryRow(`SELECT count(*) FROM users WHERE id = ?`, u.ID).Scan(&found); err != nil {
				return err
			}
			if found == 0 {
				return sessiond.ErrNotFound
			}
			return sessiond.ErrConflict
		}
		return logChange(t, sessiond.Change{UserID: u.ID})
	})
	if err == nil {
		u.Version++
	}
	return err
}

// DeleteUser implements sessiond.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.write(ctx, func(t wtx) error {
		res, err := t.exec(`DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return logChange(t, sessiond.Change{UserID: id})
	})
}

// ListUsers implements sessiond.UserStore, walking the primary key in
// SQLite's binary (byte) order. lower() folds ASCII letters only, as
// sessiond.LowerASCII does.
func (s *Store) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	limit := max(f.Limit, 1)
	prefix := sessiond.LowerASCII(f.EmailPrefix)
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE id > ? AND (? = '' OR tenant_id = ?) AND substr(lower(email), 1, length(?)) = ?
		ORDER BY id LIMIT ?`, f.After, f.TenantID, f.TenantID, prefix, prefix, limit+1)
	if err != nil {
		return nil, "", translate(err)
	}
	defer rows.Close()
	var list []*sessiond.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", err
		}
		list = append(list, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate(err)
	}
	if len(list) > limit {
		return list[:limit], list[limit-1].ID, nil
	}
	return list, "", nil
}

func scanUser(row scanner) (*sessiond.User, error) {
	var r userRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, translate(err)
	}
	return r.user(), nil
}

// userRow receives the columns of userColumns.
type userRow struct {
	u                sessiond.User
	attrs            string
	created, updated int64
}

func (r *userRow) dest() []any {
	u := &r.u
	return []any{&u.ID, &u.Email, &u.EmailKey, &u.PasswordHash, &u.TenantID, &u.NeedsOnboarding,
		&u.OnboardingStep, &u.Disabled, &r.attrs, &r.created, &r.updated, &u.Version}
}

func (r *userRow) user() *sessiond.User {
	u := &r.u
	u.Attributes = json.RawMessage(r.attrs)
	u.CreatedAt, u.UpdatedAt = fromMicros(r.created), fromMicros(r.updated)
	return u
}

// attributes is the stored form of a user's attributes: {} for none.
func attributes(u *sessiond.User) string {
	if len(u.Attributes) == 0 {
		return "{}"
	}
	return string(u.Attributes)
}
