package releasetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRelease_TwoBuildsAreTheSameBytes builds the release binary for this
// platform with the Makefile in two clones of the repository at different
// paths and compares the bytes and the checksum file; the binary's version
// command names the clone's commit and its date. Building the four
// platforms of "make release" is left to the release itself.
func TestRelease_TwoBuildsAreTheSameBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sessiond twice")
	}
	mk := testenv.Tool(t, "make")
	gitBin := testenv.Tool(t, "git")
	testenv.Tool(t, "sha256sum")
	top, err := exec.Command(gitBin, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	name := "sessiond-" + runtime.GOOS + "-" + runtime.GOARCH
	var bins, sums [2][]byte
	var head string
	// The second clone is made from the first, so that a commit landing
	// meanwhile cannot put them on different commits.
	from := strings.TrimSpace(string(top))
	for i := range 2 {
		clone := filepath.Join(t.TempDir(), "clone"+string(rune('a'+i)))
		if out, err := exec.Command(gitBin, "clone", "-q", "--no-hardlinks", from, clone).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		from = clone
		dist := filepath.Join(clone, "dist")
		cmd := exec.Command(mk, "release", "PLATFORMS="+platform, "DIST="+dist)
		cmd.Dir = clone
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make release in %s: %v\n%s", clone, err, out)
		}
		if bins[i], err = os.ReadFile(filepath.Join(dist, name)); err != nil {
			t.Fatal(err)
		}
		if sums[i], err = os.ReadFile(filepath.Join(dist, "SHA256SUMS")); err != nil {
			t.Fatal(err)
		}
		h, _ := exec.Command(gitBin, "-C", clone, "log", "-1", "--format=%H %cI").Output()
		head = strings.TrimSpace(string(h))
		if i == 1 {
			out, err := exec.Command(filepath.Join(dist, name), "version").Output()
			if err != nil {
				t.Fatalf("%s version: %v", name, err)
			}
			commit, date, _ := strings.Cut(head, " ")
			if !strings.Contains(string(out), "commit  "+commit+"\n") {
				t.Errorf("version of a clean clone at %s:\n%s", commit, out)
			}
			if !strings.Contains(string(out), "date    ") || strings.Contains(string(out), "date    unknown") {
				t.Errorf("version has no commit date (%s):\n%s", date, out)
			}
		}
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Fatalf("two builds of %s differ (%d and %d bytes)", head, len(bins[0]), len(bins[1]))
	}
	sum := sha256.Sum256(bins[0])
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums[0]) != want || string(sums[1]) != want {
		t.Fatalf("SHA256SUMS %q and %q, want %q", sums[0], sums[1], want)
	}
}
