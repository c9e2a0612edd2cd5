package pool

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// blockRetry is how often undelivered blocks are tried again.
const blockRetry = 2 * time.Second

// blockKeep is how long an unconfirmed block is kept; past it, the chain has
// long moved on.
const blockKeep = time.Hour

// foundBlock is a block on its way to the network. Its fields are guarded
// by blocks.mu.
type foundBlock struct {
	*mining.FoundBlock
	hash    sv2.U256
	at      time.Time
	sentGen uint64 // the provider connection it was last sent on (0: none)
	viaNode bool   // the node has answered for it
	settled bool   // confirmed on chain, or another block took its place
}

// blocks gets found blocks to the network: at once through the template
// provider as SubmitSolution and, when a node RPC is configured, straight to
// the node as well. The provider sends no acknowledgement, so a block stays
// pending, and is sent again on every new provider connection, until the
// provider's SetNewPrevHash builds on it (or on a rival at its height).
// Every step is logged. It runs on its own goroutine (run), fed by found.
type blocks struct {
	log    *slog.Logger
	node   *node.Client // nil without the direct path
	client *service.ClientService
	tmpl   *templates

	wake chan struct{}

	mu      sync.Mutex
	gen     uint64 // provider connections so far
	pending []*foundBlock
}

// found queues a block with its header hash; it never blocks the share path.
func (b *blocks) found(fb *mining.FoundBlock, hash sv2.U256, finder string) {
	b.log.Warn("block found", "height", fb.Height, "hash", displayHash(hash), "finder", finder, "template", fb.TemplateID)
	b.mu.Lock()
	b.pending = append(b.pending, &foundBlock{FoundBlock: fb, hash: hash, at: time.Now()})
	b.mu.Unlock()
	b.kick()
}

// connected notes a new provider connection: pending blocks go out on it.
func (b *blocks) connected() {
	b.mu.Lock()
	b.gen++
	b.mu.Unlock()
	b.kick()
}

// onTip settles pending blocks from the provider's new prev hash: ours
// (confirmed), or another block on the tip ours built on (lost the race).
func (b *blocks) onTip(prev sv2.U256) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, fb := range b.pending {
		switch {
		case fb.settled:
		case fb.hash == prev:
			fb.settled = true
			b.log.Info("block confirmed: the template provider builds on it", "height", fb.Height, "hash", displayHash(fb.hash))
		case fb.Header.PrevHash != prev:
			fb.settled = true
			b.log.Error("block lost: another block took its place", "height", fb.Height, "hash", displayHash(fb.hash), "tip", displayHash(prev))
		}
	}
}

func (b *blocks) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// run delivers pending blocks until ctx ends.
func (b *blocks) run(ctx context.Context) {
	tick := time.NewTicker(blockRetry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			b.mu.Lock()
			for _, fb := range b.pending {
				if !fb.settled && !fb.viaNode {
					b.log.Error("shutting down with an unconfirmed block", "height", fb.Height, "hash", displayHash(fb.hash))
				}
			}
			b.mu.Unlock()
			return
		case <-b.wake:
		case <-tick.C:
		}
		b.deliver(ctx)
	}
}

func (b *blocks) deliver(ctx context.Context) {
	b.mu.Lock()
	gen := b.gen
	type job struct {
		fb           *foundBlock
		toTP, toNode bool
		hash         string
		height       int64
	}
	var jobs []job
	for _, fb := range b.pending {
		if fb.settled {
			continue
		}
		jobs = append(jobs, job{fb, fb.sentGen != gen, b.node != nil && !fb.viaNode, displayHash(fb.hash), fb.Height})
	}
	b.mu.Unlock()

	for _, j := range jobs {
		log := b.log.With("height", j.height, "hash", j.hash)
		if j.toTP {
			err := b.client.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: j.fb.SubmitSolution()})
			if err == nil {
				b.mu.Lock()
				j.fb.sentGen = gen
				b.mu.Unlock()
				log.Info("block sent to the template provider")
			} else if b.node == nil {
				log.Error("block not delivered yet: template provider unreachable and no node RPC configured; will retry", "error", err)
			}
		}
		if j.toNode && b.submitToNode(ctx, j.fb, log) {
			b.mu.Lock()
			j.fb.viaNode = true
			b.mu.Unlock()
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	keep := b.pending[:0]
	for _, fb := range b.pending {
		switch {
		case fb.settled || fb.viaNode:
		case time.Since(fb.at) > blockKeep:
			b.log.Error("giving up on a block unconfirmed for an hour", "height", fb.Height, "hash", displayHash(fb.hash))
		default:
			keep = append(keep, fb)
		}
	}
	b.pending = keep
}

// submitToNode hands the block to the node and reports whether the node
// has answered for it (accepted, or refused for good).
func (b *blocks) submitToNode(ctx context.Context, fb *foundBlock, log *slog.Logger) bool {
	txs, ok := b.tmpl.transactions(fb.TemplateID)
	if !ok {
		log.Error("cannot build the block for the node: the template's transactions were not fetched")
		return false
	}
	blk, err := block.Assemble(fb.Header, fb.Coinbase, txs)
	if err != nil {
		log.Error("cannot build the block for the node", "error", err)
		return true // retrying cannot help; the provider path may
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = b.node.SubmitBlock(ctx, blk)
	var rej *node.RejectedError
	switch {
	case err == nil:
		log.Info("block accepted by the node")
		return true
	case errors.As(err, &rej):
		log.Warn("node did not take the block", "reason", err) // "already have" means the provider was first
		return true
	default:
		log.Error("node unreachable; will retry the block", "error", err)
		return false
	}
}
