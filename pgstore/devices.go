package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// SeenDevice implements sessiond.DeviceStore.
func (s *Store) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	var isNew bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO devices (user_id, fingerprint, first_seen, last_seen) VALUES ($1, $2, $3, $3)
			ON CONFLICT (user_id, fingerprint) DO NOTHING`, userID, fingerprint, at)
		if err != nil {
			return err
		}
		if isNew = tag.RowsAffected() == 1; isNew {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE devices SET last_seen = GREATEST(last_seen, $3) WHERE user_id = $1 AND fingerprint = $2`,
			userID, fingerprint, at)
		return err
	})
	return isNew, err
}
