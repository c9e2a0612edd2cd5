package sv1

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/service"
)

// Name is the gateway's name, in service.ClientInfo.Gateway and logs.
const Name = "sv1"

// Defaults of Config.
const (
	DefaultExtranonce2Size = 4
	MaxExtranonce2Size     = 8 // what firmware handles
	// Extranonce1Size is the bytes of the session's own extranonce1: its
	// channel's prefix goes in coinb1, so the session needs no channel to
	// answer mining.subscribe (see the package documentation).
	Extranonce1Size     = 4
	DefaultMaxLineSize  = 4096
	DefaultMaxPending   = 64
	DefaultMaxBad       = 32
	DefaultWriteTimeout = 10 * time.Second
	// DefaultKeepAlive is how long a session goes without a job before the
	// last one is sent again with a fresh ntime: under the 2 minutes after
	// which some firmware gives a pool up.
	DefaultKeepAlive    = 45 * time.Second
	DefaultSessions     = 16384
	DefaultSessionTTL   = 15 * time.Minute
	defaultSharesPerMin = 6
	// DefaultInitialHashrate is a small ASIC's, 1 TH/s; vardiff takes a
	// channel from there.
	DefaultInitialHashrate = 1e12
)

// Config configures the Stratum V1 gateway. Zero values take the defaults.
type Config struct {
	// ListenAddress is where devices connect; Listener, if set, is used instead.
	ListenAddress string
	Listener      net.Listener
	// Extranonce2Size is the bytes a device rolls (DefaultExtranonce2Size,
	// at most MaxExtranonce2Size). Each channel needs Extranonce1Size more.
	Extranonce2Size int
	// InitialHashrate is the nominal hashrate (H/s) a channel opens with
	// when the device neither suggested a difficulty nor resumed a session
	// (DefaultInitialHashrate): Sv1 devices do not say theirs, and starting
	// at the easiest difficulty would flood the server until vardiff caught up.
	InitialHashrate float32
	// SharesPerMinute is the server's share rate, by which a suggested
	// difficulty becomes the nominal hashrate of the channel (6 if zero).
	SharesPerMinute float64
	// MaxLineSize bounds one request; a longer line closes the connection.
	MaxLineSize int
	// MaxPending bounds the requests waiting for their answers; a miner
	// that sends more without reading them is closed.
	MaxPending int
	// MaxBad is how many invalid requests (unknown methods, bad
	// parameters) a connection may send before it is closed.
	MaxBad int
	// WriteTimeout bounds each write to a device; one that stops reading is
	// closed by it (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// KeepAlive is how long a device goes without a job before it gets the
	// last one again with a later ntime (DefaultKeepAlive).
	KeepAlive time.Duration
	// Sessions and SessionTTL bound the sessions remembered for
	// mining.subscribe's resumption: the extranonce1 and the hashrate a
	// reconnecting device gets back.
	Sessions   int
	SessionTTL time.Duration
	// Now is the clock of jobs' ntime and sessions' age (time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Extranonce2Size == 0 {
		c.Extranonce2Size = DefaultExtranonce2Size
	}
	if c.Extranonce2Size < 1 || c.Extranonce2Size > MaxExtranonce2Size {
		return fmt.Errorf("sv1: extranonce2 size %d, want 1 to %d", c.Extranonce2Size, MaxExtranonce2Size)
	}
	if c.ListenAddress == "" && c.Listener == nil {
		return fmt.Errorf("sv1: no ListenAddress or Listener")
	}
	if c.InitialHashrate <= 0 {
		c.InitialHashrate = DefaultInitialHashrate
	}
	if c.SharesPerMinute <= 0 {
		c.SharesPerMinute = defaultSharesPerMin
	}
	for _, d := range []struct {
		v *int
		d int
	}{{&c.MaxLineSize, DefaultMaxLineSize}, {&c.MaxPending, DefaultMaxPending}, {&c.MaxBad, DefaultMaxBad}, {&c.Sessions, DefaultSessions}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&c.WriteTimeout, DefaultWriteTimeout}, {&c.KeepAlive, DefaultKeepAlive}, {&c.SessionTTL, DefaultSessionTTL}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// NewGateway returns the service.Gateway through which Stratum V1 devices
// reach a server's mining handler: put it in service.ServerConfig.Gateways.
func NewGateway(cfg Config) (service.Gateway, error) {
	if err := cfg.setDefaults(); err != nil {
		return service.Gateway{}, err
	}
	g := &gateway{cfg: cfg, sessions: map[string]*session{}}
	return service.Gateway{
		Name: Name, ListenAddress: cfg.ListenAddress, Listener: cfg.Listener, AckEachShare: true,
		Wrap: g.wrap,
	}, nil
}

// gateway holds what its connections share: the sessions to resume.
type gateway struct {
	cfg Config

	mu       sync.Mutex
	sessions map[string]*session
	seq      uint64
	order    []sessionRef            // every session remembered, oldest first (stale entries skipped)
	bySource map[string][]sessionRef // the same per source address, for its quota
	count    map[string]int          // live sessions per source address
}

// sessionRef names a remembered session; it is stale once the session was
// remembered again (a later seq) or forgotten.
type sessionRef struct {
	id  string
	seq uint64
}

// session is what a device gets back when it resumes.
type session struct {
	id       string
	en1      []byte
	hashrate float32
	at       time.Time
	source   string
	seq      uint64
}

// sourceQuota is how many of the remembered sessions one address may hold
// (a quarter: a farm behind one address still resumes thousands),
// so that one address's churn cannot push out every other's.
func (g *gateway) sourceQuota() int { return max(1, g.cfg.Sessions/4) }

func (g *gateway) wrap(nc net.Conn) service.Wire {
	w := &wire{cfg: &g.cfg, g: g, nc: nc, r: bufio.NewReaderSize(nc, g.cfg.MaxLineSize)}
	w.room = sync.NewCond(&w.mu)
	return w
}

// resume returns the session id names, if it is remembered and fresh.
func (g *gateway) resume(id string) (*session, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[id]
	if !ok || g.cfg.Now().Sub(s.at) > g.cfg.SessionTTL {
		return nil, false
	}
	return s, true
}

// remember keeps s for a later resumption, as the newest: the oldest of its
// source beyond the source's quota, and the oldest of all beyond Sessions,
// are forgotten. Entries left stale are dropped as they reach the front or
// when a list holds twice as many as live sessions: O(1) a call, amortized.
func (g *gateway) remember(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bySource == nil {
		g.bySource, g.count = map[string][]sessionRef{}, map[string]int{}
	}
	if old, ok := g.sessions[s.id]; ok {
		g.forget(old)
	}
	g.seq++
	s.seq = g.seq
	g.sessions[s.id] = s
	g.count[s.source]++
	ref := sessionRef{s.id, s.seq}
	g.order = append(g.order, ref)
	g.bySource[s.source] = append(g.bySource[s.source], ref)
	for g.count[s.source] > g.sourceQuota() && g.evictOldest(s.source) {
	}
	for len(g.sessions) > g.cfg.Sessions {
		r := g.order[0]
		g.order = g.order[1:]
		if old, ok := g.sessions[r.id]; ok && old.seq == r.seq {
			g.forget(old)
		}
	}
	if len(g.order) > 2*len(g.sessions)+16 {
		g.order = g.live(g.order)
	}
	if refs := g.bySource[s.source]; len(refs) > 2*g.count[s.source]+16 {
		g.bySource[s.source] = g.live(refs)
	}
}

// forget drops a remembered session.
func (g *gateway) forget(s *session) {
	delete(g.sessions, s.id)
	if g.count[s.source]--; g.count[s.source] <= 0 {
		delete(g.count, s.source)
		delete(g.bySource, s.source)
	}
}

// evictOldest forgets the oldest session of src, if it has one.
func (g *gateway) evictOldest(src string) bool {
	refs := g.bySource[src]
	for len(refs) > 0 {
		r := refs[0]
		refs = refs[1:]
		if old, ok := g.sessions[r.id]; ok && old.seq == r.seq {
			g.bySource[src] = refs
			g.forget(old)
			return true
		}
	}
	g.bySource[src] = refs
	return false
}

// live returns refs without the stale entries, in a fresh slice.
func (g *gateway) live(refs []sessionRef) []sessionRef {
	out := make([]sessionRef, 0, len(refs)/2+1)
	for _, r := range refs {
		if s, ok := g.sessions[r.id]; ok && s.seq == r.seq {
			out = append(out, r)
		}
	}
	return out
}

// newSession makes a session with a random id and extranonce1.
func newSession() *session {
	var b [8 + Extranonce1Size]byte
	rand.Read(b[:])
	return &session{id: hex.EncodeToString(b[:8]), en1: b[8:]}
}

// Gateways returns what service.ServerConfig.Gateways needs for cfg: none
// when cfg is nil. A zero SharesPerMinute or Now takes the server's.
func Gateways(cfg *Config, sharesPerMinute float64, now func() time.Time) ([]service.Gateway, error) {
	if cfg == nil {
		return nil, nil
	}
	c := *cfg
	if c.SharesPerMinute == 0 {
		c.SharesPerMinute = sharesPerMinute
	}
	if c.Now == nil {
		c.Now = now
	}
	gw, err := NewGateway(c)
	if err != nil {
		return nil, err
	}
	return []service.Gateway{gw}, nil
}
