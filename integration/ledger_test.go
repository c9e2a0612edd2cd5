package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/integration/harness"
)

// A block the pool found, 100 deep on btcd, is confirmed in the ledger and
// its split becomes the miners' balances.
func TestLedgerConfirmsBlocks(t *testing.T) {
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
	tp := startTP(t, n, nil)
	payout := newAddress(t)
	script, _ := txscript.PayToAddrScript(payout)
	p := startPool(t, tp, func(c *pool.Config) {
		c.Payouts = []pool.Payout{{Script: script, Weight: 1}}
		nc := n.ClientConfig()
		c.Node = &nc
		c.Ledger = &pool.Ledger{Store: store, Flush: 50 * time.Millisecond, ConfirmEvery: 100 * time.Millisecond,
			Rules: ledger.Rules{Window: 1e12, FeeBasisPoints: 250}}
	})
	miner := harness.Go(t, "cpuminer", func(ctx context.Context) error {
		return cpuminer.Run(ctx, cpuminer.Config{Pool: p.addr, AuthorityKey: &p.key, User: "erin.rig1", ChannelKind: cpuminer.Extended,
			Threads: 1, NominalHashrate: 1e6, Logger: testLogger(t, "cpuminer")})
	})
	var blocks []ledger.Block
	eventually(t, time.Minute, "a block in the ledger", func() bool {
		blocks, err = store.Blocks(ctx, 10)
		return err == nil && len(blocks) > 0
	})
	if err := miner.Stop(10 * time.Second); err != nil { // no more blocks of its own
		t.Fatal(err)
	}
	first := blocks[len(blocks)-1]
	// The node has it before blocks are made on top: a block made while
	// ours is on its way would take its place (the ledger then says
	// orphaned, rightly, but this test is about confirmation).
	eventually(t, time.Minute, "the node to have the block", func() bool {
		h, err := n.Client().GetBestBlockHash(ctx)
		if err != nil {
			return false
		}
		bs, err := store.Blocks(ctx, 100) // the miner may have found more before it stopped
		for _, b := range bs {
			if err == nil && h.String() == b.Hash {
				first = b
				return true
			}
		}
		return false
	})
	if first.State != ledger.Pending || first.Reward == 0 || first.Finder != "erin.rig1" {
		t.Fatalf("block %+v", first)
	}
	if _, err := n.Generate(ctx, ledger.Maturity); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the block confirmed", func() bool {
		bs, err := store.Blocks(ctx, 100)
		for _, b := range bs {
			if b.Hash == first.Hash {
				return err == nil && b.State == ledger.Confirmed
			}
		}
		return false
	})
	bal, err := store.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var erin, pl uint64
	for _, b := range bal {
		switch b.User {
		case "erin.rig1":
			erin = b.Amount
		case "pool":
			pl = b.Amount
		}
	}
	if erin == 0 || pl == 0 || erin < 30*pl {
		t.Errorf("balances %v: want erin.rig1 the reward less the 2.5 %% fee the pool keeps", bal)
	}
}
