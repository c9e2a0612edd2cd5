package vardiff

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/target"
)

// TestUnluckyFirstMinute replays a channel opened at the right target whose
// first 80 s hold a single share (a count of one or none in a minute happens
// once in 60 minutes at 6 shares a minute), then shares at the asked rate
// (Poisson arrivals of a fixed seed), with the pool's 30 s retarget ticks.
// The controller used to read that single share as a rate 8 times too low
// and make the target 8 times easier at the first retarget. Now no retarget
// moves it more than 1.5 times from the right one (the first one moves it as
// far as a single share in 80 s certainly shows, about 1.4 times), and from
// minute 10 it is within 25 %.
func TestUnluckyFirstMinute(t *testing.T) {
	const perMinute = 6
	start := time.Unix(1_700_000_000, 0)
	right, err := target.FromDifficulty(1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{SharesPerMinute: perMinute}, right, target.Max(), start)
	if err != nil {
		t.Fatal(err)
	}
	// Share times in seconds from the open: one at 52 s, then from 80 s on
	// a Poisson process at the asked rate of the channel's current target.
	rng := rand.New(rand.NewPCG(1, 2))
	shares := []float64{52}
	for at := 80.0; at < 40*60; {
		at += rng.ExpFloat64() * 60 / perMinute
		shares = append(shares, at)
	}
	next := 0
	for tick := 20.0; tick < 40*60; tick += 30 {
		// The miner's shares come at the asked rate of the right target; at
		// another target they come as often as it is easier, and the pool
		// weighs each by its target: replaying the right target's times with
		// each share weighted as a share of the right target keeps the
		// arrival times fixed whatever the controller does.
		for ; next < len(shares) && shares[next] < tick; next++ {
			c.OnShareAt(right)
		}
		cur, changed := c.Update(start.Add(time.Duration(tick * float64(time.Second))))
		d := target.Float(&right) / target.Float(&cur) // difficulty against the right one
		if changed {
			t.Logf("%4.0f s: %d shares so far, difficulty %.2f of the right one", tick, next, d)
		}
		limit := 1.5
		if tick >= 10*60 {
			limit = 1.25
		}
		if math.Abs(math.Log(d)) > math.Log(limit) {
			t.Fatalf("%.0f s (%d shares so far): retargeted to %.2f times the right difficulty", tick, next, d)
		}
	}
}
