package pool

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/sv2"
)

// BenchmarkLoad runs 1000 standard channels over 100 Noise connections on
// loopback, every one submitting valid shares as fast as the pool
// acknowledges them, and reports accepted shares per second, the
// submit→acknowledgement latency of each share (the time from writing it to
// reading the SubmitShares.Success that covers it, so with batches of 10 a
// share also waits for the rest of its batch), and the heap in use at the end
// (pool and clients share the process). One op is one share.
//
//	go test ./apps/pool -run '^$' -bench Load -benchtime 1000000x -count 3
//
// The scrape=… cases serve monitoring too and scrape /metrics that often
// through the whole run (scrapes-run counts them), to show what a scrape does
// to the share path: compare their p99-µs with the same case without.
func BenchmarkLoad(b *testing.B) {
	for _, tt := range []struct {
		batch int
		rate  float64 // offered shares per second; 0: as many as the pool takes
	}{{10, 0}, {1, 0}, {10, 100_000}, {1, 100_000}} {
		name := fmt.Sprintf("batch=%d/rate=max", tt.batch)
		if tt.rate > 0 {
			name = fmt.Sprintf("batch=%d/rate=%g", tt.batch, tt.rate)
		}
		b.Run(name, func(b *testing.B) { benchmarkLoad(b, tt.batch, tt.rate, 0) })
	}
	for _, every := range []time.Duration{time.Second, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("batch=1/rate=100000/scrape=%s", every), func(b *testing.B) { benchmarkLoad(b, 1, 100_000, every) })
	}
}

const (
	loadConns    = 100
	loadChannels = 10 // per connection
	// loadWindow is how many unacknowledged batches a channel may have; it
	// keeps latency about the pool, not about queues in the test.
	loadWindow = 4
)

func benchmarkLoad(b *testing.B, batch int, rate float64, scrapeEvery time.Duration) {
	runLoad(b, loadCase{batch: batch, rate: rate, scrapeEvery: scrapeEvery})
}

// loadCase is one load of runLoad.
type loadCase struct {
	batch       int
	rate        float64       // offered shares per second; 0: as many as the pool takes
	scrapeEvery time.Duration // if set, monitoring is served and scraped that often
	// identity names channel ch of connection conn: "load.ch" if nil (10
	// users, each on every connection).
	identity func(conn, ch int) string
	// config adjusts the pool's configuration, after the load's own.
	config func(*Config)
	// measure, if set, is called as the timed run starts, and what it
	// returns as the run ends.
	measure func() (end func())
	// after runs once the metrics are reported, with the shares accepted.
	after func(p *testPool, accepted uint64)
}

func runLoad(b *testing.B, lc loadCase) {
	batch, rate, scrapeEvery := lc.batch, lc.rate, lc.scrapeEvery
	p := startPool(b, func(c *Config) {
		c.ShareBatchSize = batch
		c.VardiffInterval = time.Hour // the targets stay the easiest
		c.MinShareDifficulty = -1     // every nonce a share, on purpose
		c.Logger = nil
		if scrapeEvery > 0 {
			c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
		}
		if lc.config != nil {
			lc.config(c)
		}
	})
	identity := lc.identity
	if identity == nil {
		identity = func(_, ch int) string { return fmt.Sprintf("load.%d", ch) }
	}
	// Shares per channel: b.N in all, whole batches, at least one.
	perChannel := max(1, (b.N+loadConns*loadChannels*batch-1)/(loadConns*loadChannels*batch)) * batch
	conns := make([]*loadConn, loadConns)
	for i := range conns {
		conns[i] = newLoadConn(b, p, batch, perChannel, func(ch int) string { return identity(i, ch) })
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	scraping := make(chan struct{})
	var scrapes atomic.Int64
	var scraper sync.WaitGroup
	if scrapeEvery > 0 {
		base := monitorBase(b, p)
		scraper.Go(func() {
			t := time.NewTicker(scrapeEvery)
			defer t.Stop()
			for {
				select {
				case <-scraping:
					return
				case <-t.C:
					if err := scrape(base); err != nil {
						b.Error(err)
						return
					}
					scrapes.Add(1)
				}
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	var end func()
	if lc.measure != nil {
		end = lc.measure()
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*loadConns)
	for _, c := range conns {
		wg.Go(func() {
			if err := c.write(rate / loadConns); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if err := c.read(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if end != nil {
		end()
	}
	b.StopTimer()
	close(scraping)
	scraper.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	var h latencies
	var accepted uint64
	for _, c := range conns {
		h.add(&c.lat)
		accepted += c.accepted.Load()
	}
	if want := uint64(loadConns * loadChannels * perChannel); accepted != want {
		b.Fatalf("%d shares accepted, want %d", accepted, want)
	}
	b.ReportMetric(float64(accepted)/elapsed.Seconds(), "shares/s")
	b.ReportMetric(float64(h.quantile(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(h.quantile(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap-before-MB")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-after-MB")
	if scrapeEvery > 0 {
		b.ReportMetric(float64(scrapes.Load()), "scrapes-run")
	}
	if lc.after != nil {
		lc.after(p, accepted)
	}
}

// loadConn is one connection of the load: 10 channels, a writer that keeps
// each channel loadWindow batches ahead of its acknowledgements, and a reader
// that takes the acknowledgements.
type loadConn struct {
	r          *rawConn
	batch      int
	perChannel int
	channels   []*loadChannel
	credit     chan struct{} // the reader tells the writer a window opened
	stop       chan struct{} // closed when the reader returns
	msg        sv2.SubmitSharesStandard
	accepted   atomic.Uint64
	lat        latencies // written by the reader only
	turn       int       // the channel fill serves first, by the writer only
}

type loadChannel struct {
	work  *mining.Work
	next  int64   // shares sent, written by the writer only
	sent  []int64 // UnixNano of each share's submission, by sequence number - 1
	acked atomic.Int64
}

func newLoadConn(b *testing.B, p *testPool, batch, perChannel int, identity func(ch int) string) *loadConn {
	r := dialRaw(b, p)
	r.setup(b, mining.FlagRequiresStandardJobs)
	c := &loadConn{r: r, batch: batch, perChannel: perChannel, credit: make(chan struct{}, 1), stop: make(chan struct{})}
	client := mining.NewClient()
	for i := range loadChannels {
		r.write(b, &sv2.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: identity(i), NominalHashRate: 0.01, MaxTarget: target.Max()})
		ok, is := r.read(b).(*sv2.OpenStandardMiningChannelSuccess)
		if !is {
			b.Fatal("channel not opened")
		}
		for _, m := range []sv2.Message{ok, r.read(b), r.read(b)} { // and NewMiningJob, SetNewPrevHash
			if err := client.Handle(m); err != nil {
				b.Fatalf("%s: %v", sv2.Info(m).Name, err)
			}
		}
		w, has := client.Work(ok.ChannelID)
		if !has {
			b.Fatalf("no job on channel %d", ok.ChannelID)
		}
		c.channels = append(c.channels, &loadChannel{work: w, sent: make([]int64, perChannel)})
	}
	return c
}

// write submits every channel's shares within the window: as fast as
// possible, or paced at perSecond shares per second.
func (c *loadConn) write(perSecond float64) error {
	if perSecond == 0 {
		for {
			n, done, err := c.fill(math.MaxInt)
			switch {
			case err != nil || done:
				return err
			case n == 0:
				select {
				case <-c.credit:
				case <-c.stop:
					return errors.New("reader stopped")
				}
			}
		}
	}
	const tick = 5 * time.Millisecond
	perTick := perSecond * tick.Seconds()
	t := time.NewTicker(tick)
	defer t.Stop()
	budget := 0.0
	for {
		select {
		case <-t.C:
		case <-c.stop:
			if _, done, _ := c.fill(0); done {
				return nil
			}
			return errors.New("reader stopped")
		}
		budget = min(budget+perTick, 20*perTick) // catch up on late ticks, within bounds
		n, done, err := c.fill(int(budget))
		if err != nil || done {
			return err
		}
		budget -= float64(n)
	}
}

// fill sends up to limit shares, one per channel in turn, as far as the
// windows allow; done means every share has been sent. Each call starts
// after the channel the last one served, so that a paced load's few shares
// per tick go round all the channels.
func (c *loadConn) fill(limit int) (n int, done bool, err error) {
	window := int64(loadWindow * c.batch)
	for {
		wrote, left := false, false
		start := c.turn
		for j := range c.channels {
			i := (start + j) % len(c.channels)
			ch := c.channels[i]
			if ch.next == int64(c.perChannel) {
				continue
			}
			left = true
			if n == limit || ch.next-ch.acked.Load() >= window {
				continue
			}
			seq := uint32(ch.next + 1)
			c.msg = sv2.SubmitSharesStandard{ChannelID: ch.work.ChannelID, SequenceNumber: seq, JobID: ch.work.JobID,
				Nonce: seq, NTime: ch.work.MinNTime, Version: ch.work.Version}
			ch.sent[ch.next] = time.Now().UnixNano()
			if err := c.r.conn.BufferMessage(&c.msg); err != nil {
				return n, false, err
			}
			ch.next++
			n++
			wrote = true
			c.turn = (i + 1) % len(c.channels)
		}
		if !left {
			return n, true, c.r.conn.Flush()
		}
		if !wrote {
			return n, false, c.r.conn.Flush()
		}
	}
}

// read takes acknowledgements until every share is acknowledged.
func (c *loadConn) read() error {
	defer close(c.stop)
	byID := map[uint32]*loadChannel{}
	for _, ch := range c.channels {
		byID[ch.work.ChannelID] = ch
	}
	want := uint64(len(c.channels) * c.perChannel)
	for c.accepted.Load() < want {
		m, err := c.r.readMessage()
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *sv2.SubmitSharesSuccess:
			now := time.Now().UnixNano()
			ch := byID[m.ChannelID]
			last := int64(m.LastSequenceNumber)
			for seq := last - int64(m.NewSubmitsAcceptedCount) + 1; seq <= last; seq++ {
				c.lat.record(time.Duration(now - ch.sent[seq-1]))
			}
			ch.acked.Store(last)
			c.accepted.Add(uint64(m.NewSubmitsAcceptedCount))
			select {
			case c.credit <- struct{}{}:
			default:
			}
		case *sv2.SubmitSharesError:
			return fmt.Errorf("share %d on channel %d rejected: %s", m.SequenceNumber, m.ChannelID, m.ErrorCode)
		}
	}
	return nil
}

// latencies is a log-linear histogram: 16 buckets per power of two, so
// quantiles come within about 6 %.
type latencies [64 * 16]uint64

func latencyBucket(d time.Duration) int {
	n := uint64(max(d, 1))
	e := bits.Len64(n) - 1 // n is in [2^e, 2^(e+1))
	var m uint64
	if e >= 4 {
		m = (n >> (e - 4)) & 15
	} else {
		m = (n << (4 - e)) & 15
	}
	return e*16 + int(m)
}

func (h *latencies) record(d time.Duration) { h[latencyBucket(d)]++ }

func (h *latencies) add(o *latencies) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencies) quantile(q float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += n
	}
	rank := uint64(q * float64(total))
	var seen uint64
	for i, n := range h {
		seen += n
		if seen > rank {
			e, m := i/16, uint64(i%16)
			return time.Duration((16 + m + 1) << e >> 4)
		}
	}
	return 0
}
