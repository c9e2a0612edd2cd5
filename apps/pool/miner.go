package pool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// Error codes the pool sends besides core mining's.
const (
	CodeInvalidUserIdentity = "invalid-user-identity"
	// CodeJDNotSupported answers SetCustomMiningJob: this pool runs no job declarator.
	CodeJDNotSupported = mining.CodeJDNotSupported
)

// vardiffTick asks the mining handler to retarget every channel.
type vardiffTick struct{}

// miners is the pool's mining server handler. The server calls it
// concurrently for different clients and for template events from the
// sibling. mining.Server is safe for that; what it is not is ordering: a
// channel's Success and a template's new job for it must reach the client
// in the order the mining state made them. So every change to a client's
// mining state and the queueing of the messages it makes happen under that
// client's order lock, and messages are queued directly rather than returned
// as follow-ups.
type miners struct {
	p      *Pool
	server *mining.Server

	mu      sync.Mutex
	clients map[service.ClientID]*minerConn
}

// minerConn is one downstream connection.
type minerConn struct {
	id    service.ClientID
	info  service.ClientInfo
	order sync.Mutex // held while changing conn and queueing what that produced

	conn   *mining.Conn        // made at the first channel, when a solo payout is known; written under order and the handler's mu
	solo   []byte              // the solo payout script of this connection
	opened map[uint32]struct{} // the channels open on this connection
}

var _ service.MiningServerHandler = (*miners)(nil)

func (h *miners) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }

// Flags: standard jobs and version rolling are served; work selection
// (custom jobs) needs a job declarator, which this pool does not run yet.
func (h *miners) Flags(requested uint32) (success, unsupported uint32) {
	supported := mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling
	if h.p.cfg.FixedVersion {
		supported &^= mining.FlagRequiresVersionRolling
		success |= mining.FlagRequiresFixedVersion
	}
	return success, requested &^ supported
}

func (h *miners) ClientAdded(_ context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c.ID] = &minerConn{id: c.ID, info: c, opened: map[uint32]struct{}{}}
	return nil, nil
}

func (h *miners) ClientRemoved(_ context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	// Not under mc.order: a removal can start inside a queueing that holds
	// it (a client too slow to read), so mc.conn is also guarded by h.mu.
	h.mu.Lock()
	var conn *mining.Conn
	if mc := h.clients[c.ID]; mc != nil {
		conn = mc.conn
	}
	delete(h.clients, c.ID)
	h.mu.Unlock()
	if conn != nil {
		h.server.RemoveConn(conn)
	}
	h.p.accounts.closeClient(c.ID)
	return nil, nil
}

func (h *miners) client(id service.ClientID) *minerConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clients[id]
}

// under runs f with the client's order lock held and queues the messages it
// returns before releasing it.
func (h *miners) under(ctx context.Context, id service.ClientID, f func(mc *minerConn) ([]sv2.Message, error)) ([]service.ServerEvent, error) {
	mc := h.client(id)
	if mc == nil {
		return nil, errors.New("pool: client not set up")
	}
	mc.order.Lock()
	defer mc.order.Unlock()
	msgs, err := f(mc)
	h.queue(ctx, id, msgs)
	return nil, err
}

// queue hands messages to the service for one client, in order.
func (h *miners) queue(ctx context.Context, id service.ClientID, msgs []sv2.Message) {
	for _, m := range msgs {
		if err := h.p.server.HandleEvent(ctx, service.SendToClient{Client: id, Message: m}); err != nil {
			h.p.log.Warn("queueing a message", "client", uint64(id), "message", sv2.Info(m).Name, "error", err)
		}
	}
}

// admit checks a channel request against the connection's channel limit,
// then makes sure the connection has its mining.Conn. mc.order is held.
func (h *miners) admit(mc *minerConn, identity string) (string, error) {
	if len(mc.opened) >= h.p.cfg.MaxChannelsPerConnection {
		return mining.CodeChannelCapacityExhausted, fmt.Errorf("pool: connection already has %d channels", len(mc.opened))
	}
	return h.ensureConn(mc, identity)
}

// ensureConn makes the client's mining.Conn on its first channel, with the
// coinbase that pays the identity in solo mode. It returns an
// OpenMiningChannel.Error code when the identity is refused. mc.order is held.
func (h *miners) ensureConn(mc *minerConn, identity string) (string, error) {
	var solo []byte
	if h.p.cfg.Solo {
		script, err := soloAddress(identity, h.p.net)
		if err != nil {
			return CodeInvalidUserIdentity, err
		}
		if mc.conn != nil && string(script) != string(mc.solo) {
			return CodeInvalidUserIdentity, fmt.Errorf("pool: one connection mines for one solo address (%x), not %x", mc.solo, script)
		}
		solo = script
	}
	if mc.conn != nil {
		return "", nil
	}
	var cb *coinbase.Config
	if solo != nil {
		cb = &coinbase.Config{Outputs: []*wire.TxOut{wire.NewTxOut(0, solo)}, Tag: []byte(h.p.cfg.Tag)}
	}
	c, err := h.server.NewConnWithCoinbase(mc.info.Setup.Flags, cb)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	mc.conn, mc.solo = c, solo
	h.mu.Unlock()
	return "", nil
}

func (h *miners) OpenStandardMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenStandardMiningChannel) ([]service.ServerEvent, error) {
	return h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if code, err := h.admit(mc, m.UserIdentity); err != nil {
			return h.refuse(id, m.RequestID, code, err)
		}
		msgs, err := mc.conn.OpenStandardChannel(m)
		return h.opened(mc, m.RequestID, m.UserIdentity, msgs, err)
	})
}

func (h *miners) OpenExtendedMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	return h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if code, err := h.admit(mc, m.UserIdentity); err != nil {
			return h.refuse(id, m.RequestID, code, err)
		}
		msgs, err := mc.conn.OpenExtendedChannel(m)
		return h.opened(mc, m.RequestID, m.UserIdentity, msgs, err)
	})
}

// refuse answers a channel request with OpenMiningChannel.Error; an error
// without a code is the handler's own failure and closes the client.
func (h *miners) refuse(id service.ClientID, req uint32, code string, err error) ([]sv2.Message, error) {
	if code == "" {
		return nil, err
	}
	h.p.log.Info("channel refused", "client", uint64(id), "code", code, "reason", err)
	return []sv2.Message{&sv2.OpenMiningChannelError{RequestID: req, ErrorCode: code}}, nil
}

func (h *miners) opened(mc *minerConn, req uint32, user string, msgs []sv2.Message, err error) ([]sv2.Message, error) {
	if oe, ok := errors.AsType[*mining.OpenError](err); ok {
		return h.refuse(mc.id, req, oe.Code, oe)
	}
	if err != nil {
		return nil, err
	}
	var channel uint32
	switch s := msgs[0].(type) {
	case *sv2.OpenStandardMiningChannelSuccess:
		channel = s.ChannelID
	case *sv2.OpenExtendedMiningChannelSuccess:
		channel = s.ChannelID
	}
	mc.opened[channel] = struct{}{}
	h.p.accounts.openChannel(ChannelKey{mc.id, channel}, user, h.p.now())
	h.p.log.Info("channel opened", "client", uint64(mc.id), "channel", channel, "user", user)
	return msgs, nil
}

func (h *miners) UpdateChannel(ctx context.Context, id service.ClientID, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	return h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if mc.conn == nil {
			return []sv2.Message{&sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: mining.CodeInvalidChannelID}}, nil
		}
		st, err := mc.conn.UpdateChannel(m)
		if ue, ok := errors.AsType[*mining.UpdateError](err); ok {
			return []sv2.Message{&sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: ue.Code}}, nil
		}
		if err != nil || st == nil {
			return nil, err
		}
		return []sv2.Message{st}, nil
	})
}

func (h *miners) CloseChannel(ctx context.Context, id service.ClientID, m *sv2.CloseChannel) ([]service.ServerEvent, error) {
	return h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if mc.conn == nil {
			return nil, nil
		}
		// Closing the group channel closes every member; each closed
		// channel's partial batch is acknowledged first.
		group := m.ChannelID == mc.conn.GroupChannelID()
		var msgs []sv2.Message
		for ch := range mc.opened {
			if !group && ch != m.ChannelID {
				continue
			}
			if ack, ok := mc.conn.FlushAck(ch); ok {
				msgs = append(msgs, ack)
			}
			delete(mc.opened, ch)
			h.p.accounts.closeChannel(ChannelKey{id, ch})
		}
		if err := mc.conn.CloseChannel(m.ChannelID); err != nil {
			h.p.log.Debug("CloseChannel for an unknown channel", "client", uint64(id), "channel", m.ChannelID)
		}
		return msgs, nil
	})
}

// closeChannel closes a channel from the pool's side: the pending
// acknowledgement, then CloseChannel to the miner (§5.3.9).
func (h *miners) closeChannel(ctx context.Context, id service.ClientID, channel uint32, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	_, err := h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if _, ok := mc.opened[channel]; !ok || mc.conn == nil {
			return nil, fmt.Errorf("pool: client %d has no channel %d", id, channel)
		}
		var msgs []sv2.Message
		if ack, ok := mc.conn.FlushAck(channel); ok {
			msgs = append(msgs, ack)
		}
		if err := mc.conn.CloseChannel(channel); err != nil {
			return nil, err
		}
		delete(mc.opened, channel)
		h.p.accounts.closeChannel(ChannelKey{id, channel})
		h.p.log.Info("channel closed by the pool", "client", uint64(id), "channel", channel, "reason", reason)
		return append(msgs, &sv2.CloseChannel{ChannelID: channel, ReasonCode: reason}), nil
	})
	return err
}

// checkReason refuses a reason_code that would not reach the miner: it is a
// STR0_255 of printable ASCII (§3.5).
func checkReason(r string) error {
	if len(r) > sv2.MaxStr0_255 {
		return fmt.Errorf("pool: reason code of %d bytes, at most %d", len(r), sv2.MaxStr0_255)
	}
	for i := range len(r) {
		if r[i] < 0x20 || r[i] > 0x7e {
			return fmt.Errorf("pool: reason code %q: printable ASCII only", r)
		}
	}
	return nil
}

func (h *miners) SubmitSharesStandard(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesStandard) ([]service.ServerEvent, error) {
	return h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if mc.conn == nil {
			return []sv2.Message{&sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}}, nil
		}
		r := mc.conn.SubmitStandard(m)
		return h.shareResult(id, m.ChannelID, m.SequenceNumber, &r), nil
	})
}

func (h *miners) SubmitSharesExtended(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	return h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
		if mc.conn == nil {
			return []sv2.Message{&sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}}, nil
		}
		r := mc.conn.SubmitExtended(m)
		return h.shareResult(id, m.ChannelID, m.SequenceNumber, &r), nil
	})
}

// shareResult accounts a share, hands a found block on, and answers the miner.
func (h *miners) shareResult(id service.ClientID, channel, seq uint32, r *mining.ShareResult) []sv2.Message {
	found := r.Status == mining.ShareBlockFound
	user := h.p.accounts.share(ChannelKey{id, channel}, h.p.now(), r.Status != mining.ShareRejected, r.Difficulty, r.Code, found)
	if found {
		h.p.blocks.found(r.Block, r.Hash, fmt.Sprintf("client %d channel %d user %q", id, channel, user))
	}
	if reply := r.Reply(channel, seq); reply != nil {
		return []sv2.Message{reply}
	}
	return nil
}

func (h *miners) SetCustomMiningJob(_ context.Context, id service.ClientID, m *sv2.SetCustomMiningJob) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: id, Message: &sv2.SetCustomMiningJobError{
		ChannelID: m.ChannelID, RequestID: m.RequestID, ErrorCode: CodeJDNotSupported}}}, nil
}

// HandleEvent takes templates and prev hashes from the template-distribution
// side, and vardiff ticks.
func (h *miners) HandleEvent(ctx context.Context, payload any) ([]service.ServerEvent, error) {
	switch m := payload.(type) {
	case *sv2.NewTemplate:
		return nil, h.fanOut(ctx, func() ([]mining.Outbound, error) { return h.server.NewTemplate(m) })
	case *sv2.TemplateSetNewPrevHash:
		return nil, h.fanOut(ctx, func() ([]mining.Outbound, error) { return h.server.SetNewPrevHash(m) })
	case vardiffTick:
		h.retarget(ctx)
		return nil, nil
	}
	return nil, fmt.Errorf("pool: unexpected event %T", payload)
}

// fanOut applies a template change to every connection and queues the
// results with every client's order lock held, so no channel opening or
// share reply interleaves with it.
func (h *miners) fanOut(ctx context.Context, change func() ([]mining.Outbound, error)) error {
	h.mu.Lock()
	all := make([]*minerConn, 0, len(h.clients))
	for _, mc := range h.clients {
		all = append(all, mc)
	}
	h.mu.Unlock()
	slices.SortFunc(all, func(a, b *minerConn) int { return cmp.Compare(a.id, b.id) }) // one lock order
	for _, mc := range all {
		mc.order.Lock()
	}
	defer func() {
		for _, mc := range all {
			mc.order.Unlock()
		}
	}()
	outs, err := change()
	byConn := make(map[*mining.Conn]service.ClientID, len(all))
	for _, mc := range all {
		if mc.conn != nil {
			byConn[mc.conn] = mc.id
		}
	}
	for _, o := range outs {
		if id, ok := byConn[o.Conn]; ok {
			h.queue(ctx, id, o.Messages)
		}
	}
	return err
}

// retarget runs vardiff on every connection and sends the new targets.
func (h *miners) retarget(ctx context.Context) {
	h.mu.Lock()
	ids := make([]service.ClientID, 0, len(h.clients))
	for id := range h.clients {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.under(ctx, id, func(mc *minerConn) ([]sv2.Message, error) {
			if mc.conn == nil {
				return nil, nil
			}
			return mc.conn.UpdateTargets(), nil
		})
	}
}
