package service

import (
	"sync"
	"sync/atomic"
)

// SiblingIO ties a ServerService and a ClientService in one program, so each
// can hand the other events: the pool's template-distribution client passes
// templates to its mining server, a proxy's mining server passes shares to its
// mining client. NewServerServiceWithSibling makes one;
// NewClientServiceFromSibling takes it. Delivery is ordered and bounded: a
// full queue or a stopped sibling is an error for the sender, never a
// silent drop.
type SiblingIO struct {
	toServer *queue[ServerEvent]
	toClient *queue[ClientEvent]
	claimed  atomic.Bool // one client service per SiblingIO
}

func newSiblingIO(serverQueue, clientQueue int) *SiblingIO {
	return &SiblingIO{toServer: newQueue[ServerEvent](serverQueue), toClient: newQueue[ClientEvent](clientQueue)}
}

// queue is a bounded, closable event queue with one receiver.
type queue[E any] struct {
	ch        chan E
	done      chan struct{} // closed when the receiver stops for good
	closeOnce sync.Once
}

func newQueue[E any](n int) *queue[E] {
	return &queue[E]{ch: make(chan E, n), done: make(chan struct{})}
}

// send enqueues e without blocking.
func (q *queue[E]) send(e E) error {
	select {
	case <-q.done:
		return ErrSiblingClosed
	default:
	}
	select {
	case q.ch <- e:
		return nil
	default:
		return ErrSiblingFull
	}
}

// close marks the receiver gone; later sends fail with ErrSiblingClosed.
func (q *queue[E]) close() { q.closeOnce.Do(func() { close(q.done) }) }
