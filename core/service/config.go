package service

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// Defaults for zero configuration values.
const (
	DefaultMaxConnections   = 10000
	DefaultMaxHandshakes    = 64
	DefaultHandshakeTimeout = transport.DefaultHandshakeTimeout
	DefaultSetupTimeout     = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultSendQueue        = 1024
	DefaultSiblingQueue     = 1024
	DefaultDrainTimeout     = 2 * time.Second
	// MaxEventChain bounds the events one handler call may set off, follow-ups included.
	MaxEventChain = 100000
)

// ProtocolConfig enables a subprotocol on a server, with the range of
// protocol versions it accepts (zero means 2, the only version today).
type ProtocolConfig struct {
	MinVersion, MaxVersion uint16
}

func (p ProtocolConfig) versions() (uint16, uint16) {
	lo, hi := p.MinVersion, p.MaxVersion
	if lo == 0 {
		lo = 2
	}
	if hi == 0 {
		hi = max(lo, 2)
	}
	return lo, hi
}

// ServerConfig configures a ServerService. Zero values take the documented defaults.
type ServerConfig struct {
	// ListenAddress is where to listen, e.g. ":34254"; ignored when Listener is set.
	ListenAddress string
	// Listener, if set, is used instead of listening on ListenAddress.
	Listener net.Listener
	// Plain serves without Noise encryption (only for local networks, §4).
	Plain bool
	// AuthorityKey signs the server's certificates; required unless Plain.
	AuthorityKey *noise.SecretKey
	// StaticKey is the Noise static key; nil means a new one each Start.
	StaticKey *noise.StaticKey
	// CertificateValidity is how long each certificate lasts (noise.DefaultCertValidity if zero).
	CertificateValidity time.Duration

	// Mining, JobDeclaration and TemplateDistribution enable a subprotocol;
	// each needs a real handler, and a real handler needs its config.
	Mining, JobDeclaration, TemplateDistribution *ProtocolConfig

	MaxConnections   int           // open connections, handshaking ones included
	MaxHandshakes    int           // concurrent Noise handshakes
	HandshakeTimeout time.Duration // bound on the Noise handshake, from accept (waiting for a slot included)
	// Per source (remote IP address), so that one address cannot hold what
	// others need: open connections (DefaultMaxConnectionsPerSource),
	// handshakes waiting or under way (a quarter of MaxHandshakes), and
	// handshakes a second (DefaultHandshakeRatePerSource, with a burst of
	// twice that). Connections beyond them are closed at once.
	MaxConnectionsPerSource int
	MaxHandshakesPerSource  int
	HandshakeRatePerSource  float64
	SetupTimeout            time.Duration // bound on waiting for SetupConnection after the handshake
	// InactivityTimeout removes a client that sends no message that does
	// work for this long (frames of unknown types do not count, and a frame
	// left half sent does not hold the connection past it); 0 disables it.
	InactivityTimeout time.Duration
	WriteTimeout      time.Duration // bound on writing one frame
	MaxFrameSize      int           // largest accepted payload (sv2.MaxPayloadSize if zero)
	SendQueue         int           // messages (and pushed events) queued per client before it counts as too slow
	SiblingQueue      int           // events queued towards the sibling client service
	// SupportedExtensions are the protocol extensions (§3.4) a client may
	// negotiate with RequestExtensions, which the server always answers;
	// RequiredExtensions, a subset, must be negotiated before anything
	// else, or the client is closed. Neither lists 0x0001, the negotiation.
	SupportedExtensions, RequiredExtensions []uint16
	// DrainTimeout bounds a graceful close: when the service stops, or a
	// client is disconnected on request, what is queued for it has this long
	// to be written (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Gateways are other ways in, for clients of other protocols (Stratum
	// V1, core/sv1), each on a listener of its own.
	Gateways []Gateway
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
}

func (c *ServerConfig) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxHandshakes, DefaultMaxHandshakes)
	def(&c.MaxConnectionsPerSource, DefaultMaxConnectionsPerSource)
	def(&c.MaxHandshakesPerSource, max(1, c.MaxHandshakes/4))
	if c.HandshakeRatePerSource <= 0 {
		c.HandshakeRatePerSource = DefaultHandshakeRatePerSource
	}
	def(&c.SendQueue, DefaultSendQueue)
	def(&c.SiblingQueue, DefaultSiblingQueue)
	defDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	defDur(&c.SetupTimeout, DefaultSetupTimeout)
	defDur(&c.WriteTimeout, DefaultWriteTimeout)
	defDur(&c.DrainTimeout, DefaultDrainTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *ServerConfig) protocol(p sv2.Protocol) *ProtocolConfig {
	switch p {
	case sv2.ProtocolMining:
		return c.Mining
	case sv2.ProtocolJobDeclaration:
		return c.JobDeclaration
	case sv2.ProtocolTemplateDistribution:
		return c.TemplateDistribution
	}
	return nil
}

// Validate reports configuration errors that do not depend on the handlers.
func (c *ServerConfig) Validate() error {
	if c.Listener == nil && c.ListenAddress == "" {
		return fmt.Errorf("%w: no ListenAddress or Listener", ErrConfig)
	}
	if !c.Plain && c.AuthorityKey == nil {
		return fmt.Errorf("%w: an encrypted server needs an AuthorityKey (or set Plain)", ErrConfig)
	}
	if err := validExtensions(c.SupportedExtensions, c.RequiredExtensions); err != nil {
		return err
	}
	names := map[string]bool{}
	for i := range c.Gateways {
		if err := c.Gateways[i].validate(); err != nil {
			return err
		}
		if names[c.Gateways[i].Name] {
			return fmt.Errorf("%w: two gateways named %q", ErrConfig, c.Gateways[i].Name)
		}
		names[c.Gateways[i].Name] = true
	}
	for _, p := range protocols {
		if pc := c.protocol(p); pc != nil {
			if lo, hi := pc.versions(); lo > hi {
				return fmt.Errorf("%w: %s versions %d..%d", ErrConfig, p, lo, hi)
			}
		}
	}
	return nil
}

// UpstreamConfig configures a client's connection for one subprotocol.
type UpstreamConfig struct {
	// Address is the server's host:port.
	Address string
	// Plain connects without Noise (only for local networks, §4).
	Plain bool
	// AuthorityKey pins the server's authority; nil encrypts without
	// authenticating the server (logged as a warning).
	AuthorityKey *noise.PublicKey
	// MinVersion and MaxVersion are sent in SetupConnection (zero means 2).
	MinVersion, MaxVersion uint16
	// Flags are the SetupConnection flags of this subprotocol.
	Flags uint32
	// Extensions are the protocol extensions (§3.4) to request right after
	// SetupConnection; RequiredExtensions, a subset, must be confirmed or
	// the connection fails with an *ExtensionsError.
	Extensions, RequiredExtensions []uint16
}

// ClientConfig configures a ClientService. A subprotocol is used when its
// upstream is set; each needs a real handler, and a real handler needs its upstream.
type ClientConfig struct {
	Mining, JobDeclaration, TemplateDistribution *UpstreamConfig

	// Device fields of SetupConnection (§3.6.1).
	Vendor, HardwareVersion, Firmware, DeviceID string

	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	SetupTimeout     time.Duration // bound on waiting for the SetupConnection reply
	WriteTimeout     time.Duration
	MaxFrameSize     int
	SiblingQueue     int // events queued towards the sibling server service
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
}

func (c *ClientConfig) setDefaults() {
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&c.DialTimeout, DefaultDialTimeout}, {&c.HandshakeTimeout, DefaultHandshakeTimeout},
		{&c.SetupTimeout, DefaultSetupTimeout}, {&c.WriteTimeout, DefaultWriteTimeout}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	if c.SiblingQueue <= 0 {
		c.SiblingQueue = DefaultSiblingQueue
	}
	if c.Vendor == "" {
		c.Vendor = "stratumgo"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *ClientConfig) upstream(p sv2.Protocol) *UpstreamConfig {
	switch p {
	case sv2.ProtocolMining:
		return c.Mining
	case sv2.ProtocolJobDeclaration:
		return c.JobDeclaration
	case sv2.ProtocolTemplateDistribution:
		return c.TemplateDistribution
	}
	return nil
}

// Validate reports configuration errors that do not depend on the handlers.
func (c *ClientConfig) Validate() error {
	for _, p := range protocols {
		u := c.upstream(p)
		if u == nil {
			continue
		}
		if _, _, err := net.SplitHostPort(u.Address); err != nil {
			return fmt.Errorf("%w: %s server address %q: %w", ErrConfig, p, u.Address, err)
		}
		if err := validExtensions(u.Extensions, u.RequiredExtensions); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if lo, hi := versionRange(u.MinVersion, u.MaxVersion); lo > hi {
			return fmt.Errorf("%w: %s versions %d..%d", ErrConfig, p, lo, hi)
		}
	}
	return nil
}

func versionRange(lo, hi uint16) (uint16, uint16) {
	return ProtocolConfig{MinVersion: lo, MaxVersion: hi}.versions()
}

// protocols lists the subprotocols in the order services set them up.
var protocols = [...]sv2.Protocol{sv2.ProtocolTemplateDistribution, sv2.ProtocolJobDeclaration, sv2.ProtocolMining}
