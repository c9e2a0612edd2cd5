// Package backoff computes the delays between attempts to reach something
// that went away: a pool, a template provider, a node, a listener that ran
// out of file descriptors. A [Backoff] doubles its delay from Base up to Cap
// on every failed attempt, spreads each delay by an optional Jitter so that
// many clients of one server do not retry in lockstep, and starts over when
// Reset after a success:
//
//	retry := backoff.Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second}
//	for {
//		if err := connect(ctx); err == nil {
//			retry.Reset()
//			...
//		}
//		delay := retry.Next() // 100ms, 200ms, 400ms, ... 5s, 5s, ...
//		...
//	}
package backoff

import (
	"math/rand/v2"
	"time"
)

// Defaults for zero Backoff fields.
const (
	DefaultBase = 100 * time.Millisecond
	DefaultCap  = 10 * time.Second
)

// Backoff is an exponential backoff: the delays Next returns are Base,
// 2·Base, 4·Base, ..., then Cap for as long as attempts keep failing, each
// spread by Jitter. Set the exported fields before the first Next (the zero
// value takes the documented defaults); the rest is its state.
//
// A Backoff is not safe for concurrent use: it belongs to the one goroutine
// that retries, as a value in its struct or on its stack. Copying one copies
// its progress.
type Backoff struct {
	// Base is the first delay (DefaultBase if zero or negative).
	Base time.Duration
	// Cap is the longest delay before jitter (DefaultCap if zero or
	// negative; Base if smaller than Base).
	Cap time.Duration
	// Jitter, from 0 to 1, spreads each delay d uniformly over
	// [d·(1−Jitter), d·(1+Jitter)], so a jittered delay may exceed Cap by up
	// to Cap·Jitter. 0 (the default) gives the exact delays; values outside
	// [0, 1] are clamped.
	Jitter float64

	attempts int           // delays handed out since the last Reset
	cur      time.Duration // the last delay before jitter
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	base, limit := b.limits()
	switch {
	case b.attempts == 0:
		b.cur = base
	case b.cur >= limit/2: // doubling would pass the cap (or overflow)
		b.cur = limit
	default:
		b.cur *= 2
	}
	b.cur = min(max(b.cur, base), limit)
	b.attempts++
	return b.jitter(b.cur)
}

// Reset starts the sequence over at Base; call it after a success.
func (b *Backoff) Reset() {
	b.attempts = 0
	b.cur = 0
}

// Attempts returns how many delays Next has returned since the last Reset:
// the number of consecutive failures, for logs.
func (b *Backoff) Attempts() int { return b.attempts }

func (b *Backoff) limits() (base, limit time.Duration) {
	base, limit = b.Base, b.Cap
	if base <= 0 {
		base = DefaultBase
	}
	if limit <= 0 {
		limit = DefaultCap
	}
	return base, max(limit, base)
}

func (b *Backoff) jitter(d time.Duration) time.Duration {
	j := min(max(b.Jitter, 0), 1)
	spread := time.Duration(float64(d) * j)
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}
