package server

import (
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/sessiond/sessiond"
)

// LimitListener bounds the connections ln hands out: at most total open at
// once (Accept waits for one to close, as golang.org/x/net/netutil's
// LimitListener does), and at most perClient from one client address (an
// IPv4 address, or an IPv6 /64),
// beyond which a new connection is closed at once. Peers in exempt (the
// trusted proxies, behind which every client shares one address) count
// toward the total only. Zero or negative limits are no limit.
func LimitListener(ln net.Listener, total, perClient int, exempt []netip.Prefix) net.Listener {
	l := &limitListener{Listener: ln, perClient: perClient, exempt: exempt, open: make(map[string]int)}
	if total > 0 {
		l.slots = make(chan struct{}, total)
	}
	return l
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	perClient int
	exempt    []netip.Prefix

	mu   sync.Mutex
	open map[string]int // by sessiond.AddressKey: an IPv6 client's whole /64 is one client
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			l.slots <- struct{}{}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.free()
			return nil, err
		}
		addr := peerOf(c)
		if !l.admit(addr) {
			c.Close()
			l.free()
			continue
		}
		return &limitConn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *limitListener) free() {
	if l.slots != nil {
		<-l.slots
	}
}

// admit counts a connection from addr, unless addr has its share open.
func (l *limitListener) admit(addr netip.Addr) bool {
	if l.perClient <= 0 || !addr.IsValid() || slices.ContainsFunc(l.exempt, func(p netip.Prefix) bool { return p.Contains(addr) }) {
		return true
	}
	key := sessiond.AddressKey(addr.String())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.perClient {
		return false
	}
	l.open[key]++
	return true
}

func (l *limitListener) release(addr netip.Addr) {
	if l.perClient <= 0 || !addr.IsValid() || slices.ContainsFunc(l.exempt, func(p netip.Prefix) bool { return p.Contains(addr) }) {
		return
	}
	key := sessiond.AddressKey(addr.String())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

func peerOf(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	addr netip.Addr
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.release(c.addr)
		c.l.free()
	})
	return err
}
