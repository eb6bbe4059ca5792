package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// announce publishes a change that concerns many sessions at once.
func (s *Store) announce(ctx context.Context, c sessiond.Change) error {
	return translate(s.c.Do(ctx, s.c.B().Publish().Channel(s.events).Message(s.conceal(c)).Build()).Error())
}

// ConcealChange implements sessiond.ChangeConcealer with the key stored
// at {prefix}:feedkey, which only clients that may read sessiond's keys
// can read: a client allowed to SUBSCRIBE to the channel and nothing else
// learns that something changed, not what (SEC-39).
func (s *Store) ConcealChange(c sessiond.Change) sessiond.Change {
	return sessiond.ConcealChange(s.feedKey, c)
}

// conceal is the message that announces c.
func (s *Store) conceal(c sessiond.Change) string { return s.ConcealChange(c).String() }

// loadFeedKey reads the feed's key, drawing it at the deployment's first
// start: 32 random bytes, in hex, set only if absent so that every node
// reads the same one.
func (s *Store) loadFeedKey(ctx context.Context) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := s.k("feedkey")
	if err := s.c.Do(ctx, s.c.B().Set().Key(key).Value(hex.EncodeToString(b[:])).Nx().Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
		return translate(err)
	}
	v, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).ToString()
	if err != nil {
		return translate(err)
	}
	k, err := hex.DecodeString(v)
	if err != nil || len(k) < 16 {
		return fmt.Errorf("redisstore: %s does not hold a feed key", key)
	}
	s.feedKey = k
	return nil
}

// WatchChanges implements sessiond.ChangeWatcher with SUBSCRIBE on a
// dedicated connection.
//
// Through Sentinel, that connection stays with the server it was opened to.
// After a failover the old master may stay up, cut off from the new one's
// PUBLISH messages until it is turned into a replica and has resynced, and
// the subscription would miss revocations without failing. So the watch
// ends as soon as the client follows a new master: the node flushes its
// cache and subscribes again, on the new master.
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	master := s.master()
	dc, cancel := s.c.Dedicate()
	defer cancel()
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) {
			if c, ok := sessiond.ParseChange(m.Message); ok {
				onChange(c)
			}
		},
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Kind == "subscribe" {
				connected()
			}
		},
	})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(s.events).Build()).Error(); err != nil {
		return translate(err)
	}
	var check <-chan time.Time
	if s.sentinel {
		t := time.NewTicker(masterCheckInterval)
		defer t.Stop()
		check = t.C
	}
	for {
		select {
		case err := <-wait:
			if err == nil {
				err = errors.New("redisstore: subscription closed")
			}
			return translate(err)
		case <-ctx.Done():
			return ctx.Err()
		case <-check:
			if now := s.master(); now != master {
				return translate(fmt.Errorf("redisstore: the master moved from %s to %s; subscribing again", master, now))
			}
		}
	}
}

// ProbeFeed implements sessiond.FeedProber: the probe is published on the
// channel that WatchChanges subscribes to.
func (s *Store) ProbeFeed(ctx context.Context, probe string) error {
	return translate(s.c.Do(ctx, s.c.B().Publish().Channel(s.events).Message(sessiond.Change{Probe: probe}.String()).Build()).Error())
}

// masterCheckInterval is how often a watch through Sentinel checks that the
// client still uses the master it subscribed on: the longest a failover
// leaves a node's cache unflushed.
const masterCheckInterval = 100 * time.Millisecond

// master is the address the client sends writes to (through Sentinel, the
// current master).
func (s *Store) master() string {
	for addr := range s.c.Nodes() {
		return addr
	}
	return ""
}
