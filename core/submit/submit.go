// Package submit gets found blocks to the network, for every app that finds
// them on templates of its own template provider: the pool, and the job
// declarator client.
//
// A [Queue] takes each block a share completes ([Queue.Found]) and sends it
// at once as SubmitSolution to the template provider and, when a node RPC is
// configured, also assembles it and hands it to the node (submitblock). The
// provider sends no acknowledgement, so a block stays pending, and goes out
// again on every new provider connection ([Queue.Connected]), until the
// provider's SetNewPrevHash builds on it or on a rival at its height
// ([Queue.OnTip]), the node has answered for it, or an hour has passed
// (Config.GiveUpAfter). Undelivered blocks are retried every
// Config.RetryInterval by [Queue.Run].
//
// Every step is logged, and a block is never dropped without a log line
// saying why: found (warn), sent to the provider or accepted by the node
// (info), confirmed by the provider's new tip (info), refused by the node
// (warn), and at error level whatever may lose it: no way to send it yet,
// the node unreachable, a block that cannot be built for the node, another
// block taking its place, giving up, shutting down with it unconfirmed.
// [Queue.Counts] tells how many blocks ended which way, for stats.
package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
)

// Node takes whole blocks, as a node's submitblock does; *node.Client is
// one. SubmitBlock returns nil when the node took the block, an error
// wrapping a *node.RejectedError when the node refused it (for good: it is
// not sent to the node again), and any other error when the node could not
// be asked (the block is tried again).
type Node interface {
	SubmitBlock(ctx context.Context, b *wire.MsgBlock) error
}

var _ Node = (*node.Client)(nil)

// Config configures a Queue. Zero values take the documented defaults.
type Config struct {
	// SendSolution sends m to the template provider, returning an error when
	// there is no provider connection to send it on. Required. It is called
	// from Run's goroutine; ctx is Run's.
	SendSolution func(ctx context.Context, m *sv2.SubmitSolution) error
	// Node, when not nil, is the second path: each block is also assembled
	// from its template's transactions and submitted to it. Leave it nil
	// (not a nil *node.Client) for the provider path alone.
	Node Node
	// Transactions returns the transactions of a template, the coinbase
	// excluded, in block order, and whether it has them. Required with Node;
	// called from Run's goroutine.
	Transactions func(templateID uint64) ([][]byte, bool)
	// RetryInterval is how often undelivered blocks are tried again
	// (DefaultRetryInterval).
	RetryInterval time.Duration
	// GiveUpAfter is how long an unconfirmed block is kept; past it, the
	// chain has long moved on (DefaultGiveUpAfter).
	GiveUpAfter time.Duration
	// NodeTimeout bounds each submission to Node (DefaultNodeTimeout).
	NodeTimeout time.Duration
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
	NodeAccepted uint64 // the node took them
	NodeRefused  uint64 // the node refused them
	GaveUp       uint64 // unconfirmed for GiveUpAfter
}

// Queue gets found blocks to the network; see the package documentation.
// Found, Connected, OnTip and Counts are safe to call from any goroutine and
// never block on the network; Run does the sending, on its own goroutine.
type Queue struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	gen     uint64 // provider connections so far
	pending []*foundBlock
	counts  Counts // Pending is computed in Counts
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

// foundBlock is a block on its way to the network. Its fields are guarded
// by Queue.mu.
type foundBlock struct {
	*mining.FoundBlock
	hash    sv2.U256
	at      time.Time
	sent    bool   // sent to the provider, on connection sentGen
	sentGen uint64 // the provider connection it was last sent on
	noNode  bool   // the node path cannot build it; the provider path still may
	viaNode bool   // the node has answered for it
	settled bool   // confirmed on chain, or another block took its place
	outcome outcome
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}, nil
}

// Found queues a block with its header hash; finder says who found it, for
// the log. It never blocks the share path: Run sends the block.
func (q *Queue) Found(fb *mining.FoundBlock, hash sv2.U256, finder string) {
	q.log.Warn("block found", "height", fb.Height, "hash", displayHash(hash), "finder", finder, "template", fb.TemplateID)
	q.mu.Lock()
	q.pending = append(q.pending, &foundBlock{FoundBlock: fb, hash: hash, at: q.cfg.Now()})
	q.counts.Found++
	q.mu.Unlock()
	q.kick()
}

// Connected notes a new template provider connection: pending blocks go out
// on it. Call it from the provider connection's Connected handler.
func (q *Queue) Connected() {
	q.mu.Lock()
	q.gen++
	q.mu.Unlock()
	q.kick()
}

// OnTip settles pending blocks from the provider's new prev hash: ours
// (confirmed), or another block on the tip ours built on (lost the race).
// Call it with every SetNewPrevHash's prev_hash.
func (q *Queue) OnTip(prev sv2.U256) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, fb := range q.pending {
		switch {
		case fb.settled:
		case fb.hash == prev:
			fb.settled = true
			q.settle(fb, confirmed)
			q.log.Info("block confirmed: the template provider builds on it", "height", fb.Height, "hash", displayHash(fb.hash))
		case fb.Header.PrevHash != prev:
			fb.settled = true
			q.settle(fb, lost)
			q.log.Error("block lost: another block took its place", "height", fb.Height, "hash", displayHash(fb.hash), "tip", displayHash(prev))
		}
	}
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

// settle records the first outcome of fb; q.mu is held.
func (q *Queue) settle(fb *foundBlock, o outcome) {
	if fb.outcome != unsettled {
		return
	}
	fb.outcome = o
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
// connects and every RetryInterval otherwise, until ctx ends; then it logs
// every block still unconfirmed and returns nil (so a Queue is a
// service.Runner, to run beside the services). Run one Run at a time.
func (q *Queue) Run(ctx context.Context) error {
	tick := time.NewTicker(q.cfg.RetryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
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

// deliver makes one attempt for every unsettled block, then drops the blocks
// that are done.
func (q *Queue) deliver(ctx context.Context) {
	q.mu.Lock()
	gen := q.gen
	type job struct {
		fb           *foundBlock
		toTP, toNode bool
		hash         string
		height       int64
	}
	var jobs []job
	for _, fb := range q.pending {
		if fb.settled {
			continue
		}
		toTP := !fb.sent || fb.sentGen != gen
		toNode := q.cfg.Node != nil && !fb.viaNode && !fb.noNode
		jobs = append(jobs, job{fb, toTP, toNode, displayHash(fb.hash), fb.Height})
	}
	q.mu.Unlock()

	for _, j := range jobs {
		log := q.log.With("height", j.height, "hash", j.hash)
		if j.toTP {
			err := q.cfg.SendSolution(ctx, j.fb.SubmitSolution())
			if err == nil {
				q.mu.Lock()
				j.fb.sent, j.fb.sentGen = true, gen
				q.mu.Unlock()
				log.Info("block sent to the template provider")
			} else if q.cfg.Node == nil {
				log.Error("block not delivered yet: template provider unreachable and no node RPC configured; will retry", "error", err)
			} else if !j.toNode {
				log.Error("block not delivered yet: template provider unreachable and the node cannot take it; will retry", "error", err)
			}
		}
		if j.toNode {
			r := q.submitToNode(ctx, j.fb, log)
			q.mu.Lock()
			switch r {
			case nodeTook:
				j.fb.viaNode = true
				q.settle(j.fb, nodeAccepted)
			case nodeRefusedIt:
				j.fb.viaNode = true
				q.settle(j.fb, nodeRefused)
			case nodeCannot:
				j.fb.noNode = true
			}
			q.mu.Unlock()
		}
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Now()
	keep := q.pending[:0]
	for _, fb := range q.pending {
		switch {
		case fb.settled || fb.viaNode:
		case now.Sub(fb.at) > q.cfg.GiveUpAfter:
			q.settle(fb, gaveUp)
			q.log.Error("giving up on an unconfirmed block", "height", fb.Height, "hash", displayHash(fb.hash), "after", q.cfg.GiveUpAfter)
		default:
			keep = append(keep, fb)
		}
	}
	clear(q.pending[len(keep):])
	q.pending = keep
}

// nodeResult is how one submission to the node went.
type nodeResult int

const (
	nodeRetry     nodeResult = iota // worth trying again
	nodeTook                        // accepted
	nodeRefusedIt                   // refused: the node has answered for it
	nodeCannot                      // the block cannot be built for the node; retrying cannot help, the provider path may
)

// submitToNode hands the block to the node and says how it went.
func (q *Queue) submitToNode(ctx context.Context, fb *foundBlock, log *slog.Logger) nodeResult {
	txs, ok := q.cfg.Transactions(fb.TemplateID)
	if !ok {
		log.Error("cannot build the block for the node: the template's transactions were not fetched")
		return nodeRetry
	}
	blk, err := block.Assemble(fb.Header, fb.Coinbase, txs)
	if err != nil {
		log.Error("cannot build the block for the node; only the template provider can take it", "error", err)
		return nodeCannot
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.NodeTimeout)
	defer cancel()
	err = q.cfg.Node.SubmitBlock(ctx, blk)
	var rej *node.RejectedError
	switch {
	case err == nil:
		log.Info("block accepted by the node")
		return nodeTook
	case errors.As(err, &rej):
		log.Warn("node did not take the block", "reason", err) // "already have" means the provider was first
		return nodeRefusedIt
	default:
		log.Error("node unreachable; will retry the block", "error", err)
		return nodeRetry
	}
}

// displayHash shows a hash as block explorers do: byte-reversed hex.
func displayHash(h sv2.U256) string { return chainhash.Hash(h).String() }
