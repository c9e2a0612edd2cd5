package pool

// Hostile-peer tests of the pool: what a miner on loopback can do to the
// pool's channel and worker accounting, to CloseChannel, and to the fan-out
// of templates. Tests that fail because of a real defect are kept, guarded
// by a Skip that names the defect.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// hasChannel reports whether the accounting holds a channel of a client.
func (p *testPool) hasChannel(client service.ClientID, channel uint32) bool {
	for _, ch := range p.Stats().Channels {
		if ch.Client == client && ch.Channel == channel {
			return true
		}
	}
	return false
}

// until polls cond (bounded): for state with no channel to wait on.
func until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Pool.CloseChannel must return once the client is gone, whatever the
// race: here the connection is removed (its inbox overflows) just as the
// close request is pushed, and the request is dropped with it. Made
// deterministic by holding the connection's goroutine in an earlier close
// request whose done channel the test does not read yet.
func TestAttackCloseChannelReturnsWhenTheClientGoes(t *testing.T) {
	p := startPool(t, nil)
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	held := m.openStandard(t, "victim", 1)
	other := m.openStandard(t, "victim", 1)
	id := p.server.Clients()[0].ID
	ctx := context.Background()

	// Hold the connection's goroutine: it closes channel held, then blocks
	// handing back the result.
	block := make(chan error)
	if err := p.server.HandleEvent(ctx, closing.NotifyClient(id, closeRequest{held, "hold", block})); err != nil {
		t.Fatal(err)
	}
	until(t, "the held close request to be taken", func() bool { return !p.hasChannel(id, held) })
	for range service.DefaultSendQueue { // the inbox is full now
		if err := p.server.HandleEvent(ctx, barrier.NotifyClient(id, make(chan struct{}))); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- p.CloseChannel(cctx, id, other, "maintenance") }()
	until(t, "the client to be removed", func() bool { _, ok := p.server.Client(id); return !ok })
	<-block // let the connection's goroutine go on: it finds the client removed
	err := recv(t, closed, "CloseChannel to return")
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CloseChannel for a client that was removed waited until its context ended: %v", err)
	}
	t.Logf("CloseChannel: %v", err)
}

// Pool.CloseChannel racing the miner's own disconnect, 60 times: it always
// returns (nil, or an error) well before its context ends.
func TestAttackCloseChannelRacingDisconnect(t *testing.T) {
	p := startPool(t, nil)
	hung := 0
	for round := range 60 {
		r := dialRaw(t, p)
		r.setup(t, mining.FlagRequiresStandardJobs)
		r.write(t, &sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "racer", NominalHashRate: 1, MaxTarget: target.Max()})
		ok, is := r.read(t).(*sv2.OpenStandardMiningChannelSuccess)
		if !is {
			t.Fatalf("round %d: open refused", round)
		}
		var id service.ClientID
		for _, c := range p.server.Clients() {
			id = max(id, c.ID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		closed := make(chan error, 1)
		go func() { closed <- p.CloseChannel(ctx, id, ok.ChannelID, "race") }()
		r.conn.Close()
		if err := recv(t, closed, "CloseChannel"); errors.Is(err, context.DeadlineExceeded) {
			hung++
		}
		cancel()
	}
	if hung > 0 {
		t.Errorf("CloseChannel waited until its context ended in %d of 60 races with the miner's disconnect", hung)
	}
}

// A peer that does no work can fill the pool's worker table: shares that
// are rejected (a job that does not exist) still create worker entries,
// so a handful of invented names, refreshed within the idle time, leave an
// honest miner's workers untracked.
func TestAttackRejectedSharesDoNotFillTheWorkerTable(t *testing.T) {
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.MaxWorkers, c.MaxWorkersPerUser = 8, 4 // the bounds, scaled down
	})

	attacker := dialMiner(t, p, 0, sv2.ExtensionWorkerHashrate)
	for u := range 2 {
		ch := attacker.openExtended(t, fmt.Sprintf("mallory-%d", u))
		for i := range 4 {
			attacker.send(t, &sv2.SubmitSharesExtended{ChannelID: ch, SequenceNumber: uint32(i), JobID: 0xdead,
				Extranonce: make([]byte, extranonceRollable), TLVs: []sv2.TLV{sv2.WorkerIdentityTLV(fmt.Sprintf("fake-%d", i))}})
			expect[*sv2.SubmitSharesError](t, attacker)
		}
	}
	if st := p.Stats(); st.Users["mallory-0"].Accepted != 0 {
		t.Fatalf("the attacker's shares were accepted: %+v", st.Users)
	}

	honest := dialMiner(t, p, 0, sv2.ExtensionWorkerHashrate)
	ch := honest.openExtended(t, "alice")
	w := honest.currentWork(t, ch)
	honest.send(t, extendedShare(t, w, 1, []byte{1, 0, 0, 0, 0, 0, 0, 0}, []sv2.TLV{sv2.WorkerIdentityTLV("rig-1")}))
	expect[*sv2.SubmitSharesSuccess](t, honest)
	st := p.Stats()
	if _, ok := st.Workers[WorkerKey{User: "alice", Worker: "rig-1"}]; !ok {
		t.Errorf("an honest worker with an accepted share is untracked (%d untracked shares) while %d workers of rejected shares fill the table",
			st.UntrackedWorkerShares, len(st.Workers))
	}
}

// Miners connect, open channels and leave (some without waiting for the
// answer) while templates are fanned out: a healthy miner gets a job for
// every template, in order, and once the churn is over the pool keeps
// nothing of the miners that left.
func TestAttackChurnWhileTemplatesFanOut(t *testing.T) {
	p := startPool(t, nil)
	healthy := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	channel := healthy.openStandard(t, "healthy", 1)
	healthyID := p.server.Clients()[0].ID

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				r := dialRaw(t, p)
				if err := r.conn.WriteMessage(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2,
					Flags: mining.FlagRequiresStandardJobs, EndpointHost: "127.0.0.1", Vendor: "churn"}); err != nil {
					t.Error(err)
					return
				}
				for j := range 3 {
					r.conn.WriteMessage(&sv2.OpenStandardMiningChannel{RequestID: uint32(j), UserIdentity: fmt.Sprintf("churn-%d", w), NominalHashRate: 1, MaxTarget: target.Max()})
				}
				if i%2 == 0 {
					for range 4 { // the Success of setup and of a channel or two
						if _, err := r.readMessage(); err != nil {
							break
						}
					}
				}
				r.conn.Close()
			}
		})
	}
	const templates = 30
	for range templates {
		p.tp.sendTemplate(t)
	}
	wg.Wait()
	var last uint32
	for jobs := 0; jobs < templates; {
		switch msg := healthy.next(t).(type) {
		case *sv2.NewMiningJob:
			if msg.ChannelID != channel {
				t.Fatalf("job for channel %d, want %d", msg.ChannelID, channel)
			}
			if msg.JobID <= last {
				t.Fatalf("job %d after job %d", msg.JobID, last)
			}
			last = msg.JobID
			jobs++
		case *sv2.SetNewPrevHash, *sv2.SetTarget:
		default:
			t.Fatalf("healthy miner got %s", sv2.Info(msg).Name)
		}
	}
	until(t, "the churned clients to be removed", func() bool { return len(p.server.Clients()) == 1 })
	// ClientRemoved of the last leavers runs after they leave the service's map.
	until(t, "the pool to forget the churned miners", func() bool {
		p.miners.mu.Lock()
		defer p.miners.mu.Unlock()
		return len(p.miners.clients) == 1 && len(p.miners.byConn) == 1
	})
	st := p.Stats()
	if len(st.Channels) != 1 || st.Channels[0].Client != healthyID {
		t.Errorf("channels accounted after the churn: %+v", st.Channels)
	}
}
