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
	"github.com/stratumgo/stratum/apps/jdc"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// restartablePool is a pool with its in-process JDS on sockets that outlive
// it, so that it can be stopped and started again on the same addresses
// with the same key.
type restartablePool struct {
	t              *testing.T
	n              *harness.Node
	tp             *tp
	sk             noise.SecretKey
	key            noise.PublicKey
	payout         []byte
	poolSock, jdsS *harness.Socket
	app            *harness.App
	pool           *pool.Pool
}

func newRestartablePool(t *testing.T, n *harness.Node) *restartablePool {
	sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	script, _ := txscript.PayToAddrScript(newAddress(t))
	return &restartablePool{t: t, n: n, tp: startTP(t, n, nil), sk: sk, key: pk, payout: script,
		poolSock: harness.ListenSocket(t), jdsS: harness.ListenSocket(t)}
}

func (r *restartablePool) start() {
	r.t.Helper()
	nc := r.n.ClientConfig()
	p, err := pool.New(pool.Config{Listener: r.poolSock.Listener(), AuthorityKey: &r.sk, Network: "regtest",
		TemplateProvider: pool.TemplateProvider{Address: r.tp.addr, AuthorityKey: &r.tp.key},
		Payouts:          []pool.Payout{{Script: r.payout, Weight: 1}}, Node: &nc,
		JobDeclaration: &pool.JobDeclaration{Listener: r.jdsS.Listener()}, Logger: testLogger(r.t, "pool")})
	if err != nil {
		r.t.Fatal(err)
	}
	r.pool, r.app = p, harness.Go(r.t, "pool", p.Run)
}

func (r *restartablePool) upstream() jdc.Upstream {
	return jdc.Upstream{Pool: jdc.Server{Address: r.poolSock.Addr(), AuthorityKey: &r.key}, JDS: jdc.Server{Address: r.jdsS.Addr(), AuthorityKey: &r.key}}
}

// pays reports how much of a block's coinbase goes to script.
func pays(b *wire.MsgBlock, script []byte) (paid int64) {
	for _, o := range b.Transactions[0].TxOut {
		if bytes.Equal(o.PkScript, script) {
			paid += o.Value
		}
	}
	return paid
}

// waitBlock waits for a block from height on that satisfies ok, returning
// the height after it.
func waitBlock(t *testing.T, ctx context.Context, n *harness.Node, from int64, what string, ok func(*wire.MsgBlock) bool) int64 {
	t.Helper()
	for h := from; ; h++ {
		b := blockAt(t, ctx, n.Client(), h)
		if ok(b) {
			return h + 1
		}
		if h-from > 200 {
			t.Fatalf("no block %s in 200", what)
		}
	}
}

// eventually polls cond until it holds or d passes: the JDC's state has no
// event a test can wait on.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The pool killed: the JDC mines solo within 10 s, blocks paying the solo
// address in full; the pool back: the JDC returns to it. The CPU miner
// keeps its connection throughout; Ctrl-C then stops the JDC within the
// drain time.
func TestJDCFallsBackToSoloAndReturns(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	rp := newRestartablePool(t, n)
	rp.start()
	solo, _ := txscript.PayToAddrScript(newAddress(t))
	j := startJDC(t, startTP(t, n, nil), &jdPool{runningPool: &runningPool{addr: rp.poolSock.Addr(), key: rp.key}, jdsAddr: rp.jdsS.Addr()},
		func(c *jdc.Config) { c.Upstreams, c.SoloPayout = []jdc.Upstream{rp.upstream()}, solo })
	startCPUMiner(t, j.addr, j.key, cpuminer.Extended)
	c := n.Client()
	h, _ := c.GetBlockCount(ctx)
	next := waitBlock(t, ctx, n, h+1, "for the pool", func(b *wire.MsgBlock) bool { return pays(b, rp.payout) > 0 && coinbaseHas(b, "/jdc test/") })

	if err := rp.app.Stop(10 * time.Second); err != nil {
		t.Fatalf("stopping the pool: %v", err)
	}
	killed := time.Now()
	eventually(t, 10*time.Second, "solo after the pool went away", func() bool { return j.jdc.Stats().Solo })
	t.Logf("solo %s after the pool stopped", time.Since(killed).Round(time.Millisecond))
	if st := j.jdc.Status(); st.Upstream.Fallback != "solo" || st.Upstream.Connected || st.State != "solo" || !st.Healthy {
		t.Errorf("monitoring while solo: %+v, state %q healthy %v", st.Upstream, st.State, st.Healthy)
	}
	next = waitBlock(t, ctx, n, next, "paying the solo address in full", func(b *wire.MsgBlock) bool {
		var total int64
		for _, o := range b.Transactions[0].TxOut {
			total += o.Value
		}
		return total > 0 && pays(b, solo) == total && coinbaseHas(b, "/jdc test/")
	})

	rp.start() // back, same addresses and key
	eventually(t, 30*time.Second, "pooled again after the pool came back", func() bool { return !j.jdc.Stats().Solo })
	waitBlock(t, ctx, n, next, "for the pool again", func(b *wire.MsgBlock) bool { return pays(b, rp.payout) > 0 && coinbaseHas(b, "/jdc test/") })
	if st := j.jdc.Stats(); st.Switches < 2 {
		t.Errorf("switches %d, want pooled → solo → pooled: 2 at least", st.Switches)
	}
	if st := j.jdc.Status(); st.Upstream.Fallback != "" || !st.Upstream.Connected || st.Upstream.Address != rp.poolSock.Addr() || st.State != "running" {
		t.Errorf("monitoring pooled again: %+v, state %q", st.Upstream, st.State)
	}
	stopWithin(t, j, "pooled again")
}

// stopWithin stops the JDC as Ctrl-C does and fails unless it ends within
// the service's drain time and a little.
func stopWithin(t *testing.T, j *runningJDC, state string) {
	t.Helper()
	start := time.Now()
	if err := j.app.Stop(service.DefaultDrainTimeout + 2*time.Second); err != nil {
		t.Fatalf("stopping the JDC %s: %v", state, err)
	}
	t.Logf("the JDC %s stopped in %s", state, time.Since(start).Round(time.Millisecond))
}

// No upstream answers from the start: solo mining, stopped as Ctrl-C does
// while the upstreams are being retried.
func TestJDCSoloFromTheStartStops(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	dead := harness.ListenSocket(t) // refuses every connection
	dead.Listener().Close()
	_, key, _ := noise.GenerateAuthorityKeyPair(nil)
	solo, _ := txscript.PayToAddrScript(newAddress(t))
	up := jdc.Upstream{Pool: jdc.Server{Address: dead.Addr(), AuthorityKey: &key}, JDS: jdc.Server{Address: dead.Addr(), AuthorityKey: &key}}
	j := startJDC(t, startTP(t, n, nil), &jdPool{runningPool: &runningPool{addr: dead.Addr(), key: key}, jdsAddr: dead.Addr()},
		func(c *jdc.Config) { c.Upstreams, c.SoloPayout = []jdc.Upstream{up}, solo })
	startCPUMiner(t, j.addr, j.key, cpuminer.Standard)
	h, _ := n.Client().GetBlockCount(ctx)
	waitBlock(t, ctx, n, h+1, "paying the solo address", func(b *wire.MsgBlock) bool { return pays(b, solo) > 0 })
	if !j.jdc.Stats().Solo {
		t.Error("not solo")
	}
	stopWithin(t, j, "solo")
}

// refusingJDS grants tokens and refuses every declaration for good.
type refusingJDS struct {
	service.NullJobDeclarationServerHandler
	outputs []byte
}

func (r *refusingJDS) Flags(requested uint32) (uint32, uint32) { return 0, 0 }
func (r *refusingJDS) ClientAdded(context.Context, service.ClientInfo) ([]service.ServerEvent, error) {
	return nil, nil
}
func (r *refusingJDS) AllocateMiningJobToken(_ context.Context, c service.ClientID, m *sv2.AllocateMiningJobToken) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.AllocateMiningJobTokenSuccess{RequestID: m.RequestID, MiningJobToken: []byte("t"), CoinbaseTxOutputs: r.outputs}}}, nil
}
func (r *refusingJDS) DeclareMiningJob(_ context.Context, c service.ClientID, m *sv2.DeclareMiningJob) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.DeclareMiningJobError{RequestID: m.RequestID, ErrorCode: "job-refused-by-policy"}}}, nil
}

// A JDS refusing every declaration: the JDC moves to the second pool and
// JDS, whose pool it then pays.
func TestJDCFallsBackToTheNextUpstream(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	second := startJDPool(t, n, nil)
	first := startJDPool(t, n, nil)
	sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	outs := append([]byte{1}, make([]byte, 8)...)
	outs = append(append(outs, byte(len(first.payout))), first.payout...)
	srv, err := service.NewServerService(service.ServerConfig{Listener: ln, AuthorityKey: &sk, JobDeclaration: &service.ProtocolConfig{}}, nil, &refusingJDS{outputs: outs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	harness.Go(t, "refusing JDS", srv.Run)
	bad := jdc.Upstream{Pool: jdc.Server{Address: first.addr, AuthorityKey: &first.key}, JDS: jdc.Server{Address: ln.Addr().String(), AuthorityKey: &pk}}
	good := jdc.Upstream{Pool: jdc.Server{Address: second.addr, AuthorityKey: &second.key}, JDS: jdc.Server{Address: second.jdsAddr, AuthorityKey: &second.key}}
	h, _ := n.Client().GetBlockCount(ctx)
	j := startJDC(t, startTP(t, n, nil), first, func(c *jdc.Config) { c.Upstreams = []jdc.Upstream{bad, good} })
	startCPUMiner(t, j.addr, j.key, cpuminer.Standard)
	waitBlock(t, ctx, n, h+1, "for the second pool", func(b *wire.MsgBlock) bool { return pays(b, second.payout) > 0 && coinbaseHas(b, "/jdc test/") })
	if st := j.jdc.Stats(); st.Upstream != 1 || st.JobsRefused < 3 {
		t.Errorf("stats %+v: want the second upstream after three refusals", st)
	}
	eventually(t, time.Minute, "the second pool credits the miner", func() bool { return second.pool.Stats().Users["miner"].Accepted > 0 })
	stopWithin(t, j, "on the second upstream")
}
