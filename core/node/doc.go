// Package node is a small client for a Bitcoin node's JSON-RPC interface,
// written for btcd first and Bitcoin Core too.
//
// A [Client] speaks JSON-RPC 1.0 over HTTP POST, one request per call, with
// the lifetime of every call bounded by its context. It offers what a
// template provider and a job declaration server need: getblocktemplate
// (parsed into a [Template]), submitblock (a refusal becomes a
// [*RejectedError] carrying the node's reason), the chain tip, and mempool
// look-ups.
//
// For a job declaration server, [Client.ProposeBlock] checks a block without
// its proof of work (a BIP 23 proposal), and a [Mempool] indexes the node's
// mempool by wtxid, fetching new transactions in JSON-RPC batches.
//
// [Client.WatchTips] reports every change of the best block. Against btcd it
// subscribes to websocket block notifications; against nodes without the
// websocket extension (Bitcoin Core) it waits with waitfornewblock (or
// waitforblockheight before v30), each wait bounded by the node itself so
// that none outlives a stopped watcher for long; it long-polls
// getblocktemplate on nodes without those, or polls getbestblockhash at a
// configurable interval. A lost connection is logged and
// retried with exponential backoff for as long as the context lives: the
// watcher resumes, and reports the tip it finds, when the node comes back.
//
// Errors that callers branch on are sentinels ([ErrUnauthorized],
// [ErrConnection], [ErrBusy], [ErrMalformedReply], [ErrWebsocketUnsupported]) or typed
// ([*RPCError], [*RejectedError]); compare them with errors.Is and errors.As.
package node
