// Package webhook delivers audit events to an HTTP endpoint, signed with
// HMAC-SHA256, off the request path: Enqueue never blocks, deliveries are
// retried with exponential back-off, and an event that cannot be delivered
// is logged as undelivered.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sessiond/sessiond"

	"github.com/sessiond/sessiond/internal/redact"
)

// Headers of a delivery. The signature is
// "sha256=" + hex(HMAC-SHA256(key, timestamp + "." + body)); receivers check
// it and reject old timestamps.
const (
	HeaderSignature = "X-Sessiond-Signature"
	HeaderTimestamp = "X-Sessiond-Timestamp"
	HeaderEventID   = "X-Sessiond-Event-Id"
)

// Options tune delivery. Zero fields take their defaults.
type Options struct {
	Attempts int           // default 5
	Backoff  time.Duration // first wait between attempts, doubling; default 1s
	Timeout  time.Duration // per attempt; default 5s
	Queue    int           // events waiting for delivery; default 1000
	Workers  int           // parallel deliveries; default 2
	Now      func() time.Time
	// Observe, when set, is told each delivery attempt's outcome
	// ("delivered" or "failed") and duration, and each event given up
	// ("undelivered", with a zero duration): for metrics.
	Observe func(outcome string, d time.Duration)
}

// Sender delivers events. It is safe for concurrent use.
type Sender struct {
	url    string
	key    []byte
	opts   Options
	client *http.Client
	log    *slog.Logger
	queue  chan sessiond.Event

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New starts a Sender.
func New(url string, key []byte, log *slog.Logger, o Options) *Sender {
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		url: url, key: key, opts: o, log: log,
		client: &http.Client{
			Timeout: o.Timeout,
			// A redirect is not a delivery: the endpoint must answer itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		queue: make(chan sessiond.Event, o.Queue),
		ctx:   ctx, cancel: cancel,
	}
	for range o.Workers {
		s.wg.Go(s.work)
	}
	return s
}

// Enqueue queues e for delivery. It never blocks: with the queue full the
// event is logged as undelivered.
func (s *Sender) Enqueue(e sessiond.Event) {
	select {
	case s.queue <- e:
	default:
		s.log.Warn("webhook undelivered", "event_id", e.ID, "event", e.Type, "reason", "queue full")
		s.observe("undelivered", 0)
	}
}

// Close stops delivery. Events still queued are logged as undelivered.
func (s *Sender) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		for {
			select {
			case e := <-s.queue:
				s.log.Warn("webhook undelivered", "event_id", e.ID, "event", e.Type, "reason", "shutdown")
				s.observe("undelivered", 0)
			default:
				return
			}
		}
	})
	return nil
}

func (s *Sender) work() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case e := <-s.queue:
			s.deliver(e)
		}
	}
}

func (s *Sender) deliver(e sessiond.Event) {
	body, err := json.Marshal(e)
	if err != nil {
		s.log.Error("webhook: encode event", "event_id", e.ID, "err", err)
		return
	}
	wait := s.opts.Backoff
	var last error
	for attempt := 1; attempt <= s.opts.Attempts; attempt++ {
		start := time.Now()
		last = s.post(body, e.ID)
		if last == nil {
			s.observe("delivered", time.Since(start))
			return
		}
		s.observe("failed", time.Since(start))
		if attempt == s.opts.Attempts {
			break
		}
		select {
		case <-s.ctx.Done():
			s.log.Warn("webhook undelivered", "event_id", e.ID, "event", e.Type, "reason", "shutdown", "err", last)
			s.observe("undelivered", 0)
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	s.log.Warn("webhook undelivered", "event_id", e.ID, "event", e.Type, "attempts", s.opts.Attempts, "err", last)
	s.observe("undelivered", 0)
}

func (s *Sender) observe(outcome string, d time.Duration) {
	if s.opts.Observe != nil {
		s.opts.Observe(outcome, d)
	}
}

func (s *Sender) post(body []byte, id string) error {
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderSignature, Sign(s.key, ts, body))
	res, err := s.client.Do(req)
	if err != nil {
		return redact.Error(err) // it names the URL, which may carry a secret
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %d", res.StatusCode)
	}
	return nil
}

// Sign returns the signature header value for a body sent at timestamp ts.
func Sign(key []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
