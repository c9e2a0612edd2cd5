package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/sv2"
)

// Ledger makes the pool's accounting durable (core/ledger): accepted work
// per user and worker, every found block with its PPLNS split, balances.
type Ledger struct {
	// Store is where it lives, e.g. ledger.OpenSQLite's. The pool closes it
	// when Run returns.
	Store ledger.Store
	// Rules split each block's reward (its PPLNS window, the pool's fee);
	// Rules.Pool names the pool's own account ("pool" if empty). A zero
	// Rules.Window is DefaultWindowFactor times the block's network
	// difficulty.
	Rules ledger.Rules
	// Flush is how often accepted work is written (ledger.DefaultFlush):
	// the most a crash can lose. Found blocks are written at once.
	Flush time.Duration
	// ConfirmEvery is how often pending blocks are checked against the
	// node (Config.Node) for maturity or orphaning (a minute if zero).
	ConfirmEvery time.Duration
	// Coinbase, when set, makes the coinbase pay the window's miners
	// directly (SchemeCoinbasePPLNS); nil pays the pool's payouts and
	// credits each block's split in the ledger (SchemePPLNS).
	Coinbase *CoinbasePayouts
}

// DefaultWindowFactor sizes the PPLNS window when none is set: this many
// times the network difficulty of the block found, so a block pays the
// work of about the last two blocks' worth of expected hashes.
const DefaultWindowFactor = 2

// newLedger builds the recorder of Config.Ledger, if set.
func (p *Pool) newLedger() {
	l := p.cfg.Ledger
	if l == nil {
		return
	}
	rules := l.Rules // the caller's Ledger stays as given
	if rules.Pool == "" {
		rules.Pool = "pool"
	}
	p.rules = rules
	p.ledger = ledger.NewRecorder(ledger.RecorderConfig{Store: l.Store, Rules: rules, Flush: l.Flush, Logger: p.log.With("component", "ledger"), Now: p.now})
}

// recordShare puts a share in the ledger, if any; it never waits on the
// database. A refused share counts for its user alone: worker names cost
// nothing to invent on shares that do no work, and must not fill the
// ledger (as in core/accounting).
func (p *Pool) recordShare(user, worker string, r *mining.ShareResult) {
	if p.ledger == nil || user == "" {
		return
	}
	accepted := r.Status != mining.ShareRejected
	if !accepted {
		worker = ""
	}
	p.ledger.Share(user, worker, accepted, r.Difficulty, r.Code)
}

// ledgerWrites runs the found blocks' ledger writes, on goroutines of their
// own so that the share path never waits, for as long as Run.
type ledgerWrites struct {
	mu  sync.Mutex
	ctx context.Context // Run's; nil outside it
	wg  sync.WaitGroup
}

func (w *ledgerWrites) start(ctx context.Context) {
	w.mu.Lock()
	w.ctx = ctx
	w.mu.Unlock()
}

// run runs f on its own goroutine with Run's context.
func (w *ledgerWrites) run(f func(ctx context.Context)) {
	w.mu.Lock()
	ctx := w.ctx
	if ctx == nil {
		ctx = context.Background() // a block found outside Run: tried once
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		f(ctx)
	}()
}

func (w *ledgerWrites) wait() { w.wg.Wait() }

// ledgerBlock hands a found block to the ledger, off the share path.
func (p *Pool) ledgerBlock(fb *mining.FoundBlock, hash sv2.U256, finder string) {
	if p.ledger != nil {
		p.writes.run(func(ctx context.Context) { p.recordBlock(ctx, fb, hash, finder) })
	}
}

// recordBlock writes a found block and its split to the ledger, trying
// again until it is written or the pool stops: a block's split is never
// dropped quietly.
func (p *Pool) recordBlock(ctx context.Context, fb *mining.FoundBlock, hash sv2.U256, finder string) {
	if p.ledger == nil {
		return
	}
	b := ledger.Block{Hash: chainhash.Hash(hash).String(), Found: p.now(), Finder: finder, State: ledger.Pending}
	if fb.Height > 0 {
		b.Height = uint32(fb.Height)
	}
	var cb wire.MsgTx
	if err := cb.Deserialize(bytes.NewReader(fb.Coinbase)); err == nil {
		for _, o := range cb.TxOut {
			b.Reward += uint64(max(o.Value, 0))
		}
	}
	if sub := network.Subsidy(p.net, fb.Height); fb.Height > 0 && b.Reward > uint64(sub) {
		b.Fees = b.Reward - uint64(sub)
	}
	window := p.windowSize(fb.Header.NBits)
	if p.coinbasePayouts() != nil && !fb.Custom {
		// Its coinbase paid a window already: that window's split.
		var err error
		if b.Split, b.InCoinbase, err = p.coinbaseSplit(&cb, b.Reward, p.rules); err != nil {
			p.log.Error("coinbase payouts: cannot split the block as its coinbase paid; the ledger splits the window at the block", "hash", b.Hash, "error", err)
			b.Split, b.InCoinbase = nil, nil
		}
		if b.InCoinbase != nil {
			b.CoinbaseTxid = cb.TxHash().String()
		}
	}
	retry := backoff.Backoff{Base: 100 * time.Millisecond, Cap: 10 * time.Second}
	for {
		// Each try gets a few seconds even as the pool stops.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		split, err := p.ledger.Block(wctx, b, window)
		cancel()
		if errors.Is(err, ledger.ErrInvalidSplit) && b.Split != nil {
			// Trying again cannot help: the ledger's split of the window
			// at the block, logged loudly, rather than no record.
			p.log.Error("COINBASE SPLIT REFUSED BY THE LEDGER: recording the window's split instead", "hash", b.Hash, "error", err)
			b.Split, b.InCoinbase, b.CoinbaseTxid = nil, nil, ""
			continue
		}
		if err == nil {
			p.log.Info("block recorded in the ledger", "hash", b.Hash, "height", b.Height, "reward", b.Reward, "split", fmt.Sprint(split))
			return
		}
		if ctx.Err() != nil {
			p.log.Error("BLOCK NOT IN THE LEDGER: the pool stopped before it could be written", "hash", b.Hash, "height", b.Height, "reward", b.Reward, "error", err)
			return
		}
		d := retry.Next()
		p.log.Error("cannot write a found block to the ledger; retrying", "hash", b.Hash, "error", err, "in", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// confirm follows the ledger's pending blocks on the node until ctx ends:
// Maturity deep on the node's chain, confirmed (their split is owed); another
// block at their height, orphaned. Without a node they stay pending.
func (p *Pool) confirm(ctx context.Context) {
	if p.ledger == nil || p.node == nil {
		return
	}
	every := p.cfg.Ledger.ConfirmEvery
	if every <= 0 {
		every = time.Minute
	}
	p.every(ctx, every, "ledger: cannot check pending blocks", p.confirmOnce)
}

// every runs f every d until ctx ends, logging its failures as what.
func (p *Pool) every(ctx context.Context, d time.Duration, what string, f func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn(what, "error", err)
			}
		}
	}
}

// confirmBatch bounds the blocks one check looks at.
const confirmBatch = 1000

func (p *Pool) confirmOnce(ctx context.Context) error {
	store := p.cfg.Ledger.Store
	blocks, err := store.Blocks(ctx, confirmBatch)
	if err != nil {
		return err
	}
	tip, err := p.node.GetBlockCount(ctx)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if b.State != ledger.Pending || int64(b.Height) > tip || b.Height == 0 {
			continue
		}
		at, err := p.node.GetBlockHash(ctx, int64(b.Height))
		if err != nil {
			return err
		}
		state := ledger.Pending
		switch {
		case at.String() != b.Hash:
			state = ledger.Orphaned
		case tip-int64(b.Height)+1 >= ledger.Maturity:
			state = ledger.Confirmed
		}
		if state == ledger.Pending {
			continue
		}
		if err := store.SetBlockState(ctx, b.Hash, state); err != nil {
			return err
		}
		p.log.Info("ledger: block "+state, "hash", b.Hash, "height", b.Height)
	}
	return nil
}

// serverIDClaim is how long a frontend's claim of its server id lasts
// unrenewed in the ledger; it is renewed every third of it. A frontend
// killed on another host holds its id up this long; restarted on the same
// host and listen address, it is the same holder and claims it at once.
const serverIDClaim = 30 * time.Second

// claimTries is how many times a frontend tries to claim its server id
// before serving without a claim (the ledger cannot be reached), a second
// apart; renewals try again.
const claimTries = 3

// holdServerID claims Config.ServerID in the ledger once the pool listens,
// renews the claim until ctx ends, then gives it up. Another running
// frontend holding the id is an error that stops the pool (their miners
// would hash the same headers); a ledger that cannot be reached is not.
// The holder is the host and the address listened on, which no two
// running frontends share.
func (p *Pool) holdServerID(ctx context.Context) error {
	if p.ledger == nil {
		return nil
	}
	addr, err := p.server.Addr(ctx)
	if err != nil {
		return nil // not listening: Run ends with the service's error
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	store, id, holder := p.cfg.Ledger.Store, p.cfg.ServerID, host+" "+addr.String()
	claim := func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return store.ClaimServerID(cctx, id, holder, serverIDClaim)
	}
	for try := 1; ; try++ {
		err := claim()
		if errors.Is(err, ledger.ErrServerIDTaken) {
			return fmt.Errorf("pool: --server-id %d: %w", id, err)
		}
		if err == nil || try == claimTries || ctx.Err() != nil {
			if err != nil {
				p.log.Warn("ledger: cannot claim the server id; serving, and trying again", "server_id", id, "error", err)
			}
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
	t := time.NewTicker(serverIDClaim / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := store.ReleaseServerID(rctx, id, holder); err != nil {
				p.log.Warn("ledger: cannot give the server id up; it expires by itself", "server_id", id, "in", serverIDClaim, "error", err)
			}
			return nil
		case <-t.C:
			switch err := claim(); {
			case errors.Is(err, ledger.ErrServerIDTaken):
				p.log.Error("ANOTHER FRONTEND HAS THIS SERVER ID: both hand out the same extranonce prefixes; give each a distinct --server-id", "server_id", id, "error", err)
			case err != nil && ctx.Err() == nil:
				p.log.Warn("ledger: cannot renew the server id's claim", "server_id", id, "error", err)
			}
		}
	}
}
