package proxy

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// miniPool is a pool in a few lines, for the proxy's tests: core mining's
// Server behind a plain mining service, with the templates and tips the
// test pushes (push). It records every message it sends and every share
// result.
type miniPool struct {
	service.NullMiningServerHandler
	srv  *mining.Server
	svc  *service.ServerService
	addr string
	stop func() // stops the pool's service and waits for it (the test's end does too)

	// ignoreMinExtranonce opens channels whatever min_extranonce_size
	// asks: a pool that rolls fewer bytes than it was asked for.
	ignoreMinExtranonce atomic.Bool

	mu     sync.Mutex
	byConn map[*mining.Conn]service.ClientID
	conns  map[service.ClientID]*mining.Conn

	sent    chan sv2.Message        // to any client, in order per client
	results chan mining.ShareResult // of every share
	updates chan *sv2.UpdateChannel // every UpdateChannel
	opens   chan *sv2.OpenExtendedMiningChannel
	submits chan *sv2.SubmitSharesExtended // every share, in order with results
}

// payoutScript is what the mini pool's coinbases pay.
var payoutScript = append([]byte{0x00, 0x14}, make([]byte, 20)...)

func startMiniPool(t testing.TB, mod func(*mining.ServerConfig)) *miniPool {
	t.Helper()
	return startMiniPoolOn(t, listen(t), mod)
}

// startMiniPoolOn is startMiniPool on ln, which the pool's service closes
// when it stops.
func startMiniPoolOn(t testing.TB, ln net.Listener, mod func(*mining.ServerConfig)) *miniPool {
	t.Helper()
	alloc, err := extranonce.New(extranonce.Config{IndexSize: 4, RollableSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	cfg := mining.ServerConfig{Coinbase: coinbase.Config{Outputs: []*wire.TxOut{{PkScript: payoutScript}}}, Extranonce: alloc}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := mining.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &miniPool{srv: srv, byConn: map[*mining.Conn]service.ClientID{}, conns: map[service.ClientID]*mining.Conn{},
		sent: make(chan sv2.Message, 1<<16), results: make(chan mining.ShareResult, 1<<16),
		updates: make(chan *sv2.UpdateChannel, 1024), opens: make(chan *sv2.OpenExtendedMiningChannel, 1024),
		submits: make(chan *sv2.SubmitSharesExtended, 1<<16)}
	p.svc, p.stop = serveOn(t, ln, service.ServerConfig{Mining: &service.ProtocolConfig{}}, p)
	p.addr = ln.Addr().String()
	return p
}

// listen listens on a free loopback port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve runs a plain server service on loopback until the test ends.
func serve(t testing.TB, cfg service.ServerConfig, h service.MiningServerHandler) (*service.ServerService, string) {
	t.Helper()
	ln := listen(t)
	svc, _ := serveOn(t, ln, cfg, h)
	return svc, ln.Addr().String()
}

// serveOn runs a plain server service on ln until the test ends or stop
// is called.
func serveOn(t testing.TB, ln net.Listener, cfg service.ServerConfig, h service.MiningServerHandler) (svc *service.ServerService, stop func()) {
	t.Helper()
	cfg.Listener, cfg.Plain = ln, true
	svc, err := service.NewServerService(cfg, h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, svc.Run)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := svc.Addr(ctx); err != nil { // running: events are taken
		t.Fatal(err)
	}
	return svc, stop
}

// run runs f until the test ends or stop is called; stop waits for f to
// return and may be called more than once.
func run(t testing.TB, f func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond, which nothing signals (the proxy's counters, say),
// until it holds; the test fails after 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *miniPool) Flags(requested uint32) (uint32, uint32) {
	return 0, requested &^ (mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling)
}

func (p *miniPool) ClientAdded(_ context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	mc, err := p.srv.NewConn(c.Setup.Flags)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.byConn[mc], p.conns[c.ID] = c.ID, mc
	p.mu.Unlock()
	return nil, nil
}

func (p *miniPool) conn(id service.ClientID) *mining.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[id]
}

// client waits until the pool has exactly one connection, the proxy's,
// and returns it.
func (p *miniPool) client(t testing.TB) (id service.ClientID, c *mining.Conn) {
	t.Helper()
	waitFor(t, "one connection to the pool", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for id, c = range p.conns {
		}
		return len(p.conns) == 1
	})
	return id, c
}

// act sends msgs to client id as the pool, without recording them.
func (p *miniPool) act(t testing.TB, id service.ClientID, msgs ...sv2.Message) {
	t.Helper()
	p.push(t, []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}})
}

// result waits for the result of the next share the pool takes.
func (p *miniPool) result(t testing.TB) (*sv2.SubmitSharesExtended, mining.ShareResult) {
	t.Helper()
	select {
	case r := <-p.results:
		return <-p.submits, r
	case <-time.After(20 * time.Second):
		t.Fatal("no share reached the pool")
		return nil, mining.ShareResult{}
	}
}

// accepted waits for the next share at the pool and checks that it is
// accepted with hash.
func (p *miniPool) accepted(t testing.TB, hash sv2.U256) *sv2.SubmitSharesExtended {
	t.Helper()
	m, r := p.result(t)
	if r.Status != mining.ShareAccepted {
		t.Fatalf("the pool refused the share: %v %q", r.Status, r.Code)
	}
	if r.Hash != hash {
		t.Fatalf("the pool's share hashes to %x, the device's to %x", r.Hash, hash)
	}
	return m
}

// noShare checks that no share reached the pool since the last one read.
func (p *miniPool) noShare(t testing.TB) {
	t.Helper()
	select {
	case r := <-p.results:
		t.Fatalf("a share reached the pool: %v %q", r.Status, r.Code)
	default:
	}
}

func (p *miniPool) ClientRemoved(_ context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	p.mu.Lock()
	mc := p.conns[c.ID]
	delete(p.conns, c.ID)
	delete(p.byConn, mc)
	p.mu.Unlock()
	p.srv.RemoveConn(mc)
	return nil, nil
}

// to sends msgs to client id, recording them.
func (p *miniPool) to(id service.ClientID, msgs ...sv2.Message) []service.ServerEvent {
	for _, m := range msgs {
		p.sent <- m
	}
	if len(msgs) == 0 {
		return nil
	}
	return []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}}
}

func (p *miniPool) OpenExtendedMiningChannel(_ context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	p.opens <- m
	if p.ignoreMinExtranonce.Load() {
		c := *m
		c.MinExtranonceSize = 0
		m = &c
	}
	msgs, err := p.conn(id).OpenExtendedChannel(m)
	if oe, ok := err.(*mining.OpenError); ok {
		return p.to(id, &sv2.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: oe.Code}), nil
	}
	if err != nil {
		return nil, err
	}
	return p.to(id, msgs...), nil
}

func (p *miniPool) UpdateChannel(_ context.Context, id service.ClientID, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	p.updates <- m
	st, err := p.conn(id).UpdateChannel(m)
	if err != nil || st == nil {
		return nil, nil
	}
	return p.to(id, st), nil
}

func (p *miniPool) SubmitSharesExtended(_ context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	r := p.conn(id).SubmitExtended(m)
	p.submits <- m
	p.results <- r
	if reply := r.Reply(m.ChannelID, m.SequenceNumber); reply != nil {
		return p.to(id, reply), nil
	}
	return nil, nil
}

// HandleEvent takes a template or tip pushed by the test (push).
func (p *miniPool) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	var outs []mining.Outbound
	var err error
	switch m := payload.(type) {
	case *sv2.NewTemplate:
		outs, err = p.srv.NewTemplate(m)
	case *sv2.TemplateSetNewPrevHash:
		outs, err = p.srv.SetNewPrevHash(m)
	case []service.ServerEvent: // sent as they are, for the test to act as the pool
		return m, nil
	}
	var evs []service.ServerEvent
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range outs {
		evs = append(evs, p.to(p.byConn[o.Conn], o.Messages...)...)
	}
	return evs, err
}

func (p *miniPool) push(t testing.TB, payload any) {
	t.Helper()
	if err := p.svc.HandleEvent(context.Background(), service.Notify{Protocol: sv2.ProtocolMining, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// testNBits is hard enough that no test share is a block.
const testNBits = 0x1d00ffff

// newTip pushes template id, a future one, and the prev hash activating it.
func (p *miniPool) newTip(t testing.TB, id uint64, prev byte) {
	t.Helper()
	p.push(t, &sv2.NewTemplate{TemplateID: id, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x02, byte(id), 0x01}, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 50_0000_0000,
		MerklePath: []sv2.U256{{1, 2, 3}, {4, 5, 6}}})
	p.push(t, &sv2.TemplateSetNewPrevHash{TemplateID: id, PrevHash: sv2.U256{prev}, HeaderTimestamp: uint32(time.Now().Unix()), NBits: testNBits})
}

// newProxy runs a plain proxy for user "farm" in front of the upstreams at
// addrs until the test ends; mod edits its Config.
func newProxy(t testing.TB, mod func(*Config), addrs ...string) (*Proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listener: ln, Plain: true, User: "farm", UpstreamHashrate: 1e4, MinShareDifficulty: -1}
	for _, a := range addrs {
		cfg.Upstreams = append(cfg.Upstreams, Upstream{Address: a, Plain: true})
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.Run)
	return p, ln.Addr().String()
}

// startProxy is newProxy, returning once devices may connect.
func startProxy(t testing.TB, mod func(*Config), addrs ...string) (*Proxy, string) {
	t.Helper()
	p, addr := newProxy(t, mod, addrs...)
	select {
	case <-p.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the proxy never opened its upstream channel")
	}
	return p, addr
}

// testDevice is a device on our client service and core mining's Client:
// it records every message from the proxy and keeps the job state.
type testDevice struct {
	service.NullMiningClientHandler
	state *mining.Client
	msgs  chan sv2.Message
	svc   *service.ClientService
	seq   uint32
	nonce uint32 // where mine's next search starts
	stop  func() // disconnects the device for good
}

func dialDevice(t testing.TB, addr string) *testDevice {
	t.Helper()
	d := &testDevice{state: mining.NewClient(), msgs: make(chan sv2.Message, 1<<16)}
	svc, err := service.NewClientService(service.ClientConfig{Mining: &service.UpstreamConfig{Address: addr, Plain: true}}, d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.svc = svc
	d.stop = run(t, svc.Run)
	return d
}

func (d *testDevice) on(m sv2.Message) ([]service.ClientEvent, error) {
	d.state.Handle(m) //nolint:errcheck // the test reads msgs
	d.msgs <- m
	return nil, nil
}

func (d *testDevice) OpenStandardMiningChannelSuccess(_ context.Context, m *sv2.OpenStandardMiningChannelSuccess) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) OpenMiningChannelError(_ context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) NewMiningJob(_ context.Context, m *sv2.NewMiningJob) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) NewExtendedMiningJob(_ context.Context, m *sv2.NewExtendedMiningJob) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) SetNewPrevHash(_ context.Context, m *sv2.SetNewPrevHash) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) SetTarget(_ context.Context, m *sv2.SetTarget) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) SetGroupChannel(_ context.Context, m *sv2.SetGroupChannel) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) SubmitSharesSuccess(_ context.Context, m *sv2.SubmitSharesSuccess) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) SubmitSharesError(_ context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	return d.on(m)
}
func (d *testDevice) CloseChannel(_ context.Context, m *sv2.CloseChannel) ([]service.ClientEvent, error) {
	return d.on(m)
}

// send sends m to the proxy, waiting for the connection if needed.
func (d *testDevice) send(t testing.TB, m sv2.Message) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for d.svc.HandleEvent(context.Background(), service.SendToServer{Protocol: sv2.ProtocolMining, Message: m}) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("cannot send %s", sv2.Info(m).Name)
		}
		time.Sleep(5 * time.Millisecond) // still connecting: the service has no event for it
	}
}

// next waits for the device's next message of type T, skipping others.
func next[T sv2.Message](t testing.TB, d *testDevice) T {
	t.Helper()
	return recv[T](t, d.msgs)
}

// recv waits for the next message of type T on ch (a device's messages, or
// what the mini pool sent), skipping others.
func recv[T sv2.Message](t testing.TB, ch <-chan sv2.Message) T {
	t.Helper()
	m := recvWhere(t, ch, func(m sv2.Message) bool { _, ok := m.(T); return ok })
	return m.(T)
}

// recvWhere waits for the next message on ch that keep takes, skipping
// the others.
func recvWhere(t testing.TB, ch <-chan sv2.Message, keep func(sv2.Message) bool) sv2.Message {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-ch:
			if keep(m) {
				return m
			}
		case <-timeout:
			t.Fatal("no such message within 20 s")
			return nil
		}
	}
}

// tinyHashrate makes a device channel's target the easiest the proxy allows.
const tinyHashrate = 1

func (d *testDevice) openStandard(t testing.TB, req uint32) *sv2.OpenStandardMiningChannelSuccess {
	t.Helper()
	return d.openStandardAt(t, req, tinyHashrate)
}

// openStandardAt opens a standard channel declaring hashrate.
func (d *testDevice) openStandardAt(t testing.TB, req uint32, hashrate float32) *sv2.OpenStandardMiningChannelSuccess {
	t.Helper()
	d.send(t, &sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: "rig", NominalHashRate: hashrate, MaxTarget: target.Max()})
	return next[*sv2.OpenStandardMiningChannelSuccess](t, d)
}

func (d *testDevice) openExtended(t testing.TB, req uint32, minExtranonce uint16) *sv2.OpenExtendedMiningChannelSuccess {
	d.send(t, &sv2.OpenExtendedMiningChannel{RequestID: req, UserIdentity: "rig", NominalHashRate: tinyHashrate, MaxTarget: target.Max(), MinExtranonceSize: minExtranonce})
	return next[*sv2.OpenExtendedMiningChannelSuccess](t, d)
}

// work waits until channel ch has an active job.
func (d *testDevice) work(t testing.TB, ch uint32) *mining.Work {
	t.Helper()
	return d.workWhere(t, ch, func(*mining.Work) bool { return true })
}

// workOn waits until channel ch's active job builds on the prev hash
// newTip(_, _, prev) made.
func (d *testDevice) workOn(t testing.TB, ch uint32, prev byte) *mining.Work {
	t.Helper()
	return d.workWhere(t, ch, func(w *mining.Work) bool { return w.PrevHash == sv2.U256{prev} })
}

// workWhere waits until channel ch has an active job that ok takes.
func (d *testDevice) workWhere(t testing.TB, ch uint32, ok func(*mining.Work) bool) *mining.Work {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if w, has := d.state.Work(ch); has && ok(w) {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %d never got an active job", ch)
		}
		select {
		case <-d.msgs:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// grind finds a share on w whose hash meets want and, when not is set,
// does not meet not; extranonce is an extended job's rolled bytes.
func grind(w *mining.Work, extranonce []byte, want sv2.U256, not *sv2.U256) (nonce uint32, hash sv2.U256) {
	return grindFrom(w, extranonce, 0, want, not)
}

// grindFrom is grind trying nonces from first on, so that the shares of
// one job differ.
func grindFrom(w *mining.Work, extranonce []byte, first uint32, want sv2.U256, not *sv2.U256) (nonce uint32, hash sv2.U256) {
	h := w.Header(extranonce, first, w.MinNTime, w.Version)
	for ; ; h.Nonce++ {
		hash = h.Hash()
		if target.Meets(&hash, &want) && (not == nil || !target.Meets(&hash, not)) {
			return h.Nonce, hash
		}
	}
}

// submit sends a share of w with nonce (and extranonce on an extended job).
func (d *testDevice) submit(t testing.TB, w *mining.Work, nonce uint32, extranonce []byte) {
	t.Helper()
	d.seq++
	if w.Extended {
		d.send(t, &sv2.SubmitSharesExtended{ChannelID: w.ChannelID, SequenceNumber: d.seq, JobID: w.JobID, Nonce: nonce, NTime: w.MinNTime, Version: w.Version, Extranonce: extranonce})
		return
	}
	d.send(t, &sv2.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: d.seq, JobID: w.JobID, Nonce: nonce, NTime: w.MinNTime, Version: w.Version})
}

// recvOpen waits for the next channel the pool is asked to open.
func recvOpen(t testing.TB, pool *miniPool) *sv2.OpenExtendedMiningChannel {
	t.Helper()
	select {
	case m := <-pool.opens:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("the pool was asked for no channel")
		return nil
	}
}

// mine makes a share on w that meets the upstream target up (searching
// past the nonce of the last, so that no two are the same), sends it, and
// checks that pool accepts it with the hash the device computed.
func (d *testDevice) mine(t testing.TB, pool *miniPool, w *mining.Work, up sv2.U256) *sv2.SubmitSharesExtended {
	t.Helper()
	var ext []byte
	if w.Extended {
		ext = make([]byte, w.ExtranonceSize)
	}
	nonce, hash := grindFrom(w, ext, d.nonce, up, nil)
	d.nonce = nonce + 1
	d.submit(t, w, nonce, ext)
	return pool.accepted(t, hash)
}

// The scaffolding works: a standard device channel behind the proxy gets a
// job of the pool's template, and a share meeting the pool's target is
// accepted by the pool.
func TestStackShareReachesThePool(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	_, addr := startProxy(t, nil, pool.addr)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	w := d.work(t, ch.ChannelID)
	up := <-pool.opens
	upTarget, err := target.FromHashrate(float64(up.NominalHashRate), 6)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := grind(w, nil, upTarget, nil)
	d.submit(t, w, nonce, nil)
	select {
	case r := <-pool.results:
		if r.Status != mining.ShareAccepted {
			t.Fatalf("the pool refused the share: %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no share reached the pool")
	}
}
