package pool

import (
	"context"
	"errors"
	"testing"
	"time"

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

func TestCloseChannelChecksReason(t *testing.T) {
	p := startPool(t, nil)
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "hank", 1)
	client := p.server.Clients()[0].ID
	for _, bad := range []string{string(make([]byte, 256)), "tab\there"} {
		if err := p.CloseChannel(context.Background(), client, ch, bad); err == nil {
			t.Errorf("reason %q accepted", bad)
		}
	}
	if len(p.Stats().Channels) != 1 {
		t.Error("a refused CloseChannel changed the pool's state")
	}
}

func TestPoolTagMustFit(t *testing.T) {
	cfg := Config{Network: "regtest", Plain: true, TemplateProvider: TemplateProvider{Address: "127.0.0.1:1"},
		Payouts: []Payout{{Script: []byte{0x51}, Weight: 1}}, Tag: string(make([]byte, maxTag+1))}
	if _, err := New(cfg); !errors.Is(err, ErrConfig) {
		t.Errorf("a tag too long for the scriptSig: %v", err)
	}
	cfg.Tag = string(make([]byte, maxTag))
	if _, err := New(cfg); err != nil {
		t.Errorf("the longest tag that fits: %v", err)
	}
}

// A miner closing its group channel gets the acknowledgement of the shares
// its member channels had pending, as it does when closing one channel.
func TestClosingTheGroupAcknowledgesMembers(t *testing.T) {
	p := startPool(t, nil) // shares are acknowledged ten at a time
	m := dialMiner(t, p, 0)
	m.nextReq++
	m.send(t, &sv2.OpenStandardMiningChannel{RequestID: m.nextReq, UserIdentity: "hal", NominalHashRate: 1, MaxTarget: target.Max()})
	ok := expect[*sv2.OpenStandardMiningChannelSuccess](t, m)
	if ok.GroupChannelID == 0 || ok.GroupChannelID == ok.ChannelID {
		t.Fatalf("channel %d in group %d, want a group channel", ok.ChannelID, ok.GroupChannelID)
	}
	for {
		if _, has := m.work.Work(ok.ChannelID); has {
			break
		}
		m.next(t)
	}
	w := m.currentWork(t, ok.ChannelID)
	nonces := grind(w, 0, 1<<16)
	if len(nonces) == 0 {
		t.Fatal("no share in 65536 nonces")
	}
	m.send(t, share(w, 7, nonces[0]))
	m.send(t, &sv2.CloseChannel{ChannelID: ok.GroupChannelID, ReasonCode: "done"})
	for {
		switch msg := m.next(t).(type) {
		case *sv2.SubmitSharesSuccess:
			if msg.ChannelID != ok.ChannelID || msg.LastSequenceNumber != 7 || msg.NewSubmitsAcceptedCount != 1 {
				t.Errorf("acknowledgement %+v, want share 7 on channel %d", msg, ok.ChannelID)
			}
			if len(p.Stats().Channels) != 0 {
				t.Errorf("%d channels accounted after closing the group", len(p.Stats().Channels))
			}
			return
		case *sv2.SubmitSharesError:
			t.Fatalf("share refused: %+v", msg)
		}
	}
}

// Issue 12, item 4: channels are capped pool-wide, not only per connection;
// a closed channel makes room again.
func TestPoolWideChannelCap(t *testing.T) {
	p := startPool(t, func(c *Config) { c.MaxChannels = 3 })
	a := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	b := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	first := a.openStandard(t, "kim", 1)
	a.openStandard(t, "kim", 1)
	b.openStandard(t, "lee", 1)
	b.nextReq++
	b.send(t, &sv2.OpenStandardMiningChannel{RequestID: b.nextReq, UserIdentity: "lee", NominalHashRate: 1, MaxTarget: target.Max()})
	if e := expect[*sv2.OpenMiningChannelError](t, b); e.ErrorCode != mining.CodeChannelCapacityExhausted {
		t.Fatalf("a fourth channel in the pool: %+v", e)
	}
	a.send(t, &sv2.CloseChannel{ChannelID: first, ReasonCode: "done"})
	// The close is handled on a's goroutine; b retries until it has room.
	for range 100 {
		b.nextReq++
		b.send(t, &sv2.OpenStandardMiningChannel{RequestID: b.nextReq, UserIdentity: "lee", NominalHashRate: 1, MaxTarget: target.Max()})
		switch m := b.next(t).(type) {
		case *sv2.OpenStandardMiningChannelSuccess:
			return
		case *sv2.OpenMiningChannelError:
			time.Sleep(time.Millisecond) // a's close has not run yet: nothing to wait on from here
		default:
			t.Fatalf("unexpected %s", sv2.Info(m).Name)
		}
	}
	t.Fatal("no room after a channel closed")
}
