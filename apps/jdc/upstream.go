package jdc

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"sync/atomic"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// indexSize is the bytes of the upstream channel's extranonce that number
// the JDC's own channels: 65,536 device channels.
const indexSize = 2

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

// upstream is the client side: Mining to the pool, Job Declaration to the
// JDS, Template Distribution to the miner's provider. The client service
// calls its handlers on one goroutine, so it needs no lock.
type upstream struct {
	j   *JDC
	log *slog.Logger

	// Mining.
	channel  uint32
	prefix   []byte
	rollable int
	target   sv2.U256
	opened   bool
	seq      uint32
	mRetry   backoff.Backoff

	// Job Declaration.
	tokens     [][]byte
	allocating int
	outputs    []wire.TxOut // the pool's, from the first AllocateMiningJobToken.Success
	req        uint32
	byReq      map[uint32]uint64 // request id → template id
	jRetry     backoff.Backoff

	// Templates.
	templates map[uint64]*tmpl
	order     []uint64
	tip       *sv2.TemplateSetNewPrevHash

	stats counters

	srv          *mining.Server  // made once the channel and the outputs are known
	cbcfg        coinbase.Config // the devices' coinbase: the pool's outputs and the tag
	pendingCount int
}

// counters are what Stats reports; the upstream goroutine writes them.
type counters struct {
	sharesUp, optimistic, dropped, poolRefused, jobsAcked, jobsRefused, declared atomic.Uint64
}

func newUpstream(j *JDC) *upstream {
	b := backoff.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second}
	return &upstream{j: j, log: j.log.With("side", "upstream"), byReq: map[uint32]uint64{}, templates: map[uint64]*tmpl{}, mRetry: b, jRetry: b}
}

// ready makes the devices' mining server once the upstream channel and
// the pool's outputs are known, hands it the latest template and tip, and
// opens the devices' listener.
func (u *upstream) ready() []service.ClientEvent {
	if u.srv != nil || !u.opened || u.outputs == nil {
		return nil
	}
	alloc, err := extranonce.FromUpstream(u.prefix, u.rollable, indexSize)
	if err != nil {
		u.log.Error("the pool's channel leaves no room for devices", "prefix", len(u.prefix), "rollable", u.rollable, "error", err)
		return nil
	}
	outs := make([]*wire.TxOut, len(u.outputs))
	for i := range u.outputs {
		o := u.outputs[i]
		outs[i] = &o
	}
	vd := vardiff.Config{SharesPerMinute: u.j.cfg.SharesPerMinute}
	u.cbcfg = coinbase.Config{Outputs: outs, Tag: []byte(u.j.cfg.CoinbaseTag)}
	srv, err := mining.NewServer(mining.ServerConfig{
		Coinbase:   u.cbcfg,
		Extranonce: alloc, SharesPerMinute: u.j.cfg.SharesPerMinute, Vardiff: &vd,
	})
	if err != nil {
		u.log.Error("cannot make the devices' mining server", "error", err)
		return nil
	}
	u.srv = srv
	u.log.Info("ready: devices may connect", "upstream_channel", u.channel, "extranonce_prefix", len(u.prefix), "device_extranonce", alloc.RollableSize())
	evs := toDevices(serverReady.Notify(sv2.ProtocolMining, srv))
	for _, id := range u.order {
		if t := u.templates[id]; t.prev != nil || t.nt.FutureTemplate {
			evs = append(evs, toDevices(templates.Notify(sv2.ProtocolMining, t.nt))...)
		}
	}
	if u.tip != nil {
		evs = append(evs, toDevices(prevHashes.Notify(sv2.ProtocolMining, u.tip))...)
	}
	u.j.markReady()
	for _, id := range u.order {
		evs = append(evs, u.declare(u.templates[id])...)
	}
	return evs
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

// fullSize is the whole extranonce of a job: the pool's prefix and the
// bytes the channel rolls.
func (u *upstream) fullSize() int { return len(u.prefix) + u.rollable }

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
	var evs []service.ClientEvent
	if u.srv != nil {
		evs = toDevices(templates.Notify(sv2.ProtocolMining, m))
	}
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
	var evs []service.ClientEvent
	if u.srv != nil {
		evs = toDevices(prevHashes.Notify(sv2.ProtocolMining, m))
	}
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
		u.pendingCount -= len(t.pending)
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
	if t == nil || t.state != jobNew || u.srv == nil || t.prev == nil || (full && !t.haveTxs) {
		return nil
	}
	if len(u.tokens) == 0 {
		return u.allocate()
	}
	tok := u.tokens[0]
	u.tokens = u.tokens[1:]
	evs := u.allocate()
	cb, err := coinbase.New(t.nt, u.cbcfg, u.fullSize())
	if err != nil {
		u.log.Error("cannot build the coinbase of a template", "template", t.nt.TemplateID, "error", err)
		t.state = jobRefused
		return evs
	}
	d, err := coinbase.ParseDeclared(cb.FullPrefix(), cb.FullSuffix())
	if err != nil {
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
		CoinbaseTxPrefix: cb.FullPrefix(), CoinbaseTxSuffix: cb.FullSuffix(), WtxidList: wtxids}))
}

// setJob asks the pool to set t's job, with tok.
func (u *upstream) setJob(t *tmpl, tok []byte) service.ClientEvent {
	t.state = jobSetting
	m := *t.custom
	m.RequestID, m.MiningJobToken = u.req, tok
	return u.toPool(&m)
}

// allocate keeps TokensAhead tokens allocated or on their way.
func (u *upstream) allocate() []service.ClientEvent {
	var evs []service.ClientEvent
	for len(u.tokens)+u.allocating < u.j.cfg.TokensAhead {
		u.allocating++
		u.req++
		evs = append(evs, u.toJDS(&sv2.AllocateMiningJobToken{UserIdentifier: u.j.cfg.User, RequestID: u.req}))
	}
	return evs
}

// onShare passes an accepted device share up: at once on an acknowledged
// job, kept until then on one on its way (bounded), dropped on a refused
// or forgotten one. A block also goes to the miner's provider and, for a
// declared job, to the JDS.
func (u *upstream) onShare(s *share) []service.ClientEvent {
	t := u.templates[s.templateID]
	var evs []service.ClientEvent
	if s.block != nil {
		u.j.blocks.Found(s.block, s.hash, fmt.Sprintf("device %d channel %d", s.client, s.channel))
		if t != nil && t.declared {
			h := s.block.Header
			evs = append(evs, u.toJDS(&sv2.PushSolution{Extranonce: s.extranonce, PrevHash: h.PrevHash, Nonce: h.Nonce, NTime: h.NTime, NBits: h.NBits, Version: h.Version}))
		}
	}
	if s.block == nil && !target.Meets(&s.hash, &u.target) {
		return evs
	}
	switch {
	case t == nil || t.state == jobRefused:
		u.stats.dropped.Add(1)
	case t.state == jobAcked:
		evs = append(evs, u.submit(t, s))
	case u.pendingCount >= u.j.cfg.MaxPendingShares:
		u.stats.dropped.Add(1)
		u.log.Warn("optimistic share dropped: too many waiting for the pool's acknowledgement", "template", s.templateID)
	default:
		t.pending = append(t.pending, s)
		u.pendingCount++
	}
	return evs
}

func (u *upstream) submit(t *tmpl, s *share) service.ClientEvent {
	u.seq++
	u.stats.sharesUp.Add(1)
	return u.toPool(&sv2.SubmitSharesExtended{ChannelID: u.channel, SequenceNumber: u.seq, JobID: t.jobID,
		Nonce: s.nonce, NTime: s.ntime, Version: s.vers, Extranonce: s.extranonce[len(u.prefix):]})
}

// acked relays a job's waiting shares once the pool took it.
func (u *upstream) acked(t *tmpl, jobID uint32) []service.ClientEvent {
	t.state, t.jobID = jobAcked, jobID
	u.stats.jobsAcked.Add(1)
	u.stats.optimistic.Add(uint64(len(t.pending)))
	evs := make([]service.ClientEvent, 0, len(t.pending))
	for _, s := range t.pending {
		evs = append(evs, u.submit(t, s))
	}
	u.pendingCount -= len(t.pending)
	t.pending = nil
	return evs
}

// maxRetries is how often a template refused for a reason that may pass
// (the JDS or the pool a block behind, the node busy) is declared again.
const maxRetries = 3

// retryable are the refusals that may pass on a later try: the other side
// had not seen the tip yet, or could not ask its node.
var retryable = map[string]bool{
	"stale-chain-tip": true, "invalid-coinbase": true, "node-unavailable": true, "rate-limited": true, "missing-transactions": true,
}

func (u *upstream) refused(t *tmpl, why, code string) {
	if retryable[code] && t.retries < maxRetries {
		t.retries++
		u.j.after(time.Duration(t.retries)*retryDelay, retry{t.nt.TemplateID})
	}
	u.log.Warn("job refused upstream", "template", t.nt.TemplateID, "reason", why, "shares_dropped", len(t.pending), "retry", t.retries)
	t.state = jobRefused
	u.stats.jobsRefused.Add(1)
	u.stats.dropped.Add(uint64(len(t.pending)))
	u.pendingCount -= len(t.pending)
	t.pending = nil
}

// retryDelay spaces the declarations of a refused template again.
const retryDelay = 500 * time.Millisecond

// retry is the payload that declares a refused template again.
type retry struct{ template uint64 }

// onRetry declares a refused template again, if it is still current.
func (u *upstream) onRetry(r retry) []service.ClientEvent {
	t := u.templates[r.template]
	if t == nil || t.state != jobRefused {
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
