package templateprovider

import (
	"sync/atomic"

	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// Error codes of RequestTransactionData.Error (§7.6).
const (
	CodeTemplateNotFound = "template-id-not-found"
	CodeStaleTemplate    = "stale-template-id"
)

// Errors a SubmitSolution is refused with. Template Distribution has no
// reply to a solution (§7.7), so SubmitSolution logs them; nothing refused
// reaches the node.
var (
	// ErrUnknownTemplate: the solution names a template id this provider
	// did not issue since it started, or one it has forgotten (it keeps the
	// current and the previous tip's). Ids mean something only within the
	// session that issued them, so the block is not guessed from another
	// template: that sent invalid blocks to the node after restarts.
	ErrUnknownTemplate = errors.New("templateprovider: unknown template id")
	// ErrHighHash: the header's hash is above the target of the
	// template's nBits, so the solution is not a block.
	ErrHighHash = errors.New("templateprovider: header hash above the network target")
)

// Node is what the template provider needs from a node; *node.Client has it.
type Node interface {
	GetBlockTemplate(ctx context.Context) (*node.Template, error)
	SubmitBlock(ctx context.Context, b *wire.MsgBlock) error
}

// provider is the Template Distribution handler. The server calls it for
// different clients concurrently, and with each new template from the node
// (HandleEvent, on the template loop's goroutine), so the state all of them
// share sits behind mu; node calls happen outside it. Order needs no lock of
// ours: what a client's own call returns is queued before anything pushed to
// it later, and a template built under mu for a client is pushed after
// whatever its own call built before.
type provider struct {
	node     Node
	log      *slog.Logger
	feeDelta int64
	signet   bool                // every block needs a witness commitment
	submits  chan *wire.MsgBlock // blocks for the submitter goroutine
	// recheck asks the template loop for a fresh template at once: after a
	// block is submitted the tip has moved (or, if the node refused it, ours
	// may be stale), and waiting for the tip watcher or the timer would
	// leave miners on old work.
	recheck chan struct{}

	mu        sync.Mutex
	nextID    uint64
	current   *node.Template // the node's latest template
	tip       sv2.U256       // current.PrevHash
	clients   map[service.ClientID]*tdClient
	templates map[uint64]*template // for the current and the previous tip
	warned    bool                 // the signet challenge warning was logged
	fetched   time.Time            // when current was taken from the node: its age is the node's silence
	// What the provider did, for monitoring.
	// solutions counts every SubmitSolution, invalid those that made no
	// block, blocks those that did; of the blocks, the node accepted (or had), refused, stored
	// without a verdict, or could not be reached for.
	sent, solutions, invalid, blocks, accepted, refused, inconclusive, unreachable atomic.Uint64
}

// tdClient is what we know of one client.
type tdClient struct {
	cons *constraints // nil until CoinbaseOutputConstraints
	last *template    // the last template sent to it
}

var _ service.TemplateDistributionServerHandler = (*provider)(nil)

// newProvider returns the handler for node n; signet says the chain is a
// signet, where every block carries a witness commitment.
func newProvider(n Node, feeDelta int64, signet bool, log *slog.Logger) *provider {
	return &provider{node: n, feeDelta: feeDelta, signet: signet, log: log, clients: map[service.ClientID]*tdClient{}, templates: map[uint64]*template{},
		submits: make(chan *wire.MsgBlock, 64), recheck: make(chan struct{}, 1)}
}

func (p *provider) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }

// Flags: no Template Distribution flags are defined (§7), so any requested one is unsupported.
func (p *provider) Flags(requested uint32) (uint32, uint32) { return 0, requested }

func (p *provider) ClientAdded(_ context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[c.ID] = &tdClient{}
	return nil, nil
}

func (p *provider) ClientRemoved(_ context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clients, c.ID)
	return nil, nil
}

// nodeTemplates carries each template the node gives, from the template
// loop to the provider's handler.
var nodeTemplates = service.NewTopic[*node.Template]("node template")

// HandleEvent takes each template the node gives (from the template loop)
// and returns what every client must be sent.
func (p *provider) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	t, ok := nodeTemplates.Of(payload)
	if !ok {
		return nil, fmt.Errorf("templateprovider: unexpected event %s", service.PayloadName(payload))
	}
	return p.update(t)
}

func (p *provider) HandleClientEvent(context.Context, service.ClientID, any) ([]service.ServerEvent, error) {
	return nil, nil
}

// CoinbaseOutputConstraints answers at once with a template for the client (§7).
func (p *provider) CoinbaseOutputConstraints(_ context.Context, id service.ClientID, m *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[id]
	if c == nil {
		return nil, nil
	}
	c.cons = &constraints{size: m.CoinbaseOutputMaxAdditionalSize, sigops: m.CoinbaseOutputMaxAdditionalSigops}
	if p.current == nil {
		return nil, nil // the first template from the node will be sent to it
	}
	events, err := p.templateFor(id, c, c.last == nil || c.last.prevHash != p.tip, selectFor(p.current, *c.cons))
	p.forgetOldTemplates()
	return events, err
}

// templateFor builds a template for c from the transactions selected for it
// and returns the messages announcing it: with newTip, a future template and
// the prev hash that activates it. p.mu is held; the caller then calls
// forgetOldTemplates.
func (p *provider) templateFor(id service.ClientID, c *tdClient, newTip bool, sel selection) ([]service.ServerEvent, error) {
	p.nextID++
	t, err := buildTemplate(p.current, sel, p.nextID, newTip, p.signet)
	if err != nil {
		return nil, err
	}
	p.templates[t.msg.TemplateID] = t
	c.last = t
	p.sent.Add(1)
	events := []service.ServerEvent{service.SendToClient{Client: id, Message: t.msg}}
	if newTip {
		snph, err := prevHashMessage(p.current, t.msg.TemplateID)
		if err != nil {
			return nil, err
		}
		events = append(events, service.SendToClient{Client: id, Message: snph})
	}
	return events, nil
}

// maxTemplatesPerTip bounds the templates kept for the current tip: fee
// updates every few seconds during a long block interval would otherwise
// pin the node's transactions for each of them.
const maxTemplatesPerTip = 64

// forgetOldTemplates drops the oldest templates of the current tip beyond
// maxTemplatesPerTip; p.mu is held.
func (p *provider) forgetOldTemplates() {
	var ids []uint64
	for id, t := range p.templates {
		if t.prevHash == p.tip {
			ids = append(ids, id)
		}
	}
	if len(ids) <= maxTemplatesPerTip {
		return
	}
	slices.Sort(ids)
	for _, id := range ids[:len(ids)-maxTemplatesPerTip] {
		delete(p.templates, id)
	}
}

// update takes a fresh template from the node and returns what every client
// must be sent: on a new tip a future template and SetNewPrevHash each, on
// the same tip a new template for clients whose fees rose by feeDelta.
func (p *provider) update(t *node.Template) ([]service.ServerEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	newTip := p.current == nil || sv2.U256(t.PrevHash) != p.tip
	if newTip && p.current != nil {
		// Keep the templates of the tip being replaced, for late solutions; drop older ones.
		old := p.tip
		for id, tmpl := range p.templates {
			if tmpl.prevHash != old {
				delete(p.templates, id)
			}
		}
		p.log.Info("new tip", "height", t.Height, "prev_hash", t.PrevHash.String(), "transactions", len(t.Transactions))
	}
	p.current, p.tip, p.fetched = t, sv2.U256(t.PrevHash), time.Now()
	p.warnChallenge(t)
	var events []service.ServerEvent
	var errs []error
	memo := map[constraints]selection{}
	for id, c := range p.clients {
		if c.cons == nil {
			continue
		}
		sel := selectOnce(memo, t, *c.cons)
		clientTip := c.last == nil || c.last.prevHash != p.tip
		// On the same tip, only a rise in fees by feeDelta is worth a template.
		if !clientTip && (sel.err != nil || sel.fees-c.last.fees < p.feeDelta) {
			continue
		}
		ev, err := p.templateFor(id, c, clientTip, sel)
		if err != nil {
			errs = append(errs, fmt.Errorf("client %d: %w", id, err))
			continue
		}
		events = append(events, ev...)
	}
	p.forgetOldTemplates()
	return events, errors.Join(errs...)
}

// RequestTransactionData returns a template's transactions, witness-serialized (§7.4–7.6).
func (p *provider) RequestTransactionData(_ context.Context, id service.ClientID, m *sv2.RequestTransactionData) ([]service.ServerEvent, error) {
	p.mu.Lock()
	t, tip := p.templates[m.TemplateID], p.tip
	p.mu.Unlock()
	var reply sv2.Message
	switch {
	case t == nil:
		reply = &sv2.RequestTransactionDataError{TemplateID: m.TemplateID, ErrorCode: CodeTemplateNotFound}
	case t.prevHash != tip:
		reply = &sv2.RequestTransactionDataError{TemplateID: m.TemplateID, ErrorCode: CodeStaleTemplate}
	default:
		reply = &sv2.RequestTransactionDataSuccess{TemplateID: m.TemplateID, TransactionList: t.txData}
	}
	return []service.ServerEvent{service.SendToClient{Client: id, Message: reply}}, nil
}

// SubmitSolution checks the solution's proof of work, rebuilds the block
// from the stored template and submits it (§7.7). A solution for an unknown
// template or above the target is logged and dropped, never sent to the node.
func (p *provider) SubmitSolution(ctx context.Context, id service.ClientID, m *sv2.SubmitSolution) ([]service.ServerEvent, error) {
	log := p.log.With("client", uint64(id), "template_id", m.TemplateID)
	p.solutions.Add(1)
	t, b, err := p.solutionBlock(m)
	if err != nil {
		// Not a handler error: that would close the client, which may still
		// find valid blocks (a pool resending an old session's solutions, say).
		p.invalid.Add(1)
		log.Error("solution refused; nothing submitted", "error", err)
		return nil, nil
	}
	p.blocks.Add(1)
	log.Info("solution received; submitting the block", "height", t.height, "hash", b.BlockHash().String())
	select {
	case p.submits <- b:
	default:
		// The submitter is far behind: submit on this client's goroutine,
		// detached from it, since a block must go out even if its finder leaves.
		p.submit(context.WithoutCancel(ctx), b)
	}
	return nil, nil
}

// solutionBlock returns the template m names and the block m makes of it,
// or an error wrapping ErrUnknownTemplate, ErrHighHash or the reason the
// parts do not make a block.
func (p *provider) solutionBlock(m *sv2.SubmitSolution) (*template, *wire.MsgBlock, error) {
	p.mu.Lock()
	t := p.templates[m.TemplateID]
	p.mu.Unlock()
	if t == nil {
		return nil, nil, fmt.Errorf("%w %d: not issued by this provider since it started, or expired with its tip", ErrUnknownTemplate, m.TemplateID)
	}
	b, err := assemble(t, m)
	if err != nil {
		return nil, nil, err
	}
	return t, b, nil
}

// submitter submits blocks off the clients' goroutines until submits is
// closed (after the server has stopped, so no solution is left behind);
// ctx bounds the retries.
func (p *provider) submitter(ctx context.Context) {
	for b := range p.submits {
		p.submit(ctx, b)
	}
}

// Retrying a block the node could not be asked about: every submitRetry,
// for up to submitFor.
const (
	submitRetry = time.Second
	submitFor   = 10 * time.Minute
)

// submit hands a block to the node, retrying while the node cannot be
// reached or cannot take it yet (still loading, say): a block must not be
// lost to a hiccup. A refusal is final, whether a BIP22 reason or an RPC
// error about the block such as -22 "Block decode failed" (both are a
// *node.RejectedError): the same block gets the same answer.
func (p *provider) submit(ctx context.Context, b *wire.MsgBlock) {
	log := p.log.With("hash", b.BlockHash().String())
	defer p.recheckTip()
	deadline := time.Now().Add(submitFor)
	for {
		err := p.node.SubmitBlock(ctx, b)
		var rej *node.RejectedError
		switch {
		case err == nil:
			p.accepted.Add(1)
			log.Info("block accepted by the node", "transactions", len(b.Transactions))
			return
		case errors.As(err, &rej) && rej.Duplicate():
			p.accepted.Add(1)
			log.Info("block already on the node: delivered", "reason", rej.Reason) // another path was first
			return
		case errors.As(err, &rej) && rej.Inconclusive():
			p.inconclusive.Add(1)
			log.Warn("the node stored the block without judging it", "reason", rej.Reason)
			return
		case errors.As(err, &rej) && rej.RPC != nil:
			p.refused.Add(1)
			log.Error("node rejected the block", "reason", rej.Reason, "rpc_error", rej.RPC.Code)
			return
		case errors.As(err, &rej):
			p.refused.Add(1)
			log.Error("node rejected the block", "reason", rej.Reason)
			return
		case ctx.Err() != nil || time.Now().After(deadline):
			p.unreachable.Add(1)
			log.Error("giving up on a block the node could not be reached for", "error", err)
			return
		}
		log.Error("node unreachable; retrying the block", "error", err, "in", submitRetry)
		select {
		case <-ctx.Done():
		case <-time.After(submitRetry):
		}
	}
}

// recheckTip asks the template loop for a fresh template; one pending
// request is as good as several.
func (p *provider) recheckTip() {
	select {
	case p.recheck <- struct{}{}:
	default:
	}
}

// opTrue is the challenge of a signet anyone can mine (BIP325 with an
// empty solution), as custom test signets use.
var opTrue = []byte{txscript.OP_TRUE}

// warnChallenge says once that the node's signet needs block signatures,
// which this provider does not make: its blocks carry an empty signet
// solution, which only a challenge like OP_TRUE accepts. p.mu is held.
func (p *provider) warnChallenge(t *node.Template) {
	if p.warned || t.SignetChallenge == nil || bytes.Equal(t.SignetChallenge, opTrue) {
		return
	}
	p.warned = true
	p.log.Warn("the signet's challenge needs a block signature this provider does not make; the node will refuse its blocks unless an empty solution satisfies the challenge",
		"signet_challenge", hex.EncodeToString(t.SignetChallenge))
}

// assemble builds the full block for a solution of t once its header meets
// the target of t's nBits; the header is checked first, from the coinbase
// alone, so a solution that is no block costs no block building.
func assemble(t *template, m *sv2.SubmitSolution) (*wire.MsgBlock, error) {
	var cb wire.MsgTx
	if err := cb.Deserialize(bytes.NewReader(m.CoinbaseTx)); err != nil {
		return nil, fmt.Errorf("templateprovider: coinbase_tx: %w", err)
	}
	txid := cb.TxHash()
	h := block.Header{
		Version:    m.Version,
		PrevHash:   t.prevHash,
		MerkleRoot: merkle.Root(sv2.U256(txid), t.msg.MerklePath),
		NTime:      m.HeaderTimestamp,
		NBits:      t.bits,
		Nonce:      m.HeaderNonce,
	}
	tgt, err := target.FromCompact(t.bits)
	if err != nil {
		return nil, fmt.Errorf("templateprovider: template's nBits: %w", err)
	}
	if hash := h.Hash(); !target.Meets(&hash, &tgt) {
		return nil, fmt.Errorf("%w: hash %s, target %s (nBits %08x)", ErrHighHash, chainhash.Hash(hash), chainhash.Hash(tgt), t.bits)
	}
	return block.Assemble(h, m.CoinbaseTx, t.txData)
}
