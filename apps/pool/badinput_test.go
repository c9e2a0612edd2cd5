package pool

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// TestBadInput: garbage, an oversized frame, a flood of channels and a share
// for someone else's channel are each answered or cut off, and a healthy
// miner on another connection keeps getting jobs and acknowledgements
// throughout.
func TestBadInput(t *testing.T) {
	// Its healthy miner takes nonces 0 to 9 as shares: no minimum difficulty.
	p := startPool(t, func(c *Config) { c.MinShareDifficulty = -1 })
	healthy := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	const hashrate = 0.01 // so little that the target is the easiest: every nonce is a share
	channel := healthy.openStandard(t, "healthy", hashrate)
	id := p.server.Clients()[0].ID
	const batch = 10 // the default ShareBatchSize
	var seq uint32
	// stillMining checks that a new template reaches the healthy miner as a
	// job and that a batch of its shares is acknowledged.
	stillMining := func(t *testing.T) {
		t.Helper()
		before := p.channelStats(t, id, channel)
		p.tp.sendTemplate(t)
		if job := expect[*sv2.NewMiningJob](t, healthy); job.ChannelID != channel {
			t.Fatalf("job for channel %d, want %d", job.ChannelID, channel)
		}
		w := healthy.currentWork(t, channel)
		for nonce := range uint32(batch) {
			seq++
			healthy.send(t, share(w, seq, nonce))
		}
		ack := expect[*sv2.SubmitSharesSuccess](t, healthy)
		if ack.ChannelID != channel || ack.NewSubmitsAcceptedCount != batch || ack.LastSequenceNumber != seq {
			t.Fatalf("ack %+v, want %d shares up to sequence number %d on channel %d", ack, batch, seq, channel)
		}
		after := p.channelStats(t, id, channel)
		if after.Accepted != before.Accepted+batch || len(after.Rejected) != 0 {
			t.Fatalf("healthy channel's accounting went from %+v to %+v", before.Counters, after.Counters)
		}
	}
	stillMining(t)

	for _, tt := range []struct {
		name   string
		attack func(t *testing.T)
	}{
		{"garbage instead of SetupConnection", func(t *testing.T) {
			r := dialRaw(t, p)
			r.nc.Write(bytes.Repeat([]byte("garbage!"), 64))
			r.closedByPool(t)
		}},
		{"garbage after SetupConnection", func(t *testing.T) {
			r := dialRaw(t, p)
			r.setup(t, 0)
			r.nc.Write(bytes.Repeat([]byte("garbage!"), 64))
			r.closedByPool(t)
		}},
		{"a frame that does not decode", func(t *testing.T) {
			r := dialRaw(t, p)
			r.setup(t, 0)
			h, err := sv2.HeaderFor(&sv2.SubmitSharesStandard{}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.conn.WriteFrame(h, []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			r.closedByPool(t)
		}},
		{"a frame over the size limit", func(t *testing.T) {
			r := dialRaw(t, p)
			r.setup(t, 0)
			h, err := sv2.HeaderFor(&sv2.SubmitSharesStandard{}, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r.conn.WriteFrame(h, make([]byte, 1<<20)) // the pool may close before it is all written
			r.closedByPool(t)
		}},
		{"1000 OpenStandardMiningChannels on one connection", func(t *testing.T) {
			const n = 1000
			r := dialRaw(t, p)
			r.setup(t, mining.FlagRequiresStandardJobs)
			sent := make(chan error, 1)
			go func() {
				for i := range uint32(n) {
					m := &sv2.OpenStandardMiningChannel{RequestID: i, UserIdentity: "flood", NominalHashRate: 1e9, MaxTarget: target.Max()}
					if err := r.conn.BufferMessage(m); err != nil {
						sent <- err
						return
					}
				}
				sent <- r.conn.Flush()
			}()
			// The pool answers them all: core's server stops reading a client
			// while that client's answers fill half its send queue.
			channels := map[uint32]bool{}
			answered := 0
			for answered < n {
				m, err := r.readMessage()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("%d requests answered, then nothing", answered)
				}
				if err != nil {
					t.Fatalf("cut off after %d answers: %v", answered, err)
				}
				switch m := m.(type) {
				case *sv2.OpenStandardMiningChannelSuccess:
					if channels[m.ChannelID] {
						t.Fatalf("channel %d opened twice", m.ChannelID)
					}
					channels[m.ChannelID] = true
					answered++
				case *sv2.OpenMiningChannelError:
					t.Logf("request %d refused: %s", m.RequestID, m.ErrorCode)
					answered++
				}
			}
			if err := <-sent; err != nil {
				t.Fatalf("sending the requests: %v", err)
			}
			t.Logf("all %d requests answered", n)
			if got := len(p.Stats().Channels); got != len(channels)+1 {
				t.Errorf("pool accounts %d channels, want %d", got, len(channels)+1)
			}
			// The flooder stops reading: the template of stillMining makes
			// 1000 jobs for it that it never takes.
		}},
		{"a share for another connection's channel", func(t *testing.T) {
			r := dialRaw(t, p)
			r.setup(t, mining.FlagRequiresStandardJobs)
			w := healthy.currentWork(t, channel)
			r.write(t, share(w, 7, 12345))
			m, ok := r.read(t).(*sv2.SubmitSharesError)
			if !ok || m.ChannelID != channel || m.SequenceNumber != 7 || m.ErrorCode != mining.CodeInvalidChannelID {
				t.Fatalf("answered with %s %s, want SubmitShares.Error %s", sv2.Info(m).Name, sv2.FieldsJSON(m), mining.CodeInvalidChannelID)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.attack(t)
			stillMining(t)
		})
	}
}

// channelStats returns the accounting of one channel.
func (p *testPool) channelStats(t testing.TB, client service.ClientID, channel uint32) ChannelStats {
	t.Helper()
	for _, cs := range p.Stats().Channels {
		if cs.Client == client && cs.Channel == channel {
			return cs
		}
	}
	t.Fatalf("no channel %d of client %d in the pool's stats", channel, client)
	return ChannelStats{}
}
