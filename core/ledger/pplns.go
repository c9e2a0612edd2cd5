package ledger

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
)

// Rules are how a block's reward is split.
type Rules struct {
	// Window is N of PPLNS: the last N units of difficulty of accepted
	// work share the reward, by their difficulty.
	Window float64
	// FeeBasisPoints is the pool's fee, in 1/10,000 of the reward.
	FeeBasisPoints uint32
	// Pool is the name the pool's fee and rounding dust are credited to.
	Pool string
}

// Split divides reward over a PPLNS window: first the pool's fee, the
// reward times FeeBasisPoints / 10,000 rounded down; then the rest in
// proportion to each user's difficulty in the window, each amount rounded
// down to the satoshi; what rounding leaves, and everything when the window
// is empty, goes to the pool too. The payouts sum to reward exactly, are
// ordered by user name (the pool's among them), and leave out users of no
// amount. Weights that are not finite and positive count for nothing.
func Split(reward uint64, window []Weight, rules Rules) ([]Payout, error) {
	if rules.FeeBasisPoints > 10_000 {
		return nil, fmt.Errorf("ledger: a fee of %d basis points is over the whole reward", rules.FeeBasisPoints)
	}
	byUser := map[string]float64{}
	var total float64
	for _, w := range window {
		if w.Difficulty > 0 && !math.IsInf(w.Difficulty, 0) {
			byUser[w.User] += w.Difficulty
			total += w.Difficulty
		}
	}
	fee := mulDiv(reward, uint64(rules.FeeBasisPoints), 10_000)
	rest := reward - fee
	amounts := map[string]uint64{}
	var paid uint64
	if total > 0 && !math.IsInf(total, 0) {
		// Exact rational arithmetic, so that the split does not depend on
		// the order of float sums.
		sum := new(big.Rat)
		for _, d := range byUser {
			sum.Add(sum, new(big.Rat).SetFloat64(d))
		}
		for u, d := range byUser {
			share := new(big.Rat).Mul(new(big.Rat).SetUint64(rest), new(big.Rat).SetFloat64(d))
			share.Quo(share, sum)
			amt := new(big.Int).Quo(share.Num(), share.Denom()).Uint64() // floor: share is below rest
			if amt > 0 {
				amounts[u] += amt
				paid += amt
			}
		}
	}
	if pool := fee + rest - paid; pool > 0 {
		amounts[rules.Pool] += pool
	}
	out := make([]Payout, 0, len(amounts))
	for u, a := range amounts {
		out = append(out, Payout{User: u, Amount: a})
	}
	slices.SortFunc(out, func(a, b Payout) int { return cmp.Compare(a.User, b.User) })
	return out, nil
}

// mulDiv is a*b/c rounded down, without overflow.
func mulDiv(a, b, c uint64) uint64 {
	r := new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
	return r.Quo(r, new(big.Int).SetUint64(c)).Uint64()
}
