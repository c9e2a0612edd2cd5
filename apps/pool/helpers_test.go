package pool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

// testEpoch is the header time of the fake provider's tips.
var testEpoch = time.Unix(1_700_000_000, 0)

// hardBits is a network target no test share meets, so shares stay shares
// (regtest's 0x207fffff would make every other share a block).
const hardBits = 0x1903a30c

// recv waits for a value on ch, failing the test after waitLimit.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// run runs f until the test ends, or until stop: stop cancels it, waits for
// it and returns its error (nil for a clean stop); at the end of the test an
// error is reported.
func run(t testing.TB, what string, f func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, service.ErrStopped) {
					result = fmt.Errorf("%s: %w", what, err)
				}
			case <-time.After(waitLimit):
				result = fmt.Errorf("%s did not stop", what)
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

// fakeClock is a clock the test advances.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeTP is a template provider: it answers the pool's
// CoinbaseOutputConstraints with a future template and the prev hash that
// activates it, and sends more templates when the test asks.
type fakeTP struct {
	svc  *service.ServerService
	addr string

	ready     chan struct{} // closed at the first CoinbaseOutputConstraints
	readyOnce sync.Once
	solutions chan *sv2.SubmitSolution

	mu     sync.Mutex
	nextID uint64
	height int64
}

var _ service.TemplateDistributionServerHandler = (*fakeTP)(nil)

func startFakeTP(t testing.TB) *fakeTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &fakeTP{addr: ln.Addr().String(), ready: make(chan struct{}), solutions: make(chan *sv2.SubmitSolution, 64), height: 100}
	tp.svc, err = service.NewServerService(service.ServerConfig{
		Listener: ln, Plain: true, TemplateDistribution: &service.ProtocolConfig{},
	}, nil, nil, tp)
	if err != nil {
		t.Fatal(err)
	}
	run(t, "template provider", tp.svc.Run)
	return tp
}

// template makes the next template, on the current height.
func (tp *fakeTP) template(future bool) *sv2.NewTemplate {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.nextID++
	prefix, _ := txscript.NewScriptBuilder().AddInt64(tp.height).Script()
	commitment := append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}, bytes.Repeat([]byte{byte(tp.nextID)}, 32)...)
	outputs := binary.LittleEndian.AppendUint64(nil, 0)
	outputs = append(outputs, byte(len(commitment)))
	outputs = append(outputs, commitment...)
	return &sv2.NewTemplate{
		TemplateID: tp.nextID, FutureTemplate: future, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: prefix, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 625_000_000,
		CoinbaseTxOutputsCount: 1, CoinbaseTxOutputs: outputs,
	}
}

// prevHash makes the tip that activates template id.
func (tp *fakeTP) prevHash(id uint64) *sv2.TemplateSetNewPrevHash {
	var p sv2.U256
	binary.LittleEndian.PutUint64(p[:], id)
	p[31] = 0x01
	t, _ := target.FromCompact(hardBits)
	return &sv2.TemplateSetNewPrevHash{TemplateID: id, PrevHash: p, HeaderTimestamp: uint32(testEpoch.Unix()), NBits: hardBits, Target: t}
}

// sendTemplate sends a template for the current tip to the pool; its jobs
// replace the active ones.
func (tp *fakeTP) sendTemplate(t testing.TB) {
	t.Helper()
	if err := tp.svc.HandleEvent(context.Background(), service.SendToAll{Protocol: sv2.ProtocolTemplateDistribution, Message: tp.template(false)}); err != nil {
		t.Fatal(err)
	}
}

func (tp *fakeTP) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }
func (tp *fakeTP) Flags(uint32) (uint32, uint32)                        { return 0, 0 }
func (tp *fakeTP) ClientAdded(context.Context, service.ClientInfo) ([]service.ServerEvent, error) {
	return nil, nil
}
func (tp *fakeTP) ClientRemoved(context.Context, service.ClientInfo, error) ([]service.ServerEvent, error) {
	return nil, nil
}
func (tp *fakeTP) HandleEvent(context.Context, any) ([]service.ServerEvent, error) { return nil, nil }
func (tp *fakeTP) HandleClientEvent(context.Context, service.ClientID, any) ([]service.ServerEvent, error) {
	return nil, nil
}

func (tp *fakeTP) CoinbaseOutputConstraints(_ context.Context, c service.ClientID, _ *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	tp.readyOnce.Do(func() { close(tp.ready) })
	tmpl := tp.template(true)
	return []service.ServerEvent{
		service.SendToClient{Client: c, Message: tmpl},
		service.SendToClient{Client: c, Message: tp.prevHash(tmpl.TemplateID)},
	}, nil
}

func (tp *fakeTP) RequestTransactionData(_ context.Context, c service.ClientID, m *sv2.RequestTransactionData) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.RequestTransactionDataSuccess{TemplateID: m.TemplateID}}}, nil
}

func (tp *fakeTP) SubmitSolution(_ context.Context, _ service.ClientID, m *sv2.SubmitSolution) ([]service.ServerEvent, error) {
	select {
	case tp.solutions <- m:
	default:
	}
	return nil, nil
}

// testPool is a pool serving miners over Noise on 127.0.0.1, fed by a fakeTP.
type testPool struct {
	*Pool
	tp   *fakeTP
	addr string
	key  noise.PublicKey // the authority key miners pin
	stop func() error    // stops the pool before the test ends
}

// startPool runs a pool until the test ends; mod adjusts its configuration.
func startPool(t testing.TB, mod func(*Config)) *testPool {
	t.Helper()
	return startPoolOn(t, startFakeTP(t), mod)
}

// startPoolOn is startPool on a template provider of the test's, which
// several pools may share (after the first, it does not wait for the pool
// to reach the provider: a channel's first job does).
func startPoolOn(t testing.TB, tp *fakeTP, mod func(*Config)) *testPool {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listener: ln, AuthorityKey: &sk, Network: "regtest",
		TemplateProvider: TemplateProvider{Address: tp.addr, Plain: true},
		Payouts:          []Payout{{Script: []byte{0x51}, Weight: 1}},
		Tag:              "/test pool/",
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Every test miner comes from 127.0.0.1: the per-source limits are
		// lifted (the service's own tests cover them).
		MaxConnectionsPerSource: 1 << 20, MaxHandshakesPerSource: 1 << 20, HandshakeRatePerSource: 1e9,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, "pool", p.Run)
	recv(t, tp.ready, "the pool to reach the template provider")
	return &testPool{Pool: p, tp: tp, addr: ln.Addr().String(), key: pk, stop: stop}
}

// vardiff retargets every channel now, as the pool's ticker does.
func (p *testPool) vardiff(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if err := p.server.HandleEvent(ctx, retarget.NotifyAll(sv2.ProtocolMining, struct{}{})); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.server.Clients() {
		b := make(chan struct{})
		if err := p.server.HandleEvent(ctx, barrier.NotifyClient(c.ID, b)); err != nil {
			t.Fatal(err)
		}
		recv(t, (<-chan struct{})(b), "the retarget")
	}
}

// target returns the target the pool holds for a channel of a client.
func (p *testPool) target(t testing.TB, client service.ClientID, channel uint32) sv2.U256 {
	t.Helper()
	mc := p.miners.client(client)
	if mc == nil {
		t.Fatalf("pool has no client %d", client)
	}
	p.miners.mu.Lock()
	conn := mc.conn
	p.miners.mu.Unlock()
	tg, ok := conn.Target(channel)
	if !ok {
		t.Fatalf("pool has no channel %d on client %d", channel, client)
	}
	return tg
}

// testMiner is a miner on a ClientService and a mining.Client: every
// message from the pool is applied to the Client and then handed to the
// test, in order, on in.
type testMiner struct {
	svc  *service.ClientService
	work *mining.Client
	in   chan sv2.Message

	connected    chan struct{}
	disconnected chan error
	nextReq      uint32
}

// dialMiner connects a miner to p over Noise, pinning p's authority key,
// and asks for the extensions listed.
func dialMiner(t testing.TB, p *testPool, flags uint32, extensions ...uint16) *testMiner {
	t.Helper()
	m := &testMiner{work: mining.NewClient(), in: make(chan sv2.Message, 1<<14),
		connected: make(chan struct{}), disconnected: make(chan error, 1)}
	var err error
	m.svc, err = service.NewClientService(service.ClientConfig{
		Mining: &service.UpstreamConfig{Address: p.addr, AuthorityKey: &p.key, Flags: flags, Extensions: extensions},
	}, minerHandler{m}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, "miner", m.svc.Run)
	recv(t, m.connected, "the miner to connect")
	return m
}

// send sends a message to the pool.
func (m *testMiner) send(t testing.TB, msg sv2.Message) {
	t.Helper()
	if err := m.svc.HandleEvent(context.Background(), service.SendToServer{Protocol: sv2.ProtocolMining, Message: msg}); err != nil {
		t.Fatalf("sending %s: %v", sv2.Info(msg).Name, err)
	}
}

// next returns the next message from the pool.
func (m *testMiner) next(t testing.TB) sv2.Message {
	t.Helper()
	select {
	case msg := <-m.in:
		return msg
	case err := <-m.disconnected:
		t.Fatalf("miner disconnected: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("timed out waiting for a message from the pool")
	}
	panic("unreachable")
}

// expect returns the next message from the pool, which must be a T.
func expect[T sv2.Message](t testing.TB, m *testMiner) T {
	t.Helper()
	msg := m.next(t)
	v, ok := msg.(T)
	if !ok {
		var want T
		t.Fatalf("got %s %s, want %T", sv2.Info(msg).Name, sv2.FieldsJSON(msg), want)
	}
	return v
}

// openStandard opens a standard channel with a max_target of the easiest
// target and waits for its Success and first job (NewMiningJob, then
// SetNewPrevHash), for a connection that requires standard jobs.
func (m *testMiner) openStandard(t testing.TB, user string, hashrate float32) uint32 {
	t.Helper()
	m.nextReq++
	m.send(t, &sv2.OpenStandardMiningChannel{RequestID: m.nextReq, UserIdentity: user, NominalHashRate: hashrate, MaxTarget: target.Max()})
	ok := expect[*sv2.OpenStandardMiningChannelSuccess](t, m)
	if ok.RequestID != m.nextReq {
		t.Fatalf("Success for request %d, want %d", ok.RequestID, m.nextReq)
	}
	expect[*sv2.NewMiningJob](t, m)
	expect[*sv2.SetNewPrevHash](t, m)
	if _, has := m.work.Work(ok.ChannelID); !has {
		t.Fatalf("no work on channel %d after its first job", ok.ChannelID)
	}
	return ok.ChannelID
}

// currentWork returns a channel's active job.
func (m *testMiner) currentWork(t testing.TB, channel uint32) *mining.Work {
	t.Helper()
	w, ok := m.work.Work(channel)
	if !ok {
		t.Fatalf("no work on channel %d", channel)
	}
	return w
}

// grind hashes the nonces [from, from+n) of a standard job and returns those
// whose hash meets the job's target.
func grind(w *mining.Work, from, n uint32) []uint32 {
	var found []uint32
	for nonce := from; nonce < from+n; nonce++ {
		h := w.Header(nil, nonce, w.MinNTime, w.Version)
		hash := h.Hash()
		if target.Meets(&hash, &w.Target) {
			found = append(found, nonce)
		}
	}
	return found
}

// share is a SubmitSharesStandard for a nonce of w.
func share(w *mining.Work, seq, nonce uint32) *sv2.SubmitSharesStandard {
	return &sv2.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: seq, JobID: w.JobID,
		Nonce: nonce, NTime: w.MinNTime, Version: w.Version}
}

// minerHandler is the testMiner's mining client handler.
type minerHandler struct{ m *testMiner }

var _ service.MiningClientHandler = minerHandler{}

func (h minerHandler) got(ctx context.Context, msg sv2.Message) ([]service.ClientEvent, error) {
	if err := h.m.work.Handle(msg); err != nil && !errors.Is(err, mining.ErrUnknownChannel) {
		return nil, fmt.Errorf("test miner: %w", err)
	}
	select {
	case h.m.in <- msg:
	case <-ctx.Done():
	}
	return nil, nil
}

func (h minerHandler) Start(context.Context) ([]service.ClientEvent, error) { return nil, nil }
func (h minerHandler) Connected(context.Context, service.ServerInfo) ([]service.ClientEvent, error) {
	close(h.m.connected)
	return nil, nil
}
func (h minerHandler) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	select {
	case h.m.disconnected <- err:
	default:
	}
	return nil, nil
}
func (h minerHandler) HandleEvent(context.Context, any) ([]service.ClientEvent, error) {
	return nil, nil
}
func (h minerHandler) OpenStandardMiningChannelSuccess(ctx context.Context, m *sv2.OpenStandardMiningChannelSuccess) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) OpenExtendedMiningChannelSuccess(ctx context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) OpenMiningChannelError(ctx context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) UpdateChannelError(ctx context.Context, m *sv2.UpdateChannelError) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) CloseChannel(ctx context.Context, m *sv2.CloseChannel) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SetExtranoncePrefix(ctx context.Context, m *sv2.SetExtranoncePrefix) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SubmitSharesSuccess(ctx context.Context, m *sv2.SubmitSharesSuccess) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SubmitSharesError(ctx context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) NewMiningJob(ctx context.Context, m *sv2.NewMiningJob) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) NewExtendedMiningJob(ctx context.Context, m *sv2.NewExtendedMiningJob) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SetNewPrevHash(ctx context.Context, m *sv2.SetNewPrevHash) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SetCustomMiningJobSuccess(ctx context.Context, m *sv2.SetCustomMiningJobSuccess) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SetCustomMiningJobError(ctx context.Context, m *sv2.SetCustomMiningJobError) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SetTarget(ctx context.Context, m *sv2.SetTarget) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) SetGroupChannel(ctx context.Context, m *sv2.SetGroupChannel) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}
func (h minerHandler) ChannelEndpointChanged(ctx context.Context, m *sv2.ChannelEndpointChanged) ([]service.ClientEvent, error) {
	return h.got(ctx, m)
}

// rawConn is a miner connection on a bare transport.Conn, for sending what a
// ClientService would not, and for the load benchmark.
type rawConn struct {
	nc   net.Conn // under the encryption, for writing garbage
	conn *transport.Conn
}

// dialRaw connects to p and completes the Noise handshake.
func dialRaw(t testing.TB, p *testPool) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", p.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := transport.Client(ctx, nc, transport.ClientConfig{Noise: noise.InitiatorConfig{AuthorityKey: &p.key}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{nc: nc, conn: conn}
}

// setup sends SetupConnection for the Mining Protocol and expects Success.
func (r *rawConn) setup(t testing.TB, flags uint32) {
	t.Helper()
	r.write(t, &sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: flags,
		EndpointHost: "127.0.0.1", Vendor: "pool test"})
	if m, ok := r.read(t).(*sv2.SetupConnectionSuccess); !ok {
		t.Fatalf("SetupConnection answered with %s %s", sv2.Info(m).Name, sv2.FieldsJSON(m))
	}
}

func (r *rawConn) write(t testing.TB, m sv2.Message) {
	t.Helper()
	if err := r.conn.WriteMessage(m); err != nil {
		t.Fatalf("writing %s: %v", sv2.Info(m).Name, err)
	}
}

// read returns the next message, failing the test after waitLimit.
func (r *rawConn) read(t testing.TB) sv2.Message {
	t.Helper()
	m, err := r.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *rawConn) readMessage() (sv2.Message, error) {
	r.conn.SetReadDeadline(time.Now().Add(waitLimit))
	_, m, err := r.conn.ReadMessage()
	return m, err
}

// closedByPool reads until the pool closes the connection, and fails the
// test if it does not within waitLimit.
func (r *rawConn) closedByPool(t testing.TB) {
	t.Helper()
	for {
		_, err := r.readMessage()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatal("the pool did not close the connection")
		case err != nil:
			return
		}
	}
}

// easyBits is regtest's target: about every other hash is a block.
const easyBits = 0x207fffff

// send hands msg from the provider to the pool.
func (tp *fakeTP) send(t testing.TB, msg sv2.Message) {
	t.Helper()
	if err := tp.svc.HandleEvent(context.Background(), service.SendToAll{Protocol: sv2.ProtocolTemplateDistribution, Message: msg}); err != nil {
		t.Fatal(err)
	}
}

// easyTip makes a future template and the tip that activates it, at
// regtest's target, without sending them.
func (tp *fakeTP) easyTip() (*sv2.NewTemplate, *sv2.TemplateSetNewPrevHash) {
	tmpl := tp.template(true)
	prev := tp.prevHash(tmpl.TemplateID)
	prev.NBits = easyBits
	prev.Target, _ = target.FromCompact(easyBits)
	return tmpl, prev
}

// grindBlock returns the first nonce of w whose header hash meets tg, and
// that hash.
func grindBlock(w *mining.Work, tg sv2.U256) (uint32, sv2.U256) {
	for nonce := uint32(0); ; nonce++ {
		h := w.Header(nil, nonce, w.MinNTime, w.Version)
		if hash := h.Hash(); target.Meets(&hash, &tg) {
			return nonce, hash
		}
	}
}
