package jdc

import (
	"github.com/stratumgo/stratum/core/accounting"

	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// What the upstream side hands the devices' side, and back.
var (
	// coinbases carries whom the devices' jobs pay from now on: the pool
	// in use (with its extranonce lead) or the solo payout.
	coinbases  = service.NewTopic[coinbase.Config]("coinbase")
	templates  = service.NewTopic[*sv2.NewTemplate]("template")
	prevHashes = service.NewTopic[*sv2.TemplateSetNewPrevHash]("prev hash")
	retarget   = service.NewTopic[struct{}]("vardiff retarget")
	// shares carries accepted device shares to the upstream side.
	shares = service.NewTopic[*share]("share")
)

// share is an accepted device share, for the pool and, if it is one, the
// network.
type share struct {
	templateID         uint64
	hash               sv2.U256
	nonce, ntime, vers uint32
	extranonce         []byte // full: the upstream prefix, the device's prefix, its rolled bytes
	block              *mining.FoundBlock
	channel            uint32
	client             service.ClientID
}

// devices is the mining server handler for the miner's devices. The
// service calls it for one connection at a time on that connection's
// goroutine; what connections share (the mining server, the map from
// mining.Conn to client) has its lock.
type devices struct {
	j *JDC

	mu       sync.Mutex
	srv      *mining.Server
	byConn   map[*mining.Conn]service.ClientID
	bySource map[string]int // channels open per source address: one host may not take every extranonce index
	// accounts keeps the devices' work per user and channel, for monitoring.
	accounts *accounting.Accounts
}

// device is one connection's state.
type device struct {
	id       service.ClientID
	info     service.ClientInfo
	conn     *mining.Conn
	channels int // opened so far: one connection may not take every extranonce index
}

var _ service.MiningServerHandler = (*devices)(nil)

func (h *devices) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }

// Flags: standard jobs and version rolling; devices set no custom jobs.
func (h *devices) Flags(requested uint32) (success, unsupported uint32) {
	return 0, requested &^ (mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling)
}

func (h *devices) ClientAdded(ctx context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	service.SetClientState(ctx, &device{id: c.ID, info: c})
	return nil, nil
}

// source is a device connection's host, whose channels are counted together.
func source(d *device) string { return d.info.Source() }

// takeSource counts one more channel for the device's source, unless it
// has MaxChannelsPerSource already.
func (h *devices) takeSource(d *device) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySource[source(d)] >= h.j.cfg.MaxChannelsPerSource {
		return false
	}
	h.bySource[source(d)]++
	return true
}

func (h *devices) giveSource(d *device, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySource[source(d)] -= n; h.bySource[source(d)] <= 0 {
		delete(h.bySource, source(d))
	}
}

func (h *devices) ClientRemoved(ctx context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	h.accounts.CloseClient(c.ID)
	h.giveSource(d, d.channels)
	if d.conn != nil {
		h.mu.Lock()
		delete(h.byConn, d.conn)
		h.mu.Unlock()
		h.srv.RemoveConn(d.conn)
	}
	return nil, nil
}

// connOf makes the device's mining.Conn at its first channel.
func (h *devices) connOf(d *device) (*mining.Conn, error) {
	if d.conn != nil {
		return d.conn, nil
	}
	c, err := h.srv.NewConn(d.info.Setup.Flags)
	if err != nil {
		return nil, err
	}
	if d.info.AckEachShare { // a Stratum V1 device: each share is answered
		c.AckEachShare()
	}
	h.mu.Lock()
	h.byConn[c] = d.id
	h.mu.Unlock()
	d.conn = c
	return c, nil
}

func (h *devices) open(ctx context.Context, id service.ClientID, req uint32, user string, do func(*mining.Conn) ([]sv2.Message, error)) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if d.channels >= h.j.cfg.MaxChannelsPerConnection || !h.takeSource(d) {
		return send(id, &sv2.OpenMiningChannelError{RequestID: req, ErrorCode: mining.CodeChannelCapacityExhausted}), nil
	}
	c, err := h.connOf(d)
	if err != nil {
		return send(id, &sv2.OpenMiningChannelError{RequestID: req, ErrorCode: "not-ready"}), nil
	}
	msgs, err := do(c)
	if err == nil {
		d.channels++
	} else {
		h.giveSource(d, 1)
	}
	if oe, ok := errors.AsType[*mining.OpenError](err); ok {
		h.j.log.Info("device channel refused", "client", uint64(id), "code", oe.Code, "reason", oe.Err)
		return send(id, &sv2.OpenMiningChannelError{RequestID: req, ErrorCode: oe.Code}), nil
	}
	if err != nil {
		return nil, err
	}
	if ch, ok := mining.OpenedChannelID(msgs); ok {
		h.accounts.OpenDevice(accounting.ChannelKey{Client: id, Channel: ch}, user, h.j.now())
	}
	return send(id, msgs...), nil
}

func (h *devices) OpenStandardMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenStandardMiningChannel) ([]service.ServerEvent, error) {
	return h.open(ctx, id, m.RequestID, m.UserIdentity, func(c *mining.Conn) ([]sv2.Message, error) { return c.OpenStandardChannel(m) })
}

func (h *devices) OpenExtendedMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	return h.open(ctx, id, m.RequestID, m.UserIdentity, func(c *mining.Conn) ([]sv2.Message, error) { return c.OpenExtendedChannel(m) })
}

func (h *devices) UpdateChannel(ctx context.Context, id service.ClientID, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if d.conn == nil {
		return send(id, &sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	st, err := d.conn.UpdateChannel(m)
	if ue, ok := errors.AsType[*mining.UpdateError](err); ok {
		return send(id, &sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: ue.Code}), nil
	}
	if err != nil || st == nil {
		return nil, err
	}
	return send(id, st), nil
}

func (h *devices) CloseChannel(ctx context.Context, _ service.ClientID, m *sv2.CloseChannel) ([]service.ServerEvent, error) {
	// A member channel closed frees its count; a group's close is left
	// counted until the connection ends (its members are not listed here).
	d := service.ClientState(ctx).(*device)
	if d.conn == nil {
		return nil, nil
	}
	group := m.ChannelID == d.conn.GroupChannelID()
	if d.conn.CloseChannel(m.ChannelID) == nil && !group { // an unknown channel is nothing to close
		d.channels--
		h.giveSource(d, 1)
		h.accounts.CloseChannel(accounting.ChannelKey{Client: d.id, Channel: m.ChannelID})
	}
	return nil, nil
}

func (h *devices) SubmitSharesStandard(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesStandard) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if d.conn == nil {
		h.accounts.Share(accounting.ChannelKey{Client: id, Channel: m.ChannelID}, "", h.j.now(), false, 0, mining.CodeInvalidChannelID, false)
		return send(id, &sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	r := d.conn.SubmitStandard(m)
	return h.shared(id, m.ChannelID, m.SequenceNumber, m.Nonce, m.NTime, m.Version, nil, &r), nil
}

func (h *devices) SubmitSharesExtended(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if d.conn == nil {
		h.accounts.Share(accounting.ChannelKey{Client: id, Channel: m.ChannelID}, "", h.j.now(), false, 0, mining.CodeInvalidChannelID, false)
		return send(id, &sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	r := d.conn.SubmitExtended(m)
	return h.shared(id, m.ChannelID, m.SequenceNumber, m.Nonce, m.NTime, m.Version, m.Extranonce, &r), nil
}

// shared answers the device and hands an accepted share to the upstream
// side, which passes on those that meet the pool's target.
func (h *devices) shared(id service.ClientID, channel, seq, nonce, ntime, version uint32, ext []byte, r *mining.ShareResult) []service.ServerEvent {
	h.accounts.Share(accounting.ChannelKey{Client: id, Channel: channel}, "", h.j.now(), r.Status != mining.ShareRejected, r.Difficulty, r.Code, r.Status == mining.ShareBlockFound)
	var evs []service.ServerEvent
	// The device's answer first: a forward that fails (the upstream side
	// behind, its queue full) ends the events after it, and only the
	// share's credit upstream is lost, not the device's acknowledgement.
	if reply := r.Reply(channel, seq); reply != nil {
		evs = append(evs, service.SendToClient{Client: id, Message: reply})
	}
	if r.Status != mining.ShareRejected {
		full := append(append(make([]byte, 0, len(r.Prefix)+len(ext)), r.Prefix...), ext...)
		s := &share{templateID: r.TemplateID, hash: r.Hash, nonce: nonce, ntime: ntime, vers: version, extranonce: full,
			block: r.Block, channel: channel, client: id}
		if r.Block != nil {
			h.blockUp(s)
		} else {
			evs = append(evs, service.SendEventToSiblingClientService{Event: shares.Notify(sv2.ProtocolMining, s)})
		}
	}
	return evs
}

// blockUp hands a share that is a block to the upstream side waiting for
// room, not through the bounded sibling queue a share may be dropped
// from: a block is never dropped.
func (h *devices) blockUp(s *share) {
	ctx := h.j.runContext()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := h.j.client.HandleEvent(ctx, shares.Notify(sv2.ProtocolMining, s)); err != nil {
		// The template provider is still a way: the block is its template's.
		h.j.log.Error("a device's block could not be handed to the upstream side; submitting it through the template provider alone",
			"client", uint64(s.client), "channel", s.channel, "error", err)
		h.j.blocks.Found(s.block, s.hash, fmt.Sprintf("device %d channel %d (upstream side unavailable)", s.client, s.channel))
	}
}

func (h *devices) SetCustomMiningJob(_ context.Context, id service.ClientID, m *sv2.SetCustomMiningJob) ([]service.ServerEvent, error) {
	return send(id, &sv2.SetCustomMiningJobError{ChannelID: m.ChannelID, RequestID: m.RequestID, ErrorCode: mining.CodeJDNotSupported}), nil
}

// HandleEvent takes the mining server, templates and tips from the
// upstream side and pushes each device its jobs.
func (h *devices) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	srv := h.srv
	if cfg, ok := coinbases.Of(payload); ok {
		return h.route(srv.SetCoinbase(cfg))
	}
	if m, ok := templates.Of(payload); ok {
		return h.route(srv.NewTemplate(m))
	}
	if m, ok := prevHashes.Of(payload); ok {
		return h.route(srv.SetNewPrevHash(m))
	}
	return nil, fmt.Errorf("jdc: unexpected event %s", service.PayloadName(payload))
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
	return events, err
}

// HandleClientEvent retargets a device's channels (vardiff).
func (h *devices) HandleClientEvent(ctx context.Context, id service.ClientID, payload any) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	if _, ok := retarget.Of(payload); ok && d.conn != nil {
		return send(id, d.conn.UpdateTargets()...), nil
	}
	return nil, nil
}

func send(id service.ClientID, msgs ...sv2.Message) []service.ServerEvent {
	if len(msgs) == 0 {
		return nil
	}
	return []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}}
}
