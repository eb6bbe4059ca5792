package password_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/password"
)

func TestHash_IsArgon2idAtOWASPMinimumAsPHC_SEC17(t *testing.T) {
	h := password.New(password.Options{Params: password.Params{Memory: 1024, Time: 1}}) // raised to the minimum
	enc, err := h.Hash(context.Background(), "pässwörd\x00with NUL")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want argon2id v=19 m=19456 t=2 p=1", enc)
	}
	parts := strings.Split(enc, "$")
	if len(parts[4]) != 22 { // 16 bytes in unpadded base64
		t.Fatalf("salt %q is not 16 bytes", parts[4])
	}
	other, _ := h.Hash(context.Background(), "pässwörd\x00with NUL")
	if other == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerify_ComparesExactlyWhatWasSent_SEC17(t *testing.T) {
	h := password.New(password.Options{})
	ctx := context.Background()
	pw := strings.Repeat("é", 300) + "\x00tail" // 605 bytes, NUL and non-ASCII
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		try  string
		want bool
	}{
		{pw, true},
		{pw[:len(pw)-1], false},
		{strings.Repeat("é", 300), false}, // cut at the NUL
		{pw + " ", false},
		{"", false},
	} {
		ok, _, err := h.Verify(ctx, c.try, enc)
		if err != nil || ok != c.want {
			t.Errorf("Verify(%d bytes) = %v, %v; want %v", len(c.try), ok, err, c.want)
		}
	}
	if _, err := h.Hash(ctx, strings.Repeat("x", password.MaxLength+1)); !errors.Is(err, sessiond.ErrInvalidInput) {
		t.Fatalf("Hash of %d bytes: %v, want ErrInvalidInput", password.MaxLength+1, err)
	}
	if _, _, err := h.Verify(ctx, strings.Repeat("x", password.MaxLength+1), enc); !errors.Is(err, sessiond.ErrInvalidInput) {
		t.Fatalf("Verify of %d bytes: %v, want ErrInvalidInput", password.MaxLength+1, err)
	}
}

func TestVerify_WeakerStoredHashesAskForAnUpgrade_SEC17(t *testing.T) {
	h := password.New(password.Options{})
	weak := "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$" // key computed below
	key := argon2.IDKey([]byte("hunter22"), []byte("somesaltsomesalt"), 1, 4096, 1, 32)
	weak += b64(key)
	ok, rehash, err := h.Verify(context.Background(), "hunter22", weak)
	if err != nil || !ok || !rehash {
		t.Fatalf("weak hash: ok=%v rehash=%v err=%v; want a match that asks for an upgrade", ok, rehash, err)
	}
	strong, _ := h.Hash(context.Background(), "hunter22")
	if ok, rehash, _ := h.Verify(context.Background(), "hunter22", strong); !ok || rehash {
		t.Fatalf("current hash: ok=%v rehash=%v", ok, rehash)
	}
}

func TestVerify_GarbageHashesNeverMatch(t *testing.T) {
	h := password.New(password.Options{})
	for _, enc := range []string{"", "x", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$bcrypt$"} {
		if ok, _, err := h.Verify(context.Background(), "", enc); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", enc, ok, err)
		}
	}
}

func TestHasher_BoundsConcurrencyWithAFastBusy_SEC18(t *testing.T) {
	h := password.New(password.Options{Concurrency: 1, Queue: 2, MaxWait: time.Minute})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var busy, done int
	for range 10 {
		wg.Go(func() {
			start := time.Now()
			_, err := h.Hash(context.Background(), "password")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, sessiond.ErrBusy):
				busy++
				if d := time.Since(start); d > time.Second {
					t.Errorf("busy answer took %v", d)
				}
			case err == nil:
				done++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// One slot and a queue of two: at most three hashes can be in flight
	// at once; the rest are refused at once.
	if busy < 1 || done < 1 {
		t.Fatalf("%d hashed, %d refused", done, busy)
	}
	t.Logf("%d hashed, %d refused", done, busy)
}
func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }
