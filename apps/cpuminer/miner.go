// Package cpuminer is a Stratum V2 CPU miner: a ClientService with a mining
// handler that opens standard or extended channels, follows every job and
// target rule, and hashes on all cores with a SHA-256 midstate, using the
// CPU's SHA extensions where it has them. Embed it with Run.
package cpuminer

import (
	"math"

	"github.com/stratumgo/stratum/core/monitor"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// Channel kinds.
const (
	Standard = "standard"
	Extended = "extended"
)

// Defaults for zero Config fields.
const (
	DefaultReportInterval = 10 * time.Second
	// DefaultExtranonceSize is what an extended channel asks for: enough for
	// every thread to roll its own extranonces for a very long time.
	DefaultExtranonceSize = 8
)

// Config configures a miner. Zero values take the documented defaults.
type Config struct {
	Pool         string           // the pool's host:port
	AuthorityKey *noise.PublicKey // pin the pool's authority; nil encrypts without authenticating
	Plain        bool             // no Noise (trusted LAN only)
	User         string           // user_identity, e.g. "alice.rig1" or a solo address
	ChannelKind  string           // Standard (default) or Extended
	Channels     int              // channels to open (1)
	Threads      int              // hashing goroutines (runtime.NumCPU())
	// NominalHashrate is announced when opening channels, in H/s; 0 measures it at start.
	NominalHashrate float64
	ReportInterval  time.Duration // how often the hashrate is logged (DefaultReportInterval)
	// Monitor, when set, serves the miner's dashboard, JSON API and
	// Prometheus metrics (core/monitor; its Logger defaults to the miner's).
	Monitor *monitor.Config
	Logger  *slog.Logger
}

func (c *Config) setDefaults() error {
	switch c.ChannelKind {
	case "":
		c.ChannelKind = Standard
	case Standard, Extended:
	default:
		return fmt.Errorf("cpuminer: channel kind %q: want standard or extended", c.ChannelKind)
	}
	if c.Pool == "" {
		return errors.New("cpuminer: no pool address")
	}
	if c.Channels <= 0 {
		c.Channels = 1
	}
	if c.Threads <= 0 {
		c.Threads = runtime.NumCPU()
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = DefaultReportInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats are the miner's counters.
type Stats struct {
	Hashes   uint64            // hashes computed
	Accepted uint64            // shares the pool acknowledged
	Rejected map[string]uint64 // shares the pool refused, by error code
	Blocks   uint64            // shares that met the network target
	Channels int               // channels open now
}

// Miner is a configured miner; Run mines.
type Miner struct {
	cfg    Config
	log    *slog.Logger
	client *service.ClientService
	h      *handler

	hashes   []atomic.Uint64 // per thread
	accepted atomic.Uint64
	blocks   atomic.Uint64
	seq      atomic.Uint32 // share sequence numbers, one space for all channels

	mu       sync.Mutex
	rejected map[string]uint64

	mon     *monitor.Server // Config.Monitor's, if any
	started time.Time
	rate    atomic.Uint64 // math.Float64bits of the hashrate over the last ReportInterval
}

// New checks cfg and builds the miner's client service.
func New(cfg Config) (*Miner, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Miner{cfg: cfg, log: cfg.Logger, hashes: make([]atomic.Uint64, cfg.Threads), rejected: map[string]uint64{}, started: time.Now()}
	m.h = newHandler(m)
	var err error
	m.client, err = service.NewClientService(service.ClientConfig{
		Mining:          &service.UpstreamConfig{Address: cfg.Pool, Plain: cfg.Plain, AuthorityKey: cfg.AuthorityKey, Flags: m.h.flags()},
		Vendor:          "stratumgo cpuminer",
		HardwareVersion: fmt.Sprintf("%s %d threads", runtime.GOARCH, cfg.Threads),
		Logger:          cfg.Logger,
	}, m.h, nil, nil)
	if err != nil {
		return nil, err
	}
	if m.mon, err = monitor.NewFor(cfg.Monitor, "cpuminer", cfg.Logger, time.Now, m.Status); err != nil {
		return nil, fmt.Errorf("cpuminer: %w", err)
	}
	return m, nil
}

// Run builds a miner from cfg and mines until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

// Run connects, mines and reconnects until ctx ends; it logs the hashrate
// every ReportInterval and a summary on exit.
func (m *Miner) Run(ctx context.Context) error {
	if m.cfg.NominalHashrate <= 0 {
		m.cfg.NominalHashrate = Measure(min(m.cfg.Threads, runtime.NumCPU()), 200*time.Millisecond)
		m.log.Info("measured hashrate", "hashrate_hs", m.cfg.NominalHashrate)
	}
	started := time.Now()
	runners := []service.Runner{m.client, m.mon, service.RunnerFunc(func(ctx context.Context) error { m.report(ctx); return nil })}
	for i := range m.cfg.Threads {
		runners = append(runners, service.RunnerFunc(func(ctx context.Context) error { m.work(ctx, i); return nil }))
	}
	err := service.RunAll(ctx, runners...)
	m.logSummary(started)
	return err
}

// Stats returns the counters.
func (m *Miner) Stats() Stats {
	s := Stats{Accepted: m.accepted.Load(), Blocks: m.blocks.Load(), Channels: len(m.h.channelList())}
	for i := range m.hashes {
		s.Hashes += m.hashes[i].Load()
	}
	m.mu.Lock()
	s.Rejected = make(map[string]uint64, len(m.rejected))
	for k, v := range m.rejected {
		s.Rejected[k] = v
	}
	m.mu.Unlock()
	return s
}

func (m *Miner) rejectedShare(code string) {
	m.mu.Lock()
	m.rejected[code]++
	m.mu.Unlock()
}

// submit hands a share to the client service's goroutine.
func (m *Miner) submit(ctx context.Context, msg sv2.Message) {
	if err := m.client.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolMining, Message: msg}); err != nil && ctx.Err() == nil {
		m.log.Warn("share not sent", "error", err)
	}
}

func (m *Miner) report(ctx context.Context) {
	tick := time.NewTicker(m.cfg.ReportInterval)
	defer tick.Stop()
	last := make([]uint64, len(m.hashes))
	at := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			secs := now.Sub(at).Seconds()
			var total float64
			perThread := make([]float64, len(m.hashes))
			for i := range m.hashes {
				h := m.hashes[i].Load()
				perThread[i] = float64(h-last[i]) / secs
				total += perThread[i]
				last[i] = h
			}
			at = now
			m.rate.Store(math.Float64bits(total))
			s := m.Stats()
			m.log.Info("hashrate", "hashrate_hs", total, "per_thread_hs", perThread, "accepted", s.Accepted, "rejected", s.Rejected, "blocks", s.Blocks, "channels", s.Channels)
		}
	}
}

// logSummary logs the run's totals and average hashrates, per thread and in all.
func (m *Miner) logSummary(started time.Time) {
	s := m.Stats()
	secs := max(time.Since(started).Seconds(), 1e-9)
	perThread := make([]float64, len(m.hashes))
	for i := range m.hashes {
		perThread[i] = float64(m.hashes[i].Load()) / secs
	}
	m.log.Info("miner stopped", "hashrate_hs", float64(s.Hashes)/secs, "per_thread_hs", perThread,
		"hashes", s.Hashes, "accepted", s.Accepted, "rejected", s.Rejected, "blocks", s.Blocks)
}
