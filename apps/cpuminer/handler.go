package cpuminer

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// handler is the miner's mining client handler. The client service calls it
// from one goroutine; the hashing goroutines read the job state through
// mining.Client (safe for concurrent use) and the channel list under mu, and
// notice changes through gen and the changed channel.
type handler struct {
	m     *Miner
	retry backoff.Backoff // between reconnects (service goroutine only)

	state        atomic.Pointer[mining.Client] // replaced on every connection
	gen          atomic.Uint64                 // bumped whenever work may have changed
	fixedVersion atomic.Bool                   // the pool said REQUIRES_FIXED_VERSION

	mu       sync.Mutex
	channels []uint32
	changed  chan struct{} // closed when gen is bumped
}

var _ service.MiningClientHandler = (*handler)(nil)

func newHandler(m *Miner) *handler {
	h := &handler{m: m, changed: make(chan struct{}), retry: backoff.Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second}}
	h.state.Store(mining.NewClient())
	return h
}

// flags: a standard-channel miner asks for standard jobs, so every channel
// gets its own merkle root; version rolling is welcome but not required.
func (h *handler) flags() uint32 {
	if h.m.cfg.ChannelKind == Standard {
		return mining.FlagRequiresStandardJobs
	}
	return 0
}

// bump tells the hashing goroutines to look at their work again.
func (h *handler) bump() {
	h.mu.Lock()
	h.gen.Add(1)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// snapshot returns the work generation, the open channels and a channel
// closed at the next change.
func (h *handler) snapshot() (uint64, []uint32, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen.Load(), h.channels, h.changed
}

func (h *handler) channelList() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.channels
}

func (h *handler) setChannels(f func([]uint32) []uint32) {
	h.mu.Lock()
	h.channels = f(slices.Clone(h.channels))
	h.mu.Unlock()
	h.bump()
}

func (h *handler) Start(context.Context) ([]service.ClientEvent, error) { return nil, nil }

// Connected opens the configured channels, sharing the hashrate among them.
func (h *handler) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	h.retry.Reset()
	h.fixedVersion.Store(s.Flags&mining.FlagRequiresFixedVersion != 0)
	h.state.Store(mining.NewClient())
	h.setChannels(func([]uint32) []uint32 { return nil })
	cfg := h.m.cfg
	h.m.log.Info("connected to the pool", "address", s.Address, "authenticated", s.Handshake.Authenticated, "channels", cfg.Channels, "kind", cfg.ChannelKind)
	rate := float32(cfg.NominalHashrate / float64(cfg.Channels))
	maxTarget := target.Max()
	events := make([]service.ClientEvent, cfg.Channels)
	for i := range events {
		var msg sv2.Message = &sv2.OpenStandardMiningChannel{RequestID: uint32(i + 1), UserIdentity: cfg.User, NominalHashRate: rate, MaxTarget: maxTarget}
		if cfg.ChannelKind == Extended {
			msg = &sv2.OpenExtendedMiningChannel{RequestID: uint32(i + 1), UserIdentity: cfg.User, NominalHashRate: rate, MaxTarget: maxTarget, MinExtranonceSize: DefaultExtranonceSize}
		}
		events[i] = service.SendToServer{Protocol: sv2.ProtocolMining, Message: msg}
	}
	return events, nil
}

// Disconnected stops hashing on the lost jobs and reconnects with backoff.
func (h *handler) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	h.setChannels(func([]uint32) []uint32 { return nil })
	delay := h.retry.Next()
	h.m.log.Warn("pool connection lost; reconnecting", "error", err, "in", delay)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolMining, Delay: delay}}, nil
}

func (h *handler) HandleEvent(context.Context, any) ([]service.ClientEvent, error) { return nil, nil }

// apply updates the job state and wakes the hashing goroutines.
func (h *handler) apply(m sv2.Message) ([]service.ClientEvent, error) {
	if err := h.state.Load().Handle(m); err != nil {
		h.m.log.Warn("pool message does not fit our state", "message", sv2.Info(m).Name, "error", err)
	}
	h.bump()
	return nil, nil
}

func (h *handler) OpenStandardMiningChannelSuccess(_ context.Context, m *sv2.OpenStandardMiningChannelSuccess) ([]service.ClientEvent, error) {
	h.m.log.Info("channel open", "channel", m.ChannelID, "kind", "standard", "group", m.GroupChannelID)
	h.state.Load().Handle(m)
	h.setChannels(func(c []uint32) []uint32 { return append(c, m.ChannelID) })
	return nil, nil
}

func (h *handler) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	h.m.log.Info("channel open", "channel", m.ChannelID, "kind", "extended", "extranonce_size", m.ExtranonceSize, "group", m.GroupChannelID)
	h.state.Load().Handle(m)
	h.setChannels(func(c []uint32) []uint32 { return append(c, m.ChannelID) })
	return nil, nil
}

func (h *handler) OpenMiningChannelError(_ context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	h.m.log.Error("the pool refused a channel", "request", m.RequestID, "code", m.ErrorCode)
	return nil, nil
}

func (h *handler) UpdateChannelError(_ context.Context, m *sv2.UpdateChannelError) ([]service.ClientEvent, error) {
	h.m.log.Warn("the pool refused UpdateChannel", "channel", m.ChannelID, "code", m.ErrorCode)
	return nil, nil
}

func (h *handler) CloseChannel(_ context.Context, m *sv2.CloseChannel) ([]service.ClientEvent, error) {
	h.m.log.Warn("the pool closed a channel", "channel", m.ChannelID, "reason", m.ReasonCode)
	h.state.Load().Handle(m)
	h.setChannels(func(c []uint32) []uint32 {
		return slices.DeleteFunc(c, func(id uint32) bool { return id == m.ChannelID })
	})
	return nil, nil
}

func (h *handler) SetExtranoncePrefix(_ context.Context, m *sv2.SetExtranoncePrefix) ([]service.ClientEvent, error) {
	return h.apply(m)
}

func (h *handler) SubmitSharesSuccess(_ context.Context, m *sv2.SubmitSharesSuccess) ([]service.ClientEvent, error) {
	h.m.accepted.Add(uint64(m.NewSubmitsAcceptedCount))
	return nil, nil
}

func (h *handler) SubmitSharesError(_ context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	h.m.rejectedShare(m.ErrorCode)
	h.m.log.Debug("share rejected", "channel", m.ChannelID, "sequence", m.SequenceNumber, "code", m.ErrorCode)
	return nil, nil
}

func (h *handler) NewMiningJob(_ context.Context, m *sv2.NewMiningJob) ([]service.ClientEvent, error) {
	return h.apply(m)
}

func (h *handler) NewExtendedMiningJob(_ context.Context, m *sv2.NewExtendedMiningJob) ([]service.ClientEvent, error) {
	return h.apply(m)
}

func (h *handler) SetNewPrevHash(_ context.Context, m *sv2.SetNewPrevHash) ([]service.ClientEvent, error) {
	return h.apply(m)
}

func (h *handler) SetTarget(_ context.Context, m *sv2.SetTarget) ([]service.ClientEvent, error) {
	return h.apply(m)
}

func (h *handler) SetGroupChannel(_ context.Context, m *sv2.SetGroupChannel) ([]service.ClientEvent, error) {
	return h.apply(m)
}

// Custom jobs are a job declarator's business; a plain miner never asks for them.
func (h *handler) SetCustomMiningJobSuccess(_ context.Context, m *sv2.SetCustomMiningJobSuccess) ([]service.ClientEvent, error) {
	h.m.log.Warn("unexpected SetCustomMiningJob.Success", "channel", m.ChannelID)
	return nil, nil
}

func (h *handler) SetCustomMiningJobError(_ context.Context, m *sv2.SetCustomMiningJobError) ([]service.ClientEvent, error) {
	h.m.log.Warn("unexpected SetCustomMiningJob.Error", "channel", m.ChannelID, "code", m.ErrorCode)
	return nil, nil
}

func (h *handler) ChannelEndpointChanged(_ context.Context, m *sv2.ChannelEndpointChanged) ([]service.ClientEvent, error) {
	h.m.log.Info("channel endpoint changed", "channel", m.ChannelID)
	return nil, nil
}
