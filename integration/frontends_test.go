package integration

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/ledger/pgtest"
	"github.com/stratumgo/stratum/integration/harness"
)

// Two pool frontends (server ids 1 and 2) on one real PostgreSQL ledger and
// one template provider on btcd regtest, a CPU miner on each: a block found
// on either is split over the work of both, in one PPLNS window, and btcd
// takes the blocks of both.
func TestTwoFrontendsShareOnePPLNSWindow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)
	ctx := testContext(t, 3*time.Minute)
	n := harness.StartNode(t, harness.NodeOptions{})
	if _, err := n.Generate(ctx, 101); err != nil {
		t.Fatal(err)
	}
	tp := startTP(t, n, nil)
	payout := newAddress(t)
	script, _ := txscript.PayToAddrScript(payout)
	frontend := func(id int) (*runningPool, ledger.Store) {
		store, err := ledger.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		p := startPool(t, tp, func(c *pool.Config) {
			c.ServerID = id
			c.Payouts = []pool.Payout{{Script: script, Weight: 1}}
			nc := n.ClientConfig()
			c.Node = &nc
			c.Ledger = &pool.Ledger{Store: store, Flush: 50 * time.Millisecond, ConfirmEvery: time.Hour,
				Rules: ledger.Rules{Window: 1e12, FeeBasisPoints: 100}}
		})
		return p, store
	}
	p1, store := frontend(1)
	p2, _ := frontend(2) // its extranonce prefixes start with 2, p1's with 1 (apps/pool TestServerIDsSplitTheExtranonceSpace)
	mine := func(p *runningPool, user string) *harness.App {
		return harness.Go(t, "cpuminer "+user, func(ctx context.Context) error {
			return cpuminer.Run(ctx, cpuminer.Config{Pool: p.addr, AuthorityKey: &p.key, User: user, ChannelKind: cpuminer.Extended,
				Threads: 1, NominalHashrate: 1e6, Logger: testLogger(t, "cpuminer "+user)})
		})
	}
	alice, bob := mine(p1, "alice"), mine(p2, "bob")

	// Blocks from each frontend, and one whose split pays the miner of the
	// other frontend too: a block's split is the shared window's.
	var shared ledger.Block
	var split []ledger.Payout
	finders := map[string]bool{}
	eventually(t, time.Minute, "blocks from both frontends, one split over both's work", func() bool {
		bs, err := store.Blocks(ctx, 1000)
		if err != nil {
			return false
		}
		for _, b := range bs {
			finders[b.Finder] = true
			if shared.Hash != "" {
				continue
			}
			s, err := store.Split(ctx, b.Hash)
			if err != nil {
				continue
			}
			var a, o uint64
			for _, p := range s {
				switch p.User {
				case "alice":
					a = p.Amount
				case "bob":
					o = p.Amount
				}
			}
			if a > 0 && o > 0 {
				shared, split = b, s
			}
		}
		return shared.Hash != "" && finders["alice"] && finders["bob"]
	})
	if err := alice.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := bob.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, p := range split {
		sum += p.Amount
	}
	if sum != shared.Reward || shared.Reward == 0 {
		t.Errorf("the split %v sums to %d, the reward is %d", split, sum, shared.Reward)
	}
	t.Logf("block %s found by %s, split %v", shared.Hash, shared.Finder, split)

	// btcd has blocks of both frontends on its chain.
	onChain := map[string]bool{}
	bs, err := store.Blocks(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		h, err := chainhash.NewHashFromStr(b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if at, err := n.Client().GetBlockHash(ctx, int64(b.Height)); err == nil && at == *h {
			onChain[b.Finder] = true
		}
	}
	if !onChain["alice"] || !onChain["bob"] {
		t.Errorf("blocks on btcd's chain found by %v; want both frontends' miners", onChain)
	}
}
