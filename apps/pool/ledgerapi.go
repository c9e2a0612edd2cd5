package pool

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/monitor"
)

// LedgerView is the ledger as monitoring serves it at /api/v1/ledger:
// the PPLNS window now, what each user is owed, the latest blocks with
// their splits and the latest payouts. With ?user= every list holds that
// user's entries alone.
type LedgerView struct {
	Scheme   string        `json:"scheme"` // SchemePPLNS or SchemeCoinbasePPLNS
	FeeBP    uint32        `json:"fee_basis_points"`
	Window   WindowView    `json:"window"`
	Balances []PayoutView  `json:"balances"`
	Blocks   []BlockView   `json:"blocks"`
	Payouts  []PaymentView `json:"payouts"`
	Coinbase []PayoutView  `json:"coinbase,omitempty"` // coinbase-pplns: what the current jobs' coinbase pays each miner, of the current template
}

// WindowView is the PPLNS window: its size in difficulty units and each
// user's difficulty in it and part of it (0 to 1), largest first.
type WindowView struct {
	Size  float64      `json:"size"`
	Users []WeightView `json:"users"`
}

// WeightView is a user's place in the window.
type WeightView struct {
	User       string  `json:"user"`
	Difficulty float64 `json:"difficulty"`
	Part       float64 `json:"part"`
}

// PayoutView is an amount for a user, in satoshis.
type PayoutView struct {
	User   string `json:"user"`
	Amount uint64 `json:"amount"`
}

// PaymentView is a recorded payment.
type PaymentView struct {
	User   string    `json:"user"`
	Amount uint64    `json:"amount"`
	At     time.Time `json:"at"`
	Txid   string    `json:"txid"`
}

// BlockView is a found block with its split.
type BlockView struct {
	Hash   string       `json:"hash"`
	Height uint32       `json:"height"`
	Reward uint64       `json:"reward"`
	Fees   uint64       `json:"fees"`
	Found  time.Time    `json:"found"`
	Finder string       `json:"finder"`
	State  string       `json:"state"`
	Split  []PayoutView `json:"split"`
}

// ledgerBlocks is how many of the latest blocks the view shows, each with
// its split (a query each).
const ledgerBlocks = 20

// ledgerQueryTimeout bounds the view's queries: the request holds one of
// monitoring's turns, which scrapes share.
const ledgerQueryTimeout = 3 * time.Second

// serveLedger adds /api/v1/ledger to monitoring, if both are configured.
func (p *Pool) serveLedger() {
	if p.mon == nil || p.ledger == nil {
		return
	}
	busy := make(chan struct{}, 1) // one ledger view at a time
	p.mon.Handle("ledger", func(r *http.Request) (any, error) {
		limit, err := monitor.ListLimit(r)
		if err != nil {
			return nil, err
		}
		// The view holds one of monitoring's turns, which scrapes share,
		// while the database answers: a second view waiting on a slow
		// database would hold the other too.
		select {
		case busy <- struct{}{}:
			defer func() { <-busy }()
		default:
			return nil, fmt.Errorf("%w: the ledger is being read for another request", monitor.ErrUnavailable)
		}
		ctx, cancel := context.WithTimeout(r.Context(), ledgerQueryTimeout)
		defer cancel()
		v, err := p.LedgerView(ctx, r.URL.Query().Get("user"), limit)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", monitor.ErrUnavailable, err)
		}
		return v, nil
	})
}

// LedgerView reads the ledger for monitoring: every list at most limit
// long, and only user's entries when user is not empty.
func (p *Pool) LedgerView(ctx context.Context, user string, limit int) (*LedgerView, error) {
	if p.ledger == nil {
		return nil, fmt.Errorf("pool: no ledger configured")
	}
	store := p.cfg.Ledger.Store
	v := &LedgerView{Scheme: SchemePPLNS, FeeBP: p.rules.FeeBasisPoints,
		Balances: []PayoutView{}, Blocks: []BlockView{}, Payouts: []PaymentView{}, Window: WindowView{Users: []WeightView{}}}
	if p.coinbasePayouts() != nil {
		v.Scheme = SchemeCoinbasePPLNS
		if pl := p.plans.current(); pl != nil {
			amounts := pl.amounts(p.currentValue())
			for i, u := range pl.miners {
				if (user == "" || u == user) && len(v.Coinbase) < limit {
					v.Coinbase = append(v.Coinbase, PayoutView{User: u, Amount: amounts[i]})
				}
			}
		}
	}
	keep := func(u string) bool { return user == "" || u == user }

	v.Window.Size = p.windowSize(p.plans.bits.Load())
	if v.Window.Size > 0 {
		window, err := store.Window(ctx, v.Window.Size)
		if err != nil {
			return nil, err
		}
		var sum float64
		for _, w := range window {
			sum += w.Difficulty
		}
		slices.SortFunc(window, func(a, b ledger.Weight) int {
			switch {
			case a.Difficulty > b.Difficulty:
				return -1
			case a.Difficulty < b.Difficulty:
				return 1
			}
			return 0
		})
		for _, w := range window {
			if keep(w.User) && len(v.Window.Users) < limit {
				v.Window.Users = append(v.Window.Users, WeightView{User: w.User, Difficulty: w.Difficulty, Part: w.Difficulty / sum})
			}
		}
	}

	balances, err := store.Balances(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range balances {
		if keep(b.User) && len(v.Balances) < limit {
			v.Balances = append(v.Balances, PayoutView(b))
		}
	}

	blocks, err := store.Blocks(ctx, ledgerBlocks)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		split, err := store.Split(ctx, b.Hash)
		if err != nil {
			return nil, err
		}
		bv := BlockView{Hash: b.Hash, Height: b.Height, Reward: b.Reward, Fees: b.Fees, Found: b.Found, Finder: b.Finder, State: b.State, Split: []PayoutView{}}
		for _, s := range split {
			if keep(s.User) && len(bv.Split) < limit {
				bv.Split = append(bv.Split, PayoutView(s))
			}
		}
		if user == "" || len(bv.Split) > 0 {
			v.Blocks = append(v.Blocks, bv)
		}
	}

	payouts, err := store.Payouts(ctx, user, limit)
	if err != nil {
		return nil, err
	}
	for _, pm := range payouts {
		v.Payouts = append(v.Payouts, PaymentView(pm))
	}
	return v, nil
}

// currentValue is the current template's coinbase_tx_value_remaining, 0
// before the first.
func (p *Pool) currentValue() uint64 {
	if cur, ok := p.tmpl.Current(); ok {
		return cur.Value
	}
	return 0
}
