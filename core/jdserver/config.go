package jdserver

import (
	"github.com/stratumgo/stratum/core/monitor"

	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
)

// Defaults for zero Config fields.
const (
	DefaultListen = "0.0.0.0:34264" // the port SRI's JDS uses
	// DefaultTokenLifetime: a JDC allocates tokens ahead and uses one per
	// template, within seconds to minutes.
	DefaultTokenLifetime = 10 * time.Minute
	// DefaultMaxTokensPerConnection bounds the unused tokens a connection
	// holds; allocating more forgets its oldest.
	DefaultMaxTokensPerConnection = 32
	DefaultTokenRate              = 2.0 // tokens per second per connection, sustained
	DefaultTokenBurst             = 16
	DefaultDeclareRate            = 2.0 // declarations per second per connection, sustained
	DefaultDeclareBurst           = 8
	// DefaultKeepJobs is how many accepted declarations a connection keeps
	// for PushSolution: the latest is the one a solution is for (§6.4.9).
	DefaultKeepJobs = 4
	// DefaultMissingTimeout is how long a declaration waits for its
	// ProvideMissingTransactions.Success.
	DefaultMissingTimeout = 30 * time.Second
	// DefaultMaxPendingDeclarations bounds declarations waiting for
	// missing transactions on one connection.
	DefaultMaxPendingDeclarations = 2
	DefaultMempoolRefresh         = 2 * time.Second
	// DefaultMaxConnections: a JDS serves a JDC per mining operation, not
	// per device; each may hold a few blocks' worth of declarations.
	DefaultMaxConnections = 1000
	// DefaultSubmitGiveUp is how long a pushed block is retried when the
	// node cannot be reached.
	DefaultSubmitGiveUp = 10 * time.Minute
)

// Mode says which job declaration modes a JDS serves (§6.3).
type Mode string

// The modes. A JDC chooses by its SetupConnection flags: DECLARE_TX_DATA
// asks for full-template mode.
const (
	ModeBoth         Mode = "both"
	ModeFullTemplate Mode = "full-template"
	ModeCoinbaseOnly Mode = "coinbase-only"
)

// ParseMode reads a Mode by name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeBoth, ModeFullTemplate, ModeCoinbaseOnly:
		return m, nil
	case "":
		return ModeBoth, nil
	}
	return "", fmt.Errorf("%w: mode %q: want both, full-template or coinbase-only", ErrConfig, s)
}

// TemplateProvider says how to reach the template provider the JDS takes
// the chain tip from.
type TemplateProvider struct {
	Address      string           // host:port
	AuthorityKey *noise.PublicKey // pin it; nil encrypts without authenticating
	Plain        bool             // no Noise: the provider runs on this machine
}

// Config configures a JDS. Zero values take the documented defaults.
type Config struct {
	Listen   string       // JDCs connect here (DefaultListen)
	Listener net.Listener // used instead of Listen when set
	// AuthorityKey signs the Noise certificates and every token; the pool
	// checks tokens with its public key. Required.
	AuthorityKey *noise.SecretKey
	CertValidity time.Duration // noise's default if zero
	Plain        bool          // serve JDCs without Noise (tokens are signed all the same)

	Network          string      // the chain the node must be on; empty skips the check
	Node             node.Config // mempool look-ups, block proposals, submitblock
	TemplateProvider TemplateProvider
	// PayoutScript is the pool payout output's locking script, the first
	// output of every AllocateMiningJobToken.Success (§6.4.3). Required.
	PayoutScript []byte
	Mode         Mode // ModeBoth if empty

	TokenLifetime          time.Duration // DefaultTokenLifetime
	MaxTokensPerConnection int           // DefaultMaxTokensPerConnection
	TokenRate              float64       // DefaultTokenRate
	TokenBurst             int           // DefaultTokenBurst
	DeclareRate            float64       // DefaultDeclareRate
	DeclareBurst           int           // DefaultDeclareBurst
	KeepJobs               int           // DefaultKeepJobs
	MaxPendingDeclarations int           // DefaultMaxPendingDeclarations
	MissingTimeout         time.Duration // DefaultMissingTimeout
	MempoolRefresh         time.Duration // how often the mempool index follows the node (DefaultMempoolRefresh)
	MempoolMaxBytes        int64         // the index's bound (core/node's default if zero)
	SubmitGiveUp           time.Duration // DefaultSubmitGiveUp
	MaxConnections         int           // JDC connections at once (DefaultMaxConnections)

	// Monitor, when set, serves the JDS's dashboard, JSON API and
	// Prometheus metrics (core/monitor; its Logger defaults to the JDS's).
	// A pool running its JDS in-process serves its figures in its own.
	Monitor *monitor.Config
	Logger  *slog.Logger
	Now     func() time.Time // the clock for token expiry (time.Now)
}

// ErrConfig wraps configuration errors.
var ErrConfig = errors.New("jdserver: invalid configuration")

func (c *Config) setDefaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	var err error
	if c.Mode, err = ParseMode(string(c.Mode)); err != nil {
		return err
	}
	setDefault(&c.TokenLifetime, DefaultTokenLifetime)
	setDefault(&c.MaxTokensPerConnection, DefaultMaxTokensPerConnection)
	setDefault(&c.TokenRate, DefaultTokenRate)
	setDefault(&c.TokenBurst, DefaultTokenBurst)
	setDefault(&c.DeclareRate, DefaultDeclareRate)
	setDefault(&c.DeclareBurst, DefaultDeclareBurst)
	setDefault(&c.KeepJobs, DefaultKeepJobs)
	setDefault(&c.MaxPendingDeclarations, DefaultMaxPendingDeclarations)
	setDefault(&c.MissingTimeout, DefaultMissingTimeout)
	setDefault(&c.MempoolRefresh, DefaultMempoolRefresh)
	setDefault(&c.SubmitGiveUp, DefaultSubmitGiveUp)
	setDefault(&c.MaxConnections, DefaultMaxConnections)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.AuthorityKey == nil:
		return fmt.Errorf("%w: an authority secret key is required: it signs the tokens", ErrConfig)
	case len(c.PayoutScript) == 0:
		return fmt.Errorf("%w: no pool payout script", ErrConfig)
	case len(c.PayoutScript) > 10_000:
		return fmt.Errorf("%w: a payout script of %d bytes", ErrConfig, len(c.PayoutScript))
	case c.TemplateProvider.Address == "":
		return fmt.Errorf("%w: no template provider address", ErrConfig)
	}
	if err := c.Node.Validate(); err != nil {
		return fmt.Errorf("%w: node: %w", ErrConfig, err)
	}
	return nil
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
