package mining

import (
	"fmt"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/sv2"
)

// ServerConfig configures a Server; zero fields take the defaults in brackets.
type ServerConfig struct {
	Coinbase   coinbase.Config       // pool outputs and tag (required outputs)
	Extranonce *extranonce.Allocator // shared by every connection (required)
	// SharesPerMinute sets a new channel's target from its nominal hashrate [6].
	SharesPerMinute float64
	// Vardiff, when set, retargets each channel on Conn.UpdateTargets.
	Vardiff *vardiff.Config
	// ShareBatchSize is how many accepted shares one SubmitShares.Success acknowledges [10].
	ShareBatchSize int
	// PastJobs is how many jobs of earlier templates on the current tip still take shares [8].
	PastJobs int
	// MaxNTimeAhead bounds how far a share's ntime may run ahead of Now [2h, Bitcoin's MAX_FUTURE_BLOCK_TIME].
	MaxNTimeAhead time.Duration
	// FixedVersion forbids version rolling on every job (REQUIRES_FIXED_VERSION).
	FixedVersion bool
	// CustomJobs, when set, accepts SetCustomMiningJob on connections that
	// negotiated REQUIRES_WORK_SELECTION; nil refuses it with jd-not-supported.
	CustomJobs *CustomJobConfig
	// Now is the clock for ntime checks and vardiff [time.Now].
	Now func() time.Time
}

// Server holds the templates and tip shared by every connection of a mining
// server, and the connections themselves.
type Server struct {
	cfg ServerConfig

	mu        sync.Mutex
	templates map[uint64]*templateEntry // future templates and those of the current tip
	active    *templateEntry            // newest template on the current tip
	tip       *tip
	conns     map[*Conn]struct{}
}

type templateEntry struct {
	t *sv2.NewTemplate

	mu        sync.Mutex // connections build coinbases concurrently
	coinbases map[coinbaseKey]*coinbase.Coinbase
}

// coinbaseKey names one coinbase of a template: whose outputs (the server's
// or a connection's own) and the full extranonce size.
type coinbaseKey struct {
	cfg  *coinbase.Config
	size int
}

// tip is the chain tip every valid job builds on.
type tip struct {
	templateID uint64
	prevHash   sv2.U256
	nBits      uint32
	minNTime   uint32
	network    sv2.U256 // from nBits: consensus decides what is a block
	heightPush []byte   // the BIP34 height push starting the templates' coinbase_prefix
	height     int64    // the block height on this tip, -1 if the templates do not say
}

// NewServer checks cfg and returns an empty Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Extranonce == nil {
		return nil, fmt.Errorf("%w: no extranonce allocator", ErrConfig)
	}
	if len(cfg.Coinbase.Outputs) == 0 {
		return nil, fmt.Errorf("%w: no pool outputs", ErrConfig)
	}
	if cfg.SharesPerMinute <= 0 {
		cfg.SharesPerMinute = 6
	}
	if cfg.ShareBatchSize <= 0 {
		cfg.ShareBatchSize = 10
	}
	if cfg.PastJobs <= 0 {
		cfg.PastJobs = 8
	}
	if cfg.MaxNTimeAhead <= 0 {
		cfg.MaxNTimeAhead = 2 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CustomJobs != nil {
		if len(cfg.CustomJobs.PayoutScript) == 0 {
			return nil, fmt.Errorf("%w: custom jobs without a pool payout script", ErrConfig)
		}
		cj := *cfg.CustomJobs
		cfg.CustomJobs = &cj
	}
	if cfg.Vardiff != nil {
		vd := *cfg.Vardiff
		if _, err := vardiff.New(vd, target.Max(), target.Max(), time.Time{}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		cfg.Vardiff = &vd
	}
	return &Server{cfg: cfg, templates: make(map[uint64]*templateEntry), conns: make(map[*Conn]struct{})}, nil
}

// Outbound is what one connection must be sent, in order.
type Outbound struct {
	Conn     *Conn
	Messages []sv2.Message
}

// coinbaseFor returns the template's coinbase with the outputs of cfg for a
// full extranonce size, built once.
func (s *Server) coinbaseFor(e *templateEntry, cfg *coinbase.Config, size int) (*coinbase.Coinbase, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := coinbaseKey{cfg, size}
	if cb := e.coinbases[key]; cb != nil {
		return cb, nil
	}
	cb, err := coinbase.New(e.t, *cfg, size)
	if err != nil {
		return nil, fmt.Errorf("template %d: %w", e.t.TemplateID, err)
	}
	e.coinbases[key] = cb
	return cb, nil
}

// NewTemplate records a template and returns the jobs it makes for every
// connection: future jobs for a future template, active jobs otherwise. A
// coinbase that cannot be built (for example a scriptSig over 100 bytes) is an
// error and nothing is sent.
func (s *Server) NewTemplate(t *sv2.NewTemplate) ([]Outbound, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.FutureTemplate && s.tip == nil {
		return nil, fmt.Errorf("template %d: %w", t.TemplateID, ErrNoTip)
	}
	e := &templateEntry{t: t, coinbases: make(map[coinbaseKey]*coinbase.Coinbase)}
	if _, err := s.coinbaseFor(e, &s.cfg.Coinbase, s.cfg.Extranonce.FullSize()); err != nil {
		return nil, err
	}
	s.templates[t.TemplateID] = e
	if !t.FutureTemplate {
		s.active = e
	}
	var out []Outbound
	for c := range s.conns {
		msgs, err := c.onTemplate(e)
		if err != nil {
			return out, err
		}
		if len(msgs) > 0 {
			out = append(out, Outbound{Conn: c, Messages: msgs})
		}
	}
	return out, nil
}

// SetNewPrevHash moves every connection to a new tip: the named (future)
// template's jobs become active, every other job stale. It returns the
// SetNewPrevHash messages (and any jobs a channel still lacked) per connection.
func (s *Server) SetNewPrevHash(p *sv2.TemplateSetNewPrevHash) ([]Outbound, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.templates[p.TemplateID]
	if e == nil {
		return nil, fmt.Errorf("prev hash for template %d: %w", p.TemplateID, ErrUnknownTemplate)
	}
	network, err := target.FromCompact(p.NBits)
	if err != nil {
		return nil, fmt.Errorf("prev hash for template %d: %w", p.TemplateID, err)
	}
	s.tip = &tip{templateID: p.TemplateID, prevHash: p.PrevHash, nBits: p.NBits, minNTime: p.HeaderTimestamp, network: network}
	s.tip.heightPush, s.tip.height = bip34Height(e.t.CoinbasePrefix)
	s.active = e
	clear(s.templates)
	s.templates[p.TemplateID] = e
	// Every job made before this point is stale now, so released prefixes may be reused.
	s.cfg.Extranonce.Advance()
	var out []Outbound
	for c := range s.conns {
		msgs, err := c.onPrevHash(e, s.tip)
		if err != nil {
			return out, err
		}
		if len(msgs) > 0 {
			out = append(out, Outbound{Conn: c, Messages: msgs})
		}
	}
	return out, nil
}

// NewConn registers a downstream connection that negotiated flags in its
// SetupConnection. A connection requiring version rolling from a server with
// fixed versions is refused with ErrFlags.
func (s *Server) NewConn(flags uint32) (*Conn, error) {
	return s.NewConnWithCoinbase(flags, nil)
}

// NewConnWithCoinbase is NewConn for a connection whose jobs pay outputs of
// their own (a solo miner's address, say) instead of the server's; nil
// means the server's. The configuration must not change afterwards.
func (s *Server) NewConnWithCoinbase(flags uint32, cb *coinbase.Config) (*Conn, error) {
	if flags&FlagRequiresVersionRolling != 0 && s.cfg.FixedVersion {
		return nil, fmt.Errorf("%w: REQUIRES_VERSION_ROLLING on a server with fixed versions", ErrFlags)
	}
	if cb == nil {
		cb = &s.cfg.Coinbase
	} else if len(cb.Outputs) == 0 {
		return nil, fmt.Errorf("%w: connection coinbase without outputs", ErrConfig)
	}
	c := &Conn{
		srv:      s,
		flags:    flags,
		coinbase: cb,
		channels: make(map[uint32]*channel),
		jobRefs:  make(map[uint32]int),
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	c.tip = s.tip
	s.mu.Unlock()
	return c, nil
}

// RemoveConn forgets a connection, for example when it disconnects, and
// releases its channels' prefixes (reused after the next prev hash). Later
// templates make no jobs for it, shares on it are refused with
// invalid-channel-id, and opening a channel on it fails with ErrConnClosed.
func (s *Server) RemoveConn(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id := range c.channels {
		c.closeLocked(id)
	}
}
