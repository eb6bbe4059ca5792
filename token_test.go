package sessiond

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestHashToken_IsSHA256(t *testing.T) {
	for _, n := range []int{0, 1, TokenLen, 63, 64, 65, 200} {
		tok := strings.Repeat("a", n)
		if got, want := HashToken(tok), TokenHash(sha256.Sum256([]byte(tok))); got != want {
			t.Errorf("HashToken of %d bytes = %x, want %x", n, got, want)
		}
	}
}

// HashToken runs on every validation, cached or not.
func TestHashToken_NoAllocation(t *testing.T) {
	tok := strings.Repeat("b", TokenLen)
	if n := testing.AllocsPerRun(100, func() { HashToken(tok) }); n != 0 {
		t.Errorf("HashToken: %v allocations", n)
	}
}
