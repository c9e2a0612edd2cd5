package service

import "sync"

// inbox is what is pushed to one client's goroutine: a bounded FIFO that
// costs nothing while empty (a channel buffer of the same bound would be
// allocated whole for every connection) and hands the actor everything
// waiting at once.
type inbox struct {
	ready chan struct{} // holds a token while items wait

	mu    sync.Mutex
	items []work
	spare []work // the last batch's buffer, reused
	max   int
}

func newInbox(max int) *inbox { return &inbox{ready: make(chan struct{}, 1), max: max} }

// push appends w; false means the inbox holds max items already.
func (b *inbox) push(w work) bool {
	b.mu.Lock()
	if len(b.items) >= b.max {
		b.mu.Unlock()
		return false
	}
	b.items = append(b.items, w)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return true
}

// take returns everything waiting, oldest first. The slice is the inbox's
// until the next take.
func (b *inbox) take() []work {
	b.mu.Lock()
	defer b.mu.Unlock()
	batch := b.items
	clear(b.spare)
	b.items, b.spare = b.spare[:0], batch
	return batch
}
