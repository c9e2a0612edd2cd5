// Package pool is a Stratum V2 mining pool: a mining server for miners and a
// template-distribution client for its template provider, tied as siblings.
// Templates flow from the provider to the mining server, which turns them into
// jobs for standard, extended and group channels, validates every share, and
// sends found blocks back as SubmitSolution (and, when configured, straight to
// a node). Embed it with Run, or New and Pool.Run to read its Stats.
package pool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/stratumgo/stratum/core/accounting"
	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

// Defaults for zero Config fields.
const (
	DefaultListen          = "0.0.0.0:3333"
	DefaultSharesPerMinute = 6
	DefaultVardiffInterval = 30 * time.Second
	DefaultStatsInterval   = time.Minute
	// DefaultInactivityLimit: a miner mining sends a share every few
	// seconds (vardiff aims at DefaultSharesPerMinute); one silent this
	// long only holds a connection slot.
	DefaultInactivityLimit = 5 * time.Minute
	// DefaultMaxChannels bounds the channels open pool-wide: an idle one
	// costs about 1 KB, a busy one up to its duplicate set (about 150 KB).
	DefaultMaxChannels = 100_000
	// DefaultMaxChannelsPerConnection leaves room for a proxy with many devices.
	DefaultMaxChannelsPerConnection = 4096
)

// JobDeclaration lets miners choose their work: their job declarator
// clients (JDCs) set custom jobs (SetCustomMiningJob, on connections with
// REQUIRES_WORK_SELECTION) with tokens from a job declarator server
// (JDS), which the pool checks on its own: signed by the JDS, granted to the
// channel's user, unexpired, unused and, in full-template mode, for exactly
// the job declared. Set one of Listen and AuthorityKey.
type JobDeclaration struct {
	// Listen runs a JDS inside the pool on this address (Listener, when
	// set, instead); it signs with the pool's AuthorityKey, takes the chain
	// tip from the pool's template provider and needs Config.Node. Its
	// blocks' transactions are known, so the pool submits them too.
	Listen   string
	Listener net.Listener
	// AuthorityKey trusts a standalone JDS (sv2-jds) by its authority key.
	AuthorityKey *noise.PublicKey
	// Mode and TokenLifetime configure the in-process JDS (its defaults);
	// with a standalone JDS, Mode full-template refuses its coinbase-only
	// tokens.
	Mode          jdserver.Mode
	TokenLifetime time.Duration
}

// TemplateProvider says how to reach the template provider.
type TemplateProvider struct {
	Address      string           // host:port
	AuthorityKey *noise.PublicKey // pin it; nil encrypts without authenticating
	Plain        bool             // no Noise: the provider runs on this machine
}

// Config configures a pool. Zero values take the documented defaults.
type Config struct {
	Listen       string           // miners connect here (DefaultListen)
	Listener     net.Listener     // used instead of Listen when set
	AuthorityKey *noise.SecretKey // signs the certificates miners check (required unless Plain)
	CertValidity time.Duration    // how long each certificate lasts (noise's default if zero)
	Plain        bool             // serve miners without Noise
	// Sv1, when set, also serves Stratum V1 devices on its address, each
	// on an extended channel like any other (its SharesPerMinute and Now
	// default to the pool's).
	Sv1 *sv1.Config

	TemplateProvider TemplateProvider
	Network          string   // mainnet, testnet, testnet4, signet or regtest
	Payouts          []Payout // where the reward goes, by weight (not with Solo)
	Tag              string   // pushed in every coinbase scriptSig, e.g. "/my pool/"
	// Solo pays each connection's whole reward to the address in its
	// user_identity ("<address>[.<worker>]").
	Solo bool

	SharesPerMinute float64       // vardiff aims at this rate per channel (DefaultSharesPerMinute)
	VardiffInterval time.Duration // how often channels are retargeted (DefaultVardiffInterval)
	ShareBatchSize  int           // shares per SubmitShares.Success (core mining default if zero)
	// MinShareDifficulty is the easiest share the pool takes, whatever a
	// channel declares (mining.DefaultMinShareDifficulty if zero; negative:
	// none), so that a channel cannot make every nonce a share; and
	// MaxSharesPerTip bounds the shares one channel may have accepted on one
	// tip, which the pool remembers to refuse duplicates
	// (mining.DefaultMaxSharesPerTip if zero).
	MinShareDifficulty float64
	MaxSharesPerTip    int
	FixedVersion       bool // forbid version rolling

	// ServerID, 0 to 255, is the first byte of every extranonce prefix this
	// pool hands out, so that frontends sharing one ledger and template
	// provider each have their own 2^24 channel indexes and never make the
	// same headers: each must have a distinct id. The extranonce layout
	// downstreams see does not change. 0, the default, is the layout of a
	// pool without an id (its index never reached 2^24, so its first byte
	// was always 0): a frontend that sets none is server 0.
	ServerID int

	// Monitor, when set, serves the pool's dashboard, JSON API and
	// Prometheus metrics (core/monitor; its Logger and Now default to the
	// pool's).
	Monitor *monitor.Config

	// Ledger, when set, keeps the accounting durably: work, found blocks
	// and their PPLNS split, balances (core/ledger).
	Ledger *Ledger

	// Node, when set, is a node's RPC for submitting blocks directly too.
	Node *node.Config
	// JobDeclaration, when set, accepts custom jobs (not with Solo).
	JobDeclaration *JobDeclaration

	// InactivityLimit drops a miner that sends no message doing work (a
	// share, a channel request...) for this long (DefaultInactivityLimit);
	// negative keeps them. Frames of unknown types do not count.
	InactivityLimit time.Duration
	MaxConnections  int // miner connections at once (the service default if zero)
	// MaxConnectionsPerSource caps one IP address's connections (the
	// service's DefaultMaxConnectionsPerSource if zero), so that one host
	// cannot fill MaxConnections; HandshakeRatePerSource and
	// MaxHandshakesPerSource bound its Noise handshakes (service defaults).
	MaxConnectionsPerSource int
	MaxHandshakesPerSource  int
	HandshakeRatePerSource  float64
	// MaxChannelsPerConnection caps the channels one connection may open
	// (DefaultMaxChannelsPerConnection); more are refused with
	// channel-capacity-exhausted.
	MaxChannelsPerConnection int
	// MaxChannels caps the channels open on all connections together
	// (DefaultMaxChannels); more are refused with channel-capacity-exhausted.
	// Opens racing on different connections may pass it by a few.
	MaxChannels   int
	StatsInterval time.Duration // how often the accounting is logged (DefaultStatsInterval)
	// MaxWorkersPerUser and MaxWorkers bound the workers the accounting
	// keeps (core/accounting's defaults); shares of others count for their
	// user and channel only.
	MaxWorkersPerUser int
	MaxWorkers        int
	Logger            *slog.Logger
	// Now is the clock for share checks, vardiff and accounting (time.Now).
	Now func() time.Time
}

// Pool is a configured pool; Run serves it.
type Pool struct {
	cfg      Config
	log      *slog.Logger
	net      *chaincfg.Params
	now      func() time.Time
	accounts *accounting.Accounts
	blocks   *blocks
	miners   *miners
	tmpl     *tpclient.Handler
	server   *service.ServerService
	client   *service.ClientService
	jds      *jdserver.JDS    // the in-process job declarator, if any
	node     *node.Client     // the node RPC the blocks also go to, if any
	mon      *monitor.Server  // Config.Monitor's, if any
	ledger   *ledger.Recorder // Config.Ledger's, if any
	rules    ledger.Rules     // its rules, with their defaults
	plans    plans            // the coinbases of the window lately mined (Ledger.Coinbase)
	writes   ledgerWrites     // found blocks on their way to the ledger
	started  time.Time
}

// The pool's extranonce: a 4-byte channel index and 16 bytes a channel
// rolls, so that a job declarator client or a proxy (or two nested) can
// split its channel among devices and still leave each the 8 bytes miners
// ask for. The index's first byte is Config.ServerID, the other 3 count
// this pool's channels (extranonce.MaxChannels of them).
const (
	extranonceIndex    = 4
	extranonceRollable = 16
	maxServerID        = 255
)

// maxTag is the longest pool tag that fits the 100-byte coinbase scriptSig
// with a height push (up to 9 bytes), the tag's own push (2) and the
// extranonce.
const maxTag = 100 - 9 - 2 - extranonceIndex - extranonceRollable

// ErrConfig wraps configuration errors.
var ErrConfig = errors.New("pool: invalid configuration")

// New checks cfg and builds the pool's services.
func New(cfg Config) (*Pool, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.SharesPerMinute <= 0 {
		cfg.SharesPerMinute = DefaultSharesPerMinute
	}
	if cfg.VardiffInterval <= 0 {
		cfg.VardiffInterval = DefaultVardiffInterval
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	switch {
	case cfg.InactivityLimit == 0:
		cfg.InactivityLimit = DefaultInactivityLimit
	case cfg.InactivityLimit < 0:
		cfg.InactivityLimit = 0 // the service's "never"
	}
	if cfg.MaxChannelsPerConnection <= 0 {
		cfg.MaxChannelsPerConnection = DefaultMaxChannelsPerConnection
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = DefaultMaxChannels
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	net, err := network.Params(cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch {
	case cfg.Solo && len(cfg.Payouts) > 0:
		return nil, fmt.Errorf("%w: solo mode pays the miners' addresses; payouts are not used", ErrConfig)
	case !cfg.Solo && len(cfg.Payouts) == 0:
		return nil, fmt.Errorf("%w: no payout configured (or use solo mode)", ErrConfig)
	case !cfg.Plain && cfg.AuthorityKey == nil:
		return nil, fmt.Errorf("%w: an authority secret key is required (or plain mode)", ErrConfig)
	case cfg.TemplateProvider.Address == "":
		return nil, fmt.Errorf("%w: no template provider address", ErrConfig)
	case len(cfg.Tag) > maxTag:
		return nil, fmt.Errorf("%w: pool tag of %d bytes; the coinbase scriptSig leaves room for %d", ErrConfig, len(cfg.Tag), maxTag)
	case cfg.ServerID < 0 || cfg.ServerID > maxServerID:
		return nil, fmt.Errorf("%w: server id %d, want 0 to %d", ErrConfig, cfg.ServerID, maxServerID)
	}
	if l := cfg.Ledger; l != nil && l.Coinbase != nil {
		var wp uint64
		for _, po := range cfg.Payouts {
			wp += po.Weight
		}
		switch cp := l.Coinbase; {
		case cfg.Solo:
			return nil, fmt.Errorf("%w: coinbase payouts pay the window's miners; solo mode pays each connection's own", ErrConfig)
		case cp.MaxOutputs < 0 || cp.MaxOutputs > MaxCoinbaseOutputs:
			return nil, fmt.Errorf("%w: %d coinbase outputs for miners, want 1 to %d (0: %d)", ErrConfig, cp.MaxOutputs, MaxCoinbaseOutputs, DefaultCoinbaseOutputs)
		case cp.Refresh < 0:
			return nil, fmt.Errorf("%w: coinbase refresh every %v", ErrConfig, cp.Refresh)
		case wp > math.MaxUint32:
			return nil, fmt.Errorf("%w: payout weights summing to %d; coinbase payouts need at most %d", ErrConfig, wp, uint64(math.MaxUint32))
		}
	}
	if jd := cfg.JobDeclaration; jd != nil {
		inProcess := jd.Listen != "" || jd.Listener != nil
		switch {
		case cfg.Solo:
			return nil, fmt.Errorf("%w: job declaration pays the pool's payout, not solo miners", ErrConfig)
		case inProcess == (jd.AuthorityKey != nil):
			return nil, fmt.Errorf("%w: job declaration needs an in-process JDS address or a standalone JDS's authority key, not both", ErrConfig)
		case inProcess && cfg.AuthorityKey == nil:
			return nil, fmt.Errorf("%w: an in-process JDS signs its tokens with the pool's authority secret key: set one", ErrConfig)
		case inProcess && cfg.Node == nil:
			return nil, fmt.Errorf("%w: an in-process JDS needs the node RPC (--node-rpc-url)", ErrConfig)
		}
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, net: net, now: cfg.Now, started: cfg.Now(), accounts: accounting.New(accounting.Config{MaxWorkersPerUser: cfg.MaxWorkersPerUser, MaxWorkers: cfg.MaxWorkers})}

	// The default coinbase: the payouts, or in solo mode a placeholder that
	// every connection replaces with its miner's address.
	var cbcfg coinbase.Config
	var scripts [][]byte
	if cfg.Solo {
		cbcfg.Outputs, cbcfg.Weights = outputs([]Payout{{Script: []byte{0x51}, Weight: 1}})
	} else {
		cbcfg.Outputs, cbcfg.Weights = outputs(cfg.Payouts)
		for _, po := range cfg.Payouts {
			scripts = append(scripts, po.Script)
		}
	}
	cbcfg.Tag = []byte(cfg.Tag)
	alloc, err := extranonce.New(extranonce.Config{Prefix: []byte{byte(cfg.ServerID)}, IndexSize: extranonceIndex - 1, RollableSize: extranonceRollable})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	vd := vardiff.Config{SharesPerMinute: cfg.SharesPerMinute}
	p.miners = &miners{p: p, clients: map[service.ClientID]*minerConn{}, byConn: map[*mining.Conn]service.ClientID{}}
	custom, err := p.customJobs()
	if err != nil {
		return nil, err
	}
	ms, err := mining.NewServer(mining.ServerConfig{
		Coinbase: cbcfg, Extranonce: alloc, SharesPerMinute: cfg.SharesPerMinute, Vardiff: &vd,
		ShareBatchSize: cfg.ShareBatchSize, FixedVersion: cfg.FixedVersion, Now: cfg.Now,
		MinShareDifficulty: cfg.MinShareDifficulty, MaxSharesPerTip: cfg.MaxSharesPerTip,
		CustomJobs: custom,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	p.miners.server = ms

	size, sigops := constraintsFor(scripts)
	if cfg.Solo {
		size, sigops = soloOutputSize, soloOutputSigops
	}
	if cp := p.coinbasePayouts(); cp != nil {
		// Room for the miners' outputs, each at most a solo miner's.
		size += uint32(cp.MaxOutputs) * soloOutputSize
		sigops += uint16(cp.MaxOutputs) * soloOutputSigops
		p.plans.add(&coinbasePlan{cfg: cbcfg, pool: len(cfg.Payouts)})
	}
	p.tmpl = newTemplates(p, size, sigops)

	p.server, p.client, err = p.services()
	if err != nil {
		return nil, err
	}
	if p.blocks, err = newBlocks(p); err != nil {
		return nil, err
	}
	p.newLedger()
	if err := p.newMonitor(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return p, nil
}

func (p *Pool) services() (*service.ServerService, *service.ClientService, error) {
	cfg := p.cfg
	gateways, err := sv1.Gateways(cfg.Sv1, cfg.SharesPerMinute, cfg.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	srv, io, err := service.NewServerServiceWithSibling(service.ServerConfig{
		Gateways:      gateways,
		ListenAddress: cfg.Listen, Listener: cfg.Listener, Plain: cfg.Plain,
		AuthorityKey: cfg.AuthorityKey, CertificateValidity: cfg.CertValidity,
		Mining: &service.ProtocolConfig{}, InactivityTimeout: cfg.InactivityLimit,
		// Per-worker accounting for proxies and farms that name each device's shares.
		SupportedExtensions: []uint16{sv2.ExtensionWorkerHashrate},
		MaxConnections:      cfg.MaxConnections, MaxFrameSize: 1 << 16,
		MaxConnectionsPerSource: cfg.MaxConnectionsPerSource, MaxHandshakesPerSource: cfg.MaxHandshakesPerSource,
		HandshakeRatePerSource: cfg.HandshakeRatePerSource,
		// Templates and prev hashes wait here for the mining side; a lost
		// one would leave miners on stale work, so the queue is generous.
		SiblingQueue: 1 << 16,
		Logger:       p.log.With("side", "miners"),
	}, p.miners, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	tp := cfg.TemplateProvider
	cli, err := service.NewClientServiceFromSibling(service.ClientConfig{
		TemplateDistribution: &service.UpstreamConfig{Address: tp.Address, Plain: tp.Plain, AuthorityKey: tp.AuthorityKey},
		Vendor:               "stratumgo pool",
		Logger:               p.log.With("side", "template-provider"),
	}, nil, nil, p.tmpl, io)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return srv, cli, nil
}

// Run builds a pool from cfg and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	p, err := New(cfg)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// Run serves miners and follows the template provider until ctx ends or a
// service fails; it returns after everything it started has stopped: nil
// when ctx ended, the first failure otherwise.
func (p *Pool) Run(ctx context.Context) error {
	if p.ledger != nil {
		lctx, stop := context.WithCancel(ctx)
		p.writes.start(lctx)
		defer func() {
			stop()
			p.writes.wait() // each has tried once more, then logged what it could not write
			if err := p.cfg.Ledger.Store.Close(); err != nil {
				p.log.Error("ledger: closing", "error", err)
			}
		}()
	}

	return service.RunAll(ctx,
		p.server, p.client, p.mon,
		service.RunnerFunc(func(ctx context.Context) error {
			if p.ledger == nil {
				return nil
			}
			return p.ledger.Run(ctx)
		}),
		service.RunnerFunc(func(ctx context.Context) error { p.confirm(ctx); return nil }),
		service.RunnerFunc(func(ctx context.Context) error { p.payInCoinbase(ctx); return nil }),
		service.RunnerFunc(p.holdServerID),
		service.RunnerFunc(func(ctx context.Context) error {
			if addr, err := p.server.Addr(ctx); err == nil {
				p.log.Info("pool listening", "address", addr.String(), "solo", p.cfg.Solo)
			}
			if p.cfg.Node == nil {
				// Template ids mean nothing across provider sessions.
				p.log.Warn("no node RPC configured: a block found just before the template provider restarts cannot be delivered; set a node RPC URL to deliver every block")
			}
			return nil
		}),
		service.RunnerFunc(func(ctx context.Context) error { p.blocks.run(ctx); return nil }),
		service.RunnerFunc(func(ctx context.Context) error { p.tick(ctx); return nil }),
		service.RunnerFunc(func(ctx context.Context) error {
			if p.jds == nil {
				return nil
			}
			return p.jds.Run(ctx)
		}),
	)
}

// Addr waits until the pool listens and returns its address.
func (p *Pool) Addr(ctx context.Context) (net.Addr, error) { return p.server.Addr(ctx) }

// Sv1Addr returns the address Stratum V1 devices connect to (Config.Sv1),
// once the pool listens.
func (p *Pool) Sv1Addr(ctx context.Context) (net.Addr, error) {
	return p.server.GatewayAddr(ctx, sv1.Name)
}

// CloseChannel closes one of a miner's channels from the pool's side,
// sending it CloseChannel with reason as reason_code (§5.3.9); the channel's
// pending acknowledgement goes first.
func (p *Pool) CloseChannel(ctx context.Context, client service.ClientID, channel uint32, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	mc := p.miners.client(client)
	if mc == nil {
		return fmt.Errorf("pool: %w: client %d", service.ErrNoClient, client)
	}
	done := make(chan error, 1)
	if err := p.server.HandleEvent(ctx, closing.NotifyClient(client, closeRequest{channel, reason, done})); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-mc.gone: // it left before the request was carried out
		return fmt.Errorf("pool: %w: client %d left", service.ErrNoClient, client)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a snapshot of the accounting.
func (p *Pool) Stats() Stats { return p.accounts.Snapshot(p.now()) }

// userIdle is how long a user without channels stays in the accounting.
const userIdle = time.Hour

// statsTopUsers is how many users the periodic stats line names, busiest
// first: the log stays a few lines however many users there are.
const statsTopUsers = 10

// logStats logs the pool's totals and its busiest users.
func (p *Pool) logStats(s Stats) {
	users := slices.Collect(maps.Keys(s.Users))
	slices.SortFunc(users, func(a, b string) int { return cmp.Compare(s.Users[b].Hashrate, s.Users[a].Hashrate) })
	var hashrate float64
	var accepted uint64
	for _, c := range s.Users {
		hashrate += c.Hashrate
		accepted += c.Accepted
	}
	p.log.Info("pool stats", "users", len(s.Users), "workers", len(s.Workers), "channels", len(s.Channels),
		"accepted", accepted, "hashrate_hs", hashrate, "blocks", s.Blocks)
	for _, user := range users[:min(len(users), statsTopUsers)] {
		c := s.Users[user]
		p.log.Info("user stats", "user", user, "accepted", c.Accepted, "difficulty", c.AcceptedDifficulty, "rejected", c.Rejected, "hashrate_hs", c.Hashrate, "blocks", c.Blocks)
	}
}

// tick runs vardiff and logs the accounting periodically.
func (p *Pool) tick(ctx context.Context) {
	vd := time.NewTicker(p.cfg.VardiffInterval)
	defer vd.Stop()
	st := time.NewTicker(p.cfg.StatsInterval)
	defer st.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-vd.C:
			if err := p.server.HandleEvent(ctx, retarget.NotifyAll(sv2.ProtocolMining, struct{}{})); err != nil && ctx.Err() == nil {
				p.log.Warn("vardiff", "error", err)
			}
		case <-st.C:
			p.accounts.Prune(p.now(), userIdle)
			p.logStats(p.Stats())
		}
	}
}
