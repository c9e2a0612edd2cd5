package cpuminer

import (
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// A lost pool is retried after 100ms, doubling up to 5s, and from 100ms again
// once a connection succeeded.
func TestReconnectBackoff(t *testing.T) {
	m := &Miner{cfg: Config{Channels: 1, ChannelKind: Standard}, log: slog.New(slog.DiscardHandler)}
	h := newHandler(m)
	delays := func(n int) []time.Duration {
		var got []time.Duration
		for range n {
			events, err := h.Disconnected(t.Context(), errors.New("gone"))
			if err != nil || len(events) != 1 {
				t.Fatalf("Disconnected = %v, %v; want one Connect", events, err)
			}
			c, ok := events[0].(service.Connect)
			if !ok || c.Protocol != sv2.ProtocolMining {
				t.Fatalf("Disconnected event = %#v, want a mining Connect", events[0])
			}
			got = append(got, c.Delay)
		}
		return got
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}
	if got := delays(len(want)); !slices.Equal(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	if _, err := h.Connected(t.Context(), service.ServerInfo{}); err != nil {
		t.Fatal(err)
	}
	if got := delays(2); !slices.Equal(got, want[:2]) {
		t.Fatalf("delays after a connection %v, want %v", got, want[:2])
	}
}
