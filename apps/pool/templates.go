package pool

import (
	"context"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// templates is the pool's template-distribution client handler. The client
// service calls it from one goroutine; blocks reads what it stores, so the
// stored transactions sit behind mu.
type templates struct {
	p *Pool

	sigops uint16
	size   uint32

	retry backoff.Backoff // between reconnects to the provider

	mu  sync.Mutex
	txs map[uint64][][]byte // template id → transactions, when the node path is configured
}

var _ service.TemplateDistributionClientHandler = (*templates)(nil)

// tpBackoff is the delay between attempts to reach the template provider:
// 200ms, doubling up to 5s.
func tpBackoff() backoff.Backoff {
	return backoff.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second}
}

func (t *templates) Start(context.Context) ([]service.ClientEvent, error) { return nil, nil }

// Connected states the pool's coinbase needs at once (§7) and lets pending
// blocks go out.
func (t *templates) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	t.retry.Reset()
	t.p.log.Info("template provider connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	t.p.blocks.Connected()
	return []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &sv2.CoinbaseOutputConstraints{
		CoinbaseOutputMaxAdditionalSize: t.size, CoinbaseOutputMaxAdditionalSigops: t.sigops,
	}}}, nil
}

// Disconnected retries with backoff: the pool keeps serving its miners the
// last jobs, and found blocks wait or take the node path.
func (t *templates) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	delay := t.retry.Next()
	t.p.log.Warn("template provider connection lost; retrying", "error", err, "in", delay)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolTemplateDistribution, Delay: delay}}, nil
}

func (t *templates) HandleEvent(context.Context, any) ([]service.ClientEvent, error) { return nil, nil }

// NewTemplate goes to the mining server; with the node path configured its
// transactions are fetched too, so a block can be built without the provider.
func (t *templates) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	t.p.log.Debug("template", "id", m.TemplateID, "future", m.FutureTemplate, "value", m.CoinbaseTxValueRemaining)
	events := []service.ClientEvent{service.SendEventToSiblingServerService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: m}}}
	if t.p.cfg.Node != nil {
		events = append(events, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &sv2.RequestTransactionData{TemplateID: m.TemplateID}})
	}
	return events, nil
}

func (t *templates) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	t.p.log.Info("new block to mine on", "prev_hash", displayHash(m.PrevHash), "template", m.TemplateID)
	t.prune(m.TemplateID)
	t.p.blocks.OnTip(m.PrevHash)
	return []service.ClientEvent{service.SendEventToSiblingServerService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: m}}}, nil
}

func (t *templates) RequestTransactionDataSuccess(_ context.Context, m *sv2.RequestTransactionDataSuccess) ([]service.ClientEvent, error) {
	t.mu.Lock()
	t.txs[m.TemplateID] = m.TransactionList
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
	txs, ok := t.txs[id]
	return txs, ok
}

// prune keeps the transactions of recent templates only.
func (t *templates) prune(active uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.txs {
		if id+64 < active {
			delete(t.txs, id)
		}
	}
}

// displayHash shows a hash as block explorers do: byte-reversed hex.
func displayHash(h sv2.U256) string { return chainhash.Hash(h).String() }
