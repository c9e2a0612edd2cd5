package proxy

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/sv2"
)

// A SetExtranoncePrefix from the pool is for the jobs it sends after it
// (§5.3.10; core mining's Conn and SRI's channels keep the old prefix for
// the jobs before): the device's current job stays valid at the pool, and
// the pool's next job reaches the device laid out with the new prefix, a
// share on it accepted too.
func TestSetExtranoncePrefixFromThePool(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	_, addr := startProxy(t, nil, pool.addr)
	up, _ := upstreamOf(t, pool)
	id, pc := pool.client(t)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	old := d.work(t, ch.ChannelID)

	m, err := pc.SetExtranoncePrefix(up.ChannelID)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.ExtranoncePrefix) == string(up.ExtranoncePrefix) {
		t.Fatal("the pool gave the same prefix again")
	}
	pool.act(t, id, m)
	d.mine(t, pool, old, up.Target)

	pool.newTip(t, 2, 8)
	poolJob := recv[*sv2.NewExtendedMiningJob](t, pool.sent)
	w := d.workOn(t, ch.ChannelID, 8)
	want := merkle.Root(coinbase.TxID(poolJob.CoinbaseTxPrefix, m.ExtranoncePrefix, ch.ExtranoncePrefix, poolJob.CoinbaseTxSuffix), poolJob.MerklePath)
	if w.MerkleRoot != want {
		t.Fatalf("device job merkle root %x, want %x with the new prefix %x", w.MerkleRoot, want, m.ExtranoncePrefix)
	}
	d.mine(t, pool, w, up.Target)
}

// A CloseChannel from the pool makes the proxy open its upstream channel
// again; the device keeps its connection and mines the next tip through it.
func TestCloseChannelFromThePool(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	p, addr := startProxy(t, nil, pool.addr)
	up := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool.sent)
	recvOpen(t, pool)
	id, pc := pool.client(t)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	d.work(t, ch.ChannelID)

	if err := pc.CloseChannel(up.ChannelID); err != nil {
		t.Fatal(err)
	}
	pool.act(t, id, &sv2.CloseChannel{ChannelID: up.ChannelID, ReasonCode: "test"})
	recvOpen(t, pool)
	up2 := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool.sent)
	pool.newTip(t, 2, 8)
	w := d.workOn(t, ch.ChannelID, 8)
	d.mine(t, pool, w, up2.Target)
	if s := p.Stats(); s.Removed != 0 || s.Devices != 1 || s.Upstream != 0 || !s.Connected {
		t.Fatalf("stats %+v", s)
	}
}

// port is the port of a host:port.
func port(t *testing.T, addr string) uint16 {
	t.Helper()
	_, ps, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

// A Reconnect from the pool moves the proxy to the host and port it names;
// the device keeps its connection and its shares reach the second pool.
func TestReconnectFromThePool(t *testing.T) {
	pool1, pool2 := startMiniPool(t, nil), startMiniPool(t, nil)
	pool1.newTip(t, 1, 9)
	pool2.newTip(t, 1, 7)
	p, addr := startProxy(t, nil, pool1.addr)
	id, _ := pool1.client(t)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	d.workOn(t, ch.ChannelID, 9)

	pool1.act(t, id, &sv2.Reconnect{NewHost: "127.0.0.1", NewPort: port(t, pool2.addr)})
	up2 := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool2.sent)
	w := d.workOn(t, ch.ChannelID, 7)
	d.mine(t, pool2, w, up2.Target)
	waitFor(t, "the proxy to leave the first pool", func() bool {
		pool1.mu.Lock()
		defer pool1.mu.Unlock()
		return len(pool1.conns) == 0
	})
	if s := p.Stats(); s.Removed != 0 || s.Devices != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// When the first upstream stops the proxy mines through the second; once
// the first answers again on its address the probe takes the proxy back.
// The device stays connected throughout and mines on each.
func TestFailoverAndBackToThePrimary(t *testing.T) {
	pool1 := startMiniPool(t, nil)
	pool2 := startMiniPool(t, nil)
	pool1.newTip(t, 1, 9)
	pool2.newTip(t, 1, 7)
	p, addr := startProxy(t, func(c *Config) { c.PrimaryProbe = 50 * time.Millisecond }, pool1.addr, pool2.addr)
	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	d.workOn(t, ch.ChannelID, 9)

	pool1.stop()
	up2 := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool2.sent)
	if s := p.Stats(); s.Upstream != 1 {
		t.Fatalf("stats %+v, want the proxy on the second upstream", s)
	}
	d.mine(t, pool2, d.workOn(t, ch.ChannelID, 7), up2.Target)

	ln, err := net.Listen("tcp", pool1.addr)
	if err != nil {
		t.Fatalf("listening on the first pool's address again: %v", err)
	}
	back := startMiniPoolOn(t, ln, nil)
	back.newTip(t, 1, 5)
	up1 := recv[*sv2.OpenExtendedMiningChannelSuccess](t, back.sent)
	d.mine(t, back, d.workOn(t, ch.ChannelID, 5), up1.Target)
	if s := p.Stats(); s.Upstream != 0 || s.Switches != 2 || s.Removed != 0 || s.Devices != 1 {
		t.Fatalf("stats %+v, want the proxy back on the first upstream after two switches", s)
	}
}

// With UpstreamChannels 3 the pool sees three channel opens, device
// connections ride them in turn, and their shares go up on three channels
// and are accepted.
func TestUpstreamChannelsSpreadTheDevices(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	_, addr := startProxy(t, func(c *Config) { c.UpstreamChannels = 3 }, pool.addr)
	reqs := map[uint32]bool{}
	for range 3 {
		reqs[recvOpen(t, pool).RequestID] = true
	}
	targets := map[uint32]sv2.U256{}
	prefixes := map[string]bool{}
	for range 3 {
		s := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool.sent)
		targets[s.ChannelID] = s.Target
		prefixes[string(s.ExtranoncePrefix)] = true
	}
	if len(reqs) != 3 || len(targets) != 3 || len(prefixes) != 3 {
		t.Fatalf("requests %v, channels %v, prefixes %d: want three of each", reqs, targets, len(prefixes))
	}
	var hardest sv2.U256
	for _, tg := range targets {
		hardest = tg
		break
	}
	for _, tg := range targets {
		if tg != hardest {
			t.Fatalf("targets %x: the test wants them equal", targets)
		}
	}
	used := map[uint32]bool{}
	for range 3 {
		d := dialDevice(t, addr)
		ch := d.openStandard(t, 1)
		m := d.mine(t, pool, d.work(t, ch.ChannelID), hardest)
		if _, ok := targets[m.ChannelID]; !ok || used[m.ChannelID] {
			t.Fatalf("share upstream on channel %d; channels %v, used %v", m.ChannelID, targets, used)
		}
		used[m.ChannelID] = true
	}
}
