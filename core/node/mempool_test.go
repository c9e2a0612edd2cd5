package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/google/go-cmp/cmp"
)

// fakePool serves getrawmempool and getrawtransaction from a set of
// transactions, in the order they were added, and records which txids
// getrawtransaction was asked for.
type fakePool struct {
	mu     sync.Mutex
	order  []chainhash.Hash
	answer map[chainhash.Hash]any // getrawtransaction's result for a txid
	vanish map[chainhash.Hash]*rpcErrorObject
	asked  []chainhash.Hash
}

func newFakePool(f *fakeNode) *fakePool {
	p := &fakePool{answer: map[chainhash.Hash]any{}, vanish: map[chainhash.Hash]*rpcErrorObject{}}
	f.handle("getrawmempool", func(params []json.RawMessage) (any, *rpcErrorObject) {
		if len(params) != 1 || string(params[0]) != "false" {
			return nil, &rpcErrorObject{Code: CodeInvalidParams, Message: "want verbose=false"}
		}
		return p.list(), nil
	})
	f.handle("getrawtransaction", func(params []json.RawMessage) (any, *rpcErrorObject) {
		var s string
		json.Unmarshal(params[0], &s)
		txid, err := chainhash.NewHashFromStr(s)
		if err != nil || len(params) != 2 || string(params[1]) != "0" {
			return nil, &rpcErrorObject{Code: CodeInvalidParams, Message: "want txid, 0"}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.asked = append(p.asked, *txid)
		if e := p.vanish[*txid]; e != nil {
			return nil, e
		}
		a, ok := p.answer[*txid]
		if !ok {
			return nil, &rpcErrorObject{Code: CodeInvalidAddrKey, Message: "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."}
		}
		return a, nil
	})
	return p
}

func (p *fakePool) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.order))
	for i, id := range p.order {
		out[i] = id.String()
	}
	return out
}

// add puts txs in the mempool and returns them as the index should hold
// them.
func (p *fakePool) add(txs ...*wire.MsgTx) []MempoolTx {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []MempoolTx
	for _, tx := range txs {
		var buf bytes.Buffer
		tx.Serialize(&buf)
		p.order = append(p.order, tx.TxHash())
		p.answer[tx.TxHash()] = hex.EncodeToString(buf.Bytes())
		out = append(out, MempoolTx{TxID: tx.TxHash(), WTxID: tx.WitnessHash(), Raw: buf.Bytes()})
	}
	return out
}

// listOnly lists txid in the mempool, answering getrawtransaction with result.
func (p *fakePool) listOnly(txid chainhash.Hash, result any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.order = append(p.order, txid)
	p.answer[txid] = result
}

func (p *fakePool) remove(txids ...chainhash.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range txids {
		p.order = slices.DeleteFunc(p.order, func(x chainhash.Hash) bool { return x == id })
		delete(p.answer, id)
	}
}

// takeAsked returns the txids asked for since the last call.
func (p *fakePool) takeAsked() []chainhash.Hash {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.asked
	p.asked = nil
	return a
}

// legacyTx returns a transaction without witness, whose wtxid is its txid.
func legacyTx(seed byte) *wire.MsgTx {
	tx := wire.NewMsgTx(1)
	tx.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{seed, 0xee}, Index: 1},
		SignatureScript:  bytes.Repeat([]byte{seed}, 107),
		Sequence:         wire.MaxTxInSequenceNum,
	})
	tx.AddTxOut(&wire.TxOut{Value: 5000, PkScript: append([]byte{0x76, 0xa9, 0x14}, append(bytes.Repeat([]byte{seed}, 20), 0x88, 0xac)...)})
	return tx
}

func txids(txs []MempoolTx) []chainhash.Hash {
	out := make([]chainhash.Hash, len(txs))
	for i, tx := range txs {
		out[i] = tx.TxID
	}
	return out
}

func sizeOf(txs []MempoolTx) int64 {
	var n int64
	for _, tx := range txs {
		n += int64(len(tx.Raw))
	}
	return n
}

// checkIndexed fails t unless m holds exactly want.
func checkIndexed(t *testing.T, m *Mempool, want []MempoolTx) {
	t.Helper()
	if m.Len() != len(want) || m.Bytes() != sizeOf(want) {
		t.Errorf("index holds %d transactions, %d bytes; want %d, %d", m.Len(), m.Bytes(), len(want), sizeOf(want))
	}
	for _, w := range want {
		got, ok := m.Lookup(w.WTxID)
		if !ok {
			t.Errorf("Lookup(%v) found nothing, want txid %v", w.WTxID, w.TxID)
			continue
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("Lookup(%v) (-want +got):\n%s", w.WTxID, diff)
		}
	}
}

func TestMempoolRefreshIsIncremental(t *testing.T) {
	f := newFakeNode(t)
	pool := newFakePool(f)
	m := NewMempool(f.client(t), MempoolConfig{})
	ctx := t.Context()

	first := pool.add(segwitTx(1), legacyTx(2), segwitTx(3))
	if first[1].WTxID != first[1].TxID || first[0].WTxID == first[0].TxID {
		t.Fatal("test transactions: want a legacy one and segwit ones")
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndexed(t, m, first)
	if diff := cmp.Diff(txids(first), pool.takeAsked()); diff != "" {
		t.Errorf("first refresh asked for (-want +got):\n%s", diff)
	}
	if n := f.callCount("(batch)"); n != 1 {
		t.Errorf("first refresh sent %d batch requests, want 1", n)
	}
	// By wtxid only: a segwit transaction's txid is not its key.
	if _, ok := m.Lookup(first[0].TxID); ok {
		t.Error("Lookup found a segwit transaction by its txid")
	}

	more := pool.add(segwitTx(4), segwitTx(5))
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(first), more...)
	checkIndexed(t, m, all)
	if diff := cmp.Diff(txids(more), pool.takeAsked()); diff != "" {
		t.Errorf("second refresh asked for (-want +got), want only the new ones:\n%s", diff)
	}

	// Mined or evicted: forgotten, and nothing fetched.
	pool.remove(first[0].TxID, more[1].TxID)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndexed(t, m, []MempoolTx{first[1], first[2], more[0]})
	for _, gone := range []MempoolTx{first[0], more[1]} {
		if _, ok := m.Lookup(gone.WTxID); ok {
			t.Errorf("Lookup(%v) still finds a transaction that left the mempool", gone.WTxID)
		}
	}
	if asked := pool.takeAsked(); len(asked) != 0 {
		t.Errorf("third refresh asked for %v, want nothing", asked)
	}
	if n := f.callCount("(batch)"); n != 2 {
		t.Errorf("%d batch requests after three refreshes, want 2 (none when nothing is new)", n)
	}
}

func TestMempoolRefreshBatches(t *testing.T) {
	f := newFakeNode(t)
	pool := newFakePool(f)
	var want []MempoolTx
	for i := range 5 {
		want = append(want, pool.add(segwitTx(byte(10+i)))...)
	}

	t.Run("batch size", func(t *testing.T) {
		m := NewMempool(f.client(t), MempoolConfig{BatchSize: 2})
		before := f.callCount("(batch)")
		if err := m.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkIndexed(t, m, want)
		if n := f.callCount("(batch)") - before; n != 3 {
			t.Errorf("5 transactions in batches of 2 took %d requests, want 3", n)
		}
	})
	t.Run("reply too large", func(t *testing.T) {
		// Room for a reply with two transactions, not three: the batch of
		// five is split until it fits.
		perTx := len(hex.EncodeToString(want[0].Raw)) + 100
		c := f.client(t, func(c *Config) { c.MaxReplySize = int64(2*perTx + 50) })
		m := NewMempool(c, MempoolConfig{})
		before := f.callCount("(batch)")
		if err := m.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkIndexed(t, m, want)
		if n := f.callCount("(batch)") - before; n < 4 {
			t.Errorf("%d batch requests, want the batch split (5 -> 2+3 -> 1+1+1+2)", n)
		}
	})
	t.Run("one transaction too large", func(t *testing.T) {
		f := newFakeNode(t)
		newFakePool(f).add(segwitTx(1))
		// Room for the listing, not for the transaction.
		c := f.client(t, func(c *Config) { c.MaxReplySize = 300 })
		m := NewMempool(c, MempoolConfig{})
		if err := m.Refresh(t.Context()); !errors.Is(err, ErrMalformedReply) || !strings.Contains(err.Error(), "getrawtransaction") {
			t.Fatalf("err = %v, want ErrMalformedReply naming getrawtransaction", err)
		}
	})
}

func TestMempoolSkipsVanishedTransactions(t *testing.T) {
	f := newFakeNode(t)
	pool := newFakePool(f)
	m := NewMempool(f.client(t), MempoolConfig{})
	kept := pool.add(segwitTx(1), segwitTx(3))
	// Listed by getrawmempool, mined before getrawtransaction: btcd and
	// Bitcoin Core both answer -5.
	gone := segwitTx(2).TxHash()
	pool.mu.Lock()
	pool.order = slices.Insert(pool.order, 1, gone)
	pool.mu.Unlock()

	if err := m.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh = %v, want a vanished transaction skipped", err)
	}
	checkIndexed(t, m, kept)
	if asked := pool.takeAsked(); !slices.Contains(asked, gone) {
		t.Fatalf("asked for %v, want the vanished %v among them", asked, gone)
	}

	// Back in the mempool (it was evicted and sent again): asked for again,
	// not remembered as seen.
	pool.remove(gone)
	back := pool.add(segwitTx(2))
	if err := m.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkIndexed(t, m, append(slices.Clone(kept), back...))
}

func TestMempoolMaxBytes(t *testing.T) {
	f := newFakeNode(t)
	pool := newFakePool(f)
	txs := pool.add(segwitTx(1), segwitTx(2), segwitTx(3))
	if sizeOf(txs) != 3*int64(len(txs[0].Raw)) {
		t.Fatal("test transactions: want equal sizes")
	}
	// Room for two.
	m := NewMempool(f.client(t), MempoolConfig{MaxBytes: sizeOf(txs) - 1})
	ctx := t.Context()

	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndexed(t, m, txs[:2])
	if m.Skipped() != 1 {
		t.Errorf("Skipped = %d, want 1", m.Skipped())
	}
	if _, ok := m.Lookup(txs[2].WTxID); ok {
		t.Error("the transaction over MaxBytes is indexed")
	}
	pool.takeAsked()

	// Nothing has changed: the one left out is not fetched again.
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if asked := pool.takeAsked(); len(asked) != 0 {
		t.Errorf("refresh of a full index asked for %v, want nothing", asked)
	}

	// One mined: room for the one left out.
	pool.remove(txs[0].TxID)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndexed(t, m, txs[1:])
	if m.Skipped() != 0 {
		t.Errorf("Skipped = %d, want 0 once there is room", m.Skipped())
	}

	// Left out, then gone from the mempool: no longer counted.
	extra := pool.add(segwitTx(4))
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Skipped() != 1 {
		t.Fatalf("Skipped = %d, want 1", m.Skipped())
	}
	pool.remove(extra[0].TxID)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Skipped() != 0 {
		t.Errorf("Skipped = %d after the left-out transaction left the mempool, want 0", m.Skipped())
	}
	checkIndexed(t, m, txs[1:])
}

func TestMempoolRefreshErrors(t *testing.T) {
	good := segwitTx(1)
	var goodHex bytes.Buffer
	good.Serialize(&goodHex)
	other := segwitTx(9)
	var otherHex bytes.Buffer
	other.Serialize(&otherHex)

	for _, tc := range []struct {
		name   string
		answer any
		want   error
		words  string
	}{
		{"not hex", "zz" + hex.EncodeToString(goodHex.Bytes()), ErrMalformedReply, "invalid byte"},
		{"truncated", hex.EncodeToString(goodHex.Bytes()[:40]), ErrMalformedReply, "EOF"},
		{"trailing bytes", hex.EncodeToString(goodHex.Bytes()) + "00", ErrMalformedReply, "1 bytes after"},
		{"not a string", 42, ErrMalformedReply, "getrawtransaction"},
		{"another transaction", hex.EncodeToString(otherHex.Bytes()), ErrMalformedReply, other.TxHash().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
			pool := newFakePool(f)
			pool.listOnly(good.TxHash(), tc.answer)
			m := NewMempool(f.client(t), MempoolConfig{})
			err := m.Refresh(t.Context())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, good.TxHash().String()) || !strings.Contains(msg, tc.words) {
				t.Errorf("message %q does not name transaction %v and say %q", msg, good.TxHash(), tc.words)
			}
			if m.Len() != 0 {
				t.Errorf("%d transactions indexed from a malformed reply", m.Len())
			}
		})
	}

	t.Run("rpc error other than not found", func(t *testing.T) {
		f := newFakeNode(t)
		pool := newFakePool(f)
		ok := pool.add(segwitTx(2))
		pool.add(good)
		pool.vanish[good.TxHash()] = &rpcErrorObject{Code: CodeInWarmup, Message: "Loading block index…"}
		m := NewMempool(f.client(t), MempoolConfig{})
		err := m.Refresh(t.Context())
		var rpcErr *RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Code != CodeInWarmup || !strings.Contains(err.Error(), good.TxHash().String()) {
			t.Fatalf("err = %v, want the *RPCError, naming the transaction", err)
		}
		// What was fetched before the error stays.
		checkIndexed(t, m, ok)
	})
	t.Run("getrawmempool fails", func(t *testing.T) {
		f := newFakeNode(t)
		f.handle("getrawmempool", func([]json.RawMessage) (any, *rpcErrorObject) {
			return []string{"00ff"}, nil
		})
		m := NewMempool(f.client(t), MempoolConfig{})
		if err := m.Refresh(t.Context()); !errors.Is(err, ErrMalformedReply) || !strings.Contains(err.Error(), "mempool refresh") {
			t.Fatalf("err = %v, want ErrMalformedReply from the refresh", err)
		}
		f.setDown(true)
		if err := m.Refresh(t.Context()); !errors.Is(err, ErrConnection) {
			t.Fatalf("node down: err = %v, want ErrConnection", err)
		}
	})
}

// gatedListing makes f's getrawmempool report each call's number on entered
// and, for the calls gates has a channel for (1-based), list the mempool
// first and answer once the gate is closed: a refresh that listed the
// mempool and is still under way.
func gatedListing(t *testing.T, f *fakeNode, pool *fakePool, gates ...chan struct{}) (entered <-chan int32, calls *atomic.Int32) {
	t.Helper()
	ch := make(chan int32, 16)
	calls = new(atomic.Int32)
	f.handle("getrawmempool", func([]json.RawMessage) (any, *rpcErrorObject) {
		n := calls.Add(1)
		list := pool.list()
		ch <- n
		if int(n) <= len(gates) {
			<-gates[n-1]
		}
		return list, nil
	})
	// Open every gate before the server waits for its handlers.
	t.Cleanup(func() {
		for _, g := range gates {
			select {
			case <-g:
			default:
				close(g)
			}
		}
	})
	return ch, calls
}

// recv returns the next value from ch, failing t if none comes in 10 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("waiting for %s: nothing within 10s", what)
	}
	var zero T
	return zero
}

func TestMempoolRefreshSingleFlight(t *testing.T) {
	f := newFakeNode(t)
	pool := newFakePool(f)
	early := pool.add(segwitTx(1), segwitTx(2))
	gate1, gate2 := make(chan struct{}), make(chan struct{})
	entered, listings := gatedListing(t, f, pool, gate1, gate2)
	m := NewMempool(f.client(t), MempoolConfig{})
	waits := make(chan struct{}, 64)
	m.onWait = func() { waits <- struct{}{} }

	// Readers go on while refreshes run (for the race detector).
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			m.Lookup(early[0].WTxID)
			m.Len()
			m.Bytes()
			runtime.Gosched()
		}
	})
	defer func() { close(stop); readers.Wait() }()

	const waiters = 4
	errs := make(chan error, waiters+1)
	go func() { errs <- m.Refresh(t.Context()) }()
	if n := recv(t, entered, "the first listing"); n != 1 {
		t.Fatalf("listing %d, want 1", n)
	}
	for range waiters {
		go func() { errs <- m.Refresh(t.Context()) }()
	}
	for i := range waiters {
		recv(t, waits, fmt.Sprintf("waiter %d", i+1))
	}
	// A transaction arrives after the first refresh listed the mempool:
	// the callers who came later must see it.
	late := pool.add(segwitTx(3))

	close(gate1)
	if err := recv(t, errs, "the first refresh"); err != nil {
		t.Fatal(err)
	}
	if n := recv(t, entered, "the second listing"); n != 2 {
		t.Fatalf("listing %d, want 2", n)
	}
	// Every waiter but the one running it shares the second refresh.
	for i := range waiters - 1 {
		recv(t, waits, fmt.Sprintf("joiner %d", i+1))
	}
	close(gate2)
	for range waiters {
		if err := recv(t, errs, "a waiter"); err != nil {
			t.Fatal(err)
		}
	}
	if n := listings.Load(); n != 2 {
		t.Errorf("%d listings for %d concurrent refreshes, want 2", n, waiters+1)
	}
	checkIndexed(t, m, append(slices.Clone(early), late...))
	if n := f.callCount("getrawtransaction"); n != 3 {
		t.Errorf("%d getrawtransaction calls, want 3: each transaction once", n)
	}
}

// A caller sharing a refresh whose runner gave up runs one itself.
func TestMempoolRefreshOutlivesItsRunner(t *testing.T) {
	f := newFakeNode(t)
	pool := newFakePool(f)
	want := pool.add(segwitTx(1))
	gate1, gate2 := make(chan struct{}), make(chan struct{})
	entered, listings := gatedListing(t, f, pool, gate1, gate2)
	m := NewMempool(f.client(t), MempoolConfig{})
	waits := make(chan int32, 64)
	secondStarted := make(chan struct{})
	var nWaits atomic.Int32
	m.onWait = func() {
		n := nWaits.Add(1)
		waits <- n
		if n == 2 {
			// Hold B back until A runs the second refresh, so that B
			// shares A's rather than running its own.
			<-secondStarted
		}
	}

	errX, errA, errB := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { errX <- m.Refresh(t.Context()) }()
	recv(t, entered, "the first listing")
	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	go func() { errA <- m.Refresh(ctxA) }()
	recv(t, waits, "A waiting")
	go func() { errB <- m.Refresh(t.Context()) }()
	recv(t, waits, "B waiting")

	close(gate1)
	if err := recv(t, errX, "the first refresh"); err != nil {
		t.Fatal(err)
	}
	if n := recv(t, entered, "A's listing"); n != 2 {
		t.Fatalf("listing %d, want 2", n)
	}
	close(secondStarted)
	if n := recv(t, waits, "B sharing A's refresh"); n != 3 {
		t.Fatalf("wait %d, want 3", n)
	}
	cancelA()
	if err := recv(t, errA, "A"); !errors.Is(err, context.Canceled) {
		t.Fatalf("A: err = %v, want context.Canceled", err)
	}
	if err := recv(t, errB, "B"); err != nil {
		t.Fatalf("B: err = %v, want its own refresh to succeed", err)
	}
	if n := listings.Load(); n != 3 {
		t.Errorf("%d listings, want 3: B ran one after A gave up", n)
	}
	checkIndexed(t, m, want)
}

func TestCallBatch(t *testing.T) {
	serve := func(t *testing.T, answer func(ids []json.RawMessage) string) *Client {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var reqs []struct {
				ID json.RawMessage `json:"id"`
			}
			if err := json.NewDecoder(r.Body).Decode(&reqs); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			ids := make([]json.RawMessage, len(reqs))
			for i, r := range reqs {
				ids[i] = r.ID
			}
			w.Write([]byte(answer(ids)))
		}))
		t.Cleanup(srv.Close)
		c, err := New(Config{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	params := [][]any{{"a"}, {"b"}, {"c"}}

	t.Run("matched by id", func(t *testing.T) {
		c := serve(t, func(ids []json.RawMessage) string {
			// Reversed, and the middle one an error.
			return `[{"id":` + string(ids[2]) + `,"result":"C","error":null},` +
				`{"id":` + string(ids[1]) + `,"result":null,"error":{"code":-5,"message":"no"}},` +
				`{"id":` + string(ids[0]) + `,"result":"A","error":null}]`
		})
		got, err := c.callBatch(t.Context(), "echo", params)
		if err != nil {
			t.Fatal(err)
		}
		want := []batchReply{{Result: json.RawMessage(`"A"`)}, {Err: &RPCError{Method: "echo", Code: -5, Message: "no"}}, {Result: json.RawMessage(`"C"`)}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("replies (-want +got):\n%s", diff)
		}
	})
	for _, tc := range []struct {
		name   string
		answer func(ids []json.RawMessage) string
		check  func(error) bool
	}{
		{"one reply missing", func(ids []json.RawMessage) string {
			return `[{"id":` + string(ids[0]) + `,"result":1},{"id":` + string(ids[1]) + `,"result":1}]`
		}, func(err error) bool { return errors.Is(err, ErrMalformedReply) }},
		{"repeated id", func(ids []json.RawMessage) string {
			return `[{"id":` + string(ids[0]) + `,"result":1},{"id":` + string(ids[0]) + `,"result":1},{"id":` + string(ids[1]) + `,"result":1}]`
		}, func(err error) bool { return errors.Is(err, ErrMalformedReply) }},
		{"not an array", func([]json.RawMessage) string { return `{"result":1,"error":null,"id":1}` },
			func(err error) bool { return errors.Is(err, ErrMalformedReply) }},
		{"refused whole", func([]json.RawMessage) string {
			return `{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`
		}, func(err error) bool {
			var rpcErr *RPCError
			return errors.As(err, &rpcErr) && rpcErr.Code == codeParseError
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.answer)
			_, err := c.callBatch(t.Context(), "echo", params)
			if !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), "echo") {
				t.Errorf("message %q does not name the method", err)
			}
		})
	}
}
