package pool

import (
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// When the pool stops, each miner gets the acknowledgement of the shares it
// had pending (a partial batch) and a CloseChannel saying why, before the
// connection closes; Run returns nil.
func TestStopAcknowledgesAndClosesChannels(t *testing.T) {
	p := startPool(t, nil)
	r := dialRaw(t, p)
	r.setup(t, mining.FlagRequiresStandardJobs)
	r.write(t, &sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "ivy", NominalHashRate: 1, MaxTarget: target.Max()})
	work := mining.NewClient()
	var ch uint32
	for {
		msg := r.read(t)
		if ok, is := msg.(*sv2.OpenStandardMiningChannelSuccess); is {
			ch = ok.ChannelID
		}
		work.Handle(msg)
		if _, is := msg.(*sv2.SetNewPrevHash); is {
			break
		}
	}
	w, _ := work.Work(ch)
	found := grind(w, 0, 1<<12)
	if len(found) < 3 {
		t.Fatalf("only %d shares in 4096 nonces", len(found))
	}
	for i, n := range found[:3] {
		r.write(t, share(w, uint32(i), n))
	}
	// Three shares are less than a batch: no acknowledgement yet.
	for deadline := time.Now().Add(waitLimit); p.Stats().Users["ivy"].Accepted < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the shares were not accounted")
		}
		time.Sleep(time.Millisecond) // the accounting has no channel to wait on
	}

	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()
	if ack, ok := r.read(t).(*sv2.SubmitSharesSuccess); !ok || ack.LastSequenceNumber != 2 || ack.NewSubmitsAcceptedCount != 3 {
		t.Fatalf("the pending acknowledgement: %#v", ack)
	}
	if c, ok := r.read(t).(*sv2.CloseChannel); !ok || c.ChannelID != ch || c.ReasonCode != CodeShutdown {
		t.Fatalf("the goodbye: %#v", c)
	}
	r.closedByPool(t)
	if err := recv(t, stopped, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
