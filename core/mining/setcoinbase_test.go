package mining

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
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
