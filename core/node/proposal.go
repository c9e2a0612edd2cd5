package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire/v2"
)

// ProposeBlock asks the node whether block, serialized with its witnesses,
// would be a valid next block, without submitting it: a BIP 23 block
// proposal, getblocktemplate {"mode": "proposal", "data": <hex>}, which
// btcd and Bitcoin Core both serve. The node checks everything but the proof
// of work, so a job declaration server can vet a declared job's block
// before any miner works on it.
//
// It returns nil when the node finds the block valid; a *RejectedError with
// the node's reason, verbatim, when it does not (a BIP 22 reason such as
// "bad-txnmrklroot", Bitcoin Core's "bad-txns-inputs-missingorspent" or
// btcd's "bad-txns-missinginput", or an RPC error about the block such as
// -22 "Block decode failed"); and another error when the node could not
// judge it now: a connection failure, a node warming up or syncing, or a
// node that failed to run its checks (RPC error -25, which both nodes
// answer a proposal only for an internal failure, a database error, say).
// Only those are worth retrying.
//
// A block that does not build on the node's best block is refused without
// being checked further: btcd answers "bad-prevblk", Bitcoin Core
// "inconclusive-not-best-prevblk" (or "duplicate" when it has the block
// already). [RejectedError.StaleTip] recognises the first two: the block may
// well be valid on its own parent, but the tip has moved and the caller
// needs a new template, not a verdict on the job.
func (c *Client) ProposeBlock(ctx context.Context, block []byte) error {
	req := map[string]any{"mode": "proposal", "data": hex.EncodeToString(block)}
	// BIP 23: null when valid, otherwise a BIP 22 reason string.
	var reason *string
	if err := c.Call(ctx, "getblocktemplate", []any{req}, &reason); err != nil {
		var rpcErr *RPCError
		if errors.As(err, &rpcErr) && !nodeNotReady(rpcErr) && rpcErr.Code != codeVerifyError {
			return &RejectedError{Reason: rpcErr.Message, RPC: rpcErr}
		}
		return fmt.Errorf("node: propose block: %w", err)
	}
	if reason != nil {
		return &RejectedError{Reason: *reason}
	}
	return nil
}

// ProposeMsgBlock is ProposeBlock for a block not yet serialized.
func (c *Client) ProposeMsgBlock(ctx context.Context, block *wire.MsgBlock) error {
	var buf bytes.Buffer
	buf.Grow(block.SerializeSize())
	if err := block.Serialize(&buf); err != nil {
		return fmt.Errorf("node: propose block: %w", err)
	}
	return c.ProposeBlock(ctx, buf.Bytes())
}

// StaleTip reports a block proposal refused because the block does not build
// on the node's best block: btcd's "bad-prevblk" (and, should the tip move
// while it checks, "inconclusive-not-best-prvblk", so spelled), Bitcoin
// Core's "inconclusive-not-best-prevblk". Such a refusal says nothing about
// the block's transactions.
//
// It is meant for ProposeBlock's refusals: Bitcoin Core also says
// "bad-prevblk" to a submitted block whose parent is invalid, which is not
// a stale tip, but never to a proposal.
func (e *RejectedError) StaleTip() bool {
	if e.RPC != nil {
		return false
	}
	switch e.Reason {
	case "bad-prevblk", "inconclusive-not-best-prevblk", "inconclusive-not-best-prvblk":
		return true
	}
	return false
}
