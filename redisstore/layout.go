package redisstore

import (
	"context"
	"encoding/hex"
	"hash/crc32"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// part is the key prefix of the part that a user id (or, for the
// pointers, a session id or token hash) maps to: "{p}:" with one shard,
// else "{p/N}:".
func (s *Store) part(v string) string {
	if s.shards == 1 {
		return s.p
	}
	return s.partPrefix(crc32.ChecksumIEEE([]byte(v)) % s.shards)
}

func (s *Store) partPrefix(i uint32) string {
	return "{" + s.prefix + "/" + strconv.FormatUint(uint64(i), 10) + "}:"
}

// idPointer and hashPointer are the keys that lead from a session id and
// from a token hash to the user (with Shards > 1 only).
func (s *Store) idPointer(id string) string { return s.part(id) + "pi:" + id }

func (s *Store) hashPointer(h string) string { return s.part(h) + "ph:" + h }

// claimPointers writes a new session's pointers, each only if absent: an
// id or token hash in use is ErrConflict. With keepID (a rotation that
// keeps the public id) the id pointer is the old session's and stays as it
// is. On any failure, what this call wrote is deleted again.
func (s *Store) claimPointers(ctx context.Context, sess *sessiond.Session, keepID bool) error {
	if s.shards == 1 {
		return nil
	}
	th := hex.EncodeToString(sess.TokenHash[:])
	at := sess.ExpiresAt.UnixMilli() + 1
	keys := []string{s.hashPointer(th)}
	cmds := rueidis.Commands{s.c.B().Set().Key(keys[0]).Value(sess.UserID + "\n" + sess.ID).Nx().PxatMillisecondsTimestamp(at).Build()}
	if !keepID {
		keys = append(keys, s.idPointer(sess.ID))
		cmds = append(cmds, s.c.B().Set().Key(keys[1]).Value(sess.UserID).Nx().PxatMillisecondsTimestamp(at).Build())
	}
	var firstErr error
	var wrote []string
	for i, r := range s.c.DoMulti(ctx, cmds...) {
		err := r.Error()
		switch {
		case err == nil:
			wrote = append(wrote, keys[i])
		case rueidis.IsRedisNil(err):
			if firstErr == nil {
				firstErr = sessiond.ErrConflict
			}
		default:
			firstErr = translate(err)
		}
	}
	if firstErr != nil {
		s.dropKeys(ctx, wrote...)
	}
	return firstErr
}

// dropPointers deletes the pointers that claimPointers wrote for a
// session whose script then definitely refused it.
func (s *Store) dropPointers(ctx context.Context, sess *sessiond.Session, keepID bool) {
	if s.shards == 1 {
		return
	}
	keys := []string{s.hashPointer(hex.EncodeToString(sess.TokenHash[:]))}
	if !keepID {
		keys = append(keys, s.idPointer(sess.ID))
	}
	s.dropKeys(ctx, keys...)
}

// dropKeys deletes keys one by one (they may live in different slots). A
// failure leaves a pointer that expires with its session and leads nowhere.
func (s *Store) dropKeys(ctx context.Context, keys ...string) {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.c.B().Del().Key(k).Build()
	}
	s.c.DoMulti(ctx, cmds...)
}

// locate returns the part that holds session id: with Shards > 1, through
// its id pointer; a missing pointer is ErrNotFound.
func (s *Store) locate(ctx context.Context, id string) (string, error) {
	if s.shards == 1 {
		return s.p, nil
	}
	user, err := s.c.Do(ctx, s.c.B().Get().Key(s.idPointer(id)).Build()).ToString()
	if err != nil {
		return "", translate(err)
	}
	return s.part(user), nil
}

// parts lists every part's key prefix.
func (s *Store) parts() []string {
	if s.shards == 1 {
		return []string{s.p}
	}
	out := make([]string, s.shards)
	for i := range out {
		out[i] = s.partPrefix(uint32(i))
	}
	return out
}
