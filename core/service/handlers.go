package service

import (
	"context"
	"net"

	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// ClientID identifies a client of a ServerService for the life of the service.
type ClientID uint64

// ClientInfo describes a client that completed SetupConnection.
type ClientInfo struct {
	ID        ClientID
	Remote    net.Addr
	Setup     sv2.SetupConnection // the client's request as received
	Version   uint16              // the negotiated protocol version
	Flags     uint32              // the flags sent in SetupConnection.Success
	Handshake transport.Handshake // how the connection is secured
	// Gateway names the Gateway the client came through ("sv1"), empty
	// for a Sv2 client; AckEachShare is that gateway's.
	Gateway      string
	AckEachShare bool
}

// Source names the client's source as the service's per-source limits
// count it (its IP address; "" without a remote address), for a handler
// that bounds per source what its clients may make it keep.
func (c ClientInfo) Source() string {
	if c.Remote == nil {
		return ""
	}
	return SourceOf(c.Remote)
}

// ServerInfo describes a client service's connection to a server after
// SetupConnection.Success.
type ServerInfo struct {
	Protocol  sv2.Protocol
	Address   string // host:port dialled
	Version   uint16 // the server's used_version
	Flags     uint32 // the server's SetupConnection.Success flags
	Handshake transport.Handshake
	// Extensions are the protocol extensions the server confirmed (§3.4);
	// the service drops TLV fields of any other from what it sends.
	Extensions []uint16
}

// ServerHandler is what the handlers of a ServerService have in common.
//
// A server service calls the methods concerning one client — ClientAdded,
// one per message, HandleClientEvent, ClientStopping, ClientRemoved — on
// that client's goroutine, one at a time, never concurrently with each
// other; calls for different clients run concurrently. HandleEvent (a
// Notify) runs on the goroutine that carried the event out: the sibling's,
// or the caller of Service.HandleEvent. So a handler guards the state it
// shares across clients (with a mutex, as any Go code would), but state of
// one client (see SetClientState) needs no lock, and it never needs a lock
// to order what it sends. The ctx of a client's calls ends when that client
// is removed. Messages passed to a handler are its own to keep.
//
// Every method returns follow-up events, carried out in order once it
// returns. A non-nil error from a message method is logged and closes that
// client's connection; from HandleEvent it is returned to whoever sent the
// event. A follow-up that fails (a full sibling queue, say) is logged and
// ends that chain of events, but does not close the connection.
type ServerHandler interface {
	// Start is called once, before the service accepts connections.
	Start(ctx context.Context) ([]ServerEvent, error)
	// Flags is called for each SetupConnection of this subprotocol with the
	// client's flags. It returns the flags for SetupConnection.Success, or
	// the requested flags it does not support: any of those refuses the
	// connection with unsupported-feature-flags.
	Flags(requested uint32) (success, unsupported uint32)
	// ClientAdded is called once a client's SetupConnection succeeded.
	ClientAdded(ctx context.Context, c ClientInfo) ([]ServerEvent, error)
	// ClientRemoved is called exactly once for every added client, when its
	// connection ends for any reason (including service shutdown); reason
	// says why. It runs on the client's goroutine, after ClientAdded and
	// after every call for that client's messages has returned.
	ClientRemoved(ctx context.Context, c ClientInfo, reason error) ([]ServerEvent, error)
	// HandleEvent receives the payload of a Notify for this subprotocol.
	HandleEvent(ctx context.Context, payload any) ([]ServerEvent, error)
	// HandleClientEvent receives the payload of a NotifyClient or NotifyAll,
	// on client c's goroutine.
	HandleClientEvent(ctx context.Context, c ClientID, payload any) ([]ServerEvent, error)
}

// StopHandler is implemented by a ServerHandler that wants to tell a client
// why its connection is about to close gracefully (the service stops, or a
// DisconnectClient): ClientStopping is called on the client's goroutine
// after its last messages were handled, and the messages it returns are
// written before the connection closes. A pool closes its channels with a
// reason code this way.
type StopHandler interface {
	ClientStopping(ctx context.Context, c ClientInfo, reason error) ([]ServerEvent, error)
}

// MiningServerHandler serves the Mining Protocol (pool, proxy and JDC towards their miners).
type MiningServerHandler interface {
	ServerHandler
	OpenStandardMiningChannel(ctx context.Context, c ClientID, m *sv2.OpenStandardMiningChannel) ([]ServerEvent, error)
	OpenExtendedMiningChannel(ctx context.Context, c ClientID, m *sv2.OpenExtendedMiningChannel) ([]ServerEvent, error)
	UpdateChannel(ctx context.Context, c ClientID, m *sv2.UpdateChannel) ([]ServerEvent, error)
	CloseChannel(ctx context.Context, c ClientID, m *sv2.CloseChannel) ([]ServerEvent, error)
	SubmitSharesStandard(ctx context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error)
	SubmitSharesExtended(ctx context.Context, c ClientID, m *sv2.SubmitSharesExtended) ([]ServerEvent, error)
	SetCustomMiningJob(ctx context.Context, c ClientID, m *sv2.SetCustomMiningJob) ([]ServerEvent, error)
}

// JobDeclarationServerHandler serves the Job Declaration Protocol (a JDS).
type JobDeclarationServerHandler interface {
	ServerHandler
	AllocateMiningJobToken(ctx context.Context, c ClientID, m *sv2.AllocateMiningJobToken) ([]ServerEvent, error)
	DeclareMiningJob(ctx context.Context, c ClientID, m *sv2.DeclareMiningJob) ([]ServerEvent, error)
	ProvideMissingTransactionsSuccess(ctx context.Context, c ClientID, m *sv2.ProvideMissingTransactionsSuccess) ([]ServerEvent, error)
	PushSolution(ctx context.Context, c ClientID, m *sv2.PushSolution) ([]ServerEvent, error)
}

// TemplateDistributionServerHandler serves the Template Distribution Protocol (a template provider).
type TemplateDistributionServerHandler interface {
	ServerHandler
	CoinbaseOutputConstraints(ctx context.Context, c ClientID, m *sv2.CoinbaseOutputConstraints) ([]ServerEvent, error)
	RequestTransactionData(ctx context.Context, c ClientID, m *sv2.RequestTransactionData) ([]ServerEvent, error)
	SubmitSolution(ctx context.Context, c ClientID, m *sv2.SubmitSolution) ([]ServerEvent, error)
}

// ClientHandler is what the handlers of a ClientService have in common.
//
// A client service calls all its handlers from one goroutine, one call at a
// time, so a handler needs no locking for state only it touches. Messages
// passed to it are its own to keep. Every method returns follow-up events,
// carried out in order once it returns. An error from a message method is
// logged and closes that connection (the handler then gets Disconnected);
// from HandleEvent it is returned to the sender. A follow-up that fails is
// logged and ends that chain, without closing the connection.
type ClientHandler interface {
	// Start is called once, before the service connects.
	Start(ctx context.Context) ([]ClientEvent, error)
	// Connected is called when a connection completed SetupConnection.
	Connected(ctx context.Context, s ServerInfo) ([]ClientEvent, error)
	// Disconnected is called when connecting failed or an established
	// connection ended; err says why (a *SetupError for SetupConnection.Error).
	// Return Connect to retry or fail over; the service does not retry on its own.
	Disconnected(ctx context.Context, err error) ([]ClientEvent, error)
	// HandleEvent receives the payload of a Notify for this subprotocol.
	HandleEvent(ctx context.Context, payload any) ([]ClientEvent, error)
}

// MiningClientHandler is the client side of the Mining Protocol (a miner, or
// a proxy towards its pool).
type MiningClientHandler interface {
	ClientHandler
	OpenStandardMiningChannelSuccess(ctx context.Context, m *sv2.OpenStandardMiningChannelSuccess) ([]ClientEvent, error)
	OpenExtendedMiningChannelSuccess(ctx context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]ClientEvent, error)
	OpenMiningChannelError(ctx context.Context, m *sv2.OpenMiningChannelError) ([]ClientEvent, error)
	UpdateChannelError(ctx context.Context, m *sv2.UpdateChannelError) ([]ClientEvent, error)
	CloseChannel(ctx context.Context, m *sv2.CloseChannel) ([]ClientEvent, error)
	SetExtranoncePrefix(ctx context.Context, m *sv2.SetExtranoncePrefix) ([]ClientEvent, error)
	SubmitSharesSuccess(ctx context.Context, m *sv2.SubmitSharesSuccess) ([]ClientEvent, error)
	SubmitSharesError(ctx context.Context, m *sv2.SubmitSharesError) ([]ClientEvent, error)
	NewMiningJob(ctx context.Context, m *sv2.NewMiningJob) ([]ClientEvent, error)
	NewExtendedMiningJob(ctx context.Context, m *sv2.NewExtendedMiningJob) ([]ClientEvent, error)
	SetNewPrevHash(ctx context.Context, m *sv2.SetNewPrevHash) ([]ClientEvent, error)
	SetCustomMiningJobSuccess(ctx context.Context, m *sv2.SetCustomMiningJobSuccess) ([]ClientEvent, error)
	SetCustomMiningJobError(ctx context.Context, m *sv2.SetCustomMiningJobError) ([]ClientEvent, error)
	SetTarget(ctx context.Context, m *sv2.SetTarget) ([]ClientEvent, error)
	SetGroupChannel(ctx context.Context, m *sv2.SetGroupChannel) ([]ClientEvent, error)
	ChannelEndpointChanged(ctx context.Context, m *sv2.ChannelEndpointChanged) ([]ClientEvent, error)
}

// JobDeclarationClientHandler is the client side of the Job Declaration Protocol (a JDC).
type JobDeclarationClientHandler interface {
	ClientHandler
	AllocateMiningJobTokenSuccess(ctx context.Context, m *sv2.AllocateMiningJobTokenSuccess) ([]ClientEvent, error)
	DeclareMiningJobSuccess(ctx context.Context, m *sv2.DeclareMiningJobSuccess) ([]ClientEvent, error)
	DeclareMiningJobError(ctx context.Context, m *sv2.DeclareMiningJobError) ([]ClientEvent, error)
	ProvideMissingTransactions(ctx context.Context, m *sv2.ProvideMissingTransactions) ([]ClientEvent, error)
}

// TemplateDistributionClientHandler is the client side of the Template
// Distribution Protocol (a pool or JDC taking templates).
type TemplateDistributionClientHandler interface {
	ClientHandler
	NewTemplate(ctx context.Context, m *sv2.NewTemplate) ([]ClientEvent, error)
	SetNewPrevHash(ctx context.Context, m *sv2.TemplateSetNewPrevHash) ([]ClientEvent, error)
	RequestTransactionDataSuccess(ctx context.Context, m *sv2.RequestTransactionDataSuccess) ([]ClientEvent, error)
	RequestTransactionDataError(ctx context.Context, m *sv2.RequestTransactionDataError) ([]ClientEvent, error)
}
