package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/sv2"
)

// With a ledger, accepted work reaches it within the flush interval, and a
// found block at once with its split over the window, the pool's fee first.
func TestLedgerRecordsWorkAndBlocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	store, err := ledger.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e9, FeeBasisPoints: 100}}
	})
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "carol.rig1", 1)
	w := m.currentWork(t, ch)
	nonces := grind(w, 0, 1<<16)
	for i, n := range nonces[:3] {
		m.send(t, share(w, uint32(i+1), n))
		expect[*sv2.SubmitSharesSuccess](t, m)
	}
	waitFor(t, "the work in the ledger", func() bool {
		ws, err := store.Window(ctx, 1e9)
		return err == nil && len(ws) == 1 && ws[0].User == "carol.rig1" && ws[0].Difficulty > 0
	})

	// A block, on a tip with regtest's target.
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	expect[*sv2.NewMiningJob](t, m)
	expect[*sv2.SetNewPrevHash](t, m)
	w = m.currentWork(t, ch)
	nonce, hash := grindBlock(w, prev.Target)
	m.send(t, share(w, 9, nonce))
	expect[*sv2.SubmitSharesSuccess](t, m)
	var blocks []ledger.Block
	waitFor(t, "the block in the ledger", func() bool {
		blocks, err = store.Blocks(ctx, 10)
		return err == nil && len(blocks) == 1
	})
	b := blocks[0]
	if b.Hash != chainhash.Hash(hash).String() || b.Height != 100 || b.Reward != 625_000_000 || b.Finder != "carol.rig1" || b.State != ledger.Pending {
		t.Errorf("block %+v", b)
	}
	split, err := store.Split(ctx, b.Hash)
	if err != nil {
		t.Fatal(err)
	}
	// 1 % fee, the rest to carol, the only miner.
	if len(split) != 2 || split[0] != (ledger.Payout{User: "carol.rig1", Amount: 618_750_000}) || split[1] != (ledger.Payout{User: "pool", Amount: 6_250_000}) {
		t.Errorf("split %v", split)
	}
}

// waitFor waits until cond holds: the ledger's writes have no event.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A peer's refused shares naming fresh workers leave one row per user and
// code in the ledger, not one per invented name (as the accounting does).
func TestAttackRefusedSharesDoNotFillTheLedger(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	store, err := ledger.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e9}}
	})
	attacker := dialMiner(t, p, 0, sv2.ExtensionWorkerHashrate)
	ch := attacker.openExtended(t, "mallory")
	const names = 200
	for i := range names {
		attacker.send(t, &sv2.SubmitSharesExtended{ChannelID: ch, SequenceNumber: uint32(i), JobID: 0xdead,
			Extranonce: make([]byte, extranonceRollable), TLVs: []sv2.TLV{sv2.WorkerIdentityTLV(fmt.Sprintf("fake-%d", i))}})
		expect[*sv2.SubmitSharesError](t, attacker)
	}
	if err := p.ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, count int
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(count), 0) FROM rejects`).Scan(&rows, &count); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || count != names {
		t.Errorf("%d reject rows holding %d shares; want 1 row (mallory, no worker) holding %d", rows, count, names)
	}
}

// Two frontends with one server id on one ledger: the second refuses to
// start, naming the first; with its own id it starts.
func TestSecondFrontendWithTheSameServerIDRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	open := func() ledger.Store {
		s, err := ledger.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := startPool(t, func(c *Config) {
		c.ServerID = 7
		c.Ledger = &Ledger{Store: open(), Rules: ledger.Rules{Window: 1e9}}
	})
	second, err := New(Config{Listen: "127.0.0.1:0", Plain: true, Network: "regtest", ServerID: 7,
		TemplateProvider: TemplateProvider{Address: first.tp.addr, Plain: true}, Payouts: []Payout{{Script: []byte{0x51}, Weight: 1}},
		Ledger: &Ledger{Store: open(), Rules: ledger.Rules{Window: 1e9}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Run(ctx); !errors.Is(err, ledger.ErrServerIDTaken) || !strings.Contains(err.Error(), "--server-id 7") {
		t.Errorf("a second frontend with server id 7: %v, want ErrServerIDTaken naming the flag", err)
	}
	if err := first.stop(); err != nil { // gives its claim up
		t.Fatal(err)
	}
	// Given up, the id is free: startPool fails if Run ends before the
	// pool reaches its template provider.
	startPool(t, func(c *Config) {
		c.ServerID = 7
		c.Ledger = &Ledger{Store: open(), Rules: ledger.Rules{Window: 1e9}}
	})
}
