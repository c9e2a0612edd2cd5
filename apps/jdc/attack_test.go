package jdc

// Hostile-device tests of the JDC's mining server, on loopback: what
// devices can make it hold, and whether an honest device on another
// connection keeps getting its jobs promptly meanwhile.

import (
	"context"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/synthtp"
	"github.com/stratumgo/stratum/core/transport"
)

const attackWait = 20 * time.Second

// attackStack is benchStack with a configurable JDC.
func attackStack(t testing.TB, mod func(*Config)) (*JDC, string, *service.ServerService, *synthtp.Provider, *fakePool) {
	fp := &fakePool{}
	j, addr, tpSrv, tp, _ := fakeStack(t, fp, func(c *Config) {
		c.User = "attack"
		if mod != nil {
			mod(c)
		}
	})
	return j, addr, tpSrv, tp, fp
}

// rawDevice is a hand-driven device connection from local IP ip, set up
// for Mining.
func rawDevice(t testing.TB, ip, addr string) *transport.Conn {
	t.Helper()
	c, err := dialRaw(ip, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialRaw(ip, addr string) (*transport.Conn, error) {
	d := net.Dialer{Timeout: attackWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := transport.NewPlain(nc, transport.Config{})
	if err := c.WriteMessage(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2,
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

// openChannels asks for n extended channels at once (MinExtranonceSize 8,
// every hash a share) and reads until each is answered; it returns the
// successes, the refusal codes and, of each channel, the last job seen.
func openChannels(t testing.TB, c *transport.Conn, n int, firstReq uint32) (opened []*sv2.OpenExtendedMiningChannelSuccess, refused []string) {
	t.Helper()
	for i := range n {
		if err := c.BufferMessage(&sv2.OpenExtendedMiningChannel{RequestID: firstReq + uint32(i), UserIdentity: "evil",
			NominalHashRate: 1e-9, MaxTarget: maxTarget, MinExtranonceSize: 8}); err != nil {
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
			opened = append(opened, m)
		case *sv2.OpenMiningChannelError:
			refused = append(refused, m.ErrorCode)
		}
	}
	return opened, refused
}

// tipLatency pushes a new tip from the provider and returns how long the
// honest device took to get its SetNewPrevHash.
func tipLatency(t testing.TB, tpSrv *service.ServerService, tp *synthtp.Provider, d *benchDevice) time.Duration {
	t.Helper()
	select {
	case <-d.prev:
	default:
	}
	_, ev := tp.NewTip()
	start := time.Now()
	if err := tpSrv.HandleEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-d.prev:
		return at.Sub(start)
	case <-time.After(attackWait):
		t.Fatal("the honest device got no SetNewPrevHash for a new tip")
		return 0
	}
}

func pct(lat []time.Duration, p int) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// drain reads c in the background, counting what it gets by name, until c
// fails.
type drained struct {
	mu     sync.Mutex
	counts map[string]int
	codes  map[string]int
	jobs   map[uint32]*sv2.NewExtendedMiningJob // by channel
	last   *sv2.NewExtendedMiningJob
	done   chan struct{}
}

func drain(c *transport.Conn) *drained {
	d := &drained{counts: map[string]int{}, codes: map[string]int{}, jobs: map[uint32]*sv2.NewExtendedMiningJob{}, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.counts[sv2.Info(m).Name]++
			switch m := m.(type) {
			case *sv2.SubmitSharesError:
				d.codes[m.ErrorCode]++
			case *sv2.NewExtendedMiningJob:
				d.jobs[m.ChannelID] = m
				d.last = m
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

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(attackWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // counters from another goroutine: nothing to wait on
	}
}

// One connection gets at most MaxChannelsPerConnection channels, even when
// it asks for many more in one burst; the refused ones cost nothing, and a
// device on another connection still opens its channel and gets jobs.
func TestAttackChannelBurstOneConnection(t *testing.T) {
	_, addr, tpSrv, tp, _ := attackStack(t, nil)
	before := heapNow()
	c := rawDevice(t, "127.0.0.1", addr)
	opened, refused := openChannels(t, c, 3000, 1)
	if len(opened) != DefaultMaxChannelsPerConnection {
		t.Fatalf("%d channels opened on one connection, want %d", len(opened), DefaultMaxChannelsPerConnection)
	}
	for _, code := range refused {
		if code != mining.CodeChannelCapacityExhausted {
			t.Fatalf("refused with %q", code)
		}
	}
	go drain(c)
	grown := int64(heapNow()) - int64(before)
	honest := connectDevice(t, addr, 1)
	var lat []time.Duration
	for range 20 {
		lat = append(lat, tipLatency(t, tpSrv, tp, honest))
	}
	t.Logf("%d opened, %d refused; heap +%d KB (%d B/channel); honest tip→SetNewPrevHash p50 %v p95 %v",
		len(opened), len(refused), grown/1024, grown/int64(len(opened)), pct(lat, 50), pct(lat, 95))
	if p := pct(lat, 95); p > time.Second {
		t.Errorf("honest device p95 %v beside a connection of %d channels", p, len(opened))
	}
}

// Invalid shares in floods: unknown channels, wrong job ids, every wrong
// extranonce size the codec takes (0..32), duplicates. Each is answered
// with its error, none reaches the pool, memory does not grow with them,
// and an honest device's tips are not delayed.
func TestAttackInvalidShareFlood(t *testing.T) {
	_, addr, tpSrv, tp, fp := attackStack(t, func(c *Config) { c.MinShareDifficulty = -1 })
	honest := connectDevice(t, addr, 1)
	c := rawDevice(t, "127.0.0.1", addr)
	opened, _ := openChannels(t, c, 4, 1)
	d := drain(c)
	waitFor(t, "the attacker's jobs", func() bool { return d.count("SetNewPrevHash") > 0 && d.count("NewExtendedMiningJob") > 0 })
	ch := opened[0]
	ntime := uint32(time.Now().Unix())
	sharesBefore := fp.shares.Load()
	heap0 := heapNow()

	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		seq := uint32(0)
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.mu.Lock()
			job := d.last // the tips change meanwhile
			d.mu.Unlock()
			for range 64 {
				seq++
				var m sv2.Message
				switch seq % 4 {
				case 0: // no such channel
					m = &sv2.SubmitSharesExtended{ChannelID: 0xdeadbeef, SequenceNumber: seq, JobID: job.JobID, NTime: ntime, Extranonce: make([]byte, 8)}
				case 1: // no such job
					m = &sv2.SubmitSharesExtended{ChannelID: ch.ChannelID, SequenceNumber: seq, JobID: job.JobID + 1000000 + seq, NTime: ntime, Version: job.Version, Extranonce: make([]byte, 8)}
				case 2: // a wrong extranonce size
					n := int(seq/4) % 33
					if n == int(ch.ExtranonceSize) {
						n = 0
					}
					m = &sv2.SubmitSharesExtended{ChannelID: ch.ChannelID, SequenceNumber: seq, JobID: job.JobID, NTime: ntime, Version: job.Version, Extranonce: make([]byte, n)}
				case 3: // a standard share on an extended channel
					m = &sv2.SubmitSharesStandard{ChannelID: ch.ChannelID, SequenceNumber: seq, JobID: job.JobID, NTime: ntime, Version: job.Version}
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
			sent.Add(64)
			time.Sleep(100 * time.Microsecond)
		}
	})
	var lat []time.Duration
	for range 30 {
		lat = append(lat, tipLatency(t, tpSrv, tp, honest))
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	n := sent.Load()
	waitFor(t, "an answer to every invalid share", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		total := 0
		for _, v := range d.codes {
			total += v
		}
		return int64(total) >= n
	})
	grown := int64(heapNow()) - int64(heap0)
	d.mu.Lock()
	t.Logf("%d invalid shares; answers %v; heap %+d KB; honest tip→SetNewPrevHash p50 %v p95 %v max %v",
		n, d.codes, grown/1024, pct(lat, 50), pct(lat, 95), pct(lat, 100))
	d.mu.Unlock()
	if got := fp.shares.Load() - sharesBefore; got != 0 {
		t.Errorf("%d invalid shares reached the pool", got)
	}
	if d.code(mining.CodeInvalidChannelID) == 0 || d.code(mining.CodeBadExtranonceSize) == 0 ||
		d.code(mining.CodeInvalidJobID)+d.code(mining.CodeStaleShare) == 0 {
		t.Errorf("answers %v: some kind of invalid share went unrefused", d.codes)
	}
	if p := pct(lat, 95); p > time.Second {
		t.Errorf("honest device p95 %v under an invalid-share flood", p)
	}
	if grown > 64<<20 {
		t.Errorf("heap grew %d MB under an invalid-share flood", grown>>20)
	}
	select {
	case <-d.done:
		t.Error("the JDC closed the connection of invalid shares (it answers them instead)")
	default:
	}
}

// The same valid share again and again: one reaches the pool, the rest
// are duplicates.
func TestAttackDuplicateShares(t *testing.T) {
	_, addr, _, _, fp := attackStack(t, func(c *Config) { c.MinShareDifficulty = -1 })
	c := rawDevice(t, "127.0.0.1", addr)
	opened, _ := openChannels(t, c, 1, 1)
	d := drain(c)
	waitFor(t, "the attacker's job", func() bool { return d.count("SetNewPrevHash") > 0 && d.count("NewExtendedMiningJob") > 0 })
	d.mu.Lock()
	var job *sv2.NewExtendedMiningJob
	for _, j := range d.jobs {
		job = j
	}
	d.mu.Unlock()
	ch := opened[0]
	before := fp.shares.Load()
	const n = 5000
	m := &sv2.SubmitSharesExtended{ChannelID: ch.ChannelID, JobID: job.JobID, Nonce: 7, NTime: uint32(time.Now().Unix()), Version: job.Version, Extranonce: make([]byte, ch.ExtranonceSize)}
	for i := range n {
		m.SequenceNumber = uint32(i)
		if err := c.BufferMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the duplicates refused", func() bool { return d.code(mining.CodeDuplicateShare) >= n-1 })
	time.Sleep(200 * time.Millisecond) // any share on its way up
	got := fp.shares.Load() - before
	t.Logf("%d copies of one share: %d to the pool, %d refused as duplicates", n, got, d.code(mining.CodeDuplicateShare))
	if got != 1 {
		t.Errorf("%d copies of one share reached the pool, want 1", got)
	}
}

// Valid distinct shares past MaxSharesPerTip on one channel: the channel
// takes 4,096 per tip, refuses the rest, and every accepted one reaches the
// pool (whose target takes any hash), none dropped.
func TestAttackValidShareFloodCappedPerTip(t *testing.T) {
	j, addr, tpSrv, tp, fp := attackStack(t, func(c *Config) { c.MinShareDifficulty = -1 })
	honest := connectDevice(t, addr, 1)
	c := rawDevice(t, "127.0.0.1", addr)
	opened, _ := openChannels(t, c, 1, 1)
	d := drain(c)
	waitFor(t, "the attacker's job", func() bool { return d.count("SetNewPrevHash") > 0 && d.count("NewExtendedMiningJob") > 0 })
	d.mu.Lock()
	var job *sv2.NewExtendedMiningJob
	for _, jb := range d.jobs {
		job = jb
	}
	d.mu.Unlock()
	ch := opened[0]
	before := fp.shares.Load()
	const n = 6000
	ntime := uint32(time.Now().Unix())
	start := time.Now()
	for i := range n {
		if err := c.BufferMessage(&sv2.SubmitSharesExtended{ChannelID: ch.ChannelID, SequenceNumber: uint32(i), JobID: job.JobID, Nonce: uint32(i),
			NTime: ntime, Version: job.Version, Extranonce: make([]byte, ch.ExtranonceSize)}); err != nil {
			t.Fatal(err)
		}
		if i%256 == 255 {
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shares past the cap refused", func() bool { return d.code(mining.CodeTooManyShares) >= n-mining.DefaultMaxSharesPerTip })
	waitFor(t, "the accepted shares at the pool", func() bool { return fp.shares.Load()-before >= mining.DefaultMaxSharesPerTip })
	elapsed := time.Since(start)
	lat := tipLatency(t, tpSrv, tp, honest)
	up := fp.shares.Load() - before
	t.Logf("%d valid shares in %v: %d to the pool, %d too-many-shares, other refusals %v; stats %+v; honest tip latency after %v",
		n, elapsed, up, d.code(mining.CodeTooManyShares), d.codes, j.Stats(), lat)
	if up != mining.DefaultMaxSharesPerTip {
		t.Errorf("%d shares reached the pool, want %d", up, mining.DefaultMaxSharesPerTip)
	}
}

// A device with many channels that stops reading while 1,000 new tips
// come: an honest device gets each tip promptly and the JDC's heap stays
// bounded. Extended channels share one group job a tip;
// standard channels get a job each.
func TestAttackDeafDevice(t *testing.T) {
	for _, standard := range []bool{false, true} {
		name := "extended"
		if standard {
			name = "standard"
		}
		t.Run(name, func(t *testing.T) { deafDevice(t, standard) })
	}
}

func deafDevice(t *testing.T, standard bool) {
	j, addr, tpSrv, tp, _ := attackStack(t, nil)
	honest := connectDevice(t, addr, 1)
	heap0 := heapNow()
	deaf := rawDevice(t, "127.0.0.1", addr)
	if standard {
		for i := range DefaultMaxChannelsPerConnection {
			deaf.BufferMessage(&sv2.OpenStandardMiningChannel{RequestID: uint32(i + 1), UserIdentity: "deaf", NominalHashRate: 1e6, MaxTarget: maxTarget})
		}
		deaf.Flush()
		time.Sleep(100 * time.Millisecond)
	} else {
		openChannels(t, deaf, DefaultMaxChannelsPerConnection, 1)
	}
	// From now on the deaf device reads nothing.
	var lat []time.Duration
	var peak uint64
	cutAt := -1
	start := time.Now()
	for i := range 1000 {
		lat = append(lat, tipLatency(t, tpSrv, tp, honest))
		if i%50 == 0 {
			peak = max(peak, heapNow())
		}
		j.dev.mu.Lock()
		n := len(j.dev.byConn)
		j.dev.mu.Unlock()
		if n == 1 { // only the honest device's left
			cutAt = i + 1
			break
		}
	}
	peak = max(peak, heapNow())
	t.Logf("deaf device with %d channels cut off after %d tips (%v); heap peak +%d MB; honest tip→SetNewPrevHash p50 %v p95 %v max %v",
		DefaultMaxChannelsPerConnection, cutAt, time.Since(start).Round(time.Millisecond), (int64(peak)-int64(heap0))>>20, pct(lat, 50), pct(lat, 95), pct(lat, 100))
	// Not asserted: the deaf device is not cut off within these tips (its
	// few hundred bytes a tip fit the loopback socket buffers).
	if p := pct(lat, 95); p > time.Second {
		t.Errorf("honest device p95 %v beside a deaf device", p)
	}
	if grown := int64(peak) - int64(heap0); grown > 512<<20 {
		t.Errorf("heap grew %d MB for one deaf device", grown>>20)
	}
}

// Devices connect, open channels, send a share and disconnect, in a loop,
// while tips change: the JDC forgets each (no connection left in its map,
// extranonce indexes back), its heap returns, and an honest device keeps
// getting its tips.
func TestAttackChurnWhileTipsChange(t *testing.T) {
	j, addr, tpSrv, tp, _ := attackStack(t, nil)
	honest := connectDevice(t, addr, 1)
	heap0 := heapNow()
	stop := make(chan struct{})
	var cycles atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := dialRaw("127.0.0.1", addr)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				for i := range 16 {
					c.BufferMessage(&sv2.OpenExtendedMiningChannel{RequestID: uint32(i + 1), UserIdentity: "churn", NominalHashRate: 1e6, MaxTarget: maxTarget, MinExtranonceSize: 8})
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
	var lat []time.Duration
	for range 40 {
		lat = append(lat, tipLatency(t, tpSrv, tp, honest))
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	waitFor(t, "the churned devices forgotten", func() bool {
		j.dev.mu.Lock()
		defer j.dev.mu.Unlock()
		return len(j.dev.byConn) == 1
	})
	// Every extranonce index is free again: one connection can still take its 1,024.
	last := rawDevice(t, "127.0.0.1", addr)
	opened, refused := openChannels(t, last, DefaultMaxChannelsPerConnection, 1)
	grown := int64(heapNow()) - int64(heap0)
	t.Logf("%d connect/open 16/disconnect cycles over 40 tips; heap %+d KB after; honest tip→SetNewPrevHash p50 %v p95 %v max %v",
		cycles.Load(), grown/1024, pct(lat, 50), pct(lat, 95), pct(lat, 100))
	if len(opened) != DefaultMaxChannelsPerConnection {
		t.Errorf("after churn, %d of %d channels opened (%v)", len(opened), DefaultMaxChannelsPerConnection, refused[:min(3, len(refused))])
	}
	if p := pct(lat, 95); p > time.Second {
		t.Errorf("honest device p95 %v under churn", p)
	}
	if cycles.Load() < 50 {
		t.Errorf("only %d churn cycles", cycles.Load())
	}
}

// One source address may hold at most the service's per-source share of
// connections; an honest device from another address still connects and
// gets its tips.
func TestAttackConnectionFloodOneSource(t *testing.T) {
	_, addr, tpSrv, tp, _ := attackStack(t, nil)
	var conns []*transport.Conn
	refusedAt := -1
	for i := range service.DefaultMaxConnectionsPerSource + 20 {
		c, err := dialRaw("127.0.0.3", addr)
		if err != nil {
			refusedAt = i
			break
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if refusedAt != service.DefaultMaxConnectionsPerSource {
		t.Fatalf("connection %d from one source refused, want %d", refusedAt, service.DefaultMaxConnectionsPerSource)
	}
	honest := connectDevice(t, addr, 1) // from 127.0.0.1
	var lat []time.Duration
	for range 10 {
		lat = append(lat, tipLatency(t, tpSrv, tp, honest))
	}
	t.Logf("%d connections from one source, the next refused; honest p50 %v max %v", len(conns), pct(lat, 50), pct(lat, 100))
}
