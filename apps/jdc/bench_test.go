package jdc

import (
	"context"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/synthtp"
)

// fakePool opens one extended channel for anyone, takes every custom job
// and counts the shares.
type fakePool struct {
	service.NullMiningServerHandler
	shares atomic.Uint64
}

func (*fakePool) Flags(requested uint32) (uint32, uint32) { return 0, 0 }
func (*fakePool) ClientAdded(context.Context, service.ClientInfo) ([]service.ServerEvent, error) {
	return nil, nil
}
func (*fakePool) OpenExtendedMiningChannel(_ context.Context, c service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.OpenExtendedMiningChannelSuccess{
		RequestID: m.RequestID, ChannelID: 1, Target: maxTarget, ExtranonceSize: 16, ExtranoncePrefix: []byte{0, 0, 0, 1}}}}, nil
}
func (*fakePool) SetCustomMiningJob(_ context.Context, c service.ClientID, m *sv2.SetCustomMiningJob) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.SetCustomMiningJobSuccess{ChannelID: m.ChannelID, RequestID: m.RequestID, JobID: m.RequestID}}}, nil
}
func (p *fakePool) SubmitSharesExtended(context.Context, service.ClientID, *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	p.shares.Add(1)
	return nil, nil
}

// fakeJDS grants coinbase-only tokens paying payout.
type fakeJDS struct {
	service.NullJobDeclarationServerHandler
}

func (*fakeJDS) Flags(requested uint32) (uint32, uint32) { return 0, 0 }
func (*fakeJDS) ClientAdded(context.Context, service.ClientInfo) ([]service.ServerEvent, error) {
	return nil, nil
}
func (*fakeJDS) AllocateMiningJobToken(_ context.Context, c service.ClientID, m *sv2.AllocateMiningJobToken) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.AllocateMiningJobTokenSuccess{RequestID: m.RequestID, MiningJobToken: []byte("t"), CoinbaseTxOutputs: poolOutputs()}}}, nil
}

// device is a mining client recording when each job's SetNewPrevHash
// arrives.
type benchDevice struct {
	service.NullMiningClientHandler
	prev chan time.Time
	open chan *sv2.OpenExtendedMiningChannelSuccess
}

func (d *benchDevice) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	d.open <- m
	return nil, nil
}
func (d *benchDevice) SetNewPrevHash(context.Context, *sv2.SetNewPrevHash) ([]service.ClientEvent, error) {
	select {
	case d.prev <- time.Now():
	default:
	}
	return nil, nil
}

func serve(b testing.TB, cfg service.ServerConfig, m service.MiningServerHandler, jd service.JobDeclarationServerHandler, td service.TemplateDistributionServerHandler) (*service.ServerService, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Listener, cfg.Plain = ln, true
	srv, err := service.NewServerService(cfg, m, jd, td)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return srv, ln.Addr().String()
}

// benchStack is a JDC between a synthetic provider, a fake pool and JDS,
// and devices over real TCP (plain: the benchmark is the JDC's work).
func benchStack(b testing.TB) (*JDC, string, *service.ServerService, *synthtp.Provider, *fakePool) {
	fp := &fakePool{}
	j, addr, tpSrv, tp, _ := fakeStack(b, fp, func(c *Config) { c.User = "bench" })
	return j, addr, tpSrv, tp, fp
}

func connectDevice(b testing.TB, addr string, channels int) *benchDevice {
	d := &benchDevice{prev: make(chan time.Time, 1), open: make(chan *sv2.OpenExtendedMiningChannelSuccess, channels)}
	svc := dialDevice(b, addr, d)
	for i := range channels {
		requestChannel(svc, uint32(i+1), 1e6)
	}
	for range channels {
		<-d.open
	}
	return d
}

// BenchmarkTemplateToDevice is a new tip from the provider to the
// SetNewPrevHash of its job at a device, over loopback TCP through the
// JDC, which does not wait for the pool or the JDS. p50 and p99 are
// reported.
//
//	cd apps/jdc && go test -run '^$' -bench TemplateToDevice -benchtime 200x
func BenchmarkTemplateToDevice(b *testing.B) {
	_, addr, tpSrv, tp, _ := benchStack(b)
	d := connectDevice(b, addr, 1)
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		_, ev := tp.NewTip()
		start := time.Now()
		if err := tpSrv.HandleEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-d.prev).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkChannelMemory reports what one device channel costs the JDC
// (heap-B/channel), 1,000 extended channels on 10 connections.
func BenchmarkChannelMemory(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		_, addr, _, _, _ := benchStack(b)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const conns, per = 10, 100
		devs := make([]*benchDevice, conns)
		b.StartTimer()
		for i := range devs {
			devs[i] = connectDevice(b, addr, per)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		// The devices' own client services are in the figure too: an upper bound.
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(conns*per), "heap-B/channel")
		runtime.KeepAlive(devs)
		b.StartTimer()
	}
}

// shareDevice is a device that mines every job it gets at once (the
// channel's target takes any hash).
type shareDevice struct {
	benchDevice
	jobs    chan *sv2.NewExtendedMiningJob
	errs    atomic.Uint64
	lastErr atomic.Value
}

func (d *shareDevice) NewExtendedMiningJob(_ context.Context, m *sv2.NewExtendedMiningJob) ([]service.ClientEvent, error) {
	select {
	case d.jobs <- m:
	default:
	}
	return nil, nil
}

// BenchmarkSharesRelayed is device shares through the JDC to the pool, over
// loopback TCP: each is validated against the device channel's target,
// acknowledged to the device, and passed up on the pool's job.
//
//	cd apps/jdc && go test -run '^$' -bench SharesRelayed -benchtime 20000x
func BenchmarkSharesRelayed(b *testing.B) {
	fp := &fakePool{}
	j, addr, _, _, _ := fakeStack(b, fp, func(c *Config) { c.User, c.MinShareDifficulty, c.MaxPendingShares = "bench", -1, 1<<20 })
	// A channel takes MaxSharesPerTip shares (4,096) per block: eight of them.
	const channels = 8
	d := &shareDevice{benchDevice: benchDevice{prev: make(chan time.Time, 1), open: make(chan *sv2.OpenExtendedMiningChannelSuccess, channels)}, jobs: make(chan *sv2.NewExtendedMiningJob, 64)}
	svc := dialDevice(b, addr, d)
	ctx := context.Background()
	var opens []*sv2.OpenExtendedMiningChannelSuccess
	for i := range channels {
		requestChannel(svc, uint32(i+1), 1e-9) // every hash a share
		opens = append(opens, <-d.open)
	}
	// Each channel's job: its own, or its group's, whichever came last.
	jobOf := map[uint32]*sv2.NewExtendedMiningJob{}
	for len(jobOf) < channels {
		select {
		case m := <-d.jobs:
			member := false
			for _, o := range opens {
				if o.ChannelID == m.ChannelID {
					jobOf[o.ChannelID], member = m, true
				}
			}
			if !member { // the group channel's job is every member's
				for _, o := range opens {
					jobOf[o.ChannelID] = m
				}
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("jobs for %d of %d channels", len(jobOf), channels)
		}
	}
	if b.N > channels*4096 {
		b.Fatalf("at most %d shares per run", channels*4096)
	}
	ntime := uint32(time.Now().Unix())
	b.ResetTimer()
	for i := range b.N {
		open := opens[i%channels]
		job := jobOf[open.ChannelID]
		if err := svc.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolMining, Message: &sv2.SubmitSharesExtended{
			ChannelID: open.ChannelID, SequenceNumber: uint32(i), JobID: job.JobID, Nonce: uint32(i), NTime: ntime,
			Version: job.Version, Extranonce: make([]byte, open.ExtranonceSize)}}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for fp.shares.Load() < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond) // the fake pool only counts
	}
	b.StopTimer()
	if got := fp.shares.Load(); got < uint64(b.N) {
		b.Fatalf("%d of %d shares reached the pool; %d refused to the device (%v); JDC %+v", got, b.N, d.errs.Load(), d.lastErr.Load(), j.Stats())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "shares/s")
}

func (d *shareDevice) SubmitSharesError(_ context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	d.errs.Add(1)
	d.lastErr.Store(m.ErrorCode)
	return nil, nil
}
