package pool

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// CoinbasePayouts makes the coinbase pay the PPLNS window's miners directly
// (Ledger.Coinbase): every Refresh the pool reads the window from the
// ledger and gives every channel a new job whose coinbase pays the miners
// whose identity is an address ("<address>[.<anything>]"), largest first,
// at most MaxOutputs of them and none less than Dust; the pool's payouts
// get the rest. What the coinbase does not pay a miner (an identity that is
// no address, an amount under Dust or past MaxOutputs, rounding) stays in
// the ledger as the miner's balance, as with the custodial scheme.
//
// A block's split is the window its job was made with, not the window when
// the block is found, because that is what its coinbase paid: jobs of
// before stay valid when the coinbase moves, so no work in flight is lost.
type CoinbasePayouts struct {
	MaxOutputs int           // miners one coinbase pays at most (DefaultCoinbaseOutputs)
	Dust       uint64        // the least a miner's output pays, in satoshis (DefaultDust if 0)
	Refresh    time.Duration // how often the coinbase follows the window (DefaultCoinbaseRefresh)
}

// Defaults and bounds of CoinbasePayouts.
const (
	DefaultCoinbaseOutputs = 20
	MaxCoinbaseOutputs     = 1000 // 43 kB of outputs at most, reserved from the template's block space
	DefaultDust            = 10_000
	DefaultCoinbaseRefresh = 30 * time.Second
)

// Payout schemes, as sv2-pool's --payout-scheme names them.
const (
	SchemePPLNS         = "pplns"          // the pool's payouts take the reward; the ledger credits the split
	SchemeCoinbasePPLNS = "coinbase-pplns" // the coinbase pays the window's miners (CoinbasePayouts)
)

// keptPlans is how many coinbase plans are remembered for the blocks found
// on their jobs: a channel keeps 9 jobs on a tip (mining.ServerConfig's
// PastJobs and the newest), so 64 covers them with room for future jobs.
const keptPlans = 64

// coinbasePlan is one coinbase of the window: the outputs and weights the
// mining server builds its jobs with, and the quantized window that
// produced them, whose split is the split of a block found on those jobs.
type coinbasePlan struct {
	cfg    coinbase.Config // the pool's payouts, then the miners'
	pool   int             // how many of cfg.Outputs are the pool's
	miners []string        // miners[i] is paid by cfg.Outputs[pool+i]
	window []ledger.Weight // integer-valued weights: the split's window
}

// planCoinbase makes the plan that pays window's miners their part of a
// value of a coinbase, with the pool's payouts first (the first takes what
// rounding leaves).
//
// The window's difficulty is quantized to integer weights q (summing to at
// most 2^62 / (10,000 × the pool's payout weights)); a miner's output
// weighs q × (10,000 − fee) × the pool's weights and the pool's payouts
// share the rest, so that for any coinbase value V and reward R ≥ V a
// miner's output, floor(V × q × (1 − fee) / Q), never exceeds its amount
// in ledger.Split(R, the quantized window): the ledger never records a
// miner paid more than its split.
func planCoinbase(window []ledger.Weight, pool []Payout, rules ledger.Rules, value uint64, net *chaincfg.Params, cp CoinbasePayouts, tag []byte) (*coinbasePlan, error) {
	if len(pool) == 0 {
		return nil, fmt.Errorf("%w: no pool payout", ErrConfig)
	}
	if rules.FeeBasisPoints > 10_000 {
		return nil, fmt.Errorf("%w: a fee of %d basis points", ErrConfig, rules.FeeBasisPoints)
	}
	var wp uint64 // the pool's payout weights
	for _, po := range pool {
		wp += po.Weight
	}
	if wp == 0 || wp > math.MaxUint32 {
		return nil, fmt.Errorf("%w: pool payout weights summing to %d", ErrConfig, wp)
	}
	plan := &coinbasePlan{pool: len(pool), window: quantize(window, (uint64(1)<<62)/(10_000*wp))}
	keep := uint64(10_000 - rules.FeeBasisPoints)

	// Who the coinbase pays: addresses, by weight, above dust, up to MaxOutputs.
	amounts := map[string]uint64{}
	if split, err := ledger.Split(value, plan.window, rules); err == nil {
		for _, s := range split {
			amounts[s.User] = s.Amount
		}
	}
	type miner struct {
		user   string
		q      uint64
		script []byte
	}
	var paid []miner
	var total, unpaid uint64 // Q, and the weight of those the coinbase does not pay
	for _, w := range plan.window {
		q := uint64(w.Difficulty)
		total += q
		script, err := soloAddress(w.User, net)
		if err != nil || keep == 0 || amounts[w.User] < max(cp.Dust, 1) || w.User == rules.Pool {
			unpaid += q
			continue
		}
		paid = append(paid, miner{w.User, q, script})
	}
	slices.SortFunc(paid, func(a, b miner) int { return cmp.Or(cmp.Compare(b.q, a.q), cmp.Compare(a.user, b.user)) })
	if len(paid) > cp.MaxOutputs {
		for _, m := range paid[cp.MaxOutputs:] {
			unpaid += m.q
		}
		paid = paid[:cp.MaxOutputs]
	}
	rest := total*uint64(rules.FeeBasisPoints) + unpaid*keep // the pool's share of 10,000 × Q
	for _, po := range pool {
		w := po.Weight // paying no miner, the pool's payouts share it all by their weights
		if len(paid) > 0 {
			w = max(po.Weight*rest, 1) // its weight 0 is refused; 1 of about 2^62 moves nothing
		}
		plan.cfg.Outputs = append(plan.cfg.Outputs, wire.NewTxOut(0, po.Script))
		plan.cfg.Weights = append(plan.cfg.Weights, w)
	}
	for _, m := range paid {
		plan.cfg.Outputs = append(plan.cfg.Outputs, wire.NewTxOut(0, m.script))
		plan.cfg.Weights = append(plan.cfg.Weights, m.q*keep*wp)
		plan.miners = append(plan.miners, m.user)
	}
	plan.cfg.Tag = tag
	return plan, nil
}

// quantize turns a window's difficulty into integer weights summing to at
// most scale, by exact rational arithmetic; users of no weight are left out.
func quantize(window []ledger.Weight, scale uint64) []ledger.Weight {
	byUser := map[string]*big.Rat{}
	sum := new(big.Rat)
	for _, w := range window {
		if w.Difficulty > 0 && !math.IsInf(w.Difficulty, 0) {
			r := new(big.Rat).SetFloat64(w.Difficulty)
			if byUser[w.User] == nil {
				byUser[w.User] = new(big.Rat)
			}
			byUser[w.User].Add(byUser[w.User], r)
			sum.Add(sum, r)
		}
	}
	out := make([]ledger.Weight, 0, len(byUser))
	if sum.Sign() == 0 {
		return out
	}
	s := new(big.Rat).SetUint64(scale)
	for u, d := range byUser {
		q := new(big.Rat).Mul(d, s)
		q.Quo(q, sum)
		n := new(big.Int).Quo(q.Num(), q.Denom()).Uint64() // below scale < 2^53: exact as a float64
		if n > 0 {
			out = append(out, ledger.Weight{User: u, Difficulty: float64(n)})
		}
	}
	slices.SortFunc(out, func(a, b ledger.Weight) int { return cmp.Compare(a.User, b.User) })
	return out
}

// windowSize is the PPLNS window of a block of nBits: the configured one,
// or DefaultWindowFactor times its network difficulty (0 when nBits is none).
func (p *Pool) windowSize(nbits uint32) float64 {
	if p.rules.Window > 0 {
		return p.rules.Window
	}
	t, err := target.FromCompact(nbits)
	if nbits == 0 || err != nil {
		return 0
	}
	return DefaultWindowFactor * target.Difficulty(t)
}

// amounts are what the plan's coinbase pays each miner of a coinbase of
// value, in the order of miners.
func (pl *coinbasePlan) amounts(value uint64) []uint64 {
	all, err := coinbase.Weighted(value, pl.cfg.Weights)
	if err != nil { // the plan's weights are never 0 and sum below 2^63
		return make([]uint64, len(pl.miners))
	}
	return all[pl.pool:]
}

// sameOutputs reports whether two plans build the same coinbases.
func (pl *coinbasePlan) sameOutputs(o *coinbasePlan) bool {
	return slices.Equal(pl.cfg.Weights, o.cfg.Weights) && slices.EqualFunc(pl.cfg.Outputs, o.cfg.Outputs, func(a, b *wire.TxOut) bool {
		return bytes.Equal(a.PkScript, b.PkScript)
	})
}

// matches reports whether a coinbase's outputs are this plan's: its first
// outputs pay the plan's scripts, by its weights, of the value they sum to.
func (pl *coinbasePlan) matches(outs []*wire.TxOut) bool {
	n := len(pl.cfg.Outputs)
	if len(outs) < n {
		return false
	}
	var value uint64
	for i := range n {
		if outs[i].Value < 0 || !bytes.Equal(outs[i].PkScript, pl.cfg.Outputs[i].PkScript) {
			return false
		}
		value += uint64(outs[i].Value)
	}
	want, err := coinbase.Weighted(value, pl.cfg.Weights)
	if err != nil {
		return false
	}
	for i := range n {
		if uint64(outs[i].Value) != want[i] {
			return false
		}
	}
	// The template's outputs follow; none of them pays one of the plan's
	// miners (then the coinbase is not this plan's alone, and its miner
	// would be recorded paid less than the coinbase paid it).
	for _, o := range outs[n:] {
		for i := range pl.miners {
			if bytes.Equal(o.PkScript, pl.cfg.Outputs[pl.pool+i].PkScript) {
				return false
			}
		}
	}
	return true
}

// coinbaseUpdate carries a plan to the mining side, which answers on done
// once its jobs are made (or with why they could not be).
type coinbaseUpdate struct {
	plan *coinbasePlan
	done chan error
}

// plans are the coinbases the pool has mined lately, newest last.
type plans struct {
	mu   sync.Mutex
	list []*coinbasePlan
	bits atomic.Uint32 // the tip's nBits: the default window's size
}

func (ps *plans) add(pl *coinbasePlan) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.list) == keptPlans {
		ps.list = slices.Delete(ps.list, 0, 1)
	}
	ps.list = append(ps.list, pl)
}

func (ps *plans) current() *coinbasePlan {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.list) == 0 {
		return nil
	}
	return ps.list[len(ps.list)-1]
}

// find returns the plan a found block's coinbase was made of, if any.
func (ps *plans) find(outs []*wire.TxOut) *coinbasePlan {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, pl := range slices.Backward(ps.list) {
		if len(pl.miners) > 0 && pl.matches(outs) {
			return pl
		}
	}
	return nil
}

// minerScripts maps the scripts the remembered plans pay to their miners.
func (ps *plans) minerScripts() map[string]string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := map[string]string{}
	for _, pl := range ps.list {
		for i, u := range pl.miners {
			m[string(pl.cfg.Outputs[pl.pool+i].PkScript)] = u
		}
	}
	return m
}

// payInCoinbase moves the coinbase with the window every Refresh until ctx
// ends (Ledger.Coinbase).
func (p *Pool) payInCoinbase(ctx context.Context) {
	cp := p.coinbasePayouts()
	if cp == nil {
		return
	}
	p.every(ctx, cp.Refresh, "coinbase payouts: the coinbase keeps paying the window of before", p.refreshCoinbase)
}

// coinbasePayouts is Config.Ledger.Coinbase with its defaults, or nil.
func (p *Pool) coinbasePayouts() *CoinbasePayouts {
	if p.cfg.Ledger == nil || p.cfg.Ledger.Coinbase == nil {
		return nil
	}
	cp := *p.cfg.Ledger.Coinbase
	if cp.MaxOutputs <= 0 {
		cp.MaxOutputs = DefaultCoinbaseOutputs
	}
	if cp.Refresh <= 0 {
		cp.Refresh = DefaultCoinbaseRefresh
	}
	if cp.Dust == 0 {
		cp.Dust = DefaultDust
	}
	return &cp
}

// refreshCoinbase reads the window and, when it pays differently, gives
// every channel a job with the new coinbase; earlier jobs stay valid.
func (p *Pool) refreshCoinbase(ctx context.Context) error {
	cur, ok := p.tmpl.Current()
	nbits := p.plans.bits.Load()
	if !ok || nbits == 0 {
		return nil // the first template will do
	}
	rules := p.rules
	n := p.windowSize(nbits)
	if n <= 0 {
		return fmt.Errorf("tip nBits %08x: no window size", nbits)
	}
	window, err := p.cfg.Ledger.Store.Window(ctx, n)
	if err != nil {
		return err
	}
	plan, err := planCoinbase(window, p.cfg.Payouts, rules, cur.Value, p.net, *p.coinbasePayouts(), []byte(p.cfg.Tag))
	if err != nil {
		return err
	}
	if last := p.plans.current(); last != nil && last.sameOutputs(plan) {
		if !slices.Equal(last.window, plan.window) {
			// The same coinbase, of another window (the work of those it
			// does not pay moved): blocks on its jobs are split by the
			// newer window; no new jobs are needed.
			p.plans.add(plan)
		}
		return nil
	}
	// Through the template provider's queue, in order with its templates and
	// tips: jobs made of the old tip must not reach a miner after the new
	// tip's SetNewPrevHash. The mining side remembers the plan once its
	// jobs are made (coinbaseUpdates).
	u := coinbaseUpdate{plan: plan, done: make(chan error, 1)}
	if err := p.client.HandleEvent(ctx, service.SendEventToSiblingServerService{Event: coinbaseUpdates.Notify(sv2.ProtocolMining, u)}); err != nil {
		return err
	}
	select {
	case err := <-u.done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	p.log.Info("coinbase pays the window", "miners", len(plan.miners), "window", n)
	return nil
}

// coinbaseSplit is the split of a block found on a coinbase that paid the
// window's miners: the split of its plan's window and what the coinbase
// paid each miner. A block of no such plan (a custom job's, or one paying
// the pool alone) gets the ledger's split of the window at the block (nil).
// A coinbase that pays known miners but matches no remembered plan is
// recorded as it paid, the rest to the pool, and logged loudly.
func (p *Pool) coinbaseSplit(cb *wire.MsgTx, reward uint64, rules ledger.Rules) (split, inCoinbase []ledger.Payout, err error) {
	if pl := p.plans.find(cb.TxOut); pl != nil {
		for i, u := range pl.miners {
			inCoinbase = append(inCoinbase, ledger.Payout{User: u, Amount: uint64(cb.TxOut[pl.pool+i].Value)})
		}
		split, err := ledger.Split(reward, pl.window, rules)
		return split, inCoinbase, err
	}
	scripts := p.plans.minerScripts()
	var paid uint64
	for _, o := range cb.TxOut {
		if u, ok := scripts[string(o.PkScript)]; ok && o.Value > 0 {
			inCoinbase = append(inCoinbase, ledger.Payout{User: u, Amount: uint64(o.Value)})
			paid += uint64(o.Value)
		}
	}
	if len(inCoinbase) == 0 {
		return nil, nil, nil
	}
	p.log.Error("COINBASE PAID MINERS BY NO KNOWN PLAN: recording what it paid, the rest to the pool", "txid", cb.TxHash().String())
	split = slices.Clone(inCoinbase)
	if reward > paid {
		split = append(split, ledger.Payout{User: rules.Pool, Amount: reward - paid})
	}
	return mergePayouts(split), mergePayouts(inCoinbase), nil
}

// mergePayouts sums payouts by user, ordered by user.
func mergePayouts(ps []ledger.Payout) []ledger.Payout {
	byUser := map[string]uint64{}
	for _, p := range ps {
		byUser[p.User] += p.Amount
	}
	out := make([]ledger.Payout, 0, len(byUser))
	for u, a := range byUser {
		out = append(out, ledger.Payout{User: u, Amount: a})
	}
	slices.SortFunc(out, func(a, b ledger.Payout) int { return cmp.Compare(a.User, b.User) })
	return out
}
