package templateprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

const waitLimit = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// fakeTx makes a transaction with a witness when segwit, of about size bytes.
func fakeTx(t *testing.T, seed byte, segwit bool, fee int64, pad int) node.TemplateTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{seed}, Index: 0}, nil, nil)
	if segwit {
		in.Witness = wire.TxWitness{bytes.Repeat([]byte{seed}, 72), bytes.Repeat([]byte{2}, 33)}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(1000, append([]byte{txscript.OP_RETURN, txscript.OP_DATA_1, seed}, make([]byte, pad)...)))
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return node.TemplateTx{Data: buf.Bytes(), TxID: tx.TxHash(), WTxID: tx.WitnessHash(), Fee: fee}
}

func fakeTemplate(height int64, prev byte, txs ...node.TemplateTx) *node.Template {
	var fees int64
	for _, tx := range txs {
		fees += tx.Fee
	}
	target := new(big.Int).Lsh(big.NewInt(0x7fffff), 232)
	return &node.Template{
		Version: 0x20000000, PrevHash: chainhash.Hash{prev, 1, 2}, Transactions: txs,
		CoinbaseValue: 5_000_000_000 + fees, Bits: 0x207fffff, Target: target, Height: height,
		CurTime: 1_700_000_000 + height, MinTime: 1_700_000_000,
	}
}

// fakeNode serves a template the test sets and records submitted blocks.
type fakeNode struct {
	mu        sync.Mutex
	tmpl      *node.Template
	failures  int // getblocktemplate calls still to fail, as a node that is down
	submitted chan *wire.MsgBlock
}

// failNext makes the next n getblocktemplate calls fail.
func (f *fakeNode) failNext(n int) {
	f.mu.Lock()
	f.failures = n
	f.mu.Unlock()
}

func (f *fakeNode) failuresLeft() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

func (f *fakeNode) set(t *node.Template) {
	f.mu.Lock()
	f.tmpl = t
	f.mu.Unlock()
}

func (f *fakeNode) GetBlockTemplate(context.Context) (*node.Template, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return nil, errors.New("connection refused")
	}
	if f.tmpl == nil {
		return nil, errors.New("no template")
	}
	return f.tmpl, nil
}

func (f *fakeNode) SubmitBlock(_ context.Context, b *wire.MsgBlock) error {
	f.submitted <- b
	return nil
}

// recClient records what a template-distribution client receives.
type recClient struct {
	service.NullTemplateDistributionClientHandler
	cons     *sv2.CoinbaseOutputConstraints
	received chan sv2.Message
}

func (h *recClient) Connected(context.Context, service.ServerInfo) ([]service.ClientEvent, error) {
	return []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: h.cons}}, nil
}

func (h *recClient) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	h.received <- m
	return nil, nil
}

func (h *recClient) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	h.received <- m
	return nil, nil
}

func (h *recClient) RequestTransactionDataSuccess(_ context.Context, m *sv2.RequestTransactionDataSuccess) ([]service.ClientEvent, error) {
	h.received <- m
	return nil, nil
}

func (h *recClient) RequestTransactionDataError(_ context.Context, m *sv2.RequestTransactionDataError) ([]service.ClientEvent, error) {
	h.received <- m
	return nil, nil
}

type harness struct {
	node *fakeNode
	tips chan node.Tip
	addr string
	logs *logBuffer
}

// logBuffer keeps the provider's logs for tests to look for a line in.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// slogTo logs everything, as text, to l.
func slogTo(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// line returns the first log line containing every one of parts, or "".
func (l *logBuffer) line(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.Lines(l.buf.String()) {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return line
		}
	}
	return ""
}

// startTP runs serve with a fake node over loopback, plain.
func startTP(t *testing.T, first *node.Template, feeDelta int64) *harness {
	t.Helper()
	return startTPWith(t, first, feeDelta, nil)
}

// startTPWith is startTP with mod adjusting the configuration.
func startTPWith(t *testing.T, first *node.Template, feeDelta int64, mod func(*Config)) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{node: &fakeNode{submitted: make(chan *wire.MsgBlock, 4)}, tips: make(chan node.Tip, 4), addr: ln.Addr().String(), logs: &logBuffer{}}
	h.node.set(first)
	watch := func(ctx context.Context, _ node.WatchConfig, onTip func(node.Tip)) error {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case tip := <-h.tips:
				onTip(tip)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// An hour between template checks: whatever a test sees come out
		// was triggered by something else.
		cfg := Config{Listener: ln, Plain: true, FeeDelta: feeDelta, TemplateInterval: time.Hour,
			Watch:  node.WatchConfig{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
			Logger: slogTo(h.logs)}
		if mod != nil {
			mod(&cfg)
		}
		done <- serve(ctx, cfg, h.node, watch)
	}()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, done, "serve to return"); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	h.tips <- node.Tip{Height: first.Height - 1}
	return h
}

func (h *harness) connect(t *testing.T, size uint32, sigops uint16) *recClient {
	t.Helper()
	c := &recClient{cons: &sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: size, CoinbaseOutputMaxAdditionalSigops: sigops}, received: make(chan sv2.Message, 16)}
	cli, err := service.NewClientService(service.ClientConfig{TemplateDistribution: &service.UpstreamConfig{Address: h.addr, Plain: true}}, nil, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		recv(t, done, "client to stop")
	})
	return c
}

func nextTemplate(t *testing.T, c *recClient) (*sv2.NewTemplate, *sv2.TemplateSetNewPrevHash) {
	t.Helper()
	nt, ok := recv(t, c.received, "NewTemplate").(*sv2.NewTemplate)
	if !ok {
		t.Fatal("expected NewTemplate")
	}
	if !nt.FutureTemplate {
		return nt, nil
	}
	snph, ok := recv(t, c.received, "SetNewPrevHash").(*sv2.TemplateSetNewPrevHash)
	if !ok || snph.TemplateID != nt.TemplateID {
		t.Fatalf("future template %d not followed by its SetNewPrevHash: %#v", nt.TemplateID, snph)
	}
	return nt, snph
}

func TestTemplateFields(t *testing.T) {
	txs := []node.TemplateTx{fakeTx(t, 1, true, 500, 0), fakeTx(t, 2, false, 700, 0)}
	tmpl := fakeTemplate(300, 9, txs...)
	h := startTP(t, tmpl, 1000)
	c := h.connect(t, 100, 4)
	nt, snph := nextTemplate(t, c)
	if snph == nil {
		t.Fatal("first template must be a future one with its SetNewPrevHash")
	}
	wantPrefix, _ := txscript.NewScriptBuilder().AddInt64(300).Script()
	if !bytes.Equal(nt.CoinbasePrefix, wantPrefix) || nt.CoinbaseTxValueRemaining != 5_000_001_200 || nt.Version != 0x20000000 ||
		nt.CoinbaseTxVersion != 2 || nt.CoinbaseTxInputSequence != 0xffffffff || nt.CoinbaseTxLocktime != 0 {
		t.Errorf("NewTemplate fields: %+v", nt)
	}
	// The witness commitment output, since a transaction has a witness.
	wantCommit := coinbase.WitnessCommitmentScript([]sv2.U256{sv2.U256(txs[0].WTxID), sv2.U256(txs[1].WTxID)})
	var out wire.TxOut
	r := bytes.NewReader(nt.CoinbaseTxOutputs)
	if err := wire.ReadTxOut(r, 0, 0, &out); err != nil || nt.CoinbaseTxOutputsCount != 1 || r.Len() != 0 || out.Value != 0 || !bytes.Equal(out.PkScript, wantCommit) {
		t.Errorf("coinbase_tx_outputs %x (count %d): %v", nt.CoinbaseTxOutputs, nt.CoinbaseTxOutputsCount, err)
	}
	wantPath := merkle.Path([]sv2.U256{sv2.U256(txs[0].TxID), sv2.U256(txs[1].TxID)})
	if len(nt.MerklePath) != len(wantPath) || nt.MerklePath[0] != wantPath[0] {
		t.Errorf("merkle path %v, want %v", nt.MerklePath, wantPath)
	}
	wantTarget, _ := target.FromBig(tmpl.Target)
	if snph.PrevHash != sv2.U256(tmpl.PrevHash) || snph.NBits != 0x207fffff || snph.HeaderTimestamp != uint32(tmpl.CurTime) || snph.Target != wantTarget {
		t.Errorf("SetNewPrevHash: %+v", snph)
	}
}

func TestNewTipReachesEveryClient(t *testing.T) {
	h := startTP(t, fakeTemplate(10, 1), 1000)
	clients := []*recClient{h.connect(t, 0, 0), h.connect(t, 100, 0), h.connect(t, 5000, 10)}
	ids := map[uint64]bool{}
	for _, c := range clients {
		nt, _ := nextTemplate(t, c)
		ids[nt.TemplateID] = true
	}
	for round := range 3 {
		next := fakeTemplate(int64(11+round), byte(2+round))
		h.node.set(next)
		h.tips <- node.Tip{Height: next.Height - 1}
		for i, c := range clients {
			nt, snph := nextTemplate(t, c)
			if snph == nil || snph.PrevHash != sv2.U256(next.PrevHash) {
				t.Fatalf("round %d client %d: no SetNewPrevHash for the new tip (%+v)", round, i, snph)
			}
			if ids[nt.TemplateID] {
				t.Fatalf("template id %d reused", nt.TemplateID)
			}
			ids[nt.TemplateID] = true
		}
	}
}

func TestFeeDelta(t *testing.T) {
	tx1, tx2, tx3 := fakeTx(t, 1, true, 400, 0), fakeTx(t, 2, true, 500, 0), fakeTx(t, 3, true, 2000, 0)
	h := startTP(t, fakeTemplate(50, 1, tx1), 1000)
	c := h.connect(t, 0, 0)
	first, _ := nextTemplate(t, c)
	// The template loop fetches a template on each tip report, as on its timer.
	// +500 sats: below the delta, nothing is sent.
	h.node.set(fakeTemplate(50, 1, tx1, tx2))
	h.tips <- node.Tip{Height: 49}
	// +2500 sats from the first template: a new, non-future template.
	h.node.set(fakeTemplate(50, 1, tx1, tx2, tx3))
	h.tips <- node.Tip{Height: 49}
	nt, snph := nextTemplate(t, c)
	if snph != nil || nt.FutureTemplate || nt.TemplateID <= first.TemplateID || nt.CoinbaseTxValueRemaining != 5_000_002_900 {
		t.Errorf("after a fee rise: %+v (future %t)", nt, nt.FutureTemplate)
	}
	select {
	case m := <-c.received:
		t.Errorf("unexpected %s", sv2.Info(m).Name)
	default:
	}
}

func TestReservationDropsTransactions(t *testing.T) {
	// Three transactions of ~100 kWU each, a child of the third, and a small independent one.
	txs := []node.TemplateTx{fakeTx(t, 1, false, 100, 25_000), fakeTx(t, 2, false, 100, 25_000), fakeTx(t, 3, false, 100, 25_000)}
	child := fakeTx(t, 4, false, 100, 0)
	child.Depends = []int{3}
	small := fakeTx(t, 5, true, 100, 0)
	tmpl := fakeTemplate(5, 1, append(txs, child, small)...)
	weight := int64(0)
	for _, tx := range tmpl.Transactions {
		w, _ := txWeight(tx)
		weight += w
	}
	tmpl.WeightLimit = weight + reservedWeight // room for everything without client outputs
	all, _, _ := selectTransactions(tmpl, constraints{})
	if len(all) != 5 {
		t.Fatalf("kept %d of 5 with no constraints", len(all))
	}
	// Reserving 20 kB of outputs (80 kWU) must drop the third big transaction
	// and, with it, its child; the small one still fits.
	kept, fees, err := selectTransactions(tmpl, constraints{size: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	var keptWeight int64
	for _, tx := range kept {
		w, _ := txWeight(tx)
		keptWeight += w
	}
	if keptWeight+reservedWeight+4*20_000 > tmpl.WeightLimit {
		t.Errorf("kept %d WU: over the limit once 80 kWU are reserved", keptWeight)
	}
	if len(kept) != 3 || kept[0].TxID != txs[0].TxID || kept[1].TxID != txs[1].TxID || kept[2].TxID != small.TxID || fees != 300 {
		t.Errorf("kept %d transactions (fees %d), want the first two and the small one", len(kept), fees)
	}
	// Sigops count too.
	tmpl.Transactions[1].SigOps = 79_000
	if kept, _, _ := selectTransactions(tmpl, constraints{sigops: 2000}); len(kept) != 4 {
		t.Errorf("with 2000 sigops reserved: kept %d, want the 79,000-sigop transaction dropped", len(kept))
	}
	// Constraints bigger than a block are an error, not an invalid template.
	if _, _, err := selectTransactions(tmpl, constraints{size: 2_000_000}); err == nil {
		t.Error("constraints larger than the block accepted")
	}
}

func TestRequestTransactionData(t *testing.T) {
	txs := []node.TemplateTx{fakeTx(t, 1, true, 500, 0), fakeTx(t, 2, false, 700, 0)}
	h := startTP(t, fakeTemplate(7, 1, txs...), 1000)
	c := h.connect(t, 0, 0)
	nt, _ := nextTemplate(t, c)
	p := requestTxData(t, h, nt.TemplateID)
	ok, isOK := p.(*sv2.RequestTransactionDataSuccess)
	if !isOK || len(ok.TransactionList) != 2 || !bytes.Equal(ok.TransactionList[0], txs[0].Data) {
		t.Fatalf("RequestTransactionData: %#v", p)
	}
	if e, _ := requestTxData(t, h, 999).(*sv2.RequestTransactionDataError); e == nil || e.ErrorCode != CodeTemplateNotFound {
		t.Errorf("unknown id: %#v", e)
	}
	h.node.set(fakeTemplate(8, 2))
	h.tips <- node.Tip{Height: 7}
	nextTemplate(t, c)
	if e, _ := requestTxData(t, h, nt.TemplateID).(*sv2.RequestTransactionDataError); e == nil || e.ErrorCode != CodeStaleTemplate {
		t.Errorf("previous tip's template: %#v", e)
	}
}

// requestTxData asks over a fresh connection, as any client may.
func requestTxData(t *testing.T, h *harness, id uint64) sv2.Message {
	t.Helper()
	c := &recClient{received: make(chan sv2.Message, 16)}
	rc := &requester{recClient: c, id: id}
	cli, err := service.NewClientService(service.ClientConfig{TemplateDistribution: &service.UpstreamConfig{Address: h.addr, Plain: true}}, nil, nil, rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	defer func() { cancel(); <-done }()
	return recv(t, c.received, "RequestTransactionData reply")
}

type requester struct {
	*recClient
	id uint64
}

func (r *requester) Connected(context.Context, service.ServerInfo) ([]service.ClientEvent, error) {
	return []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &sv2.RequestTransactionData{TemplateID: r.id}}}, nil
}

// solution makes a SubmitSolution for nt as a client would: a coinbase of
// the BIP34 prefix and an extranonce, one payout, the template's outputs and
// the witness reserved value, and a nonce ground from from until the header
// meets the target of snph's nBits (meets) or does not (!meets). It returns
// the coinbase too.
func solution(t *testing.T, nt *sv2.NewTemplate, snph *sv2.TemplateSetNewPrevHash, meets bool, from uint32) (*sv2.SubmitSolution, *wire.MsgTx) {
	t.Helper()
	cb := wire.NewMsgTx(int32(nt.CoinbaseTxVersion))
	in := wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, append(append([]byte{}, nt.CoinbasePrefix...), 4, 1, 2, 3, 4), nil)
	in.Sequence = nt.CoinbaseTxInputSequence
	in.Witness = wire.TxWitness{make([]byte, 32)}
	cb.AddTxIn(in)
	cb.AddTxOut(wire.NewTxOut(int64(nt.CoinbaseTxValueRemaining), []byte{txscript.OP_TRUE}))
	if nt.CoinbaseTxOutputsCount > 0 {
		var out wire.TxOut
		if err := wire.ReadTxOut(bytes.NewReader(nt.CoinbaseTxOutputs), 0, 0, &out); err != nil {
			t.Fatal(err)
		}
		cb.AddTxOut(&out)
	}
	var raw bytes.Buffer
	if err := cb.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	tgt, err := target.FromCompact(snph.NBits)
	if err != nil {
		t.Fatal(err)
	}
	h := block.Header{Version: nt.Version, PrevHash: snph.PrevHash, MerkleRoot: merkle.Root(sv2.U256(cb.TxHash()), nt.MerklePath),
		NTime: snph.HeaderTimestamp, NBits: snph.NBits, Nonce: from}
	for hash := h.Hash(); target.Meets(&hash, &tgt) != meets; hash = h.Hash() {
		h.Nonce++ // at the regtest target about every other nonce meets it
	}
	return &sv2.SubmitSolution{TemplateID: nt.TemplateID, Version: nt.Version, HeaderTimestamp: snph.HeaderTimestamp, HeaderNonce: h.Nonce, CoinbaseTx: raw.Bytes()}, cb
}

// submit sends sols, in order, over a fresh connection.
func (h *harness) submit(t *testing.T, sols ...*sv2.SubmitSolution) {
	t.Helper()
	cli := &solver{recClient: &recClient{received: make(chan sv2.Message, 16)}, sols: sols}
	sc, err := service.NewClientService(service.ClientConfig{TemplateDistribution: &service.UpstreamConfig{Address: h.addr, Plain: true}}, nil, nil, cli)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSubmitSolutionBuildsTheBlock(t *testing.T) {
	txs := []node.TemplateTx{fakeTx(t, 1, true, 500, 0), fakeTx(t, 2, false, 700, 0), fakeTx(t, 3, true, 100, 0)}
	tmpl := fakeTemplate(400, 3, txs...)
	h := startTP(t, tmpl, 1000)
	c := h.connect(t, 0, 0)
	nt, snph := nextTemplate(t, c)
	sol, cb := solution(t, nt, snph, true, 0)
	h.submit(t, sol)

	b := recv(t, h.node.submitted, "submitted block")
	if len(b.Transactions) != 4 || b.Header.Nonce != sol.HeaderNonce || b.Header.PrevBlock != tmpl.PrevHash || b.Header.Bits != tmpl.Bits {
		t.Fatalf("block: %d transactions, header %+v", len(b.Transactions), b.Header)
	}
	root := merkle.Root(sv2.U256(cb.TxHash()), nt.MerklePath)
	if sv2.U256(b.Header.MerkleRoot) != root {
		t.Errorf("merkle root %s, want %x", b.Header.MerkleRoot, root)
	}
}

// A solution whose header does not meet the template's nBits is not a block:
// it never reaches the node, and the refusal is logged. (The provider used
// to submit any nonce.) A valid solution sent after it on the same
// connection is handled after it, so it being the first block the node sees
// proves the other was dropped.
func TestSubmitSolutionAboveTheTargetNeverReachesTheNode(t *testing.T) {
	tmpl := fakeTemplate(400, 3, fakeTx(t, 1, true, 500, 0))
	h := startTP(t, tmpl, 1000)
	c := h.connect(t, 0, 0)
	nt, snph := nextTemplate(t, c)
	bad, _ := solution(t, nt, snph, false, 0)
	good, _ := solution(t, nt, snph, true, 0)
	h.submit(t, bad, good)

	if b := recv(t, h.node.submitted, "the valid block"); b.Header.Nonce != good.HeaderNonce {
		t.Fatalf("the node was sent nonce %d first, want only the valid %d (the invalid one is %d)", b.Header.Nonce, good.HeaderNonce, bad.HeaderNonce)
	}
	if h.logs.line("level=ERROR", "solution refused", "header hash above the network target") == "" {
		t.Errorf("no error logged for the solution above the target; logs:\n%s", h.logs.buf.String())
	}
	if b, err := blockOf(t, tmpl, nt.TemplateID, bad); !errors.Is(err, ErrHighHash) {
		t.Errorf("solutionBlock(above the target) = %v, %v; want ErrHighHash", b, err)
	}
	if _, err := blockOf(t, tmpl, nt.TemplateID, good); err != nil {
		t.Errorf("solutionBlock(valid) = %v", err)
	}
}

// A solution for a template id the provider never issued (a restarted
// provider, a client on another one) never reaches the node: it is not
// guessed from the node's current template, which may be on another tip.
func TestSubmitSolutionForAnUnknownTemplateNeverReachesTheNode(t *testing.T) {
	tmpl := fakeTemplate(400, 3, fakeTx(t, 1, true, 500, 0))
	h := startTP(t, tmpl, 1000)
	c := h.connect(t, 0, 0)
	nt, snph := nextTemplate(t, c)
	// Solved against the very template the node still serves, so a guess
	// would even make a valid block: the id alone must refuse it.
	unknown, _ := solution(t, nt, snph, true, 0)
	unknown.TemplateID = nt.TemplateID + 1000
	good, _ := solution(t, nt, snph, true, unknown.HeaderNonce+1) // another nonce, to tell them apart at the node
	h.submit(t, unknown, good)

	if b := recv(t, h.node.submitted, "the valid block"); b.Header.Nonce != good.HeaderNonce {
		t.Fatalf("the node was sent nonce %d first, want only the known template's %d", b.Header.Nonce, good.HeaderNonce)
	}
	if h.logs.line("level=ERROR", "solution refused", "unknown template id", fmt.Sprintf("template_id=%d", unknown.TemplateID)) == "" {
		t.Errorf("no error logged for the unknown template id; logs:\n%s", h.logs.buf.String())
	}
	if b, err := blockOf(t, tmpl, nt.TemplateID, unknown); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("solutionBlock(unknown id) = %v, %v; want ErrUnknownTemplate", b, err)
	}
}

// blockOf calls solutionBlock on a provider that issued template id for
// nodeTmpl (to a client without constraints, as the harness's is): the
// handler itself only logs its errors.
func blockOf(t *testing.T, nodeTmpl *node.Template, id uint64, m *sv2.SubmitSolution) (*wire.MsgBlock, error) {
	t.Helper()
	p := newProvider(nil, 1000, false, slog.New(slog.DiscardHandler))
	tmpl, err := buildTemplate(nodeTmpl, selectFor(nodeTmpl, constraints{}), id, true, false)
	if err != nil {
		t.Fatal(err)
	}
	p.templates[id] = tmpl
	_, b, err := p.solutionBlock(m)
	return b, err
}

type solver struct {
	*recClient
	sols []*sv2.SubmitSolution
}

func (s *solver) Connected(context.Context, service.ServerInfo) ([]service.ClientEvent, error) {
	var events []service.ClientEvent
	for _, m := range s.sols {
		events = append(events, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: m})
	}
	return events, nil
}

// A provider whose server cannot listen ends with the error instead of
// running on without a server.
func TestServeEndsWhenItCannotListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	watch := func(ctx context.Context, _ node.WatchConfig, _ func(node.Tip)) error {
		<-ctx.Done()
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		done <- serve(context.Background(), Config{Listen: taken.Addr().String(), Plain: true}, &fakeNode{}, watch)
	}()
	if err := recv(t, done, "serve to return"); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("serve = %v, want the listen error", err)
	}
}

// flakyNode fails to answer submitblock a few times before accepting.
type flakyNode struct {
	fakeNode
	failures int
	tries    chan struct{}
}

func (f *flakyNode) SubmitBlock(ctx context.Context, b *wire.MsgBlock) error {
	f.tries <- struct{}{}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return errors.New("connection refused")
	}
	f.submitted <- b
	return nil
}

// A node that cannot be reached for a moment does not lose the block.
func TestSubmitRetriesAnUnreachableNode(t *testing.T) {
	n := &flakyNode{fakeNode: fakeNode{submitted: make(chan *wire.MsgBlock, 1)}, failures: 2, tries: make(chan struct{}, 10)}
	p := newProvider(n, 1000, false, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.submitter(ctx)
	defer close(p.submits)
	p.submits <- wire.NewMsgBlock(&wire.BlockHeader{Nonce: 7})
	b := recv(t, n.submitted, "the block to be accepted")
	if b.Header.Nonce != 7 || len(n.tries) != 3 {
		t.Errorf("accepted after %d tries: %+v", len(n.tries), b.Header)
	}
}

// A node that already has the block (the pool's node path was first) is a
// delivery, logged at INFO, not a rejection at ERROR (issue 12 item 18).
func TestDuplicateAnswerIsNotAnError(t *testing.T) {
	rec := &levelRecorder{}
	n := &answerNode{err: &node.RejectedError{Reason: "duplicate"}}
	p := newProvider(n, 1000, false, slog.New(rec))
	p.submit(context.Background(), wire.NewMsgBlock(&wire.BlockHeader{Nonce: 1}))
	for _, r := range rec.records() {
		if r.Level >= slog.LevelError {
			t.Errorf("%s at %s for a duplicate", r.Message, r.Level)
		}
	}
	n.err = &node.RejectedError{Reason: "bad-txnmrklroot"}
	p.submit(context.Background(), wire.NewMsgBlock(&wire.BlockHeader{Nonce: 2}))
	var errs int
	for _, r := range rec.records() {
		if r.Level >= slog.LevelError {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("%d ERROR lines for a real rejection, want 1", errs)
	}
}

// answerNode answers every submitblock with err.
type answerNode struct {
	fakeNode
	err error
}

func (n *answerNode) SubmitBlock(context.Context, *wire.MsgBlock) error { return n.err }

// levelRecorder is a slog.Handler keeping every record.
type levelRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler      { return h }
func (h *levelRecorder) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// rpcNode is a JSON-RPC endpoint answering submitblock with the next of
// its answers (the last one from then on), for a real *node.Client.
type rpcNode struct {
	mu      sync.Mutex
	answers []string // JSON-RPC reply bodies
	submits int
}

func (n *rpcNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string `json:"method"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	if req.Method != "submitblock" {
		http.Error(w, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`, http.StatusNotFound)
		return
	}
	n.mu.Lock()
	n.submits++
	body := n.answers[0]
	if len(n.answers) > 1 {
		n.answers = n.answers[1:]
	}
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(body, `"error":{`) {
		w.WriteHeader(http.StatusInternalServerError) // as Bitcoin Core answers RPC errors
	}
	w.Write([]byte(body))
}

// An RPC error answer about the block, such as -22 "Block decode failed",
// is the node's verdict: logged as a rejection and not sent again (it was
// retried every second for ten minutes). An error that is the node's state
// (-28, still loading) is retried like an unreachable node.
func TestSubmitRPCErrorAboutTheBlockIsFinal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []string
		submits int
		level   slog.Level
		msg     string
	}{
		{"block decode failed", []string{`{"result":null,"error":{"code":-22,"message":"Block decode failed"},"id":1}`},
			1, slog.LevelError, "node rejected the block"},
		{"warming up", []string{`{"result":null,"error":{"code":-28,"message":"Loading block index…"},"id":1}`, `{"result":null,"error":null,"id":1}`},
			2, slog.LevelInfo, "block accepted by the node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn := &rpcNode{answers: tc.answers}
			srv := httptest.NewServer(rn)
			t.Cleanup(srv.Close)
			c, err := node.New(node.Config{URL: srv.URL, User: "u", Password: "p"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			rec := &levelRecorder{}
			p := newProvider(c, 1000, false, slog.New(rec))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			p.submit(ctx, wire.NewMsgBlock(&wire.BlockHeader{Nonce: 1}))
			rn.mu.Lock()
			submits := rn.submits
			rn.mu.Unlock()
			if ctx.Err() != nil {
				t.Fatalf("submit still retrying after 5s, %d submitblock calls", submits)
			}
			if submits != tc.submits {
				t.Errorf("%d submitblock calls, want %d", submits, tc.submits)
			}
			recs := rec.records()
			if last := recs[len(recs)-1]; last.Level != tc.level || last.Message != tc.msg {
				t.Errorf("last log line %s %q, want %s %q", last.Level, last.Message, tc.level, tc.msg)
			}
		})
	}
}
