package pool

import (
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/submit"
	"github.com/stratumgo/stratum/core/sv2"
)

// A share that meets the network target goes to the template provider as
// SubmitSolution, and the provider's next tip, built on it, confirms it.
func TestFoundBlockGoesToTheProvider(t *testing.T) {
	p := startPool(t, nil)
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "ivy", 1)

	// A new tip with regtest's target: about every other hash is a block.
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	expect[*sv2.NewMiningJob](t, m)
	expect[*sv2.SetNewPrevHash](t, m)
	w := m.currentWork(t, ch)
	if w.NBits != easyBits {
		t.Fatalf("work on nBits %#x, want %#x", w.NBits, easyBits)
	}
	nonce, hash := grindBlock(w, prev.Target)
	m.send(t, share(w, 1, nonce))
	sol := recv(t, p.tp.solutions, "the block's SubmitSolution")
	if sol.TemplateID != tmpl.TemplateID || sol.HeaderNonce != nonce || sol.Version != w.Version || sol.HeaderTimestamp != w.MinNTime {
		t.Fatalf("SubmitSolution %+v, want template %d nonce %d", sol, tmpl.TemplateID, nonce)
	}
	waitCounts(t, p, submit.Counts{Found: 1, Pending: 1})

	// The provider moves to the block: confirmed.
	next, nextPrev := p.tp.easyTip()
	nextPrev.PrevHash = hash
	p.tp.send(t, next)
	p.tp.send(t, nextPrev)
	waitCounts(t, p, submit.Counts{Found: 1, Confirmed: 1})
}

// waitCounts waits until the pool's block counts are want.
func waitCounts(t *testing.T, p *testPool, want submit.Counts) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := p.blocks.Counts()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("block counts %+v, want %+v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
