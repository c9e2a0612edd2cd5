package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// ServerService listens for Sv2 clients, secures and sets up each connection,
// and turns every message into a call of the handler of the connection's
// subprotocol. See the package documentation for the contract.
type ServerService struct {
	cfg      ServerConfig
	log      *slog.Logger
	mining   MiningServerHandler
	jd       JobDeclarationServerHandler
	td       TemplateDistributionServerHandler
	handlers map[sv2.Protocol]ServerHandler
	sibling  *SiblingIO

	started atomic.Bool
	running chan struct{} // closed once listening
	stopped chan struct{} // closed when Start returns
	addr    net.Addr
	nextID  atomic.Uint64
	conns   atomic.Int64 // open connections, for MaxConnections
	hsSem   chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	clients map[ClientID]*serverClient
}

type serverClient struct {
	info    ClientInfo
	conn    *transport.Conn
	out     chan sv2.Message
	flushed chan struct{} // signalled after each write, for a reader waiting for room
	done    chan struct{} // closed on removal

	removeOnce sync.Once
	reason     error // why it was removed, set once by remove
}

// NewServerService returns a server for the subprotocols whose handlers are
// real (not nil or Null) and configured in cfg.
func NewServerService(cfg ServerConfig, mining MiningServerHandler, jd JobDeclarationServerHandler, td TemplateDistributionServerHandler) (*ServerService, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &ServerService{
		cfg:      cfg,
		log:      cfg.Logger.With("service", "server"),
		handlers: map[sv2.Protocol]ServerHandler{},
		running:  make(chan struct{}),
		stopped:  make(chan struct{}),
		hsSem:    make(chan struct{}, cfg.MaxHandshakes),
		clients:  map[ClientID]*serverClient{},
	}
	for _, p := range protocols {
		var h ServerHandler
		switch p {
		case sv2.ProtocolMining:
			h = mining
		case sv2.ProtocolJobDeclaration:
			h = jd
		case sv2.ProtocolTemplateDistribution:
			h = td
		}
		configured, null := cfg.protocol(p) != nil, isNull(h)
		switch {
		case configured && null:
			return nil, fmt.Errorf("%w: %s is configured but its handler is nil or Null", ErrConfig, p)
		case !configured && !null:
			return nil, fmt.Errorf("%w: a %s handler was given but %s is not configured", ErrConfig, p, p)
		case configured:
			s.handlers[p] = h
		}
	}
	if len(s.handlers) == 0 {
		return nil, fmt.Errorf("%w: no subprotocol configured", ErrConfig)
	}
	if !isNull(mining) {
		s.mining = mining
	}
	if !isNull(jd) {
		s.jd = jd
	}
	if !isNull(td) {
		s.td = td
	}
	return s, nil
}

// NewServerServiceWithSibling is NewServerService plus the SiblingIO that a
// ClientService in the same program takes (NewClientServiceFromSibling), so
// the two can send each other events.
func NewServerServiceWithSibling(cfg ServerConfig, mining MiningServerHandler, jd JobDeclarationServerHandler, td TemplateDistributionServerHandler) (*ServerService, *SiblingIO, error) {
	s, err := NewServerService(cfg, mining, jd, td)
	if err != nil {
		return nil, nil, err
	}
	s.sibling = newSiblingIO(s.cfg.SiblingQueue, s.cfg.SiblingQueue)
	return s, s.sibling, nil
}

// Addr returns the address the server listens on, waiting until it does, Start
// returns without listening (ErrNotRunning), or ctx ends.
func (s *ServerService) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.running:
		return s.addr, nil
	case <-s.stopped:
		select {
		case <-s.running:
			return s.addr, nil
		default:
			return nil, ErrNotRunning
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Client returns what is known of a connected client.
func (s *ServerService) Client(id ClientID) (ClientInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return ClientInfo{}, false
	}
	return c.info, true
}

// Clients returns the connected clients, ordered by id.
func (s *ServerService) Clients() []ClientInfo {
	s.mu.Lock()
	infos := make([]ClientInfo, 0, len(s.clients))
	for _, c := range s.clients {
		infos = append(infos, c.info)
	}
	s.mu.Unlock()
	slices.SortFunc(infos, func(a, b ClientInfo) int { return cmp.Compare(a.ID, b.ID) })
	return infos
}

// Start runs the server: it calls each handler's Start, listens, and serves
// until ctx ends or a fatal error. It returns only after every goroutine it
// started has ended and every client was removed (its handler told); nil
// means ctx ended. It closes cfg.Listener, if one was given, when it returns.
func (s *ServerService) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	defer close(s.stopped)
	if s.sibling != nil {
		defer s.sibling.toServer.close()
	}
	// Start owns a configured Listener: it is closed on every return.
	if s.cfg.Listener != nil {
		defer s.cfg.Listener.Close()
	}
	for _, p := range protocols {
		if h := s.handlers[p]; h != nil {
			events, err := h.Start(ctx)
			if err != nil {
				return fmt.Errorf("service: %s handler Start: %w", p, err)
			}
			if err := s.run(ctx, events); err != nil {
				return fmt.Errorf("service: %s handler Start follow-ups: %w", p, err)
			}
		}
	}
	responder, err := s.responderConfig()
	if err != nil {
		return err
	}
	ln := s.cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", s.cfg.ListenAddress); err != nil {
			return fmt.Errorf("service: %w", err)
		}
	}
	s.addr = ln.Addr()
	close(s.running)
	s.log.Info("listening", "address", s.addr.String(), "encrypted", !s.cfg.Plain)

	stopListening := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopListening()
	if s.sibling != nil {
		s.wg.Go(func() { s.siblingLoop(ctx) })
	}
	err = s.acceptLoop(ctx, ln, responder)
	ln.Close()
	s.shutdown()
	s.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *ServerService) responderConfig() (noise.ResponderConfig, error) {
	if s.cfg.Plain {
		return noise.ResponderConfig{}, nil
	}
	static := s.cfg.StaticKey
	if static == nil {
		var err error
		if static, err = noise.GenerateStaticKey(nil); err != nil {
			return noise.ResponderConfig{}, fmt.Errorf("service: static key: %w", err)
		}
	}
	issuer := noise.NewCertificateIssuer(*s.cfg.AuthorityKey, static, s.cfg.CertificateValidity, nil, nil)
	return noise.ResponderConfig{Issuer: issuer}, nil
}

func (s *ServerService) acceptLoop(ctx context.Context, ln net.Listener, responder noise.ResponderConfig) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of file descriptors and the like: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "error", err, "in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("service: accept: %w", err)
		}
		backoff = 0
		if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
			s.conns.Add(-1)
			s.log.Warn("connection refused: at MaxConnections", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConnections)
			nc.Close()
			continue
		}
		s.wg.Go(func() {
			defer s.conns.Add(-1)
			s.serveConn(ctx, nc, responder)
		})
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ENFILE, ECONNABORTED...).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// serveConn runs one connection from handshake to removal.
func (s *ServerService) serveConn(ctx context.Context, nc net.Conn, responder noise.ResponderConfig) {
	log := s.log.With("remote", nc.RemoteAddr().String())
	// Until the client is registered, shutdown reaches it only through this.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	tcfg := transport.Config{MaxFrameSize: s.cfg.MaxFrameSize, WriteTimeout: s.cfg.WriteTimeout, HandshakeTimeout: s.cfg.HandshakeTimeout}
	var conn *transport.Conn
	if s.cfg.Plain {
		conn = transport.NewPlain(nc, tcfg)
	} else {
		select {
		case s.hsSem <- struct{}{}:
		case <-ctx.Done():
			nc.Close()
			return
		}
		var err error
		conn, err = transport.Server(ctx, nc, transport.ServerConfig{Config: tcfg, Noise: responder})
		<-s.hsSem
		if err != nil {
			log.Debug("handshake failed", "error", err)
			return
		}
	}
	c, err := s.setup(conn, log)
	if err != nil {
		log.Info("connection closed during setup", "error", err)
		conn.Close()
		return
	}
	log = log.With("client", uint64(c.info.ID), "protocol", c.info.Setup.Protocol.String())
	log.Info("client connected", "version", c.info.Version, "flags", c.info.Flags)
	s.wg.Go(func() { s.writeLoop(c, log) })
	defer s.removed(ctx, c)
	handler := s.handlers[c.info.Setup.Protocol]
	events, err := handler.ClientAdded(ctx, c.info)
	if err != nil {
		log.Error("ClientAdded failed; closing", "error", err)
		s.remove(c, err)
		return
	}
	if err := s.run(ctx, events); err != nil {
		log.Error("follow-up events of ClientAdded failed", "error", err)
	}
	s.readLoop(ctx, c, log)
	s.remove(c, ErrStopped) // a no-op unless the reader stopped without a reason
}

// setup reads the first message, which must be SetupConnection, and answers it.
func (s *ServerService) setup(conn *transport.Conn, log *slog.Logger) (*serverClient, error) {
	conn.SetReadDeadline(time.Now().Add(s.cfg.SetupTimeout))
	_, m, err := conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	req, ok := m.(*sv2.SetupConnection)
	if !ok {
		return nil, fmt.Errorf("%w: first message is %s, not SetupConnection", ErrProtocol, sv2.Info(m).Name)
	}
	refuse := func(code string, flags uint32) error {
		err := &SetupError{Protocol: req.Protocol, Code: code, Flags: flags}
		if werr := conn.WriteMessage(&sv2.SetupConnectionError{Flags: flags, ErrorCode: code}); werr != nil {
			return fmt.Errorf("%w (and sending it: %w)", err, werr)
		}
		return err
	}
	h := s.handlers[req.Protocol]
	if h == nil {
		return nil, refuse(CodeUnsupportedProtocol, 0)
	}
	lo, hi := s.cfg.protocol(req.Protocol).versions()
	if req.MaxVersion < lo || req.MinVersion > hi || req.MinVersion > req.MaxVersion {
		return nil, refuse(CodeProtocolVersionMismatch, 0)
	}
	flags, unsupported := h.Flags(req.Flags)
	if unsupported != 0 {
		return nil, refuse(CodeUnsupportedFeatureFlags, unsupported)
	}
	version := min(req.MaxVersion, hi)
	if err := conn.WriteMessage(&sv2.SetupConnectionSuccess{UsedVersion: version, Flags: flags}); err != nil {
		return nil, err
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	c := &serverClient{
		info: ClientInfo{
			ID: ClientID(s.nextID.Add(1)), Remote: conn.RemoteAddr(), Setup: *req,
			Version: version, Flags: flags, Handshake: conn.Handshake(),
		},
		conn:    conn,
		out:     make(chan sv2.Message, s.cfg.SendQueue),
		flushed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.mu.Lock()
	s.clients[c.info.ID] = c
	s.mu.Unlock()
	return c, nil
}

func (s *ServerService) readLoop(ctx context.Context, c *serverClient, log *slog.Logger) {
	p := c.info.Setup.Protocol
	for {
		// A client that sends requests without waiting for the answers must
		// not fill its own send queue and be dropped as too slow: while the
		// queue is half full, wait for the writer before reading more.
		for len(c.out) > cap(c.out)/2 {
			select {
			case <-c.flushed:
			case <-c.done:
				return
			}
		}
		if s.cfg.InactivityTimeout > 0 {
			c.conn.SetReadDeadline(time.Now().Add(s.cfg.InactivityTimeout))
		}
		_, m, err := c.conn.ReadMessage()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				err = ErrStopped
			case errors.Is(err, os.ErrDeadlineExceeded):
				err = fmt.Errorf("%w: silent for %v", ErrInactive, s.cfg.InactivityTimeout)
			case isDecodeError(err):
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			s.remove(c, err)
			return
		}
		info := sv2.Info(m)
		if _, unknown := m.(*sv2.Unknown); unknown {
			// §3.4: unknown extensions processed locally are ignored.
			log.Debug("ignoring message of unknown type", "message", info.Name)
			continue
		}
		if !info.UsableOn(p) || info.Protocol == sv2.ProtocolCommon {
			s.remove(c, fmt.Errorf("%w: %s on a %s connection", ErrProtocol, info.Name, p))
			return
		}
		events, err := s.dispatch(ctx, c.info.ID, m)
		if err != nil {
			log.Warn("closing client: handling its message failed", "message", info.Name, "error", err)
			s.remove(c, err)
			return
		}
		if err := s.run(ctx, events); err != nil {
			// The client did nothing wrong: keep it, but say what was lost.
			log.Error("follow-up events failed", "message", info.Name, "error", err)
		}
	}
}

func isDecodeError(err error) bool {
	var de *sv2.DecodeError
	return errors.As(err, &de)
}

// dispatch calls the handler method for m; a message that does not flow from
// client to server on this subprotocol is a protocol violation.
func (s *ServerService) dispatch(ctx context.Context, c ClientID, m sv2.Message) ([]ServerEvent, error) {
	switch m := m.(type) {
	case *sv2.OpenStandardMiningChannel:
		return s.mining.OpenStandardMiningChannel(ctx, c, m)
	case *sv2.OpenExtendedMiningChannel:
		return s.mining.OpenExtendedMiningChannel(ctx, c, m)
	case *sv2.UpdateChannel:
		return s.mining.UpdateChannel(ctx, c, m)
	case *sv2.CloseChannel:
		return s.mining.CloseChannel(ctx, c, m)
	case *sv2.SubmitSharesStandard:
		return s.mining.SubmitSharesStandard(ctx, c, m)
	case *sv2.SubmitSharesExtended:
		return s.mining.SubmitSharesExtended(ctx, c, m)
	case *sv2.SetCustomMiningJob:
		return s.mining.SetCustomMiningJob(ctx, c, m)
	case *sv2.AllocateMiningJobToken:
		return s.jd.AllocateMiningJobToken(ctx, c, m)
	case *sv2.DeclareMiningJob:
		return s.jd.DeclareMiningJob(ctx, c, m)
	case *sv2.ProvideMissingTransactionsSuccess:
		return s.jd.ProvideMissingTransactionsSuccess(ctx, c, m)
	case *sv2.PushSolution:
		return s.jd.PushSolution(ctx, c, m)
	case *sv2.CoinbaseOutputConstraints:
		return s.td.CoinbaseOutputConstraints(ctx, c, m)
	case *sv2.RequestTransactionData:
		return s.td.RequestTransactionData(ctx, c, m)
	case *sv2.SubmitSolution:
		return s.td.SubmitSolution(ctx, c, m)
	}
	return nil, fmt.Errorf("%w: %s is not sent by clients", ErrProtocol, sv2.Info(m).Name)
}

// writeLoop is the only writer of c's connection after setup. It sends
// whatever is queued with one system call.
func (s *ServerService) writeLoop(c *serverClient, log *slog.Logger) {
	for {
		select {
		case m := <-c.out:
			// Buffer everything queued, then flush once.
			for more := true; more; {
				if err := s.buffer(c, m, log); err != nil {
					s.remove(c, err)
					return
				}
				select {
				case m = <-c.out:
				default:
					more = false
				}
			}
			if err := c.conn.Flush(); err != nil {
				s.remove(c, err)
				return
			}
			select {
			case c.flushed <- struct{}{}:
			default:
			}
		case <-c.done:
			return
		}
	}
}

// buffer adds m to c's pending writes; a message that does not encode is
// logged and dropped, the connection stays.
func (s *ServerService) buffer(c *serverClient, m sv2.Message, log *slog.Logger) error {
	err := c.conn.BufferMessage(m)
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*sv2.EncodeError](err); ok {
		log.Error("dropping a message that does not encode", "message", sv2.Info(m).Name, "error", err)
		return nil
	}
	return err
}

// send queues m for c; a client whose queue is full is too slow and is removed.
func (s *ServerService) send(c *serverClient, m sv2.Message) {
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.out <- m:
	default:
		s.remove(c, fmt.Errorf("%w: %d messages waiting", ErrSendQueueFull, cap(c.out)))
	}
}

// remove ends a client once: closes its connection, forgets it and tells its handler.
func (s *ServerService) remove(c *serverClient, reason error) {
	c.removeOnce.Do(func() {
		c.reason = reason
		close(c.done)
		c.conn.Close()
		s.mu.Lock()
		delete(s.clients, c.info.ID)
		s.mu.Unlock()
		s.log.Info("client removed", "client", uint64(c.info.ID), "reason", reason)
	})
}

// removed tells the handler a client is gone. serveConn calls it on the
// client's own goroutine once its reader stopped, so it comes after
// ClientAdded and after every handler call for that client's messages,
// whichever goroutine started the removal.
func (s *ServerService) removed(ctx context.Context, c *serverClient) {
	// The service context may be ending; the handler still gets to clean up.
	ctx = context.WithoutCancel(ctx)
	events, err := s.handlers[c.info.Setup.Protocol].ClientRemoved(ctx, c.info, c.reason)
	if err == nil {
		err = s.run(ctx, events)
	}
	if err != nil {
		s.log.Error("ClientRemoved failed", "client", uint64(c.info.ID), "error", err)
	}
}

func (s *ServerService) shutdown() {
	s.mu.Lock()
	clients := make([]*serverClient, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		s.remove(c, ErrStopped)
	}
}

func (s *ServerService) siblingLoop(ctx context.Context) {
	in := s.sibling.toServer
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-in.ch:
			if err := s.run(ctx, []ServerEvent{e}); err != nil {
				s.log.Error("event from the sibling failed", "event", fmt.Sprintf("%T", e), "error", err)
			}
		}
	}
}

// HandleEvent carries out ev, which must be a ServerEvent, and its follow-ups
// in the caller's goroutine; application code uses it to feed events in.
func (s *ServerService) HandleEvent(ctx context.Context, ev Event) error {
	se, ok := ev.(ServerEvent)
	if !ok {
		return fmt.Errorf("%w: %T", ErrWrongSide, ev)
	}
	select {
	case <-s.running:
	default:
		return ErrNotRunning
	}
	return s.run(ctx, []ServerEvent{se})
}

// run carries out events and their follow-ups.
func (s *ServerService) run(ctx context.Context, events []ServerEvent) error {
	return runEvents(events, func(e ServerEvent) ([]ServerEvent, error) { return s.do(ctx, e) })
}

// runEvents carries out events and their follow-ups depth first, in order,
// without recursion, up to MaxEventChain events. Follow-ups are kept as a
// stack of slices, so nothing is copied.
func runEvents[E any](events []E, do func(E) ([]E, error)) error {
	var buf [8][]E
	stack := append(buf[:0], events)
	for n := 0; len(stack) > 0; {
		top := &stack[len(stack)-1]
		if len(*top) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		e := (*top)[0]
		*top = (*top)[1:]
		if n++; n > MaxEventChain {
			return fmt.Errorf("%w (%d)", ErrEventChain, MaxEventChain)
		}
		more, err := do(e)
		if err != nil {
			return err
		}
		if len(more) > 0 {
			stack = append(stack, more)
		}
	}
	return nil
}

func (s *ServerService) client(id ClientID) *serverClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[id]
}

func (s *ServerService) do(ctx context.Context, e ServerEvent) ([]ServerEvent, error) {
	switch e := e.(type) {
	case SendToClient:
		if c := s.client(e.Client); c != nil {
			s.send(c, e.Message)
		} else {
			s.log.Debug("message for a client that has gone", "client", uint64(e.Client))
		}
	case SendToClients:
		for _, id := range e.Clients {
			if c := s.client(id); c != nil {
				s.send(c, e.Message)
			}
		}
	case SendToAll:
		s.mu.Lock()
		var targets []*serverClient
		for _, c := range s.clients {
			if c.info.Setup.Protocol == e.Protocol {
				targets = append(targets, c)
			}
		}
		s.mu.Unlock()
		for _, c := range targets {
			s.send(c, e.Message)
		}
	case DisconnectClient:
		if c := s.client(e.Client); c != nil {
			s.remove(c, fmt.Errorf("%w: %s", ErrDisconnected, e.Reason))
		}
	case SendEventToSiblingClientService:
		if s.sibling == nil {
			return nil, ErrNoSibling
		}
		return nil, s.sibling.toClient.send(e.Event)
	case Notify:
		h := s.handlers[e.Protocol]
		if h == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, e.Protocol)
		}
		return h.HandleEvent(ctx, e.Payload)
	default:
		return nil, fmt.Errorf("%w: %T", ErrWrongSide, e)
	}
	return nil, nil
}
