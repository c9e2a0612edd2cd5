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
	MaxInterval     time.Duration // a window this long is closed even without a change [10m]
	MinShares       int           // shares a window needs for a fine adjustment [30]
	Tolerance       float64       // relative rate error tolerated once MinShares are in [0.1]
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
		c.MaxInterval = max(10*time.Minute, c.MinInterval)
	}
	if c.MinShares <= 0 {
		c.MinShares = 30
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
	cfg         Config
	target      sv2.U256
	maxTarget   sv2.U256
	windowStart time.Time
	shares      int     // shares in the window
	work        float64 // the same shares, each weighted by its target against the current one
}

// New returns a controller starting at initial, never easier than maxTarget
// (the client's max_target), with its first window starting at now.
func New(cfg Config, initial, maxTarget sv2.U256, now time.Time) (*Controller, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, maxTarget: maxTarget, windowStart: now}
	c.target = c.clamp(initial)
	return c, nil
}

// Target is the current target.
func (c *Controller) Target() sv2.U256 { return c.target }

// SetMaxTarget lowers or raises the easiest allowed target (UpdateChannel's
// maximum_target) and reports the new target if the current one had to move.
func (c *Controller) SetMaxTarget(maxTarget sv2.U256) (sv2.U256, bool) {
	c.maxTarget = maxTarget
	t := c.clamp(c.target)
	changed := t != c.target
	c.target = t
	return t, changed
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
	cur, at := target.Float(&c.target), target.Float(&t)
	if cur <= 0 || at <= 0 {
		c.work++
		return
	}
	c.work += cur / at
}

// Update closes the window if enough time or shares have passed and returns
// the new target when it changed (the caller sends SetTarget).
func (c *Controller) Update(now time.Time) (sv2.U256, bool) {
	elapsed := now.Sub(c.windowStart)
	if elapsed < c.cfg.MinInterval {
		return c.target, false
	}
	minutes := elapsed.Minutes()
	rate := c.work / minutes
	ratio := rate / c.cfg.SharesPerMinute // > 1: too many shares, make it harder
	var factor float64                    // multiplies the target
	switch {
	case c.shares == 0:
		// No share at all: the expected count was below one, so the target is
		// at least this many times too hard.
		factor = max(2, c.cfg.SharesPerMinute*minutes)
	case ratio > 3 || ratio < 1.0/3:
		factor = 1 / ratio // far off: even a few shares show it
	case c.shares >= c.cfg.MinShares && math.Abs(ratio-1) > max(c.cfg.Tolerance, 2/math.Sqrt(float64(c.shares))):
		// The error must exceed both the tolerance and twice the estimate's
		// standard deviation (1/√n for a Poisson count), or vardiff would chase noise.
		// Near the goal the estimate is as noisy as the error it corrects:
		// go half way (geometrically) so noise is damped rather than followed.
		factor = 1 / math.Sqrt(ratio)
	case elapsed >= c.cfg.MaxInterval:
		c.reset(now)
		return c.target, false
	default:
		return c.target, false // keep collecting: a longer window is a better estimate
	}
	factor = min(max(factor, 1/c.cfg.MaxStep), c.cfg.MaxStep)
	next := c.clamp(scale(c.target, factor))
	c.reset(now)
	if next == c.target {
		return c.target, false
	}
	c.target = next
	return next, true
}

func (c *Controller) reset(now time.Time) {
	c.windowStart = now
	c.shares, c.work = 0, 0
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
