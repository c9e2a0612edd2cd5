package integration

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/jdc"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/integration/harness"
)

// runningJDC is a JDC served in-process over real TCP and Noise.
type runningJDC struct {
	addr string
	key  noise.PublicKey
	jdc  *jdc.JDC
	app  *harness.App
}

func startJDC(t *testing.T, minerTP *tp, pl *jdPool, mutate func(*jdc.Config)) *runningJDC {
	t.Helper()
	sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := jdc.Config{
		Listener: ln, AuthorityKey: &sk, User: "miner", CoinbaseTag: "/jdc test/",
		TemplateProvider: jdc.Server{Address: minerTP.addr, AuthorityKey: &minerTP.key},
		Upstreams: []jdc.Upstream{{
			Pool: jdc.Server{Address: pl.addr, AuthorityKey: &pl.key},
			JDS:  jdc.Server{Address: pl.jdsAddr, AuthorityKey: &pl.key},
		}},
		Logger: testLogger(t, "jdc"),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	j, err := jdc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := harness.Go(t, "jdc", j.Run)
	select {
	case <-j.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the JDC never got its upstream channel and tokens")
	}
	return &runningJDC{addr: ln.Addr().String(), key: pk, jdc: j, app: app}
}

// startCPUMiner runs our CPU miner against addr.
func startCPUMiner(t *testing.T, addr string, key noise.PublicKey, kind string) {
	t.Helper()
	harness.Go(t, "cpuminer", func(ctx context.Context) error {
		return cpuminer.Run(ctx, cpuminer.Config{Pool: addr, AuthorityKey: &key, User: "rig", ChannelKind: kind, Threads: 1,
			NominalHashrate: 1e6, Logger: testLogger(t, "cpuminer")})
	})
}

// coinbaseHas reports whether a block's coinbase scriptSig carries tag.
func coinbaseHas(b *wire.MsgBlock, tag string) bool {
	return bytes.Contains(b.Transactions[0].TxIn[0].SignatureScript, []byte(tag))
}

// The mission's stack: a pool with its JDS and template provider, the
// miner's own template provider, the JDC and the CPU miner. Blocks are
// found on the JDC's templates (its coinbase tag, the pool's payout output
// funded, the miner's mempool transactions in them), the node accepts them,
// and the pool credits the miner's shares.
func TestJDCStack(t *testing.T) {
	t.Parallel()
	for _, mode := range []jdc.Mode{jdc.ModeFullTemplate, jdc.ModeCoinbaseOnly} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 3*time.Minute)
			n, sent := setupJDNode(t, ctx, harness.NodeOptions{}, 3)
			height, _ := n.Client().GetBlockCount(ctx)
			pl := startJDPool(t, n, nil)
			j := startJDC(t, startTP(t, n, nil), pl, func(c *jdc.Config) { c.Mode = mode })
			for _, kind := range []string{cpuminer.Standard, cpuminer.Extended} {
				startCPUMiner(t, j.addr, j.key, kind)
			}
			const blocks = 3
			for h := height + 1; h <= height+blocks; h++ {
				b := blockAt(t, ctx, n.Client(), h)
				if !coinbaseHas(b, "/jdc test/") {
					t.Errorf("block %d was not made on the JDC's template: scriptSig %x", h, b.Transactions[0].TxIn[0].SignatureScript)
				}
				outs := poolOutputs(b)
				var paid int64
				for _, o := range outs {
					if bytes.Equal(o.PkScript, pl.payout) {
						paid += o.Value
					}
				}
				if paid == 0 {
					t.Errorf("block %d pays the pool nothing: %v", h, outs)
				}
				if h == height+1 {
					for _, tx := range sent {
						if !containsTx(b, tx.TxHash()) {
							t.Errorf("the first block lacks the miner's transaction %s", tx.TxHash())
						}
					}
				}
			}
			deadline := time.Now().Add(time.Minute)
			for pl.pool.Stats().Users["miner"].Accepted == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the pool credited no share of the JDC's user: %+v", pl.pool.Stats().Users)
				}
				time.Sleep(50 * time.Millisecond) // the pool's accounting has no event to wait on
			}
		})
	}
}

// Two btcd nodes, the pool's and the JDS's taking no relayed transactions
// (--blocksonly): the JDC's node has transactions the other lacks, the JDC
// provides them when the JDS asks, and the blocks it finds with them are
// accepted.
func TestJDCMissingTransactions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	minerNode, _ := setupJDNode(t, ctx, harness.NodeOptions{P2P: true}, 0)
	if err := minerNode.MatureCoinbases(ctx, 4); err != nil { // before the nodes sync: no block comes after
		t.Fatal(err)
	}
	poolNode := harness.StartNode(t, harness.NodeOptions{ExtraArgs: []string{"--blocksonly", "--connect=" + minerNode.P2PAddr()}})
	waitSameTip(t, ctx, minerNode, poolNode)
	sent, err := minerNode.SendSegWitTxs(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	height, _ := poolNode.Client().GetBlockCount(ctx)
	pl := startJDPool(t, poolNode, nil)
	j := startJDC(t, startTP(t, minerNode, nil), pl, nil)
	startCPUMiner(t, j.addr, j.key, cpuminer.Extended)
	b := blockAt(t, ctx, poolNode.Client(), height+1)
	if !coinbaseHas(b, "/jdc test/") {
		t.Fatalf("block not on the JDC's template")
	}
	for _, tx := range sent {
		if !containsTx(b, tx.TxHash()) {
			t.Errorf("the block lacks transaction %s, which only the JDC's node had", tx.TxHash())
		}
	}
}

// New blocks from elsewhere while the JDC declares and mines: every block
// it finds builds on the tip of its time and is valid, the pool refuses
// none of its shares, and mining goes on on each new tip.
func TestJDCNewTipsWhileDeclaring(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 2)
	pl := startJDPool(t, n, nil)
	j := startJDC(t, startTP(t, n, nil), pl, nil)
	startCPUMiner(t, j.addr, j.key, cpuminer.Standard)
	c := n.Client()
	for range 3 {
		height, err := c.GetBlockCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Generate(ctx, 1); err != nil { // a block the JDC did not make
			t.Fatal(err)
		}
		// The JDC mines on the tip after it.
		for h := height + 2; ; h++ {
			if coinbaseHas(blockAt(t, ctx, c, h), "/jdc test/") {
				break
			}
		}
	}
	st := j.jdc.Stats()
	if st.PoolRefused != st.StaleShares || st.Blocks.NodeRefused != 0 { // stale: the race with a block, not an invalid share
		t.Errorf("after new tips: %+v", st)
	}
	if st.JobsAcked == 0 || st.SharesUp == 0 {
		t.Errorf("nothing went up: %+v", st)
	}
	t.Logf("JDC stats: %+v", st)
}
