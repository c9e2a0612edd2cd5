package proxy

import (
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

func passthrough(c *Config) { c.Mode = ModePassthrough }

// poolTarget is the easiest share the mini pool takes (its default minimum
// difficulty, 2^-24): shares ground to it reach the pool.
func poolTarget(t testing.TB) sv2.U256 {
	t.Helper()
	up, err := target.FromDifficulty(mining.DefaultMinShareDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// both is the harder of a device channel's target and the pool's easiest:
// a share meeting it is taken by both. (Their vardiff starts alike.)
func both(t testing.TB, w *mining.Work) sv2.U256 {
	if up := poolTarget(t); target.Less(up, w.Target) {
		return up
	}
	return w.Target
}

// openAs opens a standard or extended channel as user, with hashrate.
func (d *testDevice) openAs(t testing.TB, req uint32, user string, hashrate float32, extended bool) uint32 {
	t.Helper()
	if extended {
		d.send(t, &sv2.OpenExtendedMiningChannel{RequestID: req, UserIdentity: user, NominalHashRate: hashrate, MaxTarget: target.Max(), MinExtranonceSize: 4})
		return next[*sv2.OpenExtendedMiningChannelSuccess](t, d).ChannelID
	}
	d.send(t, &sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: user, NominalHashRate: hashrate, MaxTarget: target.Max()})
	return next[*sv2.OpenStandardMiningChannelSuccess](t, d).ChannelID
}

// Each device channel rides an upstream channel of its own, opened with
// the device's user identity and hashrate; the device's channel ids do not
// collide though each is laid out by a server of its own; the shares of
// each go up on its own upstream channel and are accepted.
func TestPassthroughChannelPerDeviceChannel(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	_, addr := startProxy(t, passthrough, pool.addr)
	d := dialDevice(t, addr)
	std := d.openAs(t, 1, "worker-a", 1e4, false)
	ext := d.openAs(t, 2, "worker-b", 2e4, true)
	if std == ext {
		t.Fatalf("both device channels are %d", std)
	}
	opens := map[string]float32{}
	for range 2 {
		m := <-pool.opens
		opens[m.UserIdentity] = m.NominalHashRate
	}
	if opens["worker-a"] != 1e4 || opens["worker-b"] != 2e4 {
		t.Fatalf("upstream channels opened %v; want worker-a at 1e4 and worker-b at 2e4", opens)
	}
	channels := map[uint32]bool{}
	for _, ch := range []uint32{std, ext} {
		w := d.work(t, ch)
		var ext []byte
		if w.Extended {
			ext = make([]byte, w.ExtranonceSize)
		}
		nonce, hash := grind(w, ext, both(t, w), nil)
		d.submit(t, w, nonce, ext)
		channels[pool.accepted(t, hash).ChannelID] = true
	}
	if len(channels) != 2 {
		t.Errorf("the shares of two device channels went up on %d upstream channels", len(channels))
	}
}

// The upstream's refusal reaches the device with its code and the
// device's own request id; its UpdateChannel reaches the upstream on the
// device channel's upstream channel.
func TestPassthroughRefusalAndUpdate(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	_, addr := startProxy(t, passthrough, pool.addr)
	d := dialDevice(t, addr)
	d.send(t, &sv2.OpenExtendedMiningChannel{RequestID: 77, UserIdentity: "greedy", NominalHashRate: 1, MaxTarget: target.Max(), MinExtranonceSize: 20})
	if e := next[*sv2.OpenMiningChannelError](t, d); e.RequestID != 77 || e.ErrorCode != mining.CodeMinExtranonceSizeTooLarge {
		t.Errorf("refusal %+v, want request 77 with %q", e, mining.CodeMinExtranonceSizeTooLarge)
	}
	<-pool.opens
	ch := d.openAs(t, 1, "worker", 1e4, false)
	<-pool.opens
	d.send(t, &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 5e4, MaximumTarget: target.Max()})
	u := <-pool.updates
	if u.NominalHashRate != 5e4 {
		t.Errorf("the upstream got UpdateChannel %+v, want 5e4", u)
	}
	_, c := pool.client(t)
	if _, ok := c.Target(u.ChannelID); !ok {
		t.Errorf("UpdateChannel for channel %d, not one the pool opened", u.ChannelID)
	}
}

// A CloseChannel from the upstream closes the device's channel, and only
// that one; the device stays connected.
func TestPassthroughUpstreamCloses(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	p, addr := startProxy(t, passthrough, pool.addr)
	d := dialDevice(t, addr)
	a := d.openAs(t, 1, "worker-a", 1e4, false)
	b := d.openAs(t, 2, "worker-b", 1e4, false)
	<-pool.opens
	<-pool.opens
	id, c := pool.client(t)
	// The upstream channel of worker-a, asked for first: the lowest id, as
	// the pool numbers channels in the order they come.
	var upA uint32
	for ch := uint32(1); ch < 10; ch++ {
		if _, ok := c.Target(ch); ok {
			upA = ch
			break
		}
	}
	pool.act(t, id, &sv2.CloseChannel{ChannelID: upA, ReasonCode: "bye"})
	cl := next[*sv2.CloseChannel](t, d)
	if cl.ChannelID != a {
		t.Errorf("the device's channel %d was closed, want %d (the first)", cl.ChannelID, a)
	}
	// b still mines and its shares still go up.
	w := d.work(t, b)
	nonce, hash := grind(w, nil, both(t, w), nil)
	d.submit(t, w, nonce, nil)
	pool.accepted(t, hash)
	if st := p.Stats(); st.Removed != 0 || st.Devices != 1 {
		t.Errorf("devices %d, removed %d: want the device still connected", st.Devices, st.Removed)
	}
}

// The first upstream gone, the proxy opens every passed-through channel
// again on the second, with the device's identity; the device keeps its
// connection and channel, gets the second's jobs and its shares reach it.
func TestPassthroughFailover(t *testing.T) {
	first := startMiniPool(t, nil)
	first.newTip(t, 1, 9)
	second := startMiniPool(t, nil)
	second.newTip(t, 1, 8)
	p, addr := startProxy(t, passthrough, first.addr, second.addr)
	d := dialDevice(t, addr)
	ch := d.openAs(t, 1, "worker", 1e4, false)
	<-first.opens
	d.workOn(t, ch, 9)
	first.stop()
	if m := <-second.opens; m.UserIdentity != "worker" {
		t.Errorf("the second pool got a channel for %q, want the device's identity", m.UserIdentity)
	}
	w := d.workOn(t, ch, 8)
	nonce, hash := grind(w, nil, both(t, w), nil)
	d.submit(t, w, nonce, nil)
	second.accepted(t, hash)
	if st := p.Stats(); st.Removed != 0 || st.Upstream != 1 {
		t.Errorf("stats %+v: want the device connected, on the second upstream", st)
	}
}
