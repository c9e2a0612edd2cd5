package jdc

import (
	"github.com/stratumgo/stratum/core/monitor"

	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv1"
)

// Defaults for zero Config fields.
const (
	DefaultListen          = "0.0.0.0:34255"
	DefaultSharesPerMinute = 6
	DefaultVardiffInterval = 30 * time.Second
	// DefaultTokensAhead is how many tokens are kept allocated, so that a
	// new template never waits for one.
	DefaultTokensAhead = 2
	// DefaultMaxPendingShares bounds the shares kept for jobs the pool has
	// not acknowledged yet (optimistic mining, §6.3), over all jobs.
	DefaultMaxPendingShares = 4096
	// DefaultUpstreamHashrate is the nominal hashrate the upstream channel
	// declares (hashes per second) until devices say more.
	DefaultUpstreamHashrate = 1e12
	// DefaultMaxChannelsPerConnection leaves room for a proxy in front of
	// many devices, and for 64 such connections.
	DefaultMaxChannelsPerConnection = 1024
	// DefaultMaxChannelsPerSource is an eighth of the 65,536 extranonce
	// indexes: a farm behind one address raises it.
	DefaultMaxChannelsPerSource = 8192
	// DefaultAttempts is how many failures a pool + JDS pair gets before the
	// next one (or solo mining) is tried.
	DefaultAttempts = 3
	// DefaultTokenTimeout is how long the JDS has to grant a token.
	DefaultTokenTimeout = 5 * time.Second
)

// Mode is how jobs are declared (§6.3).
type Mode string

// The modes.
const (
	// ModeFullTemplate declares every template's transactions to the JDS.
	ModeFullTemplate Mode = "full-template"
	// ModeCoinbaseOnly shows the pool the coinbase alone.
	ModeCoinbaseOnly Mode = "coinbase-only"
)

// ParseMode reads a Mode by name; empty is ModeFullTemplate.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeFullTemplate, ModeCoinbaseOnly:
		return m, nil
	case "":
		return ModeFullTemplate, nil
	}
	return "", fmt.Errorf("%w: mode %q: want full-template or coinbase-only", ErrConfig, s)
}

// Server is an upstream reached over Noise, or plainly on a trusted link.
type Server struct {
	Address      string           // host:port
	AuthorityKey *noise.PublicKey // pin it; nil encrypts without authenticating
	Plain        bool
}

// Upstream is a pool and the JDS whose tokens it takes.
type Upstream struct {
	Pool, JDS Server
}

// Config configures a JDC. Zero values take the documented defaults.
type Config struct {
	Listen       string       // devices connect here (DefaultListen)
	Listener     net.Listener // used instead of Listen when set
	AuthorityKey *noise.SecretKey
	CertValidity time.Duration
	Plain        bool // serve devices without Noise
	// Sv1, when set, also serves Stratum V1 devices on its address, each
	// on a device channel like any other, mining the JDC's own templates
	// (its SharesPerMinute defaults to the JDC's).
	Sv1 *sv1.Config

	// TemplateProvider is the miner's own: the templates mined are its.
	TemplateProvider Server
	// Upstreams are the pools and their JDSs, in order of preference: on
	// failure the next is tried, and after the last, solo mining.
	Upstreams []Upstream
	// SoloPayout is the output script a block pays in full when no upstream
	// can be used; without it the JDC keeps trying the upstreams.
	SoloPayout []byte
	// Attempts is how many failures a pair gets before the next
	// (DefaultAttempts); TokenTimeout how long its JDS has to grant a token
	// (DefaultTokenTimeout).
	Attempts     int
	TokenTimeout time.Duration
	Mode         Mode   // ModeFullTemplate if empty
	User         string // the identity declared to the JDS and the pool (required)
	// CoinbaseTag is pushed in every coinbase scriptSig, e.g. "/my farm/".
	CoinbaseTag string

	SharesPerMinute float64 // downstream vardiff aim (DefaultSharesPerMinute)
	// MinShareDifficulty is the easiest device share taken
	// (mining.DefaultMinShareDifficulty if zero; negative: none).
	MinShareDifficulty float64
	VardiffInterval    time.Duration // DefaultVardiffInterval
	TokensAhead        int           // DefaultTokensAhead
	MaxPendingShares   int           // DefaultMaxPendingShares
	UpstreamHashrate   float32       // DefaultUpstreamHashrate
	MaxConnections     int           // device connections at once (the service default if zero)
	// MaxChannelsPerConnection caps the channels one device connection
	// opens (DefaultMaxChannelsPerConnection): the JDC's 65,536 extranonce
	// indexes are shared by all its devices.
	MaxChannelsPerConnection int
	// MaxChannelsPerSource caps the channels of all the connections of one
	// IP address (DefaultMaxChannelsPerSource), so that one host cannot take
	// every extranonce index from the rest.
	MaxChannelsPerSource int

	// Monitor, when set, serves the JDC's dashboard, JSON API and
	// Prometheus metrics (core/monitor; its Logger defaults to the JDC's).
	Monitor *monitor.Config
	Logger  *slog.Logger
}

// MaxCoinbaseTag is the longest CoinbaseTag.
const MaxCoinbaseTag = 32

// ErrConfig wraps configuration errors.
var ErrConfig = errors.New("jdc: invalid configuration")

func (c *Config) setDefaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	var err error
	if c.Mode, err = ParseMode(string(c.Mode)); err != nil {
		return err
	}
	if c.SharesPerMinute <= 0 {
		c.SharesPerMinute = DefaultSharesPerMinute
	}
	if c.VardiffInterval <= 0 {
		c.VardiffInterval = DefaultVardiffInterval
	}
	if c.TokensAhead <= 0 {
		c.TokensAhead = DefaultTokensAhead
	}
	if c.MaxPendingShares <= 0 {
		c.MaxPendingShares = DefaultMaxPendingShares
	}
	if c.UpstreamHashrate <= 0 {
		c.UpstreamHashrate = DefaultUpstreamHashrate
	}
	if c.MaxChannelsPerConnection <= 0 {
		c.MaxChannelsPerConnection = DefaultMaxChannelsPerConnection
	}
	if c.MaxChannelsPerSource <= 0 {
		c.MaxChannelsPerSource = DefaultMaxChannelsPerSource
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.TokenTimeout <= 0 {
		c.TokenTimeout = DefaultTokenTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case !c.Plain && c.AuthorityKey == nil:
		return fmt.Errorf("%w: an authority secret key is required (or plain mode)", ErrConfig)
	case c.TemplateProvider.Address == "":
		return fmt.Errorf("%w: no template provider address", ErrConfig)
	case len(c.Upstreams) == 0:
		return fmt.Errorf("%w: no upstream pool and JDS", ErrConfig)
	case c.User == "":
		return fmt.Errorf("%w: no user identity", ErrConfig)
	case len(c.CoinbaseTag) > MaxCoinbaseTag:
		return fmt.Errorf("%w: a coinbase tag of %d bytes; at most %d", ErrConfig, len(c.CoinbaseTag), MaxCoinbaseTag)
	}
	for i, u := range c.Upstreams {
		if u.Pool.Address == "" || u.JDS.Address == "" {
			return fmt.Errorf("%w: upstream %d needs a pool and a JDS address", ErrConfig, i+1)
		}
	}
	return nil
}
