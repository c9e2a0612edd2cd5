package ledger

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	rules := Rules{FeeBasisPoints: 100, Pool: "pool"} // 1 %
	for _, c := range []struct {
		name   string
		reward uint64
		window []Weight
		want   []Payout
	}{
		{"by difficulty, fee first", 5_000_000_000, []Weight{{"alice", 3}, {"bob", 1}},
			[]Payout{{"alice", 3_712_500_000}, {"bob", 1_237_500_000}, {"pool", 50_000_000}}},
		{"rounding dust to the pool", 100, []Weight{{"a", 1}, {"b", 1}, {"c", 1}},
			[]Payout{{"a", 33}, {"b", 33}, {"c", 33}, {"pool", 1}}}, // fee 1, 99 split
		{"empty window: all to the pool", 1000, nil, []Payout{{"pool", 1000}}},
		{"a user twice sums", 1000, []Weight{{"a", 1}, {"a", 1}, {"b", 2}},
			[]Payout{{"a", 495}, {"b", 495}, {"pool", 10}}},
		{"non-finite and negative weights count for nothing", 1000, []Weight{{"a", math.NaN()}, {"b", math.Inf(1)}, {"c", -1}, {"d", 1}},
			[]Payout{{"d", 990}, {"pool", 10}}},
		{"nothing to split", 0, []Weight{{"a", 1}}, []Payout{}},
	} {
		got, err := Split(c.reward, c.window, rules)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", c.name, diff)
		}
	}
	if _, err := Split(1, nil, Rules{FeeBasisPoints: 10_001}); err == nil {
		t.Error("a fee over the whole reward was taken")
	}
}

// Whatever the window, the payouts sum to the reward, each user gets at
// most its exact share rounded down, and the pool at least its fee.
func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		reward := r.Uint64N(21e14)
		rules := Rules{FeeBasisPoints: uint32(r.IntN(10_001)), Pool: "~pool"}
		var window []Weight
		var total float64
		for i := range r.IntN(20) {
			d := r.Float64() * math.Pow(10, float64(r.IntN(12)))
			window = append(window, Weight{User: string(rune('a' + i)), Difficulty: d})
			total += d
		}
		got, err := Split(reward, window, rules)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		fee := mulDiv(reward, uint64(rules.FeeBasisPoints), 10_000)
		for _, p := range got {
			sum += p.Amount
			if p.User == rules.Pool {
				if p.Amount < fee {
					t.Fatalf("pool %d below its fee %d", p.Amount, fee)
				}
				continue
			}
			var d float64
			for _, w := range window {
				if w.User == p.User {
					d = w.Difficulty
				}
			}
			if exact := float64(reward-fee) * d / total; float64(p.Amount) > exact*(1+1e-9)+1 {
				t.Fatalf("%s got %d, over its exact share %f", p.User, p.Amount, exact)
			}
		}
		if sum != reward {
			t.Fatalf("payouts sum to %d, reward %d", sum, reward)
		}
	}
}
