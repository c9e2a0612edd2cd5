package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

type runningPool struct {
	addr string
	key  noise.PublicKey
	pool *pool.Pool
	app  *harness.App
}

func startPool(t *testing.T, p *tp, mutate func(*pool.Config)) *runningPool {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := pool.Config{
		Listener: ln, AuthorityKey: &sk, Network: "regtest", Tag: "/stratumgo test/",
		TemplateProvider: pool.TemplateProvider{Address: p.addr, AuthorityKey: &p.key},
		Logger:           testLogger(t, "pool"),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	pl, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := harness.Go(t, "pool", pl.Run)
	return &runningPool{addr: ln.Addr().String(), key: pk, pool: pl, app: app}
}

// newAddress returns a fresh regtest P2WPKH address.
func newAddress(t *testing.T) address.Address {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(k.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// coinbaseOf fetches the block at height and returns it.
func blockAt(t *testing.T, ctx context.Context, c *node.Client, height int64) *wire.MsgBlock {
	t.Helper()
	tip := waitHeight(t, ctx, c, height)
	h, err := c.GetBlockHash(ctx, height)
	if err != nil {
		t.Fatal(err)
	}
	_ = tip
	b, err := c.GetBlock(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// poolOutputs returns the coinbase's outputs other than the witness commitment.
func poolOutputs(b *wire.MsgBlock) []*wire.TxOut {
	var outs []*wire.TxOut
	for _, o := range b.Transactions[0].TxOut {
		if len(o.PkScript) >= 6 && bytes.Equal(o.PkScript[:6], []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}) {
			continue
		}
		outs = append(outs, o)
	}
	return outs
}

// 1. Standard and extended miners find blocks that the node accepts, paying the
// configured outputs by weight, with the mempool's SegWit transactions.
func TestPoolMinersFindBlocks(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		c := n.Client()
		if _, err := n.Generate(ctx, 101); err != nil {
			t.Fatal(err)
		}
		sent, err := n.SendSegWitTxs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		tp := startTP(t, n, nil)
		a := newAddress(t)
		aScript, _ := txscript.PayToAddrScript(a)
		bScript := append([]byte{txscript.OP_1, txscript.OP_DATA_32}, bytes.Repeat([]byte{7}, 32)...) // a raw taproot-shaped script
		net := &chaincfg.RegressionNetParams
		pa, err := pool.ParsePayout(a.EncodeAddress()+":3", net)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := pool.ParsePayout(hex.EncodeToString(bScript)+":1", net)
		if err != nil {
			t.Fatal(err)
		}
		pl := startPool(t, tp, func(cfg *pool.Config) { cfg.Payouts = []pool.Payout{pa, pb} })
		height, err := c.GetBlockCount(ctx)
		if err != nil {
			t.Fatal(err)
		}

		check := func(b *wire.MsgBlock, wantTxs int) {
			t.Helper()
			outs := poolOutputs(b)
			if len(outs) != 2 || !bytes.Equal(outs[0].PkScript, aScript) || !bytes.Equal(outs[1].PkScript, bScript) {
				t.Fatalf("coinbase outputs %v, want the two payouts in order", outs)
			}
			total := outs[0].Value + outs[1].Value
			if outs[1].Value != total/4 || outs[0].Value != total-total/4 {
				t.Errorf("payout split %d / %d of %d, want 3:1", outs[0].Value, outs[1].Value, total)
			}
			if len(b.Transactions) != wantTxs+1 {
				t.Errorf("block has %d transactions, want the coinbase and %d", len(b.Transactions), wantTxs)
			}
		}

		std := startMiner(t, pl.addr, pl.key, mining.FlagRequiresStandardJobs)
		ch := std.openStandard(t, 1, "alice.std")
		std.send(t, std.grind(t, std.work(t, ch), nil))
		b := blockAt(t, ctx, c, height+1)
		check(b, len(sent))
		for _, tx := range sent {
			if !containsTx(b, tx.TxHash()) {
				t.Errorf("block lacks mempool transaction %s", tx.TxHash())
			}
		}
		if ack := expect[*sv2.SubmitSharesSuccess](t, std, time.Minute); ack.NewSubmitsAcceptedCount != 1 {
			t.Errorf("block share acknowledged as %+v", ack)
		}

		ext := startMiner(t, pl.addr, pl.key, 0)
		ech := ext.openExtended(t, 1, "bob.ext")
		// Wait for the job on the new tip, then mine it.
		waitWorkOn(t, ext, ech, b.BlockHash())
		ext.send(t, ext.grind(t, ext.work(t, ech), extranonce8(42)))
		check(blockAt(t, ctx, c, height+2), 0)

		stats := pl.pool.Stats()
		if stats.Blocks != 2 || stats.Users["alice.std"].Blocks != 1 || stats.Users["bob.ext"].Blocks != 1 {
			t.Errorf("accounting: %d blocks, users %+v", stats.Blocks, stats.Users)
		}
	})
}

// waitWorkOn waits until the channel's active job builds on prev.
func waitWorkOn(t *testing.T, m *testMiner, ch uint32, prev [32]byte) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if w, ok := m.state.Work(ch); ok && w.PrevHash == sv2.U256(prev) {
			return
		}
		select {
		case <-m.msgs:
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("channel %d never got work on %x", ch, prev)
}

func containsTx(b *wire.MsgBlock, txid [32]byte) bool {
	for _, tx := range b.Transactions {
		if tx.TxHash() == txid {
			return true
		}
	}
	return false
}

// 3. Solo mode pays the miner's own address; a bad identity is refused.
func TestPoolSolo(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		c := n.Client()
		if _, err := n.Generate(ctx, 5); err != nil {
			t.Fatal(err)
		}
		tp := startTP(t, n, nil)
		pl := startPool(t, tp, func(cfg *pool.Config) { cfg.Solo = true })
		a := newAddress(t)
		script, _ := txscript.PayToAddrScript(a)

		bad := startMiner(t, pl.addr, pl.key, 0)
		bad.send(t, &sv2.OpenExtendedMiningChannel{RequestID: 9, UserIdentity: "not-an-address.rig", NominalHashRate: tinyHashrate, MaxTarget: maxTarget, MinExtranonceSize: 8})
		if e := expect[*sv2.OpenMiningChannelError](t, bad, time.Minute); e.ErrorCode != pool.CodeInvalidUserIdentity || e.RequestID != 9 {
			t.Errorf("malformed identity: %+v", e)
		}

		m := startMiner(t, pl.addr, pl.key, 0)
		ch := m.openExtended(t, 1, a.EncodeAddress()+".rig1")
		m.send(t, m.grind(t, m.work(t, ch), extranonce8(1)))
		b := blockAt(t, ctx, c, 6)
		outs := poolOutputs(b)
		if len(outs) != 1 || !bytes.Equal(outs[0].PkScript, script) || outs[0].Value != 50*1e8 {
			t.Errorf("solo block pays %v, want all 50 BTC to %s", outs, a.EncodeAddress())
		}
	})
}

// 6. A block found while the template provider is down still reaches the node,
// straight over RPC, and the provider that comes back (with template ids of
// its own) is not handed it by an id of the earlier session. Without the
// node path such a block cannot be delivered at all (template ids mean
// nothing across provider sessions: issue 12 item 9, tested in core/submit).
func TestPoolNeverLosesABlock(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		for _, restart := range []bool{false, true} {
			name := "through the node's RPC"
			if restart {
				name = "through the node's RPC, the provider restarted"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := testContext(t, 3*time.Minute)
				n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
				c := n.Client()
				if _, err := n.Generate(ctx, 101); err != nil {
					t.Fatal(err)
				}
				if _, err := n.SendSegWitTxs(ctx, 5); err != nil {
					t.Fatal(err)
				}
				height, err := c.GetBlockCount(ctx)
				if err != nil {
					t.Fatal(err)
				}
				sock := harness.ListenSocket(t) // the same address again after a restart
				sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
				tpWith := func() *tp {
					ln := sock.Listener()
					return startTPWith(t, n, ln, sk, pk)
				}
				first := tpWith()
				payout, _ := pool.ParsePayout(hex.EncodeToString([]byte{txscript.OP_TRUE}), &chaincfg.RegressionNetParams)
				pl := startPool(t, first, func(cfg *pool.Config) {
					cfg.Payouts = []pool.Payout{payout}
					nc := n.ClientConfig()
					cfg.Node = &nc
				})
				m := startMiner(t, pl.addr, pl.key, mining.FlagRequiresStandardJobs)
				ch := m.openStandard(t, 1, "carol")
				w := m.work(t, ch)
				share := m.grind(t, w, nil)
				if err := first.app.Stop(10 * time.Second); err != nil {
					t.Fatalf("stopping the template provider: %v", err)
				}
				if restart {
					tpWith() // back before the block is found: its ids start again
				}
				m.send(t, share)
				expect[*sv2.SubmitSharesSuccess](t, m, time.Minute)
				b := blockAt(t, ctx, c, height+1)
				if len(b.Transactions) != 6 {
					t.Errorf("block has %d transactions, want the coinbase and 5", len(b.Transactions))
				}
			})
		}
	})
}
