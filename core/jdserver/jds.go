// Package jdserver is a Stratum V2 Job Declarator Server (JDS): it grants the tokens
// with which miners' job declarator clients (JDCs) declare the jobs they
// choose, judges full-template declarations by asking the node itself (a
// BIP 23 block proposal over plain RPC, on btcd or an unpatched Bitcoin
// Core), serves coinbase-only mode too, and submits the blocks JDCs push.
//
// Its tokens are signed with its authority key (core/jdtoken), so a pool
// that pins that key checks each SetCustomMiningJob on its own, sharing no
// memory with the JDS: it may run on another machine, or inside the pool
// (sv2-pool --jds-listen). apps/jds runs it on its own as sv2-jds.
//
// It is a job-declaration server service with a template-distribution
// client as its sibling, from which it takes the chain tip a declared job
// must build on, plus a wtxid index of the node's mempool.
//
// Per connection it keeps at most MaxTokensPerConnection unused tokens,
// MaxPendingDeclarations declarations waiting for transactions and
// KeepJobs accepted ones, each holding at most one block's transactions
// (those found in the mempool are shared with its index, the provided ones
// are the connection's own, under 4 MB per declaration); a frame is at
// most maxFrame bytes.
package jdserver

import (
	"github.com/stratumgo/stratum/core/monitor"

	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

// maxFrame fits a ProvideMissingTransactions.Success of a whole block's
// transactions (4 MB at most) with its framing.
const maxFrame = 4_200_000

// startupTimeout bounds the first question to the node.
const startupTimeout = 15 * time.Second

// JDS is a configured job declarator server; Run serves it.
type JDS struct {
	cfg     Config
	log     *slog.Logger
	client  *node.Client
	mempool *node.Mempool
	d       *declarator
	server  *service.ServerService
	tp      *service.ClientService
	tpc     *tpclient.Handler
	mon     *monitor.Server // Config.Monitor's, if any
	started time.Time
}

// New checks cfg and builds the JDS's services; it does not contact the node.
func New(cfg Config) (*JDS, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	var params *chaincfg.Params // from the node's chain in Run when not configured
	if cfg.Network != "" {
		p, err := network.Params(cfg.Network)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		params = p
	}
	client, err := node.New(cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("%w: node: %w", ErrConfig, err)
	}
	log := cfg.Logger
	mp := node.NewMempool(client, node.MempoolConfig{MaxBytes: cfg.MempoolMaxBytes, Logger: log.With("component", "mempool")})
	d := &declarator{
		cfg: cfg, log: log.With("side", "jdc"), key: *cfg.AuthorityKey, pub: cfg.AuthorityKey.PublicKey(),
		outputs: payoutOutputs(cfg.PayoutScript), chain: newChain(), node: client, mempool: mp,
		blocks: &pushed{node: client, log: log.With("component", "blocks"), giveUp: cfg.SubmitGiveUp, inFlight: map[chainhash.Hash]bool{}},
		stats:  &counters{},
	}
	d.params.Store(params)
	j := &JDS{cfg: cfg, log: log, client: client, mempool: mp, d: d, started: time.Now()}
	srv, io, err := service.NewServerServiceWithSibling(service.ServerConfig{
		ListenAddress: cfg.Listen, Listener: cfg.Listener, Plain: cfg.Plain,
		AuthorityKey: cfg.AuthorityKey, CertificateValidity: cfg.CertValidity,
		JobDeclaration: &service.ProtocolConfig{}, MaxConnections: cfg.MaxConnections,
		MaxFrameSize: maxFrame, Logger: log.With("side", "jdc"),
	}, nil, d, nil)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	tp := cfg.TemplateProvider
	j.tpc = newTemplates(log, d, cfg.Now)
	tpc, err := service.NewClientServiceFromSibling(service.ClientConfig{
		TemplateDistribution: &service.UpstreamConfig{Address: tp.Address, Plain: tp.Plain, AuthorityKey: tp.AuthorityKey},
		Vendor:               "stratumgo jds",
		Logger:               log.With("side", "template-provider"),
	}, nil, nil, j.tpc, io)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	j.server, j.tp = srv, tpc
	if err := j.newMonitor(); err != nil {
		client.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return j, nil
}

// newTemplates is the JDS's template-distribution client: it mines nothing
// and states the one output a pool would add; templates and tips go to the
// declarator.
func newTemplates(log *slog.Logger, d *declarator, now func() time.Time) *tpclient.Handler {
	return tpclient.New(tpclient.Config{
		Now: now,
		// The JDS mines nothing; it states the one output a pool would add.
		Constraints: sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: uint32(len(d.outputs))},
		Logger:      log.With("side", "template-provider"),
		OnTemplate: func(_ context.Context, m *sv2.NewTemplate) []service.ClientEvent {
			return toServer(templates.Notify(sv2.ProtocolJobDeclaration, m))
		},
		OnPrevHash: func(_ context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
			return toServer(prevHashes.Notify(sv2.ProtocolJobDeclaration, m))
		},
	})
}

func toServer(e service.ServerEvent) []service.ClientEvent {
	return []service.ClientEvent{service.SendEventToSiblingServerService{Event: e}}
}

// Run builds a JDS from cfg and serves it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	j, err := New(cfg)
	if err != nil {
		return err
	}
	return j.Run(ctx)
}

// Run checks that the node answers and is on the configured network, then
// serves JDCs until ctx ends or a service fails. It returns after
// everything it started has stopped, pushed blocks still being submitted
// given up to submitDrain to finish.
func (j *JDS) Run(ctx context.Context) error {
	defer j.client.Close()
	sctx, cancel := context.WithTimeout(ctx, startupTimeout)
	chain, err := j.client.CheckChain(sctx, j.cfg.Network)
	cancel()
	if err != nil {
		return fmt.Errorf("jdserver: cannot start: %w", err)
	}
	if j.d.params.Load() == nil { // no network configured: the node's decides the subsidy
		n, ok := network.ForChain(chain)
		if !ok {
			return fmt.Errorf("jdserver: cannot start: the node is on chain %q, which has no known parameters: set the network", chain)
		}
		p, _ := network.Params(n.Name)
		j.d.params.Store(p)
	}
	j.log.Info("authority public key (pools and JDCs pin this)", "authority_pubkey", j.d.pub.String())

	pctx, stopPushing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPushing()
	j.d.blocks.mu.Lock()
	j.d.blocks.ctx = pctx
	j.d.blocks.mu.Unlock()
	err = service.RunAll(ctx, j.server, j.tp, j.mon,
		service.RunnerFunc(func(ctx context.Context) error {
			if addr, err := j.server.Addr(ctx); err == nil {
				j.log.Info("jds listening", "address", addr.String(), "mode", string(j.cfg.Mode), "network", j.cfg.Network)
			}
			return nil
		}),
		service.RunnerFunc(j.followMempool),
		service.RunnerFunc(j.sweep),
	)
	done := make(chan struct{})
	go func() { j.d.blocks.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(submitDrain):
		j.log.Error("stopping with pushed blocks still being submitted")
		stopPushing()
		<-done
	}
	return err
}

// submitDrain is how long Run waits at shutdown for pushed blocks.
const submitDrain = 10 * time.Second

// followMempool keeps the mempool index close to the node's, so that a
// declaration finds its transactions without waiting for a refresh.
func (j *JDS) followMempool(ctx context.Context) error {
	t := time.NewTicker(j.cfg.MempoolRefresh)
	defer t.Stop()
	for {
		if err := j.mempool.Refresh(ctx); err != nil && ctx.Err() == nil {
			j.log.Warn("mempool refresh", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweep expires clients' unused tokens and waiting declarations.
func (j *JDS) sweep(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := j.server.HandleEvent(ctx, service.NotifyAll{Protocol: sv2.ProtocolJobDeclaration, Payload: sweep{}}); err != nil && ctx.Err() == nil {
				j.log.Warn("sweep", "error", err)
			}
		}
	}
}

// Addr waits until the JDS listens and returns its address.
func (j *JDS) Addr(ctx context.Context) (net.Addr, error) { return j.server.Addr(ctx) }

// PublicKey is the authority key pools and JDCs pin: it signs tokens and
// the Noise certificates.
func (j *JDS) PublicKey() noise.PublicKey { return j.d.pub }

// Stats returns what the JDS has done so far.
func (j *JDS) Stats() Stats {
	s := j.d.stats.snapshot()
	b := j.d.blocks
	b.mu.Lock()
	s.Submitted, s.NodeAccepted, s.NodeRefused, s.Undelivered = b.submitted, b.accepted, b.refused, b.undelivered
	b.mu.Unlock()
	return s
}
