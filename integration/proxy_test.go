package integration

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/apps/proxy"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// runningProxy is a proxy served in-process over real TCP and Noise.
type runningProxy struct {
	addr  string
	key   noise.PublicKey
	proxy *proxy.Proxy
	app   *harness.App
}

func startProxy(t *testing.T, user string, ups []proxy.Upstream, mutate func(*proxy.Config)) *runningProxy {
	t.Helper()
	sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := proxy.Config{Listener: ln, AuthorityKey: &sk, User: user, Upstreams: ups, Logger: testLogger(t, "proxy "+user)}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := harness.Go(t, "proxy", p.Run)
	select {
	case <-p.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the proxy never got its upstream channel")
	}
	return &runningProxy{addr: ln.Addr().String(), key: pk, proxy: p, app: app}
}

func (p *runningProxy) upstream() proxy.Upstream {
	return proxy.Upstream{Address: p.addr, AuthorityKey: &p.key}
}

func poolUpstream(p *runningPool) proxy.Upstream {
	return proxy.Upstream{Address: p.addr, AuthorityKey: &p.key}
}

// startPaidPool is a pool on its own template provider paying a fresh address.
func startPaidPool(t *testing.T, n *harness.Node) (*runningPool, []byte) {
	t.Helper()
	script, err := txscript.PayToAddrScript(newAddress(t))
	if err != nil {
		t.Fatal(err)
	}
	return startPool(t, startTP(t, n, nil), func(c *pool.Config) { c.Payouts = []pool.Payout{{Script: script, Weight: 1}} }), script
}

// credited waits until the pool has accepted shares of user.
func credited(t *testing.T, p *pool.Pool, user string) {
	t.Helper()
	eventually(t, time.Minute, "the pool crediting "+user, func() bool { return p.Stats().Users[user].Accepted > 0 })
}

// CPU miners on standard and extended channels mine through the proxy:
// the node accepts their blocks, made on the pool's jobs, and the pool
// credits the proxy's user, never the devices'.
func TestProxyStack(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	height, _ := n.Client().GetBlockCount(ctx)
	pl, _ := startPaidPool(t, n)
	px := startProxy(t, "farm", []proxy.Upstream{poolUpstream(pl)}, nil)
	for _, kind := range []string{cpuminer.Standard, cpuminer.Extended} {
		startCPUMiner(t, px.addr, px.key, kind)
	}
	for h := height + 1; h <= height+3; h++ {
		if b := blockAt(t, ctx, n.Client(), h); !coinbaseHas(b, "/stratumgo test/") {
			t.Errorf("block %d was not made on the pool's job: scriptSig %x", h, b.Transactions[0].TxIn[0].SignatureScript)
		}
	}
	credited(t, pl.pool, "farm")
	if _, ok := pl.pool.Stats().Users["rig"]; ok {
		t.Errorf("the pool saw the devices' user: %+v", pl.pool.Stats().Users)
	}
	// Only a block's race with the next (found on a job as another block
	// made it stale) is refused upstream.
	if st := px.proxy.Stats(); st.SharesUp == 0 || st.UpAccepted == 0 || st.UpRefused != st.UpStale {
		t.Errorf("proxy stats %+v: want shares up, accepted, none refused but as stale", st)
	}
}

// coinbaseKey is what makes a channel's coinbases its own: the part of the
// coinbase before the bytes it rolls (an extended channel's job prefix and
// extranonce prefix), or for a standard channel its merkle root.
func coinbaseKey(w *mining.Work) string {
	if w.Extended {
		return string(append(append([]byte(nil), w.CoinbasePrefix...), w.ExtranoncePrefix...))
	}
	return string(w.MerkleRoot[:])
}

// Miner → proxy → proxy → pool: the second proxy's channels are sub-ranges
// of its channel on the first, so no two channels anywhere hash the same
// coinbase; a block found behind both proxies is accepted by the node and
// credited to the first proxy's user.
func TestProxyNested(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	pl, _ := startPaidPool(t, n)
	outer := startProxy(t, "farm", []proxy.Upstream{poolUpstream(pl)}, nil)
	inner := startProxy(t, "rack", []proxy.Upstream{outer.upstream()}, nil)

	direct := startMiner(t, pl.addr, pl.key, 0)
	onOuter := startMiner(t, outer.addr, outer.key, 0)
	onInner := startMiner(t, inner.addr, inner.key, 0)
	var works []*mining.Work
	for _, m := range []*testMiner{direct, onOuter, onInner} {
		for r := uint32(1); r <= 2; r++ {
			works = append(works, m.work(t, m.openExtended(t, r, "rig")))
			works = append(works, m.work(t, m.openStandard(t, 10+r, "rig")))
		}
	}
	// The same tip everywhere: every channel's work is of the pool's job.
	for _, w := range works {
		if w.PrevHash != works[0].PrevHash {
			t.Fatalf("channels on different tips: %x and %x", w.PrevHash, works[0].PrevHash)
		}
	}
	for i := range works {
		for j := range i {
			a, b := coinbaseKey(works[i]), coinbaseKey(works[j])
			if works[i].Extended != works[j].Extended {
				continue
			}
			short := min(len(a), len(b))
			if a[:short] == b[:short] {
				t.Errorf("channels %d and %d can hash the same coinbase: %x / %x", i, j, a, b)
			}
		}
	}
	if w := works[len(works)-2]; w.ExtranonceSize != 12 {
		t.Errorf("behind two proxies an extended channel rolls %d bytes, want 16 - 2 - 2 = 12", w.ExtranonceSize)
	}

	h, _ := n.Client().GetBlockCount(ctx)
	for _, w := range works[len(works)-2:] { // behind both proxies: extended, then standard
		onInner.send(t, onInner.grind(t, w, []byte{7}))
		got := expect[*sv2.SubmitSharesSuccess](t, onInner, time.Minute)
		if got.ChannelID != w.ChannelID {
			t.Fatalf("acknowledged channel %d, want %d", got.ChannelID, w.ChannelID)
		}
		h++
		b := blockAt(t, ctx, n.Client(), h)
		if !coinbaseHas(b, "/stratumgo test/") {
			t.Errorf("block %d was not made on the pool's job", h)
		}
		for next := onInner.work(t, w.ChannelID); next.PrevHash == w.PrevHash; next = onInner.work(t, w.ChannelID) {
			expect[sv2.Message](t, onInner, time.Minute)
		}
		works[len(works)-1] = onInner.work(t, works[len(works)-1].ChannelID)
	}
	credited(t, pl.pool, "farm")
	if _, ok := pl.pool.Stats().Users["rack"]; ok {
		t.Errorf("the pool saw the inner proxy's user: %+v", pl.pool.Stats().Users)
	}
}

// The first pool stopped while the devices mine: the proxy mines through
// the second within 5 s, blocks keep coming, paying it; the first back:
// the proxy returns to it. The devices' connections never drop.
func TestProxyFailover(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	first := newRestartablePool(t, n)
	first.start()
	second, secondPayout := startPaidPool(t, n)
	px := startProxy(t, "farm", []proxy.Upstream{{Address: first.poolSock.Addr(), AuthorityKey: &first.key}, poolUpstream(second)},
		func(c *proxy.Config) { c.PrimaryProbe = 200 * time.Millisecond })
	startCPUMiner(t, px.addr, px.key, cpuminer.Extended)
	startCPUMiner(t, px.addr, px.key, cpuminer.Standard)
	eventually(t, 30*time.Second, "both devices connected", func() bool { return px.proxy.Stats().Devices == 2 })
	paysTo := func(script []byte) func(*wire.MsgBlock) bool {
		return func(b *wire.MsgBlock) bool { return pays(b, script) > 0 }
	}
	h, _ := n.Client().GetBlockCount(ctx)
	next := waitBlock(t, ctx, n, h+1, "for the first pool", paysTo(first.payout))

	if err := first.app.Stop(10 * time.Second); err != nil {
		t.Fatalf("stopping the first pool: %v", err)
	}
	stopped := time.Now()
	eventually(t, 5*time.Second, "mining through the second pool", func() bool {
		st := px.proxy.Stats()
		return st.Upstream == 1 && st.Connected && st.Jobs > 0
	})
	t.Logf("on the second pool %s after the first stopped", time.Since(stopped).Round(time.Millisecond))
	if up := px.proxy.Status().Upstream; up.Index != 1 || up.Fallback != "fallback" || !up.Connected || up.Address != second.addr || up.Switches < 1 {
		t.Errorf("monitoring on the second pool: %+v", up)
	}
	next = waitBlock(t, ctx, n, next, "for the second pool", paysTo(secondPayout))
	credited(t, second.pool, "farm")

	first.start() // back, same address and key
	eventually(t, 30*time.Second, "back on the first pool", func() bool { return px.proxy.Stats().Upstream == 0 && px.proxy.Stats().Connected })
	waitBlock(t, ctx, n, next, "for the first pool again", paysTo(first.payout))
	st := px.proxy.Stats()
	if st.Removed != 0 || st.Devices != 2 {
		t.Errorf("device connections: %d now, %d dropped; want 2 and none", st.Devices, st.Removed)
	}
	if st.Switches < 2 {
		t.Errorf("switches %d, want first → second → first", st.Switches)
	}
	if up := px.proxy.Status().Upstream; up.Index != 0 || up.Fallback != "" || !up.Connected || up.Switches != st.Switches {
		t.Errorf("monitoring back on the first pool: %+v", up)
	}
	if bytes.Equal(first.payout, secondPayout) {
		t.Fatal("the pools pay the same script")
	}
}

// Miner → proxy → JDC → pool: the devices behind the proxy mine the JDC's
// own templates, and the pool credits the JDC's user.
func TestProxyBehindJDC(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	height, _ := n.Client().GetBlockCount(ctx)
	pl := startJDPool(t, n, nil)
	j := startJDC(t, startTP(t, n, nil), pl, nil)
	px := startProxy(t, "farm", []proxy.Upstream{{Address: j.addr, AuthorityKey: &j.key}}, nil)
	startCPUMiner(t, px.addr, px.key, cpuminer.Standard)
	m := startMiner(t, px.addr, px.key, 0)
	m.send(t, &sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: "rig", NominalHashRate: tinyHashrate, MaxTarget: maxTarget, MinExtranonceSize: 4})
	ch := expect[*sv2.OpenExtendedMiningChannelSuccess](t, m, time.Minute)
	if ch.ExtranonceSize != 6 { // the JDC's 8 for devices, less the proxy's 2
		t.Errorf("behind the JDC an extended channel rolls %d bytes, want 6", ch.ExtranonceSize)
	}
	for h := height + 1; h <= height+2; h++ {
		if b := blockAt(t, ctx, n.Client(), h); !coinbaseHas(b, "/jdc test/") {
			t.Errorf("block %d was not made on the JDC's template", h)
		}
	}
	credited(t, pl.pool, "miner")
}

// Passthrough: every device channel rides an upstream channel of its own
// with the device's user identity, so the pool credits each device's user
// and never the proxy's; blocks found through it are accepted.
func TestProxyPassthrough(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	height, _ := n.Client().GetBlockCount(ctx)
	pl, _ := startPaidPool(t, n)
	px := startProxy(t, "farm", []proxy.Upstream{poolUpstream(pl)}, func(c *proxy.Config) { c.Mode = proxy.ModePassthrough })
	for _, w := range []struct{ user, kind string }{{"worker-a", cpuminer.Standard}, {"worker-b", cpuminer.Extended}} {
		harness.Go(t, "cpuminer "+w.user, func(ctx context.Context) error {
			return cpuminer.Run(ctx, cpuminer.Config{Pool: px.addr, AuthorityKey: &px.key, User: w.user, ChannelKind: w.kind, Threads: 1,
				NominalHashrate: 1e6, Logger: testLogger(t, w.user)})
		})
	}
	for h := height + 1; h <= height+3; h++ {
		if b := blockAt(t, ctx, n.Client(), h); !coinbaseHas(b, "/stratumgo test/") {
			t.Errorf("block %d was not made on the pool's job", h)
		}
	}
	credited(t, pl.pool, "worker-a")
	credited(t, pl.pool, "worker-b")
	if _, ok := pl.pool.Stats().Users["farm"]; ok {
		t.Errorf("the pool saw the proxy's user in passthrough mode: %+v", pl.pool.Stats().Users)
	}
}
