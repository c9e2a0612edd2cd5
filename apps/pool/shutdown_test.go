package pool

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// When the pool stops, each miner gets the acknowledgement of the shares it
// had pending (a partial batch) and a CloseChannel saying why, before the
// connection closes; Run returns nil.
func TestStopAcknowledgesAndClosesChannels(t *testing.T) {
	tp := startFakeTP(t)
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{
		Listener: ln, AuthorityKey: &sk, Network: "regtest", ShareBatchSize: 10,
		TemplateProvider: TemplateProvider{Address: tp.addr, Plain: true},
		Payouts:          []Payout{{Script: []byte{0x51}, Weight: 1}},
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	recv(t, tp.ready, "the pool to reach the template provider")

	tp0 := &testPool{Pool: p, tp: tp, addr: ln.Addr().String(), key: pk}
	r := dialRaw(t, tp0)
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

	cancel()
	if ack, ok := r.read(t).(*sv2.SubmitSharesSuccess); !ok || ack.LastSequenceNumber != 2 || ack.NewSubmitsAcceptedCount != 3 {
		t.Fatalf("the pending acknowledgement: %#v", ack)
	}
	if c, ok := r.read(t).(*sv2.CloseChannel); !ok || c.ChannelID != ch || c.ReasonCode != CodeShutdown {
		t.Fatalf("the goodbye: %#v", c)
	}
	r.closedByPool(t)
	if err := recv(t, done, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
