// Package templateprovider serves the Stratum V2 Template Distribution
// Protocol from any node that speaks getblocktemplate and submitblock (btcd
// first, Bitcoin Core too): a ServerService with a template-distribution
// handler, fed by the node's templates and new-tip notifications.
package templateprovider

import (
	"github.com/stratumgo/stratum/core/monitor"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// Defaults for zero Config fields.
const (
	DefaultListen           = "127.0.0.1:8442"
	DefaultTemplateInterval = 10 * time.Second
	DefaultFeeDelta         = 1000 // satoshis
	startupTimeout          = 15 * time.Second
)

// Config configures a template provider. Zero values take the documented defaults.
type Config struct {
	// Listen is the address to serve on (DefaultListen); Listener, if set, is used instead.
	Listen   string
	Listener net.Listener
	// AuthorityKey signs the Noise certificates; required unless Plain.
	AuthorityKey *noise.SecretKey
	// CertValidity is how long each certificate lasts (noise default if zero).
	CertValidity time.Duration
	// Plain serves without Noise, for a client on the same machine.
	Plain bool
	// Node is how to reach the node's JSON-RPC.
	Node node.Config
	// Watch tunes new-tip detection (websocket for btcd, long-poll or polling otherwise).
	Watch node.WatchConfig
	// Network is the chain the node must be on: mainnet, testnet, testnet4,
	// signet or regtest; empty skips the check.
	Network string
	// FeeDelta is the rise in fees, in satoshis, that makes a new template on
	// the same tip worth sending (DefaultFeeDelta).
	FeeDelta int64
	// TemplateInterval is how often the node's template is checked for higher
	// fees (DefaultTemplateInterval); it bounds how often such templates go out.
	TemplateInterval time.Duration
	// MaxConnections caps client connections (service default if zero).
	MaxConnections int
	// Monitor, when set, serves the provider's dashboard, JSON API and
	// Prometheus metrics (core/monitor; its Logger defaults to the provider's).
	Monitor *monitor.Config
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.TemplateInterval <= 0 {
		c.TemplateInterval = DefaultTemplateInterval
	}
	if c.FeeDelta <= 0 {
		c.FeeDelta = DefaultFeeDelta
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrStartup wraps every error that stops Run before it serves.
var ErrStartup = errors.New("templateprovider: cannot start")

// Run serves templates until ctx ends. It first checks that the node answers,
// accepts the credentials and is on the configured network, and returns an
// error (wrapping ErrStartup) if not; after that a node that goes away is
// retried with backoff and never ends Run.
func Run(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	if !cfg.Plain && cfg.AuthorityKey == nil {
		return fmt.Errorf("%w: an authority secret key is required (or plain mode)", ErrStartup)
	}
	client, err := node.New(cfg.Node)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	defer func() { client.Close() }() // the client in use at return
	chain, err := checkNode(ctx, client, cfg.Network)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	// The node's chain decides what getblocktemplate must ask for (the
	// signet rule on signet, whether or not --network was given), so the
	// client that serves is made knowing it.
	if n, ok := network.ForChain(chain); ok && cfg.Node.Network == "" {
		cfg.Node.Network = n.Name
		client.Close()
		if client, err = node.New(cfg.Node); err != nil {
			return fmt.Errorf("%w: %w", ErrStartup, err)
		}
	}
	if cfg.AuthorityKey != nil {
		cfg.Logger.Info("authority public key (clients pin this)", "authority_pubkey", cfg.AuthorityKey.PublicKey().String())
	}
	return serve(ctx, cfg, client, client.WatchTips)
}

// watchFunc is node.Client.WatchTips, replaceable in tests.
type watchFunc func(ctx context.Context, cfg node.WatchConfig, onTip func(node.Tip)) error

// serve runs the service and the template loop with an already checked node.
func serve(ctx context.Context, cfg Config, n Node, watch watchFunc) error {
	cfg.setDefaults()
	log := cfg.Logger
	signet := cfg.Network == "signet" || cfg.Node.Network == "signet"
	p := newProvider(n, cfg.FeeDelta, signet, log.With("component", "templates"))
	scfg := service.ServerConfig{
		ListenAddress:        cfg.Listen,
		Listener:             cfg.Listener,
		Plain:                cfg.Plain,
		AuthorityKey:         cfg.AuthorityKey,
		CertificateValidity:  cfg.CertValidity,
		TemplateDistribution: &service.ProtocolConfig{},
		MaxConnections:       cfg.MaxConnections,
		Logger:               log,
	}
	srv, err := service.NewServerService(scfg, nil, nil, p)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	started := time.Now()
	mon, err := monitor.NewForServer(cfg.Monitor, "templateprovider", log, time.Now, func() monitor.Status {
		// Templates come every TemplateInterval while the node answers.
		return p.status(srv, n, started, max(3*cfg.TemplateInterval, time.Minute))
	}, srv, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	// Blocks are submitted until the server has stopped and every solution
	// its clients sent is in; then for at most submitDrain more.
	submitCtx, stopSubmitting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSubmitting()
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		p.submitter(submitCtx)
	}()
	defer func() {
		close(p.submits)
		select {
		case <-submitted:
		case <-time.After(submitDrain):
			stopSubmitting()
			<-submitted
		}
	}()
	tips := make(chan node.Tip, 1)
	return service.RunAll(ctx,
		srv, // a server that cannot listen ends the provider
		mon,
		service.RunnerFunc(func(ctx context.Context) error {
			return nonCancel(watch(ctx, cfg.Watch, func(t node.Tip) {
				// Keep only the newest: the loop fetches a fresh template anyway.
				select {
				case <-tips:
				default:
				}
				tips <- t
			}))
		}),
		service.RunnerFunc(func(ctx context.Context) error {
			templateLoop(ctx, cfg, p.node, srv, tips, p.recheck)
			return nil
		}),
	)
}

// submitDrain is how long blocks still being submitted may hold up a stop.
const submitDrain = 10 * time.Second

func nonCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// templateLoop asks the node for a template on every new tip, every
// TemplateInterval and every recheck (a block was submitted), and hands it to
// the provider's handler through the server, which sends each client what
// changed. While the node fails it asks again on a short backoff instead of
// waiting for the next of those, so that a node that answers again (after a
// restart, say) has its tip sent out at once: until then miners work on a
// tip that may be stale.
func templateLoop(ctx context.Context, cfg Config, n Node, srv *service.ServerService, tips <-chan node.Tip, recheck <-chan struct{}) {
	log := cfg.Logger
	if _, err := srv.Addr(ctx); err != nil {
		return // the server never ran: RunAll has its error
	}
	tick := time.NewTicker(cfg.TemplateInterval)
	defer tick.Stop()
	retry := retryBackoff(cfg)
	var again <-chan time.Time // set while the node is failing
	for {
		select {
		case <-ctx.Done():
			return
		case tip := <-tips:
			log.Debug("node reports a tip", "height", tip.Height, "hash", tip.Hash.String())
		case <-recheck:
			log.Debug("re-checking the tip after a submitted block")
		case <-tick.C:
		case <-again:
		}
		t, err := n.GetBlockTemplate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			delay := retry.Next()
			log.Warn("getblocktemplate failed; will retry", "error", err, "attempt", retry.Attempts(), "retry_in", delay)
			again = time.After(delay)
			continue
		}
		if failed := retry.Attempts(); failed > 0 {
			log.Info("node answers again; sending its template", "after_attempts", failed)
			retry.Reset()
		}
		again = nil
		err = srv.HandleEvent(ctx, nodeTemplates.Notify(sv2.ProtocolTemplateDistribution, t))
		if err != nil && ctx.Err() == nil {
			log.Error("building templates", "error", err)
		}
	}
}

// retryBackoff is the template loop's schedule for a failing node: the tip
// watcher's bounds (cfg.Watch, node defaults), and never slower than
// TemplateInterval.
func retryBackoff(cfg Config) backoff.Backoff {
	lo, hi := cfg.Watch.MinBackoff, cfg.Watch.MaxBackoff
	if lo <= 0 {
		lo = node.DefaultMinBackoff
	}
	if hi <= 0 {
		hi = node.DefaultMaxBackoff
	}
	return backoff.Backoff{Base: min(lo, cfg.TemplateInterval), Cap: min(hi, cfg.TemplateInterval)}
}

// checkNode makes one call so that a wrong address, bad credentials or a
// node on the wrong chain fail start-up with a clear message. It returns the
// chain the node reports.
func checkNode(ctx context.Context, c *node.Client, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	return c.CheckChain(ctx, name)
}
