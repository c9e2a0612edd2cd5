package pool

// Attacks on coinbase-pplns as hostile miners would make them, with the
// identities they choose: raw public keys (P2PK outputs), thousands of
// addresses, one address under several worker names, another network's
// addresses, the pool's own account name; and a window whose non-address
// part moves while the coinbase does not.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/sv2"
)

// pubkeyIdentity is an uncompressed public key in hex, distinct for each i:
// an identity the address decoder takes (as a "pay to public key" address
// of any network), whose output is a 67-byte P2PK script.
func pubkeyIdentity(t testing.TB, i int) string {
	t.Helper()
	var k [32]byte
	k[0], k[1], k[31] = byte(i>>8), byte(i), 1
	priv, _ := btcec.PrivKeyFromBytes(k[:])
	return hex.EncodeToString(priv.PubKey().SerializeUncompressed())
}

// SYMPTOM (fails now): the pool reserves 43 bytes of block space per miner
// output (soloOutputSize × MaxOutputs in CoinbaseOutputMaxAdditionalSize),
// "at most a solo miner's", but soloAddress takes a hex public key as an
// address (address.DecodeAddress makes it an AddressPubKey), and an
// uncompressed one pays a 67-byte P2PK script: a 76-byte output. A hostile
// miner whose identities are such keys makes the coinbase 33 bytes larger
// per output than the template provider left room for: with 1,000 outputs
// 33 kB (132,000 weight units) over, so that a block found on a full
// template is over the weight limit and invalid. The same holds for solo
// mode's one output per connection.
func TestAttackPubkeyIdentitiesOverflowTheReservedCoinbaseSpace(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	const n = 50
	var window []ledger.Weight
	for i := range n {
		window = append(window, ledger.Weight{User: pubkeyIdentity(t, i+1) + ".rig", Difficulty: 1})
	}
	if _, err := soloAddress(window[0].User, net); err != nil {
		t.Skipf("a public key is no address here (%v): nothing to attack", err)
	}
	pool := []Payout{{Script: []byte{0x51}, Weight: 1}}
	plan, err := planCoinbase(window, pool, ledger.Rules{Pool: "pool"}, 50_0000_0000, net, CoinbasePayouts{MaxOutputs: n, Dust: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.miners) == 0 {
		t.Fatal("no miner paid: the test does not test")
	}
	var size int
	for _, o := range plan.cfg.Outputs[plan.pool:] {
		size += o.SerializeSize()
	}
	if reserved := len(plan.miners) * soloOutputSize; size > reserved {
		t.Errorf("%d miner outputs take %d bytes of the coinbase; the pool reserved %d of the template's block space for them (%d each): a full block is over the weight limit",
			len(plan.miners), size, reserved, soloOutputSize)
	}
	// Solo mode: one such output for the whole reward.
	script, err := soloAddress(pubkeyIdentity(t, 7), net)
	if err != nil {
		t.Fatal(err)
	}
	if got := wire.NewTxOut(0, script).SerializeSize(); got > soloOutputSize {
		t.Errorf("a solo miner's output is %d bytes, over the %d reserved", got, soloOutputSize)
	}
}

// addWindow writes work for users straight into the store, as their
// accepted shares would (the ledger does not care who sent them).
func addWindow(t testing.TB, store ledger.Store, at time.Time, users map[string]float64) {
	t.Helper()
	var work []ledger.Work
	for u, d := range users {
		work = append(work, ledger.Work{Bucket: at.Truncate(ledger.DefaultBucket), User: u, Accepted: 1, Difficulty: d})
	}
	if err := store.AddWork(context.Background(), work); err != nil {
		t.Fatal(err)
	}
}

// logSink keeps a pool's log lines, for tests that check what it said.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logSink) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// SYMPTOM (fails now): MaxCoinbaseOutputs (1,000) outputs of raw public
// keys (76 bytes each) make a coinbase_tx_suffix of about 76 kB, over
// NewExtendedMiningJob's B0_64K: nothing checks it when the plan is made.
// What must hold: the pool keeps mining (extended channels keep getting
// jobs they can use and their shares are accepted), whatever the window's
// identities are; a coinbase that cannot be sent is refused when planned,
// not discovered per connection.
func TestAttackThousandOutputCoinbaseKeepsExtendedChannelsMining(t *testing.T) {
	if _, err := soloAddress(pubkeyIdentity(t, 1), &chaincfg.RegressionNetParams); err != nil {
		t.Skipf("a public key is no address here (%v)", err)
	}
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e12},
			Coinbase: &CoinbasePayouts{MaxOutputs: MaxCoinbaseOutputs, Dust: 1, Refresh: time.Hour}}
	})
	m := dialMiner(t, p, 0)
	ch := m.openExtended(t, "honest")
	users := map[string]float64{}
	for i := range MaxCoinbaseOutputs {
		users[pubkeyIdentity(t, i+1)] = 1
	}
	addWindow(t, store, testEpoch, users)
	refreshErr := p.refreshCoinbase(ctx)
	t.Logf("refresh: %v", refreshErr)
	defer func() {
		if t.Failed() {
			logs.mu.Lock()
			t.Logf("pool log:\n%s", strings.Join(logs.lines, ""))
			logs.mu.Unlock()
		}
	}()
	// Whatever the refresh did, the honest extended channel must keep mining.
	p.tp.sendTemplate(t)
	deadline := time.After(2 * time.Second)
	var job *sv2.NewExtendedMiningJob
wait:
	for job == nil {
		select {
		case msg := <-m.in:
			if j, ok := msg.(*sv2.NewExtendedMiningJob); ok && len(j.CoinbaseTxSuffix) > 0 {
				job = j
			}
		case err := <-m.disconnected:
			t.Fatalf("the honest extended miner was disconnected after a refresh to %d raw-public-key outputs: %v", MaxCoinbaseOutputs, err)
		case <-deadline:
			break wait
		}
	}
	if job == nil {
		t.Fatal("the honest extended miner got no job after the refresh and a new template")
	}
	w := m.currentWork(t, ch)
	m.send(t, extendedShare(t, w, 1, []byte{1}, nil))
	if r, ok := m.next(t).(*sv2.SubmitSharesError); ok {
		t.Errorf("a share on the current job refused: %s", r.ErrorCode)
	}
	if pl := p.plans.current(); pl != nil && len(pl.miners) > 0 {
		var suffix int
		for _, o := range pl.cfg.Outputs {
			suffix += o.SerializeSize()
		}
		if suffix > sv2.MaxB0_64K {
			t.Errorf("the current plan's outputs alone are %d bytes, over coinbase_tx_suffix's %d: the plan the pool says it mines cannot be sent to an extended channel", suffix, sv2.MaxB0_64K)
		}
	}
}

// SYMPTOM (fails now): refreshCoinbase keeps the current plan, window and
// all, when the new one builds the same outputs (sameOutputs), and a
// block's split is its plan's window. With a fixed --pplns-window the
// window's total is the same on every refresh, so while the address miners'
// work in it does not change, neither do the outputs, however the rest of
// the window moves: here bob (no address) leaves, carol (no address) does
// the work, and a block found now is split as if bob had done it.
// The plan's window must follow the ledger's even when the outputs stay.
func TestAttackPlanWindowFollowsTheLedgerWhenOutputsStay(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	const window = 100
	p := startPool(t, func(c *Config) {
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: window},
			Coinbase: &CoinbasePayouts{MaxOutputs: 5, Dust: 1, Refresh: time.Hour}}
	})
	a := regtestAddr(t, 1)
	// Oldest to newest: bob, then a (the address miner), both in the window.
	addWindow(t, store, testEpoch, map[string]float64{"bob": 50})
	addWindow(t, store, testEpoch.Add(time.Minute), map[string]float64{a: 50})
	if err := p.refreshCoinbase(ctx); err != nil {
		t.Fatal(err)
	}
	first := p.plans.current()
	if !slices.Equal(first.miners, []string{a}) {
		t.Fatalf("the coinbase pays %v, want %s", first.miners, a)
	}
	// carol's work, newer than a's, pushes bob out of the window; a's part
	// is what it was.
	addWindow(t, store, testEpoch.Add(2*time.Minute), map[string]float64{"carol": 50})
	if err := p.refreshCoinbase(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := store.Window(ctx, window)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the ledger's window now: %v", w)
	// A block found now, on the current jobs: its split.
	outs := planOutputs(t, p.plans.current(), 625_000_000)
	split, _, err := p.coinbaseSplit(&wire.MsgTx{TxOut: outs}, 625_000_000, p.rules)
	if err != nil {
		t.Fatal(err)
	}
	owed := map[string]uint64{}
	for _, s := range split {
		owed[s.User] = s.Amount
	}
	if owed["bob"] != 0 || owed["carol"] == 0 {
		t.Errorf("a block found after bob's work left the window and carol's came in: split %v; bob is paid %d, carol %d (the plan kept the window of before because the outputs did not change)", split, owed["bob"], owed["carol"])
	}
}

// What holds: one address under two worker names gets two outputs to one
// script, and a block on that coinbase credits each name its own output
// and its own part of the split; an address of another network, the pool's
// own account name and a long name are no address, so the coinbase pays
// them nothing and the ledger credits them.
func TestAttackIdentitiesThatAreNotSimplyAddresses(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	a := regtestAddr(t, 1)
	mainnet, err := address.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{2}, 20), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 255)
	window := []ledger.Weight{
		{User: a + ".rig1", Difficulty: 30},
		{User: a + ".rig2", Difficulty: 10},
		{User: mainnet.EncodeAddress(), Difficulty: 20},
		{User: "pool", Difficulty: 20},
		{User: long, Difficulty: 20},
	}
	rules := ledger.Rules{FeeBasisPoints: 100, Pool: "pool"}
	pool := []Payout{{Script: []byte{0x51}, Weight: 1}}
	const value = 625_000_000
	plan, err := planCoinbase(window, pool, rules, value, net, CoinbasePayouts{MaxOutputs: 20, Dust: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a + ".rig1", a + ".rig2"}; !slices.Equal(plan.miners, want) {
		t.Fatalf("the coinbase pays %q, want %q alone", plan.miners, want)
	}
	outs := planOutputs(t, plan, value)
	if !bytes.Equal(outs[1].PkScript, outs[2].PkScript) {
		t.Fatal("the two worker names of one address do not pay one script")
	}
	for name, p := range map[string]*Pool{"with its plan": poolOf(plan), "its plan forgotten": poolOf()} {
		if name == "its plan forgotten" {
			// With no plan remembered, only scripts of remembered plans are known.
			p = poolOf(&coinbasePlan{cfg: plan.cfg, pool: plan.pool, miners: plan.miners})
			p.plans.list[0].cfg.Weights = slices.Clone(plan.cfg.Weights)
			p.plans.list[0].cfg.Weights[0] *= 2 // matches no more
		}
		split, in, err := p.coinbaseSplit(&wire.MsgTx{TxOut: outs}, value, rules)
		if err != nil {
			t.Fatal(err)
		}
		owed := map[string]uint64{}
		var sum uint64
		for _, s := range split {
			owed[s.User] = s.Amount
			sum += s.Amount
		}
		if sum != value {
			t.Errorf("%s: the split sums to %d, want %d", name, sum, value)
		}
		paid := map[string]uint64{}
		var paidSum uint64
		for _, x := range in {
			paid[x.User] += x.Amount
			paidSum += x.Amount
			if x.Amount > owed[x.User] {
				t.Errorf("%s: %s paid %d in the coinbase, over its split %d", name, x.User, x.Amount, owed[x.User])
			}
		}
		if want := uint64(outs[1].Value + outs[2].Value); paidSum != want {
			t.Errorf("%s: paid in the coinbase %d, want the two outputs' %d", name, paidSum, want)
		}
		if name == "with its plan" {
			if paid[a+".rig1"] != uint64(outs[1].Value) || paid[a+".rig2"] != uint64(outs[2].Value) {
				t.Errorf("%s: paid %v, want rig1 %d and rig2 %d", name, paid, outs[1].Value, outs[2].Value)
			}
			for _, u := range []string{mainnet.EncodeAddress(), long} {
				if owed[u] == 0 || paid[u] != 0 {
					t.Errorf("%s: %.20q… owed %d, paid %d in the coinbase; want credited in the ledger, not paid", name, u, owed[u], paid[u])
				}
			}
		}
	}
}

// What holds: a channel keeps 9 jobs on a tip and every refresh that moves
// the coinbase pushes it one, so after more refreshes than plans are kept
// (64) a job of the first plan is no longer taken; whatever the pool
// accepts on the oldest job it still takes is split by its own plan, not
// by "no known plan" (which gives the non-address miners' part to the
// pool).
func TestAttackManyRefreshesOnOneTipKeepEveryJobsPlan(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e12},
			Coinbase: &CoinbasePayouts{MaxOutputs: 5, Dust: 1, Refresh: time.Hour}}
	})
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "bob", 1)
	a := regtestAddr(t, 1)
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	m.workOn(t, ch, prev.PrevHash)
	var jobs []*mining.Work // the job of each refresh, oldest first
	for i := range keptPlans + 8 {
		addWindow(t, store, testEpoch.Add(time.Duration(i)*time.Second), map[string]float64{a: float64(i + 1), "bob": 1})
		if err := p.refreshCoinbase(ctx); err != nil {
			t.Fatal(err)
		}
		until(t, "the refresh's job", func() bool {
			w, ok := m.work.Work(ch)
			return ok && (len(jobs) == 0 || w.JobID != jobs[len(jobs)-1].JobID)
		})
		w, _ := m.work.Work(ch)
		jobs = append(jobs, w)
	}
	// From the oldest job on: the first the pool takes a block on.
	taken := func(w *mining.Work, seq uint32) bool {
		nonce, _ := grindBlock(w, prev.Target)
		m.send(t, share(w, seq, nonce))
		for {
			switch m.next(t).(type) {
			case *sv2.SubmitSharesSuccess:
				return true
			case *sv2.SubmitSharesError:
				return false
			}
		}
	}
	for i, w := range jobs {
		if !taken(w, uint32(100+i)) {
			continue
		}
		t.Logf("the oldest job taken is the job of refresh %d of %d", i+1, len(jobs))
		waitFor(t, "the block in the ledger", func() bool {
			b, err := store.Blocks(ctx, 1)
			return err == nil && len(b) == 1
		})
		if logs.has("NO KNOWN PLAN") {
			t.Errorf("a block on the job of refresh %d, which the pool still took, matched no remembered plan", i+1)
		}
		return
	}
	t.Fatal("no job took a block")
}

// regtestTaproot is a P2TR address of regtest, distinct for each i: the
// largest output a normal address pays (43 bytes).
func regtestTaproot(t testing.TB, i int) string {
	t.Helper()
	var k [32]byte
	k[0], k[1], k[31] = byte(i>>8), byte(i), 2
	priv, _ := btcec.PrivKeyFromBytes(k[:])
	a, err := address.NewAddressTaproot(priv.PubKey().SerializeCompressed()[1:], &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// The cost of a window that moves on every refresh, with the largest
// coinbase the pool allows (1,000 P2TR outputs, 43 kB): every refresh
// gives every channel a new job, and a standard channel's job needs its own
// coinbase txid, so it hashes the whole 43 kB coinbase per channel while
// the mining server holds its lock (no new template or prev hash goes
// through meanwhile). What must hold: a refresh for 2,000 standard
// channels is done within a quarter of a second, so that 100,000 channels
// (DefaultMaxChannels) cost a few seconds at most.
func TestAttackCoinbaseChurnWithManyStandardChannels(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e12},
			Coinbase: &CoinbasePayouts{MaxOutputs: MaxCoinbaseOutputs, Dust: 1, Refresh: time.Hour}}
	})
	const channels = 2000
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	for i := range channels {
		m.nextReq++
		m.send(t, &sv2.OpenStandardMiningChannel{RequestID: m.nextReq, UserIdentity: fmt.Sprintf("u%d", i), NominalHashRate: 1, MaxTarget: [32]byte{0xff, 0xff}})
	}
	opened := 0
	for opened < channels {
		if _, ok := m.next(t).(*sv2.OpenStandardMiningChannelSuccess); ok {
			opened++
		}
	}
	for i := 0; i < 2; i++ { // two windows: the second refresh is the churn
		users := map[string]float64{}
		for j := range MaxCoinbaseOutputs {
			users[regtestTaproot(t, j+1)] = float64(1 + i*(j%2))
		}
		addWindow(t, store, testEpoch.Add(time.Duration(i)*time.Minute), users)
		start := time.Now()
		if err := p.refreshCoinbase(ctx); err != nil {
			t.Fatal(err)
		}
		// The refresh's work is done on the server's goroutine: a barrier
		// event behind it says when.
		b := make(chan struct{})
		if err := p.server.HandleEvent(ctx, barrier.NotifyClient(p.server.Clients()[0].ID, b)); err != nil {
			t.Fatal(err)
		}
		recv(t, (<-chan struct{})(b), "the refresh's jobs")
		d := time.Since(start)
		pl := p.plans.current()
		t.Logf("refresh %d: %d miners paid, %v for %d standard channels", i+1, len(pl.miners), d, channels)
		if i == 1 && d > 250*time.Millisecond {
			t.Errorf("a refresh of a %d-output coinbase for %d standard channels took %v: at %d channels that is %v per refresh, every refresh",
				len(pl.miners), channels, d, DefaultMaxChannels, d*DefaultMaxChannels/channels)
		}
	}
}
