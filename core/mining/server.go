package mining

import (
	"fmt"
	"math"
	"slices"
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
	// MinShareDifficulty is the lowest difficulty of a channel's target
	// [DefaultMinShareDifficulty]: however low a channel's nominal hashrate
	// and however easy its max_target, its target is never easier than this,
	// whether set when it opens, by UpdateChannel, SetTarget or vardiff. A
	// negative value sets no minimum.
	MinShareDifficulty float64
	// MaxSharesPerTip bounds the accepted shares whose hashes a channel
	// remembers to refuse duplicates, per tip [DefaultMaxSharesPerTip]. Once
	// a channel holds that many, its further shares are refused with
	// too-many-shares until the next prev hash (a share that is a block is
	// still taken), so no share is ever credited twice and the memory of a
	// channel stays bounded (about 36 bytes a share: 150 KB for a full set
	// at the default).
	MaxSharesPerTip int
	// MaxChannelOpensPerSecond is how many channel requests a connection may
	// make per second on average, beyond a burst of ChannelOpenBurst [100];
	// a request beyond it is refused with channel-open-rate-exceeded. A
	// negative value sets no limit.
	MaxChannelOpensPerSecond float64
	// ChannelOpenBurst is how many channel requests a connection may make at
	// once [4096, the pool's default channels per connection: a proxy
	// opening all its channels on connect is not refused].
	ChannelOpenBurst int
	// Now is the clock for ntime checks, vardiff and the channel-open rate [time.Now].
	Now func() time.Time
}

// Defaults of ServerConfig.
const (
	// DefaultMinShareDifficulty is 2^-24: a share takes about 256 hashes, so
	// an easy channel cannot get every nonce accepted and each share costs
	// its miner about a hundred times the work of validating it. It suits
	// test networks and CPU miners; a mainnet pool sets its own (1 and up).
	DefaultMinShareDifficulty = 0x1p-24
	// DefaultMaxSharesPerTip is 11 hours of shares at the default 6 a
	// minute, so an honest channel does not reach it before a block.
	DefaultMaxSharesPerTip = 4096
)

// Server holds the templates and tip shared by every connection of a mining
// server, and the connections themselves.
type Server struct {
	cfg       ServerConfig
	minTarget sv2.U256 // the target of MinShareDifficulty: no channel's is easier

	mu        sync.Mutex
	coinbase  *coinbase.Config          // the server's outputs for new templates; replaced, never changed
	templates map[uint64]*templateEntry // future templates and those of the current tip
	active    *templateEntry            // newest template on the current tip
	tip       *tip
	conns     map[*Conn]struct{}
}

type templateEntry struct {
	t *sv2.NewTemplate
	// cfg is the server's coinbase configuration when the entry was
	// made: its jobs keep those outputs whatever the server's become.
	cfg *coinbase.Config
	// An upstream's job (NewUpstreamJob) has its coinbase fixed, for every
	// connection, and may forbid version rolling.
	fixed        *coinbase.Coinbase
	fixedVersion bool

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
	minTarget := target.Max()
	switch d := cfg.MinShareDifficulty; {
	case math.IsNaN(d) || math.IsInf(d, 0):
		return nil, fmt.Errorf("%w: minimum share difficulty %v", ErrConfig, d)
	case d == 0:
		cfg.MinShareDifficulty = DefaultMinShareDifficulty
		fallthrough
	case d >= 0:
		var err error
		if minTarget, err = target.FromDifficulty(cfg.MinShareDifficulty); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if cfg.MaxSharesPerTip <= 0 {
		cfg.MaxSharesPerTip = DefaultMaxSharesPerTip
	}
	if math.IsNaN(cfg.MaxChannelOpensPerSecond) || math.IsInf(cfg.MaxChannelOpensPerSecond, 0) {
		return nil, fmt.Errorf("%w: channel opens per second %v", ErrConfig, cfg.MaxChannelOpensPerSecond)
	}
	if cfg.MaxChannelOpensPerSecond == 0 {
		cfg.MaxChannelOpensPerSecond = 100
	}
	if cfg.ChannelOpenBurst <= 0 {
		cfg.ChannelOpenBurst = 4096
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
	return &Server{cfg: cfg, minTarget: minTarget, coinbase: cloneCoinbase(cfg.Coinbase), templates: make(map[uint64]*templateEntry), conns: make(map[*Conn]struct{})}, nil
}

// cloneCoinbase copies cfg, so that the caller's slices may change.
func cloneCoinbase(cfg coinbase.Config) *coinbase.Config {
	cfg.Outputs = slices.Clone(cfg.Outputs)
	cfg.Weights = slices.Clone(cfg.Weights)
	cfg.Tag = slices.Clone(cfg.Tag)
	cfg.Lead = slices.Clone(cfg.Lead)
	return &cfg
}

// bound returns the easiest target a channel with maxTarget may have: its
// max_target, or the server's minimum difficulty's target if that is harder.
func (s *Server) bound(maxTarget sv2.U256) sv2.U256 {
	if target.Less(s.minTarget, maxTarget) {
		return s.minTarget
	}
	return maxTarget
}

// Outbound is what one connection must be sent, in order.
type Outbound struct {
	Conn     *Conn
	Messages []sv2.Message
}

// coinbaseFor returns the template's coinbase with the outputs of cfg (nil:
// the server's when the entry was made) for a full extranonce size, built
// once.
func (s *Server) coinbaseFor(e *templateEntry, cfg *coinbase.Config, size int) (*coinbase.Coinbase, error) {
	if e.fixed != nil {
		return e.fixed, nil
	}
	if cfg == nil {
		cfg = e.cfg
	}
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
//
// A non-future template must be for the tip's height: one whose BIP34 height
// differs from that of the template the last SetNewPrevHash activated builds
// on a prev hash this server missed, and mining it would credit shares on
// worthless work. It is refused with ErrWrongTip and makes no jobs, but is
// kept until the next prev hash, so that a SetNewPrevHash naming it still
// activates it. Templates without a BIP34 height are not checked.
func (s *Server) NewTemplate(t *sv2.NewTemplate) ([]Outbound, error) {
	return s.addTemplate(&templateEntry{t: t})
}

// UpstreamJob is a job of an upstream channel, for a proxy's devices to
// mine as they would a template's (Server.NewUpstreamJob).
type UpstreamJob struct {
	// ID names the job among the server's templates: a SetNewPrevHash
	// activates it by this TemplateID, and ShareResult.TemplateID is it.
	ID             uint64
	Future         bool // announced without min_ntime, for a later SetNewPrevHash
	Version        uint32
	VersionRolling bool
	MerklePath     []sv2.U256
	// CoinbasePrefix and CoinbaseSuffix surround the server's full
	// extranonce (ExtranonceFullSize bytes): the upstream job's
	// coinbase_tx_prefix, with the upstream extranonce bytes the proxy keeps
	// fixed appended, and its coinbase_tx_suffix.
	CoinbasePrefix, CoinbaseSuffix []byte
}

// NewUpstreamJob records an upstream's job and returns the jobs it makes
// for every connection, as NewTemplate does for a template: the server's
// coinbase configuration does not apply (the job's coinbase is the
// upstream's), and neither does the height check, the job carrying no
// height. A share that meets the network target is ShareBlockFound, but its
// FoundBlock has only the stripped coinbase: the share goes upstream.
func (s *Server) NewUpstreamJob(j UpstreamJob) ([]Outbound, error) {
	t := &sv2.NewTemplate{TemplateID: j.ID, FutureTemplate: j.Future, Version: j.Version, MerklePath: j.MerklePath}
	return s.addTemplate(&templateEntry{t: t, fixedVersion: !j.VersionRolling,
		fixed: coinbase.FromParts(j.CoinbasePrefix, j.CoinbaseSuffix, s.cfg.Extranonce.FullSize())})
}

// ExtranonceFullSize is the full extranonce of the server's jobs: the
// channel index and the rollable bytes of its allocator.
func (s *Server) ExtranonceFullSize() int { return s.cfg.Extranonce.FullSize() }

// addTemplate is NewTemplate for a prepared entry.
func (s *Server) addTemplate(e *templateEntry) ([]Outbound, error) {
	t := e.t
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.FutureTemplate && s.tip == nil {
		return nil, fmt.Errorf("template %d: %w", t.TemplateID, ErrNoTip)
	}
	e.cfg, e.coinbases = s.coinbase, make(map[coinbaseKey]*coinbase.Coinbase)
	if _, err := s.coinbaseFor(e, nil, s.cfg.Extranonce.FullSize()); err != nil {
		return nil, err
	}
	if !t.FutureTemplate {
		if _, h := coinbase.BIP34Height(t.CoinbasePrefix); h >= 0 && s.tip.height >= 0 && h != s.tip.height {
			s.templates[t.TemplateID] = e
			return nil, fmt.Errorf("template %d at height %d, the tip's templates are at %d: %w", t.TemplateID, h, s.tip.height, ErrWrongTip)
		}
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
// The prev hash names the tip, so the template's BIP34 height becomes the
// tip's whatever it was (after a reorg, or a prev hash this server missed);
// the non-future templates that follow must have that height.
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
	s.tip.heightPush, s.tip.height = coinbase.BIP34Height(e.t.CoinbasePrefix)
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
	return s.newConn(flags, cb, nil)
}

func (s *Server) newConn(flags uint32, cb *coinbase.Config, ids *ChannelIDs) (*Conn, error) {
	if flags&FlagRequiresVersionRolling != 0 && s.cfg.FixedVersion {
		return nil, fmt.Errorf("%w: REQUIRES_VERSION_ROLLING on a server with fixed versions", ErrFlags)
	}
	if cb != nil && len(cb.Outputs) == 0 {
		return nil, fmt.Errorf("%w: connection coinbase without outputs", ErrConfig)
	}
	c := &Conn{
		srv:      s,
		flags:    flags,
		coinbase: cb,
		ids:      ids,
		channels: make(map[uint32]*channel),
		jobRefs:  make(map[uint32]int),
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	c.tip = s.tip
	s.mu.Unlock()
	return c, nil
}

// NewConnWithIDs is NewConn for a connection whose channel and group ids
// come from ids, shared with Conns of other Servers that serve the same
// downstream connection.
func (s *Server) NewConnWithIDs(flags uint32, ids *ChannelIDs) (*Conn, error) {
	return s.newConn(flags, nil, ids)
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

// SetCoinbase replaces the outputs, tag and lead of the jobs that follow
// (connections with a coinbase of their own keep it) and returns, for every
// connection, new jobs of the current template with it: a SetNewPrevHash on
// the same tip that makes every earlier job stale, so that no share is
// credited on a coinbase of before. A job declarator client moving to
// another pool, or to solo mining, pays its new payout this way while its
// devices keep their channels. Before the first prev hash it only records
// the configuration.
func (s *Server) SetCoinbase(cfg coinbase.Config) ([]Outbound, error) {
	return s.replaceCoinbase(cfg, true)
}

// UpdateCoinbase replaces the outputs, tag and lead of the jobs that follow
// (connections with a coinbase of their own keep it) and returns, for every
// connection, a new job of the current template with it, active at once.
// Unlike SetCoinbase it leaves earlier jobs valid until the next prev hash:
// their shares are credited, and a block found on one pays the outputs that
// job had. A pool whose coinbase pays its miners' recent work moves the
// coinbase with the work this way, without making work in flight stale.
// Future templates keep the jobs already sent for them. Before the first
// prev hash it only records the configuration.
func (s *Server) UpdateCoinbase(cfg coinbase.Config) ([]Outbound, error) {
	return s.replaceCoinbase(cfg, false)
}

func (s *Server) replaceCoinbase(cfg coinbase.Config, stale bool) ([]Outbound, error) {
	if len(cfg.Outputs) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, coinbase.ErrNoOutputs)
	}
	next := cloneCoinbase(cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil || s.tip == nil {
		// Nothing is mined yet: templates held (future ones) get the new
		// outputs when their jobs are made.
		s.coinbase = next
		for id, e := range s.templates {
			s.templates[id] = &templateEntry{t: e.t, fixed: e.fixed, fixedVersion: e.fixedVersion, cfg: next, coinbases: make(map[coinbaseKey]*coinbase.Coinbase)}
		}
		return nil, nil
	}
	a := s.active
	e := &templateEntry{t: a.t, fixed: a.fixed, fixedVersion: a.fixedVersion, cfg: next, coinbases: make(map[coinbaseKey]*coinbase.Coinbase)}
	if _, err := s.coinbaseFor(e, nil, s.cfg.Extranonce.FullSize()); err != nil {
		return nil, err // nothing changed
	}
	s.coinbase = next
	if stale {
		// Every template's coinbases were built with the old outputs: fresh
		// entries, a future template's kept for its prev hash.
		for id, f := range s.templates {
			s.templates[id] = &templateEntry{t: f.t, fixed: f.fixed, fixedVersion: f.fixedVersion, cfg: next, coinbases: make(map[coinbaseKey]*coinbase.Coinbase)}
		}
	}
	s.templates[e.t.TemplateID] = e
	s.active = e
	var out []Outbound
	for c := range s.conns {
		var msgs []sv2.Message
		var err error
		if stale {
			msgs, err = c.onPrevHash(e, s.tip)
		} else {
			msgs, err = c.onActive(e)
		}
		if err != nil {
			return out, err
		}
		if len(msgs) > 0 {
			out = append(out, Outbound{Conn: c, Messages: msgs})
		}
	}
	return out, nil
}
