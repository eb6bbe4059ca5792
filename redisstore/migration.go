package redisstore

import (
	"context"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

func (s *Store) migrationKey(key sessiond.TokenHash) string {
	return s.k("m", hex.EncodeToString(key[:]))
}

// ClaimMigration implements sessiond.MigrationStore.
func (s *Store) ClaimMigration(ctx context.Context, key sessiond.TokenHash, now, pendingUntil time.Time) (*sessiond.Migration, bool, error) {
	res, err := claimScript.Exec(ctx, s.c, []string{s.migrationKey(key)},
		[]string{micros(now), micros(pendingUntil), strconv.FormatInt(pendingUntil.UnixMilli()+1, 10)}).ToArray()
	if err != nil {
		return nil, false, translate(err)
	}
	if first, _ := res[0].AsInt64(); first == 1 {
		return &sessiond.Migration{Key: key, State: sessiond.MigrationPending, CreatedAt: now.UTC(), ShareUntil: pendingUntil.UTC(), ExpiresAt: pendingUntil.UTC()}, true, nil
	}
	m := map[string]string{}
	for i := 1; i+1 < len(res); i += 2 {
		k, _ := res[i].ToString()
		v, _ := res[i+1].ToString()
		m[k] = v
	}
	return parseMigration(key, m), false, nil
}

func parseMigration(key sessiond.TokenHash, m map[string]string) *sessiond.Migration {
	mig := &sessiond.Migration{Key: key, State: m["st"], CreatedAt: fromMicros(m["c"]), ShareUntil: fromMicros(m["sh"]), ExpiresAt: fromMicros(m["e"])}
	if sealed, ok := m["sealed"]; ok {
		mig.Sealed = []byte(sealed)
	}
	return mig
}

// MigrationByKey implements sessiond.MigrationStore.
func (s *Store) MigrationByKey(ctx context.Context, key sessiond.TokenHash) (*sessiond.Migration, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(s.migrationKey(key)).Build()).AsStrMap()
	if err != nil {
		return nil, translate(err)
	}
	if len(m) == 0 {
		return nil, sessiond.ErrNotFound
	}
	return parseMigration(key, m), nil
}

// FinishMigration implements sessiond.MigrationStore.
func (s *Store) FinishMigration(ctx context.Context, m *sessiond.Migration) error {
	n, err := finishScript.Exec(ctx, s.c, []string{s.migrationKey(m.Key)}, []string{m.State, string(m.Sealed),
		micros(m.ShareUntil), micros(m.ExpiresAt), strconv.FormatInt(m.ExpiresAt.UnixMilli()+1, 10)}).ToInt64()
	return scriptResult(n, err)
}

// DeleteMigration implements sessiond.MigrationStore.
func (s *Store) DeleteMigration(ctx context.Context, key sessiond.TokenHash) error {
	return translate(s.c.Do(ctx, s.c.B().Del().Key(s.migrationKey(key)).Build()).Error())
}
