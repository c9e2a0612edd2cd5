package templateprovider

import (
	"testing"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// expectTip waits for the future template and SetNewPrevHash of tmpl's tip.
func expectTip(t *testing.T, c *recClient, tmpl *node.Template, why string) {
	t.Helper()
	nt, snph := nextTemplate(t, c)
	if snph == nil || snph.PrevHash != sv2.U256(tmpl.PrevHash) || !nt.FutureTemplate {
		t.Fatalf("%s: got template %d (future %t) with prev hash %+v, want the tip %s", why, nt.TemplateID, nt.FutureTemplate, snph, tmpl.PrevHash)
	}
}

// A node that fails (it is restarting) and then answers again has its new
// tip sent out as soon as it answers, not at the next TemplateInterval (an
// hour here): the provider used to wait for its timer, and miners found
// stale blocks meanwhile.
func TestNodeBackAfterFailuresSendsItsTipAtOnce(t *testing.T) {
	h := startTP(t, fakeTemplate(10, 1), 1000)
	c := h.connect(t, 0, 0)
	nextTemplate(t, c)

	// The node goes down; the watcher's report of the new tip comes while
	// getblocktemplate still fails three times.
	next := fakeTemplate(11, 2)
	h.node.failNext(3)
	h.node.set(next)
	h.tips <- node.Tip{Height: next.Height - 1}

	expectTip(t, c, next, "after the node came back")
	if n := h.node.failuresLeft(); n != 0 {
		t.Errorf("%d failing calls left: the template came before the node was asked again", n)
	}
	if h.logs.line("node answers again", "after_attempts=3") == "" {
		t.Errorf("the recovery was not logged; logs:\n%s", h.logs.buf.String())
	}
}

// Right after submitting a block the provider fetches a fresh template, so
// the tip the block made goes out without waiting for the tip watcher (or,
// as before, the timer).
func TestSubmittedBlockRechecksTheTip(t *testing.T) {
	first := fakeTemplate(20, 1)
	h := startTP(t, first, 1000)
	c := h.connect(t, 0, 0)
	nt, snph := nextTemplate(t, c)

	// The node will serve the next height once our block is in; no tip
	// report comes from the watcher.
	next := fakeTemplate(21, 2)
	h.node.set(next)
	sol, _ := solution(t, nt, snph, true, 0)
	h.submit(t, sol)
	recv(t, h.node.submitted, "the block")
	expectTip(t, c, next, "after the provider submitted a block")
}
