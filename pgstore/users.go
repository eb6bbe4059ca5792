package pgstore

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

const userColumns = `id, email, email_key, password_hash, tenant_id, needs_onboarding,
	onboarding_step, disabled, attributes, created_at, updated_at, version`

// CreateUser implements sessiond.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *sessiond.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding, u.OnboardingStep, u.Disabled, attributes(u), u.CreatedAt, u.UpdatedAt, u.Version)
	return translate(err)
}

// UserByID implements sessiond.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserByEmailKey implements sessiond.UserStore.
func (s *Store) UserByEmailKey(ctx context.Context, key string) (*sessiond.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, key))
}

// UpdateUser implements sessiond.UserStore: one UPDATE conditional on the
// version, which PostgreSQL applies atomically under the row lock.
func (s *Store) UpdateUser(ctx context.Context, u *sessiond.User) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET email = $1, email_key = $2, password_hash = $3, tenant_id = $4,
			needs_onboarding = $5, onboarding_step = $6, disabled = $7, attributes = $8, updated_at = $9, version = version + 1
			WHERE id = $10 AND version = $11`,
			u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding, u.OnboardingStep, u.Disabled, attributes(u), u.UpdatedAt, u.ID, u.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var found bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, u.ID).Scan(&found); err != nil {
				return err
			}
			if !found {
				return sessiond.ErrNotFound
			}
			return sessiond.ErrConflict
		}
		return s.notify(ctx, tx, sessiond.Change{UserID: u.ID})
	})
	if err == nil {
		u.Version++
	}
	return err
}

// DeleteUser implements sessiond.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		return s.notify(ctx, tx, sessiond.Change{UserID: id})
	})
}

// ListUsers implements sessiond.UserStore. IDs compare in the "C"
// collation (byte order) whatever the database's collation; translate()
// folds ASCII letters only, as sessiond.LowerASCII does.
func (s *Store) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	limit := max(f.Limit, 1)
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE id COLLATE "C" > $1 AND ($2 = '' OR tenant_id = $2)
		AND starts_with(translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $3)
		ORDER BY id COLLATE "C" LIMIT $4`, f.After, f.TenantID, sessiond.LowerASCII(f.EmailPrefix), limit+1)
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

func scanUser(row pgx.Row) (*sessiond.User, error) {
	var r userRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, translate(err)
	}
	return r.user(), nil
}

// userRow receives the columns of userColumns.
type userRow struct {
	u     sessiond.User
	attrs string
}

func (r *userRow) dest() []any {
	u := &r.u
	return []any{&u.ID, &u.Email, &u.EmailKey, &u.PasswordHash, &u.TenantID, &u.NeedsOnboarding,
		&u.OnboardingStep, &u.Disabled, &r.attrs, &u.CreatedAt, &u.UpdatedAt, &u.Version}
}

func (r *userRow) user() *sessiond.User {
	u := &r.u
	u.Attributes = json.RawMessage(r.attrs)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u
}

// attributes is the stored form of a user's attributes: {} for none.
func attributes(u *sessiond.User) string {
	if len(u.Attributes) == 0 {
		return "{}"
	}
	return string(u.Attributes)
}
