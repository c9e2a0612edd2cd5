package service

import (
	"testing"

	"github.com/stratumgo/stratum/core/sv2"
)

func TestTopic(t *testing.T) {
	templates := NewTopic[*sv2.NewTemplate]("templates")
	other := NewTopic[*sv2.NewTemplate]("other")
	m := &sv2.NewTemplate{TemplateID: 7}
	ev := templates.Notify(sv2.ProtocolMining, m)
	if got, ok := templates.Of(ev.Payload); !ok || got != m {
		t.Fatalf("Of(own payload) = %v, %v", got, ok)
	}
	if _, ok := other.Of(ev.Payload); ok {
		t.Error("another topic of the same type took the payload")
	}
	if _, ok := templates.Of(m); ok {
		t.Error("a bare value passed for a topic's payload")
	}
	if n := templates.NotifyAll(sv2.ProtocolMining, m); n.Protocol != sv2.ProtocolMining {
		t.Errorf("NotifyAll %+v", n)
	}
	if got, ok := templates.Of(templates.NotifyClient(3, m).Payload); !ok || got != m {
		t.Error("NotifyClient payload")
	}
	if PayloadName(ev.Payload) != "topic templates" || PayloadName(m) != "*sv2.NewTemplate" {
		t.Errorf("names %q %q", PayloadName(ev.Payload), PayloadName(m))
	}
}
