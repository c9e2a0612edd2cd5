package node

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// RPCStats counts a Client's calls since it was made.
type RPCStats struct {
	Requests uint64   // calls made (a batch counts once)
	Errors   uint64   // calls that failed: transport errors, HTTP errors, RPC error replies, malformed replies — but not calls whose context the caller cancelled
	Timed    uint64   // calls with a latency measured (all but the long polls of GetBlockTemplateLongPoll)
	Seconds  float64  // sum of the measured latencies
	Buckets  []uint64 // cumulative counts of timed calls that took at most LatencyBounds()[i]
}

// numBuckets is len(LatencyBounds()).
const numBuckets = 13

// latencyBounds returns the bucket bounds as an array value, so that no
// package variable holds them for anyone to change.
func latencyBounds() [numBuckets]float64 {
	return [numBuckets]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// LatencyBounds returns the upper bounds, in seconds and ascending, of
// RPCStats.Buckets. Each call returns a fresh copy.
func LatencyBounds() []float64 {
	b := latencyBounds()
	return b[:]
}

// RPCStats returns the counts so far. It is safe to call while calls run
// and never delays them; a snapshot taken meanwhile may miss calls in
// flight, but its Buckets never exceed its Timed, and its Timed and Errors
// never exceed its Requests.
func (c *Client) RPCStats() RPCStats {
	return c.stats.snapshot()
}

// rpcCounters are a Client's RPCStats, as atomics so that counting never
// takes a lock on the call path.
type rpcCounters struct {
	requests atomic.Uint64
	errors   atomic.Uint64
	timed    atomic.Uint64
	nanos    atomic.Uint64             // integer nanoseconds add exactly, with no compare-and-swap loop
	buckets  [numBuckets]atomic.Uint64 // per bucket, not cumulative, so that a call adds to one only
}

// begin counts a call about to be made and returns when it began.
func (s *rpcCounters) begin() time.Time {
	s.requests.Add(1)
	return time.Now()
}

// done counts the end of an untimed call that begin counted: err is its
// result, parent the caller's context.
func (s *rpcCounters) done(parent context.Context, err error) {
	if err != nil && !cancelledByCaller(parent, err) {
		s.errors.Add(1)
	}
}

// timedDone is done for a timed call that began at start.
func (s *rpcCounters) timedDone(parent context.Context, err error, start time.Time) {
	s.observe(time.Since(start))
	s.done(parent, err)
}

// observe counts one timed call that took d. Timed is added before the
// bucket, and snapshot reads the buckets before Timed, so that a snapshot
// never holds more bucketed calls than timed ones.
func (s *rpcCounters) observe(d time.Duration) {
	d = max(d, 0)
	s.nanos.Add(uint64(d))
	s.timed.Add(1)
	secs := d.Seconds()
	for i, bound := range latencyBounds() {
		if secs <= bound {
			s.buckets[i].Add(1)
			return
		}
	}
	// Slower than the last bound: only Timed counts it, as Prometheus's
	// +Inf bucket does.
}

// snapshot reads the counters in the reverse of the order a call adds to
// them (Requests first, then Timed and a bucket, Errors last but after
// Requests), so that whatever a call added that it reads, it also reads the
// call's earlier additions: the snapshot is consistent while calls run.
func (s *rpcCounters) snapshot() RPCStats {
	out := RPCStats{Buckets: make([]uint64, numBuckets)}
	var sum uint64
	for i := range s.buckets {
		sum += s.buckets[i].Load()
		out.Buckets[i] = sum
	}
	out.Seconds = float64(s.nanos.Load()) / float64(time.Second)
	out.Timed = s.timed.Load()
	out.Errors = s.errors.Load()
	out.Requests = s.requests.Load()
	return out
}

// cancelledByCaller reports whether err is the caller's own cancellation of
// parent, which says nothing about the node. A deadline that passed is not
// one: a node that does not answer in time is failing, whoever set the
// deadline.
func cancelledByCaller(parent context.Context, err error) bool {
	return errors.Is(parent.Err(), context.Canceled) && errors.Is(err, context.Canceled)
}

// badReply counts err, a malformed reply found when decoding the result of
// a call that itself succeeded, as that call's failure, and returns it. A
// nil err counts nothing.
func (c *Client) badReply(err error) error {
	if err != nil {
		c.stats.errors.Add(1)
	}
	return err
}
