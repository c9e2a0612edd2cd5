package proxy

import (
	"github.com/stratumgo/stratum/core/accounting"

	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// What the upstream side hands the devices' side, and back.
var (
	retarget = service.NewTopic[struct{}]("vardiff retarget")
	// shares carries the device shares that meet their lane's upstream
	// target to the upstream side.
	shares = service.NewTopic[*share]("share")
)

// laneJob and lanePrev are an upstream job and tip for one lane's devices.
type (
	laneJob struct {
		srv    *mining.Server
		job    mining.UpstreamJob
		handed int64 // upstream.handed with this job
	}
	lanePrev struct {
		srv  *mining.Server
		prev *sv2.TemplateSetNewPrevHash
	}
	// hashrates are the devices' total nominal hashrates, per lane.
	hashrates []float64
)

// share is an accepted device share for the upstream.
type share struct {
	templateID   uint64
	nonce, ntime uint32
	version      uint32
	extranonce   []byte // the device's full extranonce: its channel's prefix and its rolled bytes
	block        bool
	channel      uint32
	client       service.ClientID
}

// devices is the mining server handler for the devices. The service calls
// it for one connection at a time on that connection's goroutine; what
// connections share has its lock.
type devices struct {
	p *Proxy

	mu       sync.Mutex
	lanes    []*mining.Server // one per upstream channel, made by layout
	channels []int            // device channels per lane
	hashrate []float64        // their nominal hashrate per lane
	byConn   map[*mining.Conn]service.ClientID
	bySource map[string]int      // channels open per source address
	ptOpens  map[string]*ptOpens // passthrough: upstream channel requests left per source
	// held counts, per source address, the channels closed on this tip
	// after a share was accepted: their extranonce indexes are reused only
	// from the next tip (mining.Conn.CloseChannel), so they count against
	// MaxChannelsPerSource until then.
	held map[string]int

	// accounts keeps the devices' work per user and channel, for
	// monitoring: what the proxy validated, before any of it goes up.
	accounts *accounting.Accounts

	connected, removed atomic.Int64 // device connections now, and ended
	// taken is the laneJob.handed of the last job taken: how far the
	// upstream side's jobs have come (one lost on the way counts too).
	taken atomic.Int64
}

// device is one connection's state.
type device struct {
	id       service.ClientID
	info     service.ClientInfo
	conn     *mining.Conn
	lane     int
	hashrate map[uint32]float32 // by channel

	// Passthrough mode: the device's channels, those on their way, and the
	// ids the lanes' Conns share.
	pt        map[uint32]*ptChannel
	ptPending int
	ids       mining.ChannelIDs
}

var _ service.MiningServerHandler = (*devices)(nil)

func newDevices(p *Proxy) *devices {
	return &devices{p: p, accounts: accounting.New(accounting.Config{}), byConn: map[*mining.Conn]service.ClientID{}, bySource: map[string]int{}, held: map[string]int{}, ptOpens: map[string]*ptOpens{}}
}

// layout makes the lanes' mining servers once the devices' full extranonce
// is known: ChannelIndexSize bytes of channel index and the rest to roll.
func (h *devices) layout(full int) ([]*mining.Server, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lanes != nil {
		return h.lanes, nil
	}
	var lanes []*mining.Server
	for range h.p.cfg.UpstreamChannels {
		ms, err := h.p.cfg.laneServer(h.p.cfg.ChannelIndexSize, full)
		if err != nil {
			return nil, err
		}
		lanes = append(lanes, ms)
	}
	h.lanes, h.channels, h.hashrate = lanes, make([]int, len(lanes)), make([]float64, len(lanes))
	return lanes, nil
}

// laneServer makes the mining server that lays out a lane's jobs for its
// devices: indexSize bytes of channel index in a full extranonce of full.
func (cfg *Config) laneServer(indexSize, full int) (*mining.Server, error) {
	alloc, err := extranonce.New(extranonce.Config{IndexSize: indexSize, RollableSize: full - indexSize})
	if err != nil {
		return nil, err
	}
	vd := vardiff.Config{SharesPerMinute: cfg.SharesPerMinute}
	// The jobs' coinbases are the upstream's (Server.NewUpstreamJob): the
	// configured outputs are never used.
	return mining.NewServer(mining.ServerConfig{
		Coinbase:   coinbase.Config{Outputs: []*wire.TxOut{{PkScript: []byte{txscript.OP_RETURN}}}},
		Extranonce: alloc, SharesPerMinute: cfg.SharesPerMinute, Vardiff: &vd, MinShareDifficulty: cfg.MinShareDifficulty,
		ShareBatchSize: cfg.ShareBatchSize, ChannelOpenBurst: cfg.MaxChannelsPerConnection,
	})
}

func (h *devices) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }

// Flags: standard jobs and version rolling; devices set no custom jobs.
func (h *devices) Flags(requested uint32) (success, unsupported uint32) {
	return 0, requested &^ (mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling)
}

func (h *devices) ClientAdded(ctx context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	service.SetClientState(ctx, &device{id: c.ID, info: c, hashrate: map[uint32]float32{}, pt: map[uint32]*ptChannel{}})
	h.connected.Add(1)
	return nil, nil
}

// source is a device connection's host, whose channels are counted together.
func source(d *device) string { return d.info.Source() }

func (h *devices) ClientRemoved(ctx context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	h.connected.Add(-1)
	h.removed.Add(1)
	defer h.accounts.CloseClient(c.ID)
	if h.p.cfg.Mode == ModePassthrough {
		return h.ptRemoved(d), nil
	}
	if d.conn == nil {
		return nil, nil
	}
	held := h.credited(d, d.hashrate)
	h.mu.Lock()
	h.forget(d, len(d.hashrate))
	if held > 0 {
		h.held[source(d)] += held
	}
	for ch := range d.hashrate {
		h.hashrate[d.lane] -= float64(d.hashrate[ch])
	}
	delete(h.byConn, d.conn)
	srv := h.lanes[d.lane]
	h.mu.Unlock()
	srv.RemoveConn(d.conn)
	return nil, nil
}

// forget gives back n channels of d's; h.mu is held.
func (h *devices) forget(d *device, n int) {
	h.channels[d.lane] -= n
	if h.bySource[source(d)] -= n; h.bySource[source(d)] <= 0 {
		delete(h.bySource, source(d))
	}
}

// credited counts the channels of d among chs that accepted a share on
// this tip: closed, their indexes are held until the next
// (mining.Conn.Credited). It is asked before they close.
func (h *devices) credited(d *device, chs map[uint32]float32) int {
	n := 0
	for ch := range chs {
		if d.conn.Credited(ch) {
			n++
		}
	}
	return n
}

// errNotReady refuses channels before the upstream's first channel.
var errNotReady = errors.New("proxy: no upstream channel yet")

// take counts one more channel for d, on the lane with the fewest if d
// has none yet, unless d or its source has its most already.
func (h *devices) take(d *device) (*mining.Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lanes == nil {
		return nil, errNotReady
	}
	cfg := &h.p.cfg
	if len(d.hashrate) >= cfg.MaxChannelsPerConnection || h.bySource[source(d)]+h.held[source(d)] >= cfg.MaxChannelsPerSource {
		return nil, extranonce.ErrExhausted
	}
	if d.conn == nil {
		best := 0
		for i, n := range h.channels {
			if n < h.channels[best] {
				best = i
			}
		}
		c, err := h.lanes[best].NewConn(d.info.Setup.Flags)
		if err != nil {
			return nil, err
		}
		if d.info.AckEachShare { // a Stratum V1 device: each share is answered
			c.AckEachShare()
		}
		d.conn, d.lane = c, best
		h.byConn[c] = d.id
	}
	h.channels[d.lane]++
	h.bySource[source(d)]++
	return d.conn, nil
}

func (h *devices) open(ctx context.Context, id service.ClientID, req uint32, user string, hashrate float32, do func(*mining.Conn) ([]sv2.Message, error)) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	c, err := h.take(d)
	if err != nil {
		code := mining.CodeChannelCapacityExhausted
		if errors.Is(err, errNotReady) {
			code = "not-ready"
		}
		return send(id, &sv2.OpenMiningChannelError{RequestID: req, ErrorCode: code}), nil
	}
	msgs, err := do(c)
	if err != nil {
		h.mu.Lock()
		h.forget(d, 1)
		h.mu.Unlock()
	}
	if oe, ok := errors.AsType[*mining.OpenError](err); ok {
		h.p.log.Info("device channel refused", "client", uint64(id), "code", oe.Code, "reason", oe.Err)
		return send(id, &sv2.OpenMiningChannelError{RequestID: req, ErrorCode: oe.Code}), nil
	}
	if err != nil {
		return nil, err
	}
	ch, _ := mining.OpenedChannelID(msgs) // a success: the open did not fail
	h.accounts.OpenDevice(accounting.ChannelKey{Client: id, Channel: ch}, user, h.p.now())
	h.mu.Lock()
	d.hashrate[ch] = hashrate
	h.hashrate[d.lane] += float64(hashrate)
	h.mu.Unlock()
	return send(id, msgs...), nil
}

func (h *devices) OpenStandardMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenStandardMiningChannel) ([]service.ServerEvent, error) {
	if h.p.cfg.Mode == ModePassthrough {
		return h.ptOpenChannel(ctx, id, m)
	}
	return h.open(ctx, id, m.RequestID, m.UserIdentity, m.NominalHashRate, func(c *mining.Conn) ([]sv2.Message, error) { return c.OpenStandardChannel(m) })
}

func (h *devices) OpenExtendedMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	if h.p.cfg.Mode == ModePassthrough {
		return h.ptOpenChannel(ctx, id, m)
	}
	return h.open(ctx, id, m.RequestID, m.UserIdentity, m.NominalHashRate, func(c *mining.Conn) ([]sv2.Message, error) { return c.OpenExtendedChannel(m) })
}

func (h *devices) UpdateChannel(ctx context.Context, id service.ClientID, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if h.p.cfg.Mode == ModePassthrough {
		return h.ptUpdateChannel(d, m)
	}
	if d.conn == nil {
		return send(id, &sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	st, err := d.conn.UpdateChannel(m)
	if ue, ok := errors.AsType[*mining.UpdateError](err); ok {
		return send(id, &sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: ue.Code}), nil
	}
	if err != nil {
		return nil, err
	}
	if old, ok := d.hashrate[m.ChannelID]; ok {
		h.mu.Lock()
		h.hashrate[d.lane] += float64(m.NominalHashRate) - float64(old)
		d.hashrate[m.ChannelID] = m.NominalHashRate
		h.mu.Unlock()
	}
	if st == nil {
		return nil, nil
	}
	return send(id, st), nil
}

func (h *devices) CloseChannel(ctx context.Context, _ service.ClientID, m *sv2.CloseChannel) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if h.p.cfg.Mode == ModePassthrough {
		if pc := d.pt[m.ChannelID]; pc != nil {
			return h.ptCloseChannel(d, m.ChannelID), nil
		}
		var evs []service.ServerEvent // a group id: the group's channels
		for ch, pc := range d.pt {
			if pc.conn.GroupChannelID() == m.ChannelID {
				evs = append(evs, h.ptCloseChannel(d, ch)...)
			}
		}
		return evs, nil
	}
	if d.conn == nil {
		return nil, nil
	}
	closed := map[uint32]float32{}
	if m.ChannelID == d.conn.GroupChannelID() { // the group's close closes its members
		closed = d.hashrate
	} else if hr, ok := d.hashrate[m.ChannelID]; ok {
		closed[m.ChannelID] = hr
	}
	held := h.credited(d, closed)
	if d.conn.CloseChannel(m.ChannelID) != nil {
		return nil, nil // an unknown channel is nothing to close
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if held > 0 {
		h.held[source(d)] += held
	}
	for ch, hr := range closed {
		h.hashrate[d.lane] -= float64(hr)
		delete(d.hashrate, ch)
		h.forget(d, 1)
		h.accounts.CloseChannel(accounting.ChannelKey{Client: d.id, Channel: ch})
	}
	return nil, nil
}

func (h *devices) SubmitSharesStandard(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesStandard) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	conn, l := h.channelOf(d, m.ChannelID)
	if conn == nil {
		h.accounts.Share(accounting.ChannelKey{Client: id, Channel: m.ChannelID}, "", h.p.now(), false, 0, mining.CodeInvalidChannelID, false)
		return send(id, &sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	r := conn.SubmitStandard(m)
	return h.shared(d, l, m.ChannelID, m.SequenceNumber, m.Nonce, m.NTime, m.Version, nil, &r), nil
}

func (h *devices) SubmitSharesExtended(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	conn, l := h.channelOf(d, m.ChannelID)
	if conn == nil {
		h.accounts.Share(accounting.ChannelKey{Client: id, Channel: m.ChannelID}, "", h.p.now(), false, 0, mining.CodeInvalidChannelID, false)
		return send(id, &sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	r := conn.SubmitExtended(m)
	return h.shared(d, l, m.ChannelID, m.SequenceNumber, m.Nonce, m.NTime, m.Version, m.Extranonce, &r), nil
}

// shared answers the device and hands an accepted share that meets its
// lane's upstream target to the upstream side; the others stay here.
// channelOf is the mining.Conn a device's channel is on, and its lane.
func (h *devices) channelOf(d *device, channel uint32) (*mining.Conn, *lane) {
	if pc := d.pt[channel]; pc != nil {
		return pc.conn, pc.lane
	}
	if d.conn == nil {
		return nil, nil
	}
	return d.conn, h.p.up.lanes[d.lane]
}

func (h *devices) shared(d *device, l *lane, channel, seq, nonce, ntime, version uint32, ext []byte, r *mining.ShareResult) []service.ServerEvent {
	var evs []service.ServerEvent
	var fwd service.ServerEvent
	h.accounts.Share(accounting.ChannelKey{Client: d.id, Channel: channel}, "", h.p.now(), r.Status != mining.ShareRejected, r.Difficulty, r.Code, r.Status == mining.ShareBlockFound)
	if r.Status != mining.ShareRejected {
		up := l.share.Load()
		block := r.Status == mining.ShareBlockFound
		if block || (up != nil && target.Meets(&r.Hash, up)) {
			full := append(append(make([]byte, 0, len(r.Prefix)+len(ext)), r.Prefix...), ext...)
			s := &share{templateID: r.TemplateID, nonce: nonce, ntime: ntime, version: version, extranonce: full,
				block: block, channel: channel, client: d.id}
			if block {
				h.blockUp(s)
			} else {
				fwd = service.SendEventToSiblingClientService{Event: shares.Notify(sv2.ProtocolMining, s)}
			}
		}
	}
	// The device's answer first: a forward that fails (the upstream side
	// behind, its queue full) ends the events after it, and the share's
	// credit upstream is lost, not the device's acknowledgement.
	if reply := r.Reply(channel, seq); reply != nil {
		evs = append(evs, service.SendToClient{Client: d.id, Message: reply})
	}
	if fwd != nil {
		evs = append(evs, fwd)
	}
	return evs
}

// blockUp hands a share that is a block to the upstream side waiting for
// room, not through the bounded sibling queue a share may be dropped
// from: a block is never dropped.
func (h *devices) blockUp(s *share) {
	ctx := h.p.runContext()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := h.p.client.HandleEvent(ctx, shares.Notify(sv2.ProtocolMining, s)); err != nil {
		h.p.log.Error("BLOCK LOST: a device's block could not be handed to the upstream side", "client", uint64(s.client), "channel", s.channel, "error", err)
	}
}

func (h *devices) SetCustomMiningJob(_ context.Context, id service.ClientID, m *sv2.SetCustomMiningJob) ([]service.ServerEvent, error) {
	return send(id, &sv2.SetCustomMiningJobError{ChannelID: m.ChannelID, RequestID: m.RequestID, ErrorCode: mining.CodeJDNotSupported}), nil
}

// HandleEvent takes a lane's upstream jobs and tips and pushes each device
// its jobs.
func (h *devices) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	switch v := payload.(type) {
	case laneJob:
		outs, err := v.srv.NewUpstreamJob(v.job)
		h.taken.Store(v.handed)
		if errors.Is(err, mining.ErrNoTip) { // a non-future job before any tip: the next prev hash brings one
			err = nil
		}
		return h.route(outs, err)
	case lanePrev:
		outs, err := v.srv.SetNewPrevHash(v.prev)
		if err == nil { // the indexes held by closed channels are free again
			h.mu.Lock()
			clear(h.held)
			h.mu.Unlock()
		}
		return h.route(outs, err)
	}
	return nil, fmt.Errorf("proxy: unexpected event %s", service.PayloadName(payload))
}

func (h *devices) route(outs []mining.Outbound, err error) ([]service.ServerEvent, error) {
	events := make([]service.ServerEvent, 0, len(outs))
	h.mu.Lock()
	for _, o := range outs {
		if id, ok := h.byConn[o.Conn]; ok {
			events = append(events, service.SendMessagesToClient{Client: id, Messages: o.Messages})
		}
	}
	h.mu.Unlock()
	if err != nil {
		h.p.log.Warn("upstream job not given to the devices", "error", err)
	}
	return events, nil
}

// HandleClientEvent retargets a device's channels (vardiff).
func (h *devices) HandleClientEvent(ctx context.Context, id service.ClientID, payload any) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if evs, ok := h.ptEvent(d, payload); ok {
		return evs, nil
	}
	if _, ok := retarget.Of(payload); ok {
		var msgs []sv2.Message
		if d.conn != nil {
			msgs = d.conn.UpdateTargets()
		}
		for _, pc := range d.pt {
			msgs = append(msgs, pc.conn.UpdateTargets()...)
		}
		return send(id, msgs...), nil
	}
	return nil, nil
}

// totals are the devices' nominal hashrates per lane.
func (h *devices) totals() hashrates {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(hashrates(nil), h.hashrate...)
}

func send(id service.ClientID, msgs ...sv2.Message) []service.ServerEvent {
	if len(msgs) == 0 {
		return nil
	}
	return []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}}
}
