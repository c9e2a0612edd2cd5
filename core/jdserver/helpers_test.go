package jdserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/synthtp"
	"github.com/stratumgo/stratum/core/transport"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

// regtestBits is regtest's nBits: about every other header meets it.
const regtestBits = 0x207fffff

// tipHeight is the height of the block the synthetic provider's first tip
// asks for: past regtest's first halving (every 150 blocks), so the subsidy
// is 25 BTC.
const tipHeight = 200

// testEpoch is the fake clock's start and the provider's header time.
var testEpoch = time.Unix(1_800_000_000, 0)

// payoutScript is the pool payout output's script (P2WPKH).
var payoutScript = append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x11}, 20)...)

// subsidy is what the pool payout output must carry at tipHeight.
func subsidy(height int64) uint64 {
	p, err := network.Params("regtest")
	if err != nil {
		panic(err)
	}
	return uint64(network.Subsidy(p, height))
}

// knownCodes are every DeclareMiningJob.Error code the JDS documents.
var knownCodes = map[string]bool{
	CodeInvalidToken: true, CodeStaleChainTip: true, CodeInvalidVersion: true, CodeInvalidCoinbase: true,
	CodeInvalidCoinbaseOutputs: true, CodeTooManyTransactions: true, CodeMissingTransactions: true,
	CodeTransactionMismatch: true, CodeUnexpectedTransactions: true, CodeRejectedByNode: true,
	CodeNodeUnavailable: true, CodeRateLimited: true, CodeNotFullTemplate: true,
}

// recv waits for a value on ch, failing the test after waitLimit.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// eventually polls cond until it holds, failing after waitLimit. Only for
// state that no event announces (the JDS's view of the tip, its counters).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling: no event to wait on
	}
}

// fakeClock is the JDS's clock in tests: frozen unless advanced, so token
// expiry and the rate limits are the test's to drive.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// fakeNode is the JSON-RPC side of a node the JDS uses: getblockchaininfo,
// a mempool (getrawmempool, getrawtransaction, batched as the mempool index
// asks), block proposals (getblocktemplate in proposal mode) and
// submitblock. Verdicts are the test's to set.
type fakeNode struct {
	srv *httptest.Server

	mu      sync.Mutex
	chain   string
	txs     map[string][]byte // mempool by txid (RPC hex order)
	order   []string
	down    bool                                // every connection is dropped
	propose func(block []byte) (any, *rpcError) // nil: every proposal is valid
	submit  func(block []byte) (any, *rpcError) // nil: every block is accepted
	// submitBusy answers this many more submitblock calls with Bitcoin
	// Core's HTTP 503, a failure worth retrying.
	submitBusy int
	calls      map[string]int

	proposals chan []byte // every proposed block (dropped when full)
	submitted chan []byte // every submitblock, 503s included
}

func newFakeNode(t testing.TB) *fakeNode {
	t.Helper()
	f := &fakeNode{chain: "regtest", txs: map[string][]byte{}, calls: map[string]int{},
		proposals: make(chan []byte, 4096), submitted: make(chan []byte, 4096)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add puts txs in the mempool.
func (f *fakeNode) add(txs ...*wire.MsgTx) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tx := range txs {
		id := tx.TxHash().String()
		if _, ok := f.txs[id]; !ok {
			f.order = append(f.order, id)
		}
		f.txs[id] = serialize(tx)
	}
}

func (f *fakeNode) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeNode) setPropose(h func([]byte) (any, *rpcError)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.propose = h
}

func (f *fakeNode) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	type request struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	batch := bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))
	var reqs []request
	if batch {
		err = json.Unmarshal(body, &reqs)
	} else {
		reqs = make([]request, 1)
		err = json.Unmarshal(body, &reqs[0])
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	busy := false
	for _, req := range reqs {
		f.calls[req.Method]++
		if req.Method == "submitblock" && f.submitBusy > 0 {
			f.submitBusy--
			busy = true
		}
	}
	f.mu.Unlock()
	if busy {
		if raw, ok := hexParam(reqs[0].Params, 0); ok {
			offer(f.submitted, raw)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("Work queue depth exceeded"))
		return
	}
	replies := make([]map[string]any, len(reqs))
	for i, req := range reqs {
		result, rpcErr := f.dispatch(req.Method, req.Params)
		replies[i] = map[string]any{"result": result, "error": rpcErr, "id": req.ID}
	}
	w.Header().Set("Content-Type", "application/json")
	if batch {
		json.NewEncoder(w).Encode(replies)
		return
	}
	json.NewEncoder(w).Encode(replies[0])
}

// offer sends without blocking: a flood must not wedge the fake node.
func offer(ch chan []byte, b []byte) {
	select {
	case ch <- b:
	default:
	}
}

func hexParam(params []json.RawMessage, i int) ([]byte, bool) {
	if len(params) <= i {
		return nil, false
	}
	var s string
	if json.Unmarshal(params[i], &s) != nil {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func (f *fakeNode) dispatch(method string, params []json.RawMessage) (any, *rpcError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch method {
	case "getblockchaininfo":
		return map[string]any{"chain": f.chain, "blocks": tipHeight - 1}, nil
	case "getrawmempool":
		return slices.Clone(f.order), nil
	case "getrawtransaction":
		var id string
		if len(params) > 0 {
			json.Unmarshal(params[0], &id)
		}
		raw, ok := f.txs[id]
		if !ok {
			return nil, &rpcError{Code: node.CodeInvalidAddrKey, Message: "No such mempool or blockchain transaction"}
		}
		return hex.EncodeToString(raw), nil
	case "getblocktemplate":
		var req struct {
			Mode string `json:"mode"`
			Data string `json:"data"`
		}
		if len(params) > 0 {
			json.Unmarshal(params[0], &req)
		}
		raw, err := hex.DecodeString(req.Data)
		if req.Mode != "proposal" || err != nil {
			return nil, &rpcError{Code: node.CodeInvalidParameter, Message: "want a proposal"}
		}
		offer(f.proposals, raw)
		if f.propose != nil {
			return f.propose(raw)
		}
		return nil, nil
	case "submitblock":
		raw, ok := hexParam(params, 0)
		if !ok {
			return nil, &rpcError{Code: node.CodeDeserialization, Message: "Block decode failed"}
		}
		offer(f.submitted, raw)
		if f.submit != nil {
			return f.submit(raw)
		}
		return nil, nil
	}
	return nil, &rpcError{Code: node.CodeMethodNotFound, Message: "Method not found"}
}

// env is a JDS running over real TCP against a fake node and a synthetic
// template provider.
type env struct {
	t     *testing.T
	node  *fakeNode
	tp    *synthtp.Provider
	tpSrv *service.ServerService
	jds   *JDS
	cfg   Config
	addr  string
	clock *fakeClock
	stop  func() error
}

// startTP runs a synthetic template provider (plain, regtest nBits) until
// the test ends.
func startTP(t *testing.T, bits uint32) (*synthtp.Provider, *service.ServerService, string) {
	t.Helper()
	p, err := synthtp.New(synthtp.Config{Bits: bits, Height: tipHeight, CoinbaseValue: subsidy(tipHeight) + 100_000,
		Now: func() time.Time { return testEpoch }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.NewServerService(service.ServerConfig{Listener: ln, Plain: true, TemplateDistribution: &service.ProtocolConfig{}}, nil, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "template provider", srv.Run, waitLimit)
	return p, srv, ln.Addr().String()
}

// runUntilCleanup runs f until stop or the end of the test; stop cancels
// it and waits up to limit, returning its error (nil for a clean stop).
func runUntilCleanup(t *testing.T, what string, f func(context.Context) error, limit time.Duration) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, service.ErrStopped) && !errors.Is(err, context.Canceled) {
					result = err
				}
			case <-time.After(limit):
				result = errors.New(what + " did not stop")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
	return stop
}

// startJDS runs a JDS (plain, regtest, fake clock) until the test ends and
// waits until it listens and has the provider's tip; mod adjusts its
// configuration.
func startJDS(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	return startJDSOn(t, regtestBits, mod)
}

// startJDSOn is startJDS with a provider whose tips have nBits bits.
func startJDSOn(t *testing.T, bits uint32, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, node: newFakeNode(t), clock: &fakeClock{now: testEpoch}}
	var tpAddr string
	e.tp, e.tpSrv, tpAddr = startTP(t, bits)
	sk, _, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listener: ln, AuthorityKey: &sk, Plain: true, Network: "regtest",
		Node:             node.Config{URL: e.node.srv.URL, User: "user", Password: "pass", RequestTimeout: 5 * time.Second},
		TemplateProvider: TemplateProvider{Address: tpAddr, Plain: true},
		PayoutScript:     payoutScript,
		Logger:           testLogger(t, slog.LevelWarn),
		Now:              e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.cfg = cfg
	e.jds, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Run waits for pushed blocks up to submitDrain when it stops.
	e.stop = runUntilCleanup(t, "jds", e.jds.Run, waitLimit+submitDrain)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	addr, err := e.jds.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = addr.String()
	eventually(t, "the JDS to take the provider's tip", func() bool { return e.jds.d.chain.tip() != nil })
	return e
}

// newTip moves the provider to the next block and waits until the JDS has it.
func (e *env) newTip() synthtp.Tip {
	e.t.Helper()
	tip, ev := e.tp.NewTip()
	if err := e.tpSrv.HandleEvent(context.Background(), ev); err != nil {
		e.t.Fatal(err)
	}
	eventually(e.t, "the JDS to take the new tip", func() bool {
		cur := e.jds.d.chain.tip()
		return cur != nil && cur.prevHash == tip.PrevHash.PrevHash && cur.height == tip.Height
	})
	return tip
}

// jdc is a hand-driven job declarator client on one connection.
type jdc struct {
	t   testing.TB
	c   *transport.Conn
	req uint32
}

// connect opens a connection to the JDS without SetupConnection, over
// Noise (pinning the JDS's key) when the JDS is not plain.
func (e *env) connect(t testing.TB) *transport.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", e.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	var c *transport.Conn
	if e.cfg.Plain {
		c = transport.NewPlain(nc, transport.Config{})
	} else {
		pk := e.jds.PublicKey()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if c, err = transport.Client(ctx, nc, transport.ClientConfig{Noise: noise.InitiatorConfig{AuthorityKey: &pk}}); err != nil {
			nc.Close()
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func setupMsg(flags uint32) *sv2.SetupConnection {
	return &sv2.SetupConnection{Protocol: sv2.ProtocolJobDeclaration, MinVersion: 2, MaxVersion: 2, Flags: flags,
		EndpointHost: "127.0.0.1", EndpointPort: 34264, Vendor: "jds test"}
}

// dial connects a JDC with SetupConnection flags (FlagDeclareTxData or 0).
func (e *env) dial(t testing.TB, flags uint32) *jdc {
	t.Helper()
	j := &jdc{t: t, c: e.connect(t)}
	j.send(setupMsg(flags))
	ok := expectMsg[*sv2.SetupConnectionSuccess](j)
	if ok.Flags != 0 {
		t.Errorf("SetupConnection.Success flags %#x: none are defined for it (§6.4.1)", ok.Flags)
	}
	return j
}

func (j *jdc) send(m sv2.Message) {
	j.t.Helper()
	j.c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := j.c.WriteMessage(m); err != nil {
		j.t.Fatalf("sending %s: %v", sv2.Info(m).Name, err)
	}
}

func (j *jdc) next() sv2.Message {
	j.t.Helper()
	j.c.SetReadDeadline(time.Now().Add(waitLimit))
	_, m, err := j.c.ReadMessage()
	if err != nil {
		j.t.Fatalf("reading from the JDS: %v", err)
	}
	return m
}

func expectMsg[T sv2.Message](j *jdc) T {
	j.t.Helper()
	m := j.next()
	v, ok := m.(T)
	if !ok {
		var want T
		j.t.Fatalf("got %s %s, want %T", sv2.Info(m).Name, sv2.FieldsJSON(m), want)
	}
	return v
}

// expectClosed reads until the JDS closes the connection, failing on a
// message of a type in refuse and if it stays open.
func (j *jdc) expectClosed(refuse ...uint8) {
	j.t.Helper()
	j.c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		_, m, err := j.c.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				j.t.Fatalf("connection still open: %v", err)
			}
			return
		}
		if slices.Contains(refuse, m.MsgType()) {
			j.t.Fatalf("got %s %s before the close", sv2.Info(m).Name, sv2.FieldsJSON(m))
		}
	}
}

// allocate asks for a token for user.
func (j *jdc) allocate(user string) *sv2.AllocateMiningJobTokenSuccess {
	j.t.Helper()
	j.req++
	j.send(&sv2.AllocateMiningJobToken{UserIdentifier: user, RequestID: j.req})
	ok := expectMsg[*sv2.AllocateMiningJobTokenSuccess](j)
	if ok.RequestID != j.req {
		j.t.Fatalf("AllocateMiningJobToken.Success for request %d, want %d", ok.RequestID, j.req)
	}
	return ok
}

// declare sends d and returns the JDS's answer.
func (j *jdc) declare(d *declared) sv2.Message {
	j.t.Helper()
	j.send(d.msg)
	return j.next()
}

// expectError reads a DeclareMiningJob.Error for request id with code.
func (j *jdc) expectError(id uint32, code string) *sv2.DeclareMiningJobError {
	j.t.Helper()
	m := expectMsg[*sv2.DeclareMiningJobError](j)
	if m.RequestID != id || m.ErrorCode != code {
		j.t.Fatalf("DeclareMiningJob.Error for request %d code %q (%s), want request %d code %q", m.RequestID, m.ErrorCode, m.ErrorDetails, id, code)
	}
	return m
}

func expectErrorOf(t testing.TB, m sv2.Message, id uint32, code string) *sv2.DeclareMiningJobError {
	t.Helper()
	e, ok := m.(*sv2.DeclareMiningJobError)
	if !ok {
		t.Fatalf("got %s %s, want DeclareMiningJob.Error %q", sv2.Info(m).Name, sv2.FieldsJSON(m), code)
	}
	if e.RequestID != id || e.ErrorCode != code {
		t.Fatalf("DeclareMiningJob.Error for request %d code %q (%s), want request %d code %q", e.RequestID, e.ErrorCode, e.ErrorDetails, id, code)
	}
	return e
}

func expectSuccessOf(t testing.TB, m sv2.Message, id uint32) *sv2.DeclareMiningJobSuccess {
	t.Helper()
	s, ok := m.(*sv2.DeclareMiningJobSuccess)
	if !ok {
		t.Fatalf("got %s %s, want DeclareMiningJob.Success", sv2.Info(m).Name, sv2.FieldsJSON(m))
	}
	if s.RequestID != id {
		t.Fatalf("DeclareMiningJob.Success for request %d, want %d", s.RequestID, id)
	}
	return s
}

// jobSpec is what a JDC puts in a declaration.
type jobSpec struct {
	height         int64 // the coinbase's BIP34 height
	value          uint64
	payout         []byte // the pool payout output's script
	txs            []*wire.MsgTx
	segWit         bool // a witness commitment output, and the coinbase witness
	extranonceSize int
	version        uint32
	requestID      uint32
}

// declared is a declaration and what the JDC built it from.
type declared struct {
	spec jobSpec
	msg  *sv2.DeclareMiningJob
	tmpl *sv2.NewTemplate // the JDC's template, the coinbase's source
	cb   *coinbase.Coinbase
	raw  [][]byte // the transactions, serialized with witnesses
	user string
}

// spec is the default declaration on e's tip: the regtest subsidy to the
// pool, SegWit, an 8-byte extranonce.
func (e *env) spec(txs ...*wire.MsgTx) jobSpec {
	return jobSpec{height: e.tp.Tip().Height, value: subsidy(e.tp.Tip().Height), payout: payoutScript,
		txs: txs, segWit: true, extranonceSize: 8, version: 0x20000000}
}

// jdcTag is the JDC's pool tag in the coinbase scriptSig.
var jdcTag = []byte("/jdc/")

// build makes the declaration of spec with token, for request id.
func build(t testing.TB, spec jobSpec, token []byte, id uint32) *declared {
	t.Helper()
	prefix, err := txscript.NewScriptBuilder().AddInt64(spec.height).Script()
	if err != nil {
		t.Fatal(err)
	}
	wtxids := make([]sv2.U256, len(spec.txs))
	raw := make([][]byte, len(spec.txs))
	for i, tx := range spec.txs {
		wtxids[i] = sv2.U256(tx.WitnessHash())
		raw[i] = serialize(tx)
	}
	tmpl := &sv2.NewTemplate{TemplateID: 1, Version: spec.version, CoinbaseTxVersion: 2, CoinbasePrefix: prefix,
		CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: spec.value}
	if spec.segWit {
		script := coinbase.WitnessCommitmentScript(wtxids)
		tmpl.CoinbaseTxOutputsCount = 1
		tmpl.CoinbaseTxOutputs = appendOutput(nil, 0, script)
	}
	cb, err := coinbase.New(tmpl, coinbase.Config{Outputs: []*wire.TxOut{{Value: 0, PkScript: spec.payout}}, Tag: jdcTag}, spec.extranonceSize)
	if err != nil {
		t.Fatal(err)
	}
	return &declared{spec: spec, tmpl: tmpl, cb: cb, raw: raw, msg: &sv2.DeclareMiningJob{
		RequestID: id, MiningJobToken: token, Version: spec.version,
		CoinbaseTxPrefix: cb.FullPrefix(), CoinbaseTxSuffix: cb.FullSuffix(), WtxidList: wtxids,
	}}
}

// declaration allocates a token for user on j and builds spec's declaration with it.
func (j *jdc) declaration(spec jobSpec, user string) *declared {
	j.t.Helper()
	tok := j.allocate(user)
	j.req++
	d := build(j.t, spec, tok.MiningJobToken, j.req)
	d.user = user
	return d
}

func appendOutput(dst []byte, value uint64, script []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, value)
	dst = appendVarInt(dst, uint64(len(script)))
	return append(dst, script...)
}

func appendVarInt(dst []byte, n uint64) []byte {
	var b bytes.Buffer
	wire.WriteVarInt(&b, 0, n)
	return append(dst, b.Bytes()...)
}

// customJob is the SetCustomMiningJob a JDC sends the pool for d once the
// JDS accepted it with token, built from what the JDC itself knows (its
// template, tag and outputs, the provider's tip), not from the JDS's parse.
func customJob(d *declared, token []byte, tip *sv2.TemplateSetNewPrevHash) *sv2.SetCustomMiningJob {
	scriptSig := append([]byte(nil), d.tmpl.CoinbasePrefix...)
	scriptSig = append(append(scriptSig, byte(len(jdcTag))), jdcTag...)
	scriptSig = append(scriptSig, byte(d.spec.extranonceSize)) // OP_PUSHBYTES_n of the extranonce
	outputs := appendVarInt(nil, 1+uint64(d.tmpl.CoinbaseTxOutputsCount))
	outputs = appendOutput(outputs, d.spec.value, d.spec.payout)
	outputs = append(outputs, d.tmpl.CoinbaseTxOutputs...)
	txids := make([]sv2.U256, len(d.spec.txs))
	for i, tx := range d.spec.txs {
		txids[i] = sv2.U256(tx.TxHash())
	}
	return &sv2.SetCustomMiningJob{
		ChannelID: 1, RequestID: 1, MiningJobToken: token, Version: d.msg.Version,
		PrevHash: tip.PrevHash, MinNTime: tip.HeaderTimestamp, NBits: tip.NBits,
		CoinbaseTxVersion: d.tmpl.CoinbaseTxVersion, CoinbasePrefix: scriptSig,
		CoinbaseTxInputNSequence: d.tmpl.CoinbaseTxInputSequence, CoinbaseTxOutputs: outputs,
		CoinbaseTxLocktime: d.tmpl.CoinbaseTxLocktime, MerklePath: merkle.Path(txids),
	}
}

// newTx is a transaction spending a random outpoint; with witness, its
// wtxid differs from its txid. pad adds bytes to its output script.
func newTx(witness bool, pad int) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	var prev chainhash.Hash
	rand.Read(prev[:])
	in := wire.NewTxIn(wire.NewOutPoint(&prev, 1), nil, nil)
	if witness {
		sig, pub := make([]byte, 71), make([]byte, 33)
		rand.Read(sig)
		rand.Read(pub)
		in.Witness = wire.TxWitness{sig, pub}
	} else {
		script := make([]byte, 40)
		rand.Read(script)
		in.SignatureScript = script
	}
	tx.AddTxIn(in)
	out := append([]byte{0x00, 0x14}, make([]byte, 20)...)
	rand.Read(out[2:])
	if pad > 0 {
		out = append(out, make([]byte, pad)...)
	}
	tx.AddTxOut(wire.NewTxOut(10_000, out))
	return tx
}

func newTxs(n int) []*wire.MsgTx {
	txs := make([]*wire.MsgTx, n)
	for i := range txs {
		txs[i] = newTx(i%3 != 2, 0) // some without witness: wtxid == txid
	}
	return txs
}

func serialize(tx *wire.MsgTx) []byte {
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// blockOf assembles the block a PushSolution sol completes for d,
// independently of the JDS: coinbase, transactions, header.
func blockOf(t testing.TB, d *declared, sol *sv2.PushSolution) *wire.MsgBlock {
	t.Helper()
	cbRaw := append(append(append([]byte(nil), d.msg.CoinbaseTxPrefix...), sol.Extranonce...), d.msg.CoinbaseTxSuffix...)
	var cb wire.MsgTx
	if err := cb.Deserialize(bytes.NewReader(cbRaw)); err != nil {
		t.Fatal(err)
	}
	blk := &wire.MsgBlock{Transactions: []*wire.MsgTx{&cb}}
	txids := []sv2.U256{sv2.U256(cb.TxHash())}
	for _, tx := range d.spec.txs {
		blk.Transactions = append(blk.Transactions, tx)
		txids = append(txids, sv2.U256(tx.TxHash()))
	}
	blk.Header = wire.BlockHeader{Version: int32(sol.Version), PrevBlock: chainhash.Hash(sol.PrevHash),
		MerkleRoot: chainhash.Hash(merkle.RootFromTxIDs(txids)), Timestamp: time.Unix(int64(sol.NTime), 0), Bits: sol.NBits, Nonce: sol.Nonce}
	return blk
}

func serializeBlock(t testing.TB, blk *wire.MsgBlock) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := blk.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// meets reports whether blk's header meets the target of bits.
func meets(blk *wire.MsgBlock, bits uint32) bool {
	tg, err := target.FromCompact(bits)
	if err != nil {
		return false
	}
	h := sv2.U256(blk.BlockHash())
	return target.Meets(&h, &tg)
}

// solve grinds the nonce of a solution for d on tip whose header meets
// the target of nBits (wanted true) or does not (wanted false).
func solve(t testing.TB, d *declared, tip *sv2.TemplateSetNewPrevHash, nBits uint32, wanted bool) (*sv2.PushSolution, *wire.MsgBlock) {
	t.Helper()
	sol := &sv2.PushSolution{Extranonce: bytes.Repeat([]byte{0xe7}, d.spec.extranonceSize), PrevHash: tip.PrevHash,
		NTime: tip.HeaderTimestamp + 1, NBits: nBits, Version: d.msg.Version}
	for nonce := uint32(0); nonce < 1<<20; nonce++ {
		sol.Nonce = nonce
		blk := blockOf(t, d, sol)
		if meets(blk, nBits) == wanted {
			return sol, blk
		}
	}
	t.Fatal("no nonce found")
	return nil, nil
}

// solveOnly is solve for a header that meets tip's target for d and
// misses it for each of others.
func solveOnly(t testing.TB, d *declared, tip *sv2.TemplateSetNewPrevHash, others ...*declared) (*sv2.PushSolution, *wire.MsgBlock) {
	t.Helper()
	for ntime := tip.HeaderTimestamp; ntime < tip.HeaderTimestamp+1000; ntime++ {
		at := *tip
		at.HeaderTimestamp = ntime
		sol, blk := solve(t, d, &at, tip.NBits, true)
		if !slices.ContainsFunc(others, func(o *declared) bool { return meets(blockOf(t, o, sol), tip.NBits) }) {
			return sol, blk
		}
	}
	t.Fatal("no solution found")
	return nil, nil
}

// verifyDeclared checks a DeclareMiningJob.Success token the way a pool
// does: signed by the JDS, Declared, for user, and committing to exactly
// the SetCustomMiningJob the JDC sends for d.
func (e *env) verifyDeclared(t testing.TB, d *declared, ok *sv2.DeclareMiningJobSuccess) *sv2.SetCustomMiningJob {
	t.Helper()
	tok, err := jdtoken.Verify(ok.NewMiningJobToken, e.jds.PublicKey())
	if err != nil {
		t.Fatalf("the new token does not verify: %v", err)
	}
	if tok.Kind != jdtoken.Declared || tok.User != jdtoken.UserHash(d.user) {
		t.Fatalf("new token: kind %v, user %x; want declared for %q", tok.Kind, tok.User, d.user)
	}
	scj := customJob(d, ok.NewMiningJobToken, e.tp.Tip().PrevHash)
	if got, want := tok.Job, jdtoken.JobOf(scj).Commit(); got != want {
		t.Fatalf("the token commits to job %x; the JDC's SetCustomMiningJob is %x", got, want)
	}
	// The pool's coinbase for that custom job is the declared one.
	cb, _, err := coinbase.FromCustomJob(scj, d.spec.extranonceSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cb.FullPrefix(), d.msg.CoinbaseTxPrefix) || !bytes.Equal(cb.FullSuffix(), d.msg.CoinbaseTxSuffix) {
		t.Fatalf("the pool's coinbase for the custom job differs from the declared one")
	}
	return scj
}
