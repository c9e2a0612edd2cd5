package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	"github.com/stratumgo/stratum/core/transport"
)

// The benchmarks' devices are raw: a plain transport.Conn each, in the same
// process, writing shares whose nonces are fixed before the clock starts,
// many frames per system call, and reading the acknowledgements on a
// goroutine of their own. Every channel's target is the easiest (a tiny
// nominal hashrate, MinShareDifficulty -1), so every nonce is a new valid
// share. The upstream is a pool on loopback TCP (benchPool), which
// validates every share the proxy passes up.

const (
	benchConns    = 100
	benchChannels = 10 // per connection: 1,000 channels in all
	// benchWindow is how many unacknowledged batches a channel may have, so
	// that what queues is bounded and the figure is the proxy's rate.
	benchWindow = 4
	// benchRate is the offered load of the latency benchmark, shares/s.
	benchRate = 10_000
	// benchPerSource spreads connections over source addresses: the
	// proxy's server takes at most 256 from one address.
	benchPerSource = 200
	benchWait      = 60 * time.Second
)

// benchPool is the benchmarks' upstream: core mining's Server behind a
// plain mining service on loopback TCP, as the tests' mini pool, but it
// only counts: every share is validated and acknowledged, and its result
// handed to on, if set, on the connection's goroutine. It is the
// benchmarks' own so that they do not depend on what the tests record.
type benchPool struct {
	service.NullMiningServerHandler
	srv  *mining.Server
	svc  *service.ServerService
	addr string
	on   func(r *mining.ShareResult, now int64)
	benchCount

	mu     sync.Mutex
	conns  map[service.ClientID]*mining.Conn
	byConn map[*mining.Conn]service.ClientID
	// up is the target of the proxy's channel (user benchUser).
	up atomic.Pointer[sv2.U256]
}

// benchUser is the proxy's upstream identity.
const benchUser = "bench-proxy"

// startBenchPool starts a pool until the benchmark ends, with the test tip;
// mod edits its mining.ServerConfig.
func startBenchPool(b testing.TB, mod func(*mining.ServerConfig), on func(*mining.ShareResult, int64)) *benchPool {
	b.Helper()
	alloc, err := extranonce.New(extranonce.Config{IndexSize: 4, RollableSize: 16})
	if err != nil {
		b.Fatal(err)
	}
	cfg := mining.ServerConfig{Coinbase: coinbase.Config{Outputs: []*wire.TxOut{{PkScript: append([]byte{0x00, 0x14}, make([]byte, 20)...)}}}, Extranonce: alloc}
	if mod != nil {
		mod(&cfg)
	}
	p := &benchPool{on: on, conns: map[service.ClientID]*mining.Conn{}, byConn: map[*mining.Conn]service.ClientID{}}
	p.wake = make(chan struct{})
	if p.srv, err = mining.NewServer(cfg); err != nil {
		b.Fatal(err)
	}
	ln := benchListen(b)
	if p.svc, err = service.NewServerService(service.ServerConfig{Listener: ln, Plain: true, Mining: &service.ProtocolConfig{}}, p, nil, nil); err != nil {
		b.Fatal(err)
	}
	benchRun(b, p.svc.Run)
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := p.svc.Addr(ctx); err != nil { // running: events are taken
		b.Fatal(err)
	}
	p.addr = ln.Addr().String()
	for _, m := range []any{
		&sv2.NewTemplate{TemplateID: 1, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
			CoinbasePrefix: []byte{0x02, 0x01, 0x01}, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 50_0000_0000,
			MerklePath: []sv2.U256{{1, 2, 3}, {4, 5, 6}}},
		&sv2.TemplateSetNewPrevHash{TemplateID: 1, PrevHash: sv2.U256{9}, HeaderTimestamp: uint32(time.Now().Unix()), NBits: 0x1d00ffff}, // no share is a block
	} {
		if err := p.svc.HandleEvent(ctx, service.Notify{Protocol: sv2.ProtocolMining, Payload: m}); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

func benchListen(b testing.TB) net.Listener {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// benchRun runs f until the benchmark ends.
func benchRun(b testing.TB, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f(ctx); close(done) }() //nolint:errcheck // ends with the benchmark
	b.Cleanup(func() { cancel(); <-done })
}

func (p *benchPool) Flags(requested uint32) (uint32, uint32) {
	return 0, requested &^ (mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling)
}

func (p *benchPool) ClientAdded(_ context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	mc, err := p.srv.NewConn(c.Setup.Flags)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.conns[c.ID], p.byConn[mc] = mc, c.ID
	p.mu.Unlock()
	return nil, nil
}

func (p *benchPool) conn(id service.ClientID) *mining.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[id]
}

func (p *benchPool) ClientRemoved(_ context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	p.mu.Lock()
	mc := p.conns[c.ID]
	delete(p.conns, c.ID)
	delete(p.byConn, mc)
	p.mu.Unlock()
	if mc != nil {
		p.srv.RemoveConn(mc)
	}
	return nil, nil
}

func (p *benchPool) OpenExtendedMiningChannel(_ context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	msgs, err := p.conn(id).OpenExtendedChannel(m)
	if oe, ok := errors.AsType[*mining.OpenError](err); ok {
		return []service.ServerEvent{service.SendToClient{Client: id, Message: &sv2.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: oe.Code}}}, nil
	}
	if err != nil {
		return nil, err
	}
	if ok, is := msgs[0].(*sv2.OpenExtendedMiningChannelSuccess); is && m.UserIdentity == benchUser {
		t := ok.Target
		p.up.Store(&t)
	}
	return []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}}, nil
}

func (p *benchPool) UpdateChannel(_ context.Context, id service.ClientID, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	st, err := p.conn(id).UpdateChannel(m)
	if err != nil || st == nil {
		return nil, nil
	}
	return []service.ServerEvent{service.SendToClient{Client: id, Message: st}}, nil
}

func (p *benchPool) SubmitSharesExtended(_ context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	r := p.conn(id).SubmitExtended(m)
	if r.Status == mining.ShareRejected {
		p.refused.Add(1)
		p.code.Store(r.Code)
	} else {
		if p.on != nil {
			p.on(&r, time.Now().UnixNano())
		}
		if p.accepted.Add(1)%64 == 0 {
			p.caughtUp()
		}
	}
	if reply := r.Reply(m.ChannelID, m.SequenceNumber); reply != nil {
		return []service.ServerEvent{service.SendToClient{Client: id, Message: reply}}, nil
	}
	return nil, nil
}

// HandleEvent takes the tip startBenchPool pushes.
func (p *benchPool) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	var outs []mining.Outbound
	var err error
	switch m := payload.(type) {
	case *sv2.NewTemplate:
		outs, err = p.srv.NewTemplate(m)
	case *sv2.TemplateSetNewPrevHash:
		outs, err = p.srv.SetNewPrevHash(m)
	}
	var evs []service.ServerEvent
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range outs {
		evs = append(evs, service.SendMessagesToClient{Client: p.byConn[o.Conn], Messages: o.Messages})
	}
	return evs, err
}

// benchCount is what the pool made of the shares it was sent. With a
// window, it is also a gate: devices that use it write no share while that
// many of theirs have not reached the pool yet.
type benchCount struct {
	accepted, refused atomic.Uint64
	code              atomic.Value // the last refusal's

	window  int64        // set before the devices start
	sent    atomic.Int64 // shares written by the devices that use the gate
	waiting atomic.Bool  // a device waits for room
	gateMu  sync.Mutex
	wake    chan struct{} // closed, and replaced, once half the window is free
}

// full reports whether the gate is closed.
func (c *benchCount) full() bool { return c.sent.Load()-int64(c.accepted.Load()) >= c.window }

// room is closed once half the window is free (at once if the gate is
// open), so that the devices write in bursts, not a share each.
func (c *benchCount) room() <-chan struct{} {
	c.gateMu.Lock()
	w := c.wake
	c.waiting.Store(true)
	c.gateMu.Unlock()
	if !c.full() {
		return benchClosed
	}
	return w
}

var benchClosed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// caughtUp opens the gate for the devices waiting at it, if half the
// window is free.
func (c *benchCount) caughtUp() {
	if !c.waiting.Load() || c.sent.Load()-int64(c.accepted.Load()) > c.window/2 {
		return
	}
	c.gateMu.Lock()
	c.waiting.Store(false)
	close(c.wake)
	c.wake = make(chan struct{})
	c.gateMu.Unlock()
}

func (c *benchCount) check(b testing.TB) {
	b.Helper()
	if n := c.refused.Load(); n > 0 {
		b.Fatalf("the pool refused %d shares (last: %v)", n, c.code.Load())
	}
}

// startBenchProxy starts a plain proxy in front of pool until the
// benchmark ends, and returns once devices may connect: device targets
// that never change, the easiest upstream target the pool gives (a tiny
// declared hashrate), and batch shares per acknowledgement.
func startBenchProxy(b testing.TB, pool *benchPool, batch int) (*Proxy, string) {
	return startBenchProxyWith(b, pool, batch, nil)
}

// startBenchProxyWith is startBenchProxy with mod editing the Config.
func startBenchProxyWith(b testing.TB, pool *benchPool, batch int, mod func(*Config)) (*Proxy, string) {
	b.Helper()
	ln := benchListen(b)
	cfg := Config{Listener: ln, Plain: true, User: benchUser, Upstreams: []Upstream{{Address: pool.addr, Plain: true}},
		MinShareDifficulty: -1, VardiffInterval: time.Hour, UpstreamHashrate: 1e-3, HashrateDebounce: time.Hour, ShareBatchSize: batch}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, p.Run)
	select {
	case <-p.Ready():
	case <-time.After(benchWait):
		b.Fatal("the proxy never opened its upstream channel")
	}
	return p, ln.Addr().String()
}

// benchDial connects a raw plain device to addr, the i-th connection of a
// benchmark, from 127.0.0.2 onwards.
func benchDial(b testing.TB, addr string, i int) *transport.Conn {
	b.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/benchPerSource))}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := transport.NewPlain(nc, transport.Config{})
	b.Cleanup(func() { c.Close() })
	return c
}

// benchRead reads the next message within benchWait.
func benchRead(c *transport.Conn) (sv2.Message, error) {
	c.SetReadDeadline(time.Now().Add(benchWait))
	_, m, err := c.ReadMessage()
	return m, err
}

// benchOpen sets c up and opens n channels on it, standard (with standard
// jobs) or extended, and returns their work once each has an active job.
func benchOpen(b testing.TB, c *transport.Conn, n int, extended bool) []*mining.Work {
	b.Helper()
	flags := mining.FlagRequiresStandardJobs
	if extended {
		flags = 0
	}
	if err := c.WriteMessage(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: flags,
		EndpointHost: "127.0.0.1", Vendor: "proxy bench"}); err != nil {
		b.Fatal(err)
	}
	if m, err := benchRead(c); err != nil {
		b.Fatal(err)
	} else if _, ok := m.(*sv2.SetupConnectionSuccess); !ok {
		b.Fatalf("SetupConnection answered with %s", sv2.Info(m).Name)
	}
	for i := range n {
		var m sv2.Message = &sv2.OpenStandardMiningChannel{RequestID: uint32(i + 1), UserIdentity: "bench", NominalHashRate: 0.01, MaxTarget: target.Max()}
		if extended {
			m = &sv2.OpenExtendedMiningChannel{RequestID: uint32(i + 1), UserIdentity: "bench", NominalHashRate: 0.01, MaxTarget: target.Max()}
		}
		if err := c.BufferMessage(m); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	client := mining.NewClient()
	var ids []uint32
	for {
		m, err := benchRead(c)
		if err != nil {
			b.Fatalf("opening %d channels: %v", n, err)
		}
		if err := client.Handle(m); err != nil {
			b.Fatalf("%s: %v", sv2.Info(m).Name, err)
		}
		switch m := m.(type) {
		case *sv2.OpenStandardMiningChannelSuccess:
			ids = append(ids, m.ChannelID)
		case *sv2.OpenExtendedMiningChannelSuccess:
			ids = append(ids, m.ChannelID)
		case *sv2.OpenMiningChannelError:
			b.Fatalf("channel refused: %s", m.ErrorCode)
		}
		if len(ids) < n {
			continue
		}
		works := make([]*mining.Work, 0, n)
		for _, id := range ids {
			if w, ok := client.Work(id); ok && w.Target == target.Max() {
				works = append(works, w)
			}
		}
		if len(works) == n {
			c.SetReadDeadline(time.Time{})
			return works
		}
	}
}

// benchDev is one device connection of a benchmark.
type benchDev struct {
	conn     *transport.Conn
	channels []*benchChan
	byID     map[uint32]*benchChan
	timed    bool          // record each acknowledgement's time
	acked    atomic.Int64  // shares acknowledged
	credit   chan struct{} // the reader tells the writer a window opened
	gate     *benchCount   // if set, holds the writer back (flood)
	errs     chan error    // the reader's, at most one
}

// benchChan is one channel: shares are numbered from 1 (their sequence
// number and nonce).
type benchChan struct {
	work  *mining.Work
	ext   []byte // an extended channel's rolled bytes
	next  int64  // shares sent, the writer's
	acked atomic.Int64
	sent  []int64 // UnixNano of each share's write, by sequence number - 1
	ackAt []int64 // and of its acknowledgement's read (timed only)
	upAt  []int64 // and of its validation by the pool (latency benchmark only)
}

func newBenchDev(b testing.TB, addr string, i, channels int, extended, timed bool, shares int) *benchDev {
	c := benchDial(b, addr, i)
	d := &benchDev{conn: c, byID: map[uint32]*benchChan{}, timed: timed, credit: make(chan struct{}, 1), errs: make(chan error, 1)}
	for _, w := range benchOpen(b, c, channels, extended) {
		ch := &benchChan{work: w, ext: make([]byte, w.ExtranonceSize)}
		if timed {
			ch.sent, ch.ackAt, ch.upAt = make([]int64, shares), make([]int64, shares), make([]int64, shares)
		}
		d.channels = append(d.channels, ch)
		d.byID[w.ChannelID] = ch
	}
	go d.read()
	return d
}

// buffer buffers the next share of ch on d's connection.
func (d *benchDev) buffer(ch *benchChan) error {
	w := ch.work
	seq := uint32(ch.next + 1)
	if d.timed {
		ch.sent[ch.next] = time.Now().UnixNano()
	}
	ch.next++
	if w.Extended {
		return d.conn.BufferMessage(&sv2.SubmitSharesExtended{ChannelID: w.ChannelID, SequenceNumber: seq, JobID: w.JobID,
			Nonce: seq, NTime: w.MinNTime, Version: w.Version, Extranonce: ch.ext})
	}
	return d.conn.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: seq, JobID: w.JobID,
		Nonce: seq, NTime: w.MinNTime, Version: w.Version})
}

// hash is what share seq of ch hashes to.
func (ch *benchChan) hash(seq uint32) sv2.U256 {
	h := ch.work.Header(ch.ext, seq, ch.work.MinNTime, ch.work.Version)
	return h.Hash()
}

// read takes acknowledgements until the connection closes.
func (d *benchDev) read() {
	for {
		_, m, err := d.conn.ReadMessage()
		if err != nil {
			d.fail(err)
			return
		}
		switch m := m.(type) {
		case *sv2.SubmitSharesSuccess:
			ch := d.byID[m.ChannelID]
			last, n := int64(m.LastSequenceNumber), int64(m.NewSubmitsAcceptedCount)
			if ch == nil || n > last {
				d.fail(fmt.Errorf("an acknowledgement of shares not sent: %+v", m))
				return
			}
			if d.timed {
				now := time.Now().UnixNano()
				for seq := last - n + 1; seq <= last; seq++ {
					ch.ackAt[seq-1] = now
				}
			}
			ch.acked.Store(last)
			d.acked.Add(n)
			select {
			case d.credit <- struct{}{}:
			default:
			}
		case *sv2.SubmitSharesError:
			d.fail(fmt.Errorf("share %d on channel %d refused: %s", m.SequenceNumber, m.ChannelID, m.ErrorCode))
			return
		}
	}
}

func (d *benchDev) fail(err error) {
	select {
	case d.errs <- err:
	default:
	}
	select { // wake the writer
	case d.credit <- struct{}{}:
	default:
	}
}

// err is the reader's error, if it stopped.
func (d *benchDev) err() error {
	select {
	case err := <-d.errs:
		d.errs <- err
		return err
	default:
		return nil
	}
}

// flood sends perChannel shares on every channel as fast as the window
// lets it (and the gate, if d has one): one channel after the other, a
// system call for all the shares that fit.
func (d *benchDev) flood(perChannel, window int) error {
	for {
		wrote, left, gated := false, false, false
		for _, ch := range d.channels {
			if ch.next == int64(perChannel) {
				continue
			}
			left = true
			if ch.next-ch.acked.Load() >= int64(window) {
				continue
			}
			if d.gate != nil {
				if gated = d.gate.full(); gated {
					break
				}
				d.gate.sent.Add(1)
			}
			if err := d.buffer(ch); err != nil {
				return err
			}
			wrote = true
		}
		if !left {
			return d.conn.Flush()
		}
		if wrote && !gated {
			continue
		}
		if err := d.conn.Flush(); err != nil {
			return err
		}
		var wait <-chan struct{} = d.credit
		if gated {
			wait = d.gate.room()
		}
		select {
		case <-wait:
		case <-time.After(benchWait):
			return errors.New("no acknowledgement")
		}
		if err := d.err(); err != nil {
			return err
		}
	}
}

// benchWaitAcked waits until every device has had want shares acknowledged.
func benchWaitAcked(b testing.TB, devs []*benchDev, want int64) {
	b.Helper()
	deadline := time.Now().Add(benchWait)
	for _, d := range devs {
		for d.acked.Load() < want {
			if err := d.err(); err != nil {
				b.Fatal(err)
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d shares acknowledged on a connection", d.acked.Load(), want)
			}
			time.Sleep(100 * time.Microsecond) // polling the readers' counts
		}
	}
}

// BenchmarkShares is device shares through the proxy as fast as it takes
// them: 1,000 standard channels over 100 connections (10 each), each
// keeping at most 4 batches of 10 unacknowledged. Every share is validated
// and acknowledged by the proxy; the run ends once every acknowledgement
// has reached its device and the pool has validated every share that
// met the upstream channel's target. Two upstream targets: the pool's
// easiest at its default minimum difficulty (2^-24: about one share in 256
// goes up), and none (every share goes up). With every share going up the
// devices are also held back while 16,384 of theirs are on their way to
// the pool: the proxy acknowledges them itself, so nothing else keeps them
// from outrunning the upstream connection, and past the proxy's sibling
// queue (65,536 events) it would drop shares, and (so far) their
// acknowledgements with them. shares/s counts every share, up-shares/s
// those that went up. One op is one share; a run is at most 4,096 shares a
// channel, the duplicates a channel keeps per tip.
//
//	cd apps/proxy && go test -run '^$' -bench Shares -benchtime 2000000x -count 5
func BenchmarkShares(b *testing.B) {
	b.Run("up=1in256", func(b *testing.B) { benchmarkShares(b, 0, 0) })
	b.Run("up=all", func(b *testing.B) { benchmarkShares(b, -1, 16384) })
}

// benchmarkShares runs BenchmarkShares with the pool's minimum difficulty;
// gate, if not 0, is how many shares may be on their way to the pool.
func benchmarkShares(b *testing.B, poolMinDiff float64, gate int64) {
	const batch = 10
	perChannel := max(1, (b.N+benchConns*benchChannels*batch-1)/(benchConns*benchChannels*batch)) * batch
	if perChannel > mining.DefaultMaxSharesPerTip {
		b.Fatalf("at most %d shares a run", benchConns*benchChannels*mining.DefaultMaxSharesPerTip)
	}
	pool := startBenchPool(b, func(c *mining.ServerConfig) { c.MinShareDifficulty, c.MaxSharesPerTip = poolMinDiff, 1<<23 }, nil)
	p, addr := startBenchProxy(b, pool, batch)
	devs := make([]*benchDev, benchConns)
	for i := range devs {
		devs[i] = newBenchDev(b, addr, i, benchChannels, false, false, perChannel)
		if gate > 0 {
			devs[i].gate = &pool.benchCount
		}
	}
	pool.window = gate
	up := pool.up.Load()
	if up == nil {
		b.Fatal("no upstream target")
	}
	total := int64(benchConns * benchChannels * perChannel)
	// The shares that go up: those whose hash meets the upstream target.
	var forwarded atomic.Int64
	var wg sync.WaitGroup
	if *up == target.Max() {
		forwarded.Store(total)
	}
	for w := range runtime.GOMAXPROCS(0) {
		if *up == target.Max() {
			break
		}
		wg.Go(func() {
			n := int64(0)
			for i := w; i < len(devs); i += runtime.GOMAXPROCS(0) {
				for _, ch := range devs[i].channels {
					for seq := range uint32(perChannel) {
						if h := ch.hash(seq + 1); target.Meets(&h, up) {
							n++
						}
					}
				}
			}
			forwarded.Add(n)
		})
	}
	wg.Wait()

	b.ResetTimer()
	start := time.Now()
	errs := make(chan error, benchConns)
	for _, d := range devs {
		wg.Go(func() {
			if err := d.flood(perChannel, benchWindow*batch); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	benchWaitAcked(b, devs, int64(benchChannels*perChannel))
	deadline := time.Now().Add(benchWait)
	for int64(pool.accepted.Load()+pool.refused.Load()) < forwarded.Load() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond) // polling the pool's count
	}
	elapsed := time.Since(start)
	b.StopTimer()
	pool.check(b)
	if got := int64(pool.accepted.Load()); got != forwarded.Load() {
		b.Fatalf("the pool validated %d shares, want %d; proxy %+v", got, forwarded.Load(), p.Stats())
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "shares/s")
	b.ReportMetric(float64(forwarded.Load())/elapsed.Seconds(), "up-shares/s")
}

// BenchmarkShareLatency is the latency a share gets at a paced 10,000
// shares/s, 1,000 extended channels over 100 connections, every share
// acknowledged alone (ShareBatchSize 1, in the proxy and in the pool):
// first with the devices connected straight to the pool, then through the
// proxy to the same pool, then again, half the shares each time. Reported,
// through the proxy: p50-µs and p99-µs from writing a share to reading its
// acknowledgement, and topool-p50-µs and topool-p99-µs to the pool's
// validation of it (every share goes up); direct-p50-µs, direct-p99-µs,
// direct-topool-p50-µs and direct-topool-p99-µs the same straight to the
// pool; and added-p50-µs, added-p99-µs the difference of the
// acknowledgements'. One op is one share of each of the two.
//
//	cd apps/proxy && go test -run '^$' -bench ShareLatency -benchtime 100000x -count 5
func BenchmarkShareLatency(b *testing.B) {
	perChannel := max(2, (b.N+benchConns*benchChannels-1)/(benchConns*benchChannels))
	perChannel += perChannel % 2 // in two rounds
	if perChannel > mining.DefaultMaxSharesPerTip {
		b.Fatalf("at most %d shares a run", benchConns*benchChannels*mining.DefaultMaxSharesPerTip)
	}
	// Each share is found again by its hash when the pool validates it.
	type ref struct {
		ch  *benchChan
		seq int32
	}
	byHash := map[sv2.U256]ref{}
	var misses atomic.Int64
	pool := startBenchPool(b, func(c *mining.ServerConfig) {
		c.MinShareDifficulty, c.MaxSharesPerTip, c.ShareBatchSize = -1, 1<<23, 1
	}, func(r *mining.ShareResult, now int64) {
		if x, ok := byHash[r.Hash]; ok {
			atomic.StoreInt64(&x.ch.upAt[x.seq-1], now)
		} else {
			misses.Add(1)
		}
	})
	_, addr := startBenchProxy(b, pool, 1)
	direct, proxied := make([]*benchDev, benchConns), make([]*benchDev, benchConns)
	for i := range benchConns {
		direct[i] = newBenchDev(b, pool.addr, i, benchChannels, true, true, perChannel)
		proxied[i] = newBenchDev(b, addr, i, benchChannels, true, true, perChannel)
	}
	for _, devs := range [][]*benchDev{direct, proxied} {
		for _, d := range devs {
			for _, ch := range d.channels {
				for seq := range int32(perChannel) {
					byHash[ch.hash(uint32(seq+1))] = ref{ch, seq + 1}
				}
			}
		}
	}
	if up := pool.up.Load(); up == nil || *up != target.Max() {
		b.Fatal("the upstream target is not the easiest: some shares would not go up")
	}

	b.ResetTimer()
	for round := range 2 {
		for _, devs := range [][]*benchDev{direct, proxied} {
			benchPaced(b, devs, perChannel/2*(round+1))
		}
	}
	b.StopTimer()
	pool.check(b)
	if n := misses.Load(); n > 0 {
		b.Fatalf("the pool validated %d shares the devices did not send", n)
	}
	dAck, dUp := benchLatencies(direct)
	pAck, pUp := benchLatencies(proxied)
	q := func(l []time.Duration, f float64) float64 {
		return float64(l[int(f*float64(len(l)))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(pAck, 0.50), "p50-µs")
	b.ReportMetric(q(pAck, 0.99), "p99-µs")
	b.ReportMetric(q(pUp, 0.50), "topool-p50-µs")
	b.ReportMetric(q(pUp, 0.99), "topool-p99-µs")
	b.ReportMetric(q(dAck, 0.50), "direct-p50-µs")
	b.ReportMetric(q(dAck, 0.99), "direct-p99-µs")
	b.ReportMetric(q(dUp, 0.50), "direct-topool-p50-µs")
	b.ReportMetric(q(dUp, 0.99), "direct-topool-p99-µs")
	b.ReportMetric(q(pAck, 0.50)-q(dAck, 0.50), "added-p50-µs")
	b.ReportMetric(q(pAck, 0.99)-q(dAck, 0.99), "added-p99-µs")
}

// benchPaced sends shares on devs until every channel has sent upTo, at
// benchRate shares/s in all: each connection one share every
// len(devs)/benchRate seconds, on its channels in turn, the connections
// evenly spread in time; then it waits for every acknowledgement and
// every validation by the pool.
func benchPaced(b *testing.B, devs []*benchDev, upTo int) {
	b.Helper()
	period := time.Duration(float64(time.Second) * float64(len(devs)) / benchRate)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(devs))
	for i, d := range devs {
		wg.Go(func() {
			next := start.Add(period * time.Duration(i) / time.Duration(len(devs)))
			for k := 0; ; k++ {
				ch := d.channels[k%len(d.channels)]
				if ch.next == int64(upTo) {
					return
				}
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait) // the schedule: late shares go at once, to keep the rate
				}
				next = next.Add(period)
				if err := d.buffer(ch); err != nil {
					errs <- err
					return
				}
				if err := d.conn.Flush(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	benchWaitAcked(b, devs, int64(len(devs[0].channels)*upTo))
	deadline := time.Now().Add(benchWait)
	for _, d := range devs {
		for _, ch := range d.channels {
			for i := range upTo {
				for atomic.LoadInt64(&ch.upAt[i]) == 0 {
					if time.Now().After(deadline) {
						b.Fatalf("share %d of channel %d never reached the pool", i+1, ch.work.ChannelID)
					}
					time.Sleep(100 * time.Microsecond) // polling the pool's record
				}
			}
		}
	}
}

// benchLatencies are the sorted times from each share's write to its
// acknowledgement and to its validation by the pool.
func benchLatencies(devs []*benchDev) (ack, up []time.Duration) {
	for _, d := range devs {
		for _, ch := range d.channels {
			for i, s := range ch.sent {
				ack = append(ack, time.Duration(ch.ackAt[i]-s))
				up = append(up, time.Duration(atomic.LoadInt64(&ch.upAt[i])-s))
			}
		}
	}
	slices.Sort(ack)
	slices.Sort(up)
	return ack, up
}

// benchDevicesEnv tells TestBenchDevicesProcess what to open.
const benchDevicesEnv = "PROXY_BENCH_DEVICES"

// BenchmarkMemory is the heap and goroutine stacks the proxy holds for its
// devices: 1,000 connections of one standard channel each, and 1,000
// channels on 10 connections (100 each), divided by the connections or the
// channels. The devices run in a process of their own (the test binary
// again, TestBenchDevicesProcess), so the figures are the proxy's alone
// (and its pool's, which holds one channel whatever the devices). Each run
// measures once, whatever -benchtime says.
//
//	cd apps/proxy && go test -run '^$' -bench Memory -benchtime 1x -count 5
func BenchmarkMemory(b *testing.B) {
	for _, tt := range []struct{ conns, channels int }{{1000, 1}, {10, 100}} {
		b.Run(fmt.Sprintf("conns=%d/channels=%d", tt.conns, tt.channels), func(b *testing.B) {
			benchmarkMemory(b, tt.conns, tt.channels)
		})
	}
}

// benchmarkMemory measures once, whatever b.N: its figures are not per op.
func benchmarkMemory(b *testing.B, conns, channels int) {
	pool := startBenchPool(b, nil, nil)
	p, addr := startBenchProxy(b, pool, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	stop := devicesProcess(b, "TestBenchDevicesProcess", fmt.Sprintf("%s=%s %d %d", benchDevicesEnv, addr, conns, channels))
	defer stop()
	if n := p.Stats().Devices; n != conns {
		b.Fatalf("%d device connections at the proxy, want %d", n, conns)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	delta := func(a, b uint64) float64 { return float64(int64(a) - int64(b)) }
	if channels == 1 {
		b.ReportMetric(delta(after.HeapInuse, before.HeapInuse)/float64(conns), "B/conn")
		b.ReportMetric(delta(after.StackInuse, before.StackInuse)/float64(conns), "stack-B/conn")
	} else {
		b.ReportMetric(delta(after.HeapInuse, before.HeapInuse)/float64(conns*channels), "B/channel")
		b.ReportMetric(delta(after.StackInuse, before.StackInuse)/float64(conns*channels), "stack-B/channel")
	}
}

// devicesProcess runs the test binary again with test and env (NAME=VALUE),
// a process that holds devices, and returns once it says "ready"; stop ends
// it (closing its stdin) and waits for it.
func devicesProcess(b *testing.B, test, env string) (stop func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		stdin.Close() // the devices' process ends with it
		cmd.Wait()    //nolint:errcheck // it exits when its stdin closes
	}
	var out []string
	for sc := bufio.NewScanner(stdout); ; {
		if !sc.Scan() {
			stop()
			b.Fatalf("the devices' process ended before its devices were ready:\n%s", strings.Join(out, "\n"))
		}
		if sc.Text() == "ready" {
			break
		}
		out = append(out, sc.Text())
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // whatever it prints after
	return stop
}

// TestBenchDevicesProcess is not a test: BenchmarkMemory runs the test
// binary again with it to hold its devices in a process of their own. It
// opens them, prints "ready" and keeps them until its stdin closes.
func TestBenchDevicesProcess(t *testing.T) {
	spec := os.Getenv(benchDevicesEnv)
	if spec == "" {
		t.Skip("only BenchmarkMemory runs it")
	}
	f := strings.Fields(spec)
	if len(f) != 3 {
		t.Fatalf("%s=%q: want address, connections and channels", benchDevicesEnv, spec)
	}
	conns, err1 := strconv.Atoi(f[1])
	channels, err2 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	for i := range conns {
		c := benchDial(t, f[0], i)
		benchOpen(t, c, channels, false)
		go func() { // whatever the proxy sends, until the end
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // its end is the signal
}
