package service

import (
	"errors"
	"sync"
)

// inbox is what is pushed to one client's goroutine: a bounded FIFO that
// costs nothing while empty (a channel buffer of the same bound would be
// allocated whole for every connection) and hands the actor everything
// waiting at once.
type inbox struct {
	ready chan struct{} // holds a token while items wait

	mu     sync.Mutex
	items  []work
	spare  []work // the last batch's buffer, reused
	max    int
	closed bool // the client is closing: nothing more is taken
}

// Why a push failed.
var (
	errInboxFull   = errors.New("inbox full")
	errInboxClosed = errors.New("inbox closed")
)

func newInbox(max int) *inbox { return &inbox{ready: make(chan struct{}, 1), max: max} }

// push appends w, unless the inbox is closed or holds max items already.
func (b *inbox) push(w work) error {
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return errInboxClosed
	case len(b.items) >= b.max:
		b.mu.Unlock()
		return errInboxFull
	}
	b.items = append(b.items, w)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return nil
}

// close takes what is waiting, as take does, and refuses every later push.
func (b *inbox) close() []work {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	batch := b.items
	b.items = nil
	return batch
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
