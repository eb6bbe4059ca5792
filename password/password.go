// Package password hashes and verifies passwords with argon2id (RFC 9106),
// encoded as PHC strings, with bounded concurrency so that a login flood
// cannot exhaust memory or CPU: every hash or verification holds a slot for
// its duration, and at most Concurrency of them run at once.
//
// Verify also checks hashes imported from other backends (issue #12), and
// asks for an upgrade to sessiond's own argon2id whenever one matches:
//
//   - Django: pbkdf2_sha256$<iterations>$<salt>$<base64>, pbkdf2_sha1$…,
//     bcrypt_sha256$<bcrypt string> (bcrypt of the hex SHA-256 digest of the
//     password), bcrypt$<bcrypt string>, argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>
//     and the older argon2$argon2i$v=19$…;
//   - bcrypt: $2a$, $2b$ and $2y$ (one algorithm under three names);
//   - PHC argon2: $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash> (sessiond's own
//     format) and $argon2i$v=19$…, salt and hash in unpadded base64;
//   - PHC scrypt as passlib writes it: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>,
//     the parameters in that order, salt and hash in standard base64 with or
//     without padding.
//
// Check validates a hash at import, without hashing. A hash whose cost is
// above these caps is refused by Check and never run by Verify:
//
//   - PBKDF2: 1 to 2,000,000 iterations (Django 3.2 writes 260,000 and
//     Django 5.2 1,000,000); the hash exactly one digest long;
//   - bcrypt: cost 4 to 14;
//   - scrypt: 128·N·r at most 64 MiB (passlib's default ln=16, r=8), p at
//     most 16 and N·r·p at most 2^21;
//   - argon2: m at most 256 MiB, t at most 10, p at most 16, v=19 only;
//   - the whole string at most 512 bytes, salts at most 128 bytes.
//
// One verification thus holds at most 256 MiB (an imported argon2 hash) and
// about a second of one core; at most Concurrency run at once.
//
// Passwords are verified exactly as received: never trimmed, normalised or
// truncated. bcrypt reads only a password's first 72 bytes, so a password
// longer than that never matches a plain bcrypt hash (a backend that
// truncated would have accepted it); Django's bcrypt_sha256 hashes the
// password first and has no such limit.
package password

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
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
	dummy   stored
}

// Options configure a Hasher. Zero fields take their defaults.
type Options struct {
	// Params default to MinParams; weaker values are raised to them, and
	// values above the argon2 caps (m 256 MiB, t 10, p 16) lowered to them,
	// so that the Hasher's own hashes always verify.
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
	p.Memory = min(p.Memory, maxArgon2Memory)
	p.Time = min(p.Time, maxArgon2Time)
	p.Threads = min(p.Threads, maxArgon2Threads)
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
	dummy, err := parse(encode(p, salt[:], argon2.IDKey([]byte("sessiond-dummy"), salt[:], p.Time, p.Memory, p.Threads, keyLen)))
	if err != nil {
		panic("password: the dummy hash does not parse: " + err.Error())
	}
	h.dummy = dummy
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

// Verify reports whether password matches encoded, a hash in any format the
// package documents. When it matches and encoded is not sessiond's own
// argon2id at the Hasher's parameters or stronger, rehash is true and the
// caller should store a new Hash. An encoded string that Check refuses
// (unknown, malformed or above the caps) is verified against the dummy hash
// and never matches, taking the time of a real check (SEC-16). Every
// verification, whatever its format, waits for one of the Hasher's slots.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if len(password) > MaxLength {
		return false, false, ErrTooLong
	}
	s, perr := parse(encoded)
	if perr != nil {
		s = h.dummy
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	if !s.match(password) || perr != nil {
		return false, false, nil
	}
	return true, s.weaker(h.params), nil
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
