package password

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"

	"github.com/sessiond/sessiond"
)

// The caps on a stored hash's cost, so that no verification takes absurd
// time or memory. Check refuses a hash above them; Verify never runs one.
const (
	maxEncoded          = 512       // bytes of the whole string
	maxSalt             = 128       // bytes, decoded
	maxPBKDF2Iterations = 2_000_000 // Django 3.2: 260,000; Django 5.2: 1,000,000
	minBcryptCost       = 4         // bcrypt's own minimum
	maxBcryptCost       = 14        // about a second
	maxScryptMemory     = 64 << 20  // bytes, 128·N·r: passlib's default ln=16, r=8
	maxScryptWork       = 1 << 21   // N·r·p: four times passlib's default
	maxScryptP          = 16
	maxArgon2Memory     = 256 << 10 // KiB
	maxArgon2Time       = 10
	maxArgon2Threads    = 16
	bcryptMaxPassword   = 72 // bytes bcrypt reads; longer passwords never match a plain bcrypt hash
)

// Check reports whether Verify can check passwords against encoded: nil when
// encoded is in a supported format with costs within the caps (see the
// package documentation), and otherwise an error (sessiond.ErrInvalidInput)
// that names the format and the problem. It is cheap: it parses, and hashes
// nothing. Use it when hashes are imported, so that an unknown format is
// refused then rather than at login.
func Check(encoded string) error {
	_, err := parse(encoded)
	return err
}

// stored is a parsed hash.
type stored struct {
	// match hashes password and compares in constant time.
	match func(password string) bool
	// own holds the parameters when the hash is in sessiond's own format
	// (PHC argon2id); nil for every other format, which always asks for an
	// upgrade.
	own *Params
}

// weaker reports whether s should be replaced by a hash with params p.
func (s stored) weaker(p Params) bool {
	return s.own == nil || s.own.Memory < p.Memory || s.own.Time < p.Time || s.own.Threads < p.Threads
}

func parse(s string) (stored, error) {
	if len(s) > maxEncoded {
		return stored{}, invalid("hash longer than %d bytes", maxEncoded)
	}
	id, rest, _ := strings.Cut(s, "$")
	switch {
	case id == "" && strings.HasPrefix(rest, "argon2"):
		return parseArgon2(rest, true)
	case id == "" && strings.HasPrefix(rest, "2"):
		return parseBcrypt("bcrypt", s, false)
	case id == "" && strings.HasPrefix(rest, "scrypt$"):
		return parseScrypt(rest)
	case id == "argon2":
		return parseArgon2(rest, false)
	case id == "bcrypt":
		return parseBcrypt("bcrypt", rest, false)
	case id == "bcrypt_sha256":
		return parseBcrypt("bcrypt_sha256", rest, true)
	case id == "pbkdf2_sha256":
		return parsePBKDF2(id, rest, sha256.New, sha256.Size)
	case id == "pbkdf2_sha1":
		return parsePBKDF2(id, rest, sha1.New, sha1.Size)
	case !strings.Contains(s, "$"):
		return stored{}, invalid("hash has no format name (Django's <name>$… or PHC's $<name>$…)")
	case id == "":
		id, _, _ = strings.Cut(rest, "$")
	}
	return stored{}, invalid("hash format %q is not supported (want Django's pbkdf2_sha256, pbkdf2_sha1, bcrypt_sha256, bcrypt or argon2; bcrypt $2a$, $2b$ or $2y$; PHC $argon2id$, $argon2i$ or $scrypt$)", clip(id))
}

// parsePBKDF2 parses Django's <algorithm>$<iterations>$<salt>$<base64 key>.
// The salt is used as its UTF-8 bytes; the key is standard base64 with
// padding, as long as the digest.
func parsePBKDF2(name, s string, h func() hash.Hash, size int) (stored, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 3 {
		return stored{}, invalid("%s: want %s$<iterations>$<salt>$<hash>", name, name)
	}
	iter, err := number(parts[0], 1, maxPBKDF2Iterations)
	if err != nil {
		return stored{}, invalid("%s: iterations %q: %v", name, clip(parts[0]), err)
	}
	salt := []byte(parts[1])
	if len(salt) == 0 || len(salt) > maxSalt {
		return stored{}, invalid("%s: salt of %d bytes, want 1 to %d", name, len(salt), maxSalt)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(key) != size {
		return stored{}, invalid("%s: hash is not %d bytes in padded base64", name, size)
	}
	return stored{match: func(pw string) bool {
		return subtle.ConstantTimeCompare(pbkdf2.Key([]byte(pw), salt, int(iter), size, h), key) == 1
	}}, nil
}

// parseBcrypt parses a bcrypt string: $2a$, $2b$ or $2y$ (one algorithm
// under three names), a two-digit cost, and 53 characters of salt and hash.
// With sha256, the password is first replaced by the hex SHA-256 digest of
// it, as Django's bcrypt_sha256 does; without, a password longer than 72
// bytes never matches, because bcrypt would read only its first 72.
func parseBcrypt(name, s string, sha bool) (stored, error) {
	if len(s) != 60 || !(strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")) || s[6] != '$' {
		return stored{}, invalid("%s: want $2a$, $2b$ or $2y$, a two-digit cost and 53 characters", name)
	}
	if _, err := number(s[4:6], minBcryptCost, maxBcryptCost); err != nil {
		return stored{}, invalid("%s: cost %q: %v", name, s[4:6], err)
	}
	if strings.Trim(s[7:], bcryptAlphabet) != "" {
		return stored{}, invalid("%s: salt and hash are not in bcrypt's base64", name)
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return stored{}, invalid("%s: %v", name, err)
	}
	enc := []byte(s)
	return stored{match: func(pw string) bool {
		in := []byte(pw)
		if sha {
			sum := sha256.Sum256(in)
			in = []byte(hex.EncodeToString(sum[:]))
		}
		// The hash is computed even for a password that cannot match, so
		// that its length does not show in the time taken.
		err := bcrypt.CompareHashAndPassword(enc, in)
		return err == nil && len(in) <= bcryptMaxPassword
	}}, nil
}

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// parseScrypt parses $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key> with salt
// and key in standard base64, padding optional: the PHC form passlib writes.
func parseScrypt(s string) (stored, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 {
		return stored{}, invalid("scrypt: want $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>")
	}
	v, err := params(parts[1], "ln", "r", "p")
	if err != nil {
		return stored{}, invalid("scrypt: %v", err)
	}
	ln, r, p := v[0], v[1], v[2]
	switch {
	case ln < 1 || ln > 30 || r < 1 || p < 1:
		return stored{}, invalid("scrypt: ln=%d, r=%d, p=%d: want ln 1 to 30, r and p at least 1", ln, r, p)
	case r > maxScryptMemory/128 || 128<<ln*r > maxScryptMemory:
		return stored{}, invalid("scrypt: ln=%d, r=%d: 128·N·r bytes above the cap of %d MiB", ln, r, maxScryptMemory>>20)
	case p > maxScryptP || (uint64(1)<<ln)*r*p > maxScryptWork:
		return stored{}, invalid("scrypt: ln=%d, r=%d, p=%d: N·r·p above the cap of %d, or p above %d", ln, r, p, maxScryptWork, maxScryptP)
	}
	salt, err := unpadded(parts[2])
	if err != nil || len(salt) == 0 || len(salt) > maxSalt {
		return stored{}, invalid("scrypt: salt is not 1 to %d bytes in base64", maxSalt)
	}
	key, err := unpadded(parts[3])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return stored{}, invalid("scrypt: hash is not 16 to 64 bytes in base64")
	}
	return stored{match: func(pw string) bool {
		got, err := scrypt.Key([]byte(pw), salt, 1<<ln, int(r), int(p), len(key))
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1
	}}, nil
}

// parseArgon2 parses argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
// (or argon2i), the PHC string after its leading "$" (phc) or Django's string
// after "argon2$". Only version 19 exists in Go; Django before 1.11's
// argon2i strings without v= are refused.
func parseArgon2(s string, phc bool) (stored, error) {
	name := "argon2"
	if phc {
		name = "PHC argon2"
	}
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return stored{}, invalid("%s: want argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>", name)
	}
	variant := parts[0]
	if variant != "argon2id" && variant != "argon2i" {
		return stored{}, invalid("%s: variant %q is not supported (want argon2id or argon2i)", name, clip(variant))
	}
	if parts[1] != "v=19" {
		return stored{}, invalid("%s: version %q is not supported (want v=19)", name, clip(parts[1]))
	}
	v, err := params(parts[2], "m", "t", "p")
	if err != nil {
		return stored{}, invalid("%s: %v", name, err)
	}
	if v[2] < 1 || v[2] > maxArgon2Threads || v[0] < 8*v[2] || v[0] > maxArgon2Memory || v[1] < 1 || v[1] > maxArgon2Time {
		return stored{}, invalid("%s: m=%d, t=%d, p=%d outside the caps (m 8·p to %d KiB, t 1 to %d, p 1 to %d)",
			name, v[0], v[1], v[2], maxArgon2Memory, maxArgon2Time, maxArgon2Threads)
	}
	p := Params{Memory: uint32(v[0]), Time: uint32(v[1]), Threads: uint8(v[2])}
	salt, err := b64.DecodeString(parts[3])
	if err != nil || len(salt) < 8 || len(salt) > maxSalt {
		return stored{}, invalid("%s: salt is not 8 to %d bytes in unpadded base64", name, maxSalt)
	}
	key, err := b64.DecodeString(parts[4])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return stored{}, invalid("%s: hash is not 16 to 64 bytes in unpadded base64", name)
	}
	kdf := argon2.IDKey
	if variant == "argon2i" {
		kdf = argon2.Key
	}
	s2 := stored{match: func(pw string) bool {
		return subtle.ConstantTimeCompare(kdf([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key))), key) == 1
	}}
	if phc && variant == "argon2id" {
		s2.own = &p
	}
	return s2, nil
}

// params parses "k1=v1,k2=v2,..." with exactly the keys given, in order,
// and decimal values.
func params(s string, keys ...string) ([]uint64, error) {
	fields := strings.Split(s, ",")
	if len(fields) != len(keys) {
		return nil, fmt.Errorf("parameters %q: want %s=…", clip(s), strings.Join(keys, "=…,"))
	}
	v := make([]uint64, len(keys))
	for i, f := range fields {
		k, n, _ := strings.Cut(f, "=")
		if k != keys[i] {
			return nil, fmt.Errorf("parameters %q: want %s=…", clip(s), strings.Join(keys, "=…,"))
		}
		var err error
		if v[i], err = number(n, 0, 1<<32-1); err != nil {
			return nil, fmt.Errorf("parameter %s=%q: %w", k, clip(n), err)
		}
	}
	return v, nil
}

// number parses a decimal in [lo, hi], digits only.
func number(s string, lo, hi uint64) (uint64, error) {
	if s == "" || len(s) > 10 || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not a decimal number")
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside the cap of %d to %d", n, lo, hi)
	}
	return n, nil
}

func unpadded(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}

// clip shortens a piece of a hash quoted in an error.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

func invalid(format string, args ...any) error {
	return sessiond.Errorf(sessiond.CodeInvalidInput, "password hash: "+format, args...)
}
