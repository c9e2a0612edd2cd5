package submit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// recentWant is what one Recent entry should say.
type recentWant struct {
	b       testBlock
	finder  string
	found   time.Time
	outcome string
}

func (f *fixture) recent(t *testing.T, want ...recentWant) {
	t.Helper()
	got := f.q.Recent()
	if len(got) != len(want) {
		t.Fatalf("Recent() has %d blocks, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Hash != w.b.hash || int64(g.Height) != w.b.fb.Height || g.Finder != w.finder || !g.Found.Equal(w.found) || g.Outcome != w.outcome {
			t.Fatalf("Recent()[%d] = {height %d hash %s finder %q found %v outcome %q}, want {height %d hash %s finder %q found %v outcome %q}",
				i, g.Height, displayHash(g.Hash), g.Finder, g.Found, g.Outcome,
				w.b.fb.Height, w.b.display, w.finder, w.found, w.outcome)
		}
	}
}

// Found blocks are listed newest first; a tip settles them as confirmed or
// lost, and they stay listed, with their outcomes, once the Queue is done
// with them.
func TestRecentTip(t *testing.T) {
	f := newFixture(t, false)
	if got := f.q.Recent(); len(got) != 0 {
		t.Fatalf("Recent() before any block = %+v", got)
	}
	b1, b2 := newTestBlock(t, 1), newTestBlock(t, 2)
	t1 := f.clock.now()
	f.q.Found(b1.fb, b1.hash, "alice")
	f.clock.add(time.Second)
	t2 := f.clock.now()
	f.q.Found(b2.fb, b2.hash, "bob")
	f.recent(t, recentWant{b2, "bob", t2, ""}, recentWant{b1, "alice", t1, ""})

	f.deliver(t)
	f.q.OnTip(b1.hash) // b1 confirmed; b2, on another parent, lost
	f.recent(t, recentWant{b2, "bob", t2, "lost"}, recentWant{b1, "alice", t1, "confirmed"})

	f.deliver(t)
	if len(f.q.pending) != 0 {
		t.Fatalf("%d blocks still pending after both were settled", len(f.q.pending))
	}
	f.recent(t, recentWant{b2, "bob", t2, "lost"}, recentWant{b1, "alice", t1, "confirmed"})
	f.counts(t, Counts{Found: 2, Confirmed: 1, Lost: 1})
}

// What the node says settles a block, and a later tip does not change
// what it is reported as: Recent says what Counts counted.
func TestRecentNode(t *testing.T) {
	f := newFixture(t, true)
	accepted, refused := newTestBlock(t, 1), newTestBlock(t, 2)
	f.setTxs(7, accepted.txs)
	f.tp.setDown(true)
	t0 := f.clock.now()
	f.q.Found(accepted.fb, accepted.hash, "x")
	f.deliver(t)
	f.recent(t, recentWant{accepted, "x", t0, "node-accepted"})

	f.node.mu.Lock()
	f.node.errs = []error{fmt.Errorf("wrapped: %w", &node.RejectedError{Reason: "bad-txnmrklroot"})}
	f.node.mu.Unlock()
	f.setTxs(7, refused.txs) // both are on template 7: the node path needs the transactions of the one it builds
	f.q.Found(refused.fb, refused.hash, "y")
	f.deliver(t)
	f.recent(t, recentWant{refused, "y", t0, "node-refused"}, recentWant{accepted, "x", t0, "node-accepted"})

	f.deliver(t) // both done: dropped from pending
	f.q.OnTip(accepted.hash)
	if len(f.q.pending) != 0 {
		t.Fatalf("%d blocks still pending after the node answered for both", len(f.q.pending))
	}
	f.recent(t, recentWant{refused, "y", t0, "node-refused"}, recentWant{accepted, "x", t0, "node-accepted"})
	f.counts(t, Counts{Found: 2, NodeAccepted: 1, NodeRefused: 1})
}

// The list keeps the latest KeepRecent blocks, however many are found, and
// a block pushed out of it can still settle without changing the others.
func TestRecentBound(t *testing.T) {
	f := newFixture(t, false, func(c *Config) { c.KeepRecent = 3 })
	b := make([]testBlock, 5)
	for i := range b {
		b[i] = newTestBlock(t, byte(i+1))
	}
	f.q.Found(b[0].fb, b[0].hash, "0")
	f.clock.add(DefaultGiveUpAfter - time.Second)
	t1 := f.clock.now()
	for i := 1; i < len(b); i++ {
		f.q.Found(b[i].fb, b[i].hash, fmt.Sprint(i))
	}
	f.recent(t, recentWant{b[4], "4", t1, ""}, recentWant{b[3], "3", t1, ""}, recentWant{b[2], "2", t1, ""})

	f.clock.add(2 * time.Second)
	f.deliver(t) // the first block, out of the list, is given up on
	f.counts(t, Counts{Found: 5, Pending: 4, GaveUp: 1})
	f.recent(t, recentWant{b[4], "4", t1, ""}, recentWant{b[3], "3", t1, ""}, recentWant{b[2], "2", t1, ""})

	for range 1000 {
		f.q.Found(b[0].fb, b[0].hash, "again")
	}
	if got := f.q.Recent(); len(got) != 3 || got[0].Finder != "again" || got[2].Finder != "again" {
		t.Fatalf("after 1000 more blocks, Recent() = %+v, want the 3 latest", got)
	}
	if n := cap(f.q.recent); n != 3 {
		t.Fatalf("the recent list grew to a capacity of %d, want 3", n)
	}
}

// Without KeepRecent, DefaultKeepRecent blocks are kept; a block given up
// on says so.
func TestRecentDefault(t *testing.T) {
	f := newFixture(t, false)
	b := newTestBlock(t, 1)
	for i := range DefaultKeepRecent + 5 {
		f.q.Found(b.fb, b.hash, fmt.Sprint(i))
	}
	got := f.q.Recent()
	if len(got) != DefaultKeepRecent || got[0].Finder != fmt.Sprint(DefaultKeepRecent+4) || got[len(got)-1].Finder != "5" {
		t.Fatalf("Recent() has %d blocks, newest by %q, oldest by %q; want %d, by %d and 5",
			len(got), got[0].Finder, got[len(got)-1].Finder, DefaultKeepRecent, DefaultKeepRecent+4)
	}
	f.clock.add(DefaultGiveUpAfter + time.Second)
	f.deliver(t)
	for _, r := range f.q.Recent() {
		if r.Outcome != "gave-up" {
			t.Fatalf("a block given up on reports %q", r.Outcome)
		}
	}
}

// A height the templates did not give (-1) shows as 0.
func TestRecentUnknownHeight(t *testing.T) {
	f := newFixture(t, false)
	b := newTestBlock(t, 1)
	b.fb.Height = -1
	f.q.Found(b.fb, b.hash, "x")
	if got := f.q.Recent(); len(got) != 1 || got[0].Height != 0 {
		t.Fatalf("Recent() = %+v, want one block at height 0", got)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[outcome]string{
		unsettled: "", confirmed: "confirmed", lost: "lost", nodeAccepted: "node-accepted",
		nodeRefused: "node-refused", gaveUp: "gave-up", gaveUp + 1: "outcome(6)",
	} {
		if got := o.String(); got != want {
			t.Errorf("outcome(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}

// Where blocks end: a block the node took is confirmed by the tip built on
// it, and lost to a rival tip at its height, after the node's answer
// settled it; a block the node refused is off the chain at once.
func TestChainAfterTheNode(t *testing.T) {
	f := newFixture(t, true)
	onChain, rivalled, refused := newTestBlock(t, 1), newTestBlock(t, 2), newTestBlock(t, 3)
	f.tp.setDown(true)
	f.setTxs(7, onChain.txs)
	f.q.Found(onChain.fb, onChain.hash, "x")
	f.deliver(t)
	f.deliver(t) // done with: dropped from pending
	if got := f.q.Chain(); got != (Chain{}) {
		t.Fatalf("a block the node took, no tip since: %+v", got)
	}
	if r := f.q.Recent()[0]; r.Chain != ChainAccepted {
		t.Fatalf("chain %q, want accepted", r.Chain)
	}
	f.q.OnTip(onChain.hash)
	if got, r := f.q.Chain(), f.q.Recent()[0]; got != (Chain{On: 1}) || r.Chain != ChainConfirmed || r.Outcome != "node-accepted" {
		t.Fatalf("after the tip built on it: %+v, %+v", got, r)
	}

	f.setTxs(7, rivalled.txs)
	f.q.Found(rivalled.fb, rivalled.hash, "y")
	f.deliver(t)
	f.deliver(t)
	var rival sv2.U256
	rival[0] = 0xee
	f.q.OnTip(rival) // another block on the parent of ours
	if got, r := f.q.Chain(), f.q.Recent()[0]; got != (Chain{On: 1, Off: 1}) || r.Chain != ChainLost {
		t.Fatalf("after a rival tip: %+v, %+v", got, r)
	}

	f.node.mu.Lock()
	f.node.errs = []error{&node.RejectedError{Reason: "bad-txnmrklroot"}}
	f.node.mu.Unlock()
	f.setTxs(7, refused.txs)
	f.q.Found(refused.fb, refused.hash, "z")
	f.deliver(t)
	if got, r := f.q.Chain(), f.q.Recent()[0]; got != (Chain{On: 1, Off: 2}) || r.Chain != ChainLost {
		t.Fatalf("after the node refused it: %+v, %+v", got, r)
	}
	f.q.OnTip(refused.hash) // an end is final
	if got := f.q.Chain(); got != (Chain{On: 1, Off: 2}) {
		t.Fatalf("a tip moved an ended block: %+v", got)
	}
}
