package jdserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// The harness below drives the handler's inner methods (declare, provide,
// push) with a *client of the test's, a fake node and a fake mempool: no
// network, so that fuzzing is fast and deterministic.

// memNode is a Node that judges every block with verdict and records what
// it was given.
type memNode struct {
	mu        sync.Mutex
	verdict   error
	proposals [][]byte
	submitted [][]byte
}

func (n *memNode) ProposeBlock(_ context.Context, b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.proposals = append(n.proposals, bytes.Clone(b))
	return n.verdict
}

func (n *memNode) SubmitRawBlock(_ context.Context, b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.submitted = append(n.submitted, bytes.Clone(b))
	return nil
}

func (n *memNode) lastProposal() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.proposals) == 0 {
		return nil
	}
	return n.proposals[len(n.proposals)-1]
}

// memMempool is a Mempool of fixed transactions.
type memMempool struct {
	txs map[chainhash.Hash]node.MempoolTx
}

func (m *memMempool) Refresh(context.Context) error { return nil }
func (m *memMempool) Lookup(w chainhash.Hash) (node.MempoolTx, bool) {
	tx, ok := m.txs[w]
	return tx, ok
}

func (m *memMempool) add(txs ...*wire.MsgTx) {
	for _, tx := range txs {
		m.txs[tx.WitnessHash()] = node.MempoolTx{TxID: tx.TxHash(), WTxID: tx.WitnessHash(), Raw: serialize(tx)}
	}
}

// harness is a declarator without the network.
type harness struct {
	d     *declarator
	node  *memNode
	pool  *memMempool
	clock *fakeClock
	tip   *sv2.TemplateSetNewPrevHash
}

var harnessKey = func() noise.SecretKey {
	sk, _, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		panic(err)
	}
	return sk
}()

// newHarness is a declarator on a tip of nBits at tipHeight, whose pushed
// blocks go to its node at once.
func newHarness(t testing.TB, nBits uint32, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{node: &memNode{}, pool: &memMempool{txs: map[chainhash.Hash]node.MempoolTx{}}, clock: &fakeClock{now: testEpoch}}
	sk := harnessKey
	cfg := Config{AuthorityKey: &sk, PayoutScript: payoutScript, Network: "regtest", Now: h.clock.Now,
		TemplateProvider: TemplateProvider{Address: "127.0.0.1:1"}, Node: node.Config{URL: "http://127.0.0.1:1"},
		Logger: slog.New(slog.DiscardHandler), DeclareBurst: 1 << 30, TokenBurst: 1 << 30}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	params, err := network.Params("regtest")
	if err != nil {
		t.Fatal(err)
	}
	h.d = newTestDeclarator(cfg, params, h.node, h.pool)
	prefix, _ := txscript.NewScriptBuilder().AddInt64(tipHeight).Script()
	h.d.chain.template(&sv2.NewTemplate{TemplateID: 7, FutureTemplate: true, CoinbasePrefix: prefix})
	h.tip = &sv2.TemplateSetNewPrevHash{TemplateID: 7, PrevHash: sv2.U256(sha256.Sum256([]byte("prev"))), HeaderTimestamp: uint32(testEpoch.Unix()), NBits: nBits}
	h.d.chain.prevHash(h.tip)
	return h
}

func newTestDeclarator(cfg Config, params *chaincfg.Params, n Node, mp Mempool) *declarator {
	log := cfg.Logger
	d := &declarator{
		cfg: cfg, log: log, key: *cfg.AuthorityKey, pub: cfg.AuthorityKey.PublicKey(),
		outputs: payoutOutputs(cfg.PayoutScript), chain: newChain(), node: n, mempool: mp,
		blocks: &pushed{node: n, log: log, giveUp: cfg.SubmitGiveUp, inFlight: map[chainhash.Hash]bool{}, ctx: context.Background()},
		stats:  &counters{},
	}
	d.params.Store(params)
	return d
}

func newClient(full bool) *client {
	return &client{full: full, tokens: map[uint64]time.Time{}, pending: map[uint32]*declaration{}}
}

// messages are the messages of events, in order.
func messages(t testing.TB, evs []service.ServerEvent) []sv2.Message {
	t.Helper()
	var out []sv2.Message
	for _, ev := range evs {
		switch e := ev.(type) {
		case service.SendToClient:
			out = append(out, e.Message)
		case service.SendMessagesToClient:
			out = append(out, e.Messages...)
		default:
			t.Fatalf("unexpected event %T", ev)
		}
	}
	return out
}

// token grants cl a token through the handler.
func (h *harness) token(t testing.TB, cl *client, user string) []byte {
	t.Helper()
	evs, err := h.d.allocate(context.Background(), 1, cl, &sv2.AllocateMiningJobToken{UserIdentifier: user, RequestID: 1})
	if err != nil {
		t.Fatal(err)
	}
	ms := messages(t, evs)
	ok, isOK := ms[0].(*sv2.AllocateMiningJobTokenSuccess)
	if len(ms) != 1 || !isOK {
		t.Fatalf("allocate answered %v", ms)
	}
	return ok.MiningJobToken
}

// spec is a declaration on the harness's tip.
func (h *harness) spec(txs ...*wire.MsgTx) jobSpec {
	return jobSpec{height: tipHeight, value: subsidy(tipHeight), payout: payoutScript, txs: txs, segWit: true, extranonceSize: 8, version: 0x20000000}
}

// detTx is transaction i, the same on every run (fuzzing must reproduce).
func detTx(i int, witness bool) *wire.MsgTx {
	seed := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte("jds fuzz tx"), uint64(i)))
	prev := chainhash.Hash(seed)
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(wire.NewOutPoint(&prev, uint32(i)), nil, nil)
	if witness {
		in.Witness = wire.TxWitness{seed[:], seed[:17]}
	} else {
		in.SignatureScript = seed[:20]
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(int64(1000+i), append([]byte{0x00, 0x14}, seed[:20]...)))
	return tx
}

func detTxs(n int) []*wire.MsgTx {
	txs := make([]*wire.MsgTx, n)
	for i := range txs {
		txs[i] = detTx(i, i%3 != 2)
	}
	return txs
}

// checkAnswers checks what the handler answered a declaration m of the
// tip: every refusal has a documented code, every request for transactions
// names positions of m in order, and a Success commits to the job of the
// block the node judged, which holds m's transactions under m's coinbase.
func (h *harness) checkAnswers(t testing.TB, m *sv2.DeclareMiningJob, ms []sv2.Message) (asked []uint16, accepted bool) {
	t.Helper()
	for _, msg := range ms {
		switch a := msg.(type) {
		case *sv2.DeclareMiningJobError:
			if !knownCodes[a.ErrorCode] {
				t.Fatalf("unknown error code %q (%s)", a.ErrorCode, a.ErrorDetails)
			}
			if len(a.ErrorDetails) > 1000 {
				t.Fatalf("error_details of %d bytes", len(a.ErrorDetails))
			}
		case *sv2.ProvideMissingTransactions:
			if a.RequestID != m.RequestID {
				t.Fatalf("asked for request %d, declared %d", a.RequestID, m.RequestID)
			}
			if len(a.UnknownTxPositionList) == 0 {
				t.Fatal("asked for no transactions")
			}
			for i, p := range a.UnknownTxPositionList {
				if int(p) >= len(m.WtxidList) || i > 0 && p <= a.UnknownTxPositionList[i-1] {
					t.Fatalf("asked for positions %v of %d", a.UnknownTxPositionList, len(m.WtxidList))
				}
			}
			asked = a.UnknownTxPositionList
		case *sv2.DeclareMiningJobSuccess:
			if a.RequestID != m.RequestID {
				t.Fatalf("Success for request %d, declared %d", a.RequestID, m.RequestID)
			}
			h.checkAccepted(t, m, a)
			accepted = true
		default:
			t.Fatalf("unexpected answer %s", sv2.Info(msg).Name)
		}
	}
	return asked, accepted
}

func (h *harness) checkAccepted(t testing.TB, m *sv2.DeclareMiningJob, ok *sv2.DeclareMiningJobSuccess) {
	t.Helper()
	tok, err := jdtoken.Verify(ok.NewMiningJobToken, h.d.pub)
	if err != nil || tok.Kind != jdtoken.Declared {
		t.Fatalf("new token %+v, %v", tok, err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(h.node.lastProposal())); err != nil {
		t.Fatalf("accepted without a proposal the node could read: %v", err)
	}
	if len(blk.Transactions) != 1+len(m.WtxidList) {
		t.Fatalf("proposed %d transactions for %d declared", len(blk.Transactions)-1, len(m.WtxidList))
	}
	txids := make([]sv2.U256, len(m.WtxidList))
	for i, tx := range blk.Transactions[1:] {
		if sv2.U256(tx.WitnessHash()) != m.WtxidList[i] {
			t.Fatalf("proposed transaction %d is not the declared one", i)
		}
		txids[i] = sv2.U256(tx.TxHash())
	}
	cb, err := coinbase.ParseDeclared(m.CoinbaseTxPrefix, m.CoinbaseTxSuffix)
	if err != nil {
		t.Fatalf("accepted a coinbase that does not parse: %v", err)
	}
	if got, want := serialize(blk.Transactions[0]), append(append(bytes.Clone(m.CoinbaseTxPrefix), make([]byte, cb.ExtranonceSize)...), m.CoinbaseTxSuffix...); !bytes.Equal(got, want) {
		t.Fatal("the proposed coinbase is not the declared one")
	}
	if _, height := coinbase.BIP34Height(cb.ScriptSigPrefix); height != tipHeight {
		t.Fatalf("accepted a coinbase of height %d", height)
	}
	outs, err := coinbase.ParseOutputs(cb.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	var paid int64
	for _, o := range outs {
		if bytes.Equal(o.PkScript, payoutScript) {
			paid += o.Value
		}
	}
	if paid < int64(subsidy(tipHeight)) {
		t.Fatalf("accepted %d sat to the pool", paid)
	}
	job := jdtoken.Job{PrevHash: h.tip.PrevHash, NBits: h.tip.NBits, Version: m.Version, CoinbaseTxVersion: cb.TxVersion,
		CoinbasePrefix: cb.ScriptSigPrefix, Sequence: cb.Sequence, Outputs: cb.Outputs, Locktime: cb.Locktime, MerklePath: merkle.Path(txids)}
	if tok.Job != job.Commit() {
		t.Fatal("the token commits to another job than the one the node judged")
	}
}

func encode(t testing.TB, m sv2.Message) []byte {
	t.Helper()
	b, err := sv2.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fuzzTxs are the transactions the fuzz declarations use: the first half
// in the mempool.
var fuzzTxs = detTxs(8)

func fuzzHarness(t testing.TB) *harness {
	h := newHarness(t, regtestBits, nil)
	h.pool.add(fuzzTxs[:4]...)
	return h
}

// FuzzDeclare feeds DeclareMiningJob payloads, with a valid token or the
// payload's own, and then ProvideMissingTransactions.Success payloads for
// whatever the JDS asks: no panic, every refusal a documented code, and
// every acceptance the job the node judged.
func FuzzDeclare(f *testing.F) {
	h := fuzzHarness(f)
	seed := func(spec jobSpec, provide [][]byte, validToken bool) {
		d := build(f, spec, []byte("token"), 5)
		f.Add(encode(f, d.msg), validToken, encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: provide}))
	}
	raw := func(txs ...*wire.MsgTx) (out [][]byte) {
		for _, tx := range txs {
			out = append(out, serialize(tx))
		}
		return out
	}
	seed(h.spec(fuzzTxs[:4]...), nil, true)                          // all in the mempool
	seed(h.spec(fuzzTxs...), raw(fuzzTxs[4:]...), true)              // half provided
	seed(h.spec(fuzzTxs[2:6]...), raw(fuzzTxs[5], fuzzTxs[4]), true) // provided out of order
	seed(h.spec(fuzzTxs[4:5]...), raw(detTx(99, true)), true)        // the wrong one
	seed(h.spec(), nil, true)                                        // empty block
	seed(h.spec(fuzzTxs[0], fuzzTxs[0]), nil, true)                  // twice
	seed(h.spec(fuzzTxs...), raw(fuzzTxs[4:]...), false)             // no token
	legacy := h.spec(fuzzTxs[6:]...)
	legacy.segWit, legacy.extranonceSize = false, 0
	seed(legacy, raw(fuzzTxs[6:]...), true)
	stale := h.spec()
	stale.height--
	seed(stale, nil, true)
	f.Add([]byte{}, true, []byte{})

	f.Fuzz(func(t *testing.T, payload []byte, validToken bool, provided []byte) {
		h := fuzzHarness(t)
		cl := newClient(true)
		var m sv2.DeclareMiningJob
		if m.DecodePayload(payload) != nil {
			return
		}
		if validToken {
			m.MiningJobToken = h.token(t, cl, "fuzz")
		}
		ctx := context.Background()
		evs, err := h.d.declare(ctx, 1, cl, &m)
		if err != nil {
			t.Fatalf("declare: %v", err)
		}
		asked, _ := h.checkAnswers(t, &m, messages(t, evs))
		if asked == nil {
			if len(cl.pending) != 0 {
				t.Fatal("a declaration waits without having asked for transactions")
			}
			return
		}
		var p sv2.ProvideMissingTransactionsSuccess
		if p.DecodePayload(provided) != nil {
			return
		}
		p.RequestID = m.RequestID
		evs, err = h.d.provide(ctx, 1, cl, &p)
		if err != nil {
			t.Fatalf("provide: %v", err)
		}
		ms := messages(t, evs)
		if len(ms) != 1 {
			t.Fatalf("provide answered %d messages", len(ms))
		}
		if _, accepted := h.checkAnswers(t, &m, ms); accepted {
			for i, pos := range asked {
				if !bytes.Equal(p.TransactionList[i], h.proposedTx(t, int(pos))) {
					t.Fatalf("provided transaction %d is not the one in the block", i)
				}
			}
		}
		if len(cl.pending) != 0 {
			t.Fatal("the declaration still waits after its transactions came")
		}
	})
}

// proposedTx is transaction i (after the coinbase) of the last proposal.
func (h *harness) proposedTx(t testing.TB, i int) []byte {
	t.Helper()
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(h.node.lastProposal())); err != nil {
		t.Fatal(err)
	}
	return serialize(blk.Transactions[1+i])
}

// FuzzProvide feeds ProvideMissingTransactions.Success payloads to a
// declaration waiting for three transactions.
func FuzzProvide(f *testing.F) {
	spec := jobSpec{height: tipHeight, value: subsidy(tipHeight), payout: payoutScript, txs: fuzzTxs, segWit: true, extranonceSize: 8, version: 0x20000000}
	wanted := [][]byte{serialize(fuzzTxs[4]), serialize(fuzzTxs[5]), serialize(fuzzTxs[6]), serialize(fuzzTxs[7])}
	f.Add(encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: wanted}))
	f.Add(encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: wanted[:3]}))
	f.Add(encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: [][]byte{wanted[1], wanted[0], wanted[2], wanted[3]}}))
	f.Add(encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 6, TransactionList: wanted}))
	f.Add(encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: [][]byte{wanted[0], wanted[1], wanted[2], append(bytes.Clone(wanted[3]), 0)}}))
	f.Add(encode(f, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: [][]byte{{}, {2, 0, 0, 0}, wanted[2], wanted[3]}}))

	f.Fuzz(func(t *testing.T, payload []byte) {
		var p sv2.ProvideMissingTransactionsSuccess
		if p.DecodePayload(payload) != nil {
			return
		}
		h := fuzzHarness(t)
		cl := newClient(true)
		d := build(t, spec, h.token(t, cl, "fuzz"), 5)
		ctx := context.Background()
		evs, err := h.d.declare(ctx, 1, cl, d.msg)
		if err != nil {
			t.Fatal(err)
		}
		if asked, _ := h.checkAnswers(t, d.msg, messages(t, evs)); !slices.Equal(asked, []uint16{4, 5, 6, 7}) {
			t.Fatalf("asked for %v", asked)
		}
		evs, err = h.d.provide(ctx, 1, cl, &p)
		if err != nil {
			t.Fatal(err)
		}
		ms := messages(t, evs)
		if _, accepted := h.checkAnswers(t, d.msg, ms); accepted {
			if p.RequestID != 5 {
				t.Fatal("accepted transactions for another request")
			}
			for i := range 4 {
				if !bytes.Equal(p.TransactionList[i], wanted[i]) {
					t.Fatalf("accepted another transaction %d", i)
				}
			}
		}
		if p.RequestID != 5 {
			if e, ok := ms[0].(*sv2.DeclareMiningJobError); !ok || e.ErrorCode != CodeUnexpectedTransactions {
				t.Fatalf("transactions for request %d: %s", p.RequestID, sv2.Info(ms[0]).Name)
			}
			if len(cl.pending) != 1 {
				t.Fatal("transactions for another request ended the waiting declaration")
			}
		}
	})
}

// FuzzPushSolution feeds PushSolution payloads to a connection with one
// declared job: no panic, no answer, and a block reaches the node only when
// it completes the job and meets the tip's target.
func FuzzPushSolution(f *testing.F) {
	h := fuzzHarness(f)
	spec := h.spec(fuzzTxs[:3]...)
	d := build(f, spec, nil, 5)
	f.Add(encode(f, &sv2.PushSolution{Extranonce: make([]byte, 8), PrevHash: h.tip.PrevHash, NTime: h.tip.HeaderTimestamp, NBits: h.tip.NBits, Version: spec.version}))
	sol, _ := solve(f, d, h.tip, h.tip.NBits, true)
	f.Add(encode(f, sol))
	f.Add(encode(f, &sv2.PushSolution{Extranonce: make([]byte, 7), PrevHash: h.tip.PrevHash, NBits: h.tip.NBits}))
	f.Add(encode(f, &sv2.PushSolution{Extranonce: make([]byte, 32), NBits: 0xffffffff}))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, payload []byte) {
		var m sv2.PushSolution
		if m.DecodePayload(payload) != nil {
			return
		}
		h := fuzzHarness(t)
		cl := newClient(true)
		d := build(t, spec, h.token(t, cl, "fuzz"), 5)
		ctx := context.Background()
		evs, err := h.d.declare(ctx, 1, cl, d.msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := h.checkAnswers(t, d.msg, messages(t, evs)); !ok {
			t.Fatal("the job was not accepted")
		}
		evs, err = h.d.push(ctx, 1, cl, &m)
		if err != nil || len(evs) != 0 {
			t.Fatalf("push: %v, %v", evs, err)
		}
		h.d.blocks.wait()
		h.node.mu.Lock()
		submitted := slices.Clone(h.node.submitted)
		h.node.mu.Unlock()
		if len(submitted) > 1 {
			t.Fatalf("%d blocks submitted for one solution", len(submitted))
		}
		if len(submitted) == 0 {
			return
		}
		got := submitted[0]
		want := serializeBlock(t, blockOf(t, d, &m))
		if !bytes.Equal(got, want) {
			t.Fatal("submitted a block other than the one the solution completes")
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(got)); err != nil {
			t.Fatal(err)
		}
		if !meets(&blk, blk.Header.Bits) || blk.Header.PrevBlock != chainhash.Hash(h.tip.PrevHash) {
			t.Fatal("submitted a block that misses its target or the tip")
		}
		if blk.Header.Bits != h.tip.NBits {
			t.Fatalf("submitted a block of nBits %#x on a tip of %#x", blk.Header.Bits, h.tip.NBits)
		}
	})
}
