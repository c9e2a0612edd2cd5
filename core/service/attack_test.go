package service

// Hostile-peer tests of the server service: what a peer on loopback can do
// to the actor per connection, its queues, its drain and its extensions.
// Tests that fail because of a real defect are kept, guarded by a Skip that
// names the defect.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// probe is a mining server handler that checks the actor contract: for one
// client, never two handler calls at once, and none after ClientRemoved.
type probe struct {
	NullMiningServerHandler

	mu     sync.Mutex
	inside map[ClientID]int
	gone   map[ClientID]bool

	concurrent atomic.Int64 // calls entered while another call of the same client ran
	late       atomic.Int64 // calls after ClientRemoved
	shares     atomic.Int64
	notified   atomic.Int64

	added   chan ClientInfo
	removed chan removal
}

func newProbe() *probe {
	return &probe{
		inside: map[ClientID]int{}, gone: map[ClientID]bool{},
		added: make(chan ClientInfo, 10000), removed: make(chan removal, 10000),
	}
}

// enter records a call for client id; the returned func ends it.
func (p *probe) enter(id ClientID) func() {
	p.mu.Lock()
	p.inside[id]++
	if p.inside[id] > 1 {
		p.concurrent.Add(1)
	}
	if p.gone[id] {
		p.late.Add(1)
	}
	p.mu.Unlock()
	runtime.Gosched() // keep the call open a little, for a concurrent one to show
	return func() {
		p.mu.Lock()
		p.inside[id]--
		p.mu.Unlock()
	}
}

func (p *probe) Flags(uint32) (uint32, uint32) { return 0, 0 }

func (p *probe) ClientAdded(_ context.Context, c ClientInfo) ([]ServerEvent, error) {
	defer p.enter(c.ID)()
	p.added <- c
	return nil, nil
}

func (p *probe) ClientRemoved(_ context.Context, c ClientInfo, reason error) ([]ServerEvent, error) {
	defer p.enter(c.ID)()
	p.mu.Lock()
	p.gone[c.ID] = true
	p.mu.Unlock()
	p.removed <- removal{c, reason}
	return nil, nil
}

func (p *probe) ClientStopping(_ context.Context, c ClientInfo, _ error) ([]ServerEvent, error) {
	defer p.enter(c.ID)()
	return []ServerEvent{SendToClient{c.ID, &sv2.CloseChannel{ChannelID: 1, ReasonCode: "bye"}}}, nil
}

func (p *probe) HandleClientEvent(_ context.Context, c ClientID, payload any) ([]ServerEvent, error) {
	defer p.enter(c)()
	p.notified.Add(1)
	if ev, ok := payload.(ServerEvent); ok {
		return []ServerEvent{ev}, nil
	}
	return nil, nil
}

func (p *probe) SubmitSharesStandard(_ context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	defer p.enter(c)()
	p.shares.Add(1)
	return []ServerEvent{SendToClient{c, &sv2.SubmitSharesSuccess{ChannelID: m.ChannelID, LastSequenceNumber: m.SequenceNumber, NewSubmitsAcceptedCount: 1}}}, nil
}

func (p *probe) OpenStandardMiningChannel(_ context.Context, c ClientID, m *sv2.OpenStandardMiningChannel) ([]ServerEvent, error) {
	defer p.enter(c)()
	return []ServerEvent{SendToClient{c, &sv2.OpenStandardMiningChannelSuccess{RequestID: m.RequestID, ChannelID: 1, Target: m.MaxTarget, ExtranoncePrefix: []byte{1}}}}, nil
}

var _ StopHandler = (*probe)(nil)

// plainClient connects to a plain server and completes SetupConnection.
func plainClient(t testing.TB, addr string) *transport.Conn {
	t.Helper()
	c := rawClient(t, addr, nil, true)
	if err := c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, m, err := c.ReadMessage(); err != nil {
		t.Fatalf("setup: %v", err)
	} else if _, ok := m.(*sv2.SetupConnectionSuccess); !ok {
		t.Fatalf("setup answered with %s", sv2.Info(m).Name)
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// drainConn reads c until it fails, in the background; the returned
// channel is closed then.
func drainConn(c *transport.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return done
}

// serverClientOf returns the service's own record of the client of a handler call.
func serverClientOf(ctx context.Context) *serverClient {
	return ctx.Value(clientKey{}).(*serverClient)
}

// waitInFull waits (bounded) until the reader of the client of ctx has
// filled the actor's input queue: the messages are read, waiting.
func waitInFull(ctx context.Context) {
	sc := serverClientOf(ctx)
	deadline := time.Now().Add(waitLimit)
	for len(sc.in) < cap(sc.in) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a queue length: no channel to wait on
	}
}

// Four clients flood shares while three goroutines push NotifyAll,
// NotifyClient and SendToClient at them, then one is disconnected and the
// service stopped with pushes still coming: for no client are two handler
// calls ever concurrent, nothing is called after ClientRemoved, and every
// client is removed exactly once.
func TestAttackHandlerCallsNeverConcurrentPerClient(t *testing.T) {
	noGoroutineLeak(t)
	h := newProbe()
	srv, r := startServer(t, serverConfig(keys{}, true), h, nil, nil)
	const clients, shares, pushes = 4, 300, 300
	ids := make([]ClientID, clients)
	conns := make([]*transport.Conn, clients)
	var drained []<-chan struct{}
	for i := range clients {
		conns[i] = plainClient(t, r.addr)
		ids[i] = recv(t, h.added, "ClientAdded").ID
		drained = append(drained, drainConn(conns[i]))
	}
	ctx := context.Background()
	var load sync.WaitGroup
	for _, c := range conns {
		load.Go(func() {
			for i := range shares {
				c.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(i)})
				if i%16 == 15 && c.Flush() != nil {
					return
				}
			}
			c.Flush()
		})
	}
	for g := range 3 {
		load.Go(func() {
			for i := range pushes {
				id := ids[(i+g)%clients]
				switch i % 4 {
				case 0:
					srv.HandleEvent(ctx, NotifyAll{Protocol: sv2.ProtocolMining, Payload: i})
				case 1:
					srv.HandleEvent(ctx, NotifyClient{Client: id, Payload: i})
				case 2:
					srv.HandleEvent(ctx, SendToClient{Client: id, Message: &sv2.SetTarget{ChannelID: 1}})
				case 3: // a push whose follow-up is a send on the client's own goroutine
					srv.HandleEvent(ctx, NotifyClient{Client: id, Payload: SendToAll{Protocol: sv2.ProtocolMining, Message: &sv2.SetTarget{ChannelID: 2}}})
				}
			}
		})
	}
	load.Wait()
	deadline := time.Now().Add(waitLimit)
	for h.shares.Load() < clients*shares && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a counter: no channel to wait on
	}
	if err := srv.HandleEvent(ctx, DisconnectClient{Client: ids[0], Reason: "attack"}); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	for i := range 200 { // racing the disconnect and the stop
		srv.HandleEvent(ctx, NotifyAll{Protocol: sv2.ProtocolMining, Payload: i})
		srv.HandleEvent(ctx, NotifyClient{Client: ids[i%clients], Payload: i})
		srv.HandleEvent(ctx, DisconnectClient{Client: ids[i%clients], Reason: "again"})
	}
	if err := recv(t, stopped, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	seen := map[ClientID]int{}
	for range clients {
		seen[recv(t, h.removed, "ClientRemoved").info.ID]++
	}
	for _, d := range drained {
		recv(t, d, "the connection to close")
	}
	select {
	case rm := <-h.removed:
		t.Errorf("a second ClientRemoved, for %d", rm.info.ID)
	default:
	}
	if len(seen) != clients {
		t.Errorf("removed %v, want each of %v once", seen, ids)
	}
	if n := h.concurrent.Load(); n != 0 {
		t.Errorf("%d handler calls ran concurrently with another call of the same client", n)
	}
	if n := h.late.Load(); n != 0 {
		t.Errorf("%d handler calls after ClientRemoved", n)
	}
	t.Logf("%d shares and %d pushed events handled", h.shares.Load(), h.notified.Load())
}

// failingShares refuses the first share of a client (an error closes the
// client), once the reader has queued more of its messages, and counts the
// message calls made after that.
type failingShares struct {
	*probe
	failed atomic.Bool
	after  atomic.Int64
}

func (h *failingShares) SubmitSharesStandard(ctx context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	if h.failed.Load() {
		h.after.Add(1)
		return nil, nil
	}
	waitInFull(ctx)
	h.failed.Store(true)
	return nil, errors.New("attack: this client is refused")
}

// A handler error closes the client: its handler must not be called for
// the messages the reader had already queued behind the one that failed.
func TestAttackNoMessageCallsAfterAHandlerError(t *testing.T) {
	h := &failingShares{probe: newProbe()}
	_, r := startServer(t, serverConfig(keys{}, true), h, nil, nil)
	c := plainClient(t, r.addr)
	recv(t, h.added, "ClientAdded")
	for i := range 40 {
		c.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(i)})
	}
	c.Flush()
	recv(t, h.removed, "ClientRemoved")
	if n := h.after.Load(); n != 0 {
		t.Errorf("%d message calls after the handler's error closed the client", n)
	}
}

// failingAdd refuses every client in ClientAdded once the reader has
// queued some of its messages.
type failingAdd struct {
	*probe
	calls atomic.Int64
}

func (h *failingAdd) ClientAdded(ctx context.Context, c ClientInfo) ([]ServerEvent, error) {
	waitInFull(ctx)
	return nil, errors.New("attack: refused in ClientAdded")
}

func (h *failingAdd) SubmitSharesStandard(ctx context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	h.calls.Add(1)
	return nil, nil
}

// A client refused by ClientAdded (whose state the handler never set up)
// must not get its messages dispatched to the handler.
func TestAttackNoMessageCallsAfterClientAddedFails(t *testing.T) {
	h := &failingAdd{probe: newProbe()}
	_, r := startServer(t, serverConfig(keys{}, true), h, nil, nil)
	c := rawClient(t, r.addr, nil, true)
	c.BufferMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	for i := range 40 { // pipelined behind SetupConnection
		c.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(i)})
	}
	c.Flush()
	recv(t, h.removed, "ClientRemoved")
	if n := h.calls.Load(); n != 0 {
		t.Errorf("%d message calls for a client whose ClientAdded failed", n)
	}
}

// stallStopping holds ClientStopping until the test has pushed a
// notification, and records the notifications handled.
type stallStopping struct {
	*probe
	stopping, resume chan struct{}
	got              chan any
}

func (h *stallStopping) ClientStopping(context.Context, ClientInfo, error) ([]ServerEvent, error) {
	close(h.stopping)
	<-h.resume
	return nil, nil
}

func (h *stallStopping) HandleClientEvent(_ context.Context, _ ClientID, payload any) ([]ServerEvent, error) {
	h.got <- payload
	return nil, nil
}

// A NotifyClient that HandleEvent accepts (nil error) while the client is
// closing gracefully must either reach HandleClientEvent before
// ClientRemoved, or be refused: accepted and silently dropped, a caller
// that waits for its effect (as the pool's CloseChannel does) waits forever.
func TestAttackNotifyClientWhileClosingIsNotLostSilently(t *testing.T) {
	h := &stallStopping{probe: newProbe(), stopping: make(chan struct{}), resume: make(chan struct{}), got: make(chan any, 1)}
	srv, r := startServer(t, serverConfig(keys{}, true), h, nil, nil)
	c := plainClient(t, r.addr)
	drainConn(c)
	id := recv(t, h.added, "ClientAdded").ID
	ctx := context.Background()
	if err := srv.HandleEvent(ctx, DisconnectClient{Client: id, Reason: "attack"}); err != nil {
		t.Fatal(err)
	}
	recv(t, h.stopping, "ClientStopping")
	err := srv.HandleEvent(ctx, NotifyClient{Client: id, Payload: "late"})
	close(h.resume)
	recv(t, h.removed, "ClientRemoved")
	if err != nil {
		return // refused: the caller knows
	}
	select {
	case <-h.got:
	default:
		t.Error("NotifyClient accepted but HandleClientEvent never called")
	}
}

// Events for a client that is gone, or going, are refused or ignored, never
// a panic: NotifyClient says ErrNoClient; DisconnectClient and sends to it
// are no-ops; a hundred DisconnectClients racing the peer's own close end
// in one ClientRemoved.
func TestAttackEventsForGoneClients(t *testing.T) {
	noGoroutineLeak(t)
	h := newProbe()
	srv, r := startServer(t, serverConfig(keys{}, true), h, nil, nil)
	ctx := context.Background()
	for round := range 20 {
		c := plainClient(t, r.addr)
		id := recv(t, h.added, "ClientAdded").ID
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				<-start
				for i := range 25 {
					srv.HandleEvent(ctx, DisconnectClient{Client: id, Reason: "race"})
					srv.HandleEvent(ctx, NotifyClient{Client: id, Payload: i + g})
					srv.HandleEvent(ctx, SendToClient{Client: id, Message: &sv2.SetTarget{}})
				}
			})
		}
		close(start)
		if round%2 == 0 {
			c.Close() // the peer leaves too
		}
		wg.Wait()
		if rm := recv(t, h.removed, "ClientRemoved"); rm.info.ID != id {
			t.Fatalf("removed %d, want %d", rm.info.ID, id)
		}
		if err := srv.HandleEvent(ctx, NotifyClient{Client: id, Payload: "gone"}); !errors.Is(err, ErrNoClient) {
			t.Errorf("NotifyClient to a removed client: %v, want ErrNoClient", err)
		}
		if err := srv.HandleEvent(ctx, DisconnectClient{Client: id, Reason: "gone"}); err != nil {
			t.Errorf("DisconnectClient of a removed client: %v", err)
		}
	}
	select {
	case rm := <-h.removed:
		t.Errorf("a second ClientRemoved, for %d", rm.info.ID)
	default:
	}
	if h.concurrent.Load() != 0 || h.late.Load() != 0 {
		t.Errorf("%d concurrent calls, %d calls after ClientRemoved", h.concurrent.Load(), h.late.Load())
	}
}

// With RequiredExtensions, a client that negotiated them and then asks
// again for something else (refused, which drops what it had) no longer
// has the required extensions: its next message must close it.
func TestAttackRequiredExtensionsCannotBeRenegotiatedAway(t *testing.T) {
	cfg := serverConfig(keys{}, true)
	cfg.SupportedExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	cfg.RequiredExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	h := newProbe()
	_, r := startServer(t, cfg, h, nil, nil)
	c := plainClient(t, r.addr)
	c.SetReadDeadline(time.Now().Add(waitLimit))
	c.WriteMessage(&sv2.RequestExtensions{RequestID: 1, RequestedExtensions: []uint16{sv2.ExtensionWorkerHashrate}})
	if _, m, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*sv2.RequestExtensionsSuccess); !ok {
		t.Fatalf("first request: %s", sv2.Info(m).Name)
	}
	c.WriteMessage(&sv2.RequestExtensions{RequestID: 2, RequestedExtensions: []uint16{0x7777}})
	if _, m, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*sv2.RequestExtensionsError); !ok {
		t.Fatalf("second request: %s", sv2.Info(m).Name)
	}
	c.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: 1})
	if _, m, err := c.ReadMessage(); err == nil {
		t.Errorf("a client without the required extensions got %s for its share instead of being closed", sv2.Info(m).Name)
	}
}

// One peer floods RequestExtensions with 20000 ids each (answered, in
// order, each Error naming at most maxUnsupportedEcho ids, never dropped
// as too slow), while another peer's shares keep being answered.
func TestAttackRequestExtensionsFloodDoesNotStarveOthers(t *testing.T) {
	noGoroutineLeak(t)
	cfg := serverConfig(keys{}, true)
	cfg.SupportedExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	h := newProbe()
	_, r := startServer(t, cfg, h, nil, nil)
	abuser := plainClient(t, r.addr)
	victim := plainClient(t, r.addr)
	recv(t, h.added, "ClientAdded")
	recv(t, h.added, "ClientAdded")
	ids := make([]uint16, 20000)
	for i := range ids {
		ids[i] = uint16(100 + i%10000) // none supported, every id twice
	}
	const requests = 100
	flood := make(chan error, 1)
	go func() {
		for i := range requests {
			if err := abuser.WriteMessage(&sv2.RequestExtensions{RequestID: uint16(i), RequestedExtensions: ids}); err != nil {
				flood <- err
				return
			}
		}
		flood <- nil
	}()
	answers := make(chan error, 1)
	go func() {
		abuser.SetReadDeadline(time.Now().Add(waitLimit))
		for i := range requests {
			_, m, err := abuser.ReadMessage()
			if err != nil {
				answers <- fmt.Errorf("answer %d: %w", i, err)
				return
			}
			e, ok := m.(*sv2.RequestExtensionsError)
			if !ok || e.RequestID != uint16(i) || len(e.UnsupportedExtensions) > maxUnsupportedEcho {
				answers <- fmt.Errorf("answer %d: %s %s", i, sv2.Info(m).Name, sv2.FieldsJSON(m))
				return
			}
		}
		answers <- nil
	}()
	var worst time.Duration
	victim.SetReadDeadline(time.Now().Add(waitLimit))
	for i := range 50 {
		start := time.Now()
		victim.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(i)})
		_, m, err := victim.ReadMessage()
		if err != nil {
			t.Fatalf("victim's share %d: %v", i, err)
		}
		if a, ok := m.(*sv2.SubmitSharesSuccess); !ok || a.LastSequenceNumber != uint32(i) {
			t.Fatalf("victim's share %d: %s", i, sv2.Info(m).Name)
		}
		worst = max(worst, time.Since(start))
	}
	if err := recv(t, flood, "the flood to be written"); err != nil {
		t.Fatalf("flood: %v", err)
	}
	if err := recv(t, answers, "the abuser's answers"); err != nil {
		t.Fatal(err)
	}
	select {
	case rm := <-h.removed:
		t.Errorf("client %d removed: %v", rm.info.ID, rm.reason)
	default:
	}
	t.Logf("worst victim round trip during the flood: %v", worst)
}

// tlvRecorder records the TLVs of each extended share.
type tlvRecorder struct {
	*probe
	tlvs chan []sv2.TLV
}

func (h *tlvRecorder) SubmitSharesExtended(_ context.Context, c ClientID, m *sv2.SubmitSharesExtended) ([]ServerEvent, error) {
	h.tlvs <- m.TLVs
	return nil, nil
}

// tlvBytes encodes one TLV field.
func tlvBytes(ext uint16, field uint8, value []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, ext)
	b = append(b, field)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// writeShareWithTLVs writes an extended share followed by raw TLV bytes.
func writeShareWithTLVs(t testing.TB, c *transport.Conn, seq uint32, tlvs []byte) {
	t.Helper()
	m := &sv2.SubmitSharesExtended{ChannelID: 1, SequenceNumber: seq, Extranonce: []byte{1}}
	payload, err := m.AppendPayload(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload = append(payload, tlvs...)
	h, err := sv2.HeaderFor(m, len(payload))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame(h, payload); err != nil {
		t.Fatal(err)
	}
}

// Shares with the most TLVs the codec takes: 254 large fields of an
// extension not negotiated reach the handler stripped to the one negotiated
// worker field; 255 worker fields reach it whole; a 256th field, or a
// worker field over 32 bytes as the 255th, closes the connection.
func TestAttackTLVFlood(t *testing.T) {
	noGoroutineLeak(t)
	cfg := serverConfig(keys{}, true)
	cfg.SupportedExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	h := &tlvRecorder{probe: newProbe(), tlvs: make(chan []sv2.TLV, 100)}
	_, r := startServer(t, cfg, h, nil, nil)
	negotiated := func() *transport.Conn {
		c := plainClient(t, r.addr)
		recv(t, h.added, "ClientAdded")
		c.WriteMessage(&sv2.RequestExtensions{RequestID: 1, RequestedExtensions: []uint16{sv2.ExtensionWorkerHashrate}})
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, m, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		} else if _, ok := m.(*sv2.RequestExtensionsSuccess); !ok {
			t.Fatalf("negotiation: %s", sv2.Info(m).Name)
		}
		return c
	}
	c := negotiated()
	var junk []byte
	big := make([]byte, 1000)
	for range sv2.MaxTLVs - 1 {
		junk = append(junk, tlvBytes(0x7777, 1, big)...)
	}
	for round := range 20 { // a few hundred kilobytes of fields each
		writeShareWithTLVs(t, c, uint32(round), append(slices.Clip(junk), tlvBytes(2, 1, []byte("rig"))...))
		got := recv(t, h.tlvs, "the share")
		if len(got) != 1 || string(got[0].Value) != "rig" {
			t.Fatalf("round %d: handler saw %d TLVs, want only the worker's", round, len(got))
		}
	}
	var workers []byte
	for i := range sv2.MaxTLVs {
		workers = append(workers, tlvBytes(2, 1, fmt.Appendf(nil, "rig-%d", i))...)
	}
	writeShareWithTLVs(t, c, 100, workers)
	if got := recv(t, h.tlvs, "the share"); len(got) != sv2.MaxTLVs {
		t.Fatalf("handler saw %d worker TLVs, want %d", len(got), sv2.MaxTLVs)
	}
	writeShareWithTLVs(t, c, 101, append(slices.Clip(workers), tlvBytes(2, 1, []byte("one-too-many"))...))
	expectClosed(t, c)
	recv(t, h.removed, "ClientRemoved")

	c = negotiated()
	var long []byte
	for range sv2.MaxTLVs - 1 {
		long = append(long, tlvBytes(0x7777, 1, nil)...)
	}
	long = append(long, tlvBytes(2, 1, make([]byte, sv2.MaxUserIdentityTLV+1))...)
	writeShareWithTLVs(t, c, 1, long)
	expectClosed(t, c)
	recv(t, h.removed, "ClientRemoved")
	select {
	case <-h.tlvs:
		t.Error("a share with a bad TLV list reached the handler")
	default:
	}
}

// Connections churn (set up, then dropped by the peer, or disconnected by
// the server) while another goroutine pushes to all clients and to the
// ones it sees: every client added is removed once, nothing leaks, and the
// handler contract holds.
func TestAttackChurnWhilePushing(t *testing.T) {
	noGoroutineLeak(t)
	h := newProbe()
	srv, r := startServer(t, serverConfig(keys{}, true), h, nil, nil)
	ctx := context.Background()
	stop := make(chan struct{})
	pushed := make(chan int, 1)
	go func() {
		n := 0
		defer func() { pushed <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			srv.HandleEvent(ctx, SendToAll{Protocol: sv2.ProtocolMining, Message: &sv2.SetTarget{ChannelID: 1}})
			srv.HandleEvent(ctx, NotifyAll{Protocol: sv2.ProtocolMining, Payload: n})
			for i, c := range srv.Clients() {
				if (n+i)%5 == 0 {
					srv.HandleEvent(ctx, DisconnectClient{Client: c.ID, Reason: "churn"})
				} else {
					srv.HandleEvent(ctx, NotifyClient{Client: c.ID, Payload: n})
				}
			}
			n++
		}
	}()
	const workers, cycles = 4, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range cycles {
				nc, err := net.DialTimeout("tcp", r.addr, waitLimit)
				if err != nil {
					t.Error(err)
					return
				}
				c := transport.NewPlain(nc, transport.Config{})
				c.BufferMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
				for j := range (w + i) % 8 {
					c.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(j)})
				}
				c.Flush()
				if i%2 == 0 {
					c.SetReadDeadline(time.Now().Add(waitLimit))
					c.ReadMessage() // the Success, or an error if disconnected first
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	close(stop)
	t.Logf("%d push rounds", recv(t, pushed, "the pusher to stop"))
	// Every connection that completed setup is removed; none is left. A
	// peer's setup can still be in flight after its socket closed, so the
	// events are counted until they balance and the server lists nobody.
	added, removed := 0, 0
	deadline := time.After(waitLimit)
	for added != removed || len(srv.Clients()) != 0 {
		select {
		case <-h.added:
			added++
		case <-h.removed:
			removed++
		case <-deadline:
			t.Fatalf("%d clients left after every peer left (%d added, %d removed)", len(srv.Clients()), added, removed)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for more := true; more; { // the last ones, set up while we counted
		select {
		case <-h.added:
			added++
			recv(t, h.removed, "ClientRemoved")
		default:
			more = false
		}
	}
	select {
	case rm := <-h.removed:
		t.Errorf("an extra ClientRemoved, for %d", rm.info.ID)
	default:
	}
	if h.concurrent.Load() != 0 || h.late.Load() != 0 {
		t.Errorf("%d concurrent calls, %d calls after ClientRemoved", h.concurrent.Load(), h.late.Load())
	}
	t.Logf("%d clients added and removed", added)
}

// Every write is held (peers that stopped reading) while eight peers flood
// shares and the server pushes to them; a cancel must still make Run
// return within about DrainTimeout, every client removed.
func TestAttackStopUnderLoadReturnsWithinDrainTimeout(t *testing.T) {
	noGoroutineLeak(t)
	h := newProbe()
	cfg := serverConfig(keys{}, true)
	cfg.DrainTimeout = 300 * time.Millisecond
	cfg.WriteTimeout = time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := &gatedListener{Listener: ln}
	cfg.Listener = gl
	srv, err := NewServerService(cfg, h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := startService(t, srv)
	defer gl.release()
	addr := ln.Addr().String()
	const clients = 8
	var conns []*transport.Conn
	for range clients {
		conns = append(conns, plainClient(t, addr))
		recv(t, h.added, "ClientAdded")
	}
	gl.hold()
	ctx := context.Background()
	var load sync.WaitGroup
	for _, c := range conns {
		load.Go(func() {
			for i := range 2000 {
				if c.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(i)}) != nil {
					return
				}
			}
		})
	}
	pushing := make(chan struct{})
	load.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-pushing:
				return
			default:
			}
			srv.HandleEvent(ctx, NotifyAll{Protocol: sv2.ProtocolMining, Payload: i})
			srv.HandleEvent(ctx, SendToAll{Protocol: sv2.ProtocolMining, Message: &sv2.SetTarget{}})
			if i == 100 {
				return
			}
		}
	})
	// Let the load build up: some shares handled on every connection.
	deadline := time.Now().Add(waitLimit)
	for h.shares.Load() < clients*16 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a counter: no channel to wait on
	}
	if n := len(srv.Clients()); n != clients {
		t.Fatalf("%d of %d clients left before the stop", n, clients)
	}
	start := time.Now()
	err = stop()
	took := time.Since(start)
	close(pushing)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took < cfg.DrainTimeout/2 {
		t.Errorf("Run returned after %v: the held clients were not drained", took)
	}
	if took > cfg.DrainTimeout+2*time.Second {
		t.Errorf("Run took %v to return after cancel, DrainTimeout %v", took, cfg.DrainTimeout)
	}
	for range clients {
		recv(t, h.removed, "ClientRemoved")
	}
	for _, c := range conns {
		c.Close()
	}
	load.Wait()
	t.Logf("Run returned %v after cancel", took)
}

// bigJob is a large server message, to fill a non-reading peer's socket fast.
var bigJob = &sv2.NewExtendedMiningJob{ChannelID: 1, JobID: 1, CoinbaseTxPrefix: make([]byte, 60000), CoinbaseTxSuffix: make([]byte, 4000)}

// A peer that never reads while the server pushes it large jobs is cut off
// by its send queue (with a write timeout of an hour) after a bounded
// number of pushes. The pushes are paced by a control peer that gets the
// same jobs and reads them, so the pusher never outruns a reader: the
// control peer stays, and a third peer's round trips go on meanwhile.
func TestAttackNonReadingPeerIsCutOffByItsQueue(t *testing.T) {
	noGoroutineLeak(t)
	h := newProbe()
	cfg := serverConfig(keys{}, true)
	cfg.SendQueue = 64
	cfg.WriteTimeout = time.Hour
	srv, r := startServer(t, cfg, h, nil, nil)
	deaf := plainClient(t, r.addr)
	deafID := recv(t, h.added, "ClientAdded").ID
	control := plainClient(t, r.addr)
	controlID := recv(t, h.added, "ClientAdded").ID
	healthy := plainClient(t, r.addr)
	recv(t, h.added, "ClientAdded")
	got := make(chan struct{}, 1<<16)
	go func() {
		for {
			_, m, err := control.ReadMessage()
			if err != nil {
				return
			}
			if _, ok := m.(*sv2.NewExtendedMiningJob); ok {
				got <- struct{}{}
			}
		}
	}()
	ctx := context.Background()
	const batch = 16
	pushes := 0
	var removed removal
	for removed.reason == nil {
		if pushes > 20000 {
			t.Fatal("the non-reading peer is still there after 20000 pushes of 64 KB")
		}
		for range batch {
			srv.HandleEvent(ctx, SendToClients{Clients: []ClientID{deafID, controlID}, Message: bigJob})
			pushes++
		}
		for range batch {
			recv(t, got, "the control peer's job")
		}
		healthy.SetReadDeadline(time.Now().Add(waitLimit))
		healthy.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: uint32(pushes)})
		if _, m, err := healthy.ReadMessage(); err != nil {
			t.Fatalf("healthy peer: %v", err)
		} else if a, ok := m.(*sv2.SubmitSharesSuccess); !ok || a.LastSequenceNumber != uint32(pushes) {
			t.Fatalf("healthy peer got %s", sv2.Info(m).Name)
		}
		select {
		case removed = <-h.removed:
		default:
		}
	}
	if removed.info.ID != deafID || !errors.Is(removed.reason, ErrSendQueueFull) {
		t.Fatalf("removed %d because %v, want the non-reading peer (%d), ErrSendQueueFull", removed.info.ID, removed.reason, deafID)
	}
	t.Logf("cut off after %d pushes of 64 KB: %v", pushes, removed.reason)
	deaf.Close()
}

// Silent peers: plain connections that never send SetupConnection, or drip
// it a byte at a time, are closed after SetupTimeout; encrypted ones that
// never start the handshake give up their handshake slot after
// HandshakeTimeout; a real client gets through meanwhile.
func TestAttackSilentAndSlowPeers(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		noGoroutineLeak(t)
		h := newProbe()
		cfg := serverConfig(keys{}, true)
		cfg.SetupTimeout = 300 * time.Millisecond
		_, r := startServer(t, cfg, h, nil, nil)
		var silent []net.Conn
		for range 20 {
			nc, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			silent = append(silent, nc)
		}
		// A drip-feeder: SetupConnection a byte every 20 ms (about 1.5 s in all).
		frame, err := sv2.AppendFrame(nil, setupMsg(sv2.ProtocolMining, 2, 2, 0))
		if err != nil {
			t.Fatal(err)
		}
		drip, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer drip.Close()
		dripped := make(chan error, 1)
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for _, b := range frame {
				<-tick.C
				if _, err := drip.Write([]byte{b}); err != nil {
					dripped <- err
					return
				}
			}
			dripped <- nil
		}()
		plainClient(t, r.addr) // a real client is not held up
		recv(t, h.added, "ClientAdded")
		start := time.Now()
		for _, nc := range silent {
			nc.SetReadDeadline(time.Now().Add(waitLimit))
			if _, err := nc.Read(make([]byte, 1)); err == nil {
				t.Fatal("a silent peer was sent something")
			} else if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("a silent peer is still connected")
			}
		}
		drip.SetReadDeadline(time.Now().Add(waitLimit))
		if n, err := drip.Read(make([]byte, 64)); err == nil {
			t.Fatalf("the drip-feeder got %d bytes: set up despite SetupTimeout", n)
		}
		<-dripped
		select {
		case c := <-h.added:
			t.Errorf("a slow peer was set up: %d", c.ID)
		default:
		}
		t.Logf("silent peers closed within %v of the real client's setup", time.Since(start))
	})
	t.Run("noise", func(t *testing.T) {
		noGoroutineLeak(t)
		k := newKeys(t)
		h := newProbe()
		cfg := serverConfig(k, false)
		cfg.MaxHandshakes = 2
		cfg.MaxHandshakesPerSource = 1
		cfg.HandshakeTimeout = 300 * time.Millisecond
		_, r := startServer(t, cfg, h, nil, nil)
		for range 6 { // three times the handshake slots, from another source
			dialFrom(t, "127.0.0.2", r.addr)
		}
		start := time.Now()
		c := rawClient(t, r.addr, &k, false)
		c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		recv(t, h.added, "ClientAdded")
		took := time.Since(start)
		if took > 3*time.Second {
			t.Errorf("a real client waited %v behind silent handshakes", took)
		}
		t.Logf("a real client got through in %v behind 6 silent handshakes (2 slots, %v each)", took, cfg.HandshakeTimeout)
	})
}
