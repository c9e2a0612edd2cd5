package node

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, wrapped with the method and node address that produced
// them.
var (
	// ErrUnauthorized means the node refused the credentials (HTTP 401 or
	// 403). Retrying will not help until the configuration changes.
	ErrUnauthorized = errors.New("node: authentication failed (check rpc user/password or cookie file)")

	// ErrConnection means the node could not be reached or the connection
	// broke mid-request: unknown host, connection refused, reset, timeout.
	// Retrying later may succeed.
	ErrConnection = errors.New("node: connection failed")

	// ErrMalformedReply means the node answered with something that is not
	// the JSON-RPC reply the method expects.
	ErrMalformedReply = errors.New("node: malformed reply")

	// ErrWebsocketUnsupported means the server answered the websocket
	// upgrade with a plain HTTP response: it is not btcd, or its websocket
	// endpoint is disabled. WatchTips falls back to long-polling on it.
	ErrWebsocketUnsupported = errors.New("node: websocket notifications not supported")
)

// JSON-RPC error codes, shared by btcd and Bitcoin Core, that callers of
// this package branch on (RPCError.Code).
const (
	CodeMethodNotFound     = -32601
	CodeInvalidParams      = -32602
	CodeMisc               = -1
	CodeInvalidAddrKey     = -5  // no such transaction, block or address
	CodeClientNotConnected = -9  // the node has no peers (not in regtest)
	CodeInInitialDownload  = -10 // the node is syncing; no templates yet
	CodeDeserialization    = -22
	CodeInWarmup           = -28 // Bitcoin Core is still loading
)

// RPCError is an error object returned by the node in a JSON-RPC reply.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("node: %s: rpc error %d: %s", e.Method, e.Code, e.Message)
}

// RejectedError is returned by SubmitBlock when the node refuses a block. Reason
// is the node's BIP22 reason string, for example "high-hash",
// "bad-txnmrklroot", "duplicate", or btcd's "rejected: ..." text.
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string {
	return "node: block rejected: " + e.Reason
}

// Duplicate reports a node that already has the block (Bitcoin Core's
// "duplicate", btcd's "already have block"): another path got it there
// first, so the block is delivered.
func (e *RejectedError) Duplicate() bool {
	return e.Reason == "duplicate" || strings.HasPrefix(e.Reason, "rejected: already have block") && !e.Inconclusive()
}

// Inconclusive reports a node that stored the block without judging it
// (Bitcoin Core's "inconclusive", "duplicate-inconclusive", btcd's orphan
// case): neither delivered for sure nor refused.
func (e *RejectedError) Inconclusive() bool {
	return e.Reason == "inconclusive" || e.Reason == "duplicate-inconclusive" ||
		strings.HasPrefix(e.Reason, "rejected: already have block (orphan)")
}
