package jdc

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// holdingPool is a fake pool that answers SetCustomMiningJob only when the
// test says so.
type holdingPool struct {
	fakePool
	held    chan *sv2.SetCustomMiningJob
	clients chan service.ClientID
}

func (p *holdingPool) SetCustomMiningJob(_ context.Context, c service.ClientID, m *sv2.SetCustomMiningJob) ([]service.ServerEvent, error) {
	p.held <- m
	p.clients <- c
	return nil, nil
}

// Optimistic mining over real TCP: the devices mine the JDC's job at once;
// their shares wait while the pool has not acknowledged it, and reach the
// pool right after its SetCustomMiningJob.Success, on the job id it gave.
func TestOptimisticMiningOverTCP(t *testing.T) {
	hp := &holdingPool{held: make(chan *sv2.SetCustomMiningJob, 4), clients: make(chan service.ClientID, 4)}
	j, addr, _, _, poolSrv := fakeStack(t, hp, func(c *Config) { c.MinShareDifficulty, c.Logger = -1, testLog(t) })
	ctx := context.Background()
	scm := <-hp.held // the JDC asked; the pool holds its answer
	poolClient := <-hp.clients

	d := &shareDevice{benchDevice: benchDevice{prev: make(chan time.Time, 1), open: make(chan *sv2.OpenExtendedMiningChannelSuccess, 1)}, jobs: make(chan *sv2.NewExtendedMiningJob, 8)}
	svc := dialDevice(t, addr, d)
	requestChannel(svc, 1, 1e-9) // every hash a share
	open := <-d.open
	job := <-d.jobs
	const shares = 5
	for i := range shares {
		if err := svc.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolMining, Message: &sv2.SubmitSharesExtended{
			ChannelID: open.ChannelID, SequenceNumber: uint32(i), JobID: job.JobID, Nonce: uint32(i), NTime: uint32(time.Now().Unix()),
			Version: job.Version, Extranonce: make([]byte, open.ExtranonceSize)}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.up.pendingShares() < shares && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the JDC's goroutine takes them; no event reaches the test
	}
	if n := hp.shares.Load(); n != 0 {
		t.Fatalf("%d shares reached the pool before it acknowledged the job", n)
	}
	if err := poolSrv.HandleEvent(ctx, service.SendToClient{Client: poolClient, Message: &sv2.SetCustomMiningJobSuccess{ChannelID: scm.ChannelID, RequestID: scm.RequestID, JobID: 77}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for hp.shares.Load() < shares && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := hp.shares.Load(); n != shares {
		t.Fatalf("%d of %d waiting shares reached the pool after its acknowledgement; device refusals %d (%v); %+v", n, shares, d.errs.Load(), d.lastErr.Load(), j.Stats())
	}
	if st := j.Stats(); st.Optimistic != shares {
		t.Errorf("stats %+v: want %d optimistic shares", st, shares)
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// One device connection may not take every channel: past
// MaxChannelsPerConnection its requests are refused.
func TestChannelsPerConnectionCapped(t *testing.T) {
	_, addr, _, _, _ := fakeStack(t, &fakePool{}, func(c *Config) { c.MaxChannelsPerConnection = 3 })
	d := &refusedDevice{errs: make(chan string, 1)}
	svc := dialDevice(t, addr, d)
	for i := range 4 {
		requestChannel(svc, uint32(i+1), 1e6)
	}
	select {
	case code := <-d.errs:
		if code != "channel-capacity-exhausted" {
			t.Errorf("the fourth channel: %s", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fourth channel of a connection was not refused")
	}
	if n := d.opened.Load(); n != 3 {
		t.Errorf("%d channels opened, want 3", n)
	}
}

type refusedDevice struct {
	service.NullMiningClientHandler
	opened atomic.Int64
	errs   chan string
}

func (d *refusedDevice) OpenExtendedMiningChannelSuccess(context.Context, *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	d.opened.Add(1)
	return nil, nil
}

func (d *refusedDevice) OpenMiningChannelError(_ context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	d.errs <- m.ErrorCode
	return nil, nil
}

// All the connections of one address share MaxChannelsPerSource: with 3
// per connection and 5 per source, a second connection gets 2 and is
// refused the third.
func TestChannelsPerSourceCapped(t *testing.T) {
	_, addr, _, _, _ := fakeStack(t, &fakePool{}, func(c *Config) { c.MaxChannelsPerConnection, c.MaxChannelsPerSource = 3, 5 })
	connectDevice(t, addr, 3)
	d := &refusedDevice{errs: make(chan string, 1)}
	svc := dialDevice(t, addr, d)
	for i := range 3 {
		requestChannel(svc, uint32(i+1), 1e6)
	}
	select {
	case code := <-d.errs:
		if code != "channel-capacity-exhausted" {
			t.Errorf("the sixth channel of the source: %s", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sixth channel of a source was not refused")
	}
	if n := d.opened.Load(); n != 2 {
		t.Errorf("%d channels opened on the second connection, want 2", n)
	}
}
