package sqlitestore

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// BenchmarkSessionsByUser lists the 50 sessions of one user in stores that
// hold 1,000 and 1,000,000 sessions in all: an index lookup, so the two
// should cost about the same. Seeding a million rows takes a while; run it
// explicitly:
//
//	go test -run XXX -bench SessionsByUser -benchtime 2000x ./sqlitestore/
func BenchmarkSessionsByUser(b *testing.B) {
	for _, total := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("total=%d", total), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "s.db"), Options{Synchronous: "NORMAL"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			seed(b, s, total, 50)
			b.ResetTimer()
			for b.Loop() {
				list, err := s.SessionsByUser(ctx, "target")
				if err != nil || len(list) != 50 {
					b.Fatalf("%d sessions, %v", len(list), err)
				}
			}
		})
	}
}

// seed inserts total sessions, of which mine belong to the user "target"
// and the rest to 10 sessions per other user, in one transaction.
func seed(b *testing.B, s *Store, total, mine int) {
	b.Helper()
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range total {
		user := fmt.Sprintf("user-%d", i/10)
		if i < mine {
			user = "target"
		}
		id, _ := sessiond.NewID(rand.Reader)
		var h sessiond.TokenHash
		rand.Read(h[:])
		sess := &sessiond.Session{ID: id, TokenHash: h, UserID: user, TenantID: "t", IPAddress: "192.0.2.1",
			UserAgent: "Mozilla/5.0 Firefox/140.0", CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), AuthenticatedAt: now}
		if _, err := stmt.ExecContext(ctx, sessionArgs(sess)...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
