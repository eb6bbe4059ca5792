package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// CreateSession implements sessiond.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *sessiond.Session) error {
	_, err := s.CreateSessionLimited(ctx, sess, sessiond.Limit{})
	return err
}

// CreateSessionLimited implements sessiond.SessionStore in one script.
func (s *Store) CreateSessionLimited(ctx context.Context, sess *sessiond.Session, lim sessiond.Limit) ([]*sessiond.Session, error) {
	evict := "0"
	if lim.Evict {
		evict = "1"
	}
	bp := s.part(sess.UserID)
	rec, err := s.writer.args(sess)
	if err != nil {
		return nil, err
	}
	args := append([]string{bp, strconv.Itoa(lim.Max), evict, micros(lim.Now), micros(lim.IdleBefore), s.events}, rec...)
	// Evictions are announced as the user's change: the script decides
	// which sessions go and cannot compute their keyed hashes.
	args = append(args, s.conceal(sessiond.Change{UserID: sess.UserID}))
	// The evicted sessions are read first (outside the script) only to
	// report them; the script decides.
	before := map[string]*sessiond.Session{}
	if lim.Max > 0 {
		list, err := s.SessionsByUser(ctx, sess.UserID)
		if err != nil {
			return nil, err
		}
		for _, old := range list {
			before[old.ID] = old
		}
	}
	if err := s.claimPointers(ctx, sess, false); err != nil {
		return nil, err
	}
	out, err := s.writer.create.Exec(ctx, s.c, []string{bp}, args).AsStrSlice()
	if err != nil {
		// The script may have run all the same (an answer lost on the
		// way): the pointers stay, and expire with the session.
		return nil, translate(err)
	}
	switch out[0] {
	case "conflict":
		s.dropPointers(ctx, sess, false)
		return nil, sessiond.ErrConflict
	case "limit":
		s.dropPointers(ctx, sess, false)
		return nil, sessiond.ErrLimitReached
	}
	var evicted []*sessiond.Session
	for _, id := range out[1:] {
		if old := before[id]; old != nil {
			evicted = append(evicted, old)
		} else {
			evicted = append(evicted, &sessiond.Session{ID: id, UserID: sess.UserID})
		}
	}
	return evicted, nil
}

// SessionByTokenHash implements sessiond.SessionStore: with one shard, one
// script reads the token's key and the session; with Shards > 1, the
// token's pointer, then the session in its user's part.
func (s *Store) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	th := hex.EncodeToString(h[:])
	var sess *sessiond.Session
	if s.shards == 1 {
		res, err := byHashScript.Exec(ctx, s.c, []string{s.k("h", th)}, []string{s.p}).ToArray()
		if err != nil {
			return nil, translate(err)
		}
		if len(res) != 2 {
			return nil, sessiond.ErrNotFound
		}
		id, _ := res[0].ToString()
		if sess, err = readRecord(id, res[1]); err != nil {
			return nil, err
		}
	} else {
		v, err := s.c.Do(ctx, s.c.B().Get().Key(s.hashPointer(th)).Build()).ToString()
		if err != nil {
			return nil, translate(err)
		}
		user, id, _ := strings.Cut(v, "\n")
		if sess, err = s.sessionIn(ctx, s.part(user), id); err != nil {
			return nil, err
		}
	}
	if sess.TokenHash != h {
		return nil, sessiond.ErrNotFound
	}
	return sess, nil
}

// SessionAndUserByTokenHash implements sessiond.SessionUserReader: the
// session under h and its user (nil when there is none). With one shard it
// is one script, one round trip; with Shards > 1 the session and the user
// live under different hash tags (on a Cluster, different slots that no
// script may span), so it is the token's pointer, then the session and the
// user read together: two round trips in all.
func (s *Store) SessionAndUserByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, *sessiond.User, error) {
	th := hex.EncodeToString(h[:])
	if s.shards > 1 {
		return s.sessionAndUserSharded(ctx, h, th)
	}
	res, err := sessionUserScript.Exec(ctx, s.c, []string{s.k("h", th)}, []string{s.p}).ToArray()
	if err != nil {
		return nil, nil, translate(err)
	}
	if len(res) != 3 {
		return nil, nil, sessiond.ErrNotFound
	}
	id, _ := res[0].ToString()
	um, err := res[2].AsStrMap()
	if err != nil {
		return nil, nil, translate(err)
	}
	return sessionAndUser(h, id, res[1], um)
}

// sessionAndUserSharded is SessionAndUserByTokenHash with Shards > 1.
func (s *Store) sessionAndUserSharded(ctx context.Context, h sessiond.TokenHash, th string) (*sessiond.Session, *sessiond.User, error) {
	v, err := s.c.Do(ctx, s.c.B().Get().Key(s.hashPointer(th)).Build()).ToString()
	if err != nil {
		return nil, nil, translate(err)
	}
	user, id, _ := strings.Cut(v, "\n")
	// The two reads go out together (the client pipelines concurrent
	// requests), to two slots that may be on two masters.
	bp := s.part(user)
	userRead := make(chan rueidis.RedisResult, 1)
	go func() { userRead <- s.c.Do(ctx, s.c.B().Hgetall().Key(s.k("user", user)).Build()) }()
	rec, err := readScript.Exec(ctx, s.c, []string{bp}, []string{bp, id}).ToMessage()
	um, uerr := (<-userRead).AsStrMap()
	if err != nil && !rueidis.IsRedisNil(err) {
		return nil, nil, translate(err)
	}
	if uerr != nil {
		return nil, nil, translate(uerr)
	}
	sess, u, err := sessionAndUser(h, id, rec, um)
	if err != nil {
		return nil, nil, err
	}
	if sess.UserID != user {
		// Not written by this store (a session sits in its user's part),
		// but should it happen, the user is read again by the session's
		// own user id.
		u, err = s.UserByID(ctx, sess.UserID)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			u = nil
		case err != nil:
			return nil, nil, err
		}
	}
	return sess, u, nil
}

// sessionAndUser parses what SessionAndUserByTokenHash read: a session
// whose token hash is not h is none.
func sessionAndUser(h sessiond.TokenHash, id string, rec rueidis.RedisMessage, um map[string]string) (*sessiond.Session, *sessiond.User, error) {
	sess, err := readRecord(id, rec)
	if err != nil {
		return nil, nil, err
	}
	if sess.TokenHash != h {
		return nil, nil, sessiond.ErrNotFound
	}
	if len(um) == 0 {
		return sess, nil, nil
	}
	return sess, userFromMap(um), nil
}

// SessionByID implements sessiond.SessionStore.
func (s *Store) SessionByID(ctx context.Context, id string) (*sessiond.Session, error) {
	bp, err := s.locate(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.sessionIn(ctx, bp, id)
}

// sessionIn reads session id from the part bp.
func (s *Store) sessionIn(ctx context.Context, bp, id string) (*sessiond.Session, error) {
	m, err := readScript.Exec(ctx, s.c, []string{bp}, []string{bp, id}).ToMessage()
	if err != nil && !rueidis.IsRedisNil(err) {
		return nil, translate(err)
	}
	return readRecord(id, m)
}

// SessionsByUser implements sessiond.SessionStore: the user's indexes,
// then their records, read by short scripts of up to userBatch sessions
// each, sent together.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	bp := s.part(userID)
	ids, err := s.userIDs(ctx, bp, userID)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var execs []rueidis.LuaExec
	for chunk := range slices.Chunk(ids, userBatch) {
		execs = append(execs, rueidis.LuaExec{Keys: []string{bp}, Args: append([]string{bp}, chunk...)})
	}
	var out []*sessiond.Session
	for _, r := range recordsScript.ExecMulti(ctx, s.c, execs...) {
		res, err := r.ToArray()
		if err != nil {
			return nil, translate(err)
		}
		for i := 0; i+1 < len(res); i += 2 {
			if res[i+1].IsNil() {
				continue // deleted or expired since the index was read
			}
			id, _ := res[i].ToString()
			sess, err := readRecord(id, res[i+1])
			if err != nil {
				return nil, err
			}
			out = append(out, sess)
		}
	}
	return out, nil
}

// TouchSessions implements sessiond.SessionStore.
func (s *Store) TouchSessions(ctx context.Context, touches []sessiond.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	parts := make([]string, len(touches))
	if s.shards == 1 {
		for i := range parts {
			parts[i] = s.p
		}
	} else {
		cmds := make(rueidis.Commands, len(touches))
		for i, t := range touches {
			cmds[i] = s.c.B().Get().Key(s.idPointer(t.ID)).Build()
		}
		for i, r := range s.c.DoMulti(ctx, cmds...) {
			user, err := r.ToString()
			switch {
			case rueidis.IsRedisNil(err):
				continue // gone: nothing to touch
			case err != nil:
				return translate(err)
			}
			parts[i] = s.part(user)
		}
	}
	byPart := map[string][]string{}
	for i, t := range touches {
		if parts[i] != "" {
			byPart[parts[i]] = append(byPart[parts[i]], t.ID, micros(t.At))
		}
	}
	execs := make([]rueidis.LuaExec, 0, len(byPart))
	for bp, pairs := range byPart {
		execs = append(execs, rueidis.LuaExec{Keys: []string{bp}, Args: append([]string{bp}, pairs...)})
	}
	for _, r := range touchScript.ExecMulti(ctx, s.c, execs...) {
		if err := r.Error(); err != nil {
			return translate(err)
		}
	}
	return nil
}

// UpdateSessionData implements sessiond.SessionStore.
func (s *Store) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	has := "0"
	if data != nil {
		has = "1"
	}
	bp, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	n, err := updateDataScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, id, strconv.FormatInt(version, 10), has, string(data), s.conceal(sessiond.Change{SessionID: id})}).ToInt64()
	return scriptResult(n, err)
}

// RotateSession implements sessiond.SessionStore.
func (s *Store) RotateSession(ctx context.Context, oldID string, sess *sessiond.Session) error {
	bp, err := s.locate(ctx, oldID)
	if err != nil {
		return err
	}
	if bp != s.part(sess.UserID) {
		return fmt.Errorf("redisstore: rotating session %s would move it to another user", oldID)
	}
	keepID := sess.ID == oldID
	if err := s.claimPointers(ctx, sess, keepID); err != nil {
		return err
	}
	rec, err := s.writer.args(sess)
	if err != nil {
		return err
	}
	args := append(append([]string{bp, s.events, oldID}, rec...), s.conceal(sessiond.Change{SessionID: oldID}))
	n, err := s.writer.rotate.Exec(ctx, s.c, []string{bp}, args).ToInt64()
	if err == nil && n != 1 {
		// A definite no (old session gone, or a conflict). After an error
		// the script may have run: the pointers stay and expire.
		s.dropPointers(ctx, sess, keepID)
	} else if err == nil && keepID && s.shards > 1 {
		// The id pointer expires with the old session; rotation keeps the
		// deadline (SEC-09), but a caller may set another.
		s.c.Do(ctx, s.c.B().Set().Key(s.idPointer(oldID)).Value(sess.UserID).Xx().PxatMillisecondsTimestamp(sess.ExpiresAt.UnixMilli()+1).Build())
	}
	return scriptResult(n, err)
}

// DeleteSession implements sessiond.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	bp, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	n, err := deleteScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, s.conceal(sessiond.Change{SessionID: id}), id}).ToInt64()
	return scriptResult(n, err)
}

// DeleteUserSessions implements sessiond.SessionStore in batches of
// userBatch sessions, each one short atomic script, so that a user with
// any number of sessions never blocks Redis for long (SEC-38, as
// DeleteTenantSessions). The first batch that deletes a session publishes
// the user's change in the same script, so that every node drops the
// user's cached sessions at once; when more batches followed, it is
// published again after the last: a node that read a session between the
// two, before its batch deleted it, drops it then. The deletion is
// idempotent and resumable: an error or a deadline leaves the ids not yet
// deleted in the user's indexes, and calling again finishes the work.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	bp := s.part(userID)
	c := sessiond.Change{UserID: userID}
	total, batches := 0, 0
	for left := int64(1); left > 0; {
		msg := ""
		if total == 0 {
			msg = s.conceal(c)
		}
		res, err := userBatchScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, msg, userID, except, strconv.Itoa(userBatch)}).AsIntSlice()
		if err == nil && len(res) != 2 {
			err = fmt.Errorf("redisstore: user batch answered %v", res)
		}
		if err != nil {
			if batches > 0 {
				// As DeleteTenantSessions: a node that cached one of these
				// sessions since the first message must drop it now.
				s.announce(context.WithoutCancel(ctx), c)
			}
			return total, translate(err)
		}
		if res[0] > 0 {
			batches++
		}
		total += int(res[0])
		left = res[1]
	}
	if batches > 1 {
		return total, s.announce(ctx, c)
	}
	return total, nil
}

// DeleteTenantSessions implements sessiond.SessionStore in batches of
// tenantBatch sessions, each one short atomic script, so that a tenant of
// any size never blocks Redis for long (a tenant's users may live in every
// part). The tenant's change is published before the first batch, so that
// every node drops the tenant's cached sessions at once, and again after
// the last: a node that read a session between the two, before its batch
// deleted it, drops it then. The deletion is idempotent and resumable: an
// error or a deadline leaves the ids not yet deleted in the tenant's set,
// and calling again finishes the work.
func (s *Store) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	c := sessiond.Change{TenantID: tenantID}
	if err := s.announce(ctx, c); err != nil {
		return 0, err
	}
	total := 0
	for _, bp := range s.parts() {
		for left := int64(1); left > 0; {
			res, err := tenantScript.Exec(ctx, s.c, []string{bp}, []string{bp, tenantID, strconv.Itoa(tenantBatch)}).AsIntSlice()
			if err == nil && len(res) != 2 {
				err = fmt.Errorf("redisstore: tenant batch answered %v", res)
			}
			if err != nil {
				// Announce again what is done so far, even though the
				// call was cut short: a node that cached one of these
				// sessions between the first announcement and its batch
				// must drop it now, not at its cache TTL.
				s.announce(context.WithoutCancel(ctx), c)
				return total, translate(err)
			}
			total += int(res[0])
			left = res[1]
		}
	}
	return total, s.announce(ctx, c)
}

// SetSessionFlags implements sessiond.SessionStore.
func (s *Store) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	bp, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	n, err := flagsScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, id, strings.Join(flags, ","), s.conceal(sessiond.Change{SessionID: id})}).ToInt64()
	return scriptResult(n, err)
}

// DeleteExpiredSessions implements sessiond.SessionStore from the two
// deadline indexes of each part, one part after the other, starting where
// the last call stopped. Keys past the absolute deadline have already
// expired by themselves; this also clears their index entries and idle
// sessions.
//
// Only one node purges at a time, as on PostgreSQL: a call runs only
// while it holds the purge lock ({prefix}:purge, SET NX PX with a token of
// its own, deleted by a compare-and-delete script, so that a call that
// outlived its lock never frees another's); a node that does not get it
// deletes nothing and returns 0. The purge publishes nothing: every node
// refuses a session past its deadlines by itself (Manager.Validate).
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	token, err := s.lockPurge(ctx)
	if err != nil || token == "" {
		return 0, err
	}
	defer unlockScript.Exec(context.WithoutCancel(ctx), s.c, []string{s.k("purge")}, []string{token})
	parts := s.parts()
	start := int(s.purgeAt.Load()) % len(parts)
	total := 0
	for i := range parts {
		n, err := s.deleteExpiredIn(ctx, parts[(start+i)%len(parts)], now, idleBefore, limit-total)
		total += n
		if err != nil {
			return total, err
		}
		if total >= limit {
			s.purgeAt.Store(uint32((start + i) % len(parts)))
			break
		}
	}
	return total, nil
}

// purgeLockTTL bounds how long a purge call holds the lock if its node
// dies holding it. A call is bounded by the Manager's StoreTimeout, far
// shorter.
const purgeLockTTL = 30 * time.Second

// lockPurge takes the purge lock and returns its token, or "" when
// another node holds it.
func (s *Store) lockPurge(ctx context.Context) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b[:])
	err := s.c.Do(ctx, s.c.B().Set().Key(s.k("purge")).Value(token).Nx().Px(purgeLockTTL).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", translate(err)
	}
	return token, nil
}

func (s *Store) deleteExpiredIn(ctx context.Context, bp string, now, idleBefore time.Time, limit int) (int, error) {
	seen := map[string]bool{}
	var members []string
	for _, q := range []struct{ key, max string }{{bp + "exp", micros(now)}, {bp + "idle", micros(idleBefore)}} {
		got, err := s.c.Do(ctx, s.c.B().Zrangebyscore().Key(q.key).Min("-inf").Max(q.max).Limit(0, int64(limit)).Build()).AsStrSlice()
		if err != nil {
			return 0, translate(err)
		}
		for _, m := range got {
			// A format-2 member of exp names the user and tenant too.
			if id := expID(m); !seen[id] && len(members) < limit {
				seen[id] = true
				members = append(members, m)
			}
		}
	}
	if len(members) == 0 {
		return 0, nil
	}
	// Counted as purged whether or not Redis had expired the keys
	// already: the index entries are the work.
	n, err := purgeScript.Exec(ctx, s.c, []string{bp}, append([]string{bp, micros(now), micros(idleBefore)}, members...)).ToInt64()
	return int(n), translate(err)
}

// userIDs returns the ids in the user's indexes of both formats in part bp.
func (s *Store) userIDs(ctx context.Context, bp, userID string) ([]string, error) {
	res := s.c.DoMulti(ctx,
		s.c.B().Smembers().Key(bp+"u:"+userID).Build(),
		s.c.B().Zrange().Key(bp+"us:"+userID).Min("0").Max("-1").Build())
	var ids []string
	for _, r := range res {
		got, err := r.AsStrSlice()
		if err != nil {
			return nil, translate(err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}
