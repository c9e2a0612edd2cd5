package integration

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// testMiner is a mining client on our ClientService and core mining's Client:
// it records every message from the pool, keeps the job state, and lets the
// test grind and submit shares.
type testMiner struct {
	service.NullMiningClientHandler
	state *mining.Client
	msgs  chan sv2.Message
	svc   *service.ClientService
	seq   uint32
	nonce uint32 // where the next share search starts
}

func (m *testMiner) on(msg sv2.Message) ([]service.ClientEvent, error) {
	m.state.Handle(msg) // errors are for the test to find in msgs
	m.msgs <- msg
	return nil, nil
}

func (m *testMiner) OpenStandardMiningChannelSuccess(_ context.Context, x *sv2.OpenStandardMiningChannelSuccess) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) OpenExtendedMiningChannelSuccess(_ context.Context, x *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) OpenMiningChannelError(_ context.Context, x *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) NewMiningJob(_ context.Context, x *sv2.NewMiningJob) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) NewExtendedMiningJob(_ context.Context, x *sv2.NewExtendedMiningJob) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SetNewPrevHash(_ context.Context, x *sv2.SetNewPrevHash) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SetTarget(_ context.Context, x *sv2.SetTarget) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SetGroupChannel(_ context.Context, x *sv2.SetGroupChannel) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SetExtranoncePrefix(_ context.Context, x *sv2.SetExtranoncePrefix) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SubmitSharesSuccess(_ context.Context, x *sv2.SubmitSharesSuccess) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SubmitSharesError(_ context.Context, x *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) CloseChannel(_ context.Context, x *sv2.CloseChannel) ([]service.ClientEvent, error) {
	return m.on(x)
}

// startMiner connects a test miner to a pool over Noise, pinning key.
func startMiner(t *testing.T, addr string, key noise.PublicKey, flags uint32) *testMiner {
	t.Helper()
	m := &testMiner{state: mining.NewClient(), msgs: make(chan sv2.Message, 4096)}
	svc, err := service.NewClientService(service.ClientConfig{
		Mining: &service.UpstreamConfig{Address: addr, AuthorityKey: &key, Flags: flags},
	}, m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.svc = svc
	harness.Go(t, "test miner", svc.Run)
	return m
}

// send sends a message to the pool, waiting for the connection if needed.
func (m *testMiner) send(t *testing.T, msg sv2.Message) {
	t.Helper()
	sendUpstream(t, m.svc, sv2.ProtocolMining, msg, 20*time.Second)
}

// expect waits for the next message of type T, skipping others.
func expect[T sv2.Message](t *testing.T, m *testMiner, within time.Duration) T {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case msg := <-m.msgs:
			if x, ok := msg.(T); ok {
				return x
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T within %v", zero, within)
			return zero
		}
	}
}

// tinyHashrate is what test miners declare, so shares are cheap to find.
const tinyHashrate = 100

var maxTarget = func() (u sv2.U256) {
	for i := range u {
		u[i] = 0xff
	}
	return u
}()

func (m *testMiner) openStandard(t *testing.T, req uint32, user string) uint32 {
	m.send(t, &sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: user, NominalHashRate: tinyHashrate, MaxTarget: maxTarget})
	return expect[*sv2.OpenStandardMiningChannelSuccess](t, m, time.Minute).ChannelID
}

func (m *testMiner) openExtended(t *testing.T, req uint32, user string) uint32 {
	m.send(t, &sv2.OpenExtendedMiningChannel{RequestID: req, UserIdentity: user, NominalHashRate: tinyHashrate, MaxTarget: maxTarget, MinExtranonceSize: 8})
	return expect[*sv2.OpenExtendedMiningChannelSuccess](t, m, time.Minute).ChannelID
}

// work waits until the channel has an active job.
func (m *testMiner) work(t *testing.T, ch uint32) *mining.Work {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if w, ok := m.state.Work(ch); ok {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %d never got an active job", ch)
		}
		select {
		case msg := <-m.msgs: // let messages flow; the state was updated already
			_ = msg
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// grind finds a nonce whose hash meets both the share and the network
// target (in regtest nearly every share is a block) and returns the share.
func (m *testMiner) grind(t *testing.T, w *mining.Work, extranonce []byte) sv2.Message {
	t.Helper()
	if w.Extended && len(extranonce) < w.ExtranonceSize { // callers give the leading bytes
		extranonce = append(append([]byte(nil), extranonce...), make([]byte, w.ExtranonceSize-len(extranonce))...)
	}
	network, _ := target.FromCompact(w.NBits)
	ntime := max(w.MinNTime, uint32(time.Now().Unix()))
	h := w.Header(extranonce, 0, ntime, w.Version)
	for ; ; h.Nonce++ {
		hash := h.Hash()
		if target.Meets(&hash, &w.Target) && target.Meets(&hash, &network) {
			break
		}
	}
	m.seq++
	if w.Extended {
		return &sv2.SubmitSharesExtended{ChannelID: w.ChannelID, SequenceNumber: m.seq, JobID: w.JobID, Nonce: h.Nonce, NTime: h.NTime, Version: h.Version, Extranonce: extranonce}
	}
	return &sv2.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: m.seq, JobID: w.JobID, Nonce: h.Nonce, NTime: h.NTime, Version: h.Version}
}

func extranonce8(n uint64) []byte {
	return binary.LittleEndian.AppendUint64(nil, n)
}

func (m *testMiner) SetCustomMiningJobSuccess(_ context.Context, x *sv2.SetCustomMiningJobSuccess) ([]service.ClientEvent, error) {
	return m.on(x)
}
func (m *testMiner) SetCustomMiningJobError(_ context.Context, x *sv2.SetCustomMiningJobError) ([]service.ClientEvent, error) {
	return m.on(x)
}
