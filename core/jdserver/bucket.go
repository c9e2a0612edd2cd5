package jdserver

import "time"

// bucket is a token bucket: burst requests at once, rate per second after.
type bucket struct {
	tokens float64
	at     time.Time
}

// take reports whether one more request fits at now, and counts it if so.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.at.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d*rate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
