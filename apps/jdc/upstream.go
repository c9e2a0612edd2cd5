package jdc

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// The devices' extranonce: a 2-byte channel index and the 8 bytes devices
// ask for. It is the JDC's own, whatever upstream it mines for: the
// upstream channel's prefix and filler go in the coinbase's lead
// (coinbase.Config.Lead), so a move to another pool or to solo mining gives
// the devices new jobs and keeps their channels.
const (
	indexSize      = 2
	deviceRollable = 8
	deviceFull     = indexSize + deviceRollable
)

// keepTemplates bounds the templates remembered: those of the current tip.
const keepTemplates = 16

// jobState is where a template's job stands with the JDS and the pool.
type jobState int

const (
	jobNew       jobState = iota
	jobDeclaring          // DeclareMiningJob sent
	jobSetting            // SetCustomMiningJob sent
	jobAcked              // the pool took it: shares go up
	jobRefused            // the JDS or the pool refused it: its shares are dropped
)

// tmpl is a template of the miner's provider and its job upstream.
type tmpl struct {
	nt       *sv2.NewTemplate
	prev     *sv2.TemplateSetNewPrevHash // the tip it builds on, once known
	txs      [][]byte
	haveTxs  bool
	state    jobState
	custom   *sv2.SetCustomMiningJob // what the pool is asked to set
	declared bool                    // the JDS accepted it: PushSolution goes there
	jobID    uint32                  // the pool's, once acknowledged
	retries  int                     // declarations again after a refusal that may pass later
	pending  []*share                // optimistic mining: shares waiting for jobAcked
}

// mode is whom the devices mine for.
type mode int

const (
	modeNone   mode = iota // not yet: the devices' listener waits
	modePooled             // for the current upstream, through its JDS
	modeSolo               // for SoloPayout, blocks through the provider alone
)

func (m mode) String() string {
	return [...]string{"none", "pooled", "solo"}[m]
}

// upstream is the client side: Mining to the pool, Job Declaration to the
// JDS, Template Distribution to the miner's provider. The client service
// calls its handlers on one goroutine, so it needs no lock.
type upstream struct {
	j   *JDC
	log *slog.Logger

	mode      mode
	worked    mode // the last mode that mined (pooled or solo), and on which upstream: for counting switches
	workedIdx int
	idx       int    // the upstream in use (or tried, while solo)
	attempts  int    // failures of it so far
	gen       uint64 // bumped at each switch: stale timers and answers are ignored
	retry     backoff.Backoff

	// Mining.
	channel   uint32
	prefix    []byte
	rollable  int
	target    sv2.U256
	opened    bool
	seq       uint32
	poolUp    bool
	ackedJobs map[uint32]bool   // the pool's job ids this connection acknowledged
	sentJob   map[uint32]uint32 // sequence number → job id of the shares sent, for the pool's refusals

	// Job Declaration.
	tokens     [][]byte
	allocating int
	outputs    []wire.TxOut // the pool's, from the JDS's first token
	req        uint32
	byReq      map[uint32]uint64 // request id → template id
	jdsUp      bool

	// Templates.
	templates map[uint64]*tmpl
	order     []uint64
	tip       *sv2.TemplateSetNewPrevHash

	cbcfg coinbase.Config // the devices' coinbase now
	stats counters
}

// counters are what Stats reports; the upstream goroutine writes them.
type counters struct {
	sharesUp, optimistic, dropped, poolRefused, poolStale, jobsAcked, jobsRefused, declared, switches atomic.Uint64
	mode                                                                                              atomic.Int32
	upstream                                                                                          atomic.Int32
	poolUp                                                                                            atomic.Bool            // a pool connection is up
	address                                                                                           atomic.Pointer[string] // the pool connected to last
	pending                                                                                           atomic.Int64
}

func newUpstream(j *JDC) *upstream {
	return &upstream{j: j, log: j.log.With("side", "upstream"), byReq: map[uint32]uint64{}, templates: map[uint64]*tmpl{},
		ackedJobs: map[uint32]bool{}, sentJob: map[uint32]uint32{}, retry: backoff.Backoff{Base: 250 * time.Millisecond, Cap: 5 * time.Second}}
}

func toDevices(e service.ServerEvent) []service.ClientEvent {
	return []service.ClientEvent{service.SendEventToSiblingServerService{Event: e}}
}

func (u *upstream) toPool(m sv2.Message) service.ClientEvent {
	return service.SendToServer{Protocol: sv2.ProtocolMining, Message: m}
}

func (u *upstream) toJDS(m sv2.Message) service.ClientEvent {
	return service.SendToServer{Protocol: sv2.ProtocolJobDeclaration, Message: m}
}

// fullSize is a job's whole extranonce upstream: the pool's prefix and the
// bytes the channel rolls.
func (u *upstream) fullSize() int { return len(u.prefix) + u.rollable }

// lead is the upstream part of the extranonce, before the devices': the
// pool's prefix and zero filler.
func (u *upstream) lead() []byte {
	return append(append([]byte(nil), u.prefix...), make([]byte, u.rollable-deviceFull)...)
}

// pooledReady moves the devices to the current upstream once its channel
// is open and its JDS's outputs known: new jobs paying the pool, the same
// channels; then the current templates are declared.
func (u *upstream) pooledReady() []service.ClientEvent {
	if u.mode == modePooled || !u.opened || u.outputs == nil {
		return nil
	}
	if u.rollable < deviceFull {
		return u.fail(fmt.Sprintf("the pool's channel rolls %d extranonce bytes; the devices need %d", u.rollable, deviceFull))
	}
	outs := make([]*wire.TxOut, len(u.outputs))
	for i := range u.outputs {
		o := u.outputs[i]
		outs[i] = &o
	}
	// The failures count on until the pool acknowledges a job: a pair that
	// connects and then refuses every job is one to leave.
	u.setMode(modePooled)
	u.cbcfg = coinbase.Config{Outputs: outs, Tag: []byte(u.j.cfg.CoinbaseTag), Lead: u.lead()}
	u.log.Info("mining for the pool", "upstream", u.idx+1, "pool", u.j.cfg.Upstreams[u.idx].Pool.Address, "channel", u.channel)
	evs := toDevices(coinbases.Notify(sv2.ProtocolMining, u.cbcfg))
	for _, id := range u.order {
		u.templates[id].reset()
		evs = append(evs, u.declare(u.templates[id])...)
	}
	u.j.markReady()
	return evs
}

// goSolo pays SoloPayout from now on, and keeps trying the first upstream.
func (u *upstream) goSolo(why string) []service.ClientEvent {
	u.gen++
	u.setMode(modeSolo)
	u.dropPending()
	u.cbcfg = coinbase.Config{Outputs: []*wire.TxOut{{PkScript: u.j.cfg.SoloPayout}}, Tag: []byte(u.j.cfg.CoinbaseTag)}
	u.log.Warn("SOLO MINING: no upstream can be used; blocks pay the solo payout in full", "reason", why)
	evs := toDevices(coinbases.Notify(sv2.ProtocolMining, u.cbcfg))
	u.j.markReady()
	if len(u.j.cfg.Upstreams) == 0 {
		return evs
	}
	u.idx, u.attempts = 0, 0
	return append(evs, u.connect(u.retry.Next())...)
}

func (u *upstream) setMode(m mode) {
	// A switch is a move to another upstream, or between pooled and solo
	// mining: not the first start, nor a reconnect to the same pool.
	if m != modeNone {
		if u.worked != modeNone && (u.worked != m || m == modePooled && u.workedIdx != u.idx) {
			u.stats.switches.Add(1)
		}
		u.worked, u.workedIdx = m, u.idx
	}
	u.mode = m
	u.stats.mode.Store(int32(m))
	u.stats.upstream.Store(int32(u.idx))
}

// noMode notes that the JDC mines for no one until an upstream (or solo
// mining) takes over: not a switch, but what Stats and monitoring report.
func (u *upstream) noMode() {
	u.mode = modeNone
	u.stats.mode.Store(int32(modeNone))
	u.stats.upstream.Store(int32(u.idx))
}

// connect (re)connects to the current upstream's pool and JDS after d.
func (u *upstream) connect(d time.Duration) []service.ClientEvent {
	up := u.j.cfg.Upstreams[u.idx]
	u.stats.upstream.Store(int32(u.idx))
	u.opened, u.outputs, u.tokens, u.allocating = false, nil, nil, 0
	clear(u.ackedJobs)
	clear(u.sentJob)
	if u.mode == modePooled { // the devices mine on until the upstream is back
		u.noMode()
	}
	return []service.ClientEvent{
		service.Connect{Protocol: sv2.ProtocolMining, Delay: d, Upstream: &service.UpstreamConfig{Address: up.Pool.Address,
			AuthorityKey: up.Pool.AuthorityKey, Plain: up.Pool.Plain, Flags: mining.FlagRequiresWorkSelection}},
		service.Connect{Protocol: sv2.ProtocolJobDeclaration, Delay: d, Upstream: &service.UpstreamConfig{Address: up.JDS.Address,
			AuthorityKey: up.JDS.AuthorityKey, Plain: up.JDS.Plain, Flags: u.j.cfg.jdFlags()}},
	}
}

// fail counts a failure of the current upstream (a lost or refused
// connection, a refused job, a token that does not come, shares of an
// acknowledged job refused) and moves on: the same upstream again, with
// backoff, until Attempts; then the next; after the last, solo mining if
// configured, else the first again.
func (u *upstream) fail(why string) []service.ClientEvent {
	if len(u.j.cfg.Upstreams) == 0 {
		return nil
	}
	u.attempts++
	u.gen++
	u.log.Warn("upstream failed", "upstream", u.idx+1, "attempt", u.attempts, "of", u.j.cfg.Attempts, "reason", why, "mode", u.mode.String())
	if u.mode == modeSolo { // solo goes on; the upstreams are tried again, slowly
		u.idx = (u.idx + 1) % len(u.j.cfg.Upstreams)
		return u.connect(u.retry.Next())
	}
	u.dropPending()
	if u.attempts < u.j.cfg.Attempts {
		return u.connect(u.retry.Next())
	}
	u.attempts = 0
	if u.idx+1 < len(u.j.cfg.Upstreams) {
		u.idx++
		u.log.Warn("falling back to the next upstream", "upstream", u.idx+1, "pool", u.j.cfg.Upstreams[u.idx].Pool.Address)
		u.noMode()
		return u.connect(0)
	}
	if len(u.j.cfg.SoloPayout) > 0 {
		return u.goSolo(why)
	}
	u.idx = 0
	u.noMode()
	return u.connect(u.retry.Next())
}

func (u *upstream) dropPending() {
	for _, t := range u.templates {
		u.stats.dropped.Add(uint64(len(t.pending)))
		t.pending = nil
		t.reset()
	}
	u.stats.pending.Store(0)
}

// reset forgets where a template's job stood upstream.
func (t *tmpl) reset() {
	if t.state != jobNew {
		t.state, t.declared, t.jobID, t.retries = jobNew, false, 0, 0
	}
}

// onTemplate keeps a template and sends it to the devices at once:
// mining is optimistic, the pool's acknowledgement comes later.
func (u *upstream) onTemplate(m *sv2.NewTemplate) []service.ClientEvent {
	t := &tmpl{nt: m}
	if !m.FutureTemplate {
		t.prev = u.tip
	}
	if _, ok := u.templates[m.TemplateID]; !ok {
		u.order = append(u.order, m.TemplateID)
	}
	u.templates[m.TemplateID] = t
	for len(u.order) > keepTemplates {
		u.forget(u.order[0])
	}
	evs := toDevices(templates.Notify(sv2.ProtocolMining, m))
	return append(evs, u.declare(t)...)
}

// onPrevHash moves to a new tip: the templates of the old one are
// forgotten (their shares are stale), the activated one is declared.
func (u *upstream) onPrevHash(m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
	u.tip = m
	for _, id := range append([]uint64(nil), u.order...) {
		if t := u.templates[id]; id != m.TemplateID && (t.prev == nil || t.prev.PrevHash != m.PrevHash) {
			u.forget(id)
		}
	}
	evs := toDevices(prevHashes.Notify(sv2.ProtocolMining, m))
	if t := u.templates[m.TemplateID]; t != nil {
		t.prev = m
		evs = append(evs, u.declare(t)...)
	}
	return evs
}

func (u *upstream) onTransactions(id uint64, txs [][]byte) []service.ClientEvent {
	t := u.templates[id]
	if t == nil {
		return nil
	}
	t.txs, t.haveTxs = txs, true
	return u.declare(t)
}

func (u *upstream) forget(id uint64) {
	if t := u.templates[id]; t != nil {
		u.stats.dropped.Add(uint64(len(t.pending)))
		u.stats.pending.Add(-int64(len(t.pending)))
	}
	delete(u.templates, id)
	for req, tid := range u.byReq {
		if tid == id {
			delete(u.byReq, req)
		}
	}
	for i, o := range u.order {
		if o == id {
			u.order = append(u.order[:i], u.order[i+1:]...)
			break
		}
	}
}

// declare moves a template's job on when it can: to the JDS (full
// template) or straight to the pool (coinbase-only), with a token kept
// allocated ahead.
func (u *upstream) declare(t *tmpl) []service.ClientEvent {
	full := u.j.cfg.Mode == ModeFullTemplate
	if t == nil || t.state != jobNew || u.mode != modePooled || t.prev == nil || (full && !t.haveTxs) {
		return nil
	}
	if len(u.tokens) == 0 {
		return u.allocate()
	}
	tok := u.tokens[0]
	u.tokens = u.tokens[1:]
	evs := u.allocate()
	cb, err := coinbase.New(t.nt, u.cbcfg, deviceFull)
	if err != nil {
		u.log.Error("cannot build the coinbase of a template", "template", t.nt.TemplateID, "error", err)
		t.state = jobRefused
		return evs
	}
	// Upstream, the extranonce is the lead's and the devices' together.
	prefix := cb.FullPrefix()[:len(cb.FullPrefix())-len(u.cbcfg.Lead)]
	d, err := coinbase.ParseDeclared(prefix, cb.FullSuffix())
	if err != nil || d.ExtranonceSize != u.fullSize() {
		u.log.Error("cannot lay out the coinbase of a template", "template", t.nt.TemplateID, "error", err)
		t.state = jobRefused
		return evs
	}
	t.custom = &sv2.SetCustomMiningJob{
		ChannelID: u.channel, Version: t.nt.Version, PrevHash: t.prev.PrevHash, MinNTime: t.prev.HeaderTimestamp, NBits: t.prev.NBits,
		CoinbaseTxVersion: d.TxVersion, CoinbasePrefix: d.ScriptSigPrefix, CoinbaseTxInputNSequence: d.Sequence,
		CoinbaseTxOutputs: d.Outputs, CoinbaseTxLocktime: d.Locktime, MerklePath: t.nt.MerklePath,
	}
	u.req++
	u.byReq[u.req] = t.nt.TemplateID
	if !full {
		return append(evs, u.setJob(t, tok))
	}
	wtxids := make([]sv2.U256, len(t.txs))
	for i, raw := range t.txs {
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
			u.log.Error("a template transaction does not decode", "template", t.nt.TemplateID, "index", i, "error", err)
			t.state = jobRefused
			return evs
		}
		wtxids[i] = sv2.U256(tx.WitnessHash())
	}
	t.state = jobDeclaring
	u.stats.declared.Add(1)
	u.log.Debug("declaring", "template", t.nt.TemplateID, "request", u.req, "transactions", len(wtxids))
	return append(evs, u.toJDS(&sv2.DeclareMiningJob{RequestID: u.req, MiningJobToken: tok, Version: t.nt.Version,
		CoinbaseTxPrefix: prefix, CoinbaseTxSuffix: cb.FullSuffix(), WtxidList: wtxids}))
}

// setJob asks the pool to set t's job, with tok.
func (u *upstream) setJob(t *tmpl, tok []byte) service.ClientEvent {
	t.state = jobSetting
	m := *t.custom
	m.RequestID, m.MiningJobToken = u.req, tok
	return u.toPool(&m)
}

// allocate keeps TokensAhead tokens allocated or on their way, and gives
// the JDS TokenTimeout to grant them.
func (u *upstream) allocate() []service.ClientEvent {
	if !u.jdsUp {
		return nil
	}
	var evs []service.ClientEvent
	for len(u.tokens)+u.allocating < u.j.cfg.TokensAhead {
		u.allocating++
		u.req++
		evs = append(evs, u.toJDS(&sv2.AllocateMiningJobToken{UserIdentifier: u.j.cfg.User, RequestID: u.req}))
		u.j.after(u.j.cfg.TokenTimeout, tokenDeadline{gen: u.gen, req: u.req})
	}
	return evs
}

// tokenDeadline fails the upstream if a token asked for has not come.
type tokenDeadline struct {
	gen uint64
	req uint32
}

func (u *upstream) onTokenDeadline(d tokenDeadline) []service.ClientEvent {
	if d.gen != u.gen || u.allocating == 0 || !u.jdsUp {
		return nil
	}
	return u.fail(fmt.Sprintf("no token within %s", u.j.cfg.TokenTimeout))
}

// pendingShares is how many shares wait for their jobs' acknowledgement.
func (u *upstream) pendingShares() int { return int(u.stats.pending.Load()) }

// onShare passes an accepted device share up: at once on an acknowledged
// job, kept until then on one on its way (bounded), dropped on a refused
// or forgotten one. A block also goes to the miner's provider and, for a
// declared job, to the JDS.
func (u *upstream) onShare(s *share) []service.ClientEvent {
	t := u.templates[s.templateID]
	var evs []service.ClientEvent
	if s.block != nil {
		u.j.blocks.Found(s.block, s.hash, fmt.Sprintf("device %d channel %d (%s)", s.client, s.channel, u.mode))
		if t != nil && t.declared && u.mode == modePooled {
			h := s.block.Header
			ext := append(append([]byte(nil), u.cbcfg.Lead...), s.extranonce...)
			evs = append(evs, u.toJDS(&sv2.PushSolution{Extranonce: ext, PrevHash: h.PrevHash, Nonce: h.Nonce, NTime: h.NTime, NBits: h.NBits, Version: h.Version}))
		}
	}
	if s.block == nil && !target.Meets(&s.hash, &u.target) {
		return evs
	}
	switch u.mode {
	case modeSolo:
		return evs // no pool to credit
	case modeNone:
		u.stats.dropped.Add(1) // the upstream is being (re)connected
		return evs
	}
	switch {
	case t == nil || t.state == jobRefused:
		u.stats.dropped.Add(1)
	case t.state == jobAcked:
		evs = append(evs, u.submit(t, s))
	case u.pendingShares() >= u.j.cfg.MaxPendingShares:
		u.stats.dropped.Add(1)
		u.log.Warn("optimistic share dropped: too many waiting for the pool's acknowledgement", "template", s.templateID)
	default:
		t.pending = append(t.pending, s)
		u.stats.pending.Add(1)
	}
	return evs
}

func (u *upstream) submit(t *tmpl, s *share) service.ClientEvent {
	u.seq++
	u.stats.sharesUp.Add(1)
	if len(u.sentJob) >= 4096 { // refusals come within moments; older ones are noise
		clear(u.sentJob)
	}
	u.sentJob[u.seq] = t.jobID
	// The pool's extranonce after its prefix: the filler, then the device's.
	ext := append(make([]byte, u.rollable-deviceFull, u.rollable), s.extranonce...)
	return u.toPool(&sv2.SubmitSharesExtended{ChannelID: u.channel, SequenceNumber: u.seq, JobID: t.jobID,
		Nonce: s.nonce, NTime: s.ntime, Version: s.vers, Extranonce: ext})
}

// acked relays a job's waiting shares once the pool took it.
func (u *upstream) acked(t *tmpl, jobID uint32) []service.ClientEvent {
	t.state, t.jobID = jobAcked, jobID
	u.ackedJobs[jobID] = true
	u.attempts = 0 // the pair works
	u.retry.Reset()
	u.stats.jobsAcked.Add(1)
	u.stats.optimistic.Add(uint64(len(t.pending)))
	evs := make([]service.ClientEvent, 0, len(t.pending))
	for _, s := range t.pending {
		evs = append(evs, u.submit(t, s))
	}
	u.stats.pending.Add(-int64(len(t.pending)))
	t.pending = nil
	return evs
}

// maxRetries is how often a template refused for a reason that may pass
// (the JDS or the pool a block behind, the node busy) is declared again.
const maxRetries = 3

// retryable are the refusals that may pass on a later try: the other side
// had not seen the tip yet, or could not ask its node.
var retryable = map[string]bool{
	jdserver.CodeStaleChainTip: true, jdserver.CodeInvalidCoinbase: true, jdserver.CodeNodeUnavailable: true,
	jdserver.CodeRateLimited: true, jdserver.CodeMissingTransactions: true,
}

// refused drops a refused job's shares; a refusal that may pass is tried
// again a few times, any other counts as a failure of the upstream
// (§6.2: a trigger to fall back).
func (u *upstream) refused(t *tmpl, why, code string) []service.ClientEvent {
	u.log.Warn("job refused upstream", "template", t.nt.TemplateID, "reason", why, "shares_dropped", len(t.pending), "retry", t.retries)
	t.state = jobRefused
	u.stats.jobsRefused.Add(1)
	u.stats.dropped.Add(uint64(len(t.pending)))
	u.stats.pending.Add(-int64(len(t.pending)))
	t.pending = nil
	if retryable[code] && t.retries < maxRetries {
		t.retries++
		u.j.after(time.Duration(t.retries)*retryDelay, retry{gen: u.gen, template: t.nt.TemplateID})
		return nil
	}
	return u.fail(why)
}

// retryDelay spaces the declarations of a refused template again.
const retryDelay = 500 * time.Millisecond

// retry is the payload that declares a refused template again.
type retry struct {
	gen      uint64
	template uint64
}

// onRetry declares a refused template again, if it is still current.
func (u *upstream) onRetry(r retry) []service.ClientEvent {
	t := u.templates[r.template]
	if r.gen != u.gen || t == nil || t.state != jobRefused {
		return nil
	}
	t.state = jobNew
	return u.declare(t)
}

func (u *upstream) template(req uint32) *tmpl {
	id, ok := u.byReq[req]
	if !ok {
		return nil
	}
	return u.templates[id]
}

// displayHash shows a hash as block explorers do.
func displayHash(h sv2.U256) string { return chainhash.Hash(h).String() }
