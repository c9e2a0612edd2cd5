package service

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Defaults of the per-source limits (a source is a remote IP address).
const (
	DefaultMaxConnectionsPerSource = 256
	DefaultHandshakeRatePerSource  = 20 // Noise handshakes a second, with a burst of twice that
)

// Why a source's connection was refused.
var (
	errSourceConnections = errors.New("too many connections from this address")
	errSourceHandshakes  = errors.New("too many handshakes at once from this address")
	errSourceRate        = errors.New("handshakes from this address too fast")
)

// sources keeps what the per-source limits need: each address's open
// connections, its handshakes under way, and a token bucket of handshakes.
// One address, however busy, so holds at most its share of the handshake
// slots and of the connections, and a flood of handshakes from it costs the
// server little: the rest are refused before any cryptography.
type sources struct {
	maxConns, maxHandshakes int
	rate, burst             float64
	now                     func() time.Time

	mu      sync.Mutex
	m       map[string]*source
	admits  int // since the last prune
	pruneAt int
}

type source struct {
	conns, handshakes int
	tokens            float64
	at                time.Time // when tokens was last brought up to date
}

func newSources(maxConns, maxHandshakes int, rate float64) *sources {
	return &sources{
		maxConns: maxConns, maxHandshakes: maxHandshakes, rate: rate, burst: 2 * rate,
		now: time.Now, m: map[string]*source{}, pruneAt: 1024,
	}
}

// sourceOf names the source of a connection: its IP address.
// SourceOf is the source address a connection from a counts under for the
// per-source limits: its IP address.
func SourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// admit counts a new connection from addr, or refuses it.
func (l *sources) admit(addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[addr]
	if s == nil {
		l.maybePrune()
		s = &source{tokens: l.burst, at: l.now()}
		l.m[addr] = s
	}
	if s.conns >= l.maxConns {
		return errSourceConnections
	}
	s.conns++
	return nil
}

// release forgets a connection admitted from addr.
func (l *sources) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.m[addr]; s != nil {
		s.conns--
	}
}

// handshake counts a Noise handshake from addr, or refuses it; done ends it.
func (l *sources) handshake(addr string) (done func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[addr]
	if s == nil { // not admitted: cannot happen, but refuse rather than panic
		return nil, errSourceConnections
	}
	now := l.now()
	s.tokens = min(l.burst, s.tokens+now.Sub(s.at).Seconds()*l.rate)
	s.at = now
	switch {
	case s.handshakes >= l.maxHandshakes:
		return nil, errSourceHandshakes
	case s.tokens < 1:
		return nil, errSourceRate
	}
	s.tokens--
	s.handshakes++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		s.handshakes--
	}, nil
}

// maybePrune forgets, now and then, the sources with no connection whose
// bucket has refilled: they would start afresh anyway. l.mu is held. The
// map is bounded by the connections open plus the sources of the last
// burst/rate seconds.
func (l *sources) maybePrune() {
	if l.admits++; l.admits < l.pruneAt {
		return
	}
	l.admits = 0
	now := l.now()
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for addr, s := range l.m {
		if s.conns == 0 && now.Sub(s.at) >= full {
			delete(l.m, addr)
		}
	}
	l.pruneAt = max(1024, 2*len(l.m))
}
