package server

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

// Live revocation: GET /api/auth/session-v2/stream holds a server-sent
// event stream for the caller's session. It reports, from the change feed
// that already invalidates caches (so on every node and every store):
//
//	event: ready      once, when the stream is open
//	event: changed    the session's data or its user changed: read it again
//	event: revoked    the session was ended (final)
//	event: expired    the session reached a deadline (final)
//	event: unknown    the store or the change feed is unavailable (final);
//	                  not a logout: the client keeps its session and asks again
//
// with a comment line every heartbeat interval so that proxies keep the
// connection open. Streams are bounded per user and per node (429
// too_many_streams beyond), and end when the server shuts down.

// Defaults of the stream limits (Deps fields of the same names).
const (
	DefaultMaxStreams        = 10_000
	DefaultMaxStreamsPerUser = 16
	DefaultStreamHeartbeat   = 25 * time.Second
)

// streams counts the open streams, in all and per user.
type streams struct {
	mu      sync.Mutex
	total   int
	perUser map[string]int
}

// open reserves a stream for user, or reports that a bound is reached.
func (st *streams) open(user string, max, perUser int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.total >= max || st.perUser[user] >= perUser {
		return false
	}
	if st.perUser == nil {
		st.perUser = make(map[string]int)
	}
	st.total++
	st.perUser[user]++
	return true
}

func (st *streams) close(user string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.total--
	if st.perUser[user]--; st.perUser[user] <= 0 {
		delete(st.perUser, user)
	}
}

func (st *streams) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.total
}

var errTooManyStreams = &sessiond.Error{Code: sessionhttp.CodeTooManyStreams,
	Message: "too many open session streams; try again later", RetryAfter: 30 * time.Second}

func (s *server) handleStream(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	if !s.streams.open(sess.UserID, s.MaxStreams, s.MaxStreamsPerUser) {
		writeError(w, errTooManyStreams)
		return
	}
	defer s.streams.close(sess.UserID)
	// Follow before reading anything again: a change from now on is seen.
	f := s.Manager.Follow(sess)
	defer f.Stop()

	// The server's write timeout is for answers, not for a stream.
	rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events through at once
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(event, reason string) bool {
		data := "{}"
		if reason != "" {
			data = `{"reason":"` + reason + `"}`
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("ready", "") {
		return
	}

	heartbeat := time.NewTicker(s.StreamHeartbeat)
	defer heartbeat.Stop()
	deadline := time.NewTimer(s.untilDeadline(sess))
	defer deadline.Stop()
	last := sess
	// The session was read (perhaps from the cache) before Follow began:
	// a revocation in between would go unseen. So the first round reads
	// it again at once, with no event unless it has ended.
	recheck := true
	for {
		signalled := true
		if recheck {
			recheck, signalled = false, false
		} else {
			select {
			case <-r.Context().Done():
				return
			case <-s.shutdown:
				send("unknown", "shutdown")
				return
			case <-heartbeat.C:
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
					return
				}
				continue
			case <-f.C:
				if f.Lost() {
					send("unknown", "unavailable")
					return
				}
			case <-deadline.C:
				signalled = false
			}
		}
		// Something may have changed: read the session again, without
		// counting it as activity (a stream left open must not keep a
		// session alive).
		now, err := s.Manager.Lookup(r.Context(), sess.ID)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			if !s.Manager.Live(last, s.Now()) {
				send("expired", "expired")
			} else {
				send("revoked", "revoked")
			}
			return
		case err != nil:
			send("unknown", "unavailable")
			return
		case !s.Manager.Live(now, s.Now()):
			send("expired", "expired")
			return
		}
		if signalled && !send("changed", "") {
			return
		}
		last = now
		deadline.Reset(s.untilDeadline(now))
	}
}

// untilDeadline is how long until s would end without more activity, and
// at least a second, so that a session kept alive by requests elsewhere is
// not read again in a loop.
func (s *server) untilDeadline(sess *sessiond.Session) time.Duration {
	return max(s.Manager.Deadline(sess).Sub(s.Now())+10*time.Millisecond, time.Second)
}
