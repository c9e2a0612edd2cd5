// Package service is the heart of the framework: two services that run the
// Stratum V2 connections of an application, and the handlers through which
// the application takes part.
//
// # Services
//
// A ServerService listens for clients; a ClientService connects to servers,
// one connection per subprotocol, each with its own address, encryption and
// optional pinned authority key. Both implement Service: Run runs the
// service until its context ends (or a fatal error) and returns only after
// every goroutine it started has ended, with an error wrapping ErrStopped
// when the context ended; HandleEvent feeds an event in from application
// code, such as a miner's hashing loop or a timer, and is safe to call from
// any goroutine. RunAll runs a server, its sibling client and an
// application's own loops together: the first failure stops them all.
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
// methods (Start; ClientAdded, ClientRemoved and HandleClientEvent on
// servers, Connected and Disconnected on clients; HandleEvent for Notify
// payloads).
//
// A handler method does not write to connections. It returns events, its
// outcome, which the service carries out in order once the method returns:
// send a message to a client, to several, to all, or to the server; close a
// connection; connect elsewhere; pass an event to the sibling service; or
// notify a handler (Notify, NotifyClient, NotifyAll), whose own outcome is
// carried out next (depth first, iteratively, at most MaxEventChain events
// per chain; a notification for another client runs on that client's
// goroutine and its outcome there).
//
// # One order per client
//
// A ServerService is an actor per connection. Each client has one goroutine
// of its own that calls the handler for everything concerning that client,
// one call at a time: ClientAdded, each of its messages in the order they
// arrived, each event pushed to it (NotifyClient, NotifyAll), ClientStopping
// and ClientRemoved. It is also the only goroutine that queues messages for
// that client. A message a handler call returns for its own client is queued
// at once; a message or notification aimed at a client from anywhere else
// (another client's call, the sibling, a timer through HandleEvent, a
// SendToAll) is handed to that client's goroutine and carried out after what
// it is doing. So everything a client is sent leaves in one order: the
// replies of its handler calls in call order, and each push after whatever
// the client's own calls had queued by the time it was made. No handler
// needs a lock to order what it sends, nor a pointer to its own service:
// it returns events.
//
// A handler's state for one client can be kept with SetClientState and read
// with ClientState in that client's later calls; it needs no lock. State
// shared by all clients (a pool's accounts, the current template) is touched
// concurrently by different clients' goroutines and by HandleEvent (a
// Notify, run on the goroutine that carried it out: the sibling's, or the
// caller of Service.HandleEvent), and needs a mutex as any shared state
// does. To act on every client's own state, push NotifyAll: each client's
// goroutine calls HandleClientEvent.
//
// The context of a client's calls ends when the client is removed (its
// cause says why); work a handler starts for a client stops with it unless
// the handler detaches it on purpose (context.WithoutCancel), as a found
// block's submission must be.
//
// # Stopping
//
// When Run's context ends, the server stops accepting, closes connections
// still in their handshake or setup, and closes every client gracefully: it
// stops reading, handles the messages already read and the events already
// pushed, lets a StopHandler say goodbye (a pool closes its channels with a
// reason), writes out everything queued and closes; a client still not done
// after DrainTimeout (a peer that stopped reading, say) is cut off. A
// DisconnectClient is carried out the same way for one client. A
// ClientService writes each message as it is sent, so nothing is left
// queued when it stops.
//
// A ClientService calls all its handlers from its one loop goroutine, one
// call at a time, so a client handler needs no locking for its own state.
// Messages passed to a handler are its to keep; messages it returns in
// events must not be changed afterwards, since they are encoded later on
// another goroutine.
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
	// Run runs the service until ctx ends or a fatal error, and returns
	// after every goroutine it started has ended; an error wrapping
	// ErrStopped means ctx ended.
	Run(ctx context.Context) error
	// HandleEvent carries out ev (a ServerEvent for a server, a ClientEvent
	// for a client) and its follow-ups, and returns the first error.
	HandleEvent(ctx context.Context, ev Event) error
}

var (
	_ Service = (*ServerService)(nil)
	_ Service = (*ClientService)(nil)
)
