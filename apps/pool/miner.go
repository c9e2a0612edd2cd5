package pool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

// Error codes the pool sends besides core mining's.
const (
	CodeInvalidUserIdentity = "invalid-user-identity"
	// CodeJDNotSupported answers SetCustomMiningJob without Config.JobDeclaration.
	CodeJDNotSupported = mining.CodeJDNotSupported
)

// What the pool pushes to each connection's goroutine (HandleClientEvent):
// a vardiff retarget of its channels (to every connection, NotifyAll, on
// the vardiff ticker), a channel closed by the pool (Pool.CloseChannel),
// and a barrier, closed once everything pushed before it was carried out
// (for callers that must see a push's effect: tests, mostly).
var (
	retarget = service.NewTopic[struct{}]("vardiff retarget")
	closing  = service.NewTopic[closeRequest]("channel closed by the pool")
	barrier  = service.NewTopic[chan struct{}]("barrier")
	// coinbaseUpdates carry the coinbase of the window (Ledger.Coinbase).
	coinbaseUpdates = service.NewTopic[coinbaseUpdate]("coinbase update")
)

// closeRequest closes one channel from the pool's side.
type closeRequest struct {
	channel uint32
	reason  string
	done    chan error
}

// miners is the pool's mining server handler. The service calls it for one
// connection at a time on that connection's goroutine (its messages, and
// the vardiff ticks and close requests pushed to it), and with templates on
// the sibling's goroutine. So a connection's minerConn needs no lock, and
// neither does the order of what it is sent: a template's jobs are pushed
// to each connection and follow whatever its own handler calls queued.
// What all connections share — mining.Server, the accounts, the map from
// mining.Conn to client — has its own lock.
type miners struct {
	p      *Pool
	server *mining.Server

	mu      sync.Mutex
	clients map[service.ClientID]*minerConn
	byConn  map[*mining.Conn]service.ClientID // for routing a template's jobs

	open atomic.Int64 // channels open pool-wide, for MaxChannels
}

// minerConn is one downstream connection, kept as its service client state.
type minerConn struct {
	id   service.ClientID
	info service.ClientInfo

	conn   *mining.Conn        // made at the first channel, when a solo payout is known; written under the handler's mu
	solo   []byte              // the solo payout script of this connection
	opened map[uint32]struct{} // the channels open on this connection
	gone   chan struct{}       // closed in ClientRemoved, for requests waiting on this connection
}

var (
	_ service.MiningServerHandler = (*miners)(nil)
	_ service.StopHandler         = (*miners)(nil)
)

func (h *miners) Start(context.Context) ([]service.ServerEvent, error) { return nil, nil }

// Flags: standard jobs and version rolling are served, and work selection
// (custom jobs) with Config.JobDeclaration.
func (h *miners) Flags(requested uint32) (success, unsupported uint32) {
	supported := mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling
	if h.p.cfg.JobDeclaration != nil {
		supported |= mining.FlagRequiresWorkSelection
	}
	if h.p.cfg.FixedVersion {
		supported &^= mining.FlagRequiresVersionRolling
		success |= mining.FlagRequiresFixedVersion
	}
	return success, requested &^ supported
}

func (h *miners) ClientAdded(ctx context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	mc := &minerConn{id: c.ID, info: c, opened: map[uint32]struct{}{}, gone: make(chan struct{})}
	service.SetClientState(ctx, mc)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c.ID] = mc
	return nil, nil
}

func (h *miners) ClientRemoved(ctx context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	mc := state(ctx)
	h.mu.Lock()
	delete(h.clients, c.ID)
	if mc.conn != nil {
		delete(h.byConn, mc.conn)
	}
	h.mu.Unlock()
	h.open.Add(-int64(len(mc.opened)))
	if mc.conn != nil {
		h.server.RemoveConn(mc.conn)
	}
	h.p.accounts.CloseClient(c.ID)
	close(mc.gone)
	return nil, nil
}

// ClientStopping acknowledges every channel's pending shares and closes the
// channels with a reason, before the pool shuts the connection.
func (h *miners) ClientStopping(ctx context.Context, c service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	mc := state(ctx)
	if mc.conn == nil {
		return nil, nil
	}
	var msgs []sv2.Message
	for _, ch := range slices.Sorted(maps.Keys(mc.opened)) {
		if ack, ok := mc.conn.FlushAck(ch); ok {
			msgs = append(msgs, ack)
		}
		msgs = append(msgs, &sv2.CloseChannel{ChannelID: ch, ReasonCode: CodeShutdown})
	}
	return send(c.ID, msgs), nil
}

// CodeShutdown is the reason_code of the CloseChannel each channel gets when the pool stops.
const CodeShutdown = "pool-shutdown"

// state returns the connection's minerConn, set in ClientAdded.
func state(ctx context.Context) *minerConn { return service.ClientState(ctx).(*minerConn) }

// client returns a connection's minerConn, for reads from other goroutines.
func (h *miners) client(id service.ClientID) *minerConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clients[id]
}

// send makes the events that queue msgs for one client, in order.
func send(id service.ClientID, msgs []sv2.Message) []service.ServerEvent {
	if len(msgs) == 0 {
		return nil
	}
	return []service.ServerEvent{service.SendMessagesToClient{Client: id, Messages: msgs}}
}

// reply runs f, which answers one of the client's messages, and queues what
// it returns for the client.
func reply(id service.ClientID, f func() ([]sv2.Message, error)) ([]service.ServerEvent, error) {
	msgs, err := f()
	return send(id, msgs), err
}

// admit checks a channel request against the connection's channel limit,
// then makes sure the connection has its mining.Conn.
func (h *miners) admit(mc *minerConn, identity string) (string, error) {
	if err := checkIdentity(identity); err != nil {
		return CodeInvalidUserIdentity, err
	}
	if len(mc.opened) >= h.p.cfg.MaxChannelsPerConnection {
		return mining.CodeChannelCapacityExhausted, fmt.Errorf("pool: connection already has %d channels", len(mc.opened))
	}
	if n := h.open.Load(); n >= int64(h.p.cfg.MaxChannels) {
		return mining.CodeChannelCapacityExhausted, fmt.Errorf("pool: %d channels open, the pool's limit", n)
	}
	return h.ensureConn(mc, identity)
}

// ensureConn makes the client's mining.Conn on its first channel, with the
// coinbase that pays the identity in solo mode. It returns an
// OpenMiningChannel.Error code when the identity is refused.
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
	if mc.info.AckEachShare { // a Stratum V1 device: each share is answered
		c.AckEachShare()
	}
	h.mu.Lock()
	mc.conn, mc.solo = c, solo
	h.byConn[c] = mc.id
	h.mu.Unlock()
	return "", nil
}

func (h *miners) OpenStandardMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenStandardMiningChannel) ([]service.ServerEvent, error) {
	mc := state(ctx)
	return reply(id, func() ([]sv2.Message, error) {
		if code, err := h.admit(mc, m.UserIdentity); err != nil {
			return h.refuse(id, m.RequestID, code, err)
		}
		msgs, err := mc.conn.OpenStandardChannel(m)
		return h.opened(mc, m.RequestID, m.UserIdentity, msgs, err)
	})
}

func (h *miners) OpenExtendedMiningChannel(ctx context.Context, id service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	mc := state(ctx)
	return reply(id, func() ([]sv2.Message, error) {
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
	h.open.Add(1)
	h.p.accounts.OpenChannel(ChannelKey{Client: mc.id, Channel: channel}, user, h.p.now())
	h.p.log.Info("channel opened", "client", uint64(mc.id), "channel", channel, "user", user)
	return msgs, nil
}

func (h *miners) UpdateChannel(ctx context.Context, id service.ClientID, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	mc := state(ctx)
	return reply(id, func() ([]sv2.Message, error) {
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
	mc := state(ctx)
	return reply(id, func() ([]sv2.Message, error) {
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
			h.open.Add(-1)
			h.p.accounts.CloseChannel(ChannelKey{Client: id, Channel: ch})
		}
		if err := mc.conn.CloseChannel(m.ChannelID); err != nil {
			h.p.log.Debug("CloseChannel for an unknown channel", "client", uint64(id), "channel", m.ChannelID)
		}
		return msgs, nil
	})
}

// closeByPool closes a channel from the pool's side: the pending
// acknowledgement, then CloseChannel to the miner (§5.3.9).
func (h *miners) closeByPool(mc *minerConn, channel uint32, reason string) ([]sv2.Message, error) {
	if _, ok := mc.opened[channel]; !ok || mc.conn == nil {
		return nil, fmt.Errorf("pool: client %d has no channel %d", mc.id, channel)
	}
	var msgs []sv2.Message
	if ack, ok := mc.conn.FlushAck(channel); ok {
		msgs = append(msgs, ack)
	}
	if err := mc.conn.CloseChannel(channel); err != nil {
		return nil, err
	}
	delete(mc.opened, channel)
	h.open.Add(-1)
	h.p.accounts.CloseChannel(ChannelKey{Client: mc.id, Channel: channel})
	h.p.log.Info("channel closed by the pool", "client", uint64(mc.id), "channel", channel, "reason", reason)
	return append(msgs, &sv2.CloseChannel{ChannelID: channel, ReasonCode: reason}), nil
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
	mc := state(ctx)
	return reply(id, func() ([]sv2.Message, error) {
		if mc.conn == nil {
			return []sv2.Message{&sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}}, nil
		}
		r := mc.conn.SubmitStandard(m)
		return h.shareResult(id, m.ChannelID, m.SequenceNumber, "", &r), nil
	})
}

func (h *miners) SubmitSharesExtended(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	mc := state(ctx)
	return reply(id, func() ([]sv2.Message, error) {
		if mc.conn == nil {
			return []sv2.Message{&sv2.SubmitSharesError{ChannelID: m.ChannelID, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeInvalidChannelID}}, nil
		}
		r := mc.conn.SubmitExtended(m)
		// The service kept the TLVs of negotiated extensions only: a worker
		// named here negotiated Worker-Specific Hashrate Tracking.
		worker, _ := sv2.WorkerIdentity(m.TLVs)
		return h.shareResult(id, m.ChannelID, m.SequenceNumber, worker, &r), nil
	})
}

// shareResult accounts a share (for its worker too, when it names one),
// hands a found block on, and answers the miner.
func (h *miners) shareResult(id service.ClientID, channel, seq uint32, worker string, r *mining.ShareResult) []sv2.Message {
	found := r.Status == mining.ShareBlockFound
	user, counted := h.p.accounts.Share(ChannelKey{Client: id, Channel: channel}, worker, h.p.now(), r.Status != mining.ShareRejected, r.Difficulty, r.Code, found)
	h.p.recordShare(user, counted, r) // the ledger keeps the workers the accounting keeps, no more
	if found {
		// The finder is who the dashboard and the stats credit: the user,
		// and the worker the share named, if any.
		finder := user
		if worker != "" {
			finder += " / " + worker
		}
		h.p.log.Info("block share", "client", id, "channel", channel, "user", user, "worker", worker)
		h.p.blocks.found(r.Block, r.Hash, finder)
		h.p.ledgerBlock(r.Block, r.Hash, user)
	}
	if reply := r.Reply(channel, seq); reply != nil {
		return []sv2.Message{reply}
	}
	return nil
}

// SetCustomMiningJob takes a JDC's job when its token checks out (see
// Config.JobDeclaration); shares on it are then validated and credited like
// any others.
func (h *miners) SetCustomMiningJob(ctx context.Context, id service.ClientID, m *sv2.SetCustomMiningJob) ([]service.ServerEvent, error) {
	mc := state(ctx)
	refuse := func(code string, err error) ([]service.ServerEvent, error) {
		h.p.log.Info("custom job refused", "client", uint64(id), "channel", m.ChannelID, "code", code, "reason", err)
		return []service.ServerEvent{service.SendToClient{Client: id, Message: &sv2.SetCustomMiningJobError{
			ChannelID: m.ChannelID, RequestID: m.RequestID, ErrorCode: code}}}, nil
	}
	if mc.conn == nil {
		return refuse(mining.CodeInvalidChannelID, errors.New("no channel open"))
	}
	res, err := mc.conn.SetCustomMiningJob(m)
	if ce, ok := errors.AsType[*mining.CustomJobError](err); ok {
		return refuse(ce.Code, ce.Err)
	}
	if err != nil {
		return nil, err
	}
	h.p.log.Info("custom job accepted", "client", uint64(id), "channel", m.ChannelID, "job", res.Success.JobID,
		"payout", res.Payout, "total", res.Total, "merkle_depth", len(m.MerklePath))
	return []service.ServerEvent{service.SendToClient{Client: id, Message: &res.Success}}, nil
}

// HandleEvent takes templates and prev hashes from the template-distribution
// side, on the sibling's goroutine, and pushes each connection its jobs.
func (h *miners) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	if m, ok := tpclient.Templates.Of(payload); ok {
		return h.route(h.server.NewTemplate(m))
	}
	if m, ok := tpclient.PrevHashes.Of(payload); ok {
		return h.route(h.server.SetNewPrevHash(m))
	}
	if u, ok := coinbaseUpdates.Of(payload); ok {
		out, err := h.server.UpdateCoinbase(u.plan.cfg)
		if err == nil || len(out) > 0 {
			h.p.plans.add(u.plan) // before its jobs go out: a block on them finds it
		}
		u.done <- err
		return h.route(out, err)
	}
	return nil, fmt.Errorf("pool: unexpected event %s", service.PayloadName(payload))
}

// route turns what a template change made for each connection into pushes
// to that connection's client. Each push follows whatever the client's own
// calls queued before it: a channel opened while the template was being
// applied either got the new job in its own answer or gets it here, after
// its OpenMiningChannel.Success.
func (h *miners) route(outs []mining.Outbound, err error) ([]service.ServerEvent, error) {
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

// HandleClientEvent runs, on a connection's own goroutine, the work the pool
// pushes to it: a vardiff retarget, a channel closed by the pool.
func (h *miners) HandleClientEvent(ctx context.Context, id service.ClientID, payload any) ([]service.ServerEvent, error) {
	mc := state(ctx)
	if _, ok := retarget.Of(payload); ok {
		if mc.conn == nil {
			return nil, nil
		}
		return send(id, mc.conn.UpdateTargets()), nil
	}
	if e, ok := closing.Of(payload); ok {
		msgs, err := h.closeByPool(mc, e.channel, e.reason)
		e.done <- err
		return send(id, msgs), nil
	}
	if done, ok := barrier.Of(payload); ok {
		close(done)
		return nil, nil
	}
	return nil, fmt.Errorf("pool: unexpected client event %s", service.PayloadName(payload))
}

// checkIdentity refuses a user_identity that is not valid UTF-8 or holds
// control characters (a NUL among them): a STR0_255 may hold any bytes,
// but such a name cannot be stored in every ledger (PostgreSQL refuses NUL
// and invalid UTF-8) nor logged as it is.
func checkIdentity(identity string) error {
	if !utf8.ValidString(identity) {
		return fmt.Errorf("pool: user identity %q is not UTF-8", identity)
	}
	for _, r := range identity {
		if unicode.IsControl(r) {
			return fmt.Errorf("pool: user identity %q holds the control character %U", identity, r)
		}
	}
	return nil
}
