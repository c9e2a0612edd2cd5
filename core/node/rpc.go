package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Tip is the node's best block.
type Tip struct {
	Hash   chainhash.Hash
	Height int64
}

func (t Tip) String() string { return fmt.Sprintf("%d/%s", t.Height, t.Hash) }

// GetBlockCount returns the height of the best block.
func (c *Client) GetBlockCount(ctx context.Context) (int64, error) {
	var n int64
	err := c.Call(ctx, "getblockcount", nil, &n)
	return n, err
}

// GetBestBlockHash returns the hash of the best block.
func (c *Client) GetBestBlockHash(ctx context.Context) (chainhash.Hash, error) {
	var s string
	if err := c.Call(ctx, "getbestblockhash", nil, &s); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := parseHash("getbestblockhash", s)
	return h, c.badReply(err)
}

// GetBlockHash returns the hash of the best chain's block at height.
func (c *Client) GetBlockHash(ctx context.Context, height int64) (chainhash.Hash, error) {
	var s string
	if err := c.Call(ctx, "getblockhash", []any{height}, &s); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := parseHash("getblockhash", s)
	return h, c.badReply(err)
}

// Tip returns the best block's hash and height, read consistently (the
// height is that of the returned hash, even if a block arrives between the
// two requests).
func (c *Client) Tip(ctx context.Context) (Tip, error) {
	hash, err := c.GetBestBlockHash(ctx)
	if err != nil {
		return Tip{}, err
	}
	info, err := c.headerInfo(ctx, hash)
	if err != nil {
		return Tip{}, err
	}
	return Tip{Hash: hash, Height: info.Height}, nil
}

type headerVerbose struct {
	Height   int64  `json:"height"`
	Previous string `json:"previousblockhash"`
}

func (c *Client) headerInfo(ctx context.Context, hash chainhash.Hash) (headerVerbose, error) {
	var h headerVerbose
	err := c.Call(ctx, "getblockheader", []any{hash.String(), true}, &h)
	return h, err
}

// GetBlockHeader returns the header of the block with the given hash.
func (c *Client) GetBlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error) {
	raw, err := c.callHex(ctx, "getblockheader", []any{hash.String(), false})
	if err != nil {
		return nil, err
	}
	var h wire.BlockHeader
	if err := h.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, c.badReply(fmt.Errorf("%w: getblockheader: %w", ErrMalformedReply, err))
	}
	return &h, nil
}

// GetBlock returns the block with the given hash, witnesses included.
func (c *Client) GetBlock(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	raw, err := c.callHex(ctx, "getblock", []any{hash.String(), 0})
	if err != nil {
		return nil, err
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, c.badReply(fmt.Errorf("%w: getblock: %w", ErrMalformedReply, err))
	}
	return &b, nil
}

// GetRawMempool returns the txids of every transaction in the mempool.
func (c *Client) GetRawMempool(ctx context.Context) ([]chainhash.Hash, error) {
	var ss []string
	if err := c.Call(ctx, "getrawmempool", []any{false}, &ss); err != nil {
		return nil, err
	}
	out := make([]chainhash.Hash, len(ss))
	for i, s := range ss {
		h, err := parseHash("getrawmempool", s)
		if err != nil {
			return nil, c.badReply(err)
		}
		out[i] = h
	}
	return out, nil
}

// GetRawTransaction returns a mempool transaction, or a confirmed one when the
// node keeps a transaction index. An unknown txid is an *RPCError with code
// CodeInvalidAddrKey (-5).
func (c *Client) GetRawTransaction(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	raw, err := c.callHex(ctx, "getrawtransaction", []any{txid.String(), 0})
	if err != nil {
		return nil, err
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, c.badReply(fmt.Errorf("%w: getrawtransaction: %w", ErrMalformedReply, err))
	}
	return &tx, nil
}

// SendRawTransaction broadcasts tx and returns its txid.
func (c *Client) SendRawTransaction(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return chainhash.Hash{}, fmt.Errorf("node: sendrawtransaction: %w", err)
	}
	var s string
	if err := c.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(buf.Bytes())}, &s); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := parseHash("sendrawtransaction", s)
	return h, c.badReply(err)
}

// SubmitBlock serializes block (with witnesses) and submits it. It returns
// nil when the node accepted the block, a *RejectedError with the node's
// reason when it refused it (a BIP22 reason, or an RPC error about the block
// such as -22 "Block decode failed"), or another error when the submission
// itself failed or the node could not take it now (a connection failure, an
// RPC error such as -28 "Loading block index"): only those are worth
// retrying.
func (c *Client) SubmitBlock(ctx context.Context, block *wire.MsgBlock) error {
	var buf bytes.Buffer
	buf.Grow(block.SerializeSize())
	if err := block.Serialize(&buf); err != nil {
		return fmt.Errorf("node: submitblock: %w", err)
	}
	return c.SubmitRawBlock(ctx, buf.Bytes())
}

// SubmitRawBlock is SubmitBlock for an already serialized block.
func (c *Client) SubmitRawBlock(ctx context.Context, block []byte) error {
	// BIP22: null on success, otherwise a reason string.
	var reason *string
	if err := c.Call(ctx, "submitblock", []any{hex.EncodeToString(block)}, &reason); err != nil {
		var rpcErr *RPCError
		if errors.As(err, &rpcErr) && !nodeNotReady(rpcErr) {
			return &RejectedError{Reason: rpcErr.Message, RPC: rpcErr}
		}
		return err
	}
	if reason != nil {
		return &RejectedError{Reason: *reason}
	}
	return nil
}

// WaitReady calls the node until it answers or ctx ends, retrying
// connection failures (a busy node's HTTP 503, ErrBusy, among them) and a
// node still warming up every interval. Other errors (bad credentials, for
// instance) end it at once. It returns the tip the node reported.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) (Tip, error) {
	var lastErr error
	for {
		tip, err := c.Tip(ctx)
		if err == nil {
			return tip, nil
		}
		if ctx.Err() != nil {
			break
		}
		var rpcErr *RPCError
		warmingUp := errors.As(err, &rpcErr) && rpcErr.Code == CodeInWarmup
		if !errors.Is(err, ErrConnection) && !warmingUp {
			return Tip{}, err
		}
		lastErr = err
		if !sleep(ctx, interval) {
			break
		}
	}
	if lastErr == nil {
		return Tip{}, fmt.Errorf("node: waiting for %s: %w", c.url.Host, ctx.Err())
	}
	return Tip{}, fmt.Errorf("node: waiting for %s: %w (last error: %w)", c.url.Host, ctx.Err(), lastErr)
}

func (c *Client) callHex(ctx context.Context, method string, params []any) ([]byte, error) {
	var s string
	if err := c.Call(ctx, method, params, &s); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, c.badReply(fmt.Errorf("%w: %s: %w", ErrMalformedReply, method, err))
	}
	return raw, nil
}

func parseHash(method, s string) (chainhash.Hash, error) {
	if len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("%w: %s: hash %q has %d characters, want %d", ErrMalformedReply, method, snippet([]byte(s)), len(s), 2*chainhash.HashSize)
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%w: %s: %w", ErrMalformedReply, method, err)
	}
	return *h, nil
}
