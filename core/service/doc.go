// Package service is the heart of the framework: two services that run the
// Stratum V2 connections of an application, and the handlers through which
// the application takes part.
//
// # Services
//
// A ServerService listens for clients; a ClientService connects to servers,
// one connection per subprotocol, each with its own address, encryption and
// optional pinned authority key. Both implement Service: Start runs the
// service until its context ends (or a fatal error) and returns only after
// every goroutine it started has ended; HandleEvent feeds an event in from
// application code, such as a miner's hashing loop or a timer.
//
// The services do the protocol work themselves: the Noise handshake (off the
// accept loop, bounded in time and number), SetupConnection and its
// negotiation (unsupported-protocol, protocol-version-mismatch,
// unsupported-feature-flags, each followed by closing the connection),
// routing each later message to the handler of the connection's subprotocol,
// closing connections that break the protocol, dropping clients that stay
// silent longer than the inactivity limit, honouring Reconnect, and shutting
// down cleanly.
//
// # Handlers
//
// An application supplies one handler per subprotocol and side: six
// interfaces (MiningServerHandler, JobDeclarationServerHandler,
// TemplateDistributionServerHandler, MiningClientHandler,
// JobDeclarationClientHandler, TemplateDistributionClientHandler), each with
// one method per message that flows towards that side, plus lifecycle
// methods (Start; ClientAdded and ClientRemoved on servers, Connected and
// Disconnected on clients; HandleEvent for Notify payloads).
//
// A handler method does not write to connections. It returns events, its
// outcome, which the service carries out in order once the method returns:
// send a message to a client, to several, to all, or to the server; close a
// connection; connect elsewhere; pass an event to the sibling service; or
// Notify a handler, whose own outcome is carried out next (depth first,
// iteratively, at most MaxEventChain events per chain).
//
// Which goroutine calls a handler: a ServerService calls it concurrently for
// different clients (each client's messages in order, on that client's
// goroutine) and for sibling or injected events, so a server handler must
// guard state it shares across clients with a mutex. A ClientService calls
// all its handlers from its one loop goroutine, one call at a time, so a
// client handler needs no locking for its own state. Messages passed to a
// handler are its to keep; messages it returns in events must not be changed
// afterwards, since they are encoded later on another goroutine.
//
// # Null handlers
//
// A nil handler, or one of the Null handlers (NullMiningServerHandler and its
// five siblings), means the subprotocol is not supported: a ClientService
// never connects for it, a ServerService refuses its SetupConnection with
// unsupported-protocol. A subprotocol configured without a real handler, or a
// real handler whose subprotocol is not configured, is a constructor error.
// Null handlers never panic.
//
// # Siblings
//
// A ServerService and a ClientService in one program can be tied together:
// NewServerServiceWithSibling returns a SiblingIO that
// NewClientServiceFromSibling takes. A server handler then returns
// SendEventToSiblingClientService{Event} to have the client service carry out
// Event (for example a Notify for its mining handler), and a client handler
// returns SendEventToSiblingServerService{Event}. Delivery is ordered and
// bounded; a full queue (ErrSiblingFull) or a stopped sibling
// (ErrSiblingClosed) is an error the sender sees. Start both services with
// the same parent context so they stop together. A pool is a mining server
// with a template-distribution client as its sibling; a proxy is a mining
// server with a mining client.
package service

import "context"

// Service is what both ServerService and ClientService implement.
type Service interface {
	// Start runs the service until ctx ends or a fatal error, and returns
	// after every goroutine it started has ended; nil means ctx ended.
	Start(ctx context.Context) error
	// HandleEvent carries out ev (a ServerEvent for a server, a ClientEvent
	// for a client) and its follow-ups, and returns the first error.
	HandleEvent(ctx context.Context, ev Event) error
}

var (
	_ Service = (*ServerService)(nil)
	_ Service = (*ClientService)(nil)
)
