// Package password hashes and verifies passwords with argon2id (RFC 9106),
// encoded as PHC strings, with bounded concurrency so that a login flood
// cannot exhaust memory: every hash holds Params.Memory for its duration,
// and at most Concurrency hashes run at once.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sessiond/sessiond"
)

// MaxLength is the longest password accepted, in bytes. Longer ones are
// rejected before hashing (ErrTooLong), never truncated.
const MaxLength = 1024

// MinParams are the weakest parameters accepted for new hashes: OWASP's
// minimum for argon2id (m=19 MiB, t=2, p=1). Stored hashes weaker than the
// Hasher's parameters verify, and are reported for upgrade.
var MinParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

const (
	saltLen = 16
	keyLen  = 32
)

// Errors. ErrTooLong is an input error; ErrBusy (sessiond.ErrBusy) means
// every hashing slot is taken and the wait queue is full.
var (
	ErrTooLong  = sessiond.Errorf(sessiond.CodeInvalidInput, "password longer than %d bytes", MaxLength)
	ErrBusy     = sessiond.ErrBusy
	errMismatch = errors.New("password: hash does not match")
)

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params  Params
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	maxWait time.Duration
	dummy   string
}

// Options configure a Hasher. Zero fields take their defaults.
type Options struct {
	// Params default to MinParams; weaker values are raised to them.
	Params Params
	// Concurrency is how many hashes may run at once. Default GOMAXPROCS.
	Concurrency int
	// Queue is how many callers may wait for a slot; the next gets
	// ErrBusy at once. Default 8 × Concurrency.
	Queue int
	// MaxWait is the longest a caller waits for a slot before ErrBusy.
	// Default 2s.
	MaxWait time.Duration
}

// New returns a Hasher.
func New(o Options) *Hasher {
	p := o.Params
	p.Memory = max(p.Memory, MinParams.Memory)
	p.Time = max(p.Time, MinParams.Time)
	p.Threads = max(p.Threads, MinParams.Threads)
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.Queue <= 0 {
		o.Queue = 8 * o.Concurrency
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Second
	}
	h := &Hasher{params: p, slots: make(chan struct{}, o.Concurrency), queue: int64(o.Queue), maxWait: o.MaxWait}
	// The dummy hash has the same parameters as real ones, so verifying
	// against it costs the same time (SEC-16).
	var salt [saltLen]byte
	_, _ = rand.Read(salt[:])
	h.dummy = encode(p, salt[:], argon2.IDKey([]byte("sessiond-dummy"), salt[:], p.Time, p.Memory, p.Threads, keyLen))
	return h
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxLength {
		return "", ErrTooLong
	}
	var salt [saltLen]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	key := argon2.IDKey([]byte(password), salt[:], h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	return encode(h.params, salt[:], key), nil
}

// Verify reports whether password matches the PHC string encoded. When it
// matches and encoded is weaker than the Hasher's parameters, rehash is true
// and the caller should store a new Hash. An empty or unparsable encoded
// string is verified against the dummy hash and never matches, taking the
// same time as a real check (SEC-16).
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if len(password) > MaxLength {
		return false, false, ErrTooLong
	}
	p, salt, key, perr := decode(encoded)
	if perr != nil {
		p, salt, key, _ = decode(h.dummy)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 || perr != nil {
		return false, false, nil
	}
	return true, p.Memory < h.params.Memory || p.Time < h.params.Time || p.Threads < h.params.Threads, nil
}

// VerifyDummy spends the time of one verification and reports nothing: the
// path taken for an unknown user.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, "")
	return err
}

func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	default:
	}
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC argon2id string. It refuses parameters that would make
// verification itself a denial of service (memory above 1 GiB, more than 16
// passes).
func decode(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errMismatch
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errMismatch
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errMismatch
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return p, nil, nil, errMismatch
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errMismatch
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errMismatch
	}
	return p, salt, key, nil
}
