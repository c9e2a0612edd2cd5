package service

import (
	"time"

	"github.com/stratumgo/stratum/core/sv2"
)

// Event is something for a service to do. Handlers return events as their
// outcome; application code feeds them in with Service.HandleEvent; sibling
// services pass them to each other. An event is a ServerEvent, a ClientEvent
// or (Notify) both.
type Event interface{ event() }

// ServerEvent is an event a ServerService carries out.
type ServerEvent interface {
	Event
	serverEvent()
}

// ClientEvent is an event a ClientService carries out.
type ClientEvent interface {
	Event
	clientEvent()
}

// Notify hands Payload to the HandleEvent method of the handler of Protocol,
// on the goroutine that carries the event out. It is how a sibling or
// application code talks to a handler as a whole: the pool's
// template-distribution client sends the mining server a new template this
// way. Notify is both a server and a client event.
type Notify struct {
	Protocol sv2.Protocol
	Payload  any
}

// NotifyClient hands Payload to the HandleClientEvent method of the handler
// of Client's subprotocol, on that client's goroutine, serialized with its
// message handlers and after everything queued for it before.
type NotifyClient struct {
	Client  ClientID
	Payload any
}

// NotifyAll is NotifyClient for every client set up for Protocol: each
// client's handler takes Payload on that client's goroutine. A vardiff
// retarget of every connection is one.
type NotifyAll struct {
	Protocol sv2.Protocol
	Payload  any
}

// SendToClient queues Message for one client of a server.
type SendToClient struct {
	Client  ClientID
	Message sv2.Message
}

// SendMessagesToClient queues Messages for one client, in order, as one
// push: the jobs a new template makes for a connection's channels, say.
type SendMessagesToClient struct {
	Client   ClientID
	Messages []sv2.Message
}

// SendToClients queues Message for each of the listed clients.
type SendToClients struct {
	Clients []ClientID
	Message sv2.Message
}

// SendToAll queues Message for every client set up for Protocol.
type SendToAll struct {
	Protocol sv2.Protocol
	Message  sv2.Message
}

// DisconnectClient closes a client's connection once what was queued for it
// before has been written (within the drain time); the handler then gets
// ClientRemoved with Reason.
type DisconnectClient struct {
	Client ClientID
	Reason string
}

// SendEventToSiblingClientService delivers Event to the client service tied
// to this server service (see NewServerServiceWithSibling).
type SendEventToSiblingClientService struct{ Event ClientEvent }

// SendToServer sends Message on the client's connection for Protocol.
type SendToServer struct {
	Protocol sv2.Protocol
	Message  sv2.Message
}

// Connect (re)connects the client's connection for Protocol after Delay, to
// Address, or when Address is empty to the configured server (or the one a
// Reconnect named). A handler returns it from Disconnected to retry or fail over.
type Connect struct {
	Protocol sv2.Protocol
	Address  string
	Delay    time.Duration
	// Upstream, when set, replaces the protocol's configuration (address,
	// authority key, plain, flags) for this connection and the ones after
	// it: how a client fails over to another server with a key of its own.
	Upstream *UpstreamConfig
}

// Disconnect closes the client's connection for Protocol; the handler then
// gets Disconnected.
type Disconnect struct {
	Protocol sv2.Protocol
	Reason   string
}

// SendEventToSiblingServerService delivers Event to the server service tied
// to this client service (see NewClientServiceFromSibling).
type SendEventToSiblingServerService struct{ Event ServerEvent }

func (Notify) event()                                {}
func (Notify) serverEvent()                          {}
func (Notify) clientEvent()                          {}
func (SendToClient) event()                          {}
func (SendToClient) serverEvent()                    {}
func (NotifyClient) event()                          {}
func (NotifyClient) serverEvent()                    {}
func (NotifyAll) event()                             {}
func (NotifyAll) serverEvent()                       {}
func (SendMessagesToClient) event()                  {}
func (SendMessagesToClient) serverEvent()            {}
func (SendToClients) event()                         {}
func (SendToClients) serverEvent()                   {}
func (SendToAll) event()                             {}
func (SendToAll) serverEvent()                       {}
func (DisconnectClient) event()                      {}
func (DisconnectClient) serverEvent()                {}
func (SendEventToSiblingClientService) event()       {}
func (SendEventToSiblingClientService) serverEvent() {}
func (SendToServer) event()                          {}
func (SendToServer) clientEvent()                    {}
func (Connect) event()                               {}
func (Connect) clientEvent()                         {}
func (Disconnect) event()                            {}
func (Disconnect) clientEvent()                      {}
func (SendEventToSiblingServerService) event()       {}
func (SendEventToSiblingServerService) clientEvent() {}

// Compile-time checks that every event is of the side(s) documented.
var (
	_ ServerEvent = Notify{}
	_ ClientEvent = Notify{}
	_ ServerEvent = SendToClient{}
	_ ServerEvent = NotifyClient{}
	_ ServerEvent = NotifyAll{}
	_ ServerEvent = SendMessagesToClient{}
	_ ServerEvent = SendToClients{}
	_ ServerEvent = SendToAll{}
	_ ServerEvent = DisconnectClient{}
	_ ServerEvent = SendEventToSiblingClientService{}
	_ ClientEvent = SendToServer{}
	_ ClientEvent = Connect{}
	_ ClientEvent = Disconnect{}
	_ ClientEvent = SendEventToSiblingServerService{}
)
