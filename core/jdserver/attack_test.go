package jdserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/synthtp"
)

// hardBits is a target no test header meets by chance (synthtp's default).
const hardBits = synthtp.DefaultBits

// allocated is how many bytes f allocates, all goroutines together.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Regression (was a defect): in full-template mode a JDC without DECLARE_TX_DATA is disconnected
// from ClientAdded, but the DisconnectClient is carried out after the
// messages the service already read: an AllocateMiningJobToken pipelined
// behind SetupConnection is answered with a CoinbaseOnly token, which a
// pool (jdtoken.Verifier) accepts for a custom job it judges by its
// coinbase alone, the mode the operator turned off.
func TestAttackFullTemplateModeBypassedByPipelining(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.Mode = ModeFullTemplate; c.Logger = slog.New(slog.DiscardHandler) })
	// The race is the service's reader against ClientAdded's disconnect:
	// many attempts make the bypass all but certain to show.
	for attempt := range 500 {
		c := e.connect(t)
		c.BufferMessage(setupMsg(0))
		for i := range 10 {
			c.BufferMessage(&sv2.AllocateMiningJobToken{UserIdentifier: "mallory", RequestID: uint32(i + 1)})
		}
		c.SetWriteDeadline(time.Now().Add(waitLimit))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		j := &jdc{t: t, c: c}
		expectMsg[*sv2.SetupConnectionSuccess](j)
		j.expectClosed(sv2.MsgTypeAllocateMiningJobTokenSuccess)
		c.Close()
		if s := e.jds.Stats(); s.Tokens != 0 {
			t.Fatalf("attempt %d: %d tokens granted to a connection full-template mode refuses", attempt, s.Tokens)
		}
	}
}

// Regression (was a defect): PushSolution is judged against the solution's own nbits, not the
// tip's: a JDC makes the JDS submit, and retry for SubmitGiveUp while the
// node is unreachable, any number of blocks of a target it chooses (two
// hashes each at 0x207fffff), each a goroutine holding up to a whole block.
func TestAttackPushSolutionOwnNBits(t *testing.T) {
	e := startJDSOn(t, hardBits, nil)
	j := e.dial(t, FlagDeclareTxData)
	d := j.declaration(e.spec(), "mallory")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	tip := e.tp.Tip().PrevHash
	for range 5 {
		sol, _ := solve(t, d, tip, regtestBits, true) // meets 0x207fffff, not the tip's target
		j.send(sol)
		tip.HeaderTimestamp++ // another block each time
	}
	j.allocate("mallory") // the pushes were handled
	if s := e.jds.Stats(); s.Solutions != 0 {
		t.Errorf("%d solutions of nbits %#x counted on a tip of %#x", s.Solutions, regtestBits, hardBits)
	}
	if n := e.node.callCount("submitblock"); n != 0 {
		t.Errorf("%d blocks submitted", n)
	}
}

// Regression (was a defect): a provided transaction is decoded by btcd's MsgTx.Deserialize,
// whose counts are bounded for a 32 MB message, not by the bytes given:
// ten bytes claiming 800,000 inputs allocate some 85 MB, sixty claiming
// 3.7 million outputs or 4 million witness items over 100 MB, before the
// decode fails. A declaration with one unknown wtxid (free: any token, any
// wtxid) buys one such decode per DeclareMiningJob, on every connection at
// once.
func TestAttackTransactionDecodeAllocation(t *testing.T) {
	var prevout [36]byte
	withInput := func(tx []byte) []byte {
		tx = append(tx, 1)
		tx = append(tx, prevout[:]...)
		return append(tx, 0, 0xff, 0xff, 0xff, 0xff) // empty scriptSig, sequence
	}
	crafted := map[string][]byte{
		"inputs": {2, 0, 0, 0, 0xfe, 0x68, 0x77, 0x0c, 0x00}, // 817,000 inputs
		"outputs": append(withInput([]byte{2, 0, 0, 0, 0x00, 0x01}),
			0xfe, 0x40, 0x76, 0x38, 0x00), // 3,700,288 outputs
		"witness items": append(append(withInput([]byte{2, 0, 0, 0, 0x00, 0x01}), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			0xfe, 0x00, 0x09, 0x3d, 0x00), // one output, then 4,000,000 witness items
	}
	h := newHarness(t, regtestBits, nil)
	cl := newClient(true)
	ctx := context.Background()
	for name, raw := range crafted {
		d := build(t, h.spec(detTx(0, true)), h.token(t, cl, "mallory"), 5)
		if _, err := h.d.declare(ctx, 1, cl, d.msg); err != nil {
			t.Fatal(err)
		}
		var ms []sv2.Message
		n := allocated(func() {
			evs, err := h.d.provide(ctx, 1, cl, &sv2.ProvideMissingTransactionsSuccess{RequestID: 5, TransactionList: [][]byte{raw}})
			if err != nil {
				t.Fatal(err)
			}
			ms = messages(t, evs)
		})
		if er, ok := ms[0].(*sv2.DeclareMiningJobError); !ok || er.ErrorCode != CodeTransactionMismatch {
			t.Fatalf("%s: answered %s", name, sv2.Info(ms[0]).Name)
		}
		t.Logf("%s: %d bytes allocated for a %d-byte transaction", name, n, len(raw))
		if n > 4<<20 {
			t.Errorf("%s: %d MB allocated to refuse a %d-byte transaction", name, n>>20, len(raw))
		}
	}
}

// Regression (was a defect): every PushSolution that names the job's prev hash and extranonce
// size rebuilds the whole block (FromPushSolution parses every transaction
// and hashes them twice) before the proof of work is looked at: a JDC with
// an accepted job of a full block's mempool transactions makes the JDS
// parse up to 4 MB per 58-byte message, with no rate limit, and logs a
// warning for each.
func TestAttackPushSolutionCost(t *testing.T) {
	h := newHarness(t, hardBits, nil)
	txs := detTxs(2000)
	h.pool.add(txs...)
	cl := newClient(true)
	d := build(t, h.spec(txs...), h.token(t, cl, "mallory"), 5)
	evs, err := h.d.declare(context.Background(), 1, cl, d.msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.checkAnswers(t, d.msg, messages(t, evs)); !ok {
		t.Fatal("not accepted")
	}
	size := 0
	for _, r := range d.raw {
		size += len(r)
	}
	const pushes = 20
	n := allocated(func() {
		for i := range pushes {
			h.d.push(context.Background(), 1, cl, &sv2.PushSolution{Extranonce: make([]byte, 8), PrevHash: h.tip.PrevHash,
				Nonce: uint32(i), NTime: h.tip.HeaderTimestamp, NBits: h.tip.NBits, Version: d.msg.Version})
		}
	})
	t.Logf("%d bytes allocated per garbage PushSolution for a job of %d bytes", n/pushes, size)
	if n/pushes > 64<<10 {
		t.Errorf("%d KB allocated per PushSolution that misses the target, for a block of %d KB", n/pushes>>10, size>>10)
	}
	if s := h.d.stats.snapshot(); s.Solutions != 0 {
		t.Errorf("%d solutions", s.Solutions)
	}
}

// Regression (was a defect): with Config.Network empty ("skips the check") the JDS judges
// payouts by mainnet's subsidy schedule whatever chain the node is on: on
// regtest (halving every 150 blocks) every honest declaration past height
// 150 is refused for paying less than mainnet's 50 BTC.
func TestAttackNetworkUnsetUsesMainnetSubsidy(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.Network = "" })
	j := e.dial(t, FlagDeclareTxData)
	d := j.declaration(e.spec(), "alice")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
}

// Absurd wtxid lists are refused before the node is asked: more than a
// block holds (65535, all SEQ0_64K allows), or one wtxid twice. A list of
// the most a block holds, all unknown, is asked for in full, and the
// connection goes on.
func TestAttackWtxidLists(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100 })
	j := e.dial(t, FlagDeclareTxData)
	distinct := func(n int) []sv2.U256 {
		l := make([]sv2.U256, n)
		for i := range l {
			binary.LittleEndian.PutUint32(l[i][:], uint32(i))
			l[i][31] = 0xee
		}
		return l
	}
	d := j.declaration(e.spec(), "mallory")
	d.msg.WtxidList = distinct(65535)
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeTooManyTransactions)

	d = j.declaration(e.spec(), "mallory")
	d.msg.WtxidList = distinct(maxTransactions)
	d.msg.WtxidList[maxTransactions-1] = d.msg.WtxidList[0]
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeTooManyTransactions)

	d = j.declaration(e.spec(), "mallory")
	d.msg.WtxidList = make([]sv2.U256, 1000) // all the same
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeTooManyTransactions)

	d = j.declaration(e.spec(), "mallory")
	d.msg.WtxidList = distinct(maxTransactions)
	j.send(d.msg)
	ask := expectMsg[*sv2.ProvideMissingTransactions](j)
	if len(ask.UnknownTxPositionList) != maxTransactions || ask.UnknownTxPositionList[maxTransactions-1] != maxTransactions-1 {
		t.Fatalf("asked for %d positions", len(ask.UnknownTxPositionList))
	}
	j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: make([][]byte, 65535)})
	j.expectError(d.msg.RequestID, CodeMissingTransactions)
	if n := e.node.callCount("getblocktemplate"); n != 0 {
		t.Errorf("%d proposals", n)
	}
	d = j.declaration(e.spec(), "alice")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
}

// bigTx is a transaction of about size bytes: in its output script, or in
// its witness.
func bigTx(size int, witness bool) *wire.MsgTx {
	tx := newTx(witness, 0)
	if witness {
		tx.TxIn[0].Witness = append(tx.TxIn[0].Witness, make([]byte, size))
	} else {
		tx.TxOut[0].PkScript = append(tx.TxOut[0].PkScript, make([]byte, size)...)
	}
	return tx
}

// Provided transactions of block size: a block's worth of witness goes to
// the node, a non-witness transaction of that size is over the weight, a
// list over 4 MB is refused, and a frame over the JDS's limit closes that
// connection only.
func TestAttackHugeTransactions(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100 })
	j := e.dial(t, FlagDeclareTxData)
	other := e.dial(t, FlagDeclareTxData)
	provide := func(tx *wire.MsgTx) sv2.Message {
		t.Helper()
		d := j.declaration(e.spec(tx), "mallory")
		j.send(d.msg)
		expectMsg[*sv2.ProvideMissingTransactions](j)
		j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw})
		return j.next()
	}
	if m, ok := provide(bigTx(3_900_000, true)).(*sv2.DeclareMiningJobSuccess); !ok {
		t.Errorf("3.9 MB of witness: %s, want Success", sv2.Info(m).Name)
	}
	if m, ok := provide(bigTx(1_100_000, false)).(*sv2.DeclareMiningJobError); !ok || m.ErrorCode != CodeTooManyTransactions {
		t.Errorf("1.1 MB without witness (weight 4.4M): %s %s", sv2.Info(m).Name, sv2.FieldsJSON(m))
	}
	if m, ok := provide(bigTx(4_050_000, true)).(*sv2.DeclareMiningJobError); !ok || m.ErrorCode != CodeTooManyTransactions {
		t.Errorf("4.05 MB: %s %s", sv2.Info(m).Name, sv2.FieldsJSON(m))
	}
	proposals := e.node.callCount("getblocktemplate")
	if proposals != 1 {
		t.Errorf("%d proposals, want only the one that fits", proposals)
	}
	// Over the frame limit: the connection is closed, the other one stays.
	d := j.declaration(e.spec(bigTx(maxFrame, true)), "mallory")
	j.send(d.msg)
	expectMsg[*sv2.ProvideMissingTransactions](j)
	j.c.SetWriteDeadline(time.Now().Add(waitLimit))
	j.c.WriteMessage(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID, TransactionList: d.raw}) // may fail as the JDS closes
	j.expectClosed(sv2.MsgTypeDeclareMiningJobSuccess)
	d = other.declaration(e.spec(), "alice")
	expectSuccessOf(t, other.declare(d), d.msg.RequestID)
}

// Many connections each holding as many tokens as they may: each keeps
// only its newest MaxTokensPerConnection, which all work.
func TestAttackManyConnectionsFullOfTokens(t *testing.T) {
	const conns, keep, allocs = 40, 4, 8
	e := startJDS(t, func(c *Config) { c.MaxTokensPerConnection = keep; c.TokenBurst = allocs })
	js := make([]*jdc, conns)
	toks := make([][][]byte, conns)
	for i := range js {
		js[i] = e.dial(t, FlagDeclareTxData)
		for range allocs {
			toks[i] = append(toks[i], js[i].allocate("mallory").MiningJobToken)
		}
	}
	for i, j := range js {
		j.req++
		expectErrorOf(t, j.declare(build(t, e.spec(), toks[i][allocs-keep-1], j.req)), j.req, CodeInvalidToken)
		for _, tok := range toks[i][allocs-keep:] {
			j.req++
			expectSuccessOf(t, j.declare(build(t, e.spec(), tok, j.req)), j.req)
		}
	}
	if s := e.jds.Stats(); s.Tokens != conns*allocs || s.Accepted != conns*keep {
		t.Errorf("stats %+v", s)
	}
}

// A flood of declarations pipelined on one connection: one token buys one
// proposal to the node, the rest are refused (past the burst for the
// rate), each is answered, and another connection is served meanwhile.
func TestAttackDeclarationFlood(t *testing.T) {
	const flood = 3000
	e := startJDS(t, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	j := e.dial(t, FlagDeclareTxData)
	honest := e.dial(t, FlagDeclareTxData)
	d := j.declaration(e.spec(newTxs(3)...), "mallory")
	e.node.add(d.spec.txs...)
	for range flood {
		j.c.BufferMessage(d.msg)
	}
	wrote := make(chan error, 1)
	go func() {
		j.c.SetWriteDeadline(time.Now().Add(waitLimit))
		wrote <- j.c.Flush()
	}()
	hd := honest.declaration(e.spec(), "alice")
	expectSuccessOf(t, honest.declare(hd), hd.msg.RequestID)
	codes := map[string]int{}
	for range flood {
		switch m := j.next().(type) {
		case *sv2.DeclareMiningJobSuccess:
			codes["success"]++
		case *sv2.DeclareMiningJobError:
			codes[m.ErrorCode]++
		default:
			t.Fatalf("got %s", sv2.Info(m).Name)
		}
	}
	if err := recv(t, wrote, "the flood to be written"); err != nil {
		t.Fatal(err)
	}
	burst := DefaultDeclareBurst
	if codes["success"] != 1 || codes[CodeInvalidToken] != burst-1 || codes[CodeRateLimited] != flood-burst {
		t.Errorf("answers %v", codes)
	}
	if n := e.node.callCount("getblocktemplate"); n != 2 {
		t.Errorf("%d proposals, want 2", n)
	}
	hd = honest.declaration(e.spec(), "alice")
	expectSuccessOf(t, honest.declare(hd), hd.msg.RequestID)
}

// A JDC that sends and never reads: the JDS stops reading it once its
// answers back up (the service's pacing), cuts it off when a write to it
// times out (WriteTimeout, the service's 10 s default), and serves an
// honest connection throughout.
func TestAttackNonReadingJDC(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	deaf := e.dial(t, FlagDeclareTxData)
	honest := e.dial(t, FlagDeclareTxData)
	garbage := &sv2.DeclareMiningJob{RequestID: 1, MiningJobToken: bytes.Repeat([]byte{1}, 255)}
	type result struct {
		sent int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		const batch, most = 64, 3_000_000
		sent := 0
		for sent < most {
			for range batch {
				deaf.c.BufferMessage(garbage)
			}
			// Longer than the JDS's write timeout: the JDS, not this
			// deadline, is to end it.
			deaf.c.SetWriteDeadline(time.Now().Add(3 * service.DefaultWriteTimeout))
			if err := deaf.c.Flush(); err != nil {
				done <- result{sent, err}
				return
			}
			sent += batch
		}
		done <- result{sent, nil}
	}()
	var res result
	trips := 0
	for waiting := true; waiting; trips++ {
		start := time.Now()
		d := honest.declaration(e.spec(), "alice")
		expectSuccessOf(t, honest.declare(d), d.msg.RequestID)
		if took := time.Since(start); took > time.Second {
			t.Errorf("an honest round trip took %v while the deaf JDC flooded", took)
		}
		e.clock.Advance(time.Second) // the honest connection's rate limits
		select {
		case res = <-done:
			waiting = false
		case <-time.After(50 * time.Millisecond): // pace the honest round trips
		}
		if trips > 1000 {
			t.Fatal("the deaf JDC is still connected")
		}
	}
	if res.err == nil {
		t.Fatalf("the JDS read all %d declarations of a JDC that read no answer", res.sent)
	}
	var ne net.Error
	if errors.As(res.err, &ne) && ne.Timeout() {
		t.Fatalf("the JDS stopped reading the deaf JDC without closing it: %v", res.err)
	}
	t.Logf("cut off after %d declarations, %d honest round trips meanwhile: %v", res.sent, trips, res.err)
}

// PushSolution garbage: solutions that complete no job, on a tip whose
// target no random header meets, submit nothing and cost the connection
// nothing; a PushSolution that does not decode closes that connection only.
func TestAttackPushSolutionGarbage(t *testing.T) {
	e := startJDSOn(t, hardBits, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	j := e.dial(t, FlagDeclareTxData)
	honest := e.dial(t, FlagDeclareTxData)
	txs := newTxs(3)
	e.node.add(txs...)
	d := j.declaration(e.spec(txs...), "mallory")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	tip := e.tp.Tip().PrevHash
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range 2000 {
		sol := &sv2.PushSolution{Extranonce: make([]byte, r.IntN(33)), Nonce: r.Uint32(), NTime: r.Uint32(), NBits: tip.NBits, Version: r.Uint32()}
		rand.Read(sol.Extranonce)
		switch i % 4 {
		case 0:
			sol.PrevHash = tip.PrevHash
			sol.Extranonce = sol.Extranonce[:0]
			sol.Extranonce = append(sol.Extranonce, make([]byte, 8)...) // the job's size
		case 1:
			sol.PrevHash = tip.PrevHash
		case 2:
			rand.Read(sol.PrevHash[:])
		case 3:
			sol.NBits = r.Uint32() // an nbits of its own, but a tip's prev hash and a hash that misses it
			sol.PrevHash = tip.PrevHash
			sol.Extranonce = make([]byte, 8)
			if b := blockOf(t, d, sol); meets(b, sol.NBits) {
				sol.NBits = tip.NBits
			}
		}
		j.c.BufferMessage(sol)
	}
	j.c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := j.c.Flush(); err != nil {
		t.Fatal(err)
	}
	j.allocate("mallory") // every push was handled
	if s := e.jds.Stats(); s.Solutions != 0 {
		t.Errorf("%d solutions from garbage", s.Solutions)
	}
	if n := e.node.callCount("submitblock"); n != 0 {
		t.Errorf("%d blocks submitted from garbage", n)
	}
	d = j.declaration(e.spec(), "mallory")
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)

	// A truncated PushSolution.
	j.c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := j.c.WriteFrame(sv2.Header{MsgType: sv2.MsgTypePushSolution, Length: 10}, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	j.expectClosed()
	hd := honest.declaration(e.spec(), "alice")
	expectSuccessOf(t, honest.declare(hd), hd.msg.RequestID)
}

// Messages of other protocols, or that only a JDS sends, close the
// connection that sent them and no other.
func TestAttackWrongMessages(t *testing.T) {
	e := startJDS(t, nil)
	honest := e.dial(t, FlagDeclareTxData)
	for _, m := range []sv2.Message{
		&sv2.AllocateMiningJobTokenSuccess{RequestID: 1},
		&sv2.DeclareMiningJobSuccess{RequestID: 1},
		&sv2.ProvideMissingTransactions{RequestID: 1},
		&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "x"},
		&sv2.SetupConnection{Protocol: sv2.ProtocolJobDeclaration, MinVersion: 2, MaxVersion: 2},
	} {
		j := e.dial(t, FlagDeclareTxData)
		j.send(m)
		j.expectClosed()
	}
	honest.allocate("alice")
	// A SetupConnection that does not decode.
	bad := &jdc{t: t, c: e.connect(t)}
	bad.c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := bad.c.WriteFrame(sv2.Header{MsgType: sv2.MsgTypeSetupConnection, Length: 3}, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	bad.expectClosed(sv2.MsgTypeSetupConnectionSuccess)
	d := honest.declaration(e.spec(), "alice")
	expectSuccessOf(t, honest.declare(d), d.msg.RequestID)
	if tok, err := jdtoken.Verify(d.msg.MiningJobToken, e.jds.PublicKey()); err != nil || tok.Kind != jdtoken.Declare {
		t.Errorf("token %+v, %v", tok, err)
	}
}

// Regression (was a defect): a SegWit coinbase whose witness has no item passes
// coinbase.ParseDeclared but not btcd's decode (a witness flag with no
// witness), so finish refuses it with transaction-mismatch, a code about
// the provided transactions, instead of invalid-coinbase.
func TestAttackCoinbaseWithEmptyWitness(t *testing.T) {
	e := startJDS(t, nil)
	j := e.dial(t, FlagDeclareTxData)
	d := j.declaration(e.spec(), "mallory")
	s := d.msg.CoinbaseTxSuffix
	// The suffix ends: witness (1 item of 32 bytes), locktime.
	if w := s[len(s)-4-34 : len(s)-4]; w[0] != 1 || w[1] != 32 {
		t.Fatalf("unexpected coinbase witness %x", w)
	}
	d.msg.CoinbaseTxSuffix = append(append(bytes.Clone(s[:len(s)-4-34]), 0), s[len(s)-4:]...)
	expectErrorOf(t, j.declare(d), d.msg.RequestID, CodeInvalidCoinbase)
}

// Regression (was a defect): a declaration reusing the request id of one still waiting
// for its transactions, and accepted at once, leaves the old one waiting:
// the JDC gets DeclareMiningJob.Success for the id, then, at the sweep,
// DeclareMiningJob.Error for the same id.
func TestAttackRequestIDReusedWhilePending(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.MissingTimeout = time.Second })
	j := e.dial(t, FlagDeclareTxData)
	waiting := j.declaration(e.spec(newTxs(1)...), "alice")
	j.send(waiting.msg)
	expectMsg[*sv2.ProvideMissingTransactions](j)
	sentinel := j.declaration(e.spec(newTxs(1)...), "alice") // times out at the same sweep
	j.send(sentinel.msg)
	expectMsg[*sv2.ProvideMissingTransactions](j)
	again := j.declaration(e.spec(), "alice")
	again.msg.RequestID = waiting.msg.RequestID
	expectSuccessOf(t, j.declare(again), again.msg.RequestID)
	e.clock.Advance(2 * time.Second)
	for done := false; !done; {
		m := expectMsg[*sv2.DeclareMiningJobError](j)
		if m.RequestID == again.msg.RequestID {
			t.Errorf("request %d answered Success, then Error %q", m.RequestID, m.ErrorCode)
		}
		done = m.RequestID == sentinel.msg.RequestID
	}
	j.req++
	j.send(&sv2.AllocateMiningJobToken{UserIdentifier: "alice", RequestID: j.req})
	for {
		switch m := j.next().(type) {
		case *sv2.AllocateMiningJobTokenSuccess:
			return
		case *sv2.DeclareMiningJobError:
			if m.RequestID == again.msg.RequestID {
				t.Errorf("request %d answered Success, then Error %q", m.RequestID, m.ErrorCode)
			}
		}
	}
}

// Regression (was a defect): with MaxPendingDeclarations waiting, the one dropped for a
// newer is the earliest by Config.Now, ties broken by map order: with a
// clock that does not move between declarations (a coarse or test clock)
// a random one is dropped, not the oldest.
func TestAttackPendingEvictionOnClockTies(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.MaxPendingDeclarations = 2; c.DeclareBurst = 1000; c.TokenBurst = 1000 })
	j := e.dial(t, FlagDeclareTxData)
	for round := range 20 {
		var ds []*declared
		for range 3 {
			d := j.declaration(e.spec(newTxs(1)...), "alice")
			j.send(d.msg)
			ds = append(ds, d)
			if len(ds) == 3 {
				if m := expectMsg[*sv2.DeclareMiningJobError](j); m.RequestID != ds[0].msg.RequestID {
					t.Fatalf("round %d: dropped request %d, want the oldest, %d", round, m.RequestID, ds[0].msg.RequestID)
				}
			}
			expectMsg[*sv2.ProvideMissingTransactions](j)
		}
		for _, d := range ds[1:] { // let them go
			j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID})
			j.expectError(d.msg.RequestID, CodeMissingTransactions)
		}
	}
}

// Regression (was a defect): every declaration naming a wtxid the index lacks makes the JDS
// refresh its whole mempool index on the spot (getrawmempool lists the
// whole mempool: some 20 MB of JSON on mainnet), however recently it did:
// a 100-byte DeclareMiningJob with one made-up wtxid buys a full listing,
// at the declaration rate of every connection.
func TestAttackDeclarationsForceMempoolRefreshes(t *testing.T) {
	const declarations = 20
	e := startJDS(t, func(c *Config) { c.DeclareBurst = 100; c.TokenBurst = 100; c.MempoolRefresh = time.Hour })
	j := e.dial(t, FlagDeclareTxData)
	before := e.node.callCount("getrawmempool")
	for range declarations {
		d := j.declaration(e.spec(), "mallory")
		d.msg.WtxidList = make([]sv2.U256, 1)
		rand.Read(d.msg.WtxidList[0][:])
		j.send(d.msg)
		expectMsg[*sv2.ProvideMissingTransactions](j)
		j.send(&sv2.ProvideMissingTransactionsSuccess{RequestID: d.msg.RequestID})
		j.expectError(d.msg.RequestID, CodeMissingTransactions)
	}
	if n := e.node.callCount("getrawmempool") - before; n > declarations/4 {
		t.Errorf("%d listings of the whole mempool for %d declarations within the same second", n, declarations)
	}
}
