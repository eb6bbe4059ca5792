package sqlitestore

import (
	"context"
	"time"
)

// SeenDevice implements sessiond.DeviceStore.
func (s *Store) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	var isNew bool
	err := s.write(ctx, func(t wtx) error {
		isNew = false
		res, err := t.exec(`INSERT INTO devices (user_id, fingerprint, first_seen, last_seen) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, fingerprint) DO NOTHING`, userID, fingerprint, micros(at), micros(at))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			isNew = true
			return nil
		}
		_, err = t.exec(`UPDATE devices SET last_seen = max(last_seen, ?) WHERE user_id = ? AND fingerprint = ?`,
			micros(at), userID, fingerprint)
		return err
	})
	if err != nil {
		return false, err // a caller that gave up reads nothing the writer may still set
	}
	return isNew, nil
}
