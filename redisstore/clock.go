package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Clock returns the Redis server's time (TIME), for a check that it agrees
// with the nodes' clocks: deadlines are computed on the nodes and key TTLs
// follow them. On a Cluster, one master answers.
func (s *Store) Clock(ctx context.Context) (time.Time, error) {
	v, err := s.c.Do(ctx, s.c.B().Time().Build()).AsStrSlice()
	if err != nil {
		return time.Time{}, fmt.Errorf("redisstore: TIME: %w", err)
	}
	if len(v) != 2 {
		return time.Time{}, fmt.Errorf("redisstore: TIME answered %q", v)
	}
	sec, err1 := strconv.ParseInt(v[0], 10, 64)
	usec, err2 := strconv.ParseInt(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("redisstore: TIME answered %q", v)
	}
	return time.Unix(sec, usec*1000), nil
}
