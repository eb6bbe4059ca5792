package sqlitestore_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// crashChildEnv names the database the child process of
// TestCrash_AnAnsweredWriteSurvivesAKill writes to.
const crashChildEnv = "SQLITESTORE_CRASH_CHILD_DB"

// TestCrash_AnAnsweredWriteSurvivesAKill: a process writes from 16
// goroutines at once (so that writes share commits) and reports each write
// once the store has answered it (and each deletion before it asks); it is killed with SIGKILL in the middle
// of that, and every write it reported holds in the file: created sessions
// exist with the data they were answered for, deleted ones are gone.
// (A kill leaves the operating system's cache in place: this proves that
// no write is answered before its commit; that a commit survives a power
// loss is synchronous=FULL's fsync, unchanged.)
func TestCrash_AnAnsweredWriteSurvivesAKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	type acked struct {
		version  int64 // versions answered; 0: created only
		data     string
		deleting bool // a deletion asked: it may have committed unanswered
		deleted  bool
	}
	sessions := map[string]*acked{}
	answered := 0
	apply := func(line string) {
		f := strings.Fields(line)
		if len(f) < 2 {
			return // a line cut by the kill
		}
		switch f[0] {
		case "created":
			sessions[f[1]] = &acked{}
		case "updated":
			if len(f) == 3 {
				sessions[f[1]].version, sessions[f[1]].data = 1, f[2]
			}
		case "deleting":
			sessions[f[1]].deleting = true
			return
		case "deleted":
			sessions[f[1]].deleted = true
		default:
			return
		}
		answered++
	}
	sc := bufio.NewScanner(out)
	start := time.Now()
	// Kill once the child has answered 600 writes, or after 60 s on a
	// machine too busy for that (however many it answered by then).
	for answered < 600 && time.Since(start) < 60*time.Second && sc.Scan() {
		apply(sc.Text())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAfter := answered
	for sc.Scan() { // what the child wrote before it died
		apply(sc.Text())
	}
	cmd.Wait()
	if answered < 50 {
		t.Fatalf("the child answered only %d writes in %v before the kill", answered, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("killed after %d answered writes read (%d in all) over %v", killedAfter, answered, time.Since(start).Round(time.Millisecond))

	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lost := 0
	for id, a := range sessions {
		got, err := s.SessionByID(context.Background(), id)
		switch {
		case a.deleted && !errors.Is(err, sessiond.ErrNotFound):
			t.Errorf("session %s: deletion answered, read back after the kill: %v %v", id, got, err)
		case a.deleted, a.deleting && errors.Is(err, sessiond.ErrNotFound):
			continue
		case err != nil:
			t.Errorf("session %s: creation answered, read back after the kill: %v", id, err)
		case got.Version < a.version || a.version > 0 && string(got.Data) != a.data:
			t.Errorf("session %s: update answered (version %d, %s), read back version %d, %s", id, a.version, a.data, got.Version, got.Data)
		default:
			continue
		}
		if lost++; lost > 10 {
			t.Fatal("more than 10 answered writes lost")
		}
	}
}

// TestCrashChild is the child process of TestCrash_AnAnsweredWriteSurvivesAKill:
// it writes until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("the child of TestCrash_AnAnsweredWriteSurvivesAKill")
	}
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // one write: a line is whole or absent
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				now := time.Now().UTC()
				id, _ := sessiond.NewID(rand.Reader)
				var h sessiond.TokenHash
				rand.Read(h[:])
				if err := s.CreateSession(ctx, &sessiond.Session{ID: id, TokenHash: h, UserID: fmt.Sprintf("user-%d", w),
					CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), AuthenticatedAt: now}); err != nil {
					t.Error(err)
					return
				}
				report("created %s", id)
				data, _ := json.Marshal(map[string]int{"w": w, "i": i})
				if err := s.UpdateSessionData(ctx, id, data, 0); err != nil {
					t.Error(err)
					return
				}
				report("updated %s %s", id, data)
				if i%2 == 1 {
					report("deleting %s", id)
					if err := s.DeleteSession(ctx, id); err != nil {
						t.Error(err)
						return
					}
					report("deleted %s", id)
				}
			}
		})
	}
	wg.Wait()
}
