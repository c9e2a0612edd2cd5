package monitor

import (
	"sync"
	"time"
)

// Point is one sample of the history behind the dashboard's chart.
type Point struct {
	T        time.Time `json:"t"`
	Hashrate float64   `json:"hashrate_hs"`
	Accepted uint64    `json:"accepted"` // shares accepted so far
	Rejected uint64    `json:"rejected"` // shares rejected so far
}

type historyReply struct {
	Interval float64 `json:"interval_seconds"`
	Points   []Point `json:"points"`
}

// history is a ring of the latest points.
type history struct {
	mu   sync.Mutex
	ring []Point
	next int
	full bool
}

func newHistory(n int) *history { return &history{ring: make([]Point, n)} }

func (h *history) add(p Point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = p
	h.next = (h.next + 1) % len(h.ring)
	h.full = h.full || h.next == 0
}

// points returns the history, oldest first.
func (h *history) points() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Point{}, h.ring[:h.next]...)
	}
	return append(append([]Point{}, h.ring[h.next:]...), h.ring[:h.next]...)
}
