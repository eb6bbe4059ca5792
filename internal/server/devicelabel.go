package server

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/sessiond/sessiond"
)

// deviceLabels remembers Session.Device for the user agents seen
// lately: the session answer names the device on every request, and
// reading the agent costs a dozen substring searches. It is a fixed table
// of slots chosen by a hash of the agent, each holding the last agent
// that landed in it: bounded memory, no lock, and any agent a client
// sends costs at most one computation and one slot.
type deviceLabels struct {
	seed  maphash.Seed
	slots [256]atomic.Pointer[deviceLabel]
}

type deviceLabel struct{ ua, label string }

func newDeviceLabels() *deviceLabels { return &deviceLabels{seed: maphash.MakeSeed()} }

func (d *deviceLabels) label(ua string) string {
	slot := &d.slots[maphash.String(d.seed, ua)%uint64(len(d.slots))]
	if e := slot.Load(); e != nil && e.ua == ua {
		return e.label
	}
	e := &deviceLabel{ua: ua, label: (&sessiond.Session{UserAgent: ua}).Device()}
	slot.Store(e)
	return e.label
}
