package service

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// Wire is a client connection as a ServerService reads and writes it: Sv2
// messages, over Sv2's own frames (a *transport.Conn) or translated from
// another protocol by a Gateway. The client's reader goroutine calls
// ReadMessage (and SetReadDeadline before it, for the inactivity limit);
// its writer calls BufferMessage for what is queued, then Flush; setup
// calls WriteMessage. A BufferMessage error other than an *sv2.EncodeError
// ends the client. CloseRead starts a graceful close: reading stops, what
// is queued is still written, then Close. Close may come from any
// goroutine, at any time.
type Wire interface {
	ReadMessage() (sv2.Header, sv2.Message, error)
	WriteMessage(m sv2.Message) error
	BufferMessage(m sv2.Message) error
	Flush() error
	SetReadDeadline(t time.Time) error
	CloseRead() error
	Close() error
	RemoteAddr() net.Addr
	Handshake() transport.Handshake
}

var _ Wire = (*transport.Conn)(nil)

// A Gateway is another way into a ServerService, for clients that speak a
// different protocol (Stratum V1, core/sv1): its connections skip the Noise
// handshake, and Wrap turns each into the Sv2 messages the handlers get and
// send. Past Wrap they are clients like any other, under the same limits
// (MaxConnections, per source, SetupTimeout, InactivityTimeout, SendQueue).
type Gateway struct {
	// Name says what the gateway's clients speak ("sv1"), in ClientInfo.Gateway and logs.
	Name string
	// ListenAddress is where to listen; ignored when Listener is set.
	ListenAddress string
	// Listener, if set, is used instead of listening on ListenAddress; Run closes it.
	Listener net.Listener
	// Wrap makes an accepted connection's Wire. The Wire's first message
	// must be SetupConnection, read within SetupTimeout.
	Wrap func(nc net.Conn) Wire
	// AckEachShare is copied to ClientInfo.AckEachShare: the protocol
	// answers every share, so a handler acknowledges each one at once
	// instead of in batches (mining.Conn.AckEachShare).
	AckEachShare bool
}

func (g *Gateway) validate() error {
	switch {
	case g.Name == "":
		return fmt.Errorf("%w: a gateway without a name", ErrConfig)
	case g.Wrap == nil:
		return fmt.Errorf("%w: gateway %q has no Wrap", ErrConfig, g.Name)
	case g.Listener == nil && g.ListenAddress == "":
		return fmt.Errorf("%w: gateway %q has no ListenAddress or Listener", ErrConfig, g.Name)
	}
	return nil
}

// GatewayAddr returns the address the named gateway listens on, once it
// listens (it waits for that, or for ctx).
func (s *ServerService) GatewayAddr(ctx context.Context, name string) (net.Addr, error) {
	if _, err := s.Addr(ctx); err != nil {
		return nil, err
	}
	for i, g := range s.cfg.Gateways {
		if g.Name == name {
			return s.gatewayAddrs[i], nil
		}
	}
	return nil, fmt.Errorf("service: no gateway %q", name)
}
