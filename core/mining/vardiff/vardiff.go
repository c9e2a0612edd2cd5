// Package vardiff adjusts a channel's target so that it submits a configured
// number of shares per minute. It is deterministic: the decisions depend only
// on the share times and update times it is given.
package vardiff

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// ErrConfig reports an unusable configuration.
var ErrConfig = errors.New("vardiff: invalid configuration")

// Config tunes the controller; zero fields take the defaults in brackets.
type Config struct {
	SharesPerMinute float64       // wanted share rate (required, > 0)
	MinInterval     time.Duration // shortest window before any decision [1m]
	MaxInterval     time.Duration // a window this long is aged by half, so it follows a change of hashrate [20m]
	MinShares       int           // shares a window needs to move half way to its estimate [10]
	Tolerance       float64       // relative rate error never corrected [0.1]
	MaxStep         float64       // largest factor of one adjustment [16]
	// MinTarget is the hardest target vardiff sets (zero: no bound). The
	// client's max_target is the easiest; it is given to New.
	MinTarget sv2.U256
}

func (c *Config) defaults() error {
	if !(c.SharesPerMinute > 0) || math.IsInf(c.SharesPerMinute, 0) {
		return fmt.Errorf("%w: shares per minute %v", ErrConfig, c.SharesPerMinute)
	}
	if c.MinInterval <= 0 {
		c.MinInterval = time.Minute
	}
	if c.MaxInterval < c.MinInterval {
		c.MaxInterval = max(20*time.Minute, c.MinInterval)
	}
	if c.MinShares <= 0 {
		c.MinShares = 10
	}
	if !(c.Tolerance > 0) {
		c.Tolerance = 0.1
	}
	if !(c.MaxStep > 1) {
		c.MaxStep = 16
	}
	return nil
}

// Controller is one channel's vardiff state. It is not safe for concurrent
// use; the channel that owns it serializes access.
type Controller struct {
	cfg       Config
	target    sv2.U256
	maxTarget sv2.U256
	// The window: the shares since windowStart, each weighted by its job's
	// target against the current one, so that a window survives a change of
	// target. Its shares are a Poisson count only roughly (weights differ);
	// work²/work2 is their effective number.
	windowStart time.Time
	counted     time.Time // exposure is counted up to here
	shares      int       // shares in the window
	work        float64   // their weights: the window's shares at the current target
	work2       float64   // the sum of the squared weights
	// exposure is the window's expected count at the right target: the
	// minutes at each target the window has seen, each times
	// SharesPerMinute and that target against the current one. A window
	// without a share says how much easier the target must be only through it.
	exposure float64
}

// New returns a controller starting at initial, never easier than maxTarget
// (the client's max_target), with its first window starting at now.
func New(cfg Config, initial, maxTarget sv2.U256, now time.Time) (*Controller, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, maxTarget: maxTarget}
	c.target = c.clamp(initial)
	c.reset(now)
	return c, nil
}

// Target is the current target.
func (c *Controller) Target() sv2.U256 { return c.target }

// SetMaxTarget lowers or raises the easiest allowed target (UpdateChannel's
// maximum_target) and reports the new target if the current one had to move.
func (c *Controller) SetMaxTarget(maxTarget sv2.U256) (sv2.U256, bool) {
	c.maxTarget = maxTarget
	t := c.clamp(c.target)
	if t == c.target {
		return t, false
	}
	c.move(t)
	return t, true
}

// OnShare counts one accepted share at the current target.
func (c *Controller) OnShare() { c.OnShareAt(c.target) }

// OnShareAt counts a share found at target t. A share of a job sent before
// the last SetTarget carries that job's target (§5.3.21), and an easier
// target yields shares more often: counting it as a whole share at the
// current target would overstate the rate and overshoot. It counts as the
// fraction t's difficulty is of the current target's.
func (c *Controller) OnShareAt(t sv2.U256) {
	c.shares++
	w := 1.0
	if cur, at := target.Float(&c.target), target.Float(&t); cur > 0 && at > 0 {
		w = cur / at
	}
	c.work += w
	c.work2 += w * w
}

// confidence is the one-sided normal quantile of the rate's confidence
// bounds: the true rate is beyond a bound about 2 % of the time.
const confidence = 2

// halfSpread is how many standard deviations off the estimate of a window
// of MinShares or more must be for a half-way move: fewer would chase noise,
// more would leave a channel 30 % off for half an hour at 6 shares a minute.
const halfSpread = 1.5

// Update decides on the window if MinInterval has passed and returns the new
// target when it changed (the caller sends SetTarget).
//
// A minute at the right target holds about SharesPerMinute shares, too few to
// read at face value: at 6 a minute, one minute in 60 holds one share or
// none, a rate that looks six times too low. So the target moves only when
// the window's rate is off beyond its confidence bound, and at first only as
// far as that bound (a few shares move it a little, thousands all the way);
// with MinShares in the window it goes half way to the estimate if that is
// further and the estimate is off by more than Tolerance and halfSpread
// standard deviations. The window is kept across a move, re-expressed at the new target,
// so the next decisions build on it; after MaxInterval it is aged by half, so
// a change of hashrate is followed.
func (c *Controller) Update(now time.Time) (sv2.U256, bool) {
	elapsed := now.Sub(c.windowStart)
	if elapsed < c.cfg.MinInterval {
		return c.target, false
	}
	c.exposure += c.cfg.SharesPerMinute * now.Sub(c.counted).Minutes()
	c.counted = now
	goal := c.cfg.SharesPerMinute * elapsed.Minutes() // the window's work at the right target
	ratio := c.work / goal                            // > 1: too many shares, make it harder
	if elapsed >= c.cfg.MaxInterval {
		defer c.age(now, elapsed)
	}
	var step float64 // the log of the ratio the target is corrected by
	if c.shares == 0 {
		// No share: the rate is below the bound of an empty count.
		if c.exposure > 0 {
			step = min(0, math.Log(poissonUpper(0)/c.exposure))
		}
	} else if lo, hi := c.bounds(); lo > goal {
		step = math.Log(lo / goal)
	} else if hi < goal {
		step = math.Log(hi / goal)
	}
	if n := c.effective(); n >= float64(c.cfg.MinShares) {
		// Enough shares for an estimate: half way to it (geometrically) if
		// that goes further and it is off by more than the tolerance and
		// halfSpread times its own spread (1/√n); near the goal the estimate
		// is as noisy as the error it corrects, and half way damps the noise
		// rather than following it.
		if half := math.Log(ratio) / 2; math.Abs(half) > math.Abs(step) && 2*math.Abs(half) > max(math.Log1p(c.cfg.Tolerance), halfSpread/math.Sqrt(n)) {
			step = half
		}
	}
	if step == 0 {
		return c.target, false // keep collecting: a longer window is a better estimate
	}
	factor := min(max(math.Exp(-step), 1/c.cfg.MaxStep), c.cfg.MaxStep) // multiplies the target
	next := c.clamp(scale(c.target, factor))
	if next == c.target {
		return c.target, false
	}
	c.move(next)
	return next, true
}

// effective is the window's effective number of shares.
func (c *Controller) effective() float64 {
	if c.work <= 0 || c.work2 <= 0 {
		return 0
	}
	return c.work * c.work / c.work2
}

// bounds returns the confidence interval of the window's work: that of a
// Poisson count of its effective number of shares, in its mean weight.
func (c *Controller) bounds() (lo, hi float64) {
	if c.work <= 0 || c.work2 <= 0 {
		return 0, poissonUpper(0)
	}
	n, unit := c.work*c.work/c.work2, c.work2/c.work
	return poissonLower(n) * unit, poissonUpper(n) * unit
}

// poissonLower and poissonUpper are the confidence bounds of a Poisson mean
// given a count n (Wilson–Hilferty).
func poissonLower(n float64) float64 {
	if n <= 0 {
		return 0
	}
	return n * math.Pow(max(0, 1-1/(9*n)-confidence/(3*math.Sqrt(n))), 3)
}

func poissonUpper(n float64) float64 {
	m := n + 1
	return m * math.Pow(1-1/(9*m)+confidence/(3*math.Sqrt(m)), 3)
}

// move sets the target to t and re-expresses the window at it.
func (c *Controller) move(t sv2.U256) {
	if old, cur := target.Float(&c.target), target.Float(&t); old > 0 && cur > 0 {
		f := cur / old
		c.work *= f
		c.work2 *= f * f
		c.exposure /= f
	}
	c.target = t
}

// age halves the window's weight, as if it had started half as long ago.
func (c *Controller) age(now time.Time, elapsed time.Duration) {
	c.windowStart = now.Add(-elapsed / 2)
	c.shares /= 2
	c.work /= 2
	c.work2 /= 2
	c.exposure /= 2
}

func (c *Controller) reset(now time.Time) {
	c.windowStart, c.counted = now, now
	c.shares, c.work, c.work2, c.exposure = 0, 0, 0, 0
}

// clamp keeps t between MinTarget and maxTarget.
func (c *Controller) clamp(t sv2.U256) sv2.U256 {
	// The client's bound wins over ours: a target above max_target would be refused.
	if target.Less(t, c.cfg.MinTarget) {
		t = c.cfg.MinTarget
	}
	if target.Less(c.maxTarget, t) {
		t = c.maxTarget
	}
	return t
}

// scale multiplies t by f, saturating at the largest target.
func scale(t sv2.U256, f float64) sv2.U256 {
	return target.FromFloat(max(target.Float(&t)*f, 1))
}
