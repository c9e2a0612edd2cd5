package vardiff

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// poisson draws from a Poisson distribution: Knuth's method for small means, a normal approximation above.
func poisson(rng *rand.Rand, mean float64) int {
	if mean > 50 {
		return max(0, int(math.Round(mean+rng.NormFloat64()*math.Sqrt(mean))))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

const (
	hashrate = 1e14 // H/s of the simulated miner
	wanted   = 10.0 // shares per minute
)

// simulate runs rounds one-minute rounds of a miner against the controller and
// returns the share rate expected at the final target and the observed rate of the last 20 rounds.
func simulate(t *testing.T, start, maxTarget sv2.U256, seed uint64, rounds int) (expected, observed float64) {
	t.Helper()
	now := time.Unix(0, 0)
	c, err := New(Config{SharesPerMinute: wanted}, start, maxTarget, now)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	lastShares := 0
	t.Logf("%5s %14s %8s", "round", "rate at target", "shares")
	for r := 1; r <= rounds; r++ {
		cur := c.Target()
		if target.Less(maxTarget, cur) {
			t.Fatalf("round %d: target above max_target", r)
		}
		n := poisson(rng, target.SharesPerMinute(cur, hashrate))
		for range n {
			c.OnShare()
		}
		if r > rounds-20 {
			lastShares += n
		}
		now = now.Add(time.Minute)
		c.Update(now)
		if r <= 12 || r%10 == 0 {
			t.Logf("%5d %14.3f %8d", r, target.SharesPerMinute(cur, hashrate), n)
		}
	}
	final := c.Target()
	return target.SharesPerMinute(final, hashrate), float64(lastShares) / 20
}

func TestConvergence(t *testing.T) {
	ideal, err := target.FromHashrate(hashrate, wanted)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		factor float64
	}{
		{"1000x too easy", 1000},
		{"1000x too hard", 1.0 / 1000},
	} {
		for seed := uint64(1); seed <= 10; seed++ {
			t.Run(tc.name, func(t *testing.T) {
				start := target.FromFloat(target.Float(&ideal) * tc.factor)
				expected, observed := simulate(t, start, target.Max(), seed, 80)
				t.Logf("%s, seed %d: final expected rate %.2f/min, observed over the last 20 min %.2f/min (want %v ±20%%)",
					tc.name, seed, expected, observed, wanted)
				for _, v := range []float64{expected, observed} {
					if math.Abs(v/wanted-1) > 0.2 {
						t.Fatalf("rate %.2f/min is not within 20%% of %v", v, wanted)
					}
				}
			})
		}
	}
}

func TestNeverAboveMaxTarget(t *testing.T) {
	ideal, _ := target.FromHashrate(hashrate, wanted)
	maxTarget := target.FromFloat(target.Float(&ideal) / 10) // the device wants 10x harder than vardiff would choose
	start := target.FromFloat(target.Float(&ideal) / 1000)
	simulate(t, start, maxTarget, 1, 40) // fails inside if the target ever exceeds maxTarget
	c, _ := New(Config{SharesPerMinute: wanted}, target.Max(), maxTarget, time.Time{})
	if c.Target() != maxTarget {
		t.Fatal("initial target not clamped to max_target")
	}
	lower := target.FromFloat(target.Float(&maxTarget) / 2)
	if got, changed := c.SetMaxTarget(lower); !changed || got != lower {
		t.Fatal("lowering max_target did not lower the target")
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []sv2.U256 {
		now := time.Unix(0, 0)
		c, _ := New(Config{SharesPerMinute: 6}, target.Diff1(), target.Max(), now)
		var out []sv2.U256
		for i := range 50 {
			for range i % 7 * 5 {
				c.OnShare()
			}
			now = now.Add(37 * time.Second)
			if t, ok := c.Update(now); ok {
				out = append(out, t)
			}
		}
		return out
	}
	a, b := run(), run()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d decisions", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("decision %d differs", i)
		}
	}
}

func TestConfigError(t *testing.T) {
	if _, err := New(Config{}, target.Max(), target.Max(), time.Time{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v", err)
	}
}

// Shares of a job sent before a SetTarget carry its easier target; they
// count for what they are worth at the current target, so a burst of them
// does not push the target too hard.
func TestSharesAtAnEasierTargetCountLess(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	cur, _ := target.FromDifficulty(4)
	easier, _ := target.FromDifficulty(1) // 4× easier than cur
	cfg := Config{SharesPerMinute: 6}
	whole, err := New(cfg, cur, target.Max(), start)
	if err != nil {
		t.Fatal(err)
	}
	weighted, _ := New(cfg, cur, target.Max(), start)
	for range 24 { // 24 shares a minute at the easier target: 6 a minute at the current one
		whole.OnShare()
		weighted.OnShareAt(easier)
	}
	if _, changed := weighted.Update(start.Add(time.Minute)); changed {
		t.Errorf("shares worth exactly the wanted rate changed the target")
	}
	if next, changed := whole.Update(start.Add(time.Minute)); !changed || !target.Less(next, cur) {
		t.Errorf("24 whole shares a minute for a wanted 6 should make the target harder")
	}
}
