package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// AppendEvent implements sessiond.EventStore: the event in the user's
// sorted set and in a global one for retention.
func (s *Store) AppendEvent(ctx context.Context, e *sessiond.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	score := float64(e.At.UnixMicro())
	cmds := rueidis.Commands{
		s.c.B().Zadd().Key(s.k("ev", e.UserID)).ScoreMember().ScoreMember(score, string(body)).Build(),
		s.c.B().Zadd().Key(s.k("evall")).ScoreMember().ScoreMember(score, e.UserID+"\x00"+string(body)).Build(),
	}
	for _, r := range s.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return translate(err)
		}
	}
	return nil
}

// EventsByUser implements sessiond.EventStore.
func (s *Store) EventsByUser(ctx context.Context, userID string, limit int) ([]*sessiond.Event, error) {
	list, err := s.c.Do(ctx, s.c.B().Zrevrange().Key(s.k("ev", userID)).Start(0).Stop(int64(limit-1)).Build()).AsStrSlice()
	if err != nil {
		return nil, translate(err)
	}
	var out []*sessiond.Event
	for _, raw := range list {
		var e sessiond.Event
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("redisstore: event: %v", err)
		}
		e.At = e.At.UTC()
		out = append(out, &e)
	}
	return out, nil
}

// DeleteEventsBefore implements sessiond.EventStore.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	old, err := s.c.Do(ctx, s.c.B().Zrangebyscore().Key(s.k("evall")).Min("-inf").Max("("+strconv.FormatInt(before.UnixMicro(), 10)).
		Limit(0, int64(limit)).Build()).AsStrSlice()
	if err != nil {
		return 0, translate(err)
	}
	for _, m := range old {
		user, body, _ := strings.Cut(m, "\x00")
		cmds := rueidis.Commands{
			s.c.B().Zrem().Key(s.k("ev", user)).Member(body).Build(),
			s.c.B().Zrem().Key(s.k("evall")).Member(m).Build(),
		}
		for _, r := range s.c.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return 0, translate(err)
			}
		}
	}
	return len(old), nil
}
