// Package tpclient is the template-distribution client that every app
// taking templates from a template provider shares (the pool, the job
// declarator client): a handler for a service.ClientService that states the
// app's coinbase needs on every connection (§7.1), reconnects with backoff,
// keeps recent templates' transactions when asked, and hands each template
// and new tip to the app through hooks.
package tpclient

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// DefaultKeepTemplates is how many templates' transactions are kept when
// Config.KeepTemplates is zero.
const DefaultKeepTemplates = 64

// keepFuture is how many future templates are remembered for a
// SetNewPrevHash to name: a provider sends a few ahead of each block, and
// one named after that many newer ones is not worth showing.
const keepFuture = 8

// Config configures a Handler. Zero values take the documented defaults.
type Config struct {
	// Constraints are the app's coinbase outputs, sent as
	// CoinbaseOutputConstraints on every connection.
	Constraints sv2.CoinbaseOutputConstraints
	// FetchTransactions asks for every template's transactions
	// (RequestTransactionData) and keeps those of the last KeepTemplates
	// templates: for a pool that also submits its blocks to a node, or a job
	// declarator client declaring whole templates.
	FetchTransactions bool
	KeepTemplates     int // DefaultKeepTemplates
	// Backoff spaces the reconnects (zero: 200ms doubling up to 5s); it
	// starts again from Base once connected.
	Backoff backoff.Backoff
	// Logger receives the handler's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for Current.Since (time.Now).
	Now func() time.Time

	// The hooks are called on the client service's goroutine, one at a
	// time; the events they return are carried out after them. Each may be nil.
	OnConnected func(ctx context.Context, s service.ServerInfo) []service.ClientEvent
	OnTemplate  func(ctx context.Context, m *sv2.NewTemplate) []service.ClientEvent
	OnPrevHash  func(ctx context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent
	// OnTransactions gets a template's transactions when FetchTransactions
	// asked for them.
	OnTransactions func(ctx context.Context, templateID uint64, txs [][]byte) []service.ClientEvent
}

// Current is the template the provider last made current.
type Current struct {
	TemplateID uint64
	PrevHash   sv2.U256  // zero until the first SetNewPrevHash
	Value      uint64    // coinbase_tx_value_remaining
	Height     int64     // of the block it makes, from its coinbase's BIP34 push; -1 if it has none
	Since      time.Time // when it became current
}

// futureTemplate is what Current needs of a future template.
type futureTemplate struct {
	id     uint64
	value  uint64
	height int64
}

// Handler is a service.TemplateDistributionClientHandler. Transactions and
// Current may be called from any goroutine; the rest is called by the
// client service.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	retry backoff.Backoff

	mu     sync.Mutex
	txs    map[uint64][][]byte
	order  []uint64 // template ids in the order their transactions came, oldest first
	cur    Current
	hasCur bool
	prev   sv2.U256         // the latest SetNewPrevHash's, which a non-future template builds on
	future []futureTemplate // the latest keepFuture future templates of this connection, oldest first
	addr   string           // the provider connected to, or last connected to
	up     bool             // connected now
}

var _ service.TemplateDistributionClientHandler = (*Handler)(nil)

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.KeepTemplates <= 0 {
		cfg.KeepTemplates = DefaultKeepTemplates
	}
	if cfg.Backoff == (backoff.Backoff{}) {
		cfg.Backoff = backoff.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, log: cfg.Logger, retry: cfg.Backoff, txs: map[uint64][][]byte{}, future: make([]futureTemplate, 0, keepFuture)}
}

// The topics of what a mining server takes from its template-distribution
// sibling: its HandleEvent gets them with Templates.Of and PrevHashes.Of.
var (
	Templates  = service.NewTopic[*sv2.NewTemplate]("template")
	PrevHashes = service.NewTopic[*sv2.TemplateSetNewPrevHash]("prev hash")
)

// ToSibling is a hook's result that hands v, of topic, to the mining handler
// of the sibling server service (the pool's and the JDC's miners).
func ToSibling[T any](topic *service.Topic[T], v T) []service.ClientEvent {
	return []service.ClientEvent{service.SendEventToSiblingServerService{Event: topic.Notify(sv2.ProtocolMining, v)}}
}

// Transactions returns a template's transactions, if they were fetched and
// are still kept.
func (h *Handler) Transactions(id uint64) ([][]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	txs, ok := h.txs[id]
	return txs, ok
}

// Current returns the template the provider last made current (§7): a
// NewTemplate that is not a future one at once, a future one when a
// SetNewPrevHash names it. It is false before any. After a disconnect it
// goes on reporting the last one, its Since growing old.
func (h *Handler) Current() (Current, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.hasCur
}

func (h *Handler) Start(context.Context) ([]service.ClientEvent, error) { return nil, nil }

// Connected states the coinbase needs at once (§7), before any template.
func (h *Handler) Connected(ctx context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	h.retry.Reset()
	// Template ids are the connection's: a restarted provider numbers its
	// templates again, so an earlier connection's future templates must not
	// answer this one's SetNewPrevHash. Current stays as it was.
	h.mu.Lock()
	h.future = h.future[:0]
	h.addr, h.up = s.Address, true
	h.mu.Unlock()
	h.log.Info("template provider connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	c := h.cfg.Constraints
	events := []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &c}}
	return append(events, call(h.cfg.OnConnected, ctx, s)...), nil
}

// Disconnected reconnects after the next backoff delay: the app keeps
// working on what it has meanwhile.
func (h *Handler) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	h.mu.Lock()
	h.up = false
	h.mu.Unlock()
	delay := h.retry.Next()
	h.log.Warn("template provider connection lost; retrying", "error", err, "in", delay)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolTemplateDistribution, Delay: delay}}, nil
}

// Upstream returns the provider's address (the one connected to last, ""
// before any) and whether it is connected now.
func (h *Handler) Upstream() (address string, connected bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr, h.up
}

func (h *Handler) HandleEvent(context.Context, any) ([]service.ClientEvent, error) { return nil, nil }

// NewTemplate goes to the app; its transactions are asked for when configured.
func (h *Handler) NewTemplate(ctx context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	h.log.Debug("template", "id", m.TemplateID, "future", m.FutureTemplate, "value", m.CoinbaseTxValueRemaining)
	h.noteTemplate(m)
	events := call(h.cfg.OnTemplate, ctx, m)
	if h.cfg.FetchTransactions {
		events = append(events, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &sv2.RequestTransactionData{TemplateID: m.TemplateID}})
	}
	return events, nil
}

func (h *Handler) SetNewPrevHash(ctx context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	h.log.Info("new block to mine on", "prev_hash", chainhash.Hash(m.PrevHash).String(), "template", m.TemplateID)
	h.notePrevHash(m)
	return call(h.cfg.OnPrevHash, ctx, m), nil
}

// noteTemplate makes a template current, or remembers it for a
// SetNewPrevHash when it is a future one, forgetting the oldest beyond
// keepFuture.
func (h *Handler) noteTemplate(m *sv2.NewTemplate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !m.FutureTemplate {
		h.cur = Current{TemplateID: m.TemplateID, PrevHash: h.prev, Value: m.CoinbaseTxValueRemaining, Height: templateHeight(m), Since: h.cfg.Now()}
		h.hasCur = true
		return
	}
	if len(h.future) == keepFuture {
		n := copy(h.future, h.future[1:])
		h.future = h.future[:n]
	}
	h.future = append(h.future, futureTemplate{id: m.TemplateID, value: m.CoinbaseTxValueRemaining, height: templateHeight(m)})
}

// notePrevHash makes the future template m names current on m's prev hash.
// A template id it does not remember (forgotten, or never sent) leaves the
// current template as it is, but on the new prev hash from now: what the
// provider builds on changed, whatever the template.
func (h *Handler) notePrevHash(m *sv2.TemplateSetNewPrevHash) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prev = m.PrevHash
	now := h.cfg.Now()
	// Newest first, should a provider ever reuse an id.
	for i := len(h.future) - 1; i >= 0; i-- {
		if f := h.future[i]; f.id == m.TemplateID {
			h.cur = Current{TemplateID: f.id, PrevHash: m.PrevHash, Value: f.value, Height: f.height, Since: now}
			h.hasCur = true
			return
		}
	}
	if h.hasCur {
		h.cur.PrevHash = m.PrevHash
		h.cur.Since = now
	}
}

// RequestTransactionDataSuccess keeps the transactions, forgetting the
// oldest template's beyond KeepTemplates.
func (h *Handler) RequestTransactionDataSuccess(ctx context.Context, m *sv2.RequestTransactionDataSuccess) ([]service.ClientEvent, error) {
	h.mu.Lock()
	if _, had := h.txs[m.TemplateID]; !had {
		h.order = append(h.order, m.TemplateID)
	}
	h.txs[m.TemplateID] = m.TransactionList
	for len(h.order) > h.cfg.KeepTemplates {
		delete(h.txs, h.order[0])
		h.order = h.order[1:]
	}
	h.mu.Unlock()
	if h.cfg.OnTransactions == nil {
		return nil, nil
	}
	return h.cfg.OnTransactions(ctx, m.TemplateID, m.TransactionList), nil
}

func (h *Handler) RequestTransactionDataError(_ context.Context, m *sv2.RequestTransactionDataError) ([]service.ClientEvent, error) {
	h.log.Warn("template provider did not give a template's transactions", "template", m.TemplateID, "code", m.ErrorCode)
	return nil, nil
}

func call[M any](hook func(context.Context, M) []service.ClientEvent, ctx context.Context, m M) []service.ClientEvent {
	if hook == nil {
		return nil
	}
	return hook(ctx, m)
}

// templateHeight is the height of the block a template makes, as its
// coinbase prefix's BIP34 push says; -1 without one.
func templateHeight(m *sv2.NewTemplate) int64 {
	_, h := coinbase.BIP34Height(m.CoinbasePrefix)
	return h
}
