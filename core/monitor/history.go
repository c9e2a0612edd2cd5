package monitor

import (
	"net"
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

// limitListener accepts at most n connections at once; the rest wait in
// the kernel's backlog until one closes.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
