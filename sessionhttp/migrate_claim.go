package sessionhttp

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
)

// drop removes the pending claims of keys: the attempt ended without an
// answer, and a later one may ask again.
func (m *Migrator) drop(ctx context.Context, keys []sessiond.TokenHash) {
	for _, key := range keys {
		m.Store.DeleteMigration(context.WithoutCancel(ctx), key)
	}
}

// credentials returns what identifies the request's legacy credential for
// the replay guard, one entry per value. With CredentialNames it is each
// value of the first of those names the request carries, in their order:
// a thief who adds another credential cookie (junk the old backend
// ignores) or changes a state cookie presents the same credential, and a
// request with several values under that name (a host-only cookie and a
// stale one on the parent domain, or a thief's junk copy) is recorded
// under each, so that none of them migrates twice. Without
// CredentialNames, every legacy cookie together is one credential.
func (m *Migrator) credentials(cookies []*http.Cookie) [][]byte {
	if len(m.CredentialNames) == 0 {
		var all bytes.Buffer
		for _, c := range cookies {
			all.WriteString(c.Name + "=" + c.Value + "\n")
		}
		if all.Len() == 0 {
			return nil
		}
		return [][]byte{all.Bytes()}
	}
	for _, name := range m.CredentialNames {
		var out [][]byte
		last := ""
		for _, c := range cookies { // sorted by name, then value
			// The same value twice (host-only and on the parent domain)
			// is one credential.
			if c.Name == name && (len(out) == 0 || c.Value != last) {
				out = append(out, []byte(name+"="+c.Value+"\n"))
				last = c.Value
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// follow handles a legacy credential that another request claimed: wait
// for a pending claim, then share its session, or refuse a replay.
func (m *Migrator) follow(ctx context.Context, r *http.Request, rec *sessiond.Migration, seal sessiond.TokenHash) Result {
	deadline := time.Now().Add(5 * time.Second)
	for rec.State == sessiond.MigrationPending {
		if time.Now().After(deadline) {
			return Result{Outcome: OutcomeBackendError}
		}
		select {
		case <-ctx.Done():
			return Result{Outcome: OutcomeBackendError}
		case <-time.After(20 * time.Millisecond):
		}
		var err error
		rec, err = m.Store.MigrationByKey(ctx, rec.Key)
		if errors.Is(err, sessiond.ErrNotFound) {
			// The claimant gave up (the backend failed): go on unmigrated.
			return Result{Outcome: OutcomeBackendError}
		}
		if err != nil {
			return Result{Outcome: OutcomeStoreError}
		}
	}
	switch {
	case rec.State == sessiond.MigrationInvalid:
		return Result{Outcome: OutcomeInvalid}
	case m.now().After(rec.ShareUntil):
		return Result{Outcome: OutcomeReplay}
	}
	token, err := openToken(seal, rec.Sealed)
	if err != nil {
		return Result{Outcome: OutcomeReplay}
	}
	sess, err := m.Sessions.Manager.Validate(ctx, token, m.client(r))
	if errors.Is(err, sessiond.ErrUnauthenticated) {
		return Result{Outcome: OutcomeReplay}
	}
	if err != nil {
		return Result{Outcome: OutcomeStoreError}
	}
	return Result{Outcome: OutcomeDeduplicated, Token: token, Session: sess}
}

func (m *Migrator) finish(ctx context.Context, rec *sessiond.Migration) error {
	return m.Store.FinishMigration(context.WithoutCancel(ctx), rec)
}
