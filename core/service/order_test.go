package service

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/sv2"
)

// orderHandler opens channels and, on every pushed job tick, sends a job for
// the newest channel of the client. It keeps per-client state only through
// SetClientState and has no lock of its own: the service's order is all it
// relies on.
type orderHandler struct {
	NullMiningServerHandler
}

// orderState is one client's state, touched only on that client's goroutine.
type orderState struct {
	next, newest uint32
}

type jobTick struct{}
type marker struct{ seq uint32 }

func (orderHandler) Flags(requested uint32) (uint32, uint32) { return 0, 0 }

func (orderHandler) ClientAdded(ctx context.Context, _ ClientInfo) ([]ServerEvent, error) {
	SetClientState(ctx, &orderState{})
	return nil, nil
}

func (orderHandler) OpenStandardMiningChannel(ctx context.Context, c ClientID, m *sv2.OpenStandardMiningChannel) ([]ServerEvent, error) {
	st := ClientState(ctx).(*orderState)
	st.next++
	st.newest = st.next
	return []ServerEvent{SendToClient{c, &sv2.OpenStandardMiningChannelSuccess{RequestID: m.RequestID, ChannelID: st.newest, Target: m.MaxTarget, ExtranoncePrefix: []byte{1}}}}, nil
}

func (orderHandler) HandleClientEvent(ctx context.Context, c ClientID, payload any) ([]ServerEvent, error) {
	st := ClientState(ctx).(*orderState)
	switch p := payload.(type) {
	case jobTick:
		if st.newest == 0 {
			return nil, nil
		}
		return []ServerEvent{SendToClient{c, &sv2.NewMiningJob{ChannelID: st.newest, JobID: 1, MerkleRoot: sv2.U256{}}}}, nil
	case marker:
		return []ServerEvent{SendToClient{c, &sv2.SetTarget{ChannelID: 0, MaximumTarget: sv2.U256{0: byte(p.seq)}}}}, nil
	}
	return nil, errors.New("unexpected payload")
}

// A push to all clients races with a client's own OpenStandardMiningChannel,
// 1000 times: the client always sees the channel's Success before any job
// for that channel, and the handler has no lock of its own.
func TestPushToAllNeverOvertakesAChannelsSuccess(t *testing.T) {
	noGoroutineLeak(t)
	k := newKeys(t)
	srv, r := startServer(t, serverConfig(k, false), orderHandler{}, nil, nil)
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	if _, m, err := c.ReadMessage(); err != nil {
		t.Fatalf("setup: %v, %v", m, err)
	}
	ctx := context.Background()
	const rounds = 1000
	opened := map[uint32]bool{}
	racing := 0 // jobs for the channel opened in the same round
	for i := range rounds {
		start := make(chan struct{})
		pushed := make(chan error, 1)
		go func() {
			<-start
			pushed <- srv.HandleEvent(ctx, NotifyAll{Protocol: sv2.ProtocolMining, Payload: jobTick{}})
		}()
		close(start)
		if err := c.WriteMessage(&sv2.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: "u", MaxTarget: sv2.U256{31: 0xff}}); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, pushed, "the push"); err != nil {
			t.Fatalf("round %d: push: %v", i, err)
		}
		// Whatever this round's push sent is queued before the marker.
		if err := srv.HandleEvent(ctx, NotifyAll{Protocol: sv2.ProtocolMining, Payload: marker{uint32(i)}}); err != nil {
			t.Fatal(err)
		}
		gotSuccess, gotMarker := false, false
		for !gotSuccess || !gotMarker {
			c.SetReadDeadline(time.Now().Add(waitLimit))
			_, m, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			switch m := m.(type) {
			case *sv2.OpenStandardMiningChannelSuccess:
				if m.RequestID != uint32(i) {
					t.Fatalf("round %d: Success for request %d", i, m.RequestID)
				}
				opened[m.ChannelID] = true
				gotSuccess = true
			case *sv2.NewMiningJob:
				if !opened[m.ChannelID] {
					t.Fatalf("round %d: job for channel %d before its Success", i, m.ChannelID)
				}
				if m.ChannelID == uint32(i+1) {
					racing++
				}
			case *sv2.SetTarget:
				if m.MaximumTarget[0] != byte(i) {
					t.Fatalf("round %d: marker of round %d", i, m.MaximumTarget[0])
				}
				gotMarker = true
			default:
				t.Fatalf("round %d: unexpected %s", i, sv2.Info(m).Name)
			}
		}
	}
	t.Logf("%d of %d pushes made a job for the channel opened in the same round", racing, rounds)
}

// gatedListener hands out connections whose writes can be held, to stand
// for a peer that stops reading.
type gatedListener struct {
	net.Listener
	mu    sync.Mutex
	gate  chan struct{} // writes wait while it is open; nil lets them through
	conns []*gatedConn
}

type gatedConn struct {
	net.Conn
	l         *gatedListener
	closed    chan struct{}
	closeOnce sync.Once
}

// Close ends a held write, as closing a socket ends a blocked write.
func (c *gatedConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (l *gatedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: nc, l: l, closed: make(chan struct{})}, nil
}

// hold makes later writes wait until release.
func (l *gatedListener) hold() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gate = make(chan struct{})
}

func (l *gatedListener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gate != nil {
		close(l.gate)
		l.gate = nil
	}
}

func (c *gatedConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	gate := c.l.gate
	c.l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return c.Conn.Write(b)
}

// goodbyeServer acknowledges every share and says goodbye on a graceful close.
type goodbyeServer struct {
	*miningServer
	handled chan struct{}
}

func (h *goodbyeServer) SubmitSharesStandard(ctx context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	events, err := h.miningServer.SubmitSharesStandard(ctx, c, m)
	h.handled <- struct{}{}
	return events, err
}

func (h *goodbyeServer) ClientStopping(_ context.Context, c ClientInfo, reason error) ([]ServerEvent, error) {
	return []ServerEvent{SendToClient{c.ID, &sv2.CloseChannel{ChannelID: 1, ReasonCode: "shutdown"}}}, nil
}

var _ StopHandler = (*goodbyeServer)(nil)

func startGated(t *testing.T, cfg ServerConfig, h MiningServerHandler) (*gatedListener, running) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := &gatedListener{Listener: ln}
	cfg.Listener = gl
	_, r := startServer(t, cfg, h, nil, nil)
	return gl, r
}

// A client with 500 acknowledgements queued when the server's context is
// cancelled receives all of them, then the handler's goodbye, then EOF.
func TestStopDeliversQueuedAcknowledgements(t *testing.T) {
	noGoroutineLeak(t)
	k := newKeys(t)
	h := &goodbyeServer{newMiningServer(), make(chan struct{}, 1000)}
	gl, r := startGated(t, serverConfig(k, false), h)
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	recv(t, h.added, "ClientAdded")

	gl.hold() // the server's writes wait: its acknowledgements queue up
	const n = 500
	for i := range n {
		c.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(i)})
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for range n {
		recv(t, h.handled, "a share to be handled")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	gl.release()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	for i := range n {
		_, m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("acknowledgement %d: %v", i, err)
		}
		if a, ok := m.(*sv2.SubmitSharesSuccess); !ok || a.LastSequenceNumber != uint32(i) {
			t.Fatalf("acknowledgement %d: %#v", i, m)
		}
	}
	if _, m, err := c.ReadMessage(); err != nil || m.(*sv2.CloseChannel).ReasonCode != "shutdown" {
		t.Fatalf("goodbye: %#v, %v", m, err)
	}
	expectClosed(t, c)
	if err := recv(t, stopped, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rm := recv(t, h.removed, "ClientRemoved"); !errors.Is(rm.reason, ErrStopped) {
		t.Errorf("removed because %v, want ErrStopped", rm.reason)
	}
}

// A peer that stops reading does not hold the stop beyond the drain time:
// with writes blocked for good and a write timeout far longer, Run returns
// once DrainTimeout has passed, and the client is removed saying why.
func TestStopDoesNotWaitForAPeerThatStopsReading(t *testing.T) {
	noGoroutineLeak(t)
	k := newKeys(t)
	h := newMiningServer()
	cfg := serverConfig(k, false)
	cfg.DrainTimeout = 100 * time.Millisecond
	cfg.WriteTimeout = time.Hour
	gl, r := startGated(t, cfg, h)
	defer gl.release()
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	recv(t, h.added, "ClientAdded")
	gl.hold()
	c.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: 1})
	recv(t, h.messages, "the share")
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	if err := recv(t, stopped, "Run to return within the drain time"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rm := recv(t, h.removed, "ClientRemoved")
	if !errors.Is(rm.reason, ErrStopped) {
		t.Errorf("removed because %v, want ErrStopped", rm.reason)
	}
	t.Logf("removed: %v", rm.reason)
}

// ctxServer keeps the context of each share call.
type ctxServer struct {
	*miningServer
	ctxs chan context.Context
}

func (h *ctxServer) SubmitSharesStandard(ctx context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	h.ctxs <- ctx
	return nil, nil
}

// The context of a client's handler calls ends when that client is removed,
// not before, and says why.
func TestClientContextEndsWithTheClient(t *testing.T) {
	k := newKeys(t)
	h := &ctxServer{newMiningServer(), make(chan context.Context, 1)}
	_, r := startServer(t, serverConfig(k, true), h, nil, nil)
	c := rawClient(t, r.addr, nil, true)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	recv(t, h.added, "ClientAdded")
	c.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1})
	ctx := recv(t, h.ctxs, "the share's context")
	if ctx.Err() != nil {
		t.Fatalf("context ended while the client is connected: %v", ctx.Err())
	}
	c.Close()
	recv(t, ctx.Done(), "the context to end")
	recv(t, h.removed, "ClientRemoved")
	if cause := context.Cause(ctx); cause == nil || errors.Is(cause, context.Canceled) {
		t.Errorf("cause %v, want the removal's reason", cause)
	}
}

// DisconnectClient from elsewhere lets what was queued before it go out first.
func TestDisconnectClientAfterQueuedMessages(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	srv, r := startServer(t, serverConfig(k, true), h, nil, nil)
	c := rawClient(t, r.addr, nil, true)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	id := recv(t, h.added, "ClientAdded").ID
	ctx := context.Background()
	if err := srv.HandleEvent(ctx, SendToClient{id, &sv2.CloseChannel{ChannelID: 7, ReasonCode: "bye"}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleEvent(ctx, DisconnectClient{id, "test"}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, m, err := c.ReadMessage(); err != nil || m.(*sv2.CloseChannel).ChannelID != 7 {
		t.Fatalf("queued message: %#v, %v", m, err)
	}
	expectClosed(t, c)
	if rm := recv(t, h.removed, "ClientRemoved"); !errors.Is(rm.reason, ErrDisconnected) {
		t.Errorf("removed because %v, want ErrDisconnected", rm.reason)
	}
}
