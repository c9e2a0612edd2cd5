package pool

import (
	"context"
	"encoding/hex"
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

// blockKeep is how long an undelivered block is kept; past it, the chain has
// long moved on.
const blockKeep = time.Hour

// foundBlock is a block on its way to the network.
type foundBlock struct {
	*mining.FoundBlock
	height  int64
	finder  string
	at      time.Time
	viaTP   bool // handed to a connected template provider
	viaNode bool // answered by the node
}

// blocks gets found blocks to the network: at once through the template
// provider as SubmitSolution and, when a node RPC is configured, straight to
// the node as well; a block that could go neither way waits and is retried,
// and every step is logged. It runs on its own goroutine (run), fed by found.
type blocks struct {
	log    *slog.Logger
	node   *node.Client // nil without the direct path
	client *service.ClientService
	tmpl   *templates

	wake chan struct{}

	mu      sync.Mutex
	pending []*foundBlock
}

// found queues a block; it never blocks the share path.
func (b *blocks) found(fb *mining.FoundBlock, height int64, finder string) {
	hash := fb.Header.Hash()
	b.log.Warn("block found", "height", height, "hash", displayHash(hash), "finder", finder, "template", fb.TemplateID)
	b.mu.Lock()
	b.pending = append(b.pending, &foundBlock{FoundBlock: fb, height: height, finder: finder, at: time.Now()})
	b.mu.Unlock()
	b.kick()
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
				if !fb.viaTP && !fb.viaNode {
					b.log.Error("shutting down with an undelivered block", "height", fb.height, "hash", displayHash(fb.Header.Hash()))
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
	todo := append([]*foundBlock(nil), b.pending...)
	b.mu.Unlock()
	for _, fb := range todo {
		hash := displayHash(fb.Header.Hash())
		log := b.log.With("height", fb.height, "hash", hash)
		if !fb.viaTP {
			err := b.client.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: fb.SubmitSolution()})
			if err == nil {
				fb.viaTP = true
				log.Info("block sent to the template provider")
			} else if b.node == nil {
				log.Error("block not delivered yet: template provider unreachable and no node RPC configured; will retry", "error", err)
			}
		}
		if b.node != nil && !fb.viaNode {
			b.submitToNode(ctx, fb, log)
		}
		if b.done(fb) {
			b.remove(fb)
		} else if time.Since(fb.at) > blockKeep {
			log.Error("giving up on a block that could not be delivered for an hour")
			b.remove(fb)
		}
	}
}

// done: the node answered, or (without a node path) the provider has it.
func (b *blocks) done(fb *foundBlock) bool {
	return fb.viaNode || (b.node == nil && fb.viaTP)
}

func (b *blocks) submitToNode(ctx context.Context, fb *foundBlock, log *slog.Logger) {
	txs, ok := b.tmpl.transactions(fb.TemplateID)
	if !ok {
		log.Error("cannot build the block for the node: the template's transactions were not fetched")
		return
	}
	blk, err := block.Assemble(fb.Header, fb.Coinbase, txs)
	if err != nil {
		log.Error("cannot build the block for the node", "error", err)
		fb.viaNode = true // retrying cannot help
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = b.node.SubmitBlock(ctx, blk)
	var rej *node.RejectedError
	switch {
	case err == nil:
		fb.viaNode = true
		log.Info("block accepted by the node")
	case errors.As(err, &rej):
		fb.viaNode = true // the node has decided; "duplicate" means the provider was first
		log.Warn("node did not take the block", "reason", err)
	default:
		log.Error("node unreachable; will retry the block", "error", err)
	}
}

func (b *blocks) remove(fb *foundBlock) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range b.pending {
		if p == fb {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			return
		}
	}
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
