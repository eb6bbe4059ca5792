package password_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/password"
)

// vector is one hash made by a real library: see testdata/gen_vectors.py.
type vector struct {
	Format   string `json:"format"`
	Password string `json:"password"`
	Encoded  string `json:"encoded"`
	Match    bool   `json:"match"`
	Upgrade  bool   `json:"upgrade"`
	Note     string `json:"note"`
}

func vectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("testdata/vectors.json has no vectors")
	}
	return f.Vectors
}

func TestVerify_HashesFromDjangoBcryptArgon2AndScryptLibraries(t *testing.T) {
	// A queue for every vector: they run in parallel, on the Hasher's slots.
	h := password.New(password.Options{Queue: 1000, MaxWait: 10 * time.Minute})
	ctx := context.Background()
	vs := vectors(t)
	formats := map[string]int{}
	for _, v := range vs {
		formats[v.Format]++
	}
	for _, f := range []string{"django pbkdf2_sha256", "django pbkdf2_sha1", "django bcrypt_sha256", "django bcrypt",
		"django argon2", "django argon2i", "bcrypt $2a$", "bcrypt $2b$", "bcrypt $2y$", "phc argon2id", "phc scrypt"} {
		if formats[f] == 0 {
			t.Errorf("testdata/vectors.json has no %s vector", f)
		}
	}
	t.Logf("%d vectors: %v", len(vs), formats)
	for i, v := range vs {
		t.Run(fmt.Sprintf("%d %s %d bytes", i, v.Format, len(v.Password)), func(t *testing.T) {
			t.Parallel()
			if err := password.Check(v.Encoded); err != nil {
				t.Fatalf("Check(%q): %v", v.Encoded, err)
			}
			start := time.Now()
			ok, rehash, err := h.Verify(ctx, v.Password, v.Encoded)
			if err != nil || ok != v.Match || (ok && rehash != v.Upgrade) {
				t.Errorf("Verify(%q) = ok %v, rehash %v, %v after %v; want ok %v, rehash %v (%s)",
					v.Encoded, ok, rehash, err, time.Since(start), v.Match, v.Upgrade, v.Note)
			}
			if ok, _, err := h.Verify(ctx, "!"+v.Password, v.Encoded); ok || err != nil {
				t.Errorf("a wrong password (\"!\" before the right one) verifies against %q: %v, %v", v.Encoded, ok, err)
			}
		})
	}
}

func TestVerify_PlainBcryptNeverTruncatesAPasswordOver72Bytes_SEC17(t *testing.T) {
	h := password.New(password.Options{})
	pw72 := strings.Repeat("é", 36) // 72 bytes: all bcrypt reads
	enc, err := bcrypt.GenerateFromPassword([]byte(pw72), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		try  string
		want bool
	}{{pw72, true}, {pw72 + "x", false}, {pw72 + pw72, false}, {pw72[:71], false}} {
		for _, e := range []string{string(enc), "bcrypt$" + string(enc)} {
			if ok, _, err := h.Verify(context.Background(), c.try, e); ok != c.want || err != nil {
				t.Errorf("Verify(%d bytes, %.12s…) = %v, %v; want %v", len(c.try), e, ok, err, c.want)
			}
		}
	}
}

func TestCheck_RefusesCostsAboveTheCaps(t *testing.T) {
	const (
		salt   = "c29tZXNhbHRzb21lc2FsdA"                      // 16 bytes, unpadded base64
		key32  = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
		key32p = key32 + "="
		key20p = "a2V5a2V5a2V5a2V5a2V5a2V5a2U="
		bc     = "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy" // 53 characters
	)
	for _, c := range []struct {
		encoded string
		ok      bool
	}{
		{"pbkdf2_sha256$2000000$salt$" + key32p, true},
		{"pbkdf2_sha256$2000001$salt$" + key32p, false},
		{"pbkdf2_sha256$0$salt$" + key32p, false},
		{"pbkdf2_sha256$99999999999999999999$salt$" + key32p, false},
		{"pbkdf2_sha1$2000000$salt$" + key20p, true},
		{"pbkdf2_sha1$2000001$salt$" + key20p, false},
		{"$2b$14$" + bc, true},
		{"$2b$15$" + bc, false},
		{"$2b$31$" + bc, false}, // days: the test would not end if it ran
		{"$2b$03$" + bc, false},
		{"bcrypt_sha256$$2b$15$" + bc, false},
		{"bcrypt$$2b$14$" + bc, true},
		{"$scrypt$ln=16,r=8,p=1$" + salt + "$" + key32, true},  // 64 MiB
		{"$scrypt$ln=17,r=8,p=1$" + salt + "$" + key32, false}, // 128 MiB
		{"$scrypt$ln=16,r=16,p=1$" + salt + "$" + key32, false},
		{"$scrypt$ln=15,r=8,p=8$" + salt + "$" + key32, true}, // N·r·p = 2^21
		{"$scrypt$ln=15,r=8,p=9$" + salt + "$" + key32, false},
		{"$scrypt$ln=1,r=1,p=17$" + salt + "$" + key32, false},
		{"$scrypt$ln=30,r=4294967295,p=1$" + salt + "$" + key32, false}, // 128·N·r overflows 64 bits
		{"$scrypt$ln=0,r=8,p=1$" + salt + "$" + key32, false},
		{"$argon2id$v=19$m=262144,t=10,p=16$" + salt + "$" + key32, true},
		{"$argon2id$v=19$m=262145,t=1,p=1$" + salt + "$" + key32, false},
		{"$argon2id$v=19$m=4294967295,t=4294967295,p=255$" + salt + "$" + key32, false},
		{"$argon2id$v=19$m=65536,t=11,p=1$" + salt + "$" + key32, false},
		{"$argon2id$v=19$m=65536,t=1,p=17$" + salt + "$" + key32, false},
		{"$argon2id$v=19$m=65536,t=0,p=1$" + salt + "$" + key32, false},
		{"$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key32, false}, // m < 8·p
		{"argon2$argon2id$v=19$m=262145,t=2,p=8$" + salt + "$" + key32, false},
		{"argon2$argon2i$v=19$m=1024,t=11,p=1$" + salt + "$" + key32, false},
	} {
		err := password.Check(c.encoded)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, sessiond.ErrInvalidInput)) {
			t.Errorf("Check(%q) = %v; want ok %v, else ErrInvalidInput", c.encoded, err, c.ok)
		}
		if c.ok {
			continue // valid, and costly to verify: Check is the point
		}
		h := password.New(password.Options{})
		start := time.Now()
		ok, _, err := h.Verify(context.Background(), "password", c.encoded)
		if d := time.Since(start); ok || err != nil || d > 10*time.Second {
			t.Errorf("Verify(%q) = %v, %v after %v; want a quick mismatch", c.encoded, ok, err, d)
		}
	}
}

func TestCheck_RefusesMalformedHashesNamingTheProblem(t *testing.T) {
	const salt, key32 = "c29tZXNhbHRzb21lc2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	for _, c := range []struct{ encoded, names string }{
		{"", "no format name"},
		{"5f4dcc3b5aa765d61d8327deb882cf99", "no format name"}, // a bare MD5
		{"md5$salt$5f4dcc3b5aa765d61d8327deb882cf99", `"md5" is not supported`},
		{"sha1$salt$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", `"sha1" is not supported`},
		{"$1$salt$qJH7.N4xYta3aEG/dfqo/0", `"1" is not supported`},
		{"$6$rounds=5000$salt$x", `"6" is not supported`},
		{"$argon2d$v=19$m=65536,t=1,p=1$" + salt + "$" + key32, `"argon2d" is not supported`},
		{"$argon2id$v=16$m=65536,t=1,p=1$" + salt + "$" + key32, `version "v=16"`},
		{"argon2$argon2i$m=512,t=2,p=2$" + salt + "$" + key32, "want argon2id$v=19"}, // Django < 1.11: no v=
		{"$argon2id$v=19$t=1,m=65536,p=1$" + salt + "$" + key32, "want m=…,t=…,p=…"},
		{"$argon2id$v=19$m=65536,t=1,p=1,data=x$" + salt + "$" + key32, "want m=…,t=…,p=…"},
		{"$argon2id$v=19$m=+65536,t=1,p=1$" + salt + "$" + key32, "not a decimal"},
		{"$argon2id$v=19$m=65536,t=1,p=1$c2FsdA$" + key32, "salt is not 8 to 128 bytes"},
		{"$argon2id$v=19$m=65536,t=1,p=1$" + salt + "$a2V5", "hash is not 16 to 64 bytes"},
		{"$argon2id$v=19$m=65536,t=1,p=1$" + salt + "$" + key32 + "$", "want argon2id$v=19"},
		{"pbkdf2_sha256$260000$salt", "want pbkdf2_sha256$<iterations>$<salt>$<hash>"},
		{"pbkdf2_sha256$260000$$" + key32 + "=", "salt of 0 bytes"},
		{"pbkdf2_sha256$26e4$salt$" + key32 + "=", "iterations"},
		{"pbkdf2_sha256$260000$salt$" + key32, "not 32 bytes in padded base64"}, // padding missing
		{"pbkdf2_sha1$260000$salt$" + key32 + "=", "not 20 bytes"},
		{"pbkdf2_sha256$260000$" + strings.Repeat("s", 129) + "$" + key32 + "=", "salt of 129 bytes"},
		{"$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "want $2a$, $2b$ or $2y$"}, // crypt_blowfish's buggy variant
		{"$2$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "want $2a$, $2b$ or $2y$"},
		{"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhW", "53 characters"},
		{"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lh+y", "bcrypt's base64"},
		{"$2b$1x$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "cost"},
		{"bcrypt_sha256$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhW", "bcrypt_sha256: want $2a$"},
		{"$scrypt$N=16384,r=8,p=1$" + salt + "$" + key32, "want ln=…,r=…,p=…"},
		{"$scrypt$ln=14,r=8,p=1$" + salt, "want $scrypt$ln=<log2 N>"},
		{"$scrypt$ln=14,r=8,p=1$" + salt + "$!!!!", "hash is not 16 to 64 bytes"},
		{"$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D", `"7" is not supported`},
		{strings.Repeat("x$", 300), "longer than 512 bytes"},
	} {
		err := password.Check(c.encoded)
		if !errors.Is(err, sessiond.ErrInvalidInput) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("Check(%.60q) = %v; want ErrInvalidInput naming %q", c.encoded, err, c.names)
		}
	}
	h := password.New(password.Options{})
	own, err := h.Hash(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := password.Check(own); err != nil {
		t.Errorf("Check of the Hasher's own hash %q: %v", own, err)
	}
}

// Unknown users cost the same as real ones (SEC-16): VerifyDummy, a hash
// that Check refuses and a real argon2id hash at the Hasher's parameters all
// run argon2id with those parameters. Memory allocated is exact; the cost in
// time is the process's CPU time (the test runs alone in it), the least of
// several interleaved runs, so that other work on a shared machine does not
// count.
func TestVerifyDummy_CostsWhatARealVerificationCosts_SEC16(t *testing.T) {
	h := password.New(password.Options{})
	ctx := context.Background()
	own, err := h.Hash(ctx, "the real password")
	if err != nil {
		t.Fatal(err)
	}
	paths := []struct {
		name string
		run  func() error
	}{
		{"real argon2id, right password", func() error { _, _, err := h.Verify(ctx, "the real password", own); return err }},
		{"real argon2id, wrong password", func() error { _, _, err := h.Verify(ctx, "wrong", own); return err }},
		{"unknown user (VerifyDummy)", func() error { return h.VerifyDummy(ctx, "wrong") }},
		{"hash Check refuses", func() error { _, _, err := h.Verify(ctx, "wrong", "md5$x$y"); return err }},
	}
	least := make([]time.Duration, len(paths))
	allocs := make([]uint64, len(paths))
	for round := range 7 {
		for i, p := range paths {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu := cpuTime(t)
			if err := p.run(); err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			d := cpuTime(t) - cpu
			runtime.ReadMemStats(&after)
			if round == 0 || d < least[i] {
				least[i] = d
			}
			allocs[i] = after.TotalAlloc - before.TotalAlloc
		}
	}
	lo, hi := slices.Min(least), slices.Max(least)
	for i, p := range paths {
		t.Logf("%-32s least CPU time %v, %d KiB allocated", p.name, least[i], allocs[i]>>10)
		if d := int64(allocs[i]) - int64(allocs[0]); d < -1<<20 || d > 1<<20 {
			t.Errorf("%s allocates %d KiB, the real verification %d KiB: not the same argon2id", p.name, allocs[i]>>10, allocs[0]>>10)
		}
	}
	if hi > lo*3/2 {
		t.Errorf("least CPU times range from %v to %v (more than 1.5×): %v", lo, hi, least)
	}
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestVerify_ImportedHashesWaitForTheSameBoundedSlots_SEC18(t *testing.T) {
	var slow vector // Django's default 260,000 iterations: tens of milliseconds
	for _, v := range vectors(t) {
		if strings.HasPrefix(v.Encoded, "pbkdf2_sha256$260000$") {
			slow = v
		}
	}
	if slow.Encoded == "" {
		t.Fatal("no pbkdf2_sha256 vector at 260,000 iterations")
	}
	h := password.New(password.Options{Concurrency: 1, Queue: 2, MaxWait: time.Minute})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var busy, done int
	for range 10 {
		wg.Go(func() {
			start := time.Now()
			ok, _, err := h.Verify(context.Background(), slow.Password, slow.Encoded)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, sessiond.ErrBusy):
				busy++
				if d := time.Since(start); d > time.Second {
					t.Errorf("busy answer took %v", d)
				}
			case err == nil && ok:
				done++
			default:
				t.Errorf("Verify(%s) = %v, %v after %v", slow.Encoded, ok, err, time.Since(start))
			}
		})
	}
	wg.Wait()
	if busy < 1 || done < 1 {
		t.Fatalf("%d verified, %d refused; want both (one slot, a queue of two)", done, busy)
	}
	t.Logf("%d verified, %d refused", done, busy)
}

// fuzzSeeds are some broken hashes and the vectors': all of them, or with
// cheap, the last of each format (the first ones keep the libraries'
// default costs).
func fuzzSeeds(f *testing.F, cheap bool) []string {
	seeds := []string{"", "$", "$$$$$", "argon2$", "bcrypt_sha256$", "$scrypt$ln=1,r=1,p=1$$",
		"$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"pbkdf2_sha256$1$s$" + strings.Repeat("A", 43) + "=",
		"$2y$04$" + strings.Repeat(".", 53)}
	last := map[string]string{}
	for _, v := range vectors(f) {
		last[v.Format] = v.Encoded
		if !cheap {
			seeds = append(seeds, v.Encoded)
		}
	}
	for _, enc := range last {
		if cheap {
			seeds = append(seeds, enc)
		}
	}
	return seeds
}

func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds(f, false) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		if err := password.Check(encoded); err != nil && !errors.Is(err, sessiond.ErrInvalidInput) {
			t.Fatalf("Check(%q) = %v, not ErrInvalidInput", encoded, err)
		}
	})
}

// FuzzVerify runs every hash Check accepts, so it is slow where the fuzzer
// finds costly parameters; each run stays within the caps' bound.
func FuzzVerify(f *testing.F) {
	h := password.New(password.Options{Concurrency: 1, Queue: 1, MaxWait: time.Minute})
	for _, s := range fuzzSeeds(f, true) {
		f.Add("correct horse battery staple", s)
	}
	f.Fuzz(func(t *testing.T, pw, encoded string) {
		if len(pw) > password.MaxLength {
			return
		}
		start := time.Now()
		ok, _, err := h.Verify(context.Background(), pw, encoded)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("Verify(%q, %q) = %v", pw, encoded, err)
		}
		if ok && password.Check(encoded) != nil {
			t.Fatalf("Verify(%q, %q) matched a hash Check refuses", pw, encoded)
		}
		if d > 30*time.Second {
			t.Fatalf("Verify(%q) took %v", encoded, d)
		}
	})
}
