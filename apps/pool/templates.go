package pool

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// templates is the pool's template-distribution client handler. The client
// service calls it from one goroutine; the mining side and blocks read what it
// stores, so that sits behind mu.
type templates struct {
	p *Pool

	sigops uint16
	size   uint32

	retries int // consecutive failed connects, for the backoff

	mu    sync.Mutex
	known map[uint64]*templateInfo // template id → what the pool keeps of it
}

// templateInfo is what the pool keeps of a recent template.
type templateInfo struct {
	height  int64    // from the coinbase prefix (BIP34), for logs
	txs     [][]byte // its transactions, once fetched (only with the node path configured)
	fetched bool
}

// info returns id's entry, making it if needed. t.mu must be held.
func (t *templates) info(id uint64) *templateInfo {
	ti := t.known[id]
	if ti == nil {
		ti = &templateInfo{}
		t.known[id] = ti
	}
	return ti
}

var _ service.TemplateDistributionClientHandler = (*templates)(nil)

func (t *templates) Start(context.Context) ([]service.ClientEvent, error) { return nil, nil }

// Connected states the pool's coinbase needs at once (§7) and lets pending
// blocks go out.
func (t *templates) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	t.retries = 0
	t.p.log.Info("template provider connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	t.p.blocks.connected()
	return []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &sv2.CoinbaseOutputConstraints{
		CoinbaseOutputMaxAdditionalSize: t.size, CoinbaseOutputMaxAdditionalSigops: t.sigops,
	}}}, nil
}

// Disconnected retries with backoff: the pool keeps serving its miners the
// last jobs, and found blocks wait or take the node path.
func (t *templates) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	delay := min(time.Duration(1<<min(t.retries, 5))*200*time.Millisecond, 5*time.Second)
	t.retries++
	t.p.log.Warn("template provider connection lost; retrying", "error", err, "in", delay)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolTemplateDistribution, Delay: delay}}, nil
}

func (t *templates) HandleEvent(context.Context, any) ([]service.ClientEvent, error) { return nil, nil }

// NewTemplate goes to the mining server; with the node path configured its
// transactions are fetched too, so a block can be built without the provider.
func (t *templates) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	t.p.log.Debug("template", "id", m.TemplateID, "future", m.FutureTemplate, "value", m.CoinbaseTxValueRemaining)
	t.mu.Lock()
	t.info(m.TemplateID).height = bip34Height(m.CoinbasePrefix)
	t.mu.Unlock()
	events := []service.ClientEvent{service.SendEventToSiblingServerService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: m}}}
	if t.p.blocks.node != nil {
		events = append(events, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &sv2.RequestTransactionData{TemplateID: m.TemplateID}})
	}
	return events, nil
}

func (t *templates) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	t.p.log.Info("new block to mine on", "prev_hash", displayHash(m.PrevHash), "template", m.TemplateID)
	t.prune(m.TemplateID)
	t.p.blocks.onTip(m.PrevHash)
	return []service.ClientEvent{service.SendEventToSiblingServerService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: m}}}, nil
}

func (t *templates) RequestTransactionDataSuccess(_ context.Context, m *sv2.RequestTransactionDataSuccess) ([]service.ClientEvent, error) {
	t.mu.Lock()
	ti := t.info(m.TemplateID)
	ti.txs, ti.fetched = m.TransactionList, true
	t.mu.Unlock()
	return nil, nil
}

func (t *templates) RequestTransactionDataError(_ context.Context, m *sv2.RequestTransactionDataError) ([]service.ClientEvent, error) {
	t.p.log.Warn("template provider did not give a template's transactions; blocks on it need the provider", "template", m.TemplateID, "code", m.ErrorCode)
	return nil, nil
}

// transactions returns a template's transactions, if fetched.
func (t *templates) transactions(id uint64) ([][]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ti := t.known[id]; ti != nil && ti.fetched {
		return ti.txs, true
	}
	return nil, false
}

// height returns a template's block height, or 0 if it is not known.
func (t *templates) height(id uint64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ti := t.known[id]; ti != nil {
		return ti.height
	}
	return 0
}

// prune keeps recent templates only.
func (t *templates) prune(active uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.known {
		if id+64 < active {
			delete(t.known, id)
		}
	}
}

// displayHash shows a hash as block explorers do: byte-reversed hex.
func displayHash(h sv2.U256) string {
	var r [32]byte
	for i := range h {
		r[31-i] = h[i]
	}
	return hex.EncodeToString(r[:])
}

// bip34Height reads the block height a coinbase_prefix starts with (BIP34).
func bip34Height(prefix []byte) int64 {
	if len(prefix) == 0 {
		return 0
	}
	switch op := prefix[0]; {
	case op >= 0x51 && op <= 0x60: // OP_1..OP_16
		return int64(op - 0x50)
	case op >= 1 && op <= 8 && len(prefix) > int(op):
		var n int64
		for i := int(op); i >= 1; i-- {
			n = n<<8 | int64(prefix[i])
		}
		return n
	}
	return 0
}
