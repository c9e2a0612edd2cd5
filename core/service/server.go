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

	"github.com/stratumgo/stratum/core/backoff"
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

	started  atomic.Bool
	running  chan struct{} // closed once listening
	stopping chan struct{} // closed when the drain starts
	stopped  chan struct{} // closed when Run returns
	addr     net.Addr
	// gatewayAddrs are where cfg.Gateways listen, set before running closes.
	gatewayAddrs []net.Addr
	nextID       atomic.Uint64
	conns        atomic.Int64 // open connections, for MaxConnections
	hsSem        chan struct{}
	sources      *sources
	wg           sync.WaitGroup

	mu      sync.Mutex
	clients map[ClientID]*serverClient
}

// serverClient is one set-up connection. Three goroutines serve it: the
// reader decodes messages into in; the actor (the connection's own
// goroutine) calls the handler for each of them and for everything pushed
// into inbox, one at a time, and is the only one to queue into out; the
// writer writes out to the socket.
type serverClient struct {
	info   ClientInfo
	conn   Wire
	ctx    context.Context // handler calls for this client; ends on removal
	cancel context.CancelCauseFunc
	state  any // SetClientState's value, touched only by the actor
	// The negotiated extensions, touched only by the actor.
	ext     extensions
	extDone bool // a RequestExtensions succeeded

	in      chan sv2.Message // reader → actor; closed when the reader stops
	inbox   *inbox           // anyone → actor
	pending []work           // pushed after a DisconnectClient, for finish
	out     chan outUnit     // actor → writer
	flushed chan struct{}    // signalled after each write, for a reader waiting for room
	closing chan struct{}    // closed by the actor: the reader stops
	drain   chan struct{}    // closed by the actor: queue nothing more, write out what is left
	written chan struct{}    // closed by the writer once it has written out what was left
	done    chan struct{}    // closed on removal

	removeOnce sync.Once
	reason     error // why it was removed, set once by remove
}

// work is something pushed to a client from outside its goroutine, carried
// out by its actor in the order pushed.
type work struct {
	msgs       []sv2.Message // send these
	payload    any           // HandleClientEvent(payload), when notify
	notify     bool
	disconnect error // close the connection, after what was queued before
}

// NewServerService returns a server for the subprotocols whose handlers are
// real (not nil or Null) and configured in cfg.
func NewServerService(cfg ServerConfig, mining MiningServerHandler, jd JobDeclarationServerHandler, td TemplateDistributionServerHandler) (*ServerService, error) {
	cfg.Gateways = slices.Clone(cfg.Gateways) // the caller's array is not ours
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &ServerService{
		cfg:      cfg,
		log:      cfg.Logger.With("service", "server"),
		handlers: map[sv2.Protocol]ServerHandler{},
		running:  make(chan struct{}),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
		hsSem:    make(chan struct{}, cfg.MaxHandshakes),
		sources:  newSources(cfg.MaxConnectionsPerSource, cfg.MaxHandshakesPerSource, cfg.HandshakeRatePerSource),
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

// Addr returns the address the server listens on, waiting until it does, Run
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

// ClientCount returns how many clients are connected, without copying them.
func (s *ServerService) ClientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
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

// Run runs the server: it calls each handler's Start, listens, and serves
// until ctx ends or a fatal error. When ctx ends it stops accepting, lets
// every client's queued messages go out for up to DrainTimeout, and closes
// the connections. It returns only after every goroutine it started has
// ended and every client was removed (its handler told): an error wrapping
// ErrStopped when ctx ended, another error on a failure. It closes
// cfg.Listener, if one was given, when it returns.
func (s *ServerService) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	defer close(s.stopped)
	if s.sibling != nil {
		defer s.sibling.toServer.close()
	}
	// Run owns a configured Listener: it is closed on every return.
	if s.cfg.Listener != nil {
		defer s.cfg.Listener.Close()
	}
	for _, g := range s.cfg.Gateways {
		if g.Listener != nil {
			defer g.Listener.Close()
		}
	}
	for _, p := range protocols {
		if h := s.handlers[p]; h != nil {
			events, err := h.Start(ctx)
			if err != nil {
				return fmt.Errorf("service: %s handler Start: %w", p, err)
			}
			if err := s.run(ctx, nil, events); err != nil {
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
	lns := []net.Listener{ln}
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := range s.cfg.Gateways {
		g := &s.cfg.Gateways[i]
		gl := g.Listener
		if gl == nil {
			if gl, err = net.Listen("tcp", g.ListenAddress); err != nil {
				return fmt.Errorf("service: gateway %s: %w", g.Name, err)
			}
		}
		lns = append(lns, gl)
		s.gatewayAddrs = append(s.gatewayAddrs, gl.Addr())
	}
	s.addr = ln.Addr()
	close(s.running)
	s.log.Info("listening", "address", s.addr.String(), "encrypted", !s.cfg.Plain)
	for i, g := range s.cfg.Gateways {
		s.log.Info("listening", "address", s.gatewayAddrs[i].String(), "gateway", g.Name)
	}

	stopListening := context.AfterFunc(ctx, func() {
		for _, l := range lns {
			l.Close()
		}
	})
	defer stopListening()
	if s.sibling != nil {
		s.wg.Go(func() { s.siblingLoop(ctx) })
	}
	// Every listener's loop runs until ctx ends or one fails; the first
	// failure closes them all.
	errc := make(chan error, len(lns))
	for i, l := range lns {
		var g *Gateway
		if i > 0 {
			g = &s.cfg.Gateways[i-1]
		}
		go func() { errc <- s.acceptLoop(ctx, l, g, responder) }()
	}
	for range lns {
		if e := <-errc; e != nil && err == nil {
			err = e
			for _, l := range lns {
				l.Close()
			}
		}
	}
	stopTimer := s.shutdown()
	s.wg.Wait()
	stopTimer()
	if ctx.Err() != nil {
		return stopped(ctx)
	}
	return err
}

// stopped is Run's result when ctx ended.
func stopped(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
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

// acceptLoop accepts on ln, Sv2 clients or, with g, a gateway's.
func (s *ServerService) acceptLoop(ctx context.Context, ln net.Listener, g *Gateway, responder noise.ResponderConfig) error {
	retry := backoff.Backoff{Base: 5 * time.Millisecond, Cap: time.Second}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of file descriptors and the like: wait, as net/http does.
				delay := retry.Next()
				s.log.Warn("accept failed; retrying", "error", err, "in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("service: accept: %w", err)
		}
		retry.Reset()
		if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
			s.conns.Add(-1)
			s.log.Warn("connection refused: at MaxConnections", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConnections)
			nc.Close()
			continue
		}
		src := SourceOf(nc.RemoteAddr())
		if err := s.sources.admit(src); err != nil {
			s.conns.Add(-1)
			s.log.Debug("connection refused", "remote", nc.RemoteAddr().String(), "reason", err)
			nc.Close()
			continue
		}
		accepted := time.Now()
		s.wg.Go(func() {
			defer s.conns.Add(-1)
			defer s.sources.release(src)
			s.serveConn(ctx, nc, src, accepted, g, responder)
		})
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ENFILE, ECONNABORTED...).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// serveConn runs one connection from handshake to removal; once the client
// is set up, its goroutine is the client's actor.
func (s *ServerService) serveConn(ctx context.Context, nc net.Conn, src string, accepted time.Time, g *Gateway, responder noise.ResponderConfig) {
	log := s.log.With("remote", nc.RemoteAddr().String())
	// Until the client is registered, shutdown reaches it only through this.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	tcfg := transport.Config{MaxFrameSize: s.cfg.MaxFrameSize, WriteTimeout: s.cfg.WriteTimeout, HandshakeTimeout: s.cfg.HandshakeTimeout}
	var conn Wire
	switch {
	case g != nil:
		conn = g.Wrap(nc)
		log = log.With("gateway", g.Name)
	case s.cfg.Plain:
		conn = transport.NewPlain(nc, tcfg)
	default:
		tc, err := s.handshake(ctx, nc, src, accepted, tcfg, responder)
		if err != nil {
			nc.Close()
			log.Debug("handshake failed", "error", err)
			return
		}
		conn = tc
	}
	c, err := s.setup(ctx, conn, g)
	// From here a shutdown drains the client (see actor) instead of cutting
	// it off; if the cut already began, the drain finds the socket closed.
	stop()
	if err != nil {
		log.Info("connection closed during setup", "error", err)
		conn.Close()
		return
	}
	log = log.With("client", uint64(c.info.ID), "protocol", c.info.Setup.Protocol.String())
	log.Info("client connected", "version", c.info.Version, "flags", c.info.Flags)
	s.wg.Go(func() { s.writeLoop(c, log) })
	s.wg.Go(func() { s.readLoop(c) })
	s.actor(c, log)
}

// handshake runs the Noise handshake of a connection from src accepted at
// accepted: within the source's share of the handshakes and its rate, and
// within HandshakeTimeout from accept, waiting for a slot included, so a
// crowd of silent connections cannot keep a new one waiting for longer.
func (s *ServerService) handshake(ctx context.Context, nc net.Conn, src string, accepted time.Time, tcfg transport.Config, responder noise.ResponderConfig) (*transport.Conn, error) {
	done, err := s.sources.handshake(src)
	if err != nil {
		return nil, err
	}
	defer done()
	ctx, cancel := context.WithDeadline(ctx, accepted.Add(s.cfg.HandshakeTimeout))
	defer cancel()
	select {
	case s.hsSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a handshake slot: %w", context.Cause(ctx))
	}
	defer func() { <-s.hsSem }()
	return transport.Server(ctx, nc, transport.ServerConfig{Config: tcfg, Noise: responder})
}

// setup reads the first message, which must be SetupConnection, answers it
// and registers the client.
func (s *ServerService) setup(ctx context.Context, conn Wire, g *Gateway) (*serverClient, error) {
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
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	c := &serverClient{
		info: ClientInfo{
			ID: ClientID(s.nextID.Add(1)), Remote: conn.RemoteAddr(), Setup: *req,
			Version: version, Flags: flags, Handshake: conn.Handshake(),
		},
		conn:    conn,
		in:      make(chan sv2.Message, max(1, min(clientInQueue, s.cfg.SendQueue/64))),
		inbox:   newInbox(s.cfg.SendQueue),
		out:     make(chan outUnit, s.cfg.SendQueue),
		flushed: make(chan struct{}, 1),
		closing: make(chan struct{}),
		drain:   make(chan struct{}),
		written: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if g != nil {
		c.info.Gateway, c.info.AckEachShare = g.Name, g.AckEachShare
	}
	// The client's calls outlive the service's context by the drain, so
	// their context ends with the client, not with ctx.
	base := context.WithValue(context.WithoutCancel(ctx), clientKey{}, c)
	c.ctx, c.cancel = context.WithCancelCause(base)
	// Registered before the Success goes out, so that whatever is pushed to
	// all clients once the client knows it is set up reaches it too (after
	// ClientAdded, since the actor takes its inbox only then).
	s.mu.Lock()
	s.clients[c.info.ID] = c
	s.mu.Unlock()
	if err := conn.WriteMessage(&sv2.SetupConnectionSuccess{UsedVersion: version, Flags: flags}); err != nil {
		s.mu.Lock()
		delete(s.clients, c.info.ID)
		s.mu.Unlock()
		c.cancel(err)
		return nil, err
	}
	return c, nil
}

// inboxEvery bounds how many waiting messages the actor handles in a row
// before it looks at its inbox and at the service stopping.
const inboxEvery = 8

// clientInQueue is how many decoded messages may wait for the actor: enough
// to keep the reader decoding while the handler works, few enough (against
// the send queue, which the reader's pacing watches) that the replies of the
// messages already read always fit.
const clientInQueue = 16

// actor calls the handler for everything concerning c, one call at a time:
// ClientAdded, each message, each pushed event, then ClientRemoved.
func (s *ServerService) actor(c *serverClient, log *slog.Logger) {
	handler := s.handlers[c.info.Setup.Protocol]
	events, err := handler.ClientAdded(c.ctx, c.info)
	if err != nil {
		log.Error("ClientAdded failed; closing", "error", err)
		s.remove(c, err)
	} else {
		if err := s.run(c.ctx, c, events); err != nil {
			log.Error("follow-up events of ClientAdded failed", "error", err)
		}
		if graceful := s.serve(c, log); graceful != nil {
			s.finish(c, handler, graceful, log)
		}
	}
	c.inbox.close()         // later pushes are refused
	s.remove(c, ErrStopped) // a no-op unless nothing gave a reason
	s.removed(c)
}

// serve runs the actor's loop until the client is removed (nil) or must be
// closed gracefully: the service stops, or a DisconnectClient was pushed.
func (s *ServerService) serve(c *serverClient, log *slog.Logger) (graceful error) {
	for {
		s.handleWaiting(c, log)
		select {
		case m, ok := <-c.in:
			if !ok {
				// The reader stopped: removed, or the service stops.
				select {
				case <-c.done:
					return nil
				default:
					return ErrStopped
				}
			}
			s.handleMessage(c, m, log)
		case <-c.inbox.ready:
			batch := c.inbox.take()
			for i, w := range batch {
				if w.disconnect != nil {
					c.pending = append(c.pending, batch[i+1:]...)
					return w.disconnect
				}
				s.carryOut(c, w, log)
			}
		case <-c.done:
			return nil
		case <-s.stopping:
			return ErrStopped
		}
	}
}

// handleWaiting handles the messages already waiting, up to inboxEvery of
// them, without the cost of serve's full select: the common case under load.
func (s *ServerService) handleWaiting(c *serverClient, log *slog.Logger) {
	for range inboxEvery {
		select {
		case m, ok := <-c.in:
			if !ok {
				return // serve's select sees it too
			}
			s.handleMessage(c, m, log)
		default:
			return
		}
	}
}

// finish closes c gracefully: the reader stops, the messages it already
// read and the events already pushed are carried out, a handler that wants
// to say goodbye (StopHandler) does, and what is queued is written out. The
// service's drain timer (or, for a DisconnectClient, this one) bounds it.
func (s *ServerService) finish(c *serverClient, handler ServerHandler, reason error, log *slog.Logger) {
	if !errors.Is(reason, ErrStopped) {
		timer := time.AfterFunc(s.cfg.DrainTimeout, func() {
			s.remove(c, fmt.Errorf("%w (queued messages not written within %v)", reason, s.cfg.DrainTimeout))
		})
		defer timer.Stop()
	}
	close(c.closing)
	c.conn.CloseRead() // the reader stops; the connection stays open for writing
	for m := range c.in {
		s.handleMessage(c, m, log)
	}
	// What was pushed before the close; a push from now on is refused
	// (ErrNoClient), so its sender knows it will not be carried out.
	for _, batch := range [][]work{c.pending, c.inbox.close()} {
		for _, w := range batch {
			if w.disconnect == nil {
				s.carryOut(c, w, log)
			}
		}
	}
	if sh, ok := handler.(StopHandler); ok {
		events, err := sh.ClientStopping(c.ctx, c.info, reason)
		if err == nil {
			err = s.run(c.ctx, c, events)
		}
		if err != nil {
			log.Warn("ClientStopping failed", "error", err)
		}
	}
	close(c.drain)
	select {
	case <-c.written:
		s.remove(c, reason)
	case <-c.done:
	}
}

// handleMessage dispatches one message of c to its handler and carries out
// the follow-ups; a handler error closes the client.
func (s *ServerService) handleMessage(c *serverClient, m sv2.Message, log *slog.Logger) {
	select {
	case <-c.done:
		return // removed (a handler error, say): its handler is told nothing more but ClientRemoved
	default:
	}
	if r, ok := m.(*sv2.RequestExtensions); ok {
		s.negotiate(c, r)
		return
	}
	if err := s.admitted(c, m); err != nil {
		s.remove(c, err)
		return
	}
	events, err := s.dispatch(c.ctx, c.info.ID, m)
	if err != nil {
		log.Warn("closing client: handling its message failed", "message", sv2.Info(m).Name, "error", err)
		s.remove(c, err)
		return
	}
	if err := s.run(c.ctx, c, events); err != nil {
		// The client did nothing wrong: keep it, but say what was lost.
		log.Error("follow-up events failed", "message", sv2.Info(m).Name, "error", err)
	}
}

// carryOut does what was pushed to c, on c's goroutine.
func (s *ServerService) carryOut(c *serverClient, w work, log *slog.Logger) {
	select {
	case <-c.done:
		return
	default:
	}
	s.sendMany(c, w.msgs)
	if !w.notify {
		return
	}
	events, err := s.handlers[c.info.Setup.Protocol].HandleClientEvent(c.ctx, c.info.ID, w.payload)
	if err == nil {
		err = s.run(c.ctx, c, events)
	}
	if err != nil {
		log.Error("client event failed", "payload", fmt.Sprintf("%T", w.payload), "error", err)
	}
}

func (s *ServerService) readLoop(c *serverClient) {
	defer close(c.in)
	p := c.info.Setup.Protocol
	inactivity := s.cfg.InactivityTimeout > 0
	var lastWork time.Time // the last message that does work: inactivity counts from it
	if inactivity {
		if inactivity { // no clock read per message when there is no limit
			lastWork = time.Now()
		}
	}
	for {
		// A client that sends requests without waiting for the answers must
		// not fill its own send queue and be dropped as too slow: while the
		// queue is half full, wait for the writer before reading more.
		for len(c.out) > cap(c.out)/2 {
			select {
			case <-c.flushed:
			case <-c.done:
				return
			case <-c.closing:
				return
			}
		}
		if inactivity {
			// Fixed at the last useful message, not at the last frame: a
			// peer sending unknown frames, or half a frame, is not kept.
			c.conn.SetReadDeadline(lastWork.Add(s.cfg.InactivityTimeout))
		}
		// After our own deadline, so that the actor's "stop now" deadline
		// set when closing is never overwritten unnoticed.
		select {
		case <-c.closing:
			return
		default:
		}
		_, m, err := c.conn.ReadMessage()
		if err != nil {
			select {
			case <-c.closing:
				return // the actor carries out what was read, then closes
			default:
			}
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				err = fmt.Errorf("%w: no message doing work for %v", ErrInactive, s.cfg.InactivityTimeout)
			case isDecodeError(err):
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			s.remove(c, err)
			return
		}
		info := sv2.Info(m)
		if _, unknown := m.(*sv2.Unknown); unknown {
			// §3.4: unknown extensions processed locally are ignored (and
			// do not count as activity).
			continue
		}
		if inactivity { // no clock read per message when there is no limit
			lastWork = time.Now()
		}
		if _, negotiation := m.(*sv2.RequestExtensions); negotiation {
			// The actor answers it, in order with the rest.
		} else if !info.UsableOn(p) || info.Protocol == sv2.ProtocolCommon {
			s.remove(c, fmt.Errorf("%w: %s on a %s connection", ErrProtocol, info.Name, p))
			return
		}
		select {
		case c.in <- m:
		case <-c.done:
			return
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

// outUnit is one entry of a client's send queue: a message, or several that
// were sent together (the jobs a template makes for every channel of a
// connection), so that a fan-out to a connection with thousands of channels
// takes one slot, not one per message, and the queue's bound measures how
// far behind the client is, not how many channels it has.
type outUnit struct {
	one  sv2.Message
	many []sv2.Message
}

// writeLoop is the only writer of c's connection after setup. It sends
// whatever is queued with one system call. Once the actor is done (drain),
// it writes out what is left and stops.
func (s *ServerService) writeLoop(c *serverClient, log *slog.Logger) {
	for {
		select {
		case u := <-c.out:
			if !s.writeQueued(c, u, log) {
				return
			}
		case <-c.drain:
			select {
			case u := <-c.out:
				if !s.writeQueued(c, u, log) {
					return
				}
			default:
			}
			close(c.written)
			return
		case <-c.done:
			return
		}
	}
}

// writeQueued buffers u and everything queued behind it, then flushes once.
func (s *ServerService) writeQueued(c *serverClient, u outUnit, log *slog.Logger) bool {
	for more := true; more; {
		if err := s.bufferUnit(c, u, log); err != nil {
			s.remove(c, err)
			return false
		}
		select {
		case u = <-c.out:
		default:
			more = false
		}
	}
	if err := c.conn.Flush(); err != nil {
		s.remove(c, err)
		return false
	}
	select {
	case c.flushed <- struct{}{}:
	default:
	}
	return true
}

func (s *ServerService) bufferUnit(c *serverClient, u outUnit, log *slog.Logger) error {
	if u.one != nil {
		return s.buffer(c, u.one, log)
	}
	for _, m := range u.many {
		if err := s.buffer(c, m, log); err != nil {
			return err
		}
	}
	return nil
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

// send queues m for c's writer; only c's actor calls it. A client whose
// queue is full is too slow and is removed.
func (s *ServerService) send(c *serverClient, m sv2.Message) { s.queue(c, outUnit{one: m}) }

// sendMany queues msgs for c's writer as one unit; only c's actor calls it.
func (s *ServerService) sendMany(c *serverClient, msgs []sv2.Message) {
	switch len(msgs) {
	case 0:
	case 1:
		s.send(c, msgs[0])
	default:
		s.queue(c, outUnit{many: msgs})
	}
}

func (s *ServerService) queue(c *serverClient, u outUnit) {
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.out <- u:
	default:
		s.remove(c, fmt.Errorf("%w: %d sends waiting", ErrSendQueueFull, cap(c.out)))
	}
}

// post hands w to c's actor, from any goroutine. A client whose inbox is
// full is too slow (its actor cannot keep up) and is removed.
// It reports a client that is gone or closing (ErrNoClient), so that a
// sender waiting for an answer knows none will come.
func (s *ServerService) post(c *serverClient, w work) error {
	select {
	case <-c.done:
		return fmt.Errorf("%w: client %d has gone", ErrNoClient, c.info.ID)
	default:
	}
	switch err := c.inbox.push(w); {
	case errors.Is(err, errInboxClosed):
		return fmt.Errorf("%w: client %d is closing", ErrNoClient, c.info.ID)
	case err != nil:
		err = fmt.Errorf("%w: %d pushed events waiting", ErrSendQueueFull, s.cfg.SendQueue)
		s.remove(c, err)
		return err
	}
	return nil
}

// remove ends a client once: closes its connection, ends its context,
// forgets it. Its actor then tells the handler.
func (s *ServerService) remove(c *serverClient, reason error) {
	c.removeOnce.Do(func() {
		c.reason = reason
		close(c.done)
		c.cancel(reason)
		c.conn.Close()
		s.mu.Lock()
		delete(s.clients, c.info.ID)
		s.mu.Unlock()
		s.log.Info("client removed", "client", uint64(c.info.ID), "reason", reason)
	})
}

// removed tells the handler a client is gone. The client's actor calls it
// last, so it comes after ClientAdded and every other call for that client,
// whichever goroutine started the removal.
func (s *ServerService) removed(c *serverClient) {
	// The client's context has ended; the handler still gets to clean up.
	ctx := context.WithoutCancel(c.ctx)
	events, err := s.handlers[c.info.Setup.Protocol].ClientRemoved(ctx, c.info, c.reason)
	if err == nil {
		err = s.run(ctx, nil, events)
	}
	if err != nil {
		s.log.Error("ClientRemoved failed", "client", uint64(c.info.ID), "error", err)
	}
}

// shutdown starts the drain: every actor closes its client gracefully; the
// clients still there after DrainTimeout are cut off. It returns a func
// that stops the timer, for when every goroutine has ended.
func (s *ServerService) shutdown() (stopTimer func() bool) {
	close(s.stopping)
	timer := time.AfterFunc(s.cfg.DrainTimeout, func() {
		s.mu.Lock()
		clients := make([]*serverClient, 0, len(s.clients))
		for _, c := range s.clients {
			clients = append(clients, c)
		}
		s.mu.Unlock()
		for _, c := range clients {
			s.remove(c, fmt.Errorf("%w (queued messages not written within the drain time, %v)", ErrStopped, s.cfg.DrainTimeout))
		}
	})
	return timer.Stop
}

func (s *ServerService) siblingLoop(ctx context.Context) {
	in := s.sibling.toServer
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-in.ch:
			if err := s.run(ctx, nil, []ServerEvent{e}); err != nil {
				s.log.Error("event from the sibling failed", "event", fmt.Sprintf("%T", e), "error", err)
			}
		}
	}
}

// HandleEvent carries out ev, which must be a ServerEvent, and its
// follow-ups. It is safe to call from any goroutine: events aimed at a
// client are handed to that client's goroutine, in the order given, and a
// Notify runs on the caller's.
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
	return s.run(ctx, nil, []ServerEvent{se})
}

// run carries out events and their follow-ups; self is the client on whose
// goroutine they run, or nil.
func (s *ServerService) run(ctx context.Context, self *serverClient, events []ServerEvent) error {
	return runEvents(events, func(e ServerEvent) ([]ServerEvent, error) { return s.do(ctx, self, e) })
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

// sendTo sends msgs to c: at once on c's own goroutine, through its inbox
// from anywhere else, so that they follow whatever c's handler queued.
func (s *ServerService) sendTo(self, c *serverClient, msgs ...sv2.Message) error {
	if c == self {
		s.sendMany(c, msgs)
		return nil
	}
	return s.post(c, work{msgs: msgs})
}

// notifyClient has c's handler take payload on c's goroutine: now when that
// is this one (its follow-ups are returned), later otherwise.
func (s *ServerService) notifyClient(self, c *serverClient, payload any) ([]ServerEvent, error) {
	if c == self {
		return s.handlers[c.info.Setup.Protocol].HandleClientEvent(c.ctx, c.info.ID, payload)
	}
	return nil, s.post(c, work{notify: true, payload: payload})
}

// ofProtocol returns the clients set up for p.
func (s *ServerService) ofProtocol(p sv2.Protocol) []*serverClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	targets := make([]*serverClient, 0, len(s.clients))
	for _, c := range s.clients {
		if c.info.Setup.Protocol == p {
			targets = append(targets, c)
		}
	}
	return targets
}

func (s *ServerService) do(ctx context.Context, self *serverClient, e ServerEvent) ([]ServerEvent, error) {
	switch e := e.(type) {
	case SendToClient:
		if self != nil && e.Client == self.info.ID {
			s.send(self, e.Message) // a reply: no look-up, no lock
		} else if c := s.client(e.Client); c == nil || s.sendTo(self, c, e.Message) != nil {
			// A message for a client that has gone, or is going, is of no use.
			s.log.Debug("message for a client that has gone", "client", uint64(e.Client))
		}
	case SendMessagesToClient:
		if self != nil && e.Client == self.info.ID {
			s.sendMany(self, e.Messages)
		} else if c := s.client(e.Client); c != nil {
			s.sendTo(self, c, e.Messages...)
		}
	case SendToClients:
		for _, id := range e.Clients {
			if c := s.client(id); c != nil {
				s.sendTo(self, c, e.Message)
			}
		}
	case SendToAll:
		for _, c := range s.ofProtocol(e.Protocol) {
			s.sendTo(self, c, e.Message)
		}
	case DisconnectClient:
		if c := s.client(e.Client); c != nil {
			// After what was queued for it: on its own goroutine, once
			// this chain is done.
			s.post(c, work{disconnect: fmt.Errorf("%w: %s", ErrDisconnected, e.Reason)})
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
	case NotifyClient:
		c := s.client(e.Client)
		if c == nil {
			return nil, fmt.Errorf("%w: client %d", ErrNoClient, e.Client)
		}
		return s.notifyClient(self, c, e.Payload)
	case NotifyAll:
		if s.handlers[e.Protocol] == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, e.Protocol)
		}
		var events []ServerEvent
		for _, c := range s.ofProtocol(e.Protocol) {
			more, err := s.notifyClient(self, c, e.Payload)
			if errors.Is(err, ErrNoClient) {
				continue // "all" is the clients still there
			}
			if err != nil {
				return events, err
			}
			events = append(events, more...)
		}
		return events, nil
	default:
		return nil, fmt.Errorf("%w: %T", ErrWrongSide, e)
	}
	return nil, nil
}

// clientKey keys the *serverClient in the context of its handler calls.
type clientKey struct{}

// SetClientState keeps v as the state of the client whose handler call ctx
// belongs to (a message, ClientAdded, HandleClientEvent, ClientStopping or
// ClientRemoved call); ClientState returns it in that client's later calls.
// The service makes those calls one at a time on the client's goroutine, so
// the state needs no lock as long as only they touch it. It reports false
// for a context that is not a client's.
func SetClientState(ctx context.Context, v any) bool {
	c, ok := ctx.Value(clientKey{}).(*serverClient)
	if ok {
		c.state = v
	}
	return ok
}

// ClientState returns what SetClientState kept for the client of ctx, or nil.
func ClientState(ctx context.Context) any {
	if c, ok := ctx.Value(clientKey{}).(*serverClient); ok {
		return c.state
	}
	return nil
}
