package submit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// Issue 12, item 9: a template id means something only on the provider
// connection that sent the template. Without a node, a block found before
// a reconnect never goes to the new connection by id (Bitcoin Core's
// provider numbers its templates from 1 again and matched such ids to
// unrelated templates); the Queue says at error level that it cannot
// deliver it, and keeps it for a tip to settle.
func TestReconnectSendsNoStaleTemplateID(t *testing.T) {
	f := newFixture(t, false)
	f.q.Connected() // connection 1
	old := newTestBlock(t, 1)
	f.q.OnTip(old.fb.Header.PrevHash)
	f.tp.setDown(true) // connection 1 is going away
	f.q.Found(old.fb, old.hash, "x")
	f.deliver(t)
	if f.tp.count() != 0 {
		t.Fatal("a send succeeded on a connection that is down")
	}

	f.q.Connected() // connection 2: the provider restarted, its ids start again
	f.tp.setDown(false)
	// Found after the reconnect but before connection 2's first tip: the
	// miners still work on connection 1's templates.
	between := newTestBlock(t, 2)
	f.q.Found(between.fb, between.hash, "y")
	for range 3 {
		f.deliver(t)
	}
	if f.tp.count() != 0 {
		t.Fatalf("%d SubmitSolution sent on connection 2 with template ids of connection 1, want none: %+v", f.tp.count(), f.tp.sent)
	}
	const cannot = "block cannot be delivered: the template provider reconnected, so its template id belongs to the earlier connection, and no node RPC is configured; keeping it until a tip settles it"
	f.logs.expect(t, 1, "ERROR", cannot, old.display)
	f.logs.expect(t, 1, "ERROR", cannot, between.display)
	f.counts(t, Counts{Found: 2, Pending: 2})

	// Connection 2's tip: blocks found from now on are on its templates.
	fresh := newTestBlock(t, 3)
	fresh.fb.Header.PrevHash = old.fb.Header.PrevHash
	f.q.OnTip(old.fb.Header.PrevHash)
	f.q.Found(fresh.fb, fresh.hash, "z")
	f.deliver(t)
	if f.tp.count() != 1 || f.tp.sent[0].HeaderNonce != fresh.fb.Header.Nonce {
		t.Fatalf("connection 2 got %d SubmitSolution, want only the block found on its own template", f.tp.count())
	}
	f.logs.expect(t, 0, "ERROR", cannot, fresh.display)

	// The kept block is still settled by a tip (the earlier provider may
	// have submitted it before it went).
	f.q.OnTip(old.hash)
	f.logs.expect(t, 1, "INFO", "block confirmed: the template provider builds on it", old.display)
}

// Issue 12, item 9, with a node: after a reconnect the block goes to the
// node as a full block, built from the transactions its template had when
// it was found, even though its template id now names another template.
func TestReconnectDeliversThroughTheNode(t *testing.T) {
	f := newFixture(t, true)
	f.q.Connected()
	b := newTestBlock(t, 1)
	f.q.OnTip(b.fb.Header.PrevHash)
	f.setTxs(7, b.txs)
	f.node.errs = []error{fmt.Errorf("node: %w", node.ErrConnection)}
	f.q.Found(b.fb, b.hash, "x")
	f.deliver(t)
	if f.tp.count() != 1 || f.node.count() != 1 {
		t.Fatalf("provider got %d, node %d; want one each", f.tp.count(), f.node.count())
	}

	f.q.Connected()
	f.setTxs(7, newTestBlock(t, 9).txs) // the new connection's template 7
	f.deliver(t)
	if f.tp.count() != 1 {
		t.Fatalf("%d SubmitSolution sent, want 1: the block went by id to a connection that did not issue it", f.tp.count())
	}
	if f.node.count() != 2 {
		t.Fatalf("the node was asked %d times, want 2", f.node.count())
	}
	if got := f.node.got[1]; sv2.U256(got.BlockHash()) != b.hash || len(got.Transactions) != 2 || got.Transactions[1].TxHash() != f.node.got[0].Transactions[1].TxHash() {
		t.Fatalf("the node got block %s, want %s with its own transactions", got.BlockHash(), b.display)
	}
	f.logs.expect(t, 1, "INFO", "template provider reconnected: the block is left to the node, its template id belonging to the earlier connection", b.display)
	f.logs.expect(t, 1, "INFO", "block accepted by the node", b.display)
	f.counts(t, Counts{Found: 1, NodeAccepted: 1})
}

// notifyingProvider is a provider connection that tells of every send.
type notifyingProvider struct{ sent chan *sv2.SubmitSolution }

func (p *notifyingProvider) send(_ context.Context, m *sv2.SubmitSolution) error {
	p.sent <- m
	return nil
}

// stuckNode is a node that answers no submission until released (or its
// context ends), telling of each one as it starts.
type stuckNode struct {
	entered chan *wire.MsgBlock
	release chan struct{}
}

func (n *stuckNode) SubmitBlock(ctx context.Context, b *wire.MsgBlock) error {
	n.entered <- b
	select {
	case <-n.release:
		return nil
	case <-ctx.Done():
		select {
		case <-n.release: // released before the context ended: an answer
			return nil
		default:
			return fmt.Errorf("stuck node: %w", ctx.Err())
		}
	}
}

// Issue 12, item 17: a node that does not answer delays no other block: a
// second block's SubmitSolution reaches the provider, and its node
// submission starts, while the first block's node call still hangs.
func TestSlowNodeDelaysNoOtherBlock(t *testing.T) {
	tp := &notifyingProvider{sent: make(chan *sv2.SubmitSolution, 4)}
	n := &stuckNode{entered: make(chan *wire.MsgBlock, 4), release: make(chan struct{})}
	a, b := newTestBlock(t, 1), newTestBlock(t, 2)
	txs := map[uint64][][]byte{7: a.txs}
	b.fb.TemplateID = 8
	txs[8] = b.txs
	q, err := New(Config{
		SendSolution:  tp.send,
		Node:          n,
		Transactions:  func(id uint64) ([][]byte, bool) { x, ok := txs[id]; return x, ok },
		RetryInterval: time.Hour, // only Found wakes Run
		NodeTimeout:   time.Hour, // the node call lasts as long as the node wants
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// A deadline, not a pause: "at once", with room for -race. The old
	// deliver waited NodeTimeout (an hour here) for the first block's node.
	within := func() <-chan time.Time { return time.After(5 * time.Second) }
	recvSolution := func(want testBlock) {
		t.Helper()
		select {
		case m := <-tp.sent:
			if m.HeaderNonce != want.fb.Header.Nonce {
				t.Fatalf("SubmitSolution for nonce %d, want %d", m.HeaderNonce, want.fb.Header.Nonce)
			}
		case <-within():
			t.Fatalf("block %s did not reach the provider while the node hangs on another", want.display)
		}
	}
	recvNode := func(want testBlock) {
		t.Helper()
		select {
		case blk := <-n.entered:
			if sv2.U256(blk.BlockHash()) != want.hash {
				t.Fatalf("node got %s, want %s", blk.BlockHash(), want.display)
			}
		case <-within():
			t.Fatalf("block %s did not reach the node while it hangs on another", want.display)
		}
	}

	q.Found(a.fb, a.hash, "x")
	recvNode(a) // the node now hangs on a
	recvSolution(a)
	q.Found(b.fb, b.hash, "y")
	recvSolution(b)
	recvNode(b)
	if c := q.Counts(); c.Pending != 2 {
		t.Fatalf("Counts() = %+v, want both pending", c)
	}
	close(n.release)
	cancel()
	<-done
	if c := q.Counts(); c.NodeAccepted != 2 {
		t.Fatalf("Counts() = %+v, want both taken by the node once released", c)
	}
}

// records is a slog.Handler that keeps every record, with the attributes
// of the logger it was reached through.
type records struct {
	mu    *sync.Mutex
	all   *[]record
	attrs []slog.Attr
}

type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newRecords() records { return records{mu: new(sync.Mutex), all: new([]record)} }

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithGroup(string) slog.Handler            { return r }
func (r records) WithAttrs(as []slog.Attr) slog.Handler {
	r.attrs = append(slices.Clip(r.attrs), as...)
	return r
}

func (r records) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	*r.all = append(*r.all, record{rec.Level, rec.Message, m})
	r.mu.Unlock()
	return nil
}

// about returns the records about the block with hash, "block found" left out.
func (r records) about(hash string) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []record
	for _, rec := range *r.all {
		if rec.attrs["hash"] == hash && rec.msg != "block found" {
			out = append(out, rec)
		}
	}
	return out
}

// Issue 12, item 18: how each node answer is logged. "duplicate" (the other
// path got there first) is a delivery, at info; "inconclusive" (stored, no
// verdict) a warning, the block kept for a tip and not sent to the node
// again; a real refusal stays an error.
func TestNodeAnswerLogLevels(t *testing.T) {
	const (
		delivered = "block already on the node: delivered, the other path got there first"
		stored    = "node stored the block without judging it; waiting for a tip to settle it"
		rejected  = "node rejected the block"
	)
	for _, tc := range []struct {
		reason string
		level  slog.Level
		msg    string
		counts Counts
	}{
		{"duplicate", slog.LevelInfo, delivered, Counts{Found: 1, NodeAccepted: 1}},
		{"rejected: already have block 0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206", slog.LevelInfo, delivered, Counts{Found: 1, NodeAccepted: 1}}, // btcd
		{"inconclusive", slog.LevelWarn, stored, Counts{Found: 1, Pending: 1}},
		{"duplicate-inconclusive", slog.LevelWarn, stored, Counts{Found: 1, Pending: 1}},
		{"rejected: already have block (orphan) 0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206", slog.LevelWarn, stored, Counts{Found: 1, Pending: 1}}, // btcd
		{"high-hash", slog.LevelError, rejected, Counts{Found: 1, NodeRefused: 1}},
		{"duplicate-invalid", slog.LevelError, rejected, Counts{Found: 1, NodeRefused: 1}},
		{"rejected: block timestamp of 1700000000 is not after expected 1700000600", slog.LevelError, rejected, Counts{Found: 1, NodeRefused: 1}}, // btcd
	} {
		t.Run(tc.reason, func(t *testing.T) {
			rec := newRecords()
			f := newFixture(t, true, func(c *Config) { c.Logger = slog.New(rec) })
			b := newTestBlock(t, 1)
			f.setTxs(7, b.txs)
			f.node.errs = []error{fmt.Errorf("node: submitblock: %w", &node.RejectedError{Reason: tc.reason})}
			f.q.Found(b.fb, b.hash, "x")
			f.deliver(t)

			var got []record
			for _, r := range rec.about(b.display) {
				if r.msg != "block sent to the template provider" {
					got = append(got, r)
				}
			}
			if len(got) != 1 || got[0].level != tc.level || got[0].msg != tc.msg || got[0].attrs["reason"] != tc.reason {
				t.Fatalf("node answer %q logged as %+v, want one %s %q with the reason", tc.reason, got, tc.level, tc.msg)
			}
			f.counts(t, tc.counts)

			f.deliver(t)
			if f.node.count() != 1 {
				t.Fatalf("the node was asked %d times after answering %q, want 1", f.node.count(), tc.reason)
			}
			if tc.level == slog.LevelWarn { // kept: a tip still settles it
				f.q.OnTip(b.hash)
				f.counts(t, Counts{Found: 1, Confirmed: 1})
			}
		})
	}
}
