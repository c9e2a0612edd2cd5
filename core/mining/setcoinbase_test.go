package mining

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/target"
)

// SetCoinbase gives every channel new jobs of the current template with the
// new outputs, tag and lead, on the same tip, and makes the earlier jobs
// stale; channels keep their extranonce.
func TestSetCoinbase(t *testing.T) {
	for _, extended := range []bool{false, true} {
		e := newEnv(t, FlagRequiresStandardJobs*boolU32(!extended), nil)
		e.template(1, true, 3)
		e.prevHash(1, regtestBits)
		ch := e.open(extended)
		before := *e.work(ch)
		newOut := append([]byte{0x51, 0x20}, bytes.Repeat([]byte{3}, 32)...)
		lead := []byte{0xaa, 0xbb, 0xcc}
		e.deliverOut(e.srv.SetCoinbase(coinbase.Config{Outputs: []*wire.TxOut{{PkScript: newOut}}, Tag: []byte("/new/"), Lead: lead}))
		after := e.work(ch)
		if after.JobID == before.JobID || after.PrevHash != before.PrevHash {
			t.Fatalf("extended=%v: job %d → %d, prev hash kept %v; want a new job on the same tip", extended, before.JobID, after.JobID, after.PrevHash == before.PrevHash)
		}
		if extended {
			if !bytes.HasSuffix(after.CoinbasePrefix, lead) || !bytes.Contains(after.CoinbaseSuffix, newOut) || !bytes.Equal(after.ExtranoncePrefix, before.ExtranoncePrefix) {
				t.Errorf("the new job's coinbase %x|%x lacks the lead or the output, or the prefix changed", after.CoinbasePrefix, after.CoinbaseSuffix)
			}
		}
		if r := e.submit(newShare(&before).find(t, &before, anyHash)); r.Status != ShareRejected || r.Code != CodeStaleShare {
			t.Errorf("extended=%v: a share on the job of before: %v %q, want stale", extended, r.Status, r.Code)
		}
		if r := e.submit(newShare(after).find(t, after, anyHash)); r.Status == ShareRejected {
			t.Errorf("extended=%v: a share on the new job: %q", extended, r.Code)
		} else if r.Block != nil && !bytes.Contains(r.Block.Coinbase, newOut) {
			t.Errorf("a block on the new job does not pay the new output")
		}
	}
	if _, err := testServer(t, nil).SetCoinbase(coinbase.Config{}); err == nil {
		t.Error("a coinbase without outputs accepted")
	}
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// UpdateCoinbase gives every channel a new job with the new outputs, active
// at once on the same tip, and leaves the earlier jobs valid: a block found
// on one pays the outputs it had.
func TestUpdateCoinbaseKeepsEarlierJobs(t *testing.T) {
	for _, extended := range []bool{false, true} {
		e := newEnv(t, FlagRequiresStandardJobs*boolU32(!extended), nil)
		e.template(1, true, 3)
		e.prevHash(1, regtestBits)
		ch := e.open(extended)
		before := *e.work(ch)
		newOut := append([]byte{0x51, 0x20}, bytes.Repeat([]byte{4}, 32)...)
		e.deliverOut(e.srv.UpdateCoinbase(coinbase.Config{Outputs: []*wire.TxOut{{PkScript: newOut}}}))
		after := e.work(ch)
		if after.JobID == before.JobID || after.PrevHash != before.PrevHash {
			t.Fatalf("extended=%v: job %d → %d, prev hash kept %v; want a new active job on the same tip", extended, before.JobID, after.JobID, after.PrevHash == before.PrevHash)
		}
		if extended && !bytes.Contains(after.CoinbaseSuffix, newOut) {
			t.Errorf("the new job's coinbase suffix %x lacks the new output", after.CoinbaseSuffix)
		}
		net, _ := target.FromCompact(regtestBits)
		r := e.submit(newShare(&before).find(t, &before, below(net)))
		if r.Status != ShareBlockFound {
			t.Fatalf("extended=%v: a block on the job of before: %v %q", extended, r.Status, r.Code)
		}
		oldOut := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{7}, 20)...) // testServer's payout
		if bytes.Contains(r.Block.Coinbase, newOut) || !bytes.Contains(r.Block.Coinbase, oldOut) {
			t.Errorf("a block on the job of before does not pay the outputs it had")
		}
		if r := e.submit(newShare(after).find(t, after, below(net))); r.Status != ShareBlockFound {
			t.Errorf("extended=%v: a block on the new job: %v %q", extended, r.Status, r.Code)
		} else if !bytes.Contains(r.Block.Coinbase, newOut) {
			t.Errorf("a block on the new job does not pay the new output")
		}
		// A channel opened afterwards gets the new outputs too.
		if extended {
			late := e.open(true)
			if w := e.work(late); !bytes.Contains(w.CoinbaseSuffix, newOut) {
				t.Errorf("a channel opened after the update mines %x, without the new output", w.CoinbaseSuffix)
			}
		}
	}
	if _, err := testServer(t, nil).UpdateCoinbase(coinbase.Config{}); err == nil {
		t.Error("a coinbase without outputs accepted")
	}
}
