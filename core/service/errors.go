package service

import (
	"errors"
	"fmt"

	"github.com/stratumgo/stratum/core/sv2"
)

// Error codes of SetupConnection.Error (§3.6.3 and SRI's usage).
const (
	CodeUnsupportedProtocol     = "unsupported-protocol"
	CodeProtocolVersionMismatch = "protocol-version-mismatch"
	CodeUnsupportedFeatureFlags = "unsupported-feature-flags"
)

// Errors of the services; compare with errors.Is.
var (
	// ErrConfig means a service's configuration and handlers disagree or are incomplete.
	ErrConfig = errors.New("service: invalid configuration")
	// ErrAlreadyStarted means Start was called twice.
	ErrAlreadyStarted = errors.New("service: already started")
	// ErrNotRunning means an event was given to a service that is not running.
	ErrNotRunning = errors.New("service: not running")
	// ErrWrongSide means a client event was given to a server service, or the reverse.
	ErrWrongSide = errors.New("service: event for the other kind of service")
	// ErrUnsupported means an event named a subprotocol the service has no handler for.
	ErrUnsupported = errors.New("service: subprotocol not supported")
	// ErrEventChain means follow-up events kept producing more beyond the bound.
	ErrEventChain = errors.New("service: follow-up events exceed the bound")
	// ErrNoSibling means a sibling event was sent by a service built without sibling IO.
	ErrNoSibling = errors.New("service: no sibling service")
	// ErrSiblingFull means the sibling's queue is full; the event was not delivered.
	ErrSiblingFull = errors.New("service: sibling queue full")
	// ErrSiblingClosed means the sibling service has stopped; the event was not delivered.
	ErrSiblingClosed = errors.New("service: sibling service stopped")
	// ErrExtensionsTimeout means a server did not answer RequestExtensions;
	// the client service then connects without extensions.
	ErrExtensionsTimeout = errors.New("service: no answer to RequestExtensions")
	// ErrNoClient means an event named a client that is not connected.
	ErrNoClient = errors.New("service: no such client")
	// ErrNotConnected means a message was sent on a subprotocol whose connection is down.
	ErrNotConnected = errors.New("service: not connected")
	// ErrProtocol means a peer broke the protocol (wrong first message, a
	// message of another subprotocol or direction); the connection is closed.
	ErrProtocol = errors.New("service: protocol violation")
	// ErrInactive means a client stayed silent longer than the inactivity limit.
	ErrInactive = errors.New("service: client inactive")
	// ErrSendQueueFull means a client did not read fast enough; it is disconnected.
	ErrSendQueueFull = errors.New("service: send queue full")
	// ErrStopped means the service is shutting down, or stopped because its
	// context ended: Run returns it (wrapping the context's cause) to tell a
	// clean stop from a failure.
	ErrStopped = errors.New("service: stopped")
	// ErrReconnect means the server asked the client to reconnect elsewhere (§3.6.5).
	ErrReconnect = errors.New("service: server requested reconnect")
	// ErrDisconnected means the connection was closed on request (DisconnectClient or Disconnect).
	ErrDisconnected = errors.New("service: disconnected on request")
)

// SetupError is a SetupConnection.Error received from (client side) or sent
// to (server side) a peer.
type SetupError struct {
	Protocol sv2.Protocol
	Code     string // e.g. CodeProtocolVersionMismatch
	Flags    uint32 // the unsupported flags, for CodeUnsupportedFeatureFlags
}

func (e *SetupError) Error() string {
	if e.Flags != 0 {
		return fmt.Sprintf("service: %s SetupConnection refused: %s (flags 0x%x)", e.Protocol, e.Code, e.Flags)
	}
	return fmt.Sprintf("service: %s SetupConnection refused: %s", e.Protocol, e.Code)
}
