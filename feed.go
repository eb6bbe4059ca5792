package sessiond

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// ChangeConcealer is an optional capability of a ChangeWatcher whose
// channel clients without access to sessiond's data can read (PostgreSQL:
// any role that can connect may LISTEN on any channel). Such a store never
// puts an id on its channel: it publishes ConcealChange(key, c) with a key
// that only holders of its data can read, and its watcher delivers changes
// in that form. A Manager names what it caches the same way (through
// ConcealChange of the store), so that what arrives still finds what it
// names, while a listener learns nothing but that something changed.
type ChangeConcealer interface {
	// ConcealChange returns c as the store's feed carries it.
	ConcealChange(c Change) Change
}

// ConcealChange replaces the id of c by a keyed hash of its kind and id:
// HMAC-SHA256 under key, the first 128 bits in hex. A probe is left as it
// is: it names nothing. Equal changes conceal equally, so a node matches
// what arrives with what it caches.
func ConcealChange(key []byte, c Change) Change {
	tag := func(kind, id string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(kind))
		m.Write([]byte{':'})
		m.Write([]byte(id))
		return hex.EncodeToString(m.Sum(nil)[:16])
	}
	switch {
	case c.SessionID != "":
		return Change{SessionID: tag("s", c.SessionID)}
	case c.UserID != "":
		return Change{UserID: tag("u", c.UserID)}
	case c.TenantID != "":
		return Change{TenantID: tag("t", c.TenantID)}
	}
	return c
}
