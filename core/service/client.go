package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// ClientService keeps one connection per configured subprotocol, each with
// its own server, encryption and SetupConnection, and turns every message
// from a server into a call of that subprotocol's handler. All handler calls
// happen on the service's own goroutine, one at a time.
type ClientService struct {
	cfg      ClientConfig
	log      *slog.Logger
	mining   MiningClientHandler
	jd       JobDeclarationClientHandler
	td       TemplateDistributionClientHandler
	handlers map[sv2.Protocol]ClientHandler
	sibling  *SiblingIO

	started  atomic.Bool
	running  chan struct{} // closed when the loop runs
	stopped  chan struct{} // closed when the loop ends
	loop     chan loopItem
	wg       sync.WaitGroup
	upstream map[sv2.Protocol]*upstream // touched only by the loop

	mu   sync.Mutex
	info map[sv2.Protocol]ServerInfo
}

// upstream is the state of one subprotocol's connection, owned by the loop.
type upstream struct {
	protocol sv2.Protocol
	cfg      UpstreamConfig
	address  string // where to connect: configured, or moved by Reconnect
	gen      uint64 // bumped on every (re)connect, so stale reports are ignored
	conn     *transport.Conn
	reason   error // why we closed conn ourselves
	// skipExtensions: the server did not answer RequestExtensions, so the
	// next connections go without (extension 0x0001 §4.3).
	skipExtensions bool
	ext            extensions // negotiated on conn
}

// loopItem is what other goroutines hand the service loop.
type loopItem struct {
	protocol sv2.Protocol
	gen      uint64
	conn     *transport.Conn // a connection that completed setup
	info     ServerInfo
	msg      sv2.Message
	err      error       // a failed connect or a lost connection
	event    ClientEvent // from HandleEvent
	reply    chan error  // for event
}

// NewClientService returns a client for the subprotocols whose handlers are
// real (not nil or Null) and whose upstreams are configured in cfg.
func NewClientService(cfg ClientConfig, mining MiningClientHandler, jd JobDeclarationClientHandler, td TemplateDistributionClientHandler) (*ClientService, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := &ClientService{
		cfg:      cfg,
		log:      cfg.Logger.With("service", "client"),
		handlers: map[sv2.Protocol]ClientHandler{},
		running:  make(chan struct{}),
		stopped:  make(chan struct{}),
		loop:     make(chan loopItem),
		upstream: map[sv2.Protocol]*upstream{},
		info:     map[sv2.Protocol]ServerInfo{},
	}
	for _, p := range protocols {
		var h ClientHandler
		switch p {
		case sv2.ProtocolMining:
			h = mining
		case sv2.ProtocolJobDeclaration:
			h = jd
		case sv2.ProtocolTemplateDistribution:
			h = td
		}
		u := cfg.upstream(p)
		switch null := isNull(h); {
		case u != nil && null:
			return nil, fmt.Errorf("%w: a %s server is configured but its handler is nil or Null", ErrConfig, p)
		case u == nil && !null:
			return nil, fmt.Errorf("%w: a %s handler was given but no %s server is configured", ErrConfig, p, p)
		case u != nil:
			c.handlers[p] = h
			c.upstream[p] = &upstream{protocol: p, cfg: *u, address: u.Address}
		}
	}
	if len(c.handlers) == 0 {
		return nil, fmt.Errorf("%w: no subprotocol configured", ErrConfig)
	}
	if !isNull(mining) {
		c.mining = mining
	}
	if !isNull(jd) {
		c.jd = jd
	}
	if !isNull(td) {
		c.td = td
	}
	return c, nil
}

// NewClientServiceFromSibling is NewClientService tied to the ServerService
// that made io (NewServerServiceWithSibling). Each SiblingIO takes one client.
func NewClientServiceFromSibling(cfg ClientConfig, mining MiningClientHandler, jd JobDeclarationClientHandler, td TemplateDistributionClientHandler, io *SiblingIO) (*ClientService, error) {
	if io == nil {
		return nil, fmt.Errorf("%w: nil SiblingIO", ErrConfig)
	}
	c, err := NewClientService(cfg, mining, jd, td)
	if err != nil {
		return nil, err
	}
	if !io.claimed.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: SiblingIO already taken by another client service", ErrConfig)
	}
	c.sibling = io
	return c, nil
}

// Server returns what was negotiated with the server of p, if connected.
func (c *ClientService) Server(p sv2.Protocol) (ServerInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.info[p]
	return info, ok
}

// Run runs the client: it calls each handler's Start, connects every
// configured subprotocol, and serves until ctx ends or a fatal error. It
// returns only after every goroutine it started has ended: an error wrapping
// ErrStopped when ctx ended, another error on a failure. Messages are written
// when they are sent, so nothing is left queued when it returns.
func (c *ClientService) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	defer close(c.stopped)
	if c.sibling != nil {
		defer c.sibling.toClient.close()
	}
	defer c.wg.Wait()
	defer c.closeAll()

	for _, p := range protocols {
		if h := c.handlers[p]; h != nil {
			events, err := h.Start(ctx)
			if err == nil {
				err = c.run(ctx, events)
			}
			if err != nil {
				return fmt.Errorf("service: %s handler Start: %w", p, err)
			}
		}
	}
	for _, p := range protocols {
		if c.upstream[p] != nil {
			c.connect(ctx, p, "", 0) // nothing to disconnect yet, so no follow-ups
		}
	}
	close(c.running)
	var sibling chan ClientEvent
	if c.sibling != nil {
		sibling = c.sibling.toClient.ch
	}
	for {
		select {
		case <-ctx.Done():
			return stopped(ctx)
		case it := <-c.loop:
			c.handle(ctx, it)
		case e := <-sibling:
			if err := c.run(ctx, []ClientEvent{e}); err != nil {
				c.log.Error("event from the sibling failed", "event", fmt.Sprintf("%T", e), "error", err)
			}
		}
	}
}

func (c *ClientService) closeAll() {
	for _, u := range c.upstream {
		if u.conn != nil {
			u.conn.Close()
		}
	}
}

// post hands it to the loop unless the service is stopping.
func (c *ClientService) post(ctx context.Context, it loopItem) bool {
	select {
	case c.loop <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// connect starts a (re)connection of p in the background; the result comes
// back to the loop. A live connection of p is closed first and its handler
// told (Disconnected with ErrReconnect), whose follow-ups are returned.
func (c *ClientService) connect(ctx context.Context, p sv2.Protocol, address string, delay time.Duration) ([]ClientEvent, error) {
	u := c.upstream[p]
	if address != "" {
		u.address = address
	}
	var events []ClientEvent
	if u.conn != nil {
		u.conn.Close()
		u.conn, u.reason = nil, nil
		c.setInfo(p, nil)
		var err error
		if events, err = c.handlers[p].Disconnected(ctx, fmt.Errorf("%w: to %s", ErrReconnect, u.address)); err != nil {
			return nil, err
		}
	}
	u.gen++
	gen, cfg, addr, skipExt := u.gen, u.cfg, u.address, u.skipExtensions
	c.wg.Go(func() {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		conn, info, err := c.dial(ctx, p, cfg, addr, skipExt)
		if !c.post(ctx, loopItem{protocol: p, gen: gen, conn: conn, info: info, err: err}) && conn != nil {
			conn.Close()
		}
	})
	return events, nil
}

// dial connects, secures and sets up one connection.
func (c *ClientService) dial(ctx context.Context, p sv2.Protocol, cfg UpstreamConfig, addr string, skipExtensions bool) (*transport.Conn, ServerInfo, error) {
	info := ServerInfo{Protocol: p, Address: addr}
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, info, fmt.Errorf("service: %s server %s: %w", p, addr, err)
	}
	tcfg := transport.Config{MaxFrameSize: c.cfg.MaxFrameSize, WriteTimeout: c.cfg.WriteTimeout, HandshakeTimeout: c.cfg.HandshakeTimeout}
	var conn *transport.Conn
	if cfg.Plain {
		conn = transport.NewPlain(nc, tcfg)
	} else {
		conn, err = transport.Client(ctx, nc, transport.ClientConfig{Config: tcfg, Noise: noise.InitiatorConfig{AuthorityKey: cfg.AuthorityKey}, Logger: c.log})
		if err != nil {
			return nil, info, fmt.Errorf("service: %s server %s: %w", p, addr, err)
		}
	}
	info.Handshake = conn.Handshake()
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.ParseUint(portStr, 10, 16)
	lo, hi := versionRange(cfg.MinVersion, cfg.MaxVersion)
	setup := &sv2.SetupConnection{
		Protocol: p, MinVersion: lo, MaxVersion: hi, Flags: cfg.Flags,
		EndpointHost: host, EndpointPort: uint16(port),
		Vendor: c.cfg.Vendor, HardwareVersion: c.cfg.HardwareVersion, Firmware: c.cfg.Firmware, DeviceID: c.cfg.DeviceID,
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.WriteMessage(setup); err != nil {
		conn.Close()
		return nil, info, fmt.Errorf("service: %s server %s: sending SetupConnection: %w", p, addr, err)
	}
	sent := time.Now()
	conn.SetReadDeadline(sent.Add(c.cfg.SetupTimeout))
	_, m, err := conn.ReadMessage()
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, info, fmt.Errorf("service: %s server %s: waiting for the SetupConnection reply: %w", p, addr, err)
	}
	switch r := m.(type) {
	case *sv2.SetupConnectionSuccess:
		info.Version, info.Flags = r.UsedVersion, r.Flags
		if len(cfg.Extensions) == 0 || skipExtensions {
			return conn, info, nil
		}
		if info.Extensions, err = c.requestExtensions(conn, p, cfg, time.Since(sent)); err != nil {
			conn.Close()
			return nil, info, fmt.Errorf("service: %s server %s: %w", p, addr, err)
		}
		return conn, info, nil
	case *sv2.SetupConnectionError:
		conn.Close()
		return nil, info, &SetupError{Protocol: p, Code: r.ErrorCode, Flags: r.Flags}
	default:
		conn.Close()
		return nil, info, fmt.Errorf("%w: %s server %s answered SetupConnection with %s", ErrProtocol, p, addr, sv2.Info(m).Name)
	}
}

// requestExtensions negotiates cfg.Extensions right after SetupConnection
// (extension 0x0001) and returns those the server confirmed. A server that
// does not answer within a few of the setup's round trips is taken not to
// know the extension: ErrExtensionsTimeout, after which the service connects
// without extensions (unless some are required).
func (c *ClientService) requestExtensions(conn *transport.Conn, p sv2.Protocol, cfg UpstreamConfig, rtt time.Duration) ([]uint16, error) {
	if err := conn.WriteMessage(&sv2.RequestExtensions{RequestID: 1, RequestedExtensions: cfg.Extensions}); err != nil {
		return nil, fmt.Errorf("sending RequestExtensions: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(min(max(5*rtt, extensionsWaitMin), c.cfg.SetupTimeout)))
	defer conn.SetReadDeadline(time.Time{})
	for {
		_, m, err := conn.ReadMessage()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrExtensionsTimeout, err)
		}
		if err != nil {
			return nil, fmt.Errorf("waiting for the RequestExtensions reply: %w", err)
		}
		var ok []uint16
		switch r := m.(type) {
		case *sv2.Unknown:
			continue // §3.4: ignored
		case *sv2.RequestExtensionsSuccess:
			for _, id := range r.SupportedExtensions {
				if slices.Contains(cfg.Extensions, id) && !slices.Contains(ok, id) {
					ok = append(ok, id) // never one we did not ask for
				}
			}
		case *sv2.RequestExtensionsError:
			if len(r.RequiredExtensions) > 0 {
				return nil, &ExtensionsError{Protocol: p, Required: r.RequiredExtensions}
			}
		default:
			return nil, fmt.Errorf("%w: %s before the RequestExtensions reply", ErrProtocol, sv2.Info(m).Name)
		}
		var missing []uint16
		for _, id := range cfg.RequiredExtensions {
			if !slices.Contains(ok, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return nil, &ExtensionsError{Protocol: p, Unsupported: missing}
		}
		return ok, nil
	}
}

// extensionsWaitMin is the least time given a server to answer RequestExtensions.
const extensionsWaitMin = time.Second

// readLoop passes every message of one connection to the loop.
func (c *ClientService) readLoop(ctx context.Context, p sv2.Protocol, gen uint64, conn *transport.Conn) {
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			if isDecodeError(err) {
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			c.post(ctx, loopItem{protocol: p, gen: gen, err: err})
			return
		}
		if !c.post(ctx, loopItem{protocol: p, gen: gen, msg: m}) {
			return
		}
	}
}

// handle runs on the loop goroutine.
func (c *ClientService) handle(ctx context.Context, it loopItem) {
	if it.reply != nil {
		it.reply <- c.run(ctx, []ClientEvent{it.event})
		return
	}
	u := c.upstream[it.protocol]
	if it.gen != u.gen {
		if it.conn != nil {
			it.conn.Close() // a connection we no longer want
		}
		return
	}
	h := c.handlers[it.protocol]
	// Built only when something is logged: most items are messages that log nothing.
	log := func() *slog.Logger { return c.log.With("protocol", it.protocol.String(), "server", u.address) }
	var events []ClientEvent
	var err error
	switch {
	case it.conn != nil: // connected
		u.conn, u.reason, u.ext = it.conn, nil, it.info.Extensions
		c.setInfo(it.protocol, &it.info)
		log().Info("connected", "version", it.info.Version, "flags", it.info.Flags, "encrypted", it.info.Handshake.Encrypted, "authenticated", it.info.Handshake.Authenticated)
		gen, conn := u.gen, it.conn
		c.wg.Go(func() { c.readLoop(ctx, it.protocol, gen, conn) })
		events, err = h.Connected(ctx, it.info)
	case it.err != nil: // connect failed or connection lost
		reason := it.err
		if errors.Is(reason, ErrExtensionsTimeout) && len(u.cfg.RequiredExtensions) == 0 {
			u.skipExtensions = true
			log().Warn("the server did not answer RequestExtensions; connecting without extensions from now on")
		}
		if u.reason != nil {
			reason = u.reason
		}
		if u.conn != nil {
			u.conn.Close()
			u.conn = nil
		}
		u.reason = nil
		c.setInfo(it.protocol, nil)
		log().Warn("disconnected", "error", reason)
		events, err = h.Disconnected(ctx, reason)
	default: // a message
		events, err = c.dispatch(ctx, u, it.msg)
	}
	if err != nil {
		log().Error("handler failed; closing the connection", "error", err)
		c.closeUpstream(u, err)
		return
	}
	if err := c.run(ctx, events); err != nil {
		// The server did nothing wrong (say the sibling's queue is full): keep the connection.
		log().Error("follow-up events failed", "error", err)
	}
}

func (c *ClientService) setInfo(p sv2.Protocol, info *ServerInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if info == nil {
		delete(c.info, p)
	} else {
		c.info[p] = *info
	}
}

// closeUpstream closes u's connection; its reader then reports the loss,
// which reaches the handler as Disconnected(reason).
func (c *ClientService) closeUpstream(u *upstream, reason error) {
	if u.conn != nil && u.reason == nil {
		u.reason = reason
		u.conn.Close()
	}
}

func (c *ClientService) dispatch(ctx context.Context, u *upstream, m sv2.Message) ([]ClientEvent, error) {
	info := sv2.Info(m)
	if _, unknown := m.(*sv2.Unknown); unknown {
		return nil, nil // §3.4: unknown extensions processed locally are ignored
	}
	if r, ok := m.(*sv2.Reconnect); ok {
		return c.reconnect(ctx, u, r), nil
	}
	if !info.UsableOn(u.protocol) {
		return nil, fmt.Errorf("%w: %s on a %s connection", ErrProtocol, info.Name, u.protocol)
	}
	switch m := m.(type) {
	case *sv2.OpenStandardMiningChannelSuccess:
		return c.mining.OpenStandardMiningChannelSuccess(ctx, m)
	case *sv2.OpenExtendedMiningChannelSuccess:
		return c.mining.OpenExtendedMiningChannelSuccess(ctx, m)
	case *sv2.OpenMiningChannelError:
		return c.mining.OpenMiningChannelError(ctx, m)
	case *sv2.UpdateChannelError:
		return c.mining.UpdateChannelError(ctx, m)
	case *sv2.CloseChannel:
		return c.mining.CloseChannel(ctx, m)
	case *sv2.SetExtranoncePrefix:
		return c.mining.SetExtranoncePrefix(ctx, m)
	case *sv2.SubmitSharesSuccess:
		return c.mining.SubmitSharesSuccess(ctx, m)
	case *sv2.SubmitSharesError:
		return c.mining.SubmitSharesError(ctx, m)
	case *sv2.NewMiningJob:
		return c.mining.NewMiningJob(ctx, m)
	case *sv2.NewExtendedMiningJob:
		return c.mining.NewExtendedMiningJob(ctx, m)
	case *sv2.SetNewPrevHash:
		return c.mining.SetNewPrevHash(ctx, m)
	case *sv2.SetCustomMiningJobSuccess:
		return c.mining.SetCustomMiningJobSuccess(ctx, m)
	case *sv2.SetCustomMiningJobError:
		return c.mining.SetCustomMiningJobError(ctx, m)
	case *sv2.SetTarget:
		return c.mining.SetTarget(ctx, m)
	case *sv2.SetGroupChannel:
		return c.mining.SetGroupChannel(ctx, m)
	case *sv2.ChannelEndpointChanged:
		if c.mining != nil && u.protocol == sv2.ProtocolMining {
			return c.mining.ChannelEndpointChanged(ctx, m)
		}
	case *sv2.AllocateMiningJobTokenSuccess:
		return c.jd.AllocateMiningJobTokenSuccess(ctx, m)
	case *sv2.DeclareMiningJobSuccess:
		return c.jd.DeclareMiningJobSuccess(ctx, m)
	case *sv2.DeclareMiningJobError:
		return c.jd.DeclareMiningJobError(ctx, m)
	case *sv2.ProvideMissingTransactions:
		return c.jd.ProvideMissingTransactions(ctx, m)
	case *sv2.NewTemplate:
		return c.td.NewTemplate(ctx, m)
	case *sv2.TemplateSetNewPrevHash:
		return c.td.SetNewPrevHash(ctx, m)
	case *sv2.RequestTransactionDataSuccess:
		return c.td.RequestTransactionDataSuccess(ctx, m)
	case *sv2.RequestTransactionDataError:
		return c.td.RequestTransactionDataError(ctx, m)
	}
	return nil, fmt.Errorf("%w: %s is not sent by servers on a %s connection", ErrProtocol, info.Name, u.protocol)
}

// reconnect follows a server's Reconnect (§3.6.5): the same subprotocol
// settings, the same pinned authority key, a new host and port (an empty host
// or zero port keeps the present one).
func (c *ClientService) reconnect(ctx context.Context, u *upstream, r *sv2.Reconnect) []ClientEvent {
	host, port, _ := net.SplitHostPort(u.address)
	if r.NewHost != "" {
		host = r.NewHost
	}
	if r.NewPort != 0 {
		port = strconv.Itoa(int(r.NewPort))
	}
	addr := net.JoinHostPort(host, port)
	c.log.Info("server asked to reconnect", "protocol", u.protocol.String(), "from", u.address, "to", addr)
	u.address = addr
	return []ClientEvent{Connect{Protocol: u.protocol, Address: addr}}
}

// HandleEvent carries out ev, which must be a ClientEvent, and its follow-ups
// on the service's goroutine, and returns the outcome.
func (c *ClientService) HandleEvent(ctx context.Context, ev Event) error {
	ce, ok := ev.(ClientEvent)
	if !ok {
		return fmt.Errorf("%w: %T", ErrWrongSide, ev)
	}
	select {
	case <-c.running:
	default:
		return ErrNotRunning
	}
	reply := make(chan error, 1)
	select {
	case c.loop <- loopItem{event: ce, reply: reply}:
	case <-c.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-c.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run carries out events and their follow-ups on the loop goroutine.
func (c *ClientService) run(ctx context.Context, events []ClientEvent) error {
	return runEvents(events, func(e ClientEvent) ([]ClientEvent, error) { return c.do(ctx, e) })
}

func (c *ClientService) do(ctx context.Context, e ClientEvent) ([]ClientEvent, error) {
	switch e := e.(type) {
	case SendToServer:
		u := c.upstream[e.Protocol]
		if u == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, e.Protocol)
		}
		if u.conn == nil || u.reason != nil {
			return nil, fmt.Errorf("%w: %s", ErrNotConnected, e.Protocol)
		}
		if err := u.conn.WriteMessage(keepNegotiated(e.Message, u.ext)); err != nil {
			if _, ok := errors.AsType[*sv2.EncodeError](err); ok {
				return nil, err
			}
			c.closeUpstream(u, err) // the reader reports the loss
			// The sender must know: the message (a block, say) did not go.
			return nil, fmt.Errorf("%w: %s: %w", ErrNotConnected, e.Protocol, err)
		}
	case Connect:
		if c.upstream[e.Protocol] == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, e.Protocol)
		}
		if e.Upstream != nil {
			if e.Upstream.Address == "" {
				return nil, fmt.Errorf("%w: Connect to an upstream without an address", ErrConfig)
			}
			u := c.upstream[e.Protocol]
			u.cfg, u.address, u.skipExtensions = *e.Upstream, e.Upstream.Address, false
		}
		return c.connect(ctx, e.Protocol, e.Address, e.Delay)
	case Disconnect:
		u := c.upstream[e.Protocol]
		if u == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, e.Protocol)
		}
		c.closeUpstream(u, fmt.Errorf("%w: %s", ErrDisconnected, e.Reason))
	case SendEventToSiblingServerService:
		if c.sibling == nil {
			return nil, ErrNoSibling
		}
		return nil, c.sibling.toServer.send(e.Event)
	case Notify:
		h := c.handlers[e.Protocol]
		if h == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, e.Protocol)
		}
		return h.HandleEvent(ctx, e.Payload)
	default:
		return nil, fmt.Errorf("%w: %T", ErrWrongSide, e)
	}
	return nil, nil
}
