package pool

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
	"github.com/stratumgo/stratum/core/sv2"
)

// regtestAddr is a P2WPKH address of regtest, distinct for each i.
func regtestAddr(t testing.TB, i byte) string {
	t.Helper()
	a, err := address.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{i}, 20), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// planOutputs builds a coinbase of value with plan, as the mining server
// would, and returns its outputs.
func planOutputs(t testing.TB, plan *coinbasePlan, value uint64) []*wire.TxOut {
	t.Helper()
	tmpl := &sv2.NewTemplate{
		TemplateID: 1, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x01, 0x65}, CoinbaseTxInputSequence: 0xffffffff,
		CoinbaseTxValueRemaining: value, CoinbaseTxLocktime: 0,
	}
	cb, err := coinbase.New(tmpl, plan.cfg, 8)
	if err != nil {
		t.Fatal(err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(cb.AppendTx(nil, make([]byte, 8)))); err != nil {
		t.Fatal(err)
	}
	return tx.TxOut
}

func TestPlanCoinbasePaysTheWindowInProportion(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	a, b, c := regtestAddr(t, 1), regtestAddr(t, 2), regtestAddr(t, 3)
	poolScript := bytes.Repeat([]byte{0x51}, 1)
	pool := []Payout{{Script: poolScript, Weight: 1}}
	rules := ledger.Rules{FeeBasisPoints: 100, Pool: "pool"} // 1 %
	window := []ledger.Weight{
		{User: a, Difficulty: 300},
		{User: b + ".rig1", Difficulty: 100}, // an address with a worker suffix is paid too
		{User: "alice", Difficulty: 50},      // no address: credited in the ledger
		{User: c, Difficulty: 0.0001},        // under the dust floor
	}
	const value = 50_0000_0000
	plan, err := planCoinbase(window, pool, rules, value, net, CoinbasePayouts{MaxOutputs: 20, Dust: 10_000}, []byte("/t/"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a, b + ".rig1"}; !slices.Equal(plan.miners, want) {
		t.Fatalf("the coinbase pays %q, want %q (largest first; no non-address, no dust)", plan.miners, want)
	}
	outs := planOutputs(t, plan, value)
	if !plan.matches(outs) {
		t.Fatal("a coinbase built of a plan does not match it")
	}
	var sum int64
	for _, o := range outs {
		sum += o.Value
	}
	if sum != value {
		t.Fatalf("the outputs pay %d, want the value %d", sum, value)
	}
	// 99 % of the value by difficulty: a 300/450.0001, b 100/450.0001.
	total := 450.0001
	for i, u := range plan.miners {
		got := float64(outs[1+i].Value)
		want := value * 0.99 * window[i].Difficulty / total
		if math.Abs(got-want) > 2 {
			t.Errorf("%s gets %.0f sat, want %.0f within rounding", u, got, want)
		}
	}
	split, in, err := poolOf(plan).coinbaseSplit(&wire.MsgTx{TxOut: outs}, value, rules)
	if err != nil {
		t.Fatal(err)
	}
	var splitSum uint64
	owed := map[string]uint64{}
	for _, s := range split {
		splitSum += s.Amount
		owed[s.User] = s.Amount
	}
	if splitSum != value {
		t.Errorf("the split sums to %d, want %d", splitSum, value)
	}
	if len(in) != 2 {
		t.Fatalf("paid in the coinbase: %v, want the two miners", in)
	}
	for i, p := range in {
		if p.User != plan.miners[i] || p.Amount != uint64(outs[1+i].Value) || p.Amount > owed[p.User] || owed[p.User]-p.Amount > 1 {
			t.Errorf("in the coinbase %s %d, output %d, split %d: want the output's value, at most the split and 1 sat under it", p.User, p.Amount, outs[1+i].Value, owed[p.User])
		}
	}
	if owed["alice"] == 0 || owed["pool"] == 0 {
		t.Errorf("alice (%d) and the pool's fee (%d) are owed nothing", owed["alice"], owed["pool"])
	}
	// The pool's output holds the fee and what the ledger owes the others.
	if got, want := uint64(outs[0].Value), value-in[0].Amount-in[1].Amount; got != want {
		t.Errorf("the pool's output %d, want %d", got, want)
	}
}

// poolOf is a pool that remembers plans, for coinbaseSplit.
func poolOf(pls ...*coinbasePlan) *Pool {
	p := &Pool{log: slog.New(slog.DiscardHandler)}
	for _, pl := range pls {
		p.plans.add(pl)
	}
	return p
}

// The invariant the ledger relies on: whatever the value and the window, no
// miner is paid in the coinbase more than its split of the reward.
func TestPlanCoinbaseNeverPaysOverTheSplit(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	addrs := make([]string, 30)
	for i := range addrs {
		addrs[i] = regtestAddr(t, byte(i+1))
	}
	for seed := range 200 {
		var window []ledger.Weight
		for i := range 1 + seed%30 {
			d := float64((seed*7919+i*104729)%100_000+1) / float64(1+i%7)
			window = append(window, ledger.Weight{User: addrs[i], Difficulty: d})
		}
		value := uint64(1_000_000 + seed*987_654_321%5_000_000_000)
		rules := ledger.Rules{FeeBasisPoints: uint32(seed * 37 % 10_001), Pool: "pool"}
		pool := []Payout{{Script: []byte{0x51}, Weight: uint64(1 + seed%3)}, {Script: []byte{0x52}, Weight: uint64(1 + seed%5)}}
		plan, err := planCoinbase(window, pool, rules, value, net, CoinbasePayouts{MaxOutputs: 1 + seed%25, Dust: uint64(seed % 1000)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.miners) > 1+seed%25 {
			t.Fatalf("seed %d: %d miners paid, at most %d", seed, len(plan.miners), 1+seed%25)
		}
		outs := planOutputs(t, plan, value)
		if !plan.matches(outs) {
			t.Fatalf("seed %d: the plan's own coinbase does not match it", seed)
		}
		reward := value + uint64(seed%3)*1000 // a reward may include template outputs' value
		split, in, err := poolOf(plan).coinbaseSplit(&wire.MsgTx{TxOut: outs}, reward, rules)
		if err != nil {
			t.Fatal(err)
		}
		owed := map[string]uint64{}
		for _, s := range split {
			owed[s.User] = s.Amount
		}
		for _, p := range in {
			if p.Amount > owed[p.User] {
				t.Fatalf("seed %d: %s paid %d in the coinbase, its split is %d", seed, p.User, p.Amount, owed[p.User])
			}
		}
	}
}

func TestPlanCoinbaseBounds(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	var window []ledger.Weight
	for i := range 50 {
		window = append(window, ledger.Weight{User: regtestAddr(t, byte(i+1)), Difficulty: float64(i + 1)})
	}
	pool := []Payout{{Script: []byte{0x51}, Weight: 1}}
	plan, err := planCoinbase(window, pool, ledger.Rules{Pool: "pool"}, 50_0000_0000, net, CoinbasePayouts{MaxOutputs: 5, Dust: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 49; i >= 45; i-- {
		want = append(want, regtestAddr(t, byte(i+1)))
	}
	if !slices.Equal(plan.miners, want) {
		t.Errorf("paid %v, want the 5 largest, largest first", plan.miners)
	}
	// No window: the pool's payouts by their own weights, as without the scheme.
	two := []Payout{{Script: []byte{0x51}, Weight: 1}, {Script: []byte{0x52}, Weight: 3}}
	empty, err := planCoinbase(nil, two, ledger.Rules{Pool: "pool"}, 1000, net, CoinbasePayouts{MaxOutputs: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.miners) != 0 || !slices.Equal(empty.cfg.Weights, []uint64{1, 3}) {
		t.Errorf("an empty window: miners %v, weights %v; want none and the payouts' 1:3", empty.miners, empty.cfg.Weights)
	}
	// A fee of the whole reward pays no miner.
	all, err := planCoinbase(window, pool, ledger.Rules{FeeBasisPoints: 10_000, Pool: "pool"}, 1000, net, CoinbasePayouts{MaxOutputs: 5}, nil)
	if err != nil || len(all.miners) != 0 {
		t.Errorf("a 100 %% fee: miners %v, %v", all.miners, err)
	}
	if _, err := planCoinbase(window, nil, ledger.Rules{}, 1000, net, CoinbasePayouts{MaxOutputs: 5}, nil); err == nil {
		t.Error("a plan without pool payouts accepted")
	}
	// A coinbase of another plan, or changed in one value, does not match.
	outs := planOutputs(t, plan, 50_0000_0000)
	if empty.matches(outs) {
		t.Error("another plan's coinbase matched")
	}
	outs[2].Value++
	outs[0].Value--
	if plan.matches(outs) {
		t.Error("a coinbase paying one miner a satoshi more matched")
	}
}

// A coinbase that pays known miners by no remembered plan is recorded as it
// paid, the rest to the pool; one that pays no miner is left to the ledger.
func TestCoinbaseSplitWithoutPlan(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	a := regtestAddr(t, 1)
	plan, err := planCoinbase([]ledger.Weight{{User: a, Difficulty: 1}}, []Payout{{Script: []byte{0x51}, Weight: 1}}, ledger.Rules{FeeBasisPoints: 1000, Pool: "pool"}, 1_000_000, net, CoinbasePayouts{MaxOutputs: 5, Dust: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := poolOf(plan)
	outs := planOutputs(t, plan, 1_000_000)
	outs[0].Value -= 10 // not the plan's proportions
	outs[1].Value += 10
	split, in, err := p.coinbaseSplit(&wire.MsgTx{TxOut: outs}, 1_000_000, ledger.Rules{Pool: "pool"})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Payout{{User: a, Amount: uint64(outs[1].Value)}, {User: "pool", Amount: uint64(outs[0].Value)}}
	if fmt.Sprint(split) != fmt.Sprint(want) || fmt.Sprint(in) != fmt.Sprint(want[:1]) {
		t.Errorf("split %v, in the coinbase %v; want %v and %v", split, in, want, want[:1])
	}
	split, in, err = p.coinbaseSplit(&wire.MsgTx{TxOut: []*wire.TxOut{{Value: 1_000_000, PkScript: []byte{0x53}}}}, 1_000_000, ledger.Rules{Pool: "pool"})
	if split != nil || in != nil || err != nil {
		t.Errorf("a coinbase paying no miner: %v %v %v, want the ledger's split (nil)", split, in, err)
	}
}

// With coinbase payouts, the pool's jobs come to pay the window's miners:
// a block found pays the miner whose identity is an address its part in the
// coinbase, the ledger records that part as paid (once the block is
// confirmed) and credits the others' parts as balances.
func TestCoinbasePPLNSPaysTheWindowInTheCoinbase(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	addr := regtestAddr(t, 9)
	script, err := soloAddress(addr, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	rules := ledger.Rules{Window: 1e9, FeeBasisPoints: 100}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: rules,
			Coinbase: &CoinbasePayouts{MaxOutputs: 5, Dust: 1, Refresh: 10 * time.Millisecond}}
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	monAddr, err := p.MonitorAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + monAddr.String()
	miner := func(user string) (*testMiner, uint32) {
		m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
		ch := m.openStandard(t, user, 1)
		w := m.currentWork(t, ch)
		for i, n := range grind(w, 0, 1<<16)[:3] {
			m.send(t, share(w, uint32(i+1), n))
			acked(t, m)
		}
		return m, ch
	}
	a, ach := miner(addr + ".rig1")
	miner("bob") // no address: paid by the ledger
	waitFor(t, "a coinbase paying the address miner by the whole window", func() bool {
		pl := p.plans.current()
		return pl != nil && slices.Equal(pl.miners, []string{addr + ".rig1"}) && len(pl.window) == 2 && pl.window[0].Difficulty == pl.window[1].Difficulty
	})

	var view LedgerView
	monitortest.GetJSON(t, base, "/api/v1/ledger", &view)
	if view.Scheme != SchemeCoinbasePPLNS || len(view.Window.Users) != 2 || view.Window.Users[0].Part != 0.5 ||
		len(view.Coinbase) != 1 || view.Coinbase[0].User != addr+".rig1" || view.Coinbase[0].Amount == 0 {
		t.Errorf("/api/v1/ledger: %+v; want the window's two users at half each, the coinbase paying the address", view)
	}

	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	for {
		if m, ok := a.next(t).(*sv2.SetNewPrevHash); ok && m.PrevHash == prev.PrevHash {
			break
		}
	}
	w := a.currentWork(t, ach)
	nonce, hash := grindBlock(w, prev.Target)
	a.send(t, share(w, 99, nonce))
	acked(t, a)
	sol := recv(t, p.tp.solutions, "the block's solution")
	var cb wire.MsgTx
	if err := cb.Deserialize(bytes.NewReader(sol.CoinbaseTx)); err != nil {
		t.Fatal(err)
	}
	// The pool's output first, then the miner's: half of 99 % each for a and bob.
	const value = 625_000_000
	if len(cb.TxOut) < 2 || !bytes.Equal(cb.TxOut[1].PkScript, script) {
		t.Fatalf("the block's coinbase %v does not pay the miner's address second", cb.TxOut)
	}
	paid := uint64(cb.TxOut[1].Value)
	if want := uint64(value * 99 / 100 / 2); paid > want || want-paid > 1 {
		t.Errorf("the coinbase pays the miner %d, want %d within rounding", paid, want)
	}
	var blocks []ledger.Block
	waitFor(t, "the block in the ledger", func() bool {
		blocks, err = store.Blocks(ctx, 10)
		return err == nil && len(blocks) == 1
	})
	if blocks[0].Hash != chainhash.Hash(hash).String() {
		t.Fatalf("the ledger's block %s, found %s", blocks[0].Hash, chainhash.Hash(hash))
	}
	split, err := store.Split(ctx, blocks[0].Hash)
	if err != nil {
		t.Fatal(err)
	}
	owed := map[string]uint64{}
	for _, s := range split {
		owed[s.User] = s.Amount
	}
	if owed[addr+".rig1"] != value*99/100/2 || owed["bob"] != value*99/100/2 || owed["pool"] != value/100 {
		t.Errorf("split %v; want half of 99 %% each and 1 %% to the pool", split)
	}
	if err := store.SetBlockState(ctx, blocks[0].Hash, ledger.Confirmed); err != nil {
		t.Fatal(err)
	}
	bal, err := store.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	balance := map[string]uint64{}
	for _, b := range bal {
		balance[b.User] = b.Amount
	}
	if balance[addr+".rig1"] != owed[addr+".rig1"]-paid || balance["bob"] != owed["bob"] || balance["pool"] != owed["pool"] {
		t.Errorf("balances %v after confirmation; want the miner's split less the coinbase's %d", bal, paid)
	}
	payouts, err := store.Payouts(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(payouts) != 1 || payouts[0].User != addr+".rig1" || payouts[0].Amount != paid || payouts[0].Txid != cb.TxHash().String() {
		t.Errorf("payouts %v; want the coinbase's %d to the miner, txid %s", payouts, paid, cb.TxHash())
	}
	// Monitoring shows the same, for everybody and for one user.
	monitortest.GetJSON(t, base, "/api/v1/ledger", &view)
	if len(view.Blocks) != 1 || view.Blocks[0].State != ledger.Confirmed || len(view.Blocks[0].Split) != 3 ||
		len(view.Payouts) != 1 || view.Payouts[0].Amount != paid || len(view.Balances) != len(bal) {
		t.Errorf("/api/v1/ledger after confirmation: %+v; want the block with its 3-part split, the coinbase's payout, the balances %v", view, bal)
	}
	var bobs LedgerView
	monitortest.GetJSON(t, base, "/api/v1/ledger?user=bob", &bobs)
	if len(bobs.Balances) != 1 || bobs.Balances[0] != (PayoutView{"bob", owed["bob"]}) || len(bobs.Payouts) != 0 ||
		len(bobs.Blocks) != 1 || len(bobs.Blocks[0].Split) != 1 || len(bobs.Window.Users) != 1 || bobs.Window.Users[0].User != "bob" {
		t.Errorf("/api/v1/ledger?user=bob: %+v; want bob's balance, split and window place alone", bobs)
	}
}

// acked waits for the pool's answer to a share, which must be a success;
// the jobs of coinbase refreshes may come first.
func acked(t *testing.T, m *testMiner) {
	t.Helper()
	for {
		switch r := m.next(t).(type) {
		case *sv2.SubmitSharesSuccess:
			return
		case *sv2.SubmitSharesError:
			t.Fatalf("share refused: %s", r.ErrorCode)
		}
	}
}
