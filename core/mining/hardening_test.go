package mining

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/sv2"
)

// Regression tests for issue 12 (items 6, 7 and 10).

// templateAt is testTemplate with a coinbase_prefix starting with the BIP34
// push of height (testTemplate's is 10000).
func templateAt(id uint64, future bool, height int64) *sv2.NewTemplate {
	t := testTemplate(id, future, 2)
	t.CoinbasePrefix = []byte{0x03, byte(height), byte(height >> 8), byte(height >> 16)}
	return t
}

// A template for the next height that arrives without its prev hash (Bitcoin
// Core's provider sent SetNewPrevHash to another client only) builds on a tip
// this server does not know: it is refused with ErrWrongTip, makes no jobs,
// and the tip's jobs still take shares, until a prev hash names it.
func TestTemplateOnWrongTipRefused(t *testing.T) {
	for _, k := range channelKinds {
		t.Run(k.name, func(t *testing.T) {
			e := newEnv(t, k.flags, nil)
			e.deliverOut(e.srv.NewTemplate(templateAt(1, true, 10000)))
			e.prevHash(1, hardBits)
			ch := e.open(k.extended)
			tipJob := e.work(ch)

			out, err := e.srv.NewTemplate(templateAt(2, false, 10001))
			if !errors.Is(err, ErrWrongTip) {
				t.Fatalf("template for height 10001 on a tip at 10000: %v, want ErrWrongTip", err)
			}
			if len(out) != 0 {
				t.Fatalf("the refused template made jobs for %d connections", len(out))
			}
			if w := e.work(ch); w.JobID != tipJob.JobID {
				t.Fatalf("channel works on job %d, want the tip's job %d", w.JobID, tipJob.JobID)
			}
			if r := e.submit(newShare(tipJob).find(t, tipJob, anyHash)); r.Status != ShareAccepted {
				t.Fatalf("share on the tip's job: %v %q", r.Status, r.Code)
			}
			// A channel opened now gets the tip's job and nothing of the refused template.
			msgs, err := e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 3 {
				t.Fatalf("a new channel got %d messages, want Success, its job and SetNewPrevHash", len(msgs))
			}
			e.deliver(msgs)
			// A template of the tip's height is taken.
			out, err = e.srv.NewTemplate(templateAt(3, false, 10000))
			if err != nil || len(out) != 1 {
				t.Fatalf("template on the tip: %v, %d outbounds", err, len(out))
			}
			e.deliverOut(out, nil)

			// The prev hash naming the refused template activates it; the tip's
			// height is then 10001.
			p := prevHash(2, hardBits)
			p.PrevHash[1] = 0x22
			e.deliverOut(e.srv.SetNewPrevHash(p))
			w := e.work(ch)
			if w.PrevHash != p.PrevHash {
				t.Fatalf("channel works on prev hash %x, want %x", w.PrevHash, p.PrevHash)
			}
			if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
				t.Fatalf("share on the activated template: %v %q", r.Status, r.Code)
			}
			if _, err := e.srv.NewTemplate(templateAt(4, false, 10001)); err != nil {
				t.Fatalf("template for the new tip's height: %v", err)
			}
			if _, err := e.srv.NewTemplate(templateAt(5, false, 10000)); !errors.Is(err, ErrWrongTip) {
				t.Fatalf("template of the old tip's height: %v, want ErrWrongTip", err)
			}
		})
	}
}

// A channel declaring hashrate 0 with the easiest max_target gets the
// server's minimum difficulty, not a target every nonce meets, and no update
// makes it easier.
func TestMinShareDifficulty(t *testing.T) {
	minTarget, err := target.FromDifficulty(DefaultMinShareDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	defaults := func(c *ServerConfig) { c.MinShareDifficulty = 0 }
	t.Run("open", func(t *testing.T) {
		e, ch := setup(t, FlagRequiresStandardJobs, false, hardBits, defaults)
		if got, _ := e.conn.Target(ch); got != minTarget {
			t.Fatalf("target %x, want the minimum difficulty's %x", got, minTarget)
		}
		w := e.work(ch)
		if w.Target != minTarget {
			t.Fatalf("the miner was sent target %x, want %x", w.Target, minTarget)
		}
		accepted := 0
		const nonces = 4096
		for n := range uint32(nonces) {
			s := newShare(w)
			s.nonce = n
			r := e.submit(s)
			switch {
			case r.Status == ShareAccepted:
				accepted++
			case r.Code != CodeDifficultyTooLow:
				t.Fatalf("nonce %d: %v %q", n, r.Status, r.Code)
			}
		}
		// About one nonce in 256 meets the minimum difficulty.
		if accepted == 0 || accepted > nonces/64 {
			t.Fatalf("%d of %d nonces accepted, want about %d", accepted, nonces, nonces/256)
		}
	})
	t.Run("UpdateChannel and SetTarget", func(t *testing.T) {
		e, ch := setup(t, 0, true, hardBits, defaults)
		st, err := e.conn.UpdateChannel(&sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 0, MaximumTarget: target.Max()})
		if err != nil || st != nil {
			t.Fatalf("UpdateChannel to hashrate 0: %+v %v, want no change", st, err)
		}
		if got, _ := e.conn.Target(ch); got != minTarget {
			t.Fatalf("target %x after UpdateChannel, want %x", got, minTarget)
		}
		if st, err := e.conn.SetTarget(ch, target.Max()); err != nil || st.MaximumTarget != minTarget {
			t.Fatalf("SetTarget(Max): %+v %v, want %x", st, err, minTarget)
		}
		// A max_target harder than the minimum is the client's to set.
		hard, _ := target.FromDifficulty(1)
		st, err = e.conn.UpdateChannel(&sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 0, MaximumTarget: hard})
		if err != nil || st == nil || st.MaximumTarget != hard {
			t.Fatalf("UpdateChannel to a harder max_target: %+v %v, want %x", st, err, hard)
		}
	})
	t.Run("vardiff", func(t *testing.T) {
		now := testNow
		e, ch := setup(t, 0, true, hardBits, func(c *ServerConfig) {
			defaults(c)
			c.Vardiff = &vardiff.Config{SharesPerMinute: 6}
			c.Now = func() time.Time { return now }
		})
		st, err := e.conn.UpdateChannel(&sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 1e15, MaximumTarget: target.Max()})
		if err != nil || st != nil {
			t.Fatalf("UpdateChannel with vardiff: %+v %v", st, err)
		}
		// No shares for hours: vardiff eases the target minute after minute,
		// never past the minimum difficulty.
		for range 200 {
			now = now.Add(time.Minute)
			e.conn.UpdateTargets()
			if got, _ := e.conn.Target(ch); target.Less(minTarget, got) {
				t.Fatalf("vardiff set %x, easier than the minimum %x", got, minTarget)
			}
		}
		if got, _ := e.conn.Target(ch); got != minTarget {
			t.Fatalf("after 200 idle minutes the target is %x, want the minimum %x", got, minTarget)
		}
	})
	t.Run("vardiff from a hard start", func(t *testing.T) {
		now := testNow
		e := newEnv(t, 0, func(c *ServerConfig) {
			defaults(c)
			c.Vardiff = &vardiff.Config{SharesPerMinute: 6}
			c.Now = func() time.Time { return now }
		})
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		msgs, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{NominalHashRate: 1e12, MaxTarget: target.Max(), MinExtranonceSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		ch := msgs[0].(*sv2.OpenExtendedMiningChannelSuccess).ChannelID
		for range 200 {
			now = now.Add(time.Minute)
			e.conn.UpdateTargets()
		}
		if got, _ := e.conn.Target(ch); got != minTarget {
			t.Fatalf("after 200 idle minutes the target is %x, want the minimum %x", got, minTarget)
		}
	})
	t.Run("config", func(t *testing.T) {
		for _, d := range []float64{math.NaN(), math.Inf(1)} {
			if _, err := NewServer(ServerConfig{Coinbase: testServer(t, nil).cfg.Coinbase, Extranonce: testAllocator(t), MinShareDifficulty: d}); !errors.Is(err, ErrConfig) {
				t.Errorf("MinShareDifficulty %v: %v, want ErrConfig", d, err)
			}
		}
		if s := testServer(t, func(c *ServerConfig) { c.MinShareDifficulty = -1 }); s.minTarget != target.Max() {
			t.Errorf("a negative minimum gives %x, want no bound", s.minTarget)
		}
	})
}

// A channel remembers at most MaxSharesPerTip accepted shares per tip: past
// that it refuses new shares with too-many-shares, still refuses duplicates of
// those it credited, still takes a block, and starts afresh at the next tip.
func TestDuplicateSetBounded(t *testing.T) {
	const limit = 8
	for _, k := range channelKinds {
		t.Run(k.name, func(t *testing.T) {
			e, ch := setup(t, k.flags, k.extended, regtestBits, func(c *ServerConfig) { c.MaxSharesPerTip = limit })
			w := e.work(ch)
			network, _ := target.FromCompact(regtestBits)
			// next returns the next share from nonce on whose hash is a block or not.
			nonce := uint32(0)
			next := func(block bool) share {
				t.Helper()
				for ; ; nonce++ {
					s := newShare(w)
					s.nonce = nonce
					h := w.Header(s.extranonce, s.nonce, s.ntime, s.version)
					if hash := h.Hash(); target.Meets(&hash, &network) == block {
						nonce++
						return s
					}
				}
			}
			var first share
			for i := range limit {
				s := next(false)
				if i == 0 {
					first = s
				}
				if r := e.submit(s); r.Status != ShareAccepted {
					t.Fatalf("share %d: %v %q", i, r.Status, r.Code)
				}
			}
			if r := e.submit(next(false)); r.Code != CodeTooManyShares {
				t.Fatalf("share past the limit: %v %q, want %s", r.Status, r.Code, CodeTooManyShares)
			}
			if r := e.submit(first); r.Code != CodeDuplicateShare {
				t.Fatalf("a credited share again: %v %q, want %s", r.Status, r.Code, CodeDuplicateShare)
			}
			if r := e.submit(next(true)); r.Status != ShareBlockFound {
				t.Fatalf("a block past the limit: %v %q", r.Status, r.Code)
			}
			if n := len(e.conn.channels[ch].seen); n > limit+1 {
				t.Fatalf("%d hashes remembered, want at most %d and the block", n, limit)
			}
			e.template(9, true, 3)
			e.prevHash(9, hardBits)
			w = e.work(ch)
			if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
				t.Fatalf("share on the next tip: %v %q", r.Status, r.Code)
			}
		})
	}
}

// Opening and closing channels on one tip does not use prefixes up: a channel
// that accepted no share gives its prefix back at once (nothing was credited
// with it), and a prefix retired by SetExtranoncePrefix is free at the next
// prev hash. A prefix a share was credited with is never handed out again on
// the same tip.
func TestChurnDoesNotExhaustPrefixes(t *testing.T) {
	small := func(t *testing.T) func(*ServerConfig) {
		alloc, err := extranonce.New(extranonce.Config{IndexSize: 1, RollableSize: 4}) // 256 prefixes
		if err != nil {
			t.Fatal(err)
		}
		return func(c *ServerConfig) { c.Extranonce = alloc }
	}
	t.Run("closed without a share", func(t *testing.T) {
		e := newEnv(t, 0, small(t))
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		credited := e.open(true)
		w := e.work(credited)
		if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("share: %v %q", r.Status, r.Code)
		}
		creditedPrefix := string(w.ExtranoncePrefix)
		if err := e.conn.CloseChannel(credited); err != nil {
			t.Fatal(err)
		}
		for i := range 10 * 256 {
			ch := e.open(i%2 == 0)
			if string(e.work(ch).ExtranoncePrefix) == creditedPrefix {
				t.Fatalf("churn %d: the credited prefix %x was handed out on the same tip", i, creditedPrefix)
			}
			if err := e.conn.CloseChannel(ch); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.srv.cfg.Extranonce.InUse(); got != 1 {
			t.Fatalf("%d prefixes in use after the churn, want the credited one", got)
		}
		e.template(2, true, 1)
		e.prevHash(2, hardBits)
		if got := e.srv.cfg.Extranonce.InUse(); got != 0 {
			t.Fatalf("%d prefixes in use after the next prev hash, want 0", got)
		}
	})
	t.Run("retired prefix", func(t *testing.T) {
		e := newEnv(t, 0, small(t))
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		ch := e.open(true)
		w := e.work(ch)
		if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("share: %v %q", r.Status, r.Code)
		}
		if _, err := e.conn.SetExtranoncePrefix(ch); err != nil {
			t.Fatal(err)
		}
		for range 254 {
			e.open(true)
		}
		var oe *OpenError
		if _, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()}); !errors.As(err, &oe) || oe.Code != CodeChannelCapacityExhausted {
			t.Fatalf("open with every prefix taken: %v", err)
		}
		e.template(2, true, 1)
		e.prevHash(2, hardBits)
		if _, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()}); err != nil {
			t.Fatalf("open after the prev hash that made the retired prefix's jobs stale: %v", err)
		}
	})
}

// A connection may open ChannelOpenBurst channels at once and then
// MaxChannelOpensPerSecond; past that its requests are refused with
// channel-open-rate-exceeded, and other connections are unaffected.
func TestChannelOpenRate(t *testing.T) {
	now := testNow
	clock := func(c *ServerConfig) { c.Now = func() time.Time { return now } }
	refused := func(t *testing.T, c *Conn) {
		t.Helper()
		_, err := c.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()})
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Code != CodeChannelOpenRateExceeded || !errors.Is(err, ErrOpenRate) {
			t.Fatalf("got %v, want %s", err, CodeChannelOpenRateExceeded)
		}
	}
	t.Run("configured", func(t *testing.T) {
		e := newEnv(t, 0, func(c *ServerConfig) {
			clock(c)
			c.MaxChannelOpensPerSecond, c.ChannelOpenBurst = 10, 5
		})
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		for range 5 {
			e.open(false)
		}
		refused(t, e.conn)
		other, err := e.srv.NewConn(0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()}); err != nil {
			t.Fatalf("another connection: %v", err)
		}
		now = now.Add(100 * time.Millisecond)
		e.open(false)
		refused(t, e.conn)
		now = now.Add(time.Hour) // the bucket refills to the burst, no more
		for range 5 {
			e.open(false)
		}
		refused(t, e.conn)
	})
	t.Run("default", func(t *testing.T) {
		now = testNow
		e := newEnv(t, 0, clock)
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		for range 4096 { // a proxy opening its channels on connect
			if err := e.conn.CloseChannel(e.open(false)); err != nil {
				t.Fatal(err)
			}
		}
		refused(t, e.conn)
		now = now.Add(time.Second)
		for range 100 {
			e.open(false)
		}
		refused(t, e.conn)
	})
	t.Run("no limit", func(t *testing.T) {
		e := newEnv(t, 0, func(c *ServerConfig) { clock(c); c.MaxChannelOpensPerSecond = -1 })
		for range 10_000 {
			if _, err := e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
