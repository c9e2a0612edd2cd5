// Package jdc is a Stratum V2 Job Declarator Client: the miner's side of
// Job Declaration. It takes templates from the miner's own template
// provider, declares them to the pool's job declarator server (full
// template) or shows the pool their coinbase alone (coinbase-only), and
// mines them through the pool, which only keeps the accounts.
//
// It is the framework's three-way composition: a mining server for the
// miner's devices and, as its sibling, a client service speaking Mining to
// the pool, Job Declaration to the JDS and Template Distribution to the
// provider. One extended channel upstream carries every device channel
// (standard, extended, group) through extranonce sub-ranges; each device
// channel has its own difficulty; the shares that meet the pool's target
// go up. Mining is optimistic (§6.3): a template's jobs go to the devices
// at once, and their shares wait for the pool's SetCustomMiningJob.Success.
// A block goes out three ways: SubmitSolution to the provider (retried by
// core/submit), PushSolution to the JDS, and the share to the pool.
//
// Fallback: an ordered list of pool + JDS pairs. A lost or refused
// connection, a token that does not come, a refused job or refused shares
// of an acknowledged job count as failures; after Attempts of them the next
// pair is tried, after the last, solo mining (SoloPayout), during which the
// pairs are tried again and the first that answers takes the devices back.
// The devices keep their channels across every switch: their extranonce is
// the JDC's own, and the upstream's goes in each coinbase's lead.
package jdc

import (
	"github.com/stratumgo/stratum/core/accounting"
	"github.com/stratumgo/stratum/core/monitor"

	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/submit"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

// JDC is a configured job declarator client; Run serves it.
type JDC struct {
	cfg     Config
	log     *slog.Logger
	up      *upstream
	dev     *devices
	server  *service.ServerService
	client  *service.ClientService
	tp      *tpclient.Handler
	blocks  *submit.Queue
	readyCh chan struct{}
	once    sync.Once
	mon     *monitor.Server // Config.Monitor's, if any
	now     func() time.Time
	started time.Time

	runMu  sync.Mutex
	runCtx context.Context // Run's, for delayed events; nil outside Run
}

// New checks cfg and builds the JDC's services.
func New(cfg Config) (*JDC, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	j := &JDC{cfg: cfg, log: cfg.Logger, readyCh: make(chan struct{}), now: time.Now, started: time.Now()}
	j.up = newUpstream(j)
	// The devices' extranonce is the JDC's own (see deviceFull); until an
	// upstream or solo mining says whom to pay, the listener waits, so the
	// placeholder output pays nobody.
	alloc, err := extranonce.New(extranonce.Config{IndexSize: indexSize, RollableSize: deviceRollable})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	vd := vardiff.Config{SharesPerMinute: cfg.SharesPerMinute}
	ms, err := mining.NewServer(mining.ServerConfig{
		Coinbase:   coinbase.Config{Outputs: []*wire.TxOut{{PkScript: []byte{txscript.OP_RETURN}}}, Tag: []byte(cfg.CoinbaseTag)},
		Extranonce: alloc, SharesPerMinute: cfg.SharesPerMinute, Vardiff: &vd, MinShareDifficulty: cfg.MinShareDifficulty,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	j.dev = &devices{j: j, srv: ms, byConn: map[*mining.Conn]service.ClientID{}, bySource: map[string]int{}, accounts: accounting.New(accounting.Config{})}
	u := j.up
	j.tp = tpclient.New(tpclient.Config{
		// Room for the pool's outputs, whatever the JDS names: a payout
		// script is at most 43 bytes serialized (P2TR, P2WSH).
		Constraints:       sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 64, CoinbaseOutputMaxAdditionalSigops: 4},
		FetchTransactions: cfg.Mode == ModeFullTemplate,
		Logger:            j.log.With("side", "template-provider"),
		OnConnected: func(context.Context, service.ServerInfo) []service.ClientEvent {
			j.blocks.Connected()
			return nil
		},
		OnTemplate: func(_ context.Context, m *sv2.NewTemplate) []service.ClientEvent { return u.onTemplate(m) },
		OnPrevHash: func(_ context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
			j.blocks.OnTip(m.PrevHash)
			return u.onPrevHash(m)
		},
		OnTransactions: func(_ context.Context, id uint64, txs [][]byte) []service.ClientEvent {
			return u.onTransactions(id, txs)
		},
	})
	gateways, err := sv1.Gateways(cfg.Sv1, cfg.SharesPerMinute, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	srv, io, err := service.NewServerServiceWithSibling(service.ServerConfig{
		Gateways: gateways, ListenAddress: cfg.Listen, Listener: cfg.Listener, Plain: cfg.Plain,
		AuthorityKey: cfg.AuthorityKey, CertificateValidity: cfg.CertValidity,
		Mining: &service.ProtocolConfig{}, MaxConnections: cfg.MaxConnections, MaxFrameSize: 1 << 16,
		SiblingQueue: 1 << 16, Logger: j.log.With("side", "devices"),
	}, j.dev, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	up := cfg.Upstreams[0]
	tp := cfg.TemplateProvider
	cli, err := service.NewClientServiceFromSibling(service.ClientConfig{
		Mining:               &service.UpstreamConfig{Address: up.Pool.Address, AuthorityKey: up.Pool.AuthorityKey, Plain: up.Pool.Plain, Flags: mining.FlagRequiresWorkSelection},
		JobDeclaration:       &service.UpstreamConfig{Address: up.JDS.Address, AuthorityKey: up.JDS.AuthorityKey, Plain: up.JDS.Plain, Flags: cfg.jdFlags()},
		TemplateDistribution: &service.UpstreamConfig{Address: tp.Address, AuthorityKey: tp.AuthorityKey, Plain: tp.Plain},
		Vendor:               "stratumgo jdc",
		Logger:               j.log.With("side", "upstream"),
	}, &poolSide{u: u}, &jdsSide{u: u}, j.tp, io)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	j.server, j.client = srv, cli
	if j.blocks, err = submit.New(submit.Config{
		SendSolution: func(ctx context.Context, m *sv2.SubmitSolution) error {
			return cli.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: m})
		},
		Logger: j.log.With("component", "blocks"),
	}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := j.newMonitor(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return j, nil
}

// Run builds a JDC from cfg and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	j, err := New(cfg)
	if err != nil {
		return err
	}
	return j.Run(ctx)
}

// Run connects upstream and, once the pool's channel and the JDS's outputs
// are known, serves devices, until ctx ends or a service fails; it returns
// after everything it started has stopped.
func (j *JDC) Run(ctx context.Context) error {
	j.runMu.Lock()
	j.runCtx = ctx
	j.runMu.Unlock()
	return service.RunAll(ctx, j.client, j.mon,
		service.RunWhenReady(j.readyCh, j.server),
		service.RunnerFunc(func(ctx context.Context) error { return j.blocks.Run(ctx) }),
		service.RunnerFunc(j.tick),
	)
}

// Stats counts what the JDC did since it started.
type Stats struct {
	Declared    uint64 // templates declared to the JDS
	JobsAcked   uint64 // custom jobs the pool took
	JobsRefused uint64 // by the JDS or the pool
	SharesUp    uint64 // shares passed to the pool
	Optimistic  uint64 // of those, made before their job's acknowledgement
	Dropped     uint64 // shares of refused or stale jobs, or over MaxPendingShares
	PoolRefused uint64 // shares the pool refused
	StaleShares uint64 // of those, as stale: on their way as a new block arrived
	Switches    uint64 // moves between pooled and solo mining
	Solo        bool   // mining solo now
	Upstream    int    // the upstream in use (or tried), from 0
	Blocks      submit.Counts
}

// Stats returns the JDC's counters.
func (j *JDC) Stats() Stats {
	c := &j.up.stats
	return Stats{Declared: c.declared.Load(), JobsAcked: c.jobsAcked.Load(), JobsRefused: c.jobsRefused.Load(),
		SharesUp: c.sharesUp.Load(), Optimistic: c.optimistic.Load(), Dropped: c.dropped.Load(),
		PoolRefused: c.poolRefused.Load(), StaleShares: c.poolStale.Load(), Switches: c.switches.Load(), Solo: c.mode.Load() == int32(modeSolo),
		Upstream: int(c.upstream.Load()), Blocks: j.blocks.Counts()}
}

// after hands payload to the JDS side's HandleEvent after d, unless Run
// has ended.
func (j *JDC) after(d time.Duration, payload any) {
	ctx := j.runContext()
	if ctx == nil {
		return
	}
	time.AfterFunc(d, func() {
		if ctx.Err() == nil {
			j.client.HandleEvent(ctx, service.Notify{Protocol: sv2.ProtocolJobDeclaration, Payload: payload})
		}
	})
}

// runContext is Run's context, nil outside Run.
func (j *JDC) runContext() context.Context {
	j.runMu.Lock()
	defer j.runMu.Unlock()
	return j.runCtx
}

func (j *JDC) markReady() { j.once.Do(func() { close(j.readyCh) }) }

// Ready is closed once devices may connect.
func (j *JDC) Ready() <-chan struct{} { return j.readyCh }

// Addr waits until the JDC serves devices and returns its address.
func (j *JDC) Addr(ctx context.Context) (net.Addr, error) { return j.server.Addr(ctx) }

// Sv1Addr returns the address Stratum V1 devices connect to (Config.Sv1),
// once the JDC listens for devices.
func (j *JDC) Sv1Addr(ctx context.Context) (net.Addr, error) {
	return j.server.GatewayAddr(ctx, sv1.Name)
}

// tick retargets the devices' channels.
func (j *JDC) tick(ctx context.Context) error {
	t := time.NewTicker(j.cfg.VardiffInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			select {
			case <-j.readyCh:
			default:
				continue
			}
			if err := j.server.HandleEvent(ctx, retarget.NotifyAll(sv2.ProtocolMining, struct{}{})); err != nil && ctx.Err() == nil {
				j.log.Warn("vardiff", "error", err)
			}
		}
	}
}

// jdFlags asks the JDS for full-template mode (DECLARE_TX_DATA) or not.
func (c *Config) jdFlags() uint32 {
	if c.Mode == ModeFullTemplate {
		return jdserver.FlagDeclareTxData
	}
	return 0
}
