package main

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/redistest"
)

// TestTwoNodes_Redis_TheChannelNamesNoSessionUserOrTenant_SEC39 SUBSCRIBEs
// to the nodes' channel, as a client allowed that and nothing else could,
// while a session, a user's sessions and a tenant's sessions are revoked:
// every message is a kind and 32 hex digits, none holds an id, and node A
// still drops each revoked session from its cache.
func TestTwoNodes_Redis_TheChannelNamesNoSessionUserOrTenant_SEC39(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	store := redistest.URL(url, prefix)
	tokenFile := adminTokenFile(t)
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca, cb := client{t, a.url}, client{t, b.url}

	o, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := rueidis.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var heard []string
	subscribed := make(chan struct{})
	go sub.Receive(ctx, sub.B().Subscribe().Channel("{"+prefix+"}:changes").Build(), func(m rueidis.PubSubMessage) {
		mu.Lock()
		defer mu.Unlock()
		if heard == nil {
			close(subscribed) // the nodes' probes arrive every 250 ms
		}
		heard = append(heard, m.Message)
	})
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the channel in 10 s: the nodes probe it every 250 ms")
	}

	one, oneID := ca.adminSession("user-one@example.com", "tenant-one")
	two, _ := ca.adminSession("user-two@example.com", "tenant-two")
	three, _ := ca.adminSession("user-three@example.com", "tenant-three")
	for _, tok := range []string{one, two, three} {
		waitStatus(t, ca, tok, 200)
	}
	for _, path := range []string{"/admin/v1/sessions/" + oneID, "/admin/v1/users/user-two@example.com/sessions",
		"/admin/v1/tenants/tenant-three/sessions"} {
		if code, body := cb.adminDo("DELETE", path, ""); code != 200 && code != 204 {
			t.Fatalf("DELETE %s on node B: %d %s", path, code, body)
		}
	}
	for _, tok := range []string{one, two, three} {
		waitStatus(t, ca, tok, 401)
	}
	secrets := []string{oneID, "user-one", "user-two", "user-three", "tenant-one", "tenant-two", "tenant-three"}
	var kinds []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(heard)
		mu.Unlock()
		kinds = kinds[:0]
		for _, m := range got {
			kind, tag, _ := strings.Cut(m, ":")
			if kind == "p" {
				continue // the nodes' probes name nothing
			}
			for _, s := range secrets {
				if strings.Contains(m, s) {
					t.Fatalf("a SUBSCRIBEr read %q on the channel: it names %q", m, s)
				}
			}
			if _, err := hex.DecodeString(tag); err != nil || len(tag) != 32 {
				t.Fatalf("message %q is not a kind and 32 hex digits", m)
			}
			kinds = append(kinds, kind)
		}
		if slices.Contains(kinds, "s") && slices.Contains(kinds, "u") && slices.Contains(kinds, "t") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the revocations, heard changes of kinds %v: want s, u and t", kinds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
