// Package proxy is a Stratum V2 mining proxy: a farm's devices connect to
// it, and it mines for them through an upstream pool (or another proxy, or
// a job declarator client) over a few upstream channels, so the pool sees
// one connection and one user while every device still gets its own work
// and difficulty.
//
// It is the framework's first pair of siblings: a mining server for the
// devices and a mining client for the upstream. Each upstream extended
// channel is a lane: its jobs are laid out for the devices on it by a
// mining.Server of their own (Server.NewUpstreamJob), each device channel
// in an extranonce sub-range of the upstream channel's (a channel index of
// ChannelIndexSize bytes after the upstream's prefix), so nested proxies divide
// the space again and no two channels ever hash the same coinbase. Device
// shares are checked and acknowledged here, each channel with its own
// vardiff; those that meet the upstream channel's target go up.
//
// Failover: an ordered list of upstreams. A lost or refused connection
// counts as a failure; after Attempts of them the next upstream is tried.
// The devices keep their connections and channels across every switch (the
// upstream's prefix goes in each job's coinbase, not in the devices'
// extranonce) and get the new upstream's jobs as soon as it sends them.
// While mining through another, the first upstream is probed every
// PrimaryProbe and used again once it answers.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/core/sv2"
)

// Proxy is a configured mining proxy; Run serves it.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	up      *upstream
	dev     *devices
	server  *service.ServerService
	client  *service.ClientService
	readyCh chan struct{}
	once    sync.Once
	mon     *monitor.Server // Config.Monitor's, if any
	now     func() time.Time
	started time.Time

	runMu  sync.Mutex
	runCtx context.Context // Run's, for delayed events; nil outside Run
}

// New checks cfg and builds the proxy's services.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, readyCh: make(chan struct{}), now: time.Now, started: time.Now()}
	p.up = newUpstream(p)
	p.dev = newDevices(p)
	gateways, err := sv1.Gateways(cfg.Sv1, cfg.SharesPerMinute, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	srv, io, err := service.NewServerServiceWithSibling(service.ServerConfig{
		Gateways: gateways, ListenAddress: cfg.Listen, Listener: cfg.Listener, Plain: cfg.Plain,
		AuthorityKey: cfg.AuthorityKey, CertificateValidity: cfg.CertValidity,
		Mining: &service.ProtocolConfig{}, MaxConnections: cfg.MaxConnections, MaxFrameSize: 1 << 16,
		SiblingQueue: 1 << 16, Logger: p.log.With("side", "devices"),
	}, p.dev, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	first := cfg.Upstreams[0]
	cli, err := service.NewClientServiceFromSibling(service.ClientConfig{
		Mining: &service.UpstreamConfig{Address: first.Address, AuthorityKey: first.AuthorityKey, Plain: first.Plain},
		Vendor: "stratumgo proxy",
		Logger: p.log.With("side", "upstream"),
	}, &poolSide{u: p.up}, nil, nil, io)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	p.server, p.client = srv, cli
	if err := p.newMonitor(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return p, nil
}

// Run builds a proxy from cfg and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	p, err := New(cfg)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// Run connects upstream and, once the first upstream channel is open,
// serves devices, until ctx ends or a service fails; it returns after
// everything it started has stopped.
func (p *Proxy) Run(ctx context.Context) error {
	p.runMu.Lock()
	p.runCtx = ctx
	p.runMu.Unlock()
	return service.RunAll(ctx, p.client, p.mon,
		service.RunWhenReady(p.readyCh, p.server),
		service.RunnerFunc(p.tick),
	)
}

// Stats counts what the proxy did since it started.
type Stats struct {
	SharesUp   uint64 // device shares passed upstream
	UpAccepted uint64 // of those, acknowledged by the upstream
	UpRefused  uint64 // refused by the upstream
	UpStale    uint64 // of those, as stale: on their way as a new block arrived
	Dropped    uint64 // shares of work of an upstream connection that ended
	Jobs       uint64 // upstream jobs received
	Switches   uint64 // moves to another upstream
	Upstream   int    // the upstream in use (or tried), from 0
	Connected  bool   // to it
	Devices    int    // device connections now
	Removed    uint64 // device connections that ended
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	c := &p.up.stats
	return Stats{SharesUp: c.sharesUp.Load(), UpAccepted: c.upAccepted.Load(), UpRefused: c.upRefused.Load(), UpStale: c.upStale.Load(),
		Dropped: c.dropped.Load(), Jobs: c.jobs.Load(), Switches: c.switches.Load(), Upstream: int(c.upstream.Load()),
		Connected: c.connected.Load(), Devices: int(p.dev.connected.Load()), Removed: uint64(p.dev.removed.Load())}
}

// notifyUpstream hands payload to the upstream side's HandleEvent, unless
// Run has ended.
func (p *Proxy) notifyUpstream(payload any) {
	if ctx := p.runContext(); ctx != nil && ctx.Err() == nil {
		p.client.HandleEvent(ctx, service.Notify{Protocol: sv2.ProtocolMining, Payload: payload}) //nolint:errcheck // only fails once Run ends
	}
}

// after hands payload to the upstream side after d.
func (p *Proxy) after(d time.Duration, payload any) {
	time.AfterFunc(d, func() { p.notifyUpstream(payload) })
}

// runContext is Run's context, nil outside Run.
func (p *Proxy) runContext() context.Context {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	return p.runCtx
}

// stopping reports whether Run's context has ended.
func (p *Proxy) stopping() bool {
	ctx := p.runContext()
	return ctx != nil && ctx.Err() != nil
}

func (p *Proxy) markReady() { p.once.Do(func() { close(p.readyCh) }) }

// Ready is closed once devices may connect: the first upstream channel is open.
func (p *Proxy) Ready() <-chan struct{} { return p.readyCh }

// Addr waits until the proxy serves devices and returns its address.
func (p *Proxy) Addr(ctx context.Context) (net.Addr, error) { return p.server.Addr(ctx) }

// Sv1Addr returns the address Stratum V1 devices connect to (Config.Sv1),
// once the proxy listens for devices.
func (p *Proxy) Sv1Addr(ctx context.Context) (net.Addr, error) {
	return p.server.GatewayAddr(ctx, sv1.Name)
}

// tick retargets the devices' channels every VardiffInterval and tells the
// upstream of their hashrate every HashrateDebounce, when it changed.
func (p *Proxy) tick(ctx context.Context) error {
	vd := time.NewTicker(p.cfg.VardiffInterval)
	defer vd.Stop()
	hr := time.NewTicker(p.cfg.HashrateDebounce)
	defer hr.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-vd.C:
			select {
			case <-p.readyCh:
			default:
				continue
			}
			if err := p.server.HandleEvent(ctx, retarget.NotifyAll(sv2.ProtocolMining, struct{}{})); err != nil && ctx.Err() == nil {
				p.log.Warn("vardiff", "error", err)
			}
		case <-hr.C:
			p.notifyUpstream(p.dev.totals())
		}
	}
}
