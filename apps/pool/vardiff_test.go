package pool

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// TestVardiff: a miner 1000 times faster than the hashrate it declares gets
// SetTargets that bring its share rate to within 25 % of the configured one
// within minutes. Time is simulated: each step the miner hashes as many
// nonces as its real hashrate allows in that step and submits every share it
// finds; the pool's clock is advanced by hand, vardiff ticks every 30 s and
// the template provider sends a new template (so a new job, at the channel's
// current target) every 30 s, templateAfter after each tick. A SetTarget does
// not change the target of the active job (§5.3.21), so the miner's rate
// follows it only with the next job; core mining's vardiff counts such shares
// for what they are worth at the new target, so it does not overshoot.
func TestVardiff(t *testing.T) {
	for _, tt := range []struct {
		name                    string
		templateAfter, settleBy time.Duration
	}{
		{"new job with each SetTarget", 0, 5 * time.Minute},
		{"new job 15s after each SetTarget", 15 * time.Second, 5 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) { testVardiff(t, tt.templateAfter, tt.settleBy) })
	}
}

// testVardiff runs the simulation; from settleBy on, the share rate must be
// within 25 % of the configured one.
func testVardiff(t *testing.T, templateAfter, settleBy time.Duration) {
	const (
		perMinute = DefaultSharesPerMinute
		declared  = 0.2             // H/s in OpenStandardMiningChannel: 2 hashes a share
		hashrate  = 1000 * declared // H/s the miner really hashes
		step      = 5 * time.Second
		tickEvery = 30 * time.Second
		duration  = 20 * time.Minute
	)
	clock := &fakeClock{now: testEpoch}
	p := startPool(t, func(c *Config) {
		c.Now = clock.Now
		c.SharesPerMinute = perMinute
		c.ShareBatchSize = 1 // an ack per share, so the test knows when the pool has counted them
		c.VardiffInterval = time.Hour
	})
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "alice.rig1", declared)
	client := p.server.Clients()[0].ID

	var (
		seq, nonce    uint32
		w             = m.currentWork(t, ch)
		lastTarget    = p.target(t, client, ch)
		minuteShares  int
		settledShares int
		setTargets    int
		table         strings.Builder
	)
	fmt.Fprintf(&table, "%8s %14s %18s %18s\n", "minute", "hashes/share", "shares/min seen", "shares/min at job")
	for elapsed := step; elapsed <= duration; elapsed += step {
		// Hash for one step and submit what was found.
		found := grind(w, nonce, uint32(hashrate*step.Seconds()))
		nonce += uint32(hashrate * step.Seconds())
		for _, n := range found {
			seq++
			m.send(t, share(w, seq, n))
		}
		for acked := uint32(len(found)); acked > 0; {
			ack := expect[*sv2.SubmitSharesSuccess](t, m)
			acked -= ack.NewSubmitsAcceptedCount
		}
		minuteShares += len(found)
		if elapsed > settleBy {
			settledShares += len(found)
		}
		clock.Advance(step)

		if elapsed%tickEvery == 0 {
			p.vardiff(t)
			if tg := p.target(t, client, ch); tg != lastTarget {
				st := expect[*sv2.SetTarget](t, m)
				if st.ChannelID != ch || st.MaximumTarget != tg {
					t.Fatalf("SetTarget %+v, pool holds %x", st, tg)
				}
				lastTarget = tg
				setTargets++
			}
		}
		if elapsed%tickEvery == templateAfter {
			p.tp.sendTemplate(t)
			job := expect[*sv2.NewMiningJob](t, m)
			if job.ChannelID != ch || !job.MinNTime.Valid {
				t.Fatalf("NewMiningJob %+v, want an active job for channel %d", job, ch)
			}
			w, nonce = m.currentWork(t, ch), 0
		}
		if elapsed%time.Minute == 0 {
			fmt.Fprintf(&table, "%8d %14.0f %18d %18.2f\n", int(elapsed.Minutes()), 0x1p256/target.Float(&w.Target),
				minuteShares, target.SharesPerMinute(w.Target, hashrate))
			minuteShares = 0
			if elapsed >= settleBy {
				if rate := target.SharesPerMinute(w.Target, hashrate); math.Abs(rate/perMinute-1) > 0.25 {
					t.Errorf("minute %d: the job's target gives %.2f shares/min, want %v ± 25 %%", int(elapsed.Minutes()), rate, perMinute)
				}
			}
		}
	}
	t.Logf("miner hashing %v H/s, declared %v H/s, %d SetTargets:\n%s", hashrate, declared, setTargets, table.String())
	seen := float64(settledShares) / (duration - settleBy).Minutes()
	if math.Abs(seen/perMinute-1) > 0.25 {
		t.Errorf("after minute %d the miner found %.2f shares/min, want %v ± 25 %%", int(settleBy.Minutes()), seen, perMinute)
	}
}
