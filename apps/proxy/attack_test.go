package proxy

// Hostile-peer tests of the proxy, on loopback: what devices (downstream)
// and a hostile or broken pool (upstream, the mini pool sending what the
// test tells it) can make the proxy hold or do, and whether an honest
// device on another connection keeps getting its tips and its
// acknowledgements promptly meanwhile.

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

const (
	attackWait = 20 * time.Second
	// honestBound is how late an honest device's tip or acknowledgement
	// may be while an attack runs: generous for a noisy 2-core machine
	// under the race detector (a few milliseconds are typical).
	honestBound = 2 * time.Second
)

// attackStack is a mini pool with a tip and a proxy in front of it.
func attackStack(t testing.TB, mod func(*Config)) (*miniPool, *Proxy, string) {
	t.Helper()
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 1)
	p, addr := startProxy(t, mod, pool.addr)
	return pool, p, addr
}

// rawDevice is a hand-driven device connection from local IP ip, set up
// for Mining with flags.
func rawDevice(t testing.TB, ip, addr string, flags uint32) *transport.Conn {
	t.Helper()
	c, err := dialRaw(ip, addr, flags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialRaw(ip, addr string, flags uint32) (*transport.Conn, error) {
	d := net.Dialer{Timeout: attackWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := transport.NewPlain(nc, transport.Config{})
	if err := c.WriteMessage(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: flags,
		EndpointHost: "127.0.0.1", EndpointPort: 1, Vendor: "hostile"}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(attackWait))
	_, m, err := c.ReadMessage()
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, ok := m.(*sv2.SetupConnectionSuccess); !ok {
		c.Close()
		return nil, &setupRefused{sv2.Info(m).Name}
	}
	return c, nil
}

type setupRefused struct{ name string }

func (e *setupRefused) Error() string { return "setup answered with " + e.name }

// openMsg asks for a channel every hash is a share of (extended ones with
// MinExtranonceSize 8).
func openMsg(req uint32, extended bool) sv2.Message {
	if extended {
		return &sv2.OpenExtendedMiningChannel{RequestID: req, UserIdentity: "evil", NominalHashRate: 1e-9, MaxTarget: target.Max(), MinExtranonceSize: 8}
	}
	return &sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: "evil", NominalHashRate: 1e-9, MaxTarget: target.Max()}
}

// openChannels asks for n channels at once and reads until each is
// answered; it returns the ids of those opened and the refusal codes.
func openChannels(t testing.TB, c *transport.Conn, n int, firstReq uint32, extended bool) (opened []uint32, refused []string) {
	opened, refused, _ = openGroup(t, c, n, firstReq, extended)
	return opened, refused
}

// openGroup is openChannels that also returns the channels' group.
func openGroup(t testing.TB, c *transport.Conn, n int, firstReq uint32, extended bool) (opened []uint32, refused []string, group uint32) {
	t.Helper()
	for i := range n {
		if err := c.BufferMessage(openMsg(firstReq+uint32(i), extended)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(attackWait))
	defer c.SetReadDeadline(time.Time{})
	for len(opened)+len(refused) < n {
		_, m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d opened, %d refused: %v", len(opened), len(refused), err)
		}
		switch m := m.(type) {
		case *sv2.OpenExtendedMiningChannelSuccess:
			opened, group = append(opened, m.ChannelID), m.GroupChannelID
		case *sv2.OpenStandardMiningChannelSuccess:
			opened, group = append(opened, m.ChannelID), m.GroupChannelID
		case *sv2.OpenMiningChannelError:
			refused = append(refused, m.ErrorCode)
		}
	}
	return opened, refused, group
}

// openDrained asks for n channels on c, which d drains, and waits until
// each is answered; it returns the ids opened so far on c.
func openDrained(t testing.TB, c *transport.Conn, d *drained, n int, firstReq uint32, extended bool) []uint32 {
	t.Helper()
	d.mu.Lock()
	answered := len(d.opened) + d.counts["OpenMiningChannel.Error"]
	d.mu.Unlock()
	for i := range n {
		if err := c.BufferMessage(openMsg(firstReq+uint32(i), extended)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the channels answered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.opened)+d.counts["OpenMiningChannel.Error"] >= answered+n
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.opened)
}

// drained reads a raw connection in the background, counting what it gets
// by name and error code and following its jobs, until the connection
// fails.
type drained struct {
	state *mining.Client
	done  chan struct{}

	mu       sync.Mutex
	counts   map[string]int
	codes    map[string]int
	accepted int // shares acknowledged
	group    uint32
	opened   []uint32
}

func drain(c *transport.Conn) *drained {
	d := &drained{counts: map[string]int{}, codes: map[string]int{}, state: mining.NewClient(), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			d.state.Handle(m) //nolint:errcheck // the counts are what the tests read
			d.mu.Lock()
			d.counts[sv2.Info(m).Name]++
			switch m := m.(type) {
			case *sv2.SubmitSharesSuccess:
				d.accepted += int(m.NewSubmitsAcceptedCount)
			case *sv2.SubmitSharesError:
				d.codes[m.ErrorCode]++
			case *sv2.UpdateChannelError:
				d.codes[m.ErrorCode]++
			case *sv2.SetCustomMiningJobError:
				d.codes[m.ErrorCode]++
			case *sv2.OpenMiningChannelError:
				d.codes[m.ErrorCode]++
			case *sv2.OpenExtendedMiningChannelSuccess:
				d.group, d.opened = m.GroupChannelID, append(d.opened, m.ChannelID)
			case *sv2.OpenStandardMiningChannelSuccess:
				d.group, d.opened = m.GroupChannelID, append(d.opened, m.ChannelID)
			}
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *drained) code(c string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.codes[c]
}

func (d *drained) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts[name]
}

// refusals is the number of error answers of every kind.
func (d *drained) refusals() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, v := range d.codes {
		n += v
	}
	return n
}

// work waits until channel ch has an active job.
func (d *drained) work(t testing.TB, ch uint32) *mining.Work {
	t.Helper()
	var w *mining.Work
	waitFor(t, "a job", func() bool {
		var ok bool
		w, ok = d.state.Work(ch)
		return ok
	})
	return w
}

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// devicesHeld reports what the proxy keeps of its devices: connections
// with channels, and channels per lane, per source and held per source.
func devicesHeld(p *Proxy) (conns int, channels []int, bySource, held map[string]int) {
	p.dev.mu.Lock()
	defer p.dev.mu.Unlock()
	return len(p.dev.byConn), slices.Clone(p.dev.channels), copyCounts(p.dev.bySource), copyCounts(p.dev.held)
}

func copyCounts(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// honest is an honest device: a standard channel behind the proxy, from
// 127.0.0.1, whose tips and acknowledgements the attack tests time.
type honest struct {
	d      *testDevice
	ch     uint32
	nonce  uint32
	shares int // sent, every one acknowledged
	tipAt  []time.Duration
	ackAt  []time.Duration
}

func newHonest(t testing.TB, addr string) *honest {
	t.Helper()
	return honestOn(t, dialDevice(t, addr))
}

func honestOn(t testing.TB, d *testDevice) *honest {
	t.Helper()
	ch := d.openStandard(t, 1)
	d.work(t, ch.ChannelID)
	return &honest{d: d, ch: ch.ChannelID}
}

// tipIDs numbers the tips the attack tests push: a tip's template id and
// its prev hash.
var tipIDs atomic.Uint64

// pushTip pushes a new tip at the mini pool, as newTip does, and returns
// its prev hash.
func pushTip(t testing.TB, pool *miniPool) sv2.U256 {
	t.Helper()
	id := tipIDs.Add(1) + 1000
	var prev sv2.U256
	binary.LittleEndian.PutUint64(prev[:], id)
	pool.push(t, &sv2.NewTemplate{TemplateID: id, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x03, byte(id), byte(id >> 8), byte(id >> 16)}, CoinbaseTxInputSequence: 0xffffffff,
		CoinbaseTxValueRemaining: 50_0000_0000, MerklePath: []sv2.U256{{1, 2, 3}, {4, 5, 6}}})
	pool.push(t, &sv2.TemplateSetNewPrevHash{TemplateID: id, PrevHash: prev, HeaderTimestamp: uint32(time.Now().Unix()), NBits: testNBits})
	return prev
}

// tip pushes a new tip at the mini pool and times the honest device's
// SetNewPrevHash for it.
func (h *honest) tip(t testing.TB, pool *miniPool) time.Duration {
	t.Helper()
	start := time.Now()
	prev := pushTip(t, pool)
	for {
		if m := next[*sv2.SetNewPrevHash](t, h.d); m.PrevHash == prev {
			lat := time.Since(start)
			h.tipAt = append(h.tipAt, lat)
			return lat
		}
	}
}

// ack sends a batch of valid shares (the proxy acknowledges ten at a time)
// and times the acknowledgement of the last.
func (h *honest) ack(t testing.TB) time.Duration {
	t.Helper()
	w := h.d.work(t, h.ch)
	var start time.Time
	for i := range 10 {
		h.nonce = shareOn(w, nil, h.nonce) + 1
		if i == 9 {
			start = time.Now()
		}
		h.d.submit(t, w, h.nonce-1, nil)
		h.shares++
	}
	for {
		switch m := next[sv2.Message](t, h.d).(type) {
		case *sv2.SubmitSharesSuccess:
			if m.LastSequenceNumber == h.d.seq {
				lat := time.Since(start)
				h.ackAt = append(h.ackAt, lat)
				return lat
			}
		case *sv2.SubmitSharesError:
			t.Fatalf("the honest device's share %d was refused: %s", m.SequenceNumber, m.ErrorCode)
		}
	}
}

// check times n tips and n acknowledgements.
func (h *honest) check(t testing.TB, pool *miniPool, n int) {
	t.Helper()
	for range n {
		h.tip(t, pool)
		h.ack(t)
	}
}

// report logs the honest device's figures and fails beyond honestBound.
func (h *honest) report(t testing.TB, what string) {
	t.Helper()
	t.Logf("%s: honest tip→SetNewPrevHash p50 %v p95 %v max %v (%d); 10 shares→ack p50 %v p95 %v max %v (%d)", what,
		pct(h.tipAt, 50), pct(h.tipAt, 95), pct(h.tipAt, 100), len(h.tipAt), pct(h.ackAt, 50), pct(h.ackAt, 95), pct(h.ackAt, 100), len(h.ackAt))
	if p := pct(h.tipAt, 95); p > honestBound {
		t.Errorf("%s: the honest device's tips p95 %v", what, p)
	}
	if p := pct(h.ackAt, 95); p > honestBound {
		t.Errorf("%s: the honest device's acknowledgements p95 %v", what, p)
	}
}

// shareOn finds, from nonce on, a nonce whose share meets w's target.
func shareOn(w *mining.Work, ext []byte, nonce uint32) uint32 {
	h := w.Header(ext, nonce, w.MinNTime, w.Version)
	for ; ; h.Nonce++ {
		hash := h.Hash()
		if target.Meets(&hash, &w.Target) {
			return h.Nonce
		}
	}
}

// upstreamChannel reads what the mini pool sent until the proxy's channel
// opened, and returns the proxy's client id and channel id there.
func upstreamChannel(t testing.TB, pool *miniPool) (service.ClientID, uint32) {
	t.Helper()
	timeout := time.After(attackWait)
	for {
		select {
		case m := <-pool.sent:
			if ok, is := m.(*sv2.OpenExtendedMiningChannelSuccess); is {
				var id service.ClientID
				for _, c := range pool.svc.Clients() {
					id = max(id, c.ID)
				}
				return id, ok.ChannelID
			}
		case <-timeout:
			t.Fatal("the proxy's channel never opened at the mini pool")
		}
	}
}

// --- Attacks from devices -------------------------------------------------

// One connection asks for half again as many standard channels as
// MaxChannelsPerConnection in one burst: it gets exactly that many, the
// rest are refused with channel-capacity-exhausted, and an honest device's
// tips and acknowledgements stay prompt beside the 1,024 channels' jobs.
// Once the connection goes, the proxy keeps nothing of it.
func TestAttackChannelFloodOneConnection(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	h := newHonest(t, addr)
	heap0 := heapNow()
	c := rawDevice(t, "127.0.0.2", addr, mining.FlagRequiresStandardJobs)
	opened, refused := openChannels(t, c, DefaultMaxChannelsPerConnection*3/2, 1, false)
	if len(opened) != DefaultMaxChannelsPerConnection {
		t.Fatalf("%d channels opened on one connection, want %d", len(opened), DefaultMaxChannelsPerConnection)
	}
	for _, code := range refused {
		if code != mining.CodeChannelCapacityExhausted {
			t.Fatalf("refused with %q", code)
		}
	}
	d := drain(c)
	grown := int64(heapNow()) - int64(heap0)
	h.check(t, pool, 20)
	t.Logf("%d opened, %d refused; heap +%d KB (%d B a channel); the flooder got %d jobs",
		len(opened), len(refused), grown>>10, grown/int64(len(opened)), d.count("NewMiningJob"))
	h.report(t, "1,024 standard channels beside")
	c.Close()
	waitFor(t, "the flooder forgotten", func() bool {
		conns, channels, bySource, _ := devicesHeld(p)
		return conns == 1 && channels[0] == 1 && len(bySource) == 1
	})
}

// MaxChannelsPerSource counts the channels of every connection from one
// address: 127.0.0.2 gets its share over several connections and no more,
// 127.0.0.3 still gets its own, an honest device from 127.0.0.1 is not
// delayed, and the channels of a connection that closes are given back.
func TestAttackChannelFloodPerSource(t *testing.T) {
	const perConn, perSource = 64, 192
	pool, p, addr := attackStack(t, func(c *Config) { c.MaxChannelsPerConnection, c.MaxChannelsPerSource = perConn, perSource })
	h := newHonest(t, addr)
	var conns []*transport.Conn
	total := 0
	for range 4 {
		c := rawDevice(t, "127.0.0.2", addr, 0)
		opened, refused := openChannels(t, c, perConn+10, 1, true)
		for _, code := range refused {
			if code != mining.CodeChannelCapacityExhausted {
				t.Fatalf("refused with %q", code)
			}
		}
		total += len(opened)
		drain(c)
		conns = append(conns, c)
	}
	if total != perSource {
		t.Fatalf("%d channels from one source, want %d", total, perSource)
	}
	other := rawDevice(t, "127.0.0.3", addr, 0)
	if opened, _ := openChannels(t, other, perConn, 1, true); len(opened) != perConn {
		t.Fatalf("another source got %d channels beside a full one, want %d", len(opened), perConn)
	}
	drain(other)
	h.check(t, pool, 10)
	h.report(t, "two sources at their limits")
	conns[0].Close()
	waitFor(t, "the closed connection's channels given back", func() bool {
		_, _, bySource, _ := devicesHeld(p)
		return bySource["127.0.0.2"] == perSource-perConn
	})
	again := rawDevice(t, "127.0.0.2", addr, 0)
	if opened, _ := openChannels(t, again, perConn, 1, true); len(opened) != perConn {
		t.Errorf("after a connection closed, its source reopened %d channels, want %d", len(opened), perConn)
	}
}

// Channels that had a share accepted keep their extranonce index until the
// next tip when they close (so that their shares cannot be credited twice):
// a device that opens channels, has a share accepted on each and closes
// them, again and again, used to take every index of the lane for the rest
// of the tip, and no other device could open a channel. Those held indexes
// count against their source's MaxChannelsPerSource now, until the next
// tip; churn without shares frees the indexes at once and is not limited.
func TestAttackChurnDoesNotExhaustIndexes(t *testing.T) {
	const perSource = 64 // a quarter of the 256 indexes of a one-byte channel index
	pool, p, addr := attackStack(t, func(c *Config) {
		c.ChannelIndexSize, c.MaxChannelsPerConnection, c.MaxChannelsPerSource = 1, perSource, perSource
	})
	h := newHonest(t, addr)

	// Without shares: many times the index space, every channel opened.
	for cycle := range 12 {
		c := rawDevice(t, "127.0.0.2", addr, 0)
		opened, refused, group := openGroup(t, c, perSource, 1, cycle%2 == 0)
		if len(opened) != perSource {
			t.Fatalf("churn without shares, cycle %d: %d opened, refused %v", cycle, len(opened), refused[:min(3, len(refused))])
		}
		switch cycle % 3 {
		case 0: // every channel closed, then the connection
			for _, ch := range opened {
				c.BufferMessage(&sv2.CloseChannel{ChannelID: ch, ReasonCode: "churn"})
			}
			c.Flush()
		case 1: // the group closed, then the connection
			c.WriteMessage(&sv2.CloseChannel{ChannelID: group, ReasonCode: "churn"})
		}
		c.Close()
		waitFor(t, "the churned channels given back", func() bool { _, ch, _, _ := devicesHeld(p); return ch[0] == 1 })
	}

	// With a share accepted on every channel, from two sources.
	start := time.Now()
	var refusedAt []int
	for _, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.3"} {
		c := rawDevice(t, ip, addr, mining.FlagRequiresStandardJobs)
		d := drain(c)
		for i := range perSource {
			c.BufferMessage(openMsg(uint32(i+1), false))
		}
		c.Flush()
		waitFor(t, "the channels answered", func() bool {
			return d.count("OpenStandardMiningChannel.Success")+d.count("OpenMiningChannel.Error") == perSource
		})
		opened := d.count("OpenStandardMiningChannel.Success")
		refusedAt = append(refusedAt, opened)
		waitFor(t, "the channels' jobs", func() bool { return d.count("SetNewPrevHash") == opened })
		for ch := uint32(1); ch <= uint32(2*perSource); ch++ {
			if w, ok := d.state.Work(ch); ok {
				for nonce := range uint32(10) { // a batch: acknowledged
					c.BufferMessage(&sv2.SubmitSharesStandard{ChannelID: ch, SequenceNumber: nonce, JobID: w.JobID, Nonce: nonce, NTime: w.MinNTime, Version: w.Version})
				}
			}
		}
		c.Flush()
		waitFor(t, "the shares acknowledged", func() bool { return d.count("SubmitShares.Success") == opened })
		c.Close()
		waitFor(t, "the channels closed", func() bool { _, ch, _, _ := devicesHeld(p); return ch[0] == 1 })
	}
	_, _, _, held := devicesHeld(p)
	t.Logf("credited churn: channels opened per connection %v in %v; held %v", refusedAt, time.Since(start), held)
	if held["127.0.0.2"] != perSource || held["127.0.0.3"] != perSource {
		t.Errorf("held %v, want %d for each source", held, perSource)
	}
	// An honest device on a new connection still gets a channel, and the
	// honest device already there its tips.
	late := honestOn(t, dialDevice(t, addr))
	h.check(t, pool, 5)
	late.check(t, pool, 2)
	h.report(t, "after credited churn")
	_, _, _, held = devicesHeld(p)
	if len(held) != 0 {
		t.Errorf("after new tips, still held: %v", held)
	}
	c := rawDevice(t, "127.0.0.2", addr, 0)
	if opened, _ := openChannels(t, c, perSource, 1, true); len(opened) != perSource {
		t.Errorf("after a new tip, the churning source got %d channels, want %d", len(opened), perSource)
	}
}

// Devices connect, open channels, send a share and disconnect, from several
// goroutines, while tips change: the proxy forgets every one of them and
// every extranonce index comes back (a new connection opens its 1,024),
// and an honest device keeps getting its tips and acknowledgements.
func TestAttackConnectionChurn(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	h := newHonest(t, addr)
	heap0 := heapNow()
	stop := make(chan struct{})
	var cycles atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := dialRaw("127.0.0.2", addr, uint32(w%2)*mining.FlagRequiresStandardJobs)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				for i := range 16 {
					c.BufferMessage(openMsg(uint32(i+1), w%2 == 0))
				}
				c.BufferMessage(&sv2.SubmitSharesExtended{ChannelID: 1, JobID: 1, Extranonce: make([]byte, 8)})
				c.Flush()
				if cycles.Load()%2 == 0 { // half read a little first
					c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
					c.ReadMessage()
				}
				c.Close()
				cycles.Add(1)
			}
		})
	}
	for range 20 {
		h.tip(t, pool)
		h.ack(t)
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	waitFor(t, "the churned devices forgotten", func() bool {
		conns, channels, bySource, _ := devicesHeld(p)
		return conns == 1 && channels[0] == 1 && len(bySource) == 1 && p.Stats().Devices == 1
	})
	last := rawDevice(t, "127.0.0.2", addr, 0)
	opened, refused := openChannels(t, last, DefaultMaxChannelsPerConnection, 1, true)
	t.Logf("%d connect/open 16/disconnect cycles over 20 tips; heap %+d KB after", cycles.Load(), (int64(heapNow())-int64(heap0))>>10)
	h.report(t, "connection churn")
	if len(opened) != DefaultMaxChannelsPerConnection {
		t.Errorf("after churn, %d of %d channels opened (%v)", len(opened), DefaultMaxChannelsPerConnection, refused[:min(3, len(refused))])
	}
	if cycles.Load() < 50 {
		t.Errorf("only %d churn cycles", cycles.Load())
	}
}

// Invalid shares in floods, on a connection of a standard and an extended
// channel: no such channel, no such job, a stale job, every wrong
// extranonce size the codec takes (0..32), a standard share on an extended
// channel, shares below the channel's target. Each is answered with its
// error, none is accepted (so none goes upstream), the connection stays,
// memory does not grow with them, and an honest device is not delayed.
func TestAttackInvalidShareFlood(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	h := newHonest(t, addr)
	c := rawDevice(t, "127.0.0.2", addr, 0)
	d := drain(c)
	ext := openDrained(t, c, d, 1, 1, true)[0]
	// A standard channel whose target no random nonce meets.
	c.WriteMessage(&sv2.OpenStandardMiningChannel{RequestID: 2, UserIdentity: "evil", NominalHashRate: 1e15, MaxTarget: target.Max()})
	waitFor(t, "the standard channel", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.opened) == 2 })
	std := d.opened[1]
	stale := *d.work(t, std)
	h.tip(t, pool) // the job above is stale now
	d.work(t, ext)
	upBefore := p.Stats().SharesUp
	heap0 := heapNow()

	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := uint32(0); ; {
			select {
			case <-stop:
				return
			default:
			}
			ew, ok := d.state.Work(ext) // the tips change meanwhile
			sw, ok2 := d.state.Work(std)
			if !ok || !ok2 {
				continue
			}
			for range 60 {
				seq++
				var m sv2.Message
				switch seq % 6 {
				case 0:
					m = &sv2.SubmitSharesExtended{ChannelID: 0xdeadbeef, SequenceNumber: seq, JobID: ew.JobID, NTime: ew.MinNTime, Extranonce: make([]byte, 8)}
				case 1:
					m = &sv2.SubmitSharesExtended{ChannelID: ext, SequenceNumber: seq, JobID: ew.JobID + 1000 + seq, NTime: ew.MinNTime, Version: ew.Version, Extranonce: make([]byte, ew.ExtranonceSize)}
				case 2:
					n := int(seq/6) % 33
					if n == ew.ExtranonceSize {
						n = 0
					}
					m = &sv2.SubmitSharesExtended{ChannelID: ext, SequenceNumber: seq, JobID: ew.JobID, NTime: ew.MinNTime, Version: ew.Version, Extranonce: make([]byte, n)}
				case 3:
					m = &sv2.SubmitSharesStandard{ChannelID: ext, SequenceNumber: seq, JobID: ew.JobID, NTime: ew.MinNTime, Version: ew.Version}
				case 4:
					m = &sv2.SubmitSharesStandard{ChannelID: std, SequenceNumber: seq, JobID: sw.JobID, Nonce: seq, NTime: sw.MinNTime, Version: sw.Version}
				case 5:
					m = &sv2.SubmitSharesStandard{ChannelID: std, SequenceNumber: seq, JobID: stale.JobID, Nonce: seq, NTime: stale.MinNTime, Version: stale.Version}
				}
				if err := c.BufferMessage(m); err != nil {
					t.Error(err)
					return
				}
			}
			if err := c.Flush(); err != nil {
				t.Error(err)
				return
			}
			sent.Add(60)
			time.Sleep(200 * time.Microsecond)
		}
	})
	for i := range 10 {
		h.ack(t)
		if i%2 == 1 {
			h.tip(t, pool)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	n := sent.Load()
	waitFor(t, "an answer to every invalid share", func() bool { return int64(d.refusals()) >= n })
	grown := int64(heapNow()) - int64(heap0)
	d.mu.Lock()
	t.Logf("%d invalid shares; answers %v; heap %+d KB", n, d.codes, grown>>10)
	d.mu.Unlock()
	h.report(t, "invalid-share flood")
	for _, code := range []string{mining.CodeInvalidChannelID, mining.CodeInvalidJobID, mining.CodeStaleShare,
		mining.CodeBadExtranonceSize, mining.CodeDifficultyTooLow} {
		if d.code(code) == 0 {
			t.Errorf("no %s among the answers", code)
		}
	}
	if a := d.count("SubmitShares.Success"); a != 0 {
		t.Errorf("%d acknowledgements of invalid shares", a)
	}
	if up := p.Stats().SharesUp - upBefore; up > uint64(h.shares) {
		t.Errorf("%d shares went upstream, more than the honest device's %d", up, h.shares)
	}
	if grown > 16<<20 {
		t.Errorf("heap grew %d MB under an invalid-share flood", grown>>20)
	}
	select {
	case <-d.done:
		t.Error("the proxy closed the connection of invalid shares (it answers them instead)")
	default:
	}
}

// Valid distinct shares as fast as a device can send them, on a channel
// every hash is a share of, while the pool asks for every share (SetTarget
// of all ones) and tips change: the channel takes 4,096 a tip and refuses
// the rest (too-many-shares), every accepted one goes upstream, the pool
// refuses those below its real target, and an honest device's tips and
// acknowledgements stay prompt. The same share sent again is a duplicate.
func TestAttackValidShareFlood(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	id, upCh := upstreamChannel(t, pool)
	go func() { // the mini pool blocks once its records are full
		for range pool.results {
		}
	}()
	go func() {
		for range pool.sent {
		}
	}()
	go func() {
		for range pool.submits {
		}
	}()
	pool.act(t, id, &sv2.SetTarget{ChannelID: upCh, MaximumTarget: target.Max()})
	h := newHonest(t, addr)
	c := rawDevice(t, "127.0.0.2", addr, 0)
	d := drain(c)
	ch := openDrained(t, c, d, 1, 1, true)[0]
	before := p.Stats()

	// Duplicates first: one share, 1,000 times.
	w := d.work(t, ch)
	dup := &sv2.SubmitSharesExtended{ChannelID: ch, JobID: w.JobID, Nonce: 0xfeed, NTime: w.MinNTime, Version: w.Version, Extranonce: make([]byte, w.ExtranonceSize)}
	for i := range 1000 {
		dup.SequenceNumber = uint32(i)
		c.BufferMessage(dup)
	}
	c.Flush()
	waitFor(t, "the duplicates refused", func() bool { return d.code(mining.CodeDuplicateShare) == 999 })

	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for nonce := uint32(0); ; {
			select {
			case <-stop:
				return
			default:
			}
			w, ok := d.state.Work(ch) // the tips change meanwhile
			if !ok {
				continue
			}
			for range 128 {
				nonce++
				c.BufferMessage(&sv2.SubmitSharesExtended{ChannelID: ch, SequenceNumber: nonce, JobID: w.JobID, Nonce: nonce,
					NTime: w.MinNTime, Version: w.Version, Extranonce: make([]byte, w.ExtranonceSize)})
			}
			if err := c.Flush(); err != nil {
				t.Error(err)
				return
			}
			sent.Add(128)
			time.Sleep(time.Millisecond)
		}
	})
	tips := 0
	for range 5 {
		for range 4 {
			h.ack(t)
			time.Sleep(25 * time.Millisecond)
		}
		h.tip(t, pool)
		tips++
	}
	close(stop)
	wg.Wait()
	n := sent.Load() + 1000
	// Every share is answered but those of the last partial batch.
	waitFor(t, "the flood answered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		refused := 0
		for _, v := range d.codes {
			refused += v
		}
		return int64(refused+d.accepted) > n-10
	})
	d.mu.Lock()
	refused := 0
	for _, v := range d.codes {
		refused += v
	}
	accepted := n - int64(refused) // acknowledged or in the last partial batch
	t.Logf("%d valid shares over %d tips: %d accepted, refused %v", n, tips, accepted, d.codes)
	d.mu.Unlock()
	waitFor(t, "every accepted share upstream", func() bool {
		return int64(p.Stats().SharesUp-before.SharesUp) == accepted+int64(h.shares)
	})
	st := p.Stats()
	t.Logf("upstream: %d shares up, the pool accepted %d and refused %d", st.SharesUp-before.SharesUp, st.UpAccepted-before.UpAccepted, st.UpRefused-before.UpRefused)
	h.report(t, "valid-share flood")
	if max := int64(mining.DefaultMaxSharesPerTip) * int64(tips+1); accepted > max {
		t.Errorf("%d shares accepted over %d tips, more than %d", accepted, tips, max)
	}
	if d.code(mining.CodeTooManyShares) == 0 {
		t.Error("no share refused with too-many-shares")
	}
}

// Absurd values on one connection: each is refused with its code, the
// connection stays, nothing is counted for it, and closing the group
// closes every channel of it.
func TestAttackAbsurdValues(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	h := newHonest(t, addr)
	c := rawDevice(t, "127.0.0.2", addr, 0)
	d := drain(c)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	opens := []struct {
		m    sv2.Message
		code string
	}{
		{&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: "x", NominalHashRate: nan, MaxTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.OpenExtendedMiningChannel{RequestID: 2, UserIdentity: "x", NominalHashRate: -1, MaxTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.OpenExtendedMiningChannel{RequestID: 3, UserIdentity: "x", NominalHashRate: inf, MaxTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.OpenStandardMiningChannel{RequestID: 4, UserIdentity: "x", NominalHashRate: nan, MaxTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.OpenExtendedMiningChannel{RequestID: 5, UserIdentity: "x", NominalHashRate: 1}, mining.CodeMaxTargetOutOfRange},
		{&sv2.OpenStandardMiningChannel{RequestID: 6, UserIdentity: "x", NominalHashRate: 1}, mining.CodeMaxTargetOutOfRange},
		{&sv2.OpenExtendedMiningChannel{RequestID: 7, UserIdentity: "x", NominalHashRate: 1, MaxTarget: target.Max(), MinExtranonceSize: 33}, mining.CodeMinExtranonceSizeTooLarge},
		{&sv2.OpenExtendedMiningChannel{RequestID: 8, UserIdentity: "x", NominalHashRate: 1, MaxTarget: target.Max(), MinExtranonceSize: 0xffff}, mining.CodeMinExtranonceSizeTooLarge},
	}
	for _, o := range opens {
		c.WriteMessage(o.m)
	}
	waitFor(t, "the opens refused", func() bool { return d.count("OpenMiningChannel.Error") == len(opens) })
	for _, o := range opens {
		if d.code(o.code) == 0 {
			t.Errorf("no %s", o.code)
		}
	}
	if _, channels, bySource, _ := devicesHeld(p); channels[0] != 1 || bySource["127.0.0.2"] != 0 {
		t.Fatalf("refused opens counted: channels %v, by source %v", channels, bySource)
	}

	for i := range 3 {
		c.WriteMessage(openMsg(uint32(10+i), i%2 == 0))
	}
	waitFor(t, "three channels", func() bool {
		return d.count("OpenExtendedMiningChannel.Success")+d.count("OpenStandardMiningChannel.Success") == 3
	})
	d.mu.Lock()
	group := d.group
	d.mu.Unlock()
	chs := []uint32{group - 1, group + 1, group + 2} // ids are given in order, the group's after the first
	updates := []struct {
		m    *sv2.UpdateChannel
		code string
	}{
		{&sv2.UpdateChannel{ChannelID: chs[0], NominalHashRate: nan, MaximumTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.UpdateChannel{ChannelID: chs[0], NominalHashRate: -5, MaximumTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.UpdateChannel{ChannelID: chs[0], NominalHashRate: inf, MaximumTarget: target.Max()}, mining.CodeInvalidNominalHashrate},
		{&sv2.UpdateChannel{ChannelID: chs[1], NominalHashRate: 1}, mining.CodeMaxTargetOutOfRange},
		{&sv2.UpdateChannel{ChannelID: 0xdead, NominalHashRate: 1, MaximumTarget: target.Max()}, mining.CodeInvalidChannelID},
		{&sv2.UpdateChannel{ChannelID: group, NominalHashRate: 1, MaximumTarget: target.Max()}, mining.CodeInvalidChannelID},
	}
	for _, u := range updates {
		c.WriteMessage(u.m)
	}
	waitFor(t, "the updates refused", func() bool { return d.count("UpdateChannel.Error") == len(updates) })
	for _, u := range updates {
		if d.code(u.code) == 0 {
			t.Errorf("no %s", u.code)
		}
	}
	for _, id := range []uint32{0, 0xdead, 0xffffffff, chs[2] + 100} { // not ours: nothing to close
		c.WriteMessage(&sv2.CloseChannel{ChannelID: id, ReasonCode: "x"})
	}
	c.WriteMessage(&sv2.SetCustomMiningJob{ChannelID: chs[0], RequestID: 9, CoinbasePrefix: make([]byte, 100)})
	waitFor(t, "the custom job refused", func() bool { return d.code(mining.CodeJDNotSupported) == 1 })
	if _, channels, bySource, _ := devicesHeld(p); channels[0] != 4 || bySource["127.0.0.2"] != 3 {
		t.Fatalf("after closes of unknown channels: channels %v, by source %v", channels, bySource)
	}
	c.WriteMessage(&sv2.CloseChannel{ChannelID: group, ReasonCode: "all"})
	waitFor(t, "the group's close closing all of it", func() bool {
		_, channels, bySource, _ := devicesHeld(p)
		return channels[0] == 1 && bySource["127.0.0.2"] == 0
	})
	// The connection is still served.
	c.WriteMessage(openMsg(20, true))
	waitFor(t, "a channel after all that", func() bool { return d.count("OpenExtendedMiningChannel.Success") == 3 })
	h.check(t, pool, 5)
	h.report(t, "absurd values")
	select {
	case <-d.done:
		t.Error("the proxy closed the connection")
	default:
	}
}

// A device declaring the largest float32 hashrate on a few channels: the
// devices' total, which the upstream channel declares, overflowed float32
// to +Inf, which the pool refuses, in UpdateChannel and, worse, in
// OpenExtendedMiningChannel on every reconnect, so the proxy could not
// open its upstream channel again while the device stayed. It is capped at
// the largest finite float32.
func TestAttackHugeHashrateStaysFinite(t *testing.T) {
	pool, _, addr := attackStack(t, func(c *Config) { c.HashrateDebounce = 20 * time.Millisecond })
	id, _ := upstreamChannel(t, pool)
	<-pool.opens
	h := newHonest(t, addr)
	c := rawDevice(t, "127.0.0.2", addr, 0)
	d := drain(c)
	for i := range 3 {
		c.WriteMessage(&sv2.OpenExtendedMiningChannel{RequestID: uint32(i + 1), UserIdentity: "x", NominalHashRate: math.MaxFloat32, MaxTarget: target.Max(), MinExtranonceSize: 8})
	}
	waitFor(t, "three channels", func() bool { return d.count("OpenExtendedMiningChannel.Success") == 3 })
	timeout := time.After(attackWait)
	for {
		select {
		case u := <-pool.updates:
			if math.IsInf(float64(u.NominalHashRate), 0) || math.IsNaN(float64(u.NominalHashRate)) {
				t.Fatalf("UpdateChannel declares %v upstream", u.NominalHashRate)
			}
			if u.NominalHashRate < math.MaxFloat32 {
				continue
			}
		case <-timeout:
			t.Fatal("no UpdateChannel for the devices' hashrate")
		}
		break
	}
	pool.push(t, []service.ServerEvent{service.DisconnectClient{Client: id, Reason: "reconnect"}})
	select {
	case o := <-pool.opens:
		if math.IsInf(float64(o.NominalHashRate), 0) {
			t.Fatalf("the channel is reopened declaring %v", o.NominalHashRate)
		}
	case <-time.After(attackWait):
		t.Fatal("the proxy did not reopen its upstream channel")
	}
	upstreamChannel(t, pool) // open again
	h.check(t, pool, 3)
	h.report(t, "after a huge hashrate")
}

// A device with 1,024 standard channels that never reads while tips come
// (each tip is a job and a SetNewPrevHash for each of its channels): its
// send queue fills and it is cut off, the proxy's heap stays bounded, and
// an honest device's tips and acknowledgements stay prompt.
func TestAttackDeafDevice(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	h := newHonest(t, addr)
	heap0 := heapNow()
	deaf := rawDevice(t, "127.0.0.2", addr, mining.FlagRequiresStandardJobs)
	openChannels(t, deaf, DefaultMaxChannelsPerConnection, 1, false)
	// From now on it reads nothing.
	start := time.Now()
	var peak uint64
	cutAt := -1
	for i := range 2000 {
		h.tip(t, pool)
		if i%25 == 0 {
			h.ack(t)
			peak = max(peak, heapNow())
		}
		if p.Stats().Devices == 1 {
			cutAt = i + 1
			break
		}
	}
	peak = max(peak, heapNow())
	t.Logf("deaf device with %d channels cut off after %d tips (%v); heap peak +%d MB",
		DefaultMaxChannelsPerConnection, cutAt, time.Since(start).Round(time.Millisecond), (int64(peak)-int64(heap0))>>20)
	h.report(t, "beside a deaf device")
	if cutAt < 0 {
		t.Error("the deaf device was never cut off")
	}
	if grown := int64(peak) - int64(heap0); grown > 512<<20 {
		t.Errorf("heap grew %d MB for one deaf device", grown>>20)
	}
	waitFor(t, "the deaf device forgotten", func() bool { conns, _, _, _ := devicesHeld(p); return conns == 1 })
}

// Silent and slow connections: many from one address that say nothing, or
// dribble a byte at a time, take none of what an honest device from
// another address needs (handshake slots, connection slots): it connects,
// opens its channel and is served at once.
func TestAttackSilentConnections(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "noise"}[encrypted], func(t *testing.T) {
			var pool *miniPool
			var addr string
			var key *noise.PublicKey
			if encrypted {
				pool, _, addr, key = noiseStack(t)
			} else {
				pool, _, addr = attackStack(t, nil)
			}
			var conns []net.Conn
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
			for range service.DefaultMaxConnectionsPerSource + 20 { // past the source's connections too
				c, err := dialer.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			defer func() { close(stop); wg.Wait() }()
			for _, c := range conns[:16] { // slowloris: a byte every 50 ms
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
						}
						if _, err := c.Write([]byte{0}); err != nil {
							return
						}
					}
				})
			}
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			var d *testDevice
			if encrypted {
				d = dialNoiseDevice(t, addr, key)
			} else {
				d = dialDevice(t, addr)
			}
			h := honestOn(t, d)
			connected := time.Since(start)
			t.Logf("%d silent or slow connections from one address; an honest device connected and opened its channel in %v", len(conns), connected)
			if connected > honestBound {
				t.Errorf("the honest device took %v to connect", connected)
			}
			h.check(t, pool, 5)
			h.report(t, "beside silent connections")
		})
	}
}

// noiseStack is attackStack with Noise towards the devices; it returns
// the authority key devices pin.
func noiseStack(t testing.TB) (*miniPool, *Proxy, string, *noise.PublicKey) {
	t.Helper()
	b := make([]byte, 32)
	b[31] = 7
	sk, err := noise.NewSecretKey(b)
	if err != nil {
		t.Fatal(err)
	}
	pub := sk.PublicKey()
	pool, p, addr := attackStack(t, func(c *Config) { c.Plain, c.AuthorityKey = false, &sk })
	return pool, p, addr, &pub
}

// dialNoiseDevice is dialDevice over Noise, pinning key.
func dialNoiseDevice(t testing.TB, addr string, key *noise.PublicKey) *testDevice {
	t.Helper()
	d := &testDevice{state: mining.NewClient(), msgs: make(chan sv2.Message, 1<<16)}
	svc, err := service.NewClientService(service.ClientConfig{Mining: &service.UpstreamConfig{Address: addr, AuthorityKey: key}}, d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.svc = svc
	run(t, svc.Run)
	return d
}

// --- Attacks from the upstream --------------------------------------------

// floodJobs has the mini pool send n jobs on the proxy's channel, in
// batches it waits for the proxy to take (so that what is measured is the
// proxy's, not the mini pool's send queue), then one job with sentinel as
// coinbase prefix, and waits for the honest device to get it.
func floodJobs(t testing.TB, pool *miniPool, p *Proxy, h *honest, id service.ClientID, ch uint32, n int, future bool, mk func(i int) *sv2.NewExtendedMiningJob) {
	t.Helper()
	jobs0 := p.Stats().Jobs
	for i := 0; i < n; {
		var msgs []sv2.Message
		for ; len(msgs) < 200 && i < n; i++ {
			m := mk(i)
			m.ChannelID, m.JobID = ch, uint32(1_000_000+i)
			if !future {
				m.MinNTime = sv2.Some(uint32(time.Now().Unix()))
			}
			msgs = append(msgs, m)
		}
		pool.act(t, id, msgs...)
		waitFor(t, "the proxy to take the jobs", func() bool { return p.Stats().Jobs >= jobs0+uint64(i) })
	}
	// The devices' side is done with them once it stops moving.
	for last := int64(-1); ; time.Sleep(50 * time.Millisecond) {
		if now := p.dev.taken.Load(); now == last {
			break
		} else {
			last = now
		}
	}
	sentinel := []byte{0x5e, 0x17, 0x1e, 0x1}
	pool.act(t, id, &sv2.NewExtendedMiningJob{ChannelID: ch, JobID: 7, MinNTime: sv2.Some(uint32(time.Now().Unix())), Version: 0x20000000,
		VersionRollingAllowed: true, CoinbaseTxPrefix: sentinel, CoinbaseTxSuffix: []byte{0xff}})
	for {
		if m := next[*sv2.NewExtendedMiningJob](t, h.d); string(m.CoinbaseTxPrefix[:4]) == string(sentinel) {
			return
		}
	}
}

// A flood of NewExtendedMiningJob on one tip, active or future: the
// proxy's heap stays bounded (it lays out at most maxEntries active jobs a
// tip for the devices, then gives the next one as a new tip on the same
// prev hash, and at most maxFutureJobs future ones), and the devices keep
// mining valid work: the honest device's shares are acknowledged and it
// gets the next tip. Every job used to stay on the devices' side until the
// next tip, and a future one on every device channel.
func TestAttackUpstreamJobFlood(t *testing.T) {
	for _, future := range []bool{false, true} {
		t.Run(map[bool]string{false: "active", true: "future"}[future], func(t *testing.T) {
			pool, p, addr := attackStack(t, nil)
			id, ch := upstreamChannel(t, pool)
			h := newHonest(t, addr)
			c := rawDevice(t, "127.0.0.2", addr, 0)
			openChannels(t, c, 100, 1, true)
			d := drain(c)
			heap0 := heapNow()
			const n = 10000
			start := time.Now()
			floodJobs(t, pool, p, h, id, ch, n, future, func(int) *sv2.NewExtendedMiningJob {
				return &sv2.NewExtendedMiningJob{Version: 0x20000000, VersionRollingAllowed: true,
					CoinbaseTxPrefix: make([]byte, 1000), CoinbaseTxSuffix: make([]byte, 100), MerklePath: make([]sv2.U256, 12)}
			})
			took := time.Since(start)
			grown := int64(heapNow()) - int64(heap0)
			h.ack(t)
			h.check(t, pool, 3)
			t.Logf("%d %s jobs on one tip in %v: heap +%d KB; beside 100 channels that got %d jobs and %d prev hashes",
				n, map[bool]string{false: "active", true: "future"}[future], took.Round(time.Millisecond), grown>>10,
				d.count("NewExtendedMiningJob"), d.count("SetNewPrevHash"))
			h.report(t, "after the job flood")
			if grown > 8<<20 {
				t.Errorf("heap grew %d MB for %d jobs on one tip", grown>>20, n)
			}
		})
	}
}

// Jobs as large as the codec takes (64 KiB coinbase prefix and suffix, 255
// merkle path entries), fast, with 100 standard device channels to lay
// each out for: the jobs on their way to the devices' side are bounded by
// bytes (maxHandedBytes), not only by count, so the heap stays bounded.
// Half the jobs leave no room in the 64 KiB coinbase prefix for the
// proxy's part of the extranonce: standard devices get them, extended
// ones (and groups) cannot (the message does not encode and is dropped).
func TestAttackUpstreamHugeJobs(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	id, ch := upstreamChannel(t, pool)
	h := newHonest(t, addr)
	c := rawDevice(t, "127.0.0.2", addr, mining.FlagRequiresStandardJobs)
	openChannels(t, c, 100, 1, false)
	d := drain(c)
	heap0 := heapNow()
	const n = 1000
	start := time.Now()
	floodJobs(t, pool, p, h, id, ch, n, false, func(i int) *sv2.NewExtendedMiningJob {
		prefix := 0xffff - 4 // the proxy's lead is 4 bytes here: just fits
		if i%2 == 1 {
			prefix = 0xffff // does not
		}
		return &sv2.NewExtendedMiningJob{Version: 0x20000000, CoinbaseTxPrefix: make([]byte, prefix), CoinbaseTxSuffix: make([]byte, 0xffff),
			MerklePath: make([]sv2.U256, 255)}
	})
	took := time.Since(start)
	grown := int64(heapNow()) - int64(heap0)
	h.check(t, pool, 3)
	t.Logf("%d jobs of 136 KB in %v: heap +%d MB; 100 standard channels got %d jobs", n, took.Round(time.Millisecond), grown>>20, d.count("NewMiningJob"))
	h.report(t, "after huge jobs")
	if grown > 96<<20 { // 256 jobs kept upstream and laid out for the devices, and 16 MB on the way: about 80 MB
		t.Errorf("heap grew %d MB", grown>>20)
	}
}

// What a hostile or broken pool sends, one after the other, each followed
// by a check that the honest device is still served: none panics, the
// messages that make no sense are ignored, and those that end the channel
// make the proxy connect again.
func TestAttackUpstreamHostileMessages(t *testing.T) {
	pool, p, addr := attackStack(t, nil)
	id, ch := upstreamChannel(t, pool)
	<-pool.opens
	h := newHonest(t, addr)
	now := uint32(time.Now().Unix())
	const unknown = 0xdead
	ignored := []struct {
		name string
		msgs []sv2.Message
	}{
		{"SetNewPrevHash for a job never sent", []sv2.Message{&sv2.SetNewPrevHash{ChannelID: ch, JobID: 424242, PrevHash: sv2.U256{9}, MinNTime: now, NBits: testNBits}}},
		{"SetNewPrevHash with invalid nbits", []sv2.Message{
			&sv2.NewExtendedMiningJob{ChannelID: ch, JobID: 500, Version: 0x20000000, CoinbaseTxPrefix: []byte{1}, CoinbaseTxSuffix: []byte{2}},
			&sv2.SetNewPrevHash{ChannelID: ch, JobID: 500, PrevHash: sv2.U256{9}, MinNTime: now, NBits: 0x01800001}}},
		{"messages for a channel never opened", []sv2.Message{
			&sv2.NewExtendedMiningJob{ChannelID: unknown, JobID: 501, MinNTime: sv2.Some(now), CoinbaseTxPrefix: []byte{1}},
			&sv2.SetNewPrevHash{ChannelID: unknown, JobID: 501, NBits: testNBits},
			&sv2.SetTarget{ChannelID: unknown},
			&sv2.SetExtranoncePrefix{ChannelID: unknown, ExtranoncePrefix: make([]byte, 32)},
			&sv2.CloseChannel{ChannelID: unknown, ReasonCode: "x"},
			&sv2.SetGroupChannel{GroupChannelID: unknown, ChannelIDs: []uint32{unknown + 1}},
			&sv2.SubmitSharesError{ChannelID: unknown, SequenceNumber: 77, ErrorCode: "x"},
			&sv2.SubmitSharesSuccess{ChannelID: unknown, LastSequenceNumber: 77, NewSubmitsAcceptedCount: 1}}},
		{"an OpenExtendedMiningChannel.Success nobody asked for", []sv2.Message{
			&sv2.OpenExtendedMiningChannelSuccess{RequestID: 77, ChannelID: 99, ExtranonceSize: 4},
			&sv2.OpenExtendedMiningChannelSuccess{RequestID: 1, ChannelID: 99, ExtranonceSize: 1, ExtranoncePrefix: make([]byte, 31)}}},
		{"a job with a 255-long merkle path", []sv2.Message{&sv2.NewExtendedMiningJob{ChannelID: ch, JobID: 502, MinNTime: sv2.Some(now),
			Version: 0x20000000, CoinbaseTxPrefix: []byte{1}, CoinbaseTxSuffix: []byte{2}, MerklePath: make([]sv2.U256, 255)}}},
	}
	for _, a := range ignored {
		pool.act(t, id, a.msgs...)
		h.ack(t)
		h.tip(t, pool)
	}
	st := p.Stats()
	if !st.Connected || st.Switches != 0 || len(pool.opens) != 0 {
		t.Fatalf("the proxy reconnected: %+v", st)
	}

	// SetTarget zero: no share meets it, none goes up; all ones: all go up.
	pool.act(t, id, &sv2.SetTarget{ChannelID: ch})
	waitFor(t, "the target taken", func() bool { return *p.up.lanes[0].share.Load() == sv2.U256{} })
	up := p.Stats().SharesUp
	h.ack(t)
	if got := p.Stats().SharesUp - up; got != 0 {
		t.Errorf("%d shares went up under a target of zero", got)
	}
	pool.act(t, id, &sv2.SetTarget{ChannelID: ch, MaximumTarget: target.Max()})
	waitFor(t, "the target taken", func() bool { return *p.up.lanes[0].share.Load() == target.Max() })
	up = p.Stats().SharesUp
	h.ack(t)
	waitFor(t, "every share up under a target of all ones", func() bool { return p.Stats().SharesUp-up == 10 })

	// What ends the channel: the proxy opens it again, the devices keep
	// theirs and get the next tip.
	ending := []struct {
		name string
		m    func(ch uint32) sv2.Message
	}{
		{"SetExtranoncePrefix longer than the channel's space", func(ch uint32) sv2.Message {
			return &sv2.SetExtranoncePrefix{ChannelID: ch, ExtranoncePrefix: make([]byte, 8)}
		}},
		{"CloseChannel", func(ch uint32) sv2.Message { return &sv2.CloseChannel{ChannelID: ch, ReasonCode: "go away"} }},
	}
	for _, a := range ending {
		pool.act(t, id, a.m(ch))
		select {
		case <-pool.opens:
		case <-time.After(attackWait):
			t.Fatalf("%s: the proxy did not open its channel again", a.name)
		}
		id, ch = upstreamChannel(t, pool)
		h.tip(t, pool)
		h.ack(t)
	}
	t.Logf("stats %+v", p.Stats())
}

// hostileOpen is a mini pool whose channel Success edit changes.
type hostileOpen struct {
	*miniPool
	edit func(*sv2.OpenExtendedMiningChannelSuccess)
}

func (h *hostileOpen) OpenExtendedMiningChannel(_ context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	msgs, err := h.conn(id).OpenExtendedChannel(m)
	if err != nil {
		return nil, err
	}
	h.edit(msgs[0].(*sv2.OpenExtendedMiningChannelSuccess))
	return h.to(id, msgs...), nil
}

// A first upstream whose channel has an extranonce the devices cannot be
// laid out in: the proxy fails it and mines through the next. One of more
// than 32 bytes used to fix the devices' extranonce size at it, which no
// upstream could then give, so the proxy never served a device.
func TestAttackUpstreamBadExtranonceSize(t *testing.T) {
	for _, c := range []struct {
		name   string
		prefix int
		size   uint16
	}{{"size 65535", 4, 0xffff}, {"prefix and size over 32", 20, 16}, {"size under the channel index", 4, 1}} {
		t.Run(c.name, func(t *testing.T) {
			good := startMiniPool(t, nil)
			good.newTip(t, 1, 1)
			badPool := startMiniPool(t, nil)
			badPool.newTip(t, 1, 1)
			bad := &hostileOpen{miniPool: badPool, edit: func(m *sv2.OpenExtendedMiningChannelSuccess) {
				m.ExtranoncePrefix, m.ExtranonceSize = make([]byte, c.prefix), c.size
			}}
			_, badAddr := serve(t, service.ServerConfig{Mining: &service.ProtocolConfig{}}, bad)
			p, addr := startProxy(t, func(cfg *Config) { cfg.Attempts = 1 }, badAddr, good.addr)
			if st := p.Stats(); st.Upstream != 1 {
				t.Fatalf("mining through upstream %d, want the second: %+v", st.Upstream+1, st)
			}
			h := newHonest(t, addr)
			for range 3 {
				h.tip(t, good)
				h.ack(t)
			}
		})
	}
}

// In passthrough mode every device channel opened is a channel opened
// upstream, on the proxy's one connection: a device that opens and closes
// its 1,024 channels again and again used up the pool's channel-open rate
// for that connection (core mining's MaxChannelOpensPerSecond: a burst of
// 4,096, then 100 a second), and an honest device's channels were refused
// by the pool with channel-open-rate-exceeded for as long as the churn
// went on. Each source now has its own share of upstream requests
// (PassthroughOpenRate), and the honest device's ten channels all open.
func TestAttackPassthroughChurnTakesThePoolsOpenRate(t *testing.T) {
	pool, _, addr := attackStack(t, passthrough)
	go func() {
		for range pool.opens {
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := dialRaw("127.0.0.2", addr, 0)
			if err != nil {
				return
			}
			for i := range DefaultMaxChannelsPerConnection {
				c.BufferMessage(openMsg(uint32(i+1), true))
			}
			c.Flush()
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for range DefaultMaxChannelsPerConnection {
				if _, _, err := c.ReadMessage(); err != nil {
					break
				}
			}
			c.Close()
		}
	})
	time.Sleep(time.Second) // the pool's burst used up
	d := dialDevice(t, addr)
	refused := map[string]int{}
	for i := range 10 {
		d.send(t, &sv2.OpenStandardMiningChannel{RequestID: uint32(i + 1), UserIdentity: "honest", NominalHashRate: 1, MaxTarget: target.Max()})
		m := recvWhere(t, d.msgs, func(m sv2.Message) bool {
			switch m.(type) {
			case *sv2.OpenStandardMiningChannelSuccess, *sv2.OpenMiningChannelError:
				return true
			}
			return false
		})
		if e, ok := m.(*sv2.OpenMiningChannelError); ok {
			refused[e.ErrorCode]++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(refused) > 0 {
		t.Errorf("of 10 honest channels beside the churn, refused: %v", refused)
	}
}
