package jdserver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/node"
)

// pushed submits the blocks of PushSolution to the node, each on its own
// goroutine, retrying what fails for want of an answer until the node
// answers or giveUp passes: a valid block is never dropped quietly.
type pushed struct {
	node   Node
	log    *slog.Logger
	giveUp time.Duration
	ctx    context.Context // Run's: submissions outlive the client that pushed
	wg     sync.WaitGroup

	mu       sync.Mutex
	inFlight map[chainhash.Hash]bool
	// What became of the blocks: handed to the node (the rest count
	// nowhere: the same block again while it is on its way), and of those
	// accepted, refused, and never delivered (too many at once, or the node
	// unreachable until giveUp).
	submitted, accepted, refused, undelivered uint64
}

// maxInFlight bounds the pushed blocks being submitted at once. Each met
// the tip's target, so more than a few means a chain of trivial
// difficulty (regtest) or a broken node; past it a block is logged whole
// for an operator to submit, never kept without bound.
const maxInFlight = 64

// submit hands a block to the node unless it is already on its way.
func (p *pushed) submit(hash chainhash.Hash, raw []byte, from string) {
	p.mu.Lock()
	if p.inFlight[hash] || p.ctx == nil {
		p.mu.Unlock()
		return
	}
	if len(p.inFlight) >= maxInFlight {
		p.submitted++
		p.undelivered++
		p.mu.Unlock()
		p.log.Error("BLOCK NOT SUBMITTED: too many pushed blocks already on their way to the node", "hash", hash.String(), "from", from, "block", hex.EncodeToString(raw)) // for an operator to submitblock by hand
		return
	}
	p.inFlight[hash] = true
	p.submitted++
	p.wg.Add(1)
	p.mu.Unlock()
	p.log.Warn("block found: submitting it to the node", "hash", hash.String(), "from", from)
	go func() {
		defer p.wg.Done()
		defer func() { p.mu.Lock(); delete(p.inFlight, hash); p.mu.Unlock() }()
		p.run(hash, raw)
	}()
}

func (p *pushed) run(hash chainhash.Hash, raw []byte) {
	retry := backoff.Backoff{Base: 250 * time.Millisecond, Cap: 10 * time.Second}
	deadline := time.Now().Add(p.giveUp)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, nodeTimeout)
		err := p.node.SubmitRawBlock(ctx, raw)
		cancel()
		var rej *node.RejectedError
		switch {
		case err == nil:
			p.count(&p.accepted)
			p.log.Info("block accepted by the node", "hash", hash.String())
			return
		case errors.As(err, &rej) && rej.Duplicate():
			p.count(&p.accepted)
			p.log.Info("the node has the block already", "hash", hash.String())
			return
		case errors.As(err, &rej):
			p.count(&p.refused)
			p.log.Error("the node refused a pushed block", "hash", hash.String(), "reason", rej.Reason)
			return
		}
		if p.ctx.Err() != nil || time.Now().After(deadline) {
			p.count(&p.undelivered)
			p.log.Error("BLOCK NOT DELIVERED: the node could not be reached", "hash", hash.String(), "error", err, "block", hex.EncodeToString(raw)) // for an operator to submitblock by hand
			return
		}
		d := retry.Next()
		p.log.Error("cannot submit a block; retrying", "hash", hash.String(), "error", err, "in", d)
		select {
		case <-time.After(d):
		case <-p.ctx.Done():
		}
	}
}

func (p *pushed) count(n *uint64) { p.mu.Lock(); *n++; p.mu.Unlock() }

// wait returns once every submission has ended.
func (p *pushed) wait() { p.wg.Wait() }

// randomID is a token id: random, so that ids of JDS restarts and replicas
// do not meet.
func randomID() uint64 {
	var b [8]byte
	rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.LittleEndian.Uint64(b[:])
}
