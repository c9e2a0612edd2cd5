package pool

import (
	"context"
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// CloseChannel goes both ways: the pool can close a miner's channel, and a
// connection cannot open more channels than the limit.
func TestPoolClosesChannelsAndCapsThem(t *testing.T) {
	p := startPool(t, func(c *Config) { c.MaxChannelsPerConnection = 2 })
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	a := m.openStandard(t, "gina", 1)
	m.openStandard(t, "gina", 1)

	m.nextReq++
	m.send(t, &sv2.OpenStandardMiningChannel{RequestID: m.nextReq, UserIdentity: "gina", NominalHashRate: 1, MaxTarget: target.Max()})
	if e := expect[*sv2.OpenMiningChannelError](t, m); e.ErrorCode != mining.CodeChannelCapacityExhausted || e.RequestID != m.nextReq {
		t.Errorf("third channel: %+v", e)
	}

	client := p.server.Clients()[0].ID
	if err := p.CloseChannel(context.Background(), client, a, "maintenance"); err != nil {
		t.Fatal(err)
	}
	if c := expect[*sv2.CloseChannel](t, m); c.ChannelID != a || c.ReasonCode != "maintenance" {
		t.Errorf("CloseChannel %+v", c)
	}
	if len(p.Stats().Channels) != 1 {
		t.Errorf("%d channels accounted after closing one of two", len(p.Stats().Channels))
	}
	if err := p.CloseChannel(context.Background(), client, a, "again"); err == nil {
		t.Error("closing a closed channel succeeded")
	}
	// With one channel closed, there is room for another.
	m.openStandard(t, "gina", 1)
}
