package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// maxEntries bounds the upstream jobs remembered for the shares of the
// devices: those of the current tip, the newest first kept. It bounds too
// the jobs a lane lays out for its devices on one tip, which the devices'
// side remembers until the next.
const maxEntries = 256

// maxHandedBytes bounds the bytes of the jobs on their way to the devices'
// side: while it is behind by more, active jobs and tips are dropped.
const maxHandedBytes = 16 << 20

// lane is one upstream extended channel and the device channels it
// carries. Its fields are the upstream goroutine's, except share, which
// the devices' goroutines read.
type lane struct {
	idx      int
	req      uint32 // the OpenExtendedMiningChannel request id
	open     bool
	channel  uint32
	group    uint32
	prefix   []byte
	rollable int
	seq      uint32
	// active is the upstream job the last SetNewPrevHash activated, and
	// prev that message.
	active *sv2.NewExtendedMiningJob
	prev   *sv2.SetNewPrevHash
	jobs   map[uint32]*sv2.NewExtendedMiningJob // this tip's, by upstream job id
	byJob  map[uint32]uint64                    // upstream job id → entry id of its newest layout
	laid   int                                  // jobs laid out for the devices since their last tip
	// share is the upstream channel's target: the device shares that meet
	// it go up. Nil while the channel is not open.
	share atomic.Pointer[sv2.U256]
	// srv lays out the lane's jobs for its devices; set once, before any
	// device uses the lane. full is the devices' full extranonce on it.
	srv  *mining.Server
	full int
	// A passed-through lane (passthrough.go) carries one device channel:
	// the device's connection and its request.
	ptClient service.ClientID
	ptReq    sv2.Message
	closed   bool // its device went away while it was asked for
}

// entry is an upstream job as the devices' jobs name it (their template
// id): which connection of which upstream it came from, and its id there.
type entry struct {
	gen  uint64
	lane *lane
	job  uint32
	// filler is the zeros between the lane's prefix and the devices'
	// extranonce when the job was laid out: a later SetExtranoncePrefix
	// does not change the upstream job's.
	filler int
}

// upstream is the Mining client side. The client service calls its
// handlers on one goroutine, so its fields need no lock; stats and the
// lanes' share targets are read by other goroutines.
type upstream struct {
	p   *Proxy
	log *slog.Logger

	idx      int    // the upstream in use (or tried)
	attempts int    // its failures in a row
	gen      uint64 // bumped whenever the connection's channels are lost
	up       bool   // connected
	retry    backoff.Backoff
	probing  bool
	lanes    []*lane

	next    uint64 // the last entry id given
	handed  int64  // bytes of the jobs handed to the devices' side, in all
	entries map[uint64]entry
	order   []uint64 // entry ids, oldest first

	// fullSize is the devices' full extranonce, fixed by the first upstream
	// channel opened (or Config.ExtranonceSize).
	fullSize int
	hashrate []float64 // per lane, as last declared upstream
	sentBy   map[uint32]shareFrom
	stats    counters

	// Passthrough mode: the lanes of device channels, and those asked for
	// by request id.
	pt      map[*lane]struct{}
	ptByReq map[uint32]*lane
	lastReq uint32
}

// shareFrom names the device of a share sent upstream, for the
// upstream's refusals.
type shareFrom struct {
	client  service.ClientID
	channel uint32
}

// counters are what Stats reports.
type counters struct {
	sharesUp, upAccepted, upRefused, upStale, dropped, switches, jobs atomic.Uint64
	upstream                                                          atomic.Int32
	connected                                                         atomic.Bool
	address                                                           atomic.Pointer[string] // the upstream connected to last
}

func newUpstream(p *Proxy) *upstream {
	u := &upstream{p: p, log: p.log.With("side", "upstream"), entries: map[uint64]entry{}, sentBy: map[uint32]shareFrom{},
		retry: backoff.Backoff{Base: 250 * time.Millisecond, Cap: 5 * time.Second}}
	if p.cfg.Mode == ModeAggregate {
		for i := range p.cfg.UpstreamChannels {
			u.lanes = append(u.lanes, &lane{idx: i, req: uint32(i + 1)})
		}
	}
	u.hashrate = make([]float64, len(u.lanes))
	u.pt, u.ptByReq, u.lastReq = map[*lane]struct{}{}, map[uint32]*lane{}, uint32(len(u.lanes))
	return u
}

func (u *upstream) toDevices(payload any) service.ClientEvent {
	return service.SendEventToSiblingServerService{Event: service.Notify{Protocol: sv2.ProtocolMining, Payload: payload}}
}

func (u *upstream) toPool(m sv2.Message) service.ClientEvent {
	return service.SendToServer{Protocol: sv2.ProtocolMining, Message: m}
}

func (u *upstream) current() Upstream { return u.p.cfg.Upstreams[u.idx] }

// lost forgets the channels of the connection that ended: their jobs'
// shares are dropped from now on.
func (u *upstream) lost() {
	u.gen++
	u.up = false
	u.stats.connected.Store(false)
	for _, l := range u.lanes {
		l.open, l.active, l.prev, l.jobs, l.byJob = false, nil, nil, nil, nil
		l.share.Store(nil)
	}
	u.ptLost()
	clear(u.sentBy)
}

// connect (re)connects to the current upstream after d.
func (u *upstream) connect(d time.Duration) []service.ClientEvent {
	up := u.current()
	u.stats.upstream.Store(int32(u.idx))
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolMining, Delay: d,
		Upstream: &service.UpstreamConfig{Address: up.Address, AuthorityKey: up.AuthorityKey, Plain: up.Plain}}}
}

// fail counts a failure of the current upstream and moves on: the same
// one again with backoff until Attempts, then the next in the list (the
// first again after the last).
func (u *upstream) fail(why string) []service.ClientEvent {
	u.lost()
	u.attempts++
	u.log.Warn("upstream failed", "upstream", u.idx+1, "address", u.current().Address, "attempt", u.attempts, "of", u.p.cfg.Attempts, "reason", why)
	if u.attempts < u.p.cfg.Attempts || len(u.p.cfg.Upstreams) == 1 {
		return u.connect(u.retry.Next())
	}
	u.attempts = 0
	u.idx = (u.idx + 1) % len(u.p.cfg.Upstreams)
	u.stats.switches.Add(1)
	u.log.Warn("failing over", "upstream", u.idx+1, "address", u.current().Address)
	d := time.Duration(0)
	if u.idx == 0 { // a whole round failed: not in a tight loop
		d = u.retry.Next()
	}
	return u.connect(d)
}

// switchTo moves to upstream idx at once (the first, back after a probe).
func (u *upstream) switchTo(idx int) []service.ClientEvent {
	u.lost()
	u.idx, u.attempts = idx, 0
	u.retry.Reset()
	u.stats.switches.Add(1)
	u.log.Info("back to the preferred upstream", "upstream", idx+1, "address", u.current().Address)
	return u.connect(0)
}

// openLanes asks for the upstream channels on a new connection.
func (u *upstream) openLanes() []service.ClientEvent {
	var evs []service.ClientEvent
	min := u.p.cfg.ExtranonceSize
	if min == 0 {
		min = u.fullSize
	}
	for _, l := range u.lanes {
		evs = append(evs, u.toPool(&sv2.OpenExtendedMiningChannel{RequestID: l.req, UserIdentity: u.p.cfg.User,
			NominalHashRate: u.declared(l.idx), MaxTarget: target.Max(), MinExtranonceSize: uint16(max(min, u.p.cfg.ChannelIndexSize+1))}))
	}
	return evs
}

// declared is the hashrate a lane's channel declares: its devices' total,
// or the configured default before any device said.
func (u *upstream) declared(lane int) float32 {
	if h := u.hashrate[lane]; h > 0 {
		return float32(min(h, math.MaxFloat32)) // the devices' float32s add up past it
	}
	return u.p.cfg.UpstreamHashrate
}

// opened takes an upstream channel: the first fixes the devices'
// extranonce size and lets them in.
func (u *upstream) opened(l *lane, m *sv2.OpenExtendedMiningChannelSuccess) []service.ClientEvent {
	if n := len(m.ExtranoncePrefix) + int(m.ExtranonceSize); n > extranonce.MaxSize {
		return u.fail(fmt.Sprintf("the upstream channel's extranonce is %d bytes, more than %d", n, extranonce.MaxSize))
	}
	l.open, l.channel, l.group, l.prefix, l.rollable = true, m.ChannelID, m.GroupChannelID, append([]byte(nil), m.ExtranoncePrefix...), int(m.ExtranonceSize)
	t := m.Target
	l.share.Store(&t)
	if u.fullSize == 0 {
		u.fullSize = u.p.cfg.ExtranonceSize
		if u.fullSize == 0 {
			u.fullSize = l.rollable
		}
		if u.fullSize <= u.p.cfg.ChannelIndexSize {
			u.log.Error("the upstream channel rolls too few extranonce bytes for any device", "extranonce_size", l.rollable)
			u.fullSize = 0
			return u.fail(fmt.Sprintf("the upstream channel rolls %d extranonce bytes; the proxy needs more than %d", l.rollable, u.p.cfg.ChannelIndexSize))
		}
		srvs, err := u.p.dev.layout(u.fullSize)
		if err != nil { // more than an extranonce can hold, say
			u.log.Error("cannot lay out the devices' extranonce", "extranonce_size", l.rollable, "error", err)
			u.fullSize = 0
			return u.fail(fmt.Sprintf("the upstream channel's extranonce cannot be laid out: %v", err))
		}
		for i, s := range srvs {
			u.lanes[i].srv, u.lanes[i].full = s, u.fullSize
		}
	}
	if l.rollable < u.fullSize {
		return u.fail(fmt.Sprintf("the upstream channel rolls %d extranonce bytes; the devices were given %d", l.rollable, u.fullSize))
	}
	u.log.Info("upstream channel open", "upstream", u.idx+1, "lane", l.idx+1, "channel", m.ChannelID,
		"extranonce_prefix", len(m.ExtranoncePrefix), "extranonce_size", m.ExtranonceSize, "difficulty", target.Difficulty(m.Target))
	for _, o := range u.lanes {
		if !o.open {
			return nil
		}
	}
	u.attempts = 0
	u.retry.Reset()
	u.log.Info("mining through the upstream", "upstream", u.idx+1, "address", u.current().Address, "channels", len(u.lanes))
	u.p.markReady()
	if u.idx != 0 && !u.probing {
		u.probing = true
		u.p.after(u.p.cfg.PrimaryProbe, probeDue{})
	}
	return nil
}

// lead is the upstream part of a lane's extranonce, before the devices':
// the channel's prefix and zero filler up to the bytes it rolls.
func (u *upstream) lead(l *lane) []byte {
	return append(append([]byte(nil), l.prefix...), make([]byte, l.rollable-l.full)...)
}

// lanesOf are the open lanes a message for channel id concerns: the
// channel's own, or every one of a group.
func (u *upstream) lanesOf(id uint32) []*lane {
	var ls []*lane
	for _, l := range u.allLanes() {
		if l.open && (l.channel == id || l.group == id) {
			ls = append(ls, l)
		}
	}
	return ls
}

// allLanes are the aggregate lanes and the passed-through ones.
func (u *upstream) allLanes() []*lane {
	if len(u.pt) == 0 {
		return u.lanes
	}
	ls := append([]*lane(nil), u.lanes...)
	for l := range u.pt {
		ls = append(ls, l)
	}
	return ls
}

// onJob gives an upstream job to the devices of every lane it is for: an
// active one at once, a future one with the SetNewPrevHash that activates
// it (onPrevHash), so that the devices' side, which remembers every job it
// is given until the next tip, gets none of the future jobs that never
// are. A lane lays out at most maxEntries active jobs on one tip: the next
// one is given as a new tip instead (reanchor).
func (u *upstream) onJob(m *sv2.NewExtendedMiningJob) []service.ClientEvent {
	var evs []service.ClientEvent
	future := !m.MinNTime.Valid
	for _, l := range u.lanesOf(m.ChannelID) {
		if !future && l.laid >= maxEntries && l.prev == nil {
			u.log.Warn("too many upstream jobs before a tip: dropped", "lane", l.idx+1, "job", m.JobID)
			continue
		}
		if !future && u.behind() {
			u.log.Warn("the devices' side is behind: upstream job dropped", "lane", l.idx+1, "job", m.JobID)
			continue
		}
		if l.jobs == nil {
			l.jobs, l.byJob = map[uint32]*sv2.NewExtendedMiningJob{}, map[uint32]uint64{}
		}
		l.jobs[m.JobID] = m
		if len(l.jobs) > maxEntries { // a flood of jobs on one tip: the oldest go
			for id := range l.jobs {
				if id != m.JobID && (l.active == nil || id != l.active.JobID) {
					delete(l.jobs, id)
					delete(l.byJob, id)
					break
				}
			}
		}
		switch {
		case future:
		case l.laid >= maxEntries:
			evs = append(evs, u.reanchor(l, m)...)
		default:
			evs = append(evs, u.layout(l, m, false))
		}
	}
	u.stats.jobs.Add(1)
	return evs
}

// behind reports whether the devices' side has more than maxHandedBytes
// of jobs still to take.
func (u *upstream) behind() bool { return u.handed-u.p.dev.taken.Load() > maxHandedBytes }

// reanchor gives the devices active job m as a new tip on the lane's prev
// hash, so that they forget the jobs laid out before it (theirs go stale).
func (u *upstream) reanchor(l *lane, m *sv2.NewExtendedMiningJob) []service.ClientEvent {
	for jid, j := range l.jobs {
		if jid != m.JobID && j.MinNTime.Valid {
			delete(l.jobs, jid)
			delete(l.byJob, jid)
		}
	}
	p := l.prev
	job := u.layout(l, m, true)
	l.active, l.laid = m, 0
	return []service.ClientEvent{job, u.toDevices(lanePrev{srv: l.srv, prev: &sv2.TemplateSetNewPrevHash{
		TemplateID: l.byJob[m.JobID], PrevHash: p.PrevHash, HeaderTimestamp: max(p.MinNTime, m.MinNTime.Value), NBits: p.NBits}})}
}

// layout makes a device job of upstream job m on lane l, as a future job
// or one active on the tip.
func (u *upstream) layout(l *lane, m *sv2.NewExtendedMiningJob, future bool) service.ClientEvent {
	u.next++
	id := u.next
	u.entries[id] = entry{gen: u.gen, lane: l, job: m.JobID, filler: l.rollable - l.full}
	l.laid++
	u.order = append(u.order, id)
	for len(u.order) > maxEntries*max(1, len(u.lanes)+len(u.pt)) {
		delete(u.entries, u.order[0])
		u.order = u.order[1:]
	}
	l.byJob[m.JobID] = id
	prefix := append(append(make([]byte, 0, len(m.CoinbaseTxPrefix)+l.rollable), m.CoinbaseTxPrefix...), u.lead(l)...)
	u.handed += int64(len(prefix) + len(m.CoinbaseTxSuffix) + 32*len(m.MerklePath))
	return u.toDevices(laneJob{srv: l.srv, handed: u.handed, job: mining.UpstreamJob{ID: id, Future: future, Version: m.Version,
		VersionRolling: m.VersionRollingAllowed, MerklePath: m.MerklePath, CoinbasePrefix: prefix, CoinbaseSuffix: m.CoinbaseTxSuffix}})
}

// onPrevHash moves the devices of the lanes it is for to a new tip, with
// its job laid out for them.
func (u *upstream) onPrevHash(m *sv2.SetNewPrevHash) []service.ClientEvent {
	if _, err := target.FromCompact(m.NBits); err != nil { // the devices could not take it
		u.log.Warn("SetNewPrevHash with invalid nbits: ignored", "channel", m.ChannelID, "error", err)
		return nil
	}
	if u.behind() {
		u.log.Warn("the devices' side is behind: SetNewPrevHash dropped", "channel", m.ChannelID)
		return nil
	}
	var evs []service.ClientEvent
	for _, l := range u.lanesOf(m.ChannelID) {
		j, ok := l.jobs[m.JobID]
		if !ok {
			u.log.Warn("SetNewPrevHash for a job the upstream did not send", "lane", l.idx+1, "job", m.JobID)
			continue
		}
		l.active, l.prev = j, m
		for jid := range l.jobs { // the old tip's jobs are gone
			if jid != m.JobID {
				delete(l.jobs, jid)
				delete(l.byJob, jid)
			}
		}
		job := u.layout(l, j, true)
		l.laid = 0
		evs = append(evs, job, u.toDevices(lanePrev{srv: l.srv, prev: &sv2.TemplateSetNewPrevHash{TemplateID: l.byJob[m.JobID], PrevHash: m.PrevHash,
			HeaderTimestamp: m.MinNTime, NBits: m.NBits}}))
	}
	return evs
}

// onExtranoncePrefix takes a lane's new prefix for the upstream jobs that
// follow (§5.3.10): the jobs sent before keep the old one upstream, so the
// devices' jobs laid out with it stay valid, and the next upstream job is
// laid out with the new one.
func (u *upstream) onExtranoncePrefix(m *sv2.SetExtranoncePrefix) []service.ClientEvent {
	for _, l := range u.allLanes() {
		if !l.open || l.channel != m.ChannelID {
			continue
		}
		if len(m.ExtranoncePrefix)+l.full > len(l.prefix)+l.rollable {
			if l.ptReq != nil {
				return u.ptDeviceClosed(l)
			}
			return u.fail(fmt.Sprintf("a new extranonce prefix of %d bytes leaves less than the devices' %d", len(m.ExtranoncePrefix), l.full))
		}
		l.rollable = len(l.prefix) + l.rollable - len(m.ExtranoncePrefix)
		l.prefix = append([]byte(nil), m.ExtranoncePrefix...)
		u.log.Info("upstream extranonce prefix changed", "lane", l.idx+1, "channel", l.channel)
		return nil
	}
	return nil
}

// onShare passes a device share up if it meets its lane's target and its
// job is of the current connection; the device has its answer already.
func (u *upstream) onShare(s *share) []service.ClientEvent {
	e, ok := u.entries[s.templateID]
	if !ok || e.gen != u.gen || !e.lane.open {
		u.stats.dropped.Add(1)
		if s.block {
			u.log.Error("BLOCK LOST: a device found a block on work of an upstream no longer connected", "client", uint64(s.client), "channel", s.channel)
		}
		return nil
	}
	l := e.lane
	l.seq++
	u.stats.sharesUp.Add(1)
	if len(u.sentBy) >= 1<<16 { // refusals come within moments; older ones are noise
		clear(u.sentBy)
	}
	u.sentBy[l.seq] = shareFrom{s.client, s.channel}
	if s.block {
		u.log.Info("a device found a block: its share goes upstream", "client", uint64(s.client), "channel", s.channel, "upstream", u.idx+1)
	}
	// The upstream's extranonce after its prefix: the filler, then the device's.
	ext := append(make([]byte, e.filler, e.filler+len(s.extranonce)), s.extranonce...)
	return []service.ClientEvent{u.toPool(&sv2.SubmitSharesExtended{ChannelID: l.channel, SequenceNumber: l.seq, JobID: e.job,
		Nonce: s.nonce, NTime: s.ntime, Version: s.version, Extranonce: ext})}
}

// onHashrates tells the upstream the devices' new total nominal hashrate
// per lane, where it changed.
func (u *upstream) onHashrates(h []float64) []service.ClientEvent {
	var evs []service.ClientEvent
	for i, l := range u.lanes {
		if i >= len(h) || h[i] == u.hashrate[i] {
			continue
		}
		u.hashrate[i] = h[i]
		if l.open {
			evs = append(evs, u.toPool(&sv2.UpdateChannel{ChannelID: l.channel, NominalHashRate: u.declared(i), MaximumTarget: target.Max()}))
		}
	}
	return evs
}

// probeDue starts a probe of the first upstream, off the handler's
// goroutine; primaryBack is its success.
type (
	probeDue    struct{}
	primaryBack struct{}
	probeFailed struct{}
)

func (u *upstream) onProbeDue(ctx context.Context) []service.ClientEvent {
	if u.idx == 0 {
		u.probing = false
		return nil
	}
	up := u.p.cfg.Upstreams[0]
	go func() {
		pctx, cancel := context.WithTimeout(ctx, u.p.cfg.PrimaryProbe)
		defer cancel()
		_, err := u.p.client.Probe(pctx, sv2.ProtocolMining, service.UpstreamConfig{Address: up.Address, AuthorityKey: up.AuthorityKey, Plain: up.Plain})
		if err == nil {
			u.p.notifyUpstream(primaryBack{})
			return
		}
		u.p.notifyUpstream(probeFailed{})
	}()
	return nil
}

func (u *upstream) onProbeResult(payload any) []service.ClientEvent {
	if _, ok := payload.(primaryBack); ok && u.idx != 0 {
		u.probing = false
		return u.switchTo(0)
	}
	if u.idx != 0 {
		u.p.after(u.p.cfg.PrimaryProbe, probeDue{})
	} else {
		u.probing = false
	}
	return nil
}

// poolSide is the Mining client handler towards the upstream.
type poolSide struct {
	service.NullMiningClientHandler
	u *upstream
}

func (p *poolSide) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	u := p.u
	u.up = true
	addr := s.Address
	u.stats.address.Store(&addr)
	u.stats.connected.Store(true)
	u.log.Info("upstream connected", "upstream", u.idx+1, "address", s.Address, "authenticated", s.Handshake.Authenticated)
	if u.p.cfg.Mode == ModePassthrough {
		u.attempts = 0
		u.retry.Reset()
		u.p.markReady()
		if u.idx != 0 && !u.probing {
			u.probing = true
			u.p.after(u.p.cfg.PrimaryProbe, probeDue{})
		}
		return u.ptReopen(), nil
	}
	return u.openLanes(), nil
}

func (p *poolSide) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	u := p.u
	if errors.Is(err, service.ErrReconnect) { // a switch of ours, or the upstream's Reconnect
		u.lost()
		return nil, nil
	}
	return u.fail("disconnected: " + err.Error()), nil
}

func (p *poolSide) laneOf(req uint32) *lane {
	if req == 0 || int(req) > len(p.u.lanes) {
		return nil
	}
	return p.u.lanes[req-1]
}

func (p *poolSide) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	if l := p.u.ptByReq[m.RequestID]; l != nil {
		return p.u.ptOpened(l, m), nil
	}
	l := p.laneOf(m.RequestID)
	if l == nil || l.open {
		return nil, nil
	}
	return p.u.opened(l, m), nil
}

func (p *poolSide) OpenMiningChannelError(_ context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	if l := p.u.ptByReq[m.RequestID]; l != nil {
		return p.u.ptRefusedUp(l, m.ErrorCode), nil
	}
	if p.laneOf(m.RequestID) == nil {
		return nil, nil
	}
	return p.u.fail("the upstream refused the channel: " + m.ErrorCode), nil
}

func (p *poolSide) NewExtendedMiningJob(_ context.Context, m *sv2.NewExtendedMiningJob) ([]service.ClientEvent, error) {
	return p.u.onJob(m), nil
}

func (p *poolSide) SetNewPrevHash(_ context.Context, m *sv2.SetNewPrevHash) ([]service.ClientEvent, error) {
	return p.u.onPrevHash(m), nil
}

func (p *poolSide) SetTarget(_ context.Context, m *sv2.SetTarget) ([]service.ClientEvent, error) {
	for _, l := range p.u.allLanes() {
		if l.open && l.channel == m.ChannelID {
			t := m.MaximumTarget
			l.share.Store(&t)
		}
	}
	return nil, nil
}

func (p *poolSide) SetExtranoncePrefix(_ context.Context, m *sv2.SetExtranoncePrefix) ([]service.ClientEvent, error) {
	return p.u.onExtranoncePrefix(m), nil
}

func (p *poolSide) SetGroupChannel(_ context.Context, m *sv2.SetGroupChannel) ([]service.ClientEvent, error) {
	for _, l := range p.u.allLanes() {
		for _, id := range m.ChannelIDs {
			if l.open && l.channel == id {
				l.group = m.GroupChannelID
			}
		}
	}
	return nil, nil
}

// CloseChannel from the upstream ends a lane: the connection is made again,
// for all of them, with backoff.
func (p *poolSide) CloseChannel(_ context.Context, m *sv2.CloseChannel) ([]service.ClientEvent, error) {
	var evs []service.ClientEvent
	for l := range p.u.pt {
		if l.open && (l.channel == m.ChannelID || l.group == m.ChannelID) {
			l.open = false
			evs = append(evs, p.u.ptDeviceClosed(l)...)
		}
	}
	if evs != nil {
		return evs, nil
	}
	for _, l := range p.u.lanes {
		if l.open && (l.channel == m.ChannelID || l.group == m.ChannelID) {
			return p.u.fail("the upstream closed channel " + fmt.Sprint(m.ChannelID) + ": " + m.ReasonCode), nil
		}
	}
	return nil, nil
}

func (p *poolSide) SubmitSharesSuccess(_ context.Context, m *sv2.SubmitSharesSuccess) ([]service.ClientEvent, error) {
	p.u.stats.upAccepted.Add(uint64(m.NewSubmitsAcceptedCount))
	return nil, nil
}

func (p *poolSide) SubmitSharesError(_ context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	u := p.u
	u.stats.upRefused.Add(1)
	from, ok := u.sentBy[m.SequenceNumber]
	if m.ErrorCode == mining.CodeStaleShare {
		u.stats.upStale.Add(1)
		u.log.Debug("the upstream refused a share as stale", "sequence", m.SequenceNumber)
		return nil, nil
	}
	if ok {
		u.log.Warn("the upstream refused a device's share", "code", m.ErrorCode, "client", uint64(from.client), "channel", from.channel)
	} else {
		u.log.Warn("the upstream refused a share", "code", m.ErrorCode, "sequence", m.SequenceNumber)
	}
	return nil, nil
}

// HandleEvent takes the devices' shares and hashrates, and the proxy's
// timers.
func (p *poolSide) HandleEvent(ctx context.Context, payload any) ([]service.ClientEvent, error) {
	u := p.u
	if s, ok := shares.Of(payload); ok {
		return u.onShare(s), nil
	}
	if evs, ok := u.ptEvent(payload); ok {
		return evs, nil
	}
	switch v := payload.(type) {
	case hashrates:
		return u.onHashrates(v), nil
	case probeDue:
		return u.onProbeDue(ctx), nil
	case primaryBack, probeFailed:
		return u.onProbeResult(v), nil
	}
	return nil, nil
}
