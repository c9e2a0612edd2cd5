// Package synthtp is a template provider without a node: a Template
// Distribution server handler whose chain is synthetic. Every client that
// states its coinbase needs gets a future template for the tip's height and
// the SetNewPrevHash activating it; NewTip moves every client to a new block.
//
// The templates carry no transactions (the coinbase is the whole block) and
// every tip has the nBits of Config.Bits, hard by default (DefaultBits), so
// that a pool keeps shares as shares: on regtest, with a real node, every
// share is also a block. It is for load-testing a pool (sv2 templates) and
// for tests; solutions are counted and logged, never checked or submitted.
package synthtp

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// Defaults for zero Config fields.
const (
	// DefaultBits is an nBits of mainnet in 2014 (difficulty about 1.2e9): no
	// share a load test finds meets it.
	DefaultBits = 0x1903a30c
	// DefaultHeight is the height of the first tip's block.
	DefaultHeight = 1000
	// DefaultCoinbaseValue is coinbase_tx_value_remaining, the subsidy of
	// the fourth halving in satoshis.
	DefaultCoinbaseValue = 312_500_000
)

// CodeTemplateNotFound is the RequestTransactionData.Error code for a
// template id this provider did not issue (§7.6).
const CodeTemplateNotFound = "template-id-not-found"

// Config configures a Provider. Zero values take the defaults above.
type Config struct {
	Bits          uint32           // nBits of every tip (DefaultBits)
	Height        int64            // height of the first tip's block (DefaultHeight)
	CoinbaseValue uint64           // coinbase_tx_value_remaining (DefaultCoinbaseValue)
	Now           func() time.Time // header timestamps (time.Now)
	Logger        *slog.Logger     // nil discards the logs
}

// Tip is one block to mine on: its future template and the prev hash that
// activates it. Its messages are shared by every client and must not be
// changed.
type Tip struct {
	Height   int64
	Template *sv2.NewTemplate
	PrevHash *sv2.TemplateSetNewPrevHash
}

// Messages returns the template and then its prev hash, the order a client
// must get them in.
func (t Tip) Messages() []sv2.Message { return []sv2.Message{t.Template, t.PrevHash} }

// Provider is a service.TemplateDistributionServerHandler. Its methods may
// be called from any goroutine.
type Provider struct {
	service.NullTemplateDistributionServerHandler
	cfg     Config
	network sv2.U256 // the target of cfg.Bits
	log     *slog.Logger

	mu        sync.Mutex
	tip       Tip
	lastTime  uint32
	solutions uint64
}

var _ service.TemplateDistributionServerHandler = (*Provider)(nil)

// tips carries a new tip to every client's goroutine.
var tips = service.NewTopic[Tip]("synthetic tip")

// New returns a provider whose first tip is at cfg.Height. Bits must be a
// positive compact target.
func New(cfg Config) (*Provider, error) {
	if cfg.Bits == 0 {
		cfg.Bits = DefaultBits
	}
	if cfg.Height <= 0 {
		cfg.Height = DefaultHeight
	}
	if cfg.CoinbaseValue == 0 {
		cfg.CoinbaseValue = DefaultCoinbaseValue
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	network, err := target.FromCompact(cfg.Bits)
	if err != nil {
		return nil, fmt.Errorf("synthtp: nBits: %w", err)
	}
	if network == (sv2.U256{}) {
		return nil, fmt.Errorf("synthtp: nBits %#08x is a zero target", cfg.Bits)
	}
	p := &Provider{cfg: cfg, network: network, log: cfg.Logger}
	p.tip = p.makeTip(cfg.Height, 1)
	return p, nil
}

// makeTip builds the tip at height with template id; p.mu is held or p is new.
func (p *Provider) makeTip(height int64, id uint64) Tip {
	prefix, _ := txscript.NewScriptBuilder().AddInt64(height).Script() // BIP34; cannot fail for one number
	ts := max(uint32(p.cfg.Now().Unix()), p.lastTime+1)
	p.lastTime = ts
	return Tip{
		Height: height,
		Template: &sv2.NewTemplate{
			TemplateID: id, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
			CoinbasePrefix: prefix, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: p.cfg.CoinbaseValue,
		},
		PrevHash: &sv2.TemplateSetNewPrevHash{TemplateID: id, PrevHash: prevHash(height), HeaderTimestamp: ts,
			NBits: p.cfg.Bits, Target: p.network},
	}
}

// prevHash is the synthetic hash of the block before height: the same on
// every run, different for every height.
func prevHash(height int64) sv2.U256 {
	b := binary.LittleEndian.AppendUint64([]byte("stratumgo synthtp block "), uint64(height-1))
	return sha256d.Sum(b)
}

// Tip returns the current tip.
func (p *Provider) Tip() Tip {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tip
}

// NewTip moves the chain to a new block at the next height and returns it,
// with the event that sends it to every client: give that to the server
// service's HandleEvent. A client stating its coinbase needs meanwhile gets
// it once, either way.
func (p *Provider) NewTip() (Tip, service.ServerEvent) {
	p.mu.Lock()
	p.tip = p.makeTip(p.tip.Height+1, p.tip.Template.TemplateID+1)
	tip := p.tip
	p.mu.Unlock()
	p.log.Info("new tip", "height", tip.Height, "template", tip.Template.TemplateID, "prev_hash", chainhash.Hash(tip.PrevHash.PrevHash).String())
	return tip, tips.NotifyAll(sv2.ProtocolTemplateDistribution, tip)
}

// Solutions returns how many SubmitSolution messages arrived.
func (p *Provider) Solutions() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.solutions
}

// Flags: no Template Distribution flags are defined (§7), so any requested one is unsupported.
func (p *Provider) Flags(requested uint32) (uint32, uint32) { return 0, requested }

// sent is a client's state: the height of the last tip it was sent, once it
// stated its coinbase needs.
type sent struct{ height int64 }

// CoinbaseOutputConstraints answers with the current tip (§7.1), once per
// tip: the synthetic templates leave room for any outputs, so a client
// restating its needs gets nothing new.
func (p *Provider) CoinbaseOutputConstraints(ctx context.Context, c service.ClientID, _ *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	return p.send(ctx, c, p.Tip(), true), nil
}

// HandleClientEvent sends a new tip to a client that stated its needs and
// does not have it yet; it runs on the client's goroutine, as its messages do.
func (p *Provider) HandleClientEvent(ctx context.Context, c service.ClientID, payload any) ([]service.ServerEvent, error) {
	tip, ok := tips.Of(payload)
	if !ok {
		return nil, fmt.Errorf("synthtp: unexpected event %s", service.PayloadName(payload))
	}
	return p.send(ctx, c, tip, false), nil
}

func (p *Provider) send(ctx context.Context, c service.ClientID, tip Tip, constraints bool) []service.ServerEvent {
	st, _ := service.ClientState(ctx).(*sent)
	switch {
	case st == nil && !constraints:
		return nil // no CoinbaseOutputConstraints yet: it gets the tip then
	case st == nil:
		st = &sent{}
		service.SetClientState(ctx, st)
	}
	if st.height >= tip.Height {
		return nil
	}
	st.height = tip.Height
	return []service.ServerEvent{service.SendMessagesToClient{Client: c, Messages: tip.Messages()}}
}

// RequestTransactionData: every template this provider issued has no
// transactions.
func (p *Provider) RequestTransactionData(_ context.Context, c service.ClientID, m *sv2.RequestTransactionData) ([]service.ServerEvent, error) {
	var reply sv2.Message = &sv2.RequestTransactionDataSuccess{TemplateID: m.TemplateID}
	if m.TemplateID == 0 || m.TemplateID > p.Tip().Template.TemplateID {
		reply = &sv2.RequestTransactionDataError{TemplateID: m.TemplateID, ErrorCode: CodeTemplateNotFound}
	}
	return []service.ServerEvent{service.SendToClient{Client: c, Message: reply}}, nil
}

// SubmitSolution counts and logs the solution; nothing is submitted.
func (p *Provider) SubmitSolution(_ context.Context, c service.ClientID, m *sv2.SubmitSolution) ([]service.ServerEvent, error) {
	p.mu.Lock()
	p.solutions++
	p.mu.Unlock()
	p.log.Info("solution (not submitted: the chain is synthetic)", "client", c, "template", m.TemplateID, "nonce", m.HeaderNonce)
	return nil, nil
}
