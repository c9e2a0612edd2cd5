// Package submit gets found blocks to the network, for every app that finds
// them on templates of its own template provider: the pool, and the job
// declarator client.
//
// A [Queue] takes each block a share completes ([Queue.Found]) and sends it
// at once as SubmitSolution to the template provider and, when a node RPC is
// configured, also assembles it and hands it to the node (submitblock). The
// two paths run independently, each attempt for each block on a goroutine
// of its own: a slow or unreachable node delays nothing else. The provider sends no
// acknowledgement, so a block stays pending until the provider's
// SetNewPrevHash builds on it or on a rival at its height ([Queue.OnTip]),
// the node has answered for it, or an hour has passed (Config.GiveUpAfter).
// Undelivered blocks are retried every Config.RetryInterval by [Queue.Run].
//
// A template id means something only on the provider connection that sent
// the template: a provider that restarts numbers its templates again, and a
// SubmitSolution with an id of an earlier connection would name an
// unrelated template. So a block goes to the provider only on the
// connection whose tip it was found on (the connection of the latest
// [Queue.OnTip] when [Queue.Found] is called), and after a reconnect
// ([Queue.Connected]) it is never sent by id again: the node path, which
// needs no id, delivers it (the block is assembled as soon as its template's
// transactions are known, and kept, so a reconnect does not lose them).
// Without a node the Queue cannot deliver such a block: it says so at error
// level, once, and keeps the block until a tip settles it (the earlier
// provider may have submitted it) or it gives up.
//
// Every step is logged, and a block is never dropped without a log line
// saying why: found (warn), sent to the provider or accepted by the node
// (info), already on the node, the other path having got there first
// (info), stored by the node without a verdict ("inconclusive", warn),
// confirmed by the provider's new tip (info), and at error level whatever
// may lose it: no way to send it yet, the node unreachable or refusing the
// block, a block that cannot be built for the node, a provider reconnect
// with no node to take the block, another block taking its place, giving
// up, shutting down with it unconfirmed. [Queue.Counts] tells how many
// blocks ended which way, for stats, and [Queue.Recent] how the latest did.
package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// Defaults for zero Config fields.
const (
	DefaultRetryInterval = 2 * time.Second
	DefaultGiveUpAfter   = time.Hour
	DefaultNodeTimeout   = 30 * time.Second
	// DefaultKeepRecent is how many of the latest found blocks Recent
	// reports when Config.KeepRecent is zero.
	DefaultKeepRecent = 32
)

// Node takes whole blocks, as a node's submitblock does; *node.Client is
// one. SubmitBlock returns nil when the node took the block, an error
// wrapping a *node.RejectedError when the node refused it, with a BIP22
// reason or an RPC error about the block such as -22 "Block decode failed"
// (it is not sent to the node again; a Reason saying the node already has
// the block counts as delivered, see [Queue]), and any other error when the
// node could not be asked or cannot take blocks yet (the block is tried
// again). It may be called for several blocks at once.
type Node interface {
	SubmitBlock(ctx context.Context, b *wire.MsgBlock) error
}

var _ Node = (*node.Client)(nil)

// Config configures a Queue. Zero values take the documented defaults.
type Config struct {
	// SendSolution sends m to the template provider, returning an error when
	// there is no provider connection to send it on. Required. It is called
	// from the Queue's delivery goroutines, for several blocks at once; ctx
	// is Run's.
	SendSolution func(ctx context.Context, m *sv2.SubmitSolution) error
	// Node, when not nil, is the second path: each block is also assembled
	// from its template's transactions and submitted to it, and it is the
	// only path for a block found before the provider reconnected. Leave it
	// nil (not a nil *node.Client) for the provider path alone.
	Node Node
	// Transactions returns the transactions of a template, the coinbase
	// excluded, in block order, and whether it has them. Required with Node;
	// called from the Queue's delivery goroutines, possibly at once.
	Transactions func(templateID uint64) ([][]byte, bool)
	// CustomTransactions returns the declared transactions of a block
	// found on a custom job (FoundBlock.Custom), the coinbase excluded, in
	// block order, and whether it has them: a pool running its job
	// declarator in-process has them. Without it (or without Node) such a
	// block is the miner's job declarator client's to submit, and its JDS's
	// (§6.3.2); the Queue logs that and waits for a tip to settle it. A
	// custom block never goes to the template provider: its template id
	// names none of the provider's templates.
	CustomTransactions func(fb *mining.FoundBlock) ([][]byte, bool)
	// RetryInterval is how often undelivered blocks are tried again
	// (DefaultRetryInterval).
	RetryInterval time.Duration
	// GiveUpAfter is how long an unconfirmed block is kept; past it, the
	// chain has long moved on (DefaultGiveUpAfter).
	GiveUpAfter time.Duration
	// NodeTimeout bounds each submission to Node (DefaultNodeTimeout).
	NodeTimeout time.Duration
	// KeepRecent is how many of the latest found blocks Recent reports
	// (DefaultKeepRecent).
	KeepRecent int
	// Logger receives the log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock for GiveUpAfter (time.Now).
	Now func() time.Time
}

// ErrConfig wraps the errors of New.
var ErrConfig = errors.New("submit: invalid configuration")

// Counts tells what became of the blocks given to Found. Each block counts
// once, for the first thing that settles it; the rest are Pending.
type Counts struct {
	Found        uint64 // blocks given to Found
	Pending      int    // still being delivered
	Confirmed    uint64 // the template provider built on them
	Lost         uint64 // another block took their place
	NodeAccepted uint64 // the node took them, or already had them ("duplicate")
	NodeRefused  uint64 // the node refused them
	GaveUp       uint64 // unconfirmed for GiveUpAfter
}

// Chain tells where the blocks given to Found ended, whatever settled them
// first (Counts): on the chain, a tip built on them; off it, another block
// took their place (after the node took them or not), the node refused
// them, or they were given up. The others are on their way, or taken by
// the node with no tip since.
type Chain struct {
	On, Off uint64
}

// Recent is one of the latest blocks given to Found.
type Recent struct {
	Height  uint32   // 0 when the block's template did not say
	Hash    sv2.U256 // header hash, as the Queue keeps it
	Finder  string
	Found   time.Time
	Outcome string // "" while unsettled; else "confirmed", "lost", "node-accepted", "node-refused", "gave-up": what Counts counted it as
	// Chain is where the block is: "pending" (on its way), "accepted" (the
	// node took it; no tip since), "confirmed" (a tip built on it) or
	// "lost" (not on the chain): what OnChain and OffChain count.
	Chain string

	prev sv2.U256 // the block's parent, for OnTip
}

// The values of Recent.Chain.
const (
	ChainPending   = "pending"
	ChainAccepted  = "accepted"
	ChainConfirmed = "confirmed"
	ChainLost      = "lost"
)

// Queue gets found blocks to the network; see the package documentation.
// Found, Connected, OnTip, Counts and Recent are safe to call from any
// goroutine and never block on the network; Run does the sending, on
// goroutines of its own.
type Queue struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
	jobs sync.WaitGroup // deliveries under way

	mu      sync.Mutex
	gen     uint64 // provider connections so far: the current one's number
	workGen uint64 // the connection that sent the latest tip: the one new blocks' template ids belong to
	pending []*foundBlock
	counts  Counts // Pending is computed in Counts
	chain   Chain
	recent  []*Recent // the latest KeepRecent blocks found, oldest first; shared with their foundBlocks, which settle them
}

// outcome is what settled a block, for Counts.
type outcome int

const (
	unsettled outcome = iota
	confirmed
	lost
	nodeAccepted
	nodeRefused
	gaveUp
)

// String names the outcome as Recent.Outcome does: "" for unsettled.
func (o outcome) String() string {
	switch o {
	case unsettled:
		return ""
	case confirmed:
		return "confirmed"
	case lost:
		return "lost"
	case nodeAccepted:
		return "node-accepted"
	case nodeRefused:
		return "node-refused"
	case gaveUp:
		return "gave-up"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// foundBlock is a block on its way to the network. Its fields are guarded
// by Queue.mu.
type foundBlock struct {
	*mining.FoundBlock
	hash     sv2.U256
	at       time.Time
	gen      uint64         // the provider connection its template id belongs to; it goes by id on no other
	sent     bool           // sent to the provider, on connection gen
	toTP     bool           // a SubmitSolution is under way
	toNode   bool           // a submission to the node is under way
	blk      *wire.MsgBlock // assembled for the node, once its transactions were known
	noNode   bool           // the node path cannot build it; the provider path still may
	nodeDone bool           // the node stored it without a verdict (inconclusive): not sent to it again
	viaNode  bool           // the node has answered for it: it is done
	toldGen  bool           // the reconnect that stops the provider path was logged
	toldLost bool           // that no path is left was logged
	settled  bool           // confirmed on chain, or another block took its place
	outcome  outcome
	// rec is the block's entry for Recent. It is its own allocation, not
	// the foundBlock, so that the entries kept after the block is done
	// hold no assembled block; and an entry pushed out of Queue.recent is
	// still this block's alone, so settling it there changes nothing shown.
	rec *Recent
}

// New checks cfg and returns a Queue; Run starts its deliveries.
func New(cfg Config) (*Queue, error) {
	switch {
	case cfg.SendSolution == nil:
		return nil, fmt.Errorf("%w: no SendSolution", ErrConfig)
	case cfg.Node != nil && cfg.Transactions == nil:
		return nil, fmt.Errorf("%w: a Node without Transactions", ErrConfig)
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = DefaultGiveUpAfter
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = DefaultNodeTimeout
	}
	if cfg.KeepRecent <= 0 {
		cfg.KeepRecent = DefaultKeepRecent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), recent: make([]*Recent, 0, cfg.KeepRecent)}, nil
}

// Found queues a block with its header hash; finder says who found it, for
// the log. Its template id is taken to belong to the provider connection
// that sent the latest tip (OnTip). It never blocks the share path: Run
// sends the block.
func (q *Queue) Found(fb *mining.FoundBlock, hash sv2.U256, finder string) {
	q.log.Warn("block found", "height", fb.Height, "hash", displayHash(hash), "finder", finder, "template", fb.TemplateID)
	now := q.cfg.Now()
	rec := &Recent{Height: recentHeight(fb.Height), Hash: hash, Finder: finder, Found: now, Chain: ChainPending, prev: fb.Header.PrevHash}
	q.mu.Lock()
	q.pending = append(q.pending, &foundBlock{FoundBlock: fb, hash: hash, at: now, gen: q.workGen, rec: rec})
	q.counts.Found++
	if len(q.recent) == q.cfg.KeepRecent {
		// Shift out the oldest, in place: the list never holds more than
		// KeepRecent entries, nor reallocates, however many are found.
		n := copy(q.recent, q.recent[1:])
		q.recent[n] = nil
		q.recent = q.recent[:n]
	}
	q.recent = append(q.recent, rec)
	q.mu.Unlock()
	q.kick()
}

// Connected notes a new template provider connection. Template ids of
// earlier connections mean nothing on it, so blocks found before it are
// not sent to it: the node path delivers them. Call it from the provider
// connection's Connected handler, before any of its templates.
func (q *Queue) Connected() {
	q.mu.Lock()
	q.gen++
	q.mu.Unlock()
	q.kick()
}

// OnTip settles pending blocks from the provider's new prev hash: ours
// (confirmed), or another block on the tip ours built on (lost the race).
// Blocks found from now on are on this connection's templates. Call it
// with every SetNewPrevHash's prev_hash.
func (q *Queue) OnTip(prev sv2.U256) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.workGen = q.gen
	for _, fb := range q.pending {
		switch {
		case fb.settled:
		case fb.hash == prev:
			fb.settled = true
			q.settle(fb, confirmed)
			q.moveOn(fb.rec, ChainConfirmed) // also when the node's answer settled it first
			q.log.Info("block confirmed: the template provider builds on it", "height", fb.Height, "hash", displayHash(fb.hash))
		case fb.Header.PrevHash != prev:
			fb.settled = true
			q.settle(fb, lost)
			q.moveOn(fb.rec, ChainLost)
			q.log.Error("block lost: another block took its place", "height", fb.Height, "hash", displayHash(fb.hash), "tip", displayHash(prev))
		}
	}
	// Blocks the node took are done with, but not yet where they end: the
	// tip says.
	for _, r := range q.recent {
		switch {
		case r.Chain != ChainAccepted:
		case r.Hash == prev:
			q.moveOn(r, ChainConfirmed)
			q.log.Info("block confirmed: the template provider builds on it", "height", r.Height, "hash", displayHash(r.Hash))
		case r.prev != prev:
			q.moveOn(r, ChainLost)
			q.log.Error("block lost: the node took it, but another block took its place", "height", r.Height, "hash", displayHash(r.Hash), "tip", displayHash(prev))
		}
	}
}

// moveOn moves a block to where it is now, counting where it ends; q.mu is
// held. An end is final.
func (q *Queue) moveOn(r *Recent, to string) {
	if r.Chain == ChainConfirmed || r.Chain == ChainLost || r.Chain == to {
		return
	}
	r.Chain = to
	switch to {
	case ChainConfirmed:
		q.chain.On++
	case ChainLost:
		q.chain.Off++
	}
}

// Chain returns where the blocks found so far ended.
func (q *Queue) Chain() Chain {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.chain
}

// Counts returns what became of the blocks found so far.
func (q *Queue) Counts() Counts {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.counts
	for _, fb := range q.pending {
		if fb.outcome == unsettled {
			c.Pending++
		}
	}
	return c
}

// Recent returns the latest blocks given to Found, newest first, at most
// Config.KeepRecent of them. A block's Outcome stays reported after the
// Queue is done with it.
func (q *Queue) Recent() []Recent {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Recent, len(q.recent))
	for i, r := range q.recent {
		out[len(out)-1-i] = *r
	}
	return out
}

// recentHeight is a FoundBlock's height as Recent holds it: 0 for the -1
// of a template that did not say (no found block can be the genesis
// block, so 0 is unambiguous).
func recentHeight(h int64) uint32 {
	if h < 0 || h > math.MaxUint32 {
		return 0
	}
	return uint32(h)
}

// settle records the first outcome of fb; q.mu is held.
func (q *Queue) settle(fb *foundBlock, o outcome) {
	if fb.outcome != unsettled {
		return
	}
	fb.outcome = o
	fb.rec.Outcome = o.String()
	switch o {
	case nodeAccepted:
		q.moveOn(fb.rec, ChainAccepted)
	case confirmed:
		q.moveOn(fb.rec, ChainConfirmed)
	default:
		q.moveOn(fb.rec, ChainLost)
	}
	switch o {
	case confirmed:
		q.counts.Confirmed++
	case lost:
		q.counts.Lost++
	case nodeAccepted:
		q.counts.NodeAccepted++
	case nodeRefused:
		q.counts.NodeRefused++
	case gaveUp:
		q.counts.GaveUp++
	}
}

func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers pending blocks, at once when one is found or the provider
// connects and every RetryInterval otherwise, until ctx ends; then it waits
// for the deliveries under way (each ends with ctx), logs every block still
// unconfirmed and returns nil (so a Queue is a service.Runner, to run beside
// the services). Run one Run at a time.
func (q *Queue) Run(ctx context.Context) error {
	tick := time.NewTicker(q.cfg.RetryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			q.jobs.Wait()
			q.mu.Lock()
			for _, fb := range q.pending {
				if !fb.settled && !fb.viaNode {
					q.log.Error("shutting down with an unconfirmed block", "height", fb.Height, "hash", displayHash(fb.hash))
				}
			}
			q.mu.Unlock()
			return nil
		case <-q.wake:
		case <-tick.C:
		}
		q.deliver(ctx)
	}
}

// deliver drops the blocks that are done and starts, on goroutines of their
// own, an attempt on each path that is free for every other block: no
// attempt waits for another. It does not wait for them.
func (q *Queue) deliver(ctx context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	gen := q.gen
	now := q.cfg.Now()
	keep := q.pending[:0]
	for _, fb := range q.pending {
		switch {
		case fb.settled || fb.viaNode:
			continue
		case now.Sub(fb.at) > q.cfg.GiveUpAfter:
			q.settle(fb, gaveUp)
			q.log.Error("giving up on an unconfirmed block", "height", fb.Height, "hash", displayHash(fb.hash), "after", q.cfg.GiveUpAfter)
			continue
		}
		keep = append(keep, fb)
		log := q.log.With("height", fb.Height, "hash", displayHash(fb.hash))
		byNode := q.cfg.Node != nil && !fb.noNode && (!fb.Custom || q.cfg.CustomTransactions != nil)
		if byNode && !fb.nodeDone && !fb.toNode {
			fb.toNode = true
			q.jobs.Go(func() { q.toNode(ctx, fb, gen, log) })
		}
		switch {
		case fb.Custom:
			if !byNode && !fb.toldLost {
				fb.toldLost = true
				log.Warn("block found on a custom job: the miner's job declarator client submits it, and its JDS; this pool has not its transactions, so it waits for a tip to settle it")
			}
		case fb.toTP || fb.sent && fb.gen == gen:
		case fb.gen == gen:
			fb.toTP = true
			nodeToo := byNode
			q.jobs.Go(func() { q.toProvider(ctx, fb, gen, nodeToo, log) })
		case byNode:
			if !fb.toldGen {
				fb.toldGen = true
				log.Info("template provider reconnected: the block is left to the node, its template id belonging to the earlier connection", "template", fb.TemplateID)
			}
		case !fb.toldLost:
			fb.toldLost = true
			reason := "no node RPC is configured"
			if q.cfg.Node != nil {
				reason = "the node cannot take it"
			}
			log.Error("block cannot be delivered: the template provider reconnected, so its template id belongs to the earlier connection, and "+reason+"; keeping it until a tip settles it",
				"template", fb.TemplateID, "sent_before", fb.sent)
		}
	}
	clear(q.pending[len(keep):])
	q.pending = keep
}

// toProvider sends the block's SubmitSolution on provider connection gen.
// nodeToo says the node path has the block too (trying it, or holding it
// stored), and says what becomes of it there.
func (q *Queue) toProvider(ctx context.Context, fb *foundBlock, gen uint64, nodeToo bool, log *slog.Logger) {
	err := q.cfg.SendSolution(ctx, fb.SubmitSolution())
	q.mu.Lock()
	fb.toTP = false
	fb.sent = err == nil
	moved := q.gen != gen
	q.mu.Unlock()
	switch {
	case err == nil && moved:
		// Connected ran while the message was on its way: it may have gone
		// on the new connection. Nothing can call it back.
		log.Error("block sent to the template provider as it reconnected: it may have gone with a template id of the earlier connection", "template", fb.TemplateID)
	case err == nil:
		log.Info("block sent to the template provider")
	case q.cfg.Node == nil:
		log.Error("block not delivered yet: template provider unreachable and no node RPC configured; will retry", "error", err)
	case !nodeToo:
		log.Error("block not delivered yet: template provider unreachable and the node cannot take it; will retry", "error", err)
	}
}

// toNode makes one submission of the block to the node, and records how it
// went.
func (q *Queue) toNode(ctx context.Context, fb *foundBlock, gen uint64, log *slog.Logger) {
	r := q.submitToNode(ctx, fb, gen, log)
	q.mu.Lock()
	defer q.mu.Unlock()
	fb.toNode = false
	switch r {
	case nodeTook:
		fb.viaNode = true
		q.settle(fb, nodeAccepted)
	case nodeRefusedIt:
		fb.viaNode = true
		q.settle(fb, nodeRefused)
	case nodeStored:
		fb.nodeDone = true
	case nodeCannot:
		fb.noNode = true
	}
}

// nodeResult is how one submission to the node went.
type nodeResult int

const (
	nodeRetry     nodeResult = iota // worth trying again
	nodeTook                        // accepted, or the node had it already
	nodeRefusedIt                   // refused: the node has answered for it
	nodeStored                      // stored without a verdict: sending it again cannot help
	nodeCannot                      // the block cannot be built for the node; retrying cannot help, the provider path may
)

// submitToNode hands the block to the node and says how it went. gen is
// the provider connection at the start of the attempt.
func (q *Queue) submitToNode(ctx context.Context, fb *foundBlock, gen uint64, log *slog.Logger) nodeResult {
	q.mu.Lock()
	blk := fb.blk
	q.mu.Unlock()
	if blk == nil {
		txs, ok := q.transactions(fb.FoundBlock)
		if !ok {
			log.Error("cannot build the block for the node: the template's transactions were not fetched")
			return nodeRetry
		}
		var err error
		if blk, err = block.Assemble(fb.Header, fb.Coinbase, txs); err != nil {
			if fb.gen != gen {
				// After a reconnect, the id may name another template now.
				log.Error("cannot build the block for the node: its template's transactions went with the earlier template provider connection", "error", err)
			} else {
				log.Error("cannot build the block for the node; only the template provider can take it", "error", err)
			}
			return nodeCannot
		}
		q.mu.Lock()
		fb.blk = blk // a reconnect cannot take the transactions away now
		q.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.NodeTimeout)
	defer cancel()
	err := q.cfg.Node.SubmitBlock(ctx, blk)
	var rej *node.RejectedError
	switch {
	case err == nil:
		log.Info("block accepted by the node")
		return nodeTook
	case !errors.As(err, &rej):
		log.Error("node unreachable; will retry the block", "error", err)
		return nodeRetry
	case rej.RPC != nil:
		log.Error("node rejected the block", "reason", rej.Reason, "rpc_error", rej.RPC.Code)
		return nodeRefusedIt
	}
	switch rejection(rej) {
	case duplicate:
		log.Info("block already on the node: delivered, the other path got there first", "reason", rej.Reason)
		return nodeTook
	case inconclusive:
		log.Warn("node stored the block without judging it; waiting for a tip to settle it", "reason", rej.Reason)
		return nodeStored
	default:
		log.Error("node rejected the block", "reason", rej.Reason)
		return nodeRefusedIt
	}
}

// transactions returns the transactions of a found block's template or,
// for a custom job, of its declaration.
func (q *Queue) transactions(fb *mining.FoundBlock) ([][]byte, bool) {
	if fb.Custom {
		return q.cfg.CustomTransactions(fb)
	}
	return q.cfg.Transactions(fb.TemplateID)
}

// What a node's refusal means.
const (
	refused      = iota // the node judged the block and refused it
	duplicate           // the node has the block, valid: delivered
	inconclusive        // the node stored the block but has no verdict (not on its best chain, say)
)

// rejection sorts a submitblock reason: Bitcoin Core's BIP22 strings
// ("duplicate", "inconclusive", "duplicate-inconclusive"; but
// "duplicate-invalid" is a refusal) and btcd's "rejected: already have
// block ..." (" (orphan) ...": stored, its parent unknown).
func rejection(rej *node.RejectedError) int {
	switch {
	case rej.Inconclusive():
		return inconclusive
	case rej.Duplicate():
		return duplicate
	}
	return refused
}

// displayHash shows a hash as block explorers do: byte-reversed hex.
func displayHash(h sv2.U256) string { return chainhash.Hash(h).String() }
