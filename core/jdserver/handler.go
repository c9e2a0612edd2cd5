package jdserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// FlagDeclareTxData is the Job Declaration SetupConnection flag by which a
// JDC asks for full-template mode (§6.4.1).
const FlagDeclareTxData = 1 << 0

// Block limits a declaration must keep: a block weighs at most 4,000,000
// units, and no transaction weighs less than 240 (60 virtual bytes), so
// no block holds more than 16,666 transactions besides its coinbase.
const (
	maxBlockWeight  = 4_000_000
	maxTransactions = maxBlockWeight/240 - 1
)

// Node is what the JDS asks of a node; *node.Client is one.
type Node interface {
	// ProposeBlock judges a block without its proof of work (BIP 23); see
	// node.Client.ProposeBlock for what its errors mean.
	ProposeBlock(ctx context.Context, block []byte) error
	SubmitRawBlock(ctx context.Context, block []byte) error
}

// Mempool finds transactions by wtxid; *node.Mempool is one.
type Mempool interface {
	Refresh(ctx context.Context) error
	Lookup(wtxid chainhash.Hash) (node.MempoolTx, bool)
}

// declarator is the Job Declaration server handler. State of one client is
// its *client (service.ClientState); what clients share (the tip, the
// node, the mempool) guards itself.
type declarator struct {
	cfg     Config
	log     *slog.Logger
	key     noise.SecretKey
	pub     noise.PublicKey
	params  atomic.Pointer[chaincfg.Params] // see chainParams
	outputs []byte                          // AllocateMiningJobToken.Success's coinbase_tx_outputs
	chain   *chain
	node    Node
	mempool Mempool
	blocks  *pushed
	stats   *counters
	recent  recent
	// lastForced is when a declaration last made the mempool index
	// refresh (Unix nanoseconds): at most one per forcedRefreshEvery.
	lastForced atomic.Int64
}

// client is one JDC connection's state.
type client struct {
	info   service.ClientInfo
	full   bool                 // DECLARE_TX_DATA negotiated
	tokens map[uint64]time.Time // granted Declare tokens not yet used, by id: their expiry
	order  []uint64             // tokens' ids, oldest first
	allocs bucket
	decls  bucket
	pushes bucket // for the log lines of pushes that complete nothing
	seq    uint64 // declarations so far, for their order
	// pending declarations wait for ProvideMissingTransactions.Success, by
	// request id; jobs are the accepted ones kept for PushSolution, newest last.
	pending map[uint32]*declaration
	jobs    []*declaration
}

// declaration is a DeclareMiningJob under way or accepted.
type declaration struct {
	m       *sv2.DeclareMiningJob
	cb      *coinbase.Declared
	tip     *tip
	user    [16]byte
	txs     [][]byte // in wtxid_list order; nil where missing
	missing []uint16 // the positions asked for
	at      time.Time
	seq     uint64 // the connection's count at its arrival: older is smaller
	// For PushSolution: the coinbase stripped of BIP141 fields around the
	// extranonce and the merkle path, so that a solution's header is hashed
	// before anything is rebuilt.
	stripPrefix, stripSuffix []byte
	path                     []sv2.U256
}

var _ service.JobDeclarationServerHandler = (*declarator)(nil)

func (d *declarator) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }

// Flags grants DECLARE_TX_DATA unless the JDS serves coinbase-only mode alone.
func (d *declarator) Flags(requested uint32) (success, unsupported uint32) {
	supported := uint32(FlagDeclareTxData)
	if d.cfg.Mode == ModeCoinbaseOnly {
		supported = 0
	}
	return 0, requested &^ supported
}

func (d *declarator) ClientAdded(ctx context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	cl := &client{info: c, full: c.Setup.Flags&FlagDeclareTxData != 0, tokens: map[uint64]time.Time{}, pending: map[uint32]*declaration{}}
	service.SetClientState(ctx, cl)
	if d.cfg.Mode == ModeFullTemplate && !cl.full {
		return []service.ServerEvent{service.DisconnectClient{Client: c.ID, Reason: "this JDS serves full-template mode only: set DECLARE_TX_DATA"}}, nil
	}
	d.log.Info("JDC connected", "client", c.ID, "remote", c.Remote.String(), "full_template", cl.full)
	return nil, nil
}

func (d *declarator) ClientRemoved(ctx context.Context, c service.ClientInfo, reason error) ([]service.ServerEvent, error) {
	d.log.Info("JDC left", "client", c.ID, "reason", reason)
	return nil, nil
}

// chainParams is the chain's parameters: the configured network's, or the
// node's (Run learns it), mainnet's before either is known.
func (d *declarator) chainParams() *chaincfg.Params {
	if p := d.params.Load(); p != nil {
		return p
	}
	return &chaincfg.MainNetParams
}

// refuseMode is the error that closes a connection full-template mode
// refuses: ClientAdded disconnects it, but messages it sent right behind
// its SetupConnection are read first, and none may be served.
func (d *declarator) refuseMode(cl *client) error {
	if d.cfg.Mode == ModeFullTemplate && !cl.full {
		return errors.New("jdserver: this JDS serves full-template mode only")
	}
	return nil
}

// sweep is the periodic NotifyAll payload that expires what clients hold.
type sweep struct{}

// HandleEvent takes the template provider's templates and tips from the sibling.
func (d *declarator) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	if m, ok := templates.Of(payload); ok {
		d.chain.template(m)
		return nil, nil
	}
	if m, ok := prevHashes.Of(payload); ok {
		if d.chain.prevHash(m) {
			d.log.Info("new chain tip", "prev_hash", chainhash.Hash(m.PrevHash).String())
		}
		return nil, nil
	}
	return nil, fmt.Errorf("jdserver: unexpected event %s", service.PayloadName(payload))
}

// HandleClientEvent expires a client's unused tokens and the declarations
// that waited too long for their transactions.
func (d *declarator) HandleClientEvent(ctx context.Context, id service.ClientID, payload any) ([]service.ServerEvent, error) {
	cl, ok := service.ClientState(ctx).(*client)
	if _, isSweep := payload.(sweep); !ok || !isSweep {
		return nil, nil
	}
	now := d.cfg.Now()
	for tid, exp := range cl.tokens {
		if now.After(exp) {
			delete(cl.tokens, tid)
		}
	}
	cl.order = slices.DeleteFunc(cl.order, func(tid uint64) bool { _, ok := cl.tokens[tid]; return !ok })
	var out []sv2.Message
	for rid, p := range cl.pending {
		if now.Sub(p.at) > d.cfg.MissingTimeout {
			delete(cl.pending, rid)
			out = append(out, d.refuse(p.m.RequestID, CodeMissingTransactions, fmt.Sprintf("no ProvideMissingTransactions.Success within %s", d.cfg.MissingTimeout)))
		}
	}
	return send(id, out...), nil
}

// AllocateMiningJobToken grants a token: for a declaration in full-template
// mode, or for a custom job in coinbase-only mode. Over the rate limit the
// connection is closed (the message has no error reply).
func (d *declarator) AllocateMiningJobToken(ctx context.Context, id service.ClientID, m *sv2.AllocateMiningJobToken) ([]service.ServerEvent, error) {
	return d.allocate(ctx, id, service.ClientState(ctx).(*client), m)
}

func (d *declarator) allocate(ctx context.Context, id service.ClientID, cl *client, m *sv2.AllocateMiningJobToken) ([]service.ServerEvent, error) {
	if err := d.refuseMode(cl); err != nil {
		return nil, err
	}
	now := d.cfg.Now()
	if !cl.allocs.take(now, d.cfg.TokenRate, d.cfg.TokenBurst) {
		d.stats.add(&d.stats.tokensRefused)
		return nil, fmt.Errorf("jdserver: token requests over %g per second (burst %d)", d.cfg.TokenRate, d.cfg.TokenBurst)
	}
	t := jdtoken.Token{Kind: jdtoken.CoinbaseOnly, ID: randomID(), Expires: now.Add(d.cfg.TokenLifetime), User: jdtoken.UserHash(m.UserIdentifier)}
	if cl.full {
		t.Kind = jdtoken.Declare
		if len(cl.order) >= d.cfg.MaxTokensPerConnection { // the oldest was not going to be used
			delete(cl.tokens, cl.order[0])
			cl.order = cl.order[1:]
		}
		cl.tokens[t.ID] = t.Expires
		cl.order = append(cl.order, t.ID)
	}
	b, err := t.Sign(d.key, nil)
	if err != nil {
		return nil, err
	}
	d.stats.add(&d.stats.tokens)
	return send(id, &sv2.AllocateMiningJobTokenSuccess{RequestID: m.RequestID, MiningJobToken: b, CoinbaseTxOutputs: d.outputs}), nil
}

// DeclareMiningJob checks a declaration, asks for the transactions the
// node's mempool lacks, and once it has them all lets the node judge the
// block.
func (d *declarator) DeclareMiningJob(ctx context.Context, id service.ClientID, m *sv2.DeclareMiningJob) ([]service.ServerEvent, error) {
	return d.declare(ctx, id, service.ClientState(ctx).(*client), m)
}

func (d *declarator) declare(ctx context.Context, id service.ClientID, cl *client, m *sv2.DeclareMiningJob) ([]service.ServerEvent, error) {
	if err := d.refuseMode(cl); err != nil {
		return nil, err
	}
	// A request id is answered once: a declaration waiting under the same
	// id is replaced, unanswered.
	delete(cl.pending, m.RequestID)
	cl.seq++
	now := d.cfg.Now()
	d.stats.add(&d.stats.declared)
	if !cl.decls.take(now, d.cfg.DeclareRate, d.cfg.DeclareBurst) {
		return d.refused(id, m.RequestID, CodeRateLimited, fmt.Sprintf("at most %g declarations per second (burst %d)", d.cfg.DeclareRate, d.cfg.DeclareBurst)), nil
	}
	decl, code, detail := d.check(ctx, cl, m, now)
	if code != "" {
		return d.refused(id, m.RequestID, code, detail), nil
	}
	if len(decl.missing) == 0 {
		return d.finish(ctx, id, cl, decl), nil
	}
	if _, dup := cl.pending[m.RequestID]; !dup && len(cl.pending) >= d.cfg.MaxPendingDeclarations {
		// The oldest waiting declaration gives way: a JDC declares its newest template.
		var oldest *declaration
		for _, p := range cl.pending {
			if oldest == nil || p.seq < oldest.seq {
				oldest = p
			}
		}
		delete(cl.pending, oldest.m.RequestID)
		evs := d.refused(id, oldest.m.RequestID, CodeMissingTransactions, "dropped for a newer declaration")
		cl.pending[m.RequestID] = decl
		return append(evs, send(id, &sv2.ProvideMissingTransactions{RequestID: m.RequestID, UnknownTxPositionList: decl.missing})...), nil
	}
	cl.pending[m.RequestID] = decl
	d.log.Debug("asking for missing transactions", "client", id, "request", m.RequestID, "missing", len(decl.missing), "of", len(m.WtxidList))
	return send(id, &sv2.ProvideMissingTransactions{RequestID: m.RequestID, UnknownTxPositionList: decl.missing}), nil
}

// check runs every check a declaration gets before the node's, and finds
// its transactions. A refusal is a code and its details.
func (d *declarator) check(ctx context.Context, cl *client, m *sv2.DeclareMiningJob, now time.Time) (*declaration, string, string) {
	if !cl.full {
		return nil, CodeNotFullTemplate, "DeclareMiningJob is for full-template mode"
	}
	t, err := jdtoken.Verify(m.MiningJobToken, d.pub)
	if err != nil {
		return nil, CodeInvalidToken, err.Error()
	}
	if _, ok := cl.tokens[t.ID]; !ok || t.Kind != jdtoken.Declare {
		return nil, CodeInvalidToken, "not a token granted to this connection for a declaration, or used already"
	}
	delete(cl.tokens, t.ID) // single use, whatever the outcome
	cl.order = slices.DeleteFunc(cl.order, func(tid uint64) bool { return tid == t.ID })
	if now.After(t.Expires) {
		return nil, CodeInvalidToken, "expired"
	}
	tp := d.chain.tip()
	if tp == nil { // just started: its template provider has yet to send the tip
		tp = d.chain.next(ctx, nil, tipWait)
	}
	if tp == nil {
		return nil, CodeStaleChainTip, "the JDS has no chain tip from its template provider yet"
	}
	if int32(m.Version) < 4 {
		return nil, CodeInvalidVersion, fmt.Sprintf("version %#x", m.Version)
	}
	cb, err := coinbase.ParseDeclared(m.CoinbaseTxPrefix, m.CoinbaseTxSuffix)
	if err != nil {
		return nil, CodeInvalidCoinbase, err.Error()
	}
	if err := decodesAsCoinbase(m, cb.ExtranonceSize); err != nil {
		return nil, CodeInvalidCoinbase, err.Error()
	}
	_, h := coinbase.BIP34Height(cb.ScriptSigPrefix)
	if tp.height >= 0 && h == tp.height+1 {
		// The JDC's provider told it of a block ours has yet to: wait for
		// it rather than refuse an honest job.
		tp = d.chain.next(ctx, tp, tipWait)
	}
	if tp.height >= 0 && h != tp.height {
		if h >= 0 && h < tp.height {
			return nil, CodeStaleChainTip, fmt.Sprintf("the coinbase is for height %d, the tip's next block is %d", h, tp.height)
		}
		return nil, CodeInvalidCoinbase, fmt.Sprintf("the coinbase's BIP34 height is %d, want %d", h, tp.height)
	}
	outs, err := coinbase.ParseOutputs(cb.Outputs)
	if err != nil {
		return nil, CodeInvalidCoinbaseOutputs, err.Error()
	}
	var payout int64
	for _, o := range outs {
		if bytes.Equal(o.PkScript, d.cfg.PayoutScript) {
			payout += o.Value
		}
	}
	if least := network.Subsidy(d.chainParams(), tp.height); payout == 0 || (tp.height >= 0 && payout < least) {
		return nil, CodeInvalidCoinbaseOutputs, fmt.Sprintf("%d sat to the pool payout output, at least %d due", payout, max(least, 1))
	}
	if n := len(m.WtxidList); n > maxTransactions {
		return nil, CodeTooManyTransactions, fmt.Sprintf("%d transactions; a block holds at most %d", n, maxTransactions)
	}
	decl := &declaration{m: m, cb: cb, tip: tp, user: t.User, txs: make([][]byte, len(m.WtxidList)), at: now, seq: cl.seq}
	seen := make(map[sv2.U256]struct{}, len(m.WtxidList))
	for _, w := range m.WtxidList {
		if _, dup := seen[w]; dup {
			return nil, CodeTooManyTransactions, fmt.Sprintf("wtxid %s listed twice", chainhash.Hash(w))
		}
		seen[w] = struct{}{}
	}
	decl.missing = d.lookup(decl)
	if len(decl.missing) > 0 && d.mayForceRefresh(now) {
		// The transactions may have reached the node since the last
		// refresh; past the throttle, the JDC is asked for them.
		rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
		err := d.mempool.Refresh(rctx)
		cancel()
		if err == nil {
			decl.missing = d.lookup(decl)
		}
	}
	return decl, "", ""
}

// forcedRefreshEvery spaces the mempool refreshes declarations force: each
// lists the whole mempool, which a JDC must not be able to make the node do
// per message.
const forcedRefreshEvery = 250 * time.Millisecond

// mayForceRefresh reports whether a declaration may refresh the mempool
// index now, and if so counts it.
func (d *declarator) mayForceRefresh(now time.Time) bool {
	last := d.lastForced.Load()
	return now.UnixNano()-last >= int64(forcedRefreshEvery) && d.lastForced.CompareAndSwap(last, now.UnixNano())
}

// decodesAsCoinbase checks that a declared coinbase, with a zero
// extranonce, is a transaction btcd decodes: ParseDeclared checks its
// layout, not, say, a SegWit coinbase's witness.
func decodesAsCoinbase(m *sv2.DeclareMiningJob, extranonceSize int) error {
	raw := make([]byte, 0, len(m.CoinbaseTxPrefix)+extranonceSize+len(m.CoinbaseTxSuffix))
	raw = append(append(append(raw, m.CoinbaseTxPrefix...), make([]byte, extranonceSize)...), m.CoinbaseTxSuffix...)
	if err := block.ScanTx(raw); err != nil {
		return fmt.Errorf("the coinbase: %w", err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("the coinbase does not decode: %w", err)
	}
	return nil
}

// lookup fills decl's transactions from the mempool and returns the
// positions still missing.
func (d *declarator) lookup(decl *declaration) []uint16 {
	var missing []uint16
	for i, w := range decl.m.WtxidList {
		if decl.txs[i] != nil {
			continue
		}
		if tx, ok := d.mempool.Lookup(chainhash.Hash(w)); ok {
			decl.txs[i] = tx.Raw
		} else {
			missing = append(missing, uint16(i))
		}
	}
	return missing
}

// ProvideMissingTransactionsSuccess completes a waiting declaration with
// the transactions it asked for, each checked against its declared wtxid.
func (d *declarator) ProvideMissingTransactionsSuccess(ctx context.Context, id service.ClientID, m *sv2.ProvideMissingTransactionsSuccess) ([]service.ServerEvent, error) {
	return d.provide(ctx, id, service.ClientState(ctx).(*client), m)
}

func (d *declarator) provide(ctx context.Context, id service.ClientID, cl *client, m *sv2.ProvideMissingTransactionsSuccess) ([]service.ServerEvent, error) {
	if err := d.refuseMode(cl); err != nil {
		return nil, err
	}
	decl, ok := cl.pending[m.RequestID]
	if !ok {
		return d.refused(id, m.RequestID, CodeUnexpectedTransactions, "no declaration with this request id waits for transactions"), nil
	}
	delete(cl.pending, m.RequestID)
	if len(m.TransactionList) != len(decl.missing) {
		return d.refused(id, m.RequestID, CodeMissingTransactions, fmt.Sprintf("%d transactions for %d asked", len(m.TransactionList), len(decl.missing))), nil
	}
	size := 0
	for i, raw := range m.TransactionList {
		pos := decl.missing[i]
		size += len(raw)
		if size > maxBlockWeight { // serialized bytes never exceed weight
			return d.refused(id, m.RequestID, CodeTooManyTransactions, "the provided transactions alone exceed a block"), nil
		}
		var tx wire.MsgTx
		r := bytes.NewReader(raw)
		if err := block.ScanTx(raw); err != nil {
			return d.refused(id, m.RequestID, CodeTransactionMismatch, fmt.Sprintf("transaction %d (position %d): %v", i, pos, err)), nil
		}
		if err := tx.Deserialize(r); err != nil || r.Len() != 0 {
			return d.refused(id, m.RequestID, CodeTransactionMismatch, fmt.Sprintf("transaction %d (position %d) does not parse: %v", i, pos, errOr(err, "trailing bytes"))), nil
		}
		if w := tx.WitnessHash(); sv2.U256(w) != decl.m.WtxidList[pos] {
			return d.refused(id, m.RequestID, CodeTransactionMismatch, fmt.Sprintf("transaction %d has wtxid %s, position %d was declared %s", i, w, pos, chainhash.Hash(decl.m.WtxidList[pos]))), nil
		}
		decl.txs[pos] = raw
	}
	decl.missing = nil
	return d.finish(ctx, id, cl, decl), nil
}

func errOr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}

// finish builds the declared block, lets the node judge it, and grants the
// Declared token the pool checks SetCustomMiningJob against.
func (d *declarator) finish(ctx context.Context, id service.ClientID, cl *client, decl *declaration) []service.ServerEvent {
	m := decl.m
	if cur := d.chain.tip(); cur == nil || cur.prevHash != decl.tip.prevHash {
		return d.refused(id, m.RequestID, CodeStaleChainTip, "a new block arrived while the declaration was checked")
	}
	blk, err := decl.block(&sv2.PushSolution{
		Extranonce: make([]byte, decl.cb.ExtranonceSize), PrevHash: decl.tip.prevHash,
		NTime: max(decl.tip.minNTime, uint32(d.cfg.Now().Unix())), NBits: decl.tip.nBits, Version: m.Version,
	})
	if err != nil {
		return d.refused(id, m.RequestID, CodeTransactionMismatch, err.Error())
	}
	raw, err := block.Serialize(blk)
	if err != nil {
		return d.refused(id, m.RequestID, CodeInvalidCoinbase, err.Error())
	}
	if w := blk.SerializeSizeStripped()*3 + blk.SerializeSize(); w > maxBlockWeight {
		return d.refused(id, m.RequestID, CodeTooManyTransactions, fmt.Sprintf("a block of weight %d; at most %d", w, maxBlockWeight))
	}
	pctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	err = d.node.ProposeBlock(pctx, raw)
	cancel()
	var rej *node.RejectedError
	switch {
	case errors.As(err, &rej) && rej.StaleTip():
		return d.refused(id, m.RequestID, CodeStaleChainTip, "the node: "+rej.Reason)
	case errors.As(err, &rej):
		return d.refused(id, m.RequestID, CodeRejectedByNode, rej.Reason)
	case err != nil:
		d.log.Warn("cannot ask the node about a declared job", "client", id, "request", m.RequestID, "error", err)
		return d.refused(id, m.RequestID, CodeNodeUnavailable, err.Error())
	}
	txids := make([]sv2.U256, len(blk.Transactions)-1)
	for i, tx := range blk.Transactions[1:] {
		txids[i] = sv2.U256(tx.TxHash())
	}
	job := jdtoken.Job{
		PrevHash: decl.tip.prevHash, NBits: decl.tip.nBits, Version: m.Version,
		CoinbaseTxVersion: decl.cb.TxVersion, CoinbasePrefix: decl.cb.ScriptSigPrefix, Sequence: decl.cb.Sequence,
		Outputs: decl.cb.Outputs, Locktime: decl.cb.Locktime, MerklePath: merkle.Path(txids),
	}
	d.recent.add(decl.tip.prevHash, job.MerklePath, decl.txs)
	decl.path = job.MerklePath
	if decl.stripPrefix, decl.stripSuffix, err = coinbase.StripParts(m.CoinbaseTxPrefix, m.CoinbaseTxSuffix); err != nil {
		return d.refused(id, m.RequestID, CodeInvalidCoinbase, err.Error())
	}
	t := jdtoken.Token{Kind: jdtoken.Declared, ID: randomID(), Expires: d.cfg.Now().Add(d.cfg.TokenLifetime), User: decl.user, Job: job.Commit()}
	b, err := t.Sign(d.key, nil)
	if err != nil {
		return d.refused(id, m.RequestID, CodeNodeUnavailable, err.Error())
	}
	cl.jobs = append(cl.jobs, decl)
	if len(cl.jobs) > d.cfg.KeepJobs {
		cl.jobs = slices.Delete(cl.jobs, 0, len(cl.jobs)-d.cfg.KeepJobs)
	}
	d.stats.add(&d.stats.accepted)
	d.log.Info("declared job accepted", "client", id, "request", m.RequestID, "transactions", len(m.WtxidList), "height", decl.tip.height)
	return send(id, &sv2.DeclareMiningJobSuccess{RequestID: m.RequestID, NewMiningJobToken: b})
}

// nodeTimeout bounds one block proposal; refreshTimeout the mempool
// refresh a declaration with unknown transactions waits for (past it, the
// JDC is asked for them).
const (
	nodeTimeout    = 30 * time.Second
	refreshTimeout = 5 * time.Second
	// tipWait is how long a declaration one block ahead of the JDS's tip
	// waits for the JDS's template provider to catch up.
	tipWait = 2 * time.Second
)

// block is the declared block with the header fields and extranonce of sol.
func (decl *declaration) block(sol *sv2.PushSolution) (*wire.MsgBlock, error) {
	return block.FromPushSolution(sol, decl.m, decl.txs)
}

// PushSolution rebuilds the block from the connection's declared jobs, the
// latest first (§6.4.9), and hands it to the node, retried until the node
// answers. A solution that completes none of them is logged.
func (d *declarator) PushSolution(ctx context.Context, id service.ClientID, m *sv2.PushSolution) ([]service.ServerEvent, error) {
	return d.push(ctx, id, service.ClientState(ctx).(*client), m)
}

func (d *declarator) push(ctx context.Context, id service.ClientID, cl *client, m *sv2.PushSolution) ([]service.ServerEvent, error) {
	if err := d.refuseMode(cl); err != nil {
		return nil, err
	}
	for i := len(cl.jobs) - 1; i >= 0; i-- {
		decl := cl.jobs[i]
		// The tip's target, not the solution's nbits: a JDC must not choose
		// how much work a block it makes the JDS submit takes.
		if decl.tip.prevHash != m.PrevHash || m.NBits != decl.tip.nBits || len(m.Extranonce) != decl.cb.ExtranonceSize {
			continue
		}
		h := block.Header{Version: m.Version, PrevHash: m.PrevHash, NTime: m.NTime, NBits: m.NBits, Nonce: m.Nonce,
			MerkleRoot: merkle.Root(coinbase.TxID(decl.stripPrefix, m.Extranonce, nil, decl.stripSuffix), decl.path)}
		hash := h.Hash()
		if t, err := target.FromCompact(decl.tip.nBits); err != nil || !target.Meets(&hash, &t) {
			continue // cheap: a header hash; nothing is rebuilt for a miss
		}
		blk, err := decl.block(m)
		if err != nil {
			d.log.Error("a pushed solution meets the target but its block cannot be rebuilt", "client", id, "error", err)
			continue
		}
		raw, err := block.Serialize(blk)
		if err != nil {
			continue
		}
		d.stats.add(&d.stats.solutions)
		d.blocks.submit(blk.BlockHash(), raw, fmt.Sprintf("client %d declared job %d", id, decl.m.RequestID))
		return nil, nil
	}
	if cl.pushes.take(d.cfg.Now(), 0.1, 5) { // a few lines, then one per 10 s
		d.log.Warn("PushSolution completes none of the connection's declared jobs", "client", id,
			"prev_hash", chainhash.Hash(m.PrevHash).String(), "jobs", len(cl.jobs))
	}
	return nil, nil
}

// refused logs and counts a refusal and returns its DeclareMiningJob.Error.
func (d *declarator) refused(id service.ClientID, requestID uint32, code, detail string) []service.ServerEvent {
	return send(id, d.refuse(requestID, code, detail))
}

func (d *declarator) refuse(requestID uint32, code, detail string) sv2.Message {
	d.stats.refusal(code)
	d.log.Info("declaration refused", "request", requestID, "code", code, "detail", detail)
	if len(detail) > 1000 {
		detail = detail[:1000]
	}
	return &sv2.DeclareMiningJobError{RequestID: requestID, ErrorCode: code, ErrorDetails: []byte(detail)}
}

func send(id service.ClientID, msgs ...sv2.Message) []service.ServerEvent {
	switch len(msgs) {
	case 0:
		return nil
	case 1:
		return []service.ServerEvent{service.SendToClient{Client: id, Message: msgs[0]}}
	}
	return []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}}
}

// payoutOutputs is coinbase_tx_outputs with the pool payout output alone,
// at value 0 (§6.4.3).
func payoutOutputs(script []byte) []byte {
	var b bytes.Buffer
	wire.WriteVarInt(&b, 0, 1)
	binary.Write(&b, binary.LittleEndian, uint64(0))
	wire.WriteVarInt(&b, 0, uint64(len(script)))
	b.Write(script)
	return b.Bytes()
}
