package redisstore

import (
	"context"
	"time"
)

// SeenDevice implements sessiond.DeviceStore.
func (s *Store) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	n, err := s.c.Do(ctx, s.c.B().Hsetnx().Key(s.k("dev", userID)).Field(fingerprint).Value(micros(at)).Build()).AsBool()
	return n, translate(err)
}
