package proxy

import (
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// Shares that meet the device's target but not the upstream channel's are
// acknowledged to the device, ten to a SubmitShares.Success by default, and
// never reach the pool; one that meets the upstream's target goes up (the
// first share the pool ever sees) and the pool's acknowledgement is
// counted.
func TestSharesBelowTheUpstreamTargetStayHere(t *testing.T) {
	pool := startMiniPool(t, func(c *mining.ServerConfig) { c.ShareBatchSize = 1 })
	pool.newTip(t, 1, 9)
	p, addr := startProxy(t, nil, pool.addr)
	up, _ := upstreamOf(t, pool)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	w := d.work(t, ch.ChannelID)
	if !target.Less(up.Target, w.Target) {
		t.Fatalf("device target %x is not easier than the upstream's %x", w.Target, up.Target)
	}
	var nonce uint32
	for range 10 {
		n, _ := grindFrom(w, nil, nonce, w.Target, &up.Target)
		d.submit(t, w, n, nil)
		nonce = n + 1
	}
	ack := next[*sv2.SubmitSharesSuccess](t, d)
	if ack.ChannelID != ch.ChannelID || ack.NewSubmitsAcceptedCount != 10 || ack.LastSequenceNumber != d.seq {
		t.Fatalf("device ack %+v, want 10 shares up to sequence %d on channel %d", ack, d.seq, ch.ChannelID)
	}
	if s := p.Stats(); s.SharesUp != 0 {
		t.Fatalf("stats %+v: shares went up", s)
	}
	n, hash := grindFrom(w, nil, nonce, up.Target, nil)
	d.submit(t, w, n, nil)
	pool.accepted(t, hash) // the first share the pool sees: none of the ten went before it
	waitFor(t, "the pool's acknowledgement", func() bool { return p.Stats().UpAccepted == 1 })
	if s := p.Stats(); s.SharesUp != 1 || s.UpRefused != 0 {
		t.Fatalf("stats %+v, want one share up", s)
	}
	pool.noShare(t)
}

// A SetTarget from the pool changes which device shares go up: after a
// harder one, a share that met the old target stays here and one that
// meets the new target is the next the pool sees.
func TestSetTargetFromThePool(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	p, addr := startProxy(t, nil, pool.addr)
	up, _ := upstreamOf(t, pool)
	id, pc := pool.client(t)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	w := d.work(t, ch.ChannelID)

	harder, err := target.FromDifficulty(target.Difficulty(up.Target) * 8)
	if err != nil {
		t.Fatal(err)
	}
	// Before: a share of the old target goes up.
	n, hash := grind(w, nil, up.Target, &harder)
	d.submit(t, w, n, nil)
	pool.accepted(t, hash)

	st, err := pc.SetTarget(up.ChannelID, harder)
	if err != nil {
		t.Fatal(err)
	}
	pool.act(t, id, st)
	waitFor(t, "the proxy to take the pool's target", func() bool {
		l := p.up.lanes[0].share.Load()
		return l != nil && *l == harder
	})
	n, _ = grindFrom(w, nil, n+1, up.Target, &harder)
	d.submit(t, w, n, nil)
	n, hash = grindFrom(w, nil, n+1, harder, nil)
	d.submit(t, w, n, nil)
	pool.accepted(t, hash)
	if s := p.Stats(); s.SharesUp != 2 {
		t.Fatalf("stats %+v, want two shares up", s)
	}
	pool.noShare(t)
}

// The upstream channel declares the devices' total nominal hashrate once
// it changes: UpdateChannel with 3e6 for channels of 1e6 and 2e6, 2e6 once
// the first is closed, and the configured default once the device is gone.
func TestUpdateChannelFollowsTheDevicesHashrate(t *testing.T) {
	pool := startMiniPool(t, nil)
	p, addr := startProxy(t, func(c *Config) { c.HashrateDebounce = 20 * time.Millisecond }, pool.addr)
	up := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool.sent)
	// until waits for an UpdateChannel of want, the ones before it being of allowed.
	until := func(want float32, allowed ...float32) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m := <-pool.updates:
				if m.ChannelID != up.ChannelID || m.MaximumTarget != target.Max() {
					t.Fatalf("UpdateChannel %+v, want channel %d", m, up.ChannelID)
				}
				if m.NominalHashRate == want {
					return
				}
				ok := false
				for _, a := range allowed {
					ok = ok || m.NominalHashRate == a
				}
				if !ok {
					t.Fatalf("UpdateChannel with %v while waiting for %v", m.NominalHashRate, want)
				}
			case <-timeout:
				t.Fatalf("no UpdateChannel with %v", want)
			}
		}
	}
	d := dialDevice(t, addr)
	small := d.openStandardAt(t, 1, 1e6)
	d.openStandardAt(t, 2, 2e6)
	until(3e6, 1e6)
	d.send(t, &sv2.CloseChannel{ChannelID: small.ChannelID, ReasonCode: "done"})
	until(2e6)
	d.stop()
	until(1e4) // startProxy's UpstreamHashrate
	if s := p.Stats(); s.Removed != 1 || s.Devices != 0 {
		t.Fatalf("stats %+v", s)
	}
}
