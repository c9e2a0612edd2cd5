package submit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// logs records every log line of a Queue, as text.
type logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines that contain every one of parts.
func (l *logs) lines(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// expect fails unless exactly n lines carry msg (and the hash when given).
func (l *logs) expect(t *testing.T, n int, level, msg, hash string) {
	t.Helper()
	parts := []string{"level=" + level, fmt.Sprintf("msg=%q", msg)}
	if hash != "" {
		parts = append(parts, "hash="+hash)
	}
	if got := l.lines(parts...); len(got) != n {
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("%d lines %s %q, want %d; the log:\n%s", len(got), level, msg, n, l.b.String())
	}
}

// provider is a fake template provider connection: it fails while down.
type provider struct {
	mu   sync.Mutex
	down bool
	sent []*sv2.SubmitSolution
}

func (p *provider) send(_ context.Context, m *sv2.SubmitSolution) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return errors.New("service: not connected")
	}
	p.sent = append(p.sent, m)
	return nil
}

func (p *provider) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// fakeNode answers SubmitBlock with errs in turn, then nil.
type fakeNode struct {
	mu   sync.Mutex
	errs []error
	got  []*wire.MsgBlock
}

func (n *fakeNode) SubmitBlock(ctx context.Context, b *wire.MsgBlock) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no deadline on the node call")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, b)
	if len(n.errs) == 0 {
		return nil
	}
	err := n.errs[0]
	n.errs = n.errs[1:]
	return err
}

func (n *fakeNode) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.got)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testBlock is a found block on template 7, with its transactions.
type testBlock struct {
	fb      *mining.FoundBlock
	hash    sv2.U256
	display string
	txs     [][]byte
}

func newTestBlock(t *testing.T, seed byte) testBlock {
	t.Helper()
	serialize := func(tx *wire.MsgTx) []byte {
		var b bytes.Buffer
		if err := tx.Serialize(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cb := wire.NewMsgTx(2)
	cb.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 0xffffffff}, SignatureScript: []byte{0x01, seed, 0x00}, Sequence: 0xffffffff})
	cb.AddTxOut(wire.NewTxOut(5_000_000_000, []byte{0x51}))
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: [32]byte{seed, 1}}, SignatureScript: []byte{0x51}, Sequence: 0xffffffff})
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	h := block.Header{
		Version: 0x20000000, PrevHash: sv2.U256{seed, 0xaa}, NTime: 1_700_000_000, NBits: 0x207fffff, Nonce: uint32(seed),
		MerkleRoot: merkle.RootFromTxIDs([]sv2.U256{sv2.U256(cb.TxHash()), sv2.U256(tx.TxHash())}),
	}
	hash := h.Hash()
	return testBlock{
		fb:   &mining.FoundBlock{TemplateID: 7, Height: 100 + int64(seed), Header: h, Coinbase: serialize(cb)},
		hash: hash, display: displayHash(hash), txs: [][]byte{serialize(tx)},
	}
}

type fixture struct {
	q     *Queue
	tp    *provider
	node  *fakeNode // nil without the node path
	clock *clock
	logs  *logs

	txMu sync.Mutex
	txs  map[uint64][][]byte
}

func newFixture(t *testing.T, withNode bool, edit ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{tp: &provider{}, clock: &clock{t: time.Unix(1_700_000_000, 0)}, logs: &logs{}, txs: map[uint64][][]byte{}}
	cfg := Config{
		SendSolution: f.tp.send,
		Logger:       slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          f.clock.now,
		Transactions: f.transactions,
	}
	if withNode {
		f.node = &fakeNode{}
		cfg.Node = f.node
	}
	for _, e := range edit {
		e(&cfg)
	}
	q, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.q = q
	return f
}

func (f *fixture) transactions(id uint64) ([][]byte, bool) {
	f.txMu.Lock()
	defer f.txMu.Unlock()
	txs, ok := f.txs[id]
	return txs, ok
}

func (f *fixture) setTxs(id uint64, txs [][]byte) {
	f.txMu.Lock()
	f.txs[id] = txs
	f.txMu.Unlock()
}

// deliver makes one delivery round and waits for every attempt it started.
func (f *fixture) deliver(t *testing.T) {
	t.Helper()
	f.q.deliver(t.Context())
	f.q.jobs.Wait()
}

func (f *fixture) counts(t *testing.T, want Counts) {
	t.Helper()
	if got := f.q.Counts(); got != want {
		t.Fatalf("Counts() = %+v, want %+v", got, want)
	}
}

func TestNewChecksConfig(t *testing.T) {
	send := func(context.Context, *sv2.SubmitSolution) error { return nil }
	for name, cfg := range map[string]Config{
		"no SendSolution":           {},
		"node without transactions": {SendSolution: send, Node: &fakeNode{}},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
	if _, err := New(Config{SendSolution: send}); err != nil {
		t.Fatalf("provider path alone: %v", err)
	}
}

// The provider is unreachable, then reachable: the block goes out once, on
// the connection it was found on, and the provider's tip confirms it.
func TestProviderDownThenUp(t *testing.T) {
	f := newFixture(t, false)
	b := newTestBlock(t, 1)
	f.tp.setDown(true)
	f.q.Found(b.fb, b.hash, "client 1 channel 2")
	f.logs.expect(t, 1, "WARN", "block found", b.display)
	if got := f.logs.lines(`finder="client 1 channel 2"`, "template=7", "height=101"); len(got) != 1 {
		t.Fatalf("the found line does not say who found it, on which template and height: %q", f.logs.lines("block found"))
	}

	f.deliver(t)
	f.logs.expect(t, 1, "ERROR", "block not delivered yet: template provider unreachable and no node RPC configured; will retry", b.display)
	f.counts(t, Counts{Found: 1, Pending: 1})

	f.tp.setDown(false)
	f.deliver(t) // a retry, on the connection that failed before
	f.logs.expect(t, 1, "INFO", "block sent to the template provider", b.display)
	if f.tp.count() != 1 {
		t.Fatalf("%d SubmitSolution sent, want 1", f.tp.count())
	}
	m := f.tp.sent[0]
	if want := b.fb.SubmitSolution(); m.TemplateID != want.TemplateID || m.HeaderNonce != want.HeaderNonce || !bytes.Equal(m.CoinbaseTx, want.CoinbaseTx) {
		t.Fatalf("sent %+v, want %+v", m, want)
	}

	f.deliver(t) // same connection: not again
	if f.tp.count() != 1 {
		t.Fatalf("%d SubmitSolution sent on one connection, want 1", f.tp.count())
	}
	f.q.Connected() // a new connection: its template ids are not the block's
	f.deliver(t)
	f.q.Connected()
	f.deliver(t)
	if f.tp.count() != 1 {
		t.Fatalf("%d SubmitSolution sent after two reconnections, want 1: a template id went to a connection that did not issue it", f.tp.count())
	}
	f.logs.expect(t, 1, "ERROR", "block cannot be delivered: the template provider reconnected, so its template id belongs to the earlier connection, and no node RPC is configured; keeping it until a tip settles it", b.display)

	f.q.OnTip(b.fb.Header.PrevHash) // the provider has not moved yet
	f.counts(t, Counts{Found: 1, Pending: 1})
	f.q.OnTip(b.hash)
	f.logs.expect(t, 1, "INFO", "block confirmed: the template provider builds on it", b.display)
	f.counts(t, Counts{Found: 1, Confirmed: 1})
	f.deliver(t)
	f.q.Connected()
	f.deliver(t)
	if f.tp.count() != 1 || len(f.q.pending) != 0 {
		t.Fatalf("a confirmed block was sent again (%d sends) or kept (%d pending)", f.tp.count(), len(f.q.pending))
	}
}

func TestRivalTip(t *testing.T) {
	f := newFixture(t, false)
	b, other := newTestBlock(t, 1), newTestBlock(t, 2)
	f.q.Found(b.fb, b.hash, "x")
	f.q.Found(other.fb, other.hash, "y")
	f.deliver(t)
	rival := sv2.U256{0xee}
	f.q.OnTip(rival)
	f.logs.expect(t, 1, "ERROR", "block lost: another block took its place", b.display)
	f.logs.expect(t, 1, "ERROR", "block lost: another block took its place", other.display)
	if len(f.logs.lines("block lost", "tip="+displayHash(rival))) != 2 {
		t.Fatal("the lost lines do not name the rival tip")
	}
	f.q.OnTip(b.hash) // settled already: no second outcome
	f.counts(t, Counts{Found: 2, Lost: 2})
	f.logs.expect(t, 0, "INFO", "block confirmed: the template provider builds on it", "")
}

// Without a provider, the node takes the block.
func TestNodeFallback(t *testing.T) {
	f := newFixture(t, true)
	b := newTestBlock(t, 1)
	f.setTxs(7, b.txs)
	f.tp.setDown(true)
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t)
	f.logs.expect(t, 1, "INFO", "block accepted by the node", b.display)
	if f.node.count() != 1 {
		t.Fatalf("node got %d blocks, want 1", f.node.count())
	}
	got := f.node.got[0]
	if h := got.BlockHash(); sv2.U256(h) != b.hash || len(got.Transactions) != 2 {
		t.Fatalf("node got block %s with %d transactions, want %s with 2", h, len(got.Transactions), b.display)
	}
	f.counts(t, Counts{Found: 1, NodeAccepted: 1})
	f.q.Connected()
	f.deliver(t)
	if f.node.count() != 1 || f.tp.count() != 0 {
		t.Fatal("a block the node took was sent again")
	}
}

// Both paths at once, the node unreachable at first.
func TestNodeUnreachableThenUp(t *testing.T) {
	f := newFixture(t, true)
	b := newTestBlock(t, 1)
	f.setTxs(7, b.txs)
	f.node.errs = []error{fmt.Errorf("node: %w", node.ErrConnection)}
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t)
	f.logs.expect(t, 1, "INFO", "block sent to the template provider", b.display)
	f.logs.expect(t, 1, "ERROR", "node unreachable; will retry the block", b.display)
	f.counts(t, Counts{Found: 1, Pending: 1})
	f.deliver(t)
	f.logs.expect(t, 1, "INFO", "block accepted by the node", b.display)
	if f.node.count() != 2 || f.tp.count() != 1 {
		t.Fatalf("node asked %d times, provider %d; want 2 and 1", f.node.count(), f.tp.count())
	}
	f.counts(t, Counts{Found: 1, NodeAccepted: 1})
}

func TestNodeRefuses(t *testing.T) {
	f := newFixture(t, true)
	b := newTestBlock(t, 1)
	f.setTxs(7, b.txs)
	f.node.errs = []error{fmt.Errorf("wrapped: %w", &node.RejectedError{Reason: "bad-txnmrklroot"})}
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t)
	f.logs.expect(t, 1, "ERROR", "node rejected the block", b.display)
	if len(f.logs.lines("node rejected the block", "reason=bad-txnmrklroot")) != 1 {
		t.Fatal("the refusal line does not give the node's reason")
	}
	f.counts(t, Counts{Found: 1, NodeRefused: 1})
	f.deliver(t)
	if f.node.count() != 1 {
		t.Fatalf("a refused block went to the node %d times, want 1", f.node.count())
	}
}

// The node path waits for the template's transactions.
func TestNodeWaitsForTransactions(t *testing.T) {
	f := newFixture(t, true)
	b := newTestBlock(t, 1)
	f.tp.setDown(true)
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t)
	f.logs.expect(t, 1, "ERROR", "cannot build the block for the node: the template's transactions were not fetched", b.display)
	f.counts(t, Counts{Found: 1, Pending: 1})
	f.setTxs(7, b.txs)
	f.deliver(t)
	f.logs.expect(t, 1, "INFO", "block accepted by the node", b.display)
	f.counts(t, Counts{Found: 1, NodeAccepted: 1})
}

// A block the node path cannot build stays with the provider path.
func TestNodeCannotBuild(t *testing.T) {
	f := newFixture(t, true)
	b := newTestBlock(t, 1)
	f.setTxs(7, nil) // not the transactions the header commits to
	f.tp.setDown(true)
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t)
	f.logs.expect(t, 1, "ERROR", "cannot build the block for the node; only the template provider can take it", b.display)
	f.deliver(t)
	f.logs.expect(t, 1, "ERROR", "block not delivered yet: template provider unreachable and the node cannot take it; will retry", b.display)
	if f.node.count() != 0 {
		t.Fatal("the node got a block that does not match its header")
	}
	f.counts(t, Counts{Found: 1, Pending: 1})
	f.tp.setDown(false)
	f.deliver(t)
	f.logs.expect(t, 1, "INFO", "block sent to the template provider", b.display)
	f.q.OnTip(b.hash)
	f.counts(t, Counts{Found: 1, Confirmed: 1})
}

func TestGiveUp(t *testing.T) {
	f := newFixture(t, false)
	b := newTestBlock(t, 1)
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t) // sent, never confirmed
	f.clock.add(DefaultGiveUpAfter - time.Second)
	f.deliver(t)
	f.counts(t, Counts{Found: 1, Pending: 1})
	f.clock.add(2 * time.Second)
	f.deliver(t)
	f.logs.expect(t, 1, "ERROR", "giving up on an unconfirmed block", b.display)
	f.counts(t, Counts{Found: 1, GaveUp: 1})
	f.q.Connected()
	f.deliver(t)
	if f.tp.count() != 1 {
		t.Fatalf("%d sends, want 1: a block given up on went out again", f.tp.count())
	}

	g := newFixture(t, false, func(c *Config) { c.GiveUpAfter = time.Minute })
	g.q.Found(b.fb, b.hash, "x")
	g.clock.add(time.Minute + 1)
	g.deliver(t)
	g.counts(t, Counts{Found: 1, GaveUp: 1})
}

// Run sends a found block at once, retries every RetryInterval, and on
// shutdown names the blocks still unconfirmed.
func TestRun(t *testing.T) {
	f := newFixture(t, false, func(c *Config) { c.RetryInterval = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.q.Run(ctx); err != nil {
			t.Errorf("Run = %v, want nil after its context ended", err)
		}
	}()
	confirmedBlock, pendingBlock := newTestBlock(t, 1), newTestBlock(t, 2)
	f.q.Found(confirmedBlock.fb, confirmedBlock.hash, "x")
	waitFor(t, "the first block sent", func() bool { return f.tp.count() == 1 })
	f.q.OnTip(confirmedBlock.hash)

	f.tp.setDown(true)
	f.q.Found(pendingBlock.fb, pendingBlock.hash, "y")
	waitFor(t, "two failed attempts", func() bool {
		return len(f.logs.lines("block not delivered yet", "hash="+pendingBlock.display)) >= 2
	})
	f.tp.setDown(false)
	waitFor(t, "the retry to succeed", func() bool { return f.tp.count() == 2 })

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	f.logs.expect(t, 1, "ERROR", "shutting down with an unconfirmed block", pendingBlock.display)
	f.logs.expect(t, 0, "ERROR", "shutting down with an unconfirmed block", confirmedBlock.display)
}

// Found never waits for Run.
func TestFoundDoesNotBlock(t *testing.T) {
	f := newFixture(t, false)
	b := newTestBlock(t, 1)
	for range 1000 {
		f.q.Found(b.fb, b.hash, "x")
		f.q.Connected()
	}
	f.counts(t, Counts{Found: 1000, Pending: 1000})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// An RPC error answer about the block from a real node client, such as -22
// "Block decode failed", is a refusal: counted, logged at error level, and
// not sent again (it was "node unreachable; will retry" every round). An
// RPC error that is the node's state (-28, still loading) is retried.
func TestNodeRPCErrorAboutTheBlock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  string
		msg    string
		counts Counts
		asked  int // submitblock calls (and lines msg) after two rounds
	}{
		{"block decode failed", `{"result":null,"error":{"code":-22,"message":"Block decode failed"},"id":1}`,
			"node rejected the block", Counts{Found: 1, NodeRefused: 1}, 1},
		{"warming up", `{"result":null,"error":{"code":-28,"message":"Loading block index…"},"id":1}`,
			"node unreachable; will retry the block", Counts{Found: 1, Pending: 1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			asked := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				asked++
				mu.Unlock()
				w.WriteHeader(http.StatusInternalServerError) // as Bitcoin Core answers RPC errors
				w.Write([]byte(tc.reply))
			}))
			t.Cleanup(srv.Close)
			c, err := node.New(node.Config{URL: srv.URL, User: "u", Password: "p"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			f := newFixture(t, false, func(cfg *Config) { cfg.Node = c })
			b := newTestBlock(t, 1)
			f.setTxs(7, b.txs)
			f.q.Found(b.fb, b.hash, "x")
			f.deliver(t)
			f.deliver(t)
			f.logs.expect(t, tc.asked, "ERROR", tc.msg, b.display)
			f.counts(t, tc.counts)
			mu.Lock()
			defer mu.Unlock()
			if asked != tc.asked {
				t.Errorf("the node was asked %d times in two rounds, want %d", asked, tc.asked)
			}
		})
	}
}

// A block found on a custom job never goes to the template provider (its
// template id names none of the provider's templates): with the declared
// transactions at hand (an in-process JDS) it goes to the node; without
// them it is left to the miner's JDC, and said so once.
func TestCustomJobBlock(t *testing.T) {
	t.Run("declared transactions known", func(t *testing.T) {
		b := newTestBlock(t, 3)
		var asked *mining.FoundBlock
		f := newFixture(t, true, func(c *Config) {
			c.CustomTransactions = func(fb *mining.FoundBlock) ([][]byte, bool) { asked = fb; return b.txs, true }
		})
		b.fb.Custom, b.fb.TemplateID = true, 0
		f.q.Found(b.fb, b.hash, "x")
		f.deliver(t)
		f.logs.expect(t, 1, "INFO", "block accepted by the node", b.display)
		if asked != b.fb || f.node.count() != 1 || f.tp.count() != 0 {
			t.Fatalf("asked for %v; node got %d blocks, provider %d; want the block's transactions asked, 1 and 0", asked, f.node.count(), f.tp.count())
		}
		f.counts(t, Counts{Found: 1, NodeAccepted: 1})
	})
	t.Run("left to the JDC", func(t *testing.T) {
		b := newTestBlock(t, 4)
		f := newFixture(t, true)
		b.fb.Custom, b.fb.TemplateID = true, 0
		f.q.Found(b.fb, b.hash, "x")
		f.deliver(t)
		f.deliver(t)
		f.logs.expect(t, 1, "WARN", "block found on a custom job: the miner's job declarator client submits it, and its JDS; this pool has not its transactions, so it waits for a tip to settle it", "")
		if f.node.count() != 0 || f.tp.count() != 0 {
			t.Fatalf("node got %d blocks, provider %d; want none", f.node.count(), f.tp.count())
		}
		f.q.OnTip(b.hash)
		f.counts(t, Counts{Found: 1, Confirmed: 1})
	})
}
