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

	// ErrBusy means the node answered HTTP 503 Service Unavailable: Bitcoin
	// Core does when its RPC work queue is full ("Work queue depth
	// exceeded", -rpcworkqueue) and while its RPC server shuts down. It wraps
	// ErrConnection: retrying later may succeed.
	ErrBusy = fmt.Errorf("%w: node busy", ErrConnection)

	// errForbidden marks an ErrUnauthorized that was an HTTP 403, which
	// Bitcoin Core answers for a method -rpcwhitelist does not allow too.
	errForbidden = errors.New("forbidden")

	// errReplyTooLarge marks an ErrMalformedReply that was a reply over
	// Config.MaxReplySize, which a smaller batch may fit in.
	errReplyTooLarge = errors.New("reply too large")

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
	CodeInvalidParameter   = -8  // Bitcoin Core: an argument's value is wrong
	CodeClientNotConnected = -9  // the node has no peers (not in regtest)
	CodeInInitialDownload  = -10 // the node is syncing; no templates yet
	CodeDeserialization    = -22 // submitblock: "Block decode failed"
	CodeInWarmup           = -28 // Bitcoin Core is still loading
)

// More of Bitcoin Core's codes: a wrong argument type (-3), and those that
// say the node cannot serve a call now rather than anything about the
// call's arguments.
const (
	codeTypeError      = -3
	codeOutOfMemory    = -7
	codeDatabaseError  = -20
	codeVerifyError    = -25 // getblocktemplate proposal: the node failed to check the block
	codeInvalidRequest = -32600
	codeInternalError  = -32603
	codeParseError     = -32700
)

// nodeNotReady reports an RPC error that is the node's state, not an
// answer about what it was asked: still loading, syncing, out of memory,
// or not serving the method at all. The same call may succeed later.
func nodeNotReady(e *RPCError) bool {
	switch e.Code {
	case CodeInWarmup, CodeInInitialDownload, CodeClientNotConnected, CodeMethodNotFound,
		codeOutOfMemory, codeDatabaseError, codeInvalidRequest, codeInternalError, codeParseError:
		return true
	}
	return false
}

// RPCError is an error object returned by the node in a JSON-RPC reply.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("node: %s: rpc error %d: %s", e.Method, e.Code, e.Message)
}

// RejectedError is returned by SubmitBlock when the node refuses a block,
// and by ProposeBlock when it judges a proposed one invalid. Reason is the
// node's BIP22 reason string, for example "high-hash", "bad-txnmrklroot",
// "duplicate", or btcd's "rejected: ..." text.
//
// A node also refuses a block with an RPC error answer about the block
// itself, such as -22 "Block decode failed" (Bitcoin Core and btcd, for
// bytes that are not a block): then RPC is that error, Reason its message,
// and errors.As finds the *RPCError too. Sending the same block again gets
// the same answer, so a rejection is final. RPC errors that say the node
// cannot serve the call now (warming up, syncing, method not found) are not
// rejections: SubmitBlock returns them as a plain *RPCError, worth retrying
// like a connection failure.
type RejectedError struct {
	Reason string
	RPC    *RPCError // nil when the node answered with a BIP22 reason
}

func (e *RejectedError) Error() string {
	if e.RPC != nil {
		return fmt.Sprintf("node: block rejected: rpc error %d: %s", e.RPC.Code, e.Reason)
	}
	return "node: block rejected: " + e.Reason
}

// Unwrap returns the RPC error the node refused the block with, if any.
func (e *RejectedError) Unwrap() error {
	if e.RPC == nil {
		return nil
	}
	return e.RPC
}

// Duplicate reports a node that already has the block (Bitcoin Core's
// "duplicate", btcd's "already have block"): another path got it there
// first, so the block is delivered.
func (e *RejectedError) Duplicate() bool {
	if e.RPC != nil {
		return false
	}
	return e.Reason == "duplicate" || strings.HasPrefix(e.Reason, "rejected: already have block") && !e.Inconclusive()
}

// Inconclusive reports a node that stored the block without judging it
// (Bitcoin Core's "inconclusive", "duplicate-inconclusive", btcd's orphan
// case): neither delivered for sure nor refused.
func (e *RejectedError) Inconclusive() bool {
	if e.RPC != nil {
		return false
	}
	return e.Reason == "inconclusive" || e.Reason == "duplicate-inconclusive" ||
		strings.HasPrefix(e.Reason, "rejected: already have block (orphan)")
}
