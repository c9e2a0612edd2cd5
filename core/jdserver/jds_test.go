package jdserver

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// A full-template declaration whose transactions are all in the node's
// mempool is accepted at once, and its new token is what a pool checks the
// JDC's SetCustomMiningJob against: signed by the JDS, for the user, and
// committing to exactly that custom job. The node was asked about the very
// block declared.
func TestDeclareAllInMempool(t *testing.T) {
	e := startJDS(t, nil)
	txs := newTxs(5)
	e.node.add(txs...)
	j := e.dial(t, FlagDeclareTxData)

	tok := j.allocate("alice.worker")
	want := appendOutput(appendVarInt(nil, 1), 0, payoutScript)
	if !bytes.Equal(tok.CoinbaseTxOutputs, want) {
		t.Errorf("coinbase_tx_outputs %x, want the pool payout output alone at 0 sat %x (§6.4.3)", tok.CoinbaseTxOutputs, want)
	}
	granted, err := jdtoken.Verify(tok.MiningJobToken, e.jds.PublicKey())
	if err != nil || granted.Kind != jdtoken.Declare || granted.User != jdtoken.UserHash("alice.worker") {
		t.Fatalf("allocated token: %+v, %v; want a declare token for alice.worker", granted, err)
	}
	if !granted.Expires.Equal(testEpoch.Add(DefaultTokenLifetime)) {
		t.Errorf("token expires %v, want %v", granted.Expires, testEpoch.Add(DefaultTokenLifetime))
	}

	j.req++
	d := build(t, e.spec(txs...), tok.MiningJobToken, j.req)
	d.user = "alice.worker"
	ok := expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	scj := e.verifyDeclared(t, d, ok)

	// The pool's own check of the custom job: a job that differs is
	// refused, the declared one passes once.
	v := &jdtoken.Verifier{JDS: e.jds.PublicKey(), Ledger: jdtoken.NewLedger(0), Now: e.clock.Now}
	other := *scj
	other.MerklePath = scj.MerklePath[1:]
	if err := v.CheckCustomJob(&other, "alice.worker"); !errors.Is(err, jdtoken.ErrJob) {
		t.Errorf("a custom job with another merkle path: %v, want ErrJob", err)
	}
	other = *scj
	other.CoinbaseTxOutputs = bytes.Clone(scj.CoinbaseTxOutputs)
	other.CoinbaseTxOutputs[1]++ // the pool payout's value
	if err := v.CheckCustomJob(&other, "alice.worker"); !errors.Is(err, jdtoken.ErrJob) {
		t.Errorf("a custom job with other outputs: %v, want ErrJob", err)
	}
	if err := v.CheckCustomJob(scj, "bob"); !errors.Is(err, jdtoken.ErrUser) {
		t.Errorf("the custom job on another user's channel: %v, want ErrUser", err)
	}
	if err := v.CheckCustomJob(scj, "alice.worker"); err != nil {
		t.Errorf("the declared custom job: %v", err)
	}
	if err := v.CheckCustomJob(scj, "alice.worker"); !errors.Is(err, jdtoken.ErrUsed) {
		t.Errorf("the declared custom job twice: %v, want ErrUsed", err)
	}

	// The node judged the declared block: the coinbase with a zero
	// extranonce, the transactions in order, on the provider's tip.
	proposed := recv(t, e.node.proposals, "the block proposal")
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(proposed)); err != nil {
		t.Fatal(err)
	}
	tip := e.tp.Tip().PrevHash
	if blk.Header.PrevBlock != [32]byte(tip.PrevHash) || blk.Header.Bits != tip.NBits || uint32(blk.Header.Version) != d.msg.Version {
		t.Errorf("proposed header %+v, want prev %x bits %#x version %#x", blk.Header, tip.PrevHash, tip.NBits, d.msg.Version)
	}
	if len(blk.Transactions) != 1+len(txs) {
		t.Fatalf("proposed block has %d transactions, want %d", len(blk.Transactions), 1+len(txs))
	}
	for i, tx := range txs {
		if blk.Transactions[1+i].WitnessHash() != tx.WitnessHash() {
			t.Errorf("proposed transaction %d is not the declared one", i)
		}
	}
	cb := serialize(blk.Transactions[0])
	wantCB := append(append(bytes.Clone(d.msg.CoinbaseTxPrefix), make([]byte, 8)...), d.msg.CoinbaseTxSuffix...)
	if !bytes.Equal(cb, wantCB) {
		t.Errorf("proposed coinbase %x, want %x", cb, wantCB)
	}

	// An in-process pool finds the declared transactions of a block found
	// on the custom job.
	got, found := e.jds.CustomTransactions(&mining.FoundBlock{Custom: true, MerklePath: scj.MerklePath, Header: block.Header{PrevHash: tip.PrevHash}})
	if !found || len(got) != len(txs) {
		t.Fatalf("CustomTransactions: %d, %v; want the %d declared", len(got), found, len(txs))
	}
	for i, tx := range txs {
		if !bytes.Equal(got[i], serialize(tx)) {
			t.Errorf("CustomTransactions[%d] is not the declared transaction", i)
		}
	}
}

// Transactions the mempool lacks are asked for by position; once provided
// the declaration is accepted, and the job commitment covers them too. A
// coinbase without SegWit works the same.
func TestDeclareMissingTransactions(t *testing.T) {
	for _, segWit := range []bool{true, false} {
		t.Run(map[bool]string{true: "segwit", false: "legacy"}[segWit], func(t *testing.T) {
			e := startJDS(t, nil)
			txs := newTxs(7)
			e.node.add(txs[0], txs[2], txs[3], txs[6])
			j := e.dial(t, FlagDeclareTxData)
			spec := e.spec(txs...)
			spec.segWit = segWit
			d := j.declaration(spec, "alice")
			j.send(d.msg)
			ask := expectMsg[*sv2.ProvideMissingTransactions](j)
			if ask.RequestID != d.msg.RequestID || !slices.Equal(ask.UnknownTxPositionList, []uint16{1, 4, 5}) {
				t.Fatalf("ProvideMissingTransactions for request %d positions %v, want %d [1 4 5]", ask.RequestID, ask.UnknownTxPositionList, d.msg.RequestID)
			}
			j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[1], d.raw[4], d.raw[5]}})
			ok := expectMsg[*sv2.DeclareMiningJobSuccess](j)
			if ok.RequestID != d.msg.RequestID {
				t.Fatalf("Success for request %d, want %d", ok.RequestID, d.msg.RequestID)
			}
			e.verifyDeclared(t, d, ok)
			proposed := recv(t, e.node.proposals, "the block proposal")
			var blk wire.MsgBlock
			if err := blk.Deserialize(bytes.NewReader(proposed)); err != nil {
				t.Fatal(err)
			}
			for i, tx := range txs {
				if !bytes.Equal(serialize(blk.Transactions[1+i]), serialize(tx)) {
					t.Errorf("proposed transaction %d is not the declared one", i)
				}
			}
		})
	}
}

// What a JDC provides is checked: a transaction other than the one
// declared at its position, bytes that are no transaction, the wrong count,
// and transactions nobody asked for are each refused with their code.
func TestProvideMissingTransactionsChecked(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100 })
	j := e.dial(t, FlagDeclareTxData)
	txs := newTxs(3)
	pending := func() *declared {
		t.Helper()
		d := j.declaration(e.spec(txs...), "alice")
		j.send(d.msg)
		if ask := expectMsg[*sv2.ProvideMissingTransactions](j); len(ask.UnknownTxPositionList) != 3 {
			t.Fatalf("asked for %v, want all three", ask.UnknownTxPositionList)
		}
		return d
	}

	d := pending()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[0], d.raw[2], d.raw[1]}})
	j.expectError(d.msg.RequestID, CodeTransactionMismatch)

	d = pending()
	other := serialize(newTx(true, 0))
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[0], d.raw[1], other}})
	j.expectError(d.msg.RequestID, CodeTransactionMismatch)

	d = pending()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[0], {1, 2, 3}, d.raw[2]}})
	j.expectError(d.msg.RequestID, CodeTransactionMismatch)

	d = pending()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[0], append(bytes.Clone(d.raw[1]), 0), d.raw[2]}})
	j.expectError(d.msg.RequestID, CodeTransactionMismatch) // trailing bytes

	d = pending()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[0], d.raw[1]}})
	j.expectError(d.msg.RequestID, CodeMissingTransactions)
	// The refused declaration waits no more.
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw})
	j.expectError(d.msg.RequestID, CodeUnexpectedTransactions)

	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: 999, TransactionList: d.raw})
	j.expectError(999, CodeUnexpectedTransactions)

	// A declaration accepted at once asked for nothing. (Past the throttle
	// on the refreshes declarations force, it finds them in the node's
	// mempool.)
	e.node.add(txs...)
	e.clock.Advance(forcedRefreshEvery)
	d = j.declaration(e.spec(txs...), "alice")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID})
	j.expectError(d.msg.RequestID, CodeUnexpectedTransactions)

	// And after all that the connection still works.
	txs = newTxs(3)
	d = pending()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID}) // wrong count: none
	j.expectError(d.msg.RequestID, CodeMissingTransactions)
	d = pending()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw})
	e.verifyDeclared(t, d, expectMsg[*sv2.DeclareMiningJobSuccess](j))
}

// Tokens are single use, bound to the connection that allocated them, to
// their kind, signed by this JDS, and expire.
func TestTokensRefused(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100; c.TokenBurst = 100 })
	txs := newTxs(2)
	e.node.add(txs...)
	j := e.dial(t, FlagDeclareTxData)
	other := e.dial(t, FlagDeclareTxData)

	declareWith := func(token []byte) *sv2.DeclareMiningJobError {
		t.Helper()
		j.req++
		d := build(t, e.spec(txs...), token, j.req)
		return expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeInvalidToken)
	}

	t.Run("reused", func(t *testing.T) {
		d := j.declaration(e.spec(txs...), "alice")
		ok := expectSuccessOf(t, j.declare(d), d.msg.RequestID)
		declareWith(d.msg.MiningJobToken)
		// Nor is the new token good for another declaration.
		declareWith(ok.NewMiningJobToken)
	})
	t.Run("refused declaration spends it too", func(t *testing.T) {
		d := j.declaration(e.spec(txs...), "alice")
		d.msg.Version = 1
		expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeInvalidVersion)
		declareWith(d.msg.MiningJobToken)
	})
	t.Run("another connection's", func(t *testing.T) {
		tok := other.allocate("alice")
		declareWith(tok.MiningJobToken)
		// It is still good where it was granted.
		other.req++
		d := build(t, e.spec(txs...), tok.MiningJobToken, other.req)
		expectSuccessOf(t, other.declare(d), d.msg.RequestID)
	})
	t.Run("forged", func(t *testing.T) {
		sk, _, err := noise.GenerateAuthorityKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		granted, err := jdtoken.Parse(j.allocate("alice").MiningJobToken)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := granted.Sign(sk, nil) // the same id, another key
		if err != nil {
			t.Fatal(err)
		}
		declareWith(forged)
		declareWith(nil)
		declareWith([]byte("not a token"))
		flipped := j.allocate("alice").MiningJobToken
		flipped[len(flipped)-1] ^= 1
		declareWith(flipped)
		altered := j.allocate("alice").MiningJobToken
		altered[20] ^= 1 // the user
		declareWith(altered)
	})
	t.Run("coinbase-only", func(t *testing.T) {
		cbo := e.dial(t, 0)
		tok := cbo.allocate("alice")
		parsed, err := jdtoken.Verify(tok.MiningJobToken, e.jds.PublicKey())
		if err != nil || parsed.Kind != jdtoken.CoinbaseOnly {
			t.Fatalf("coinbase-only connection's token: %+v, %v", parsed, err)
		}
		declareWith(tok.MiningJobToken)
	})
	t.Run("expired", func(t *testing.T) {
		tok := j.allocate("alice")
		e.clock.Advance(DefaultTokenLifetime + time.Second)
		declareWith(tok.MiningJobToken)
		// A token granted now is good.
		d := j.declaration(e.spec(txs...), "alice")
		expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	})
}

// The declared job must build on the tip: a coinbase for an earlier height
// is a stale job, one for another height an invalid coinbase; a new block
// while the JDS waits for transactions makes the job stale too.
func TestStaleChainTip(t *testing.T) {
	e := startJDS(t, nil)
	txs := newTxs(2)
	e.node.add(txs[0])
	j := e.dial(t, FlagDeclareTxData)

	spec := e.spec()
	spec.height--
	d := j.declaration(spec, "alice")
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeStaleChainTip)
	spec.height += 2
	d = j.declaration(spec, "alice")
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeInvalidCoinbase)

	d = j.declaration(e.spec(txs...), "alice")
	j.send(d.msg)
	expectMsg[*sv2.ProvideMissingTransactions](j)
	e.newTip()
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[1]}})
	j.expectError(d.msg.RequestID, CodeStaleChainTip)

	// The same job on the new tip is accepted.
	d = j.declaration(e.spec(txs[0]), "alice")
	e.verifyDeclared(t, d, expectSuccessOf(t, j.declare(d), d.msg.RequestID))
}

// The node's verdict decides: its reason is passed on, a stale tip is
// told apart, and a node that cannot be asked is not a verdict.
func TestNodeVerdicts(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100 })
	txs := newTxs(2)
	e.node.add(txs...)
	j := e.dial(t, FlagDeclareTxData)

	e.node.setPropose(func([]byte) (any, *rpcError) { return "bad-txns-inputs-missingorspent", nil })
	d := j.declaration(e.spec(txs...), "alice")
	m := expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeRejectedByNode)
	if string(m.ErrorDetails) != "bad-txns-inputs-missingorspent" {
		t.Errorf("error_details %q, want the node's reason", m.ErrorDetails)
	}

	e.node.setPropose(func([]byte) (any, *rpcError) {
		return nil, &rpcError{Code: node.CodeDeserialization, Message: "Block decode failed"}
	})
	d = j.declaration(e.spec(txs...), "alice")
	m = expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeRejectedByNode)
	if !strings.Contains(string(m.ErrorDetails), "Block decode failed") {
		t.Errorf("error_details %q, want the node's message", m.ErrorDetails)
	}

	e.node.setPropose(func([]byte) (any, *rpcError) { return "inconclusive-not-best-prevblk", nil })
	d = j.declaration(e.spec(txs...), "alice")
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeStaleChainTip)

	e.node.setPropose(func([]byte) (any, *rpcError) { return nil, &rpcError{Code: -28, Message: "Loading block index..."} })
	d = j.declaration(e.spec(txs...), "alice")
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeNodeUnavailable)

	e.node.setPropose(nil)
	e.node.setDown(true)
	d = j.declaration(e.spec(txs...), "alice")
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeNodeUnavailable)

	e.node.setDown(false)
	d = j.declaration(e.spec(txs...), "alice")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
}

// What a declaration must hold before the node is asked.
func TestDeclarationChecks(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100; c.TokenBurst = 100 })
	txs := newTxs(2)
	e.node.add(txs...)
	j := e.dial(t, FlagDeclareTxData)
	refused := func(name, code string, mod func(*jobSpec), modMsg func(*sv2.DeclareMiningJob)) {
		t.Helper()
		spec := e.spec(txs...)
		if mod != nil {
			mod(&spec)
		}
		d := j.declaration(spec, "alice")
		if modMsg != nil {
			modMsg(d.msg)
		}
		m := j.declare(d)
		if er, ok := m.(*sv2.DeclareMiningJobError); !ok || er.ErrorCode != code || er.RequestID != d.msg.RequestID {
			t.Errorf("%s: got %s %s, want DeclareMiningJob.Error %q", name, sv2.Info(m).Name, sv2.FieldsJSON(m), code)
		}
	}
	proposals := e.node.callCount("getblocktemplate")
	refused("version 1", CodeInvalidVersion, nil, func(m *sv2.DeclareMiningJob) { m.Version = 1 })
	refused("negative version", CodeInvalidVersion, nil, func(m *sv2.DeclareMiningJob) { m.Version = 0x80000004 })
	refused("no coinbase", CodeInvalidCoinbase, nil, func(m *sv2.DeclareMiningJob) { m.CoinbaseTxPrefix, m.CoinbaseTxSuffix = nil, nil })
	refused("truncated suffix", CodeInvalidCoinbase, nil, func(m *sv2.DeclareMiningJob) { m.CoinbaseTxSuffix = m.CoinbaseTxSuffix[:len(m.CoinbaseTxSuffix)-1] })
	refused("an input that spends", CodeInvalidCoinbase, nil, func(m *sv2.DeclareMiningJob) { m.CoinbaseTxPrefix[10] ^= 1 })
	refused("no height", CodeInvalidCoinbase, nil, func(m *sv2.DeclareMiningJob) {
		m.CoinbaseTxPrefix[len(m.CoinbaseTxPrefix)-len(jdcTag)-1-1-3] = 0x4e // the height push's opcode
	})
	refused("payout elsewhere", CodeInvalidCoinbaseOutputs, func(s *jobSpec) { s.payout = []byte{0x51} }, nil)
	refused("payout below the subsidy", CodeInvalidCoinbaseOutputs, func(s *jobSpec) { s.value = subsidy(tipHeight) - 1 }, nil)
	refused("payout of nothing", CodeInvalidCoinbaseOutputs, func(s *jobSpec) { s.value = 0 }, nil)
	refused("a wtxid twice", CodeTooManyTransactions, func(s *jobSpec) { s.txs = []*wire.MsgTx{txs[0], txs[1], txs[0]} }, nil)
	refused("more than a block holds", CodeTooManyTransactions, nil, func(m *sv2.DeclareMiningJob) {
		m.WtxidList = make([]sv2.U256, maxTransactions+1)
		for i := range m.WtxidList {
			m.WtxidList[i][0], m.WtxidList[i][1] = byte(i), byte(i>>8)
		}
	})
	if n := e.node.callCount("getblocktemplate"); n != proposals {
		t.Errorf("%d proposals for declarations refused before the node", n-proposals)
	}
	// Exactly the subsidy is enough, and more goes too.
	for _, v := range []uint64{subsidy(tipHeight), subsidy(tipHeight) + 5000} {
		spec := e.spec(txs...)
		spec.value = v
		d := j.declaration(spec, "alice")
		e.verifyDeclared(t, d, expectSuccessOf(t, j.declare(d), d.msg.RequestID))
	}
	// An empty block is a block.
	d := j.declaration(e.spec(), "alice")
	e.verifyDeclared(t, d, expectSuccessOf(t, j.declare(d), d.msg.RequestID))
}

// A connection without DECLARE_TX_DATA is in coinbase-only mode: it gets
// CoinbaseOnly tokens with the payout output, and may not declare.
func TestCoinbaseOnlyConnection(t *testing.T) {
	e := startJDS(t, nil)
	j := e.dial(t, 0)
	tok := j.allocate("carol")
	parsed, err := jdtoken.Verify(tok.MiningJobToken, e.jds.PublicKey())
	if err != nil || parsed.Kind != jdtoken.CoinbaseOnly || parsed.User != jdtoken.UserHash("carol") {
		t.Fatalf("token %+v, %v; want a coinbase-only token for carol", parsed, err)
	}
	if want := appendOutput(appendVarInt(nil, 1), 0, payoutScript); !bytes.Equal(tok.CoinbaseTxOutputs, want) {
		t.Errorf("coinbase_tx_outputs %x, want %x", tok.CoinbaseTxOutputs, want)
	}
	// The pool takes the token for a custom job judged by its coinbase.
	v := &jdtoken.Verifier{JDS: e.jds.PublicKey(), Ledger: jdtoken.NewLedger(0), Now: e.clock.Now}
	if err := v.CheckCustomJob(&sv2.SetCustomMiningJob{MiningJobToken: tok.MiningJobToken}, "carol"); err != nil {
		t.Errorf("pool check of the coinbase-only token: %v", err)
	}
	j.req++
	d := build(t, e.spec(), tok.MiningJobToken, j.req)
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeNotFullTemplate)
	// PushSolution on a connection with no declared job is ignored.
	j.send(&sv2.PushSolution{PrevHash: e.tp.Tip().PrevHash.PrevHash})
	j.allocate("carol")
	if s := e.jds.Stats(); s.Solutions != 0 {
		t.Errorf("%d solutions", s.Solutions)
	}
}

// The modes: coinbase-only refuses DECLARE_TX_DATA at setup; full-template
// disconnects a client without it.
func TestModes(t *testing.T) {
	t.Run("coinbase-only", func(t *testing.T) {
		e := startJDS(t, func(c *Config) { c.Mode = ModeCoinbaseOnly })
		j := &jdc{t: t, c: e.connect(t)}
		j.send(setupMsg(FlagDeclareTxData))
		m := expectMsg[*sv2.SetupConnectionError](j)
		if m.Flags&FlagDeclareTxData == 0 || m.ErrorCode != "unsupported-feature-flags" {
			t.Errorf("SetupConnection.Error %s, want unsupported-feature-flags naming DECLARE_TX_DATA", sv2.FieldsJSON(m))
		}
		j.expectClosed()
		j = e.dial(t, 0)
		tok := j.allocate("carol")
		if parsed, err := jdtoken.Verify(tok.MiningJobToken, e.jds.PublicKey()); err != nil || parsed.Kind != jdtoken.CoinbaseOnly {
			t.Errorf("token %+v, %v", parsed, err)
		}
	})
	t.Run("full-template", func(t *testing.T) {
		e := startJDS(t, func(c *Config) { c.Mode = ModeFullTemplate })
		j := &jdc{t: t, c: e.connect(t)}
		j.send(setupMsg(0))
		expectMsg[*sv2.SetupConnectionSuccess](j)
		j.expectClosed(sv2.MsgTypeAllocateMiningJobTokenSuccess)
		j = e.dial(t, FlagDeclareTxData)
		d := j.declaration(e.spec(), "alice")
		expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	})
	t.Run("unknown flag", func(t *testing.T) {
		e := startJDS(t, nil)
		j := &jdc{t: t, c: e.connect(t)}
		j.send(setupMsg(FlagDeclareTxData | 1<<5))
		if m := expectMsg[*sv2.SetupConnectionError](j); m.Flags != 1<<5 {
			t.Errorf("SetupConnection.Error flags %#x, want the unknown one", m.Flags)
		}
	})
}

// A solution pushed for the connection's declared job is rebuilt into
// exactly the block it solves and submitted to the node.
func TestPushSolution(t *testing.T) {
	e := startJDS(t, nil)
	txs := newTxs(4)
	e.node.add(txs...)
	j := e.dial(t, FlagDeclareTxData)
	d := j.declaration(e.spec(txs...), "alice")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)

	tip := e.tp.Tip().PrevHash
	sol, blk := solve(t, d, tip, tip.NBits, true)
	j.send(sol)
	got := recv(t, e.node.submitted, "submitblock")
	if want := serializeBlock(t, blk); !bytes.Equal(got, want) {
		t.Fatalf("submitted block %x\nwant %x", got, want)
	}
	eventually(t, "the node's acceptance to be counted", func() bool { return e.jds.Stats().NodeAccepted == 1 })
	if s := e.jds.Stats(); s.Solutions != 1 || s.NodeRefused != 0 {
		t.Errorf("stats %+v, want one solution accepted", s)
	}

	// A header that misses the target is no block.
	miss, _ := solve(t, d, tip, tip.NBits, false)
	j.send(miss)
	j.allocate("alice") // the push was handled
	if s := e.jds.Stats(); s.Solutions != 1 {
		t.Errorf("%d solutions after a header missing the target", s.Solutions)
	}
	if n := e.node.callCount("submitblock"); n != 1 {
		t.Errorf("%d submitblock calls, want 1", n)
	}
}

// A node that cannot take the block at once is asked again until it does;
// one that refuses it is not.
func TestPushSolutionRetried(t *testing.T) {
	e := startJDS(t, nil)
	j := e.dial(t, FlagDeclareTxData)
	d := j.declaration(e.spec(newTxs(1)...), "alice")
	j.send(d.msg)
	expectMsg[*sv2.ProvideMissingTransactions](j)
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw})
	expectMsg[*sv2.DeclareMiningJobSuccess](j)

	e.node.mu.Lock()
	e.node.submitBusy = 2
	e.node.mu.Unlock()
	tip := e.tp.Tip().PrevHash
	sol, blk := solve(t, d, tip, tip.NBits, true)
	j.send(sol)
	want := serializeBlock(t, blk)
	for i := range 3 {
		if got := recv(t, e.node.submitted, "submitblock"); !bytes.Equal(got, want) {
			t.Fatalf("submission %d is another block", i)
		}
	}
	eventually(t, "the delivery to be counted", func() bool { return e.jds.Stats().NodeAccepted == 1 })
	if n := e.node.callCount("submitblock"); n != 3 {
		t.Errorf("%d submitblock calls, want 3", n)
	}

	// Refused: counted, not retried.
	e.node.mu.Lock()
	e.node.submit = func([]byte) (any, *rpcError) { return "bad-cb-amount", nil }
	e.node.mu.Unlock()
	later := *tip
	later.HeaderTimestamp += 100 // another block
	sol, _ = solve(t, d, &later, tip.NBits, true)
	j.send(sol)
	recv(t, e.node.submitted, "submitblock")
	eventually(t, "the refusal to be counted", func() bool { return e.jds.Stats().NodeRefused == 1 })
	if n := e.node.callCount("submitblock"); n != 4 {
		t.Errorf("%d submitblock calls, want 4", n)
	}
}

// PushSolution may complete any of the last KeepJobs declared jobs, the
// latest first (§6.4.9); older ones are forgotten.
func TestPushSolutionKeepJobs(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.KeepJobs = 2 })
	j := e.dial(t, FlagDeclareTxData)
	var jobs []*declared
	for range 3 {
		d := j.declaration(e.spec(), "alice")
		d.spec.value += uint64(len(jobs)) // a coinbase of its own
		d = build(t, d.spec, d.msg.MiningJobToken, d.msg.RequestID)
		d.user = "alice"
		expectSuccessOf(t, j.declare(d), d.msg.RequestID)
		jobs = append(jobs, d)
	}
	tip := e.tp.Tip().PrevHash
	// On regtest about every other header meets the target: each solution
	// is ground to complete its own job and neither later one.
	sol, _ := solveOnly(t, jobs[0], tip, jobs[1:]...)
	j.send(sol)
	sol, blk := solveOnly(t, jobs[1], tip, jobs[2])
	j.send(sol)
	if got := recv(t, e.node.submitted, "submitblock"); !bytes.Equal(got, serializeBlock(t, blk)) {
		t.Fatal("the submitted block is not the second job's")
	}
	j.allocate("alice")
	if s := e.jds.Stats(); s.Solutions != 1 {
		t.Errorf("%d solutions, want 1: the first job was forgotten", s.Solutions)
	}
}

// AllocateMiningJobToken over the rate limit closes that connection and
// no other.
func TestTokenRateLimit(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.TokenBurst = 3 })
	j := e.dial(t, FlagDeclareTxData)
	other := e.dial(t, 0)
	for range 3 {
		j.allocate("alice")
	}
	j.send(&sv2.AllocateMiningJobToken{UserIdentifier: "alice", RequestID: 99})
	j.expectClosed(sv2.MsgTypeAllocateMiningJobTokenSuccess)
	for range 3 {
		other.allocate("bob")
	}
	if s := e.jds.Stats(); s.TokensRefused != 1 || s.Tokens != 6 {
		t.Errorf("stats %+v, want 6 tokens and 1 refused", s)
	}
	// The bucket refills with time.
	e.clock.Advance(time.Second)
	other.allocate("bob")
	other.allocate("bob")
}

// A connection holds at most MaxTokensPerConnection unused tokens; more
// forget the oldest.
func TestMaxTokensPerConnection(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.MaxTokensPerConnection = 2; c.DeclareBurst = 100 })
	j := e.dial(t, FlagDeclareTxData)
	toks := [][]byte{j.allocate("a").MiningJobToken, j.allocate("a").MiningJobToken, j.allocate("a").MiningJobToken}
	for i, want := range []string{CodeInvalidToken, "", ""} {
		j.req++
		d := build(t, e.spec(), toks[i], j.req)
		if m := j.declare(d); want == "" {
			expectSuccessOf(t, m, d.msg.RequestID)
		} else {
			expectErrorOf(t, m, d.msg.RequestID, want)
		}
	}
}

// A declaration that waits too long for its transactions is refused by the
// sweep; one waiting declaration too many drops the oldest.
func TestPendingDeclarations(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		e := startJDS(t, func(c *Config) { c.MissingTimeout = 5 * time.Second })
		j := e.dial(t, FlagDeclareTxData)
		d := j.declaration(e.spec(newTxs(2)...), "alice")
		j.send(d.msg)
		expectMsg[*sv2.ProvideMissingTransactions](j)
		e.clock.Advance(6 * time.Second) // the sweep runs every second
		j.expectError(d.msg.RequestID, CodeMissingTransactions)
		j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw})
		j.expectError(d.msg.RequestID, CodeUnexpectedTransactions)
	})
	t.Run("oldest dropped", func(t *testing.T) {
		e := startJDS(t, func(c *Config) { c.MaxPendingDeclarations = 2 })
		j := e.dial(t, FlagDeclareTxData)
		var ds []*declared
		for range 3 {
			d := j.declaration(e.spec(newTxs(1)...), "alice")
			j.send(d.msg)
			e.clock.Advance(time.Millisecond)
			ds = append(ds, d)
			if len(ds) == 3 {
				j.expectError(ds[0].msg.RequestID, CodeMissingTransactions)
			}
			if ask := expectMsg[*sv2.ProvideMissingTransactions](j); ask.RequestID != d.msg.RequestID {
				t.Fatalf("asked for request %d, want %d", ask.RequestID, d.msg.RequestID)
			}
		}
		for _, d := range ds[1:] {
			j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw})
			expectSuccessOf(t, j.next(), d.msg.RequestID)
		}
		j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: ds[0].msg.RequestID, TransactionList: ds[0].raw})
		j.expectError(ds[0].msg.RequestID, CodeUnexpectedTransactions)
	})
}

// Declarations over the rate are refused without spending their token.
func TestDeclareRateLimit(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 2; c.DeclareRate = 1 })
	j := e.dial(t, FlagDeclareTxData)
	for range 2 {
		d := j.declaration(e.spec(), "alice")
		expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	}
	d := j.declaration(e.spec(), "alice")
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeRateLimited)
	e.clock.Advance(time.Second)
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	if s := e.jds.Stats(); s.Refused[CodeRateLimited] != 1 || s.Accepted != 3 || s.Declared != 4 {
		t.Errorf("stats %+v", s)
	}
}

// The counters follow what happened.
func TestStats(t *testing.T) {
	e := startJDS(t, nil)
	txs := newTxs(2)
	e.node.add(txs[0])
	j := e.dial(t, FlagDeclareTxData)
	if s := e.jds.Stats(); s.Tokens != 0 || s.Declared != 0 || len(s.Refused) != 0 {
		t.Fatalf("fresh stats %+v", s)
	}
	d := j.declaration(e.spec(txs...), "alice")
	j.send(d.msg)
	expectMsg[*sv2.ProvideMissingTransactions](j)
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: [][]byte{d.raw[1]}})
	ok := expectMsg[*sv2.DeclareMiningJobSuccess](j)
	j.req++
	expectErrorOf(t, j.declare(build(t, e.spec(), d.msg.MiningJobToken, j.req)), j.req, CodeInvalidToken)
	j.req++
	expectErrorOf(t, j.declare(build(t, e.spec(), ok.NewMiningJobToken, j.req)), j.req, CodeInvalidToken)
	tip := e.tp.Tip().PrevHash
	sol, _ := solve(t, d, tip, tip.NBits, true)
	j.send(sol)
	recv(t, e.node.submitted, "submitblock")
	eventually(t, "the block to be counted", func() bool { return e.jds.Stats().NodeAccepted == 1 })
	s := e.jds.Stats()
	if s.Tokens != 1 || s.Declared != 3 || s.Accepted != 1 || s.Refused[CodeInvalidToken] != 2 || len(s.Refused) != 1 || s.Solutions != 1 || s.TokensRefused != 0 {
		t.Errorf("stats %+v", s)
	}
	// A snapshot is a copy.
	s.Refused[CodeInvalidToken] = 100
	if e.jds.Stats().Refused[CodeInvalidToken] != 2 {
		t.Error("Stats shares its Refused map")
	}
}

// Over Noise, pinning the JDS's authority key, everything works the same.
func TestNoise(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.Plain = false })
	txs := newTxs(3)
	e.node.add(txs[0])
	j := e.dial(t, FlagDeclareTxData)
	if hs := j.c.Handshake(); !hs.Encrypted || !hs.Authenticated {
		t.Fatalf("handshake %+v, want encrypted and authenticated", hs)
	}
	d := j.declaration(e.spec(txs...), "alice")
	j.send(d.msg)
	ask := expectMsg[*sv2.ProvideMissingTransactions](j)
	if !slices.Equal(ask.UnknownTxPositionList, []uint16{1, 2}) {
		t.Fatalf("asked for %v", ask.UnknownTxPositionList)
	}
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw[1:]})
	e.verifyDeclared(t, d, expectMsg[*sv2.DeclareMiningJobSuccess](j))
	tip := e.tp.Tip().PrevHash
	sol, blk := solve(t, d, tip, tip.NBits, true)
	j.send(sol)
	if got := recv(t, e.node.submitted, "submitblock"); !bytes.Equal(got, serializeBlock(t, blk)) {
		t.Fatal("submitted another block")
	}
}

// New refuses incomplete configurations; Run refuses a node on another chain.
func TestConfig(t *testing.T) {
	sk, _, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	good := func() Config {
		return Config{AuthorityKey: &sk, PayoutScript: payoutScript, TemplateProvider: TemplateProvider{Address: "127.0.0.1:1"},
			Node: node.Config{URL: "http://127.0.0.1:1"}, Listen: "127.0.0.1:0"}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("a complete configuration: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"no key":        func(c *Config) { c.AuthorityKey = nil },
		"no payout":     func(c *Config) { c.PayoutScript = nil },
		"huge payout":   func(c *Config) { c.PayoutScript = make([]byte, 10_001) },
		"no provider":   func(c *Config) { c.TemplateProvider.Address = "" },
		"no node":       func(c *Config) { c.Node.URL = "" },
		"bad node URL":  func(c *Config) { c.Node.URL = "ftp://x" },
		"unknown mode":  func(c *Config) { c.Mode = "half" },
		"unknown chain": func(c *Config) { c.Network = "moonnet" },
	} {
		c := good()
		mod(&c)
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	for in, want := range map[string]Mode{"": ModeBoth, "both": ModeBoth, "full-template": ModeFullTemplate, "coinbase-only": ModeCoinbaseOnly} {
		if m, err := ParseMode(in); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, m, err)
		}
	}

	f := newFakeNode(t)
	f.chain = "main"
	c := good()
	c.Network = "regtest"
	c.Node = node.Config{URL: f.srv.URL, User: "user", Password: "pass"}
	j, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := j.Run(ctx); err == nil || !strings.Contains(err.Error(), "main") {
		t.Errorf("Run on a mainnet node for regtest: %v", err)
	}
}
