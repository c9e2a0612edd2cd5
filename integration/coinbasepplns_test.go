package integration

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/integration/harness"
)

// With --payout-scheme coinbase-pplns on btcd regtest, a block's coinbase
// pays the window's miners whose identity is an address, in proportion to
// their work (within rounding), largest first after the pool's payout;
// btcd accepts it; and once it is confirmed, the ledger records those
// outputs as paid and owes the miner without an address its split.
//
// The window is work the ledger holds already (as another frontend's, or a
// run's before, would be), so that its proportions are known; the CPU miner
// that finds the blocks adds only a few shares of regtest's tiny difficulty.
func TestCoinbasePPLNSOnRegtest(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n := harness.StartNode(t, harness.NodeOptions{})
	if _, err := n.Generate(ctx, 101); err != nil {
		t.Fatal(err)
	}
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := newAddress(t), newAddress(t)
	work := map[string]float64{alice.EncodeAddress() + ".s19": 3000, bob.EncodeAddress(): 1000, "carol": 1000}
	var seed []ledger.Work
	for u, d := range work {
		seed = append(seed, ledger.Work{Bucket: time.Now().Add(-time.Minute).Truncate(10 * time.Second), User: u, Accepted: 1, Difficulty: d})
	}
	if err := store.AddWork(ctx, seed); err != nil {
		t.Fatal(err)
	}

	tp := startTP(t, n, nil)
	payout := newAddress(t)
	poolScript, _ := txscript.PayToAddrScript(payout)
	aliceScript, _ := txscript.PayToAddrScript(alice)
	bobScript, _ := txscript.PayToAddrScript(bob)
	const fee = 200 // basis points: 2 %
	p := startPool(t, tp, func(c *pool.Config) {
		c.Payouts = []pool.Payout{{Script: poolScript, Weight: 1}}
		nc := n.ClientConfig()
		c.Node = &nc
		c.Ledger = &pool.Ledger{Store: store, Flush: 50 * time.Millisecond, ConfirmEvery: 100 * time.Millisecond,
			Rules:    ledger.Rules{Window: 1e9, FeeBasisPoints: fee},
			Coinbase: &pool.CoinbasePayouts{MaxOutputs: 10, Dust: 10_000, Refresh: 100 * time.Millisecond}}
	})
	miner := harness.Go(t, "cpuminer", func(ctx context.Context) error {
		return cpuminer.Run(ctx, cpuminer.Config{Pool: p.addr, AuthorityKey: &p.key, User: "dave", ChannelKind: cpuminer.Extended,
			Threads: 1, NominalHashrate: 1e6, Logger: testLogger(t, "cpuminer")})
	})

	// The first block whose coinbase pays the miners (blocks found before
	// the first refresh pay the pool alone).
	var found ledger.Block
	eventually(t, time.Minute, "a block paying the window's miners in its coinbase", func() bool {
		bs, err := store.Blocks(ctx, 100)
		if err != nil {
			return false
		}
		for _, b := range bs {
			h, err := chainhash.NewHashFromStr(b.Hash)
			if err != nil {
				continue
			}
			if at, err := n.Client().GetBlockHash(ctx, int64(b.Height)); err != nil || at != *h {
				continue // not on the chain (yet, or another share's block at its height won)
			}
			blk, err := n.Client().GetBlock(ctx, *h)
			if err == nil && len(blk.Transactions[0].TxOut) > 2 && bytes.Equal(blk.Transactions[0].TxOut[1].PkScript, aliceScript) {
				found = b
				return true
			}
		}
		return false
	})
	if err := miner.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	h, _ := chainhash.NewHashFromStr(found.Hash)
	blk, err := n.Client().GetBlock(ctx, *h)
	if err != nil {
		t.Fatal(err)
	}
	// btcd accepted it: it is still the chain's block at its height.
	at, err := n.Client().GetBlockHash(ctx, int64(found.Height))
	if err != nil || at != *h {
		t.Fatalf("the node's block at %d is %v (%v), not the pool's %s", found.Height, at, err, h)
	}
	outs := blk.Transactions[0].TxOut
	if !bytes.Equal(outs[0].PkScript, poolScript) || !bytes.Equal(outs[2].PkScript, bobScript) {
		t.Fatalf("outputs %v: want the pool's payout, alice's, bob's", outs)
	}
	var value int64
	for _, o := range outs {
		value += o.Value
	}
	// alice 3000 and bob 1000 of a window of 5000 and dave's few shares: 98 % of
	// the value by their part, alice 3 times bob.
	for i, want := range []float64{3000, 1000} {
		got := float64(outs[1+i].Value)
		exact := float64(value) * (1 - fee/1e4) * want / 5000
		if got > exact+1 || got < exact*(1-1e-6)-1 {
			t.Errorf("output %d pays %.0f sat, want %.0f (the window's part, within rounding and dave's few shares)", 1+i, got, exact)
		}
	}
	if a, b := outs[1].Value, outs[2].Value; math.Abs(float64(a-3*b)) > 3 {
		t.Errorf("alice gets %d, bob %d: not 3 to 1 within rounding", a, b)
	}

	// Confirmed 100 deep: the outputs are payouts of the coinbase, carol's
	// part is her balance, and the pool's fee is the pool's.
	if _, err := n.Generate(ctx, ledger.Maturity); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the block confirmed", func() bool {
		bs, err := store.Blocks(ctx, 100)
		for _, b := range bs {
			if b.Hash == found.Hash {
				return err == nil && b.State == ledger.Confirmed
			}
		}
		return false
	})
	split, err := store.Split(ctx, found.Hash)
	if err != nil {
		t.Fatal(err)
	}
	owed := map[string]uint64{}
	for _, s := range split {
		owed[s.User] = s.Amount
	}
	payouts, err := store.Payouts(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	txid := blk.Transactions[0].TxHash().String()
	paid := map[string]uint64{}
	for _, po := range payouts {
		if po.Txid == txid {
			paid[po.User] += po.Amount
		}
	}
	aliceUser, bobUser := alice.EncodeAddress()+".s19", bob.EncodeAddress()
	if paid[aliceUser] != uint64(outs[1].Value) || paid[bobUser] != uint64(outs[2].Value) || len(paid) != 2 {
		t.Errorf("payouts of the coinbase %v; want alice %d and bob %d", paid, outs[1].Value, outs[2].Value)
	}
	for _, u := range []string{aliceUser, bobUser} {
		if paid[u] > owed[u] || owed[u]-paid[u] > 1 {
			t.Errorf("%s: split %d, paid in the coinbase %d; want the split paid within a satoshi", u, owed[u], paid[u])
		}
	}
	if c, want := float64(owed["carol"]), float64(value)*(1-fee/1e4)*1000/5000; c > want+1 || c < want*(1-1e-6)-1 {
		t.Errorf("carol's split %.0f, want about %.0f: her part stays her balance", c, want)
	}
}
