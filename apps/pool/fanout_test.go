package pool

import (
	"context"
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// A standard-jobs connection at the channel limit (a proxy's, say) survives
// a new tip: the two messages per channel that it makes are one unit of the
// connection's send queue, not 2 × 4096 entries of a 1024-entry queue.
func TestConnectionAtChannelLimitSurvivesNewTip(t *testing.T) {
	const channels = DefaultMaxChannelsPerConnection
	p := startPool(t, nil)
	r := dialRaw(t, p)
	r.setup(t, mining.FlagRequiresStandardJobs)
	go func() {
		for i := range channels {
			if r.conn.BufferMessage(&sv2.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: "proxy", NominalHashRate: 1, MaxTarget: target.Max()}) != nil {
				return
			}
		}
		r.conn.Flush()
	}()
	opened := map[uint32]bool{}
	for len(opened) < channels {
		switch m := r.read(t).(type) {
		case *sv2.OpenStandardMiningChannelSuccess:
			opened[m.ChannelID] = true
		case *sv2.OpenMiningChannelError:
			t.Fatalf("channel refused: %+v", m)
		}
	}
	// Each channel's first job and prev hash may still be on their way.
	p.tp.mu.Lock()
	p.tp.height++
	p.tp.mu.Unlock()
	future := p.tp.template(true)
	ctx := context.Background()
	if err := p.tp.svc.HandleEvent(ctx, service.SendToAll{Protocol: sv2.ProtocolTemplateDistribution, Message: future}); err != nil {
		t.Fatal(err)
	}
	if err := p.tp.svc.HandleEvent(ctx, service.SendToAll{Protocol: sv2.ProtocolTemplateDistribution, Message: p.tp.prevHash(future.TemplateID)}); err != nil {
		t.Fatal(err)
	}
	tipped := map[uint32]bool{}
	for len(tipped) < channels {
		msg, err := r.readMessage()
		if err != nil {
			t.Fatalf("after %d of %d channels got the new tip: %v", len(tipped), channels, err)
		}
		if m, ok := msg.(*sv2.SetNewPrevHash); ok && m.PrevHash == p.tp.prevHash(future.TemplateID).PrevHash {
			tipped[m.ChannelID] = true
		}
	}
}
