package sv1

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
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
	MaxBad       int
	WriteTimeout time.Duration
	KeepAlive    time.Duration
	// Sessions and SessionTTL bound the sessions remembered for
	// mining.subscribe's resumption: the extranonce1 and the hashrate a
	// reconnecting device gets back.
	Sessions   int
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
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
	order    []string // session ids, oldest first, for eviction
}

// session is what a device gets back when it resumes.
type session struct {
	id       string
	en1      []byte
	hashrate float32
	at       time.Time
}

func (g *gateway) wrap(nc net.Conn) service.Wire {
	return &wire{cfg: &g.cfg, g: g, nc: nc, r: bufio.NewReaderSize(nc, g.cfg.MaxLineSize)}
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

// remember keeps s for a later resumption, forgetting the oldest beyond Sessions.
func (g *gateway) remember(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.sessions[s.id]; !ok {
		g.order = append(g.order, s.id)
	}
	g.sessions[s.id] = s
	for len(g.order) > g.cfg.Sessions {
		delete(g.sessions, g.order[0])
		g.order = g.order[1:]
	}
	if cap(g.order) > 4*g.cfg.Sessions { // the slice's front was consumed: start afresh
		g.order = append([]string(nil), g.order...)
	}
}

// newSession makes a session with a random id and extranonce1.
func newSession() *session {
	var b [8 + Extranonce1Size]byte
	rand.Read(b[:])
	return &session{id: hex.EncodeToString(b[:8]), en1: b[8:]}
}

// Gateways returns what service.ServerConfig.Gateways needs for cfg: none
// when cfg is nil. A zero SharesPerMinute, Logger or Now takes the server's.
func Gateways(cfg *Config, sharesPerMinute float64, log *slog.Logger, now func() time.Time) ([]service.Gateway, error) {
	if cfg == nil {
		return nil, nil
	}
	c := *cfg
	if c.SharesPerMinute == 0 {
		c.SharesPerMinute = sharesPerMinute
	}
	if c.Logger == nil && log != nil {
		c.Logger = log.With("side", Name)
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
