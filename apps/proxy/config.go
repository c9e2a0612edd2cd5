package proxy

import (
	"github.com/stratumgo/stratum/core/monitor"

	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv1"
)

// Defaults for zero Config fields.
const (
	DefaultListen          = "0.0.0.0:34254"
	DefaultSharesPerMinute = 6
	DefaultVardiffInterval = 30 * time.Second
	// DefaultUpstreamChannels is one upstream channel for every device.
	DefaultUpstreamChannels = 1
	// DefaultMaxUpstreamChannels bounds --upstream-channels.
	DefaultMaxUpstreamChannels = 64
	// DefaultUpstreamHashrate is what the upstream channel declares
	// (hashes per second) until the devices have declared theirs.
	DefaultUpstreamHashrate = 1e9
	// DefaultHashrateDebounce is how long the devices' total nominal
	// hashrate must have changed before UpdateChannel tells the upstream.
	DefaultHashrateDebounce = 5 * time.Second
	// DefaultMaxChannelsPerConnection leaves room for a proxy behind this
	// one, and for 64 such connections in the 65,536 channel indexes.
	DefaultMaxChannelsPerConnection = 1024
	// DefaultMaxChannelsPerSource is an eighth of the channel indexes: a
	// farm behind one address raises it.
	DefaultMaxChannelsPerSource = 8192
	// DefaultPassthroughOpenRate is a fifth of what our pool allows one
	// connection (100 channel opens a second).
	DefaultPassthroughOpenRate = 20
	// DefaultAttempts is how many failures an upstream gets before the next
	// is tried.
	DefaultAttempts = 2
	// DefaultPrimaryProbe is how often the first upstream is probed while
	// the proxy mines through another, to go back to it once it answers.
	DefaultPrimaryProbe = 5 * time.Second
	// DefaultChannelIndexSize is the bytes of the upstream's extranonce
	// that number the proxy's own channels: 65,536 of them per upstream
	// channel.
	DefaultChannelIndexSize = 2
	// MaxChannelIndexSize numbers 2^24 channels, extranonce.MaxChannels.
	MaxChannelIndexSize = 3
)

// Mode is how device channels map onto upstream channels.
type Mode string

// The modes.
const (
	// ModeAggregate puts every device channel on a few upstream extended
	// channels (UpstreamChannels), each device channel in a sub-range of its
	// extranonce space; the upstream sees one user.
	ModeAggregate Mode = "aggregate"
	// ModePassthrough opens one upstream channel for each device channel,
	// with the device's user identity, for pools that account per worker.
	ModePassthrough Mode = "passthrough"
)

// ParseMode reads a Mode by name; empty is ModeAggregate.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAggregate, ModePassthrough:
		return m, nil
	case "":
		return ModeAggregate, nil
	}
	return "", fmt.Errorf("%w: mode %q: want aggregate or passthrough", ErrConfig, s)
}

// Upstream is a pool (or another proxy, or a job declarator client)
// reached over Noise, or plainly on a trusted link.
type Upstream struct {
	Address      string           // host:port
	AuthorityKey *noise.PublicKey // pin it; nil encrypts without authenticating
	Plain        bool
}

// Config configures a proxy. Zero values take the documented defaults.
type Config struct {
	Listen       string       // devices connect here (DefaultListen)
	Listener     net.Listener // used instead of Listen when set
	AuthorityKey *noise.SecretKey
	CertValidity time.Duration
	Plain        bool // serve devices without Noise
	// Sv1, when set, also serves Stratum V1 devices on its address, each
	// on a device channel like any other: the proxy is then a Sv1 to Sv2
	// translator (its SharesPerMinute defaults to the proxy's).
	Sv1 *sv1.Config

	// Upstreams in order of preference: on failure the next is tried, and
	// while another is used the first is probed every PrimaryProbe, and
	// used again once it answers.
	Upstreams []Upstream
	Mode      Mode   // ModeAggregate if empty
	User      string // the identity of the upstream channels (aggregate mode; required there)

	// UpstreamChannels is how many upstream channels carry the devices in
	// aggregate mode (DefaultUpstreamChannels); each device connection's
	// channels ride the one with the fewest channels when it opens its first.
	UpstreamChannels int
	// ChannelIndexSize is the bytes of each upstream channel's extranonce
	// that number the device channels on it (DefaultChannelIndexSize, at
	// most MaxChannelIndexSize): 256^ChannelIndexSize of them per upstream
	// channel. A proxy in front of a few devices needs only 1, leaving the
	// proxies and devices behind it more to roll.
	ChannelIndexSize int
	// ExtranonceSize is the full extranonce every device channel's work
	// has: the channel index and what the devices roll.
	// Every upstream channel must roll at least that many bytes; zero takes
	// what the first upstream channel opened rolls.
	ExtranonceSize int

	SharesPerMinute float64 // device vardiff aim (DefaultSharesPerMinute)
	// MinShareDifficulty is the easiest device share taken
	// (mining.DefaultMinShareDifficulty if zero; negative: none).
	MinShareDifficulty float64
	VardiffInterval    time.Duration // DefaultVardiffInterval
	UpstreamHashrate   float32       // DefaultUpstreamHashrate
	HashrateDebounce   time.Duration // DefaultHashrateDebounce
	Attempts           int           // DefaultAttempts
	PrimaryProbe       time.Duration // DefaultPrimaryProbe
	// ShareBatchSize is how many accepted device shares one
	// SubmitShares.Success acknowledges (core mining's default, 10, if zero).
	ShareBatchSize int

	MaxConnections int // device connections at once (the service default if zero)
	// MaxChannelsPerConnection caps the channels one device connection
	// opens (DefaultMaxChannelsPerConnection).
	MaxChannelsPerConnection int
	// MaxChannelsPerSource caps the channels of all the connections of one
	// IP address (DefaultMaxChannelsPerSource), so that one host cannot take
	// every channel index from the rest; its channels closed after a share
	// was accepted count until the next tip, their indexes held till then.
	MaxChannelsPerSource int
	// PassthroughOpenRate and PassthroughOpenBurst ration, per source
	// address, the upstream channels passthrough mode asks for: a burst of
	// PassthroughOpenBurst (MaxChannelsPerConnection if zero) refilled at
	// PassthroughOpenRate a second (DefaultPassthroughOpenRate), beyond
	// which a device's request is refused with channel-open-rate-exceeded,
	// so that one churning device cannot spend the upstream's allowance
	// of channel opens for every other.
	PassthroughOpenRate  float64
	PassthroughOpenBurst int

	// Monitor, when set, serves the proxy's dashboard, JSON API and
	// Prometheus metrics (core/monitor; its Logger defaults to the proxy's).
	Monitor *monitor.Config
	Logger  *slog.Logger
}

// ErrConfig wraps configuration errors.
var ErrConfig = errors.New("proxy: invalid configuration")

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
	if c.UpstreamChannels <= 0 {
		c.UpstreamChannels = DefaultUpstreamChannels
	}
	if c.UpstreamHashrate <= 0 {
		c.UpstreamHashrate = DefaultUpstreamHashrate
	}
	if c.ChannelIndexSize == 0 {
		c.ChannelIndexSize = DefaultChannelIndexSize
	}
	if c.HashrateDebounce <= 0 {
		c.HashrateDebounce = DefaultHashrateDebounce
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.PrimaryProbe <= 0 {
		c.PrimaryProbe = DefaultPrimaryProbe
	}
	if c.MaxChannelsPerConnection <= 0 {
		c.MaxChannelsPerConnection = DefaultMaxChannelsPerConnection
	}
	if c.MaxChannelsPerSource <= 0 {
		c.MaxChannelsPerSource = DefaultMaxChannelsPerSource
	}
	if c.PassthroughOpenRate <= 0 {
		c.PassthroughOpenRate = DefaultPassthroughOpenRate
	}
	if c.PassthroughOpenBurst <= 0 {
		c.PassthroughOpenBurst = c.MaxChannelsPerConnection
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case !c.Plain && c.AuthorityKey == nil:
		return fmt.Errorf("%w: an authority secret key is required (or plain mode)", ErrConfig)
	case len(c.Upstreams) == 0:
		return fmt.Errorf("%w: no upstream", ErrConfig)
	case c.Mode == ModeAggregate && c.User == "":
		return fmt.Errorf("%w: no user identity for the upstream channels", ErrConfig)
	case c.UpstreamChannels > DefaultMaxUpstreamChannels:
		return fmt.Errorf("%w: %d upstream channels, at most %d", ErrConfig, c.UpstreamChannels, DefaultMaxUpstreamChannels)
	case c.Mode == ModePassthrough && c.UpstreamChannels > 1:
		return fmt.Errorf("%w: upstream channels are one per device channel in passthrough mode", ErrConfig)
	case c.ExtranonceSize < 0 || c.ExtranonceSize > extranonce.MaxSize:
		return fmt.Errorf("%w: extranonce size %d, want 0 to %d", ErrConfig, c.ExtranonceSize, extranonce.MaxSize)
	case c.ChannelIndexSize < 1 || c.ChannelIndexSize > MaxChannelIndexSize:
		return fmt.Errorf("%w: channel index of %d bytes, want 1 to %d", ErrConfig, c.ChannelIndexSize, MaxChannelIndexSize)
	case c.ExtranonceSize > 0 && c.ExtranonceSize <= c.ChannelIndexSize:
		return fmt.Errorf("%w: extranonce size %d leaves the devices nothing to roll after the %d-byte channel index", ErrConfig, c.ExtranonceSize, c.ChannelIndexSize)
	}
	for i, u := range c.Upstreams {
		if u.Address == "" {
			return fmt.Errorf("%w: upstream %d has no address", ErrConfig, i+1)
		}
	}
	return nil
}
