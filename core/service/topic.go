package service

import (
	"fmt"

	"github.com/stratumgo/stratum/core/sv2"
)

// Topic names one kind of payload that handlers exchange through Notify,
// NotifyClient and NotifyAll, with its Go type: the sender builds the event
// from a T and the receiver takes the T back with Of, so a payload of the
// wrong type fails to compile rather than surprising a handler at run time.
// A Topic is an identity: make each once (a package-level variable is fine,
// it never changes) and share it between sender and receiver.
type Topic[T any] struct{ name string }

// NewTopic returns a new topic; name is for logs.
func NewTopic[T any](name string) *Topic[T] { return &Topic[T]{name: name} }

// topicPayload is what a Topic's events carry.
type topicPayload[T any] struct {
	topic *Topic[T]
	value T
}

// Notify is the event handing v to the HandleEvent of p's handler.
func (t *Topic[T]) Notify(p sv2.Protocol, v T) Notify {
	return Notify{Protocol: p, Payload: topicPayload[T]{t, v}}
}

// NotifyClient is the event handing v to HandleClientEvent for client c.
func (t *Topic[T]) NotifyClient(c ClientID, v T) NotifyClient {
	return NotifyClient{Client: c, Payload: topicPayload[T]{t, v}}
}

// NotifyAll is the event handing v to HandleClientEvent for every client of p.
func (t *Topic[T]) NotifyAll(p sv2.Protocol, v T) NotifyAll {
	return NotifyAll{Protocol: p, Payload: topicPayload[T]{t, v}}
}

// Of returns the value of a payload made by this topic.
func (t *Topic[T]) Of(payload any) (T, bool) {
	if tp, ok := payload.(topicPayload[T]); ok && tp.topic == t {
		return tp.value, true
	}
	var zero T
	return zero, false
}

// String returns the topic's name.
func (t *Topic[T]) String() string { return t.name }

// PayloadName names a payload for logs and errors: its topic, or its type.
func PayloadName(payload any) string {
	if n, ok := payload.(interface{ topicName() string }); ok {
		return n.topicName()
	}
	return typeName(payload)
}

func (p topicPayload[T]) topicName() string { return "topic " + p.topic.name }

func typeName(v any) string { return fmt.Sprintf("%T", v) }
