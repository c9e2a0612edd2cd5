package proxy

import (
	"github.com/stratumgo/stratum/core/accounting"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// Passthrough mode (ModePassthrough): each device channel rides an
// upstream channel of its own, opened with the device's user identity,
// nominal hashrate and max target, so a pool that accounts per worker sees
// every one. The channel's jobs are laid out for the device by a
// mining.Server of its own, as a lane's are: one byte of the upstream's
// extranonce is the proxy's (ptIndexSize), the rest the device's. The
// device's shares are still checked and acknowledged here; those that
// meet the upstream channel's target go up on it.

// ptIndexSize is the extranonce the proxy keeps of a passed-through
// channel: a lane of one device channel needs no more.
const ptIndexSize = 1

// What passes between the two sides for passed-through channels.
type (
	// ptOpen asks the upstream side for a device's channel (upstream).
	ptOpen struct {
		client service.ClientID
		req    sv2.Message // the device's OpenStandardMiningChannel or OpenExtendedMiningChannel
	}
	// ptOpened is the upstream channel for it (to the device's goroutine).
	ptOpened struct {
		lane *lane
		req  sv2.Message
	}
	// ptRefused is the upstream's refusal of it.
	ptRefused struct {
		req  uint32
		code string
	}
	// ptClosed closes the device channel of a lane the upstream closed or
	// could not keep.
	ptClosed struct{ lane *lane }
	// ptClose closes a lane's upstream channel (upstream); ptGone all of a
	// device connection's.
	ptClose struct{ lane *lane }
	ptGone  struct{ client service.ClientID }
	// ptUpdate passes a device's UpdateChannel on (upstream).
	ptUpdate struct {
		lane *lane
		m    sv2.UpdateChannel
	}
)

// ptChannel is a passed-through device channel: its lane, and the
// device's mining.Conn on the lane's server.
type ptChannel struct {
	lane *lane
	conn *mining.Conn
}

// ptRequest is what an open request asks of the upstream channel.
func ptRequest(req sv2.Message) (id uint32, user string, hashrate float32, maxTarget sv2.U256, minExtranonce int) {
	switch m := req.(type) {
	case *sv2.OpenStandardMiningChannel:
		return m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget, 0
	case *sv2.OpenExtendedMiningChannel:
		return m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget, int(m.MinExtranonceSize)
	}
	panic(fmt.Sprintf("proxy: a channel request of %T", req))
}

// Device side.

// ptOpenChannel counts the channel and asks the upstream side for it; the
// answer comes back as ptOpened or ptRefused.
func (h *devices) ptOpenChannel(ctx context.Context, id service.ClientID, req sv2.Message) ([]service.ServerEvent, error) {
	d := service.ClientState(ctx).(*device)
	reqID, _, hashrate, _, _ := ptRequest(req)
	if h := float64(hashrate); h < 0 || h != h || h > 1e30 {
		return send(id, &sv2.OpenMiningChannelError{RequestID: reqID, ErrorCode: mining.CodeInvalidNominalHashrate}), nil
	}
	h.mu.Lock()
	full := len(d.pt)+d.ptPending >= h.p.cfg.MaxChannelsPerConnection || h.bySource[source(d)] >= h.p.cfg.MaxChannelsPerSource
	fast := !full && !h.ptTakeOpen(source(d))
	if !full && !fast {
		h.bySource[source(d)]++
		d.ptPending++
	}
	h.mu.Unlock()
	if full {
		return send(id, &sv2.OpenMiningChannelError{RequestID: reqID, ErrorCode: mining.CodeChannelCapacityExhausted}), nil
	}
	if fast {
		return send(id, &sv2.OpenMiningChannelError{RequestID: reqID, ErrorCode: mining.CodeChannelOpenRateExceeded}), nil
	}
	return []service.ServerEvent{service.SendEventToSiblingClientService{Event: service.Notify{Protocol: sv2.ProtocolMining,
		Payload: ptOpen{client: id, req: req}}}}, nil
}

// ptOpens is a source's allowance of upstream channel requests: a token
// bucket of PassthroughOpenBurst refilled at PassthroughOpenRate a second.
// The upstream limits how fast one connection, the proxy's, opens
// channels (our pool: 4,096 at once, then 100 a second); without a share
// per source, one churning device would spend it for every other.
type ptOpens struct {
	tokens float64
	at     time.Time
}

// ptMaxSources bounds the sources whose allowance is remembered; beyond
// it, those whose bucket is full again are forgotten.
const ptMaxSources = 1 << 16

// ptTakeOpen spends one of src's upstream requests, or reports that none
// is left; h.mu is held.
func (h *devices) ptTakeOpen(src string) bool {
	cfg := &h.p.cfg
	burst, now := float64(cfg.PassthroughOpenBurst), time.Now()
	refill := func(b *ptOpens) {
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*cfg.PassthroughOpenRate)
		b.at = now
	}
	b := h.ptOpens[src]
	if b == nil {
		if len(h.ptOpens) >= ptMaxSources {
			for k, o := range h.ptOpens {
				if refill(o); o.tokens >= burst {
					delete(h.ptOpens, k)
				}
			}
		}
		b = &ptOpens{tokens: burst, at: now}
		h.ptOpens[src] = b
	}
	refill(b)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// ptUncount gives back a channel counted for d; h.mu is held.
func (h *devices) ptUncount(d *device) {
	if h.bySource[source(d)]--; h.bySource[source(d)] <= 0 {
		delete(h.bySource, source(d))
	}
}

// ptEvent takes the upstream side's answers on the device's goroutine.
func (h *devices) ptEvent(d *device, payload any) ([]service.ServerEvent, bool) {
	switch v := payload.(type) {
	case ptOpened:
		return h.ptBind(d, v), true
	case ptRefused:
		h.mu.Lock()
		d.ptPending--
		h.ptUncount(d)
		h.mu.Unlock()
		return send(d.id, &sv2.OpenMiningChannelError{RequestID: v.req, ErrorCode: v.code}), true
	case ptClosed:
		for ch, pc := range d.pt {
			if pc.lane == v.lane {
				h.ptDrop(d, ch, pc)
				return send(d.id, &sv2.CloseChannel{ChannelID: ch, ReasonCode: "upstream-closed"}), true
			}
		}
		return nil, true
	}
	return nil, false
}

// ptBind opens the device's channel on the lane the upstream gave it.
func (h *devices) ptBind(d *device, v ptOpened) []service.ServerEvent {
	h.mu.Lock()
	d.ptPending--
	h.mu.Unlock()
	closeUp := service.SendEventToSiblingClientService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: ptClose{lane: v.lane}}}
	reqID, _, _, _, _ := ptRequest(v.req)
	refuse := func(code string) []service.ServerEvent {
		h.mu.Lock()
		h.ptUncount(d)
		h.mu.Unlock()
		return append(send(d.id, &sv2.OpenMiningChannelError{RequestID: reqID, ErrorCode: code}), closeUp)
	}
	conn, err := v.lane.srv.NewConnWithIDs(d.info.Setup.Flags, &d.ids)
	if err != nil {
		return refuse("unsupported-feature-flags")
	}
	if d.info.AckEachShare {
		conn.AckEachShare()
	}
	// The lane's jobs reach the device through route from now on, before
	// its channel is open as after.
	h.mu.Lock()
	h.byConn[conn] = d.id
	h.mu.Unlock()
	var msgs []sv2.Message
	switch m := v.req.(type) {
	case *sv2.OpenStandardMiningChannel:
		msgs, err = conn.OpenStandardChannel(m)
	case *sv2.OpenExtendedMiningChannel:
		msgs, err = conn.OpenExtendedChannel(m)
	}
	if err != nil {
		h.mu.Lock()
		delete(h.byConn, conn)
		h.mu.Unlock()
		v.lane.srv.RemoveConn(conn)
		code := "internal-error"
		if oe, ok := errors.AsType[*mining.OpenError](err); ok {
			code = oe.Code
		}
		return refuse(code)
	}
	ch, _ := mining.OpenedChannelID(msgs) // a success: the open did not fail
	d.pt[ch] = &ptChannel{lane: v.lane, conn: conn}
	_, user, _, _, _ := ptRequest(v.req)
	h.accounts.OpenDevice(accounting.ChannelKey{Client: d.id, Channel: ch}, user, h.p.now())
	return send(d.id, msgs...)
}

// ptDrop forgets a passed-through channel on this side.
func (h *devices) ptDrop(d *device, ch uint32, pc *ptChannel) {
	delete(d.pt, ch)
	h.accounts.CloseChannel(accounting.ChannelKey{Client: d.id, Channel: ch})
	pc.lane.srv.RemoveConn(pc.conn)
	h.mu.Lock()
	delete(h.byConn, pc.conn)
	h.ptUncount(d)
	h.mu.Unlock()
}

// ptCloseChannel closes a device's channel here and upstream.
func (h *devices) ptCloseChannel(d *device, ch uint32) []service.ServerEvent {
	pc := d.pt[ch]
	if pc == nil {
		return nil
	}
	h.ptDrop(d, ch, pc)
	return []service.ServerEvent{service.SendEventToSiblingClientService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: ptClose{lane: pc.lane}}}}
}

// ptRemoved closes every channel of a device that went away, upstream too
// (the ones still on their way included).
func (h *devices) ptRemoved(d *device) []service.ServerEvent {
	for ch, pc := range d.pt {
		h.ptDrop(d, ch, pc)
	}
	h.mu.Lock()
	for ; d.ptPending > 0; d.ptPending-- {
		h.ptUncount(d)
	}
	h.mu.Unlock()
	if h.p.stopping() { // the upstream connection goes with the proxy
		return nil
	}
	return []service.ServerEvent{service.SendEventToSiblingClientService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: ptGone{client: d.id}}}}
}

// ptUpdateChannel takes a device's UpdateChannel here and passes it on.
func (h *devices) ptUpdateChannel(d *device, m *sv2.UpdateChannel) ([]service.ServerEvent, error) {
	pc := d.pt[m.ChannelID]
	if pc == nil {
		return send(d.id, &sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: mining.CodeInvalidChannelID}), nil
	}
	st, err := pc.conn.UpdateChannel(m)
	if ue, ok := errors.AsType[*mining.UpdateError](err); ok {
		return send(d.id, &sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: ue.Code}), nil
	}
	if err != nil {
		return nil, err
	}
	evs := []service.ServerEvent{service.SendEventToSiblingClientService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: ptUpdate{lane: pc.lane, m: *m}}}}
	if st != nil {
		evs = append(evs, send(d.id, st)...)
	}
	return evs, nil
}

// Upstream side.

// ptOpenUp asks the upstream for the channel of a device's request.
func (u *upstream) ptOpenUp(l *lane) service.ClientEvent {
	u.lastReq++
	l.req = u.lastReq
	u.ptByReq[l.req] = l
	_, user, hashrate, maxTarget, minExtranonce := ptRequest(l.ptReq)
	return u.toPool(&sv2.OpenExtendedMiningChannel{RequestID: l.req, UserIdentity: user, NominalHashRate: hashrate,
		MaxTarget: maxTarget, MinExtranonceSize: uint16(max(minExtranonce, 1) + ptIndexSize)})
}

func (u *upstream) ptDevice(l *lane, payload any) service.ClientEvent {
	return service.SendEventToSiblingServerService{Event: service.NotifyClient{Client: l.ptClient, Payload: payload}}
}

// ptEvent takes the devices' side's requests.
func (u *upstream) ptEvent(payload any) ([]service.ClientEvent, bool) {
	switch v := payload.(type) {
	case ptOpen:
		reqID, _, _, _, _ := ptRequest(v.req)
		if !u.up {
			l := &lane{ptClient: v.client}
			return []service.ClientEvent{u.ptDevice(l, ptRefused{req: reqID, code: "upstream-unavailable"})}, true
		}
		if len(u.pt) >= maxPassthrough {
			l := &lane{ptClient: v.client}
			return []service.ClientEvent{u.ptDevice(l, ptRefused{req: reqID, code: mining.CodeChannelCapacityExhausted})}, true
		}
		l := &lane{idx: -1, ptClient: v.client, ptReq: v.req}
		u.pt[l] = struct{}{}
		return []service.ClientEvent{u.ptOpenUp(l)}, true
	case ptClose:
		return u.ptCloseLane(v.lane, "device-closed"), true
	case ptGone:
		var evs []service.ClientEvent
		for l := range u.pt {
			if l.ptClient == v.client {
				evs = append(evs, u.ptCloseLane(l, "device-disconnected")...)
			}
		}
		return evs, true
	case ptUpdate:
		if _, ok := u.pt[v.lane]; ok && v.lane.open {
			m := v.m
			m.ChannelID = v.lane.channel
			return []service.ClientEvent{u.toPool(&m)}, true
		}
		return nil, true
	}
	return nil, false
}

// maxPassthrough bounds the upstream channels passed through at once.
const maxPassthrough = 1 << 16

// ptCloseLane forgets a lane and closes its upstream channel.
func (u *upstream) ptCloseLane(l *lane, reason string) []service.ClientEvent {
	if _, ok := u.pt[l]; !ok {
		return nil
	}
	delete(u.pt, l)
	if !l.open {
		// Still on its way: its answer closes it (ptOpened). Asked for on a
		// connection that ended: no answer comes, nothing is open.
		l.closed = true
		return nil
	}
	delete(u.ptByReq, l.req)
	l.open = false
	l.share.Store(nil)
	return []service.ClientEvent{u.toPool(&sv2.CloseChannel{ChannelID: l.channel, ReasonCode: reason})}
}

// ptOpened takes the upstream channel of a device's request: a new lane is
// laid out and handed to the device; one opened again after a reconnect
// keeps its server when the space is the same, else its device channel is
// closed.
func (u *upstream) ptOpened(l *lane, m *sv2.OpenExtendedMiningChannelSuccess) []service.ClientEvent {
	delete(u.ptByReq, l.req)
	if l.closed { // its device went away meanwhile
		return []service.ClientEvent{u.toPool(&sv2.CloseChannel{ChannelID: m.ChannelID, ReasonCode: "device-disconnected"})}
	}
	if int(m.ExtranonceSize) <= ptIndexSize {
		return append(u.ptDeviceClosed(l), u.toPool(&sv2.CloseChannel{ChannelID: m.ChannelID, ReasonCode: "extranonce-too-small"}))
	}
	fresh := l.srv == nil
	if !fresh && int(m.ExtranonceSize) != l.full {
		u.log.Warn("a passed-through channel came back with another extranonce size: its device channel is closed",
			"was", l.full, "now", m.ExtranonceSize)
		return append(u.ptDeviceClosed(l), u.toPool(&sv2.CloseChannel{ChannelID: m.ChannelID, ReasonCode: "extranonce-changed"}))
	}
	if fresh {
		srv, err := u.p.cfg.laneServer(ptIndexSize, int(m.ExtranonceSize))
		if err != nil {
			u.log.Error("cannot lay out a passed-through channel", "error", err)
			return append(u.ptDeviceClosed(l), u.toPool(&sv2.CloseChannel{ChannelID: m.ChannelID, ReasonCode: "internal-error"}))
		}
		l.srv, l.full = srv, int(m.ExtranonceSize)
	}
	l.open, l.channel, l.group, l.prefix, l.rollable = true, m.ChannelID, m.GroupChannelID, append([]byte(nil), m.ExtranoncePrefix...), int(m.ExtranonceSize)
	l.jobs, l.byJob, l.active, l.prev = nil, nil, nil, nil
	t := m.Target
	l.share.Store(&t)
	if !fresh {
		return nil
	}
	return []service.ClientEvent{u.ptDevice(l, ptOpened{lane: l, req: l.ptReq})}
}

// ptDeviceClosed drops a lane whose device channel cannot go on.
func (u *upstream) ptDeviceClosed(l *lane) []service.ClientEvent {
	delete(u.pt, l)
	if l.srv == nil {
		reqID, _, _, _, _ := ptRequest(l.ptReq)
		return []service.ClientEvent{u.ptDevice(l, ptRefused{req: reqID, code: "upstream-extranonce-too-small"})}
	}
	return []service.ClientEvent{u.ptDevice(l, ptClosed{lane: l})}
}

// ptRefusedUp passes the upstream's refusal of a channel to its device.
func (u *upstream) ptRefusedUp(l *lane, code string) []service.ClientEvent {
	delete(u.ptByReq, l.req)
	delete(u.pt, l)
	if l.closed {
		return nil
	}
	if l.srv != nil { // refused again after a reconnect
		return []service.ClientEvent{u.ptDevice(l, ptClosed{lane: l})}
	}
	reqID, _, _, _, _ := ptRequest(l.ptReq)
	return []service.ClientEvent{u.ptDevice(l, ptRefused{req: reqID, code: code})}
}

// ptReopen asks again for every passed-through channel on a new connection.
func (u *upstream) ptReopen() []service.ClientEvent {
	clear(u.ptByReq)
	var evs []service.ClientEvent
	for l := range u.pt {
		evs = append(evs, u.ptOpenUp(l))
	}
	return evs
}

// ptLost forgets the passed-through channels' upstream state when the
// connection ends; the lanes wait for ptReopen.
func (u *upstream) ptLost() {
	for l := range u.pt {
		l.open, l.active, l.prev, l.jobs, l.byJob = false, nil, nil, nil, nil
		l.share.Store(nil)
	}
	clear(u.ptByReq)
}

// ptTargetOK is whether a passed-through share meets its lane's target.
func ptTargetOK(l *lane, hash *sv2.U256) bool {
	t := l.share.Load()
	return t != nil && target.Meets(hash, t)
}
