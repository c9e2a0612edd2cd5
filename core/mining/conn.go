package mining

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/sv2"
)

// Conn is one downstream connection's channels and jobs. Channel ids and the
// group channel id share one space; job ids are unique within the connection.
type Conn struct {
	srv      *Server
	flags    uint32
	coinbase *coinbase.Config // the outputs its jobs pay
	ids      *ChannelIDs      // shared with other Conns of one downstream connection, or nil
	ackEach  atomic.Bool      // every accepted share is acknowledged at once (AckEachShare)

	mu        sync.Mutex
	closed    bool // removed from the server: no new channels
	tip       *tip // the tip this connection's jobs build on
	lastID    uint32
	lastJobID uint32
	group     uint32            // the group channel id, 0 until the first channel opens
	groupFut  map[uint64]uint32 // future group job id by template id
	channels  map[uint32]*channel
	jobRefs   map[uint32]int // job id -> channels holding it as a valid job

	// The channel-open rate: a token bucket of ChannelOpenBurst tokens
	// refilled at MaxChannelOpensPerSecond.
	openTokens float64
	openAt     time.Time // when openTokens was last brought up to date
}

type channel struct {
	id        uint32
	extended  bool
	prefix    extranonce.Prefix
	rollable  int
	target    sv2.U256
	maxTarget sv2.U256
	vd        *vardiff.Controller

	// The maps are made when first written: an idle channel costs little.
	jobs   map[uint32]*job   // valid jobs: future, active and past on this tip
	future map[uint64]uint32 // future job id by template id
	order  []uint32          // non-future jobs on this tip, oldest first
	stale  map[uint32]struct{}
	// seen holds the accepted shares of this tip, at most MaxSharesPerTip,
	// by the low 64 bits of their hash: a duplicate is always found, and a
	// different share is taken for one (refused, never credited) with odds
	// of len(seen)/2^64, at most 2^-52 with the default limit.
	seen map[uint64]struct{}
	// credited is set once a share is accepted on this tip: the channel's
	// prefixes may then be in credited headers, and when it closes they are
	// quarantined until the next prev hash rather than reused at once.
	credited bool
	batch    batch
	retired  []uint64 // prefix indexes replaced by SetExtranoncePrefix
	root     rootCache
}

// seenReuse is the most entries a duplicate set may have to be kept, cleared,
// for the next tip; a bigger one is dropped so that a busy tip's memory is
// returned.
const seenReuse = 64

// rootCache remembers an extended channel's last merkle root: miners roll
// nonce, version and ntime before the extranonce, so consecutive shares
// usually repeat (job, extranonce) and skip the coinbase and path hashing.
type rootCache struct {
	valid bool
	job   *job
	n     int
	ext   [extranonce.MaxSize]byte
	root  sv2.U256
}

// AckEachShare makes every accepted share due for acknowledgement at once,
// in a batch of one, whatever ServerConfig.ShareBatchSize says: for clients
// whose protocol answers each share (Stratum V1, service.ClientInfo.AckEachShare).
func (c *Conn) AckEachShare() { c.ackEach.Store(true) }

// batch counts accepted shares not yet acknowledged (§5.3.13).
type batch struct {
	count   uint32
	sum     float64
	lastSeq uint32
}

// ack returns the acknowledgement of channel's batch b and empties b.
func (b *batch) ack(channel uint32) sv2.SubmitSharesSuccess {
	a := sv2.SubmitSharesSuccess{
		ChannelID: channel, LastSequenceNumber: b.lastSeq,
		NewSubmitsAcceptedCount: b.count, NewSharesSum: uint64(math.Round(b.sum)),
	}
	*b = batch{}
	return a
}

type job struct {
	id         uint32
	templateID uint64
	cb         *coinbase.Coinbase
	path       []sv2.U256
	future     bool
	custom     bool // from SetCustomMiningJob; templateID is then 0
	version    uint32
	rolling    bool
	prefix     []byte   // the channel's extranonce prefix when the job was made
	merkleRoot sv2.U256 // standard channels
	minNTime   uint32
	target     sv2.U256 // fixed once the job is active
	difficulty float64
}

func (c *Conn) nextChannelID() uint32 {
	if c.ids != nil {
		return c.ids.next()
	}
	c.lastID++
	return c.lastID
}

// ChannelIDs numbers the channels and groups of several Conns that serve
// one downstream connection, so that their ids do not collide: a proxy
// passing each of a device's channels through on an upstream channel of
// its own lays each out with a Server of its own. The zero value is ready;
// it is safe for concurrent use.
type ChannelIDs struct {
	mu   sync.Mutex
	last uint32
}

func (ids *ChannelIDs) next() uint32 {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.last++
	if ids.last == 0 { // 0 is no channel
		ids.last++
	}
	return ids.last
}

func (c *Conn) nextJobID() uint32 {
	for {
		c.lastJobID++
		if c.lastJobID != 0 && c.jobRefs[c.lastJobID] == 0 {
			return c.lastJobID
		}
	}
}

func (c *Conn) grouped() bool { return c.flags&FlagRequiresStandardJobs == 0 }

// OpenStandardChannel opens a standard channel. It returns the
// OpenStandardMiningChannel.Success followed by the channel's first jobs, or an
// *OpenError whose Code goes in OpenMiningChannel.Error.
func (c *Conn) OpenStandardChannel(req *sv2.OpenStandardMiningChannel) ([]sv2.Message, error) {
	return c.open(req.RequestID, req.NominalHashRate, req.MaxTarget, false, 0)
}

// OpenExtendedChannel opens an extended channel; see OpenStandardChannel.
func (c *Conn) OpenExtendedChannel(req *sv2.OpenExtendedMiningChannel) ([]sv2.Message, error) {
	return c.open(req.RequestID, req.NominalHashRate, req.MaxTarget, true, int(req.MinExtranonceSize))
}

func (c *Conn) open(reqID uint32, hashrate float32, maxTarget sv2.U256, extended bool, minExtranonce int) ([]sv2.Message, error) {
	s := c.srv
	if err := c.takeOpenToken(); err != nil {
		return nil, &OpenError{Code: CodeChannelOpenRateExceeded, Err: err}
	}
	if extended && !c.grouped() {
		return nil, &OpenError{Code: CodeExtendedChannelsNotSupported, Err: errors.New("connection requires standard jobs")}
	}
	if extended && minExtranonce > s.cfg.Extranonce.RollableSize() {
		return nil, &OpenError{Code: CodeMinExtranonceSizeTooLarge,
			Err: fmt.Errorf("wants %d bytes, server offers %d", minExtranonce, s.cfg.Extranonce.RollableSize())}
	}
	if h := float64(hashrate); h < 0 || math.IsNaN(h) || math.IsInf(h, 0) {
		return nil, &OpenError{Code: CodeInvalidNominalHashrate, Err: fmt.Errorf("hashrate %v", hashrate)}
	}
	initial, err := target.FromHashrate(float64(hashrate), s.cfg.SharesPerMinute)
	if err != nil {
		return nil, &OpenError{Code: CodeInvalidNominalHashrate, Err: err}
	}
	if b := s.bound(maxTarget); target.Less(b, initial) {
		initial = b
	}
	if maxTarget == (sv2.U256{}) {
		return nil, &OpenError{Code: CodeMaxTargetOutOfRange, Err: errors.New("max_target is zero")}
	}

	s.mu.Lock() // lock order: server, then connection
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrConnClosed
	}

	prefix, err := s.cfg.Extranonce.Allocate(!extended)
	if err != nil {
		code := CodeChannelCapacityExhausted
		return nil, &OpenError{Code: code, Err: err}
	}
	ch := &channel{
		id:        c.nextChannelID(),
		extended:  extended,
		prefix:    prefix,
		target:    initial,
		maxTarget: maxTarget,
	}
	if extended {
		ch.rollable = s.cfg.Extranonce.RollableSize()
	}
	if s.cfg.Vardiff != nil {
		ch.vd, err = vardiff.New(*s.cfg.Vardiff, initial, s.bound(maxTarget), s.cfg.Now())
		if err != nil {
			s.cfg.Extranonce.Free(prefix.Index) //nolint:errcheck // just allocated, never in a job
			return nil, &OpenError{Code: CodeInvalidNominalHashrate, Err: err}
		}
		ch.target = ch.vd.Target()
	}
	if c.group == 0 {
		c.group = c.nextChannelID()
		c.groupFut = make(map[uint64]uint32)
	}
	c.channels[ch.id] = ch

	var msgs []sv2.Message
	if extended {
		msgs = append(msgs, &sv2.OpenExtendedMiningChannelSuccess{
			RequestID: reqID, ChannelID: ch.id, Target: ch.target,
			ExtranonceSize: uint16(ch.rollable), ExtranoncePrefix: prefix.Bytes, GroupChannelID: c.group,
		})
	} else {
		msgs = append(msgs, &sv2.OpenStandardMiningChannelSuccess{
			RequestID: reqID, ChannelID: ch.id, Target: ch.target,
			ExtranoncePrefix: prefix.Bytes, GroupChannelID: c.group,
		})
	}
	// The first job is a future job, activated at once by SetNewPrevHash (§5.3.15);
	// pending future templates follow as future jobs.
	if s.tip != nil && s.active != nil {
		c.tip = s.tip
		j, m, err := c.newJob(ch, s.active, true)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
		c.activate(ch, j)
		msgs = append(msgs, &sv2.SetNewPrevHash{ChannelID: ch.id, JobID: j.id, PrevHash: c.tip.prevHash, MinNTime: c.tip.minNTime, NBits: c.tip.nBits})
	}
	for _, e := range s.templates {
		if e.t.FutureTemplate && (s.tip == nil || e.t.TemplateID != s.tip.templateID) {
			_, m, err := c.newJob(ch, e, true)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// takeOpenToken spends one of the connection's channel-open tokens, or
// returns ErrOpenRate when none is left.
func (c *Conn) takeOpenToken() error {
	cfg := &c.srv.cfg
	if cfg.MaxChannelOpensPerSecond < 0 {
		return nil
	}
	now := cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	burst := float64(cfg.ChannelOpenBurst)
	if c.openAt.IsZero() {
		c.openTokens = burst
	} else if dt := now.Sub(c.openAt).Seconds(); dt > 0 {
		c.openTokens = min(burst, c.openTokens+dt*cfg.MaxChannelOpensPerSecond)
	}
	if !now.Before(c.openAt) {
		c.openAt = now
	}
	if c.openTokens < 1 {
		return fmt.Errorf("%w: more than %d at once or %v a second", ErrOpenRate, cfg.ChannelOpenBurst, cfg.MaxChannelOpensPerSecond)
	}
	c.openTokens--
	return nil
}

// newJob makes a job of template e for ch alone and the message announcing it.
func (c *Conn) newJob(ch *channel, e *templateEntry, future bool) (*job, sv2.Message, error) {
	cb, err := c.srv.coinbaseFor(e, c.coinbase, c.srv.cfg.Extranonce.FullSize())
	if err != nil {
		return nil, nil, err
	}
	j, m := c.jobWith(ch, e, cb, future)
	return j, m, nil
}

// jobWith is newJob with the connection's coinbase for e already looked up.
func (c *Conn) jobWith(ch *channel, e *templateEntry, cb *coinbase.Coinbase, future bool) (*job, sv2.Message) {
	j := c.makeJob(ch, e, cb, c.nextJobID(), future)
	if ch.extended {
		return j, c.extendedJob(ch.id, j.id, e, cb, future)
	}
	return j, &sv2.NewMiningJob{ChannelID: ch.id, JobID: j.id, MinNTime: c.minNTime(future), Version: j.version, MerkleRoot: j.merkleRoot}
}

// extendedJob announces job id of template e, with coinbase cb, on an
// extended or group channel.
func (c *Conn) extendedJob(channel, id uint32, e *templateEntry, cb *coinbase.Coinbase, future bool) *sv2.NewExtendedMiningJob {
	return &sv2.NewExtendedMiningJob{
		ChannelID: channel, JobID: id, MinNTime: c.minNTime(future), Version: e.t.Version,
		VersionRollingAllowed: !c.srv.cfg.FixedVersion && !e.fixedVersion, MerklePath: e.t.MerklePath,
		CoinbaseTxPrefix: cb.Prefix(), CoinbaseTxSuffix: cb.Suffix(),
	}
}

// minNTime is a new job's min_ntime: none for a future job, else the tip's.
func (c *Conn) minNTime(future bool) sv2.Option[uint32] {
	if future {
		return sv2.Option[uint32]{}
	}
	return sv2.Some(c.tip.minNTime)
}

// makeJob records a job with id for ch.
func (c *Conn) makeJob(ch *channel, e *templateEntry, cb *coinbase.Coinbase, id uint32, future bool) *job {
	j := &job{
		id: id, templateID: e.t.TemplateID, cb: cb, path: e.t.MerklePath, future: future,
		version: e.t.Version, rolling: !c.srv.cfg.FixedVersion && !e.fixedVersion, prefix: ch.prefix.Bytes,
		target: ch.target, difficulty: target.Difficulty(ch.target),
	}
	if !ch.extended {
		j.merkleRoot = merkle.Root(cb.TxID(ch.prefix.Bytes), e.t.MerklePath)
	}
	ch.addJob(j)
	c.jobRefs[id]++
	if future {
		if ch.future == nil {
			ch.future = make(map[uint64]uint32)
		}
		ch.future[e.t.TemplateID] = id
	} else {
		j.minNTime = c.tip.minNTime
		c.pushActive(ch, id)
	}
	return j
}

// addJob records j as one of the channel's valid jobs.
func (ch *channel) addJob(j *job) {
	if ch.jobs == nil {
		ch.jobs = make(map[uint32]*job)
	}
	ch.jobs[j.id] = j
}

// pushActive appends a non-future job and drops the oldest beyond PastJobs.
func (c *Conn) pushActive(ch *channel, id uint32) {
	ch.order = append(ch.order, id)
	for len(ch.order) > c.srv.cfg.PastJobs+1 {
		old := ch.order[0]
		ch.order = ch.order[1:]
		delete(ch.jobs, old)
		c.releaseJobID(old)
		if ch.root.job != nil && ch.root.job.id == old {
			ch.root = rootCache{}
		}
	}
}

// releaseJobID drops one channel's hold on a job id; at zero the id may be reused.
func (c *Conn) releaseJobID(id uint32) {
	if c.jobRefs[id]--; c.jobRefs[id] <= 0 {
		delete(c.jobRefs, id)
	}
}

// activate makes a future job the active one on the connection's tip, fixing its target.
func (c *Conn) activate(ch *channel, j *job) {
	j.future = false
	delete(ch.future, j.templateID)
	j.minNTime = c.tip.minNTime
	j.target, j.difficulty = ch.target, target.Difficulty(ch.target)
	c.pushActive(ch, j.id)
}

// onTemplate makes this connection's jobs for a new template.
func (c *Conn) onTemplate(e *templateEntry) ([]sv2.Message, error) {
	return c.jobsFor(e, e.t.FutureTemplate)
}

// onActive makes this connection's jobs, active at once, of the tip's
// template anew (with the server's new outputs): earlier jobs stay valid.
func (c *Conn) onActive(e *templateEntry) ([]sv2.Message, error) {
	return c.jobsFor(e, false)
}

// jobsFor makes a job of e for every channel, future or active.
func (c *Conn) jobsFor(e *templateEntry, future bool) ([]sv2.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !future && c.tip == nil {
		c.tip = c.srv.tip
	}
	if len(c.channels) == 0 {
		return nil, nil
	}
	cb, err := c.srv.coinbaseFor(e, c.coinbase, c.srv.cfg.Extranonce.FullSize())
	if err != nil {
		return nil, err
	}
	if c.grouped() {
		// One job for the whole group, announced once on the group channel.
		id := c.nextJobID()
		for _, ch := range c.channels {
			c.makeJob(ch, e, cb, id, future)
		}
		if future {
			c.groupFut[e.t.TemplateID] = id
		}
		return []sv2.Message{c.extendedJob(c.group, id, e, cb, future)}, nil
	}
	msgs := make([]sv2.Message, 0, len(c.channels))
	for _, ch := range c.channels {
		_, m := c.jobWith(ch, e, cb, future)
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// onPrevHash activates the tip's template on every channel and makes all other jobs stale.
func (c *Conn) onPrevHash(e *templateEntry, t *tip) ([]sv2.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tip = t
	var msgs []sv2.Message
	groupJob, groupHas := c.groupFut[e.t.TemplateID]
	if c.grouped() && groupHas {
		msgs = append(msgs, &sv2.SetNewPrevHash{ChannelID: c.group, JobID: groupJob, PrevHash: t.prevHash, MinNTime: t.minNTime, NBits: t.nBits})
	}
	clear(c.groupFut)
	clear(c.jobRefs)
	for _, ch := range c.channels {
		clear(ch.stale)
		if ch.stale == nil && len(ch.jobs) > 0 {
			ch.stale = make(map[uint32]struct{}, len(ch.jobs))
		}
		for id := range ch.jobs {
			ch.stale[id] = struct{}{}
		}
		if len(ch.seen) > seenReuse {
			ch.seen = nil
		} else {
			clear(ch.seen)
		}
		ch.credited = false
		ch.root = rootCache{}
		ch.order = ch.order[:0]
		fid, ok := ch.future[e.t.TemplateID]
		var j *job
		if ok {
			j = ch.jobs[fid]
		}
		clear(ch.jobs)
		clear(ch.future)
		if j == nil {
			var m sv2.Message
			var err error
			j, m, err = c.newJob(ch, e, true)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		} else {
			delete(ch.stale, j.id)
			ch.addJob(j)
			c.jobRefs[j.id]++
		}
		c.activate(ch, j)
		if !groupHas || j.id != groupJob {
			msgs = append(msgs, &sv2.SetNewPrevHash{ChannelID: ch.id, JobID: j.id, PrevHash: t.prevHash, MinNTime: t.minNTime, NBits: t.nBits})
		}
		// The retired prefixes' jobs are stale now: nothing made with them
		// can be credited again.
		for _, idx := range ch.retired {
			c.srv.cfg.Extranonce.Free(idx) //nolint:errcheck // owned by this channel
		}
		ch.retired = ch.retired[:0]
	}
	return msgs, nil
}

// SetTarget sets a channel's target (for example on UpdateChannel) and
// returns the SetTarget to send. Jobs already active keep the target they were
// sent with; future jobs take the new one (§5.3.21). A target easier than the
// channel's max_target or the server's MinShareDifficulty is capped at the harder
// of the two.
func (c *Conn) SetTarget(channelID uint32, t sv2.U256) (*sv2.SetTarget, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[channelID]
	if ch == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownChannel, channelID)
	}
	if b := c.srv.bound(ch.maxTarget); target.Less(b, t) {
		t = b
	}
	return c.setTargetLocked(ch, t), nil
}

func (c *Conn) setTargetLocked(ch *channel, t sv2.U256) *sv2.SetTarget {
	ch.target = t
	for _, id := range ch.future {
		if j := ch.jobs[id]; j != nil {
			j.target, j.difficulty = t, target.Difficulty(t)
		}
	}
	return &sv2.SetTarget{ChannelID: ch.id, MaximumTarget: t}
}

// UpdateChannel applies an UpdateChannel (§5.3.7): the new maximum_target
// bounds the channel's target at once, and without vardiff the target follows
// the new nominal hashrate. It returns the SetTarget to send, if the target
// changed, or an *UpdateError whose Code goes in UpdateChannel.Error (an
// unknown channel also matches ErrUnknownChannel).
func (c *Conn) UpdateChannel(m *sv2.UpdateChannel) (*sv2.SetTarget, error) {
	hashrate := float64(m.NominalHashRate)
	if !(hashrate >= 0) || math.IsInf(hashrate, 0) {
		return nil, &UpdateError{Code: CodeInvalidNominalHashrate, Err: fmt.Errorf("hashrate %v", m.NominalHashRate)}
	}
	if m.MaximumTarget == (sv2.U256{}) {
		return nil, &UpdateError{Code: CodeUpdateChannelMaxTargetTooLow, Err: errors.New("maximum_target is zero")}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[m.ChannelID]
	if ch == nil {
		return nil, &UpdateError{Code: CodeUpdateChannelInvalidChannelID, Err: fmt.Errorf("%w: %d", ErrUnknownChannel, m.ChannelID)}
	}
	ch.maxTarget = m.MaximumTarget
	var t sv2.U256
	bound := c.srv.bound(m.MaximumTarget)
	if ch.vd != nil {
		// Vardiff measures the real share rate; it only needs the new bound.
		t, _ = ch.vd.SetMaxTarget(bound)
	} else {
		var err error
		if t, err = target.FromHashrate(hashrate, c.srv.cfg.SharesPerMinute); err != nil {
			return nil, &UpdateError{Code: CodeInvalidNominalHashrate, Err: err}
		}
		if target.Less(bound, t) {
			t = bound
		}
	}
	if t == ch.target {
		return nil, nil
	}
	return c.setTargetLocked(ch, t), nil
}

// UpdateTargets runs vardiff on every channel and returns the SetTarget
// messages for the channels whose target changed. Call it periodically.
func (c *Conn) UpdateTargets() []sv2.Message {
	if c.srv.cfg.Vardiff == nil {
		return nil
	}
	now := c.srv.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var msgs []sv2.Message
	for _, ch := range c.channels {
		if t, changed := ch.vd.Update(now); changed {
			msgs = append(msgs, c.setTargetLocked(ch, t))
		}
	}
	return msgs
}

// SetExtranoncePrefix gives a channel a new prefix for the jobs that follow
// (§5.3.10); the old one stays reserved until its jobs are stale.
func (c *Conn) SetExtranoncePrefix(channelID uint32) (*sv2.SetExtranoncePrefix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[channelID]
	if ch == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownChannel, channelID)
	}
	p, err := c.srv.cfg.Extranonce.Allocate(!ch.extended)
	if err != nil {
		return nil, err
	}
	ch.retired = append(ch.retired, ch.prefix.Index)
	ch.prefix = p
	return &sv2.SetExtranoncePrefix{ChannelID: ch.id, ExtranoncePrefix: p.Bytes}, nil
}

// CloseChannel forgets a channel, or every channel of the group when
// channelID is the group channel (§5.3.9). Its jobs go with it. If it accepted
// a share on the current tip, its prefixes are reused only after the next prev
// hash (a job of the same template with the same prefix would take the same
// shares again); otherwise nothing was credited with them and they are reused
// at once, so opening and closing channels does not use prefixes up.
func (c *Conn) CloseChannel(channelID uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if channelID != 0 && channelID == c.group {
		for id := range c.channels {
			c.closeLocked(id)
		}
		return nil
	}
	if c.channels[channelID] == nil {
		return fmt.Errorf("%w: %d", ErrUnknownChannel, channelID)
	}
	c.closeLocked(channelID)
	return nil
}

func (c *Conn) closeLocked(id uint32) {
	ch := c.channels[id]
	delete(c.channels, id)
	alloc := c.srv.cfg.Extranonce
	for _, idx := range append(ch.retired, ch.prefix.Index) {
		if ch.credited {
			alloc.Release(idx) //nolint:errcheck // owned by this channel
		} else {
			alloc.Free(idx) //nolint:errcheck // owned by this channel
		}
	}
	for jid := range ch.jobs {
		c.releaseJobID(jid)
	}
}

// Credited reports whether a channel accepted a share on the current tip:
// closed now, its extranonce prefix would stay quarantined until the next
// prev hash (see CloseChannel). Unknown channels are not.
func (c *Conn) Credited(channelID uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[channelID]
	return ch != nil && ch.credited
}

// Target returns a channel's current target.
func (c *Conn) Target(channelID uint32) (sv2.U256, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[channelID]
	if ch == nil {
		return sv2.U256{}, false
	}
	return ch.target, true
}

// GroupChannelID returns the connection's group channel id (0 before the first channel).
func (c *Conn) GroupChannelID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.group
}

// OpenedChannelID is the channel an open's answer names: the first of the
// messages OpenStandardChannel and OpenExtendedChannel return without an
// error is its success.
func OpenedChannelID(msgs []sv2.Message) (uint32, bool) {
	if len(msgs) == 0 {
		return 0, false
	}
	switch m := msgs[0].(type) {
	case *sv2.OpenStandardMiningChannelSuccess:
		return m.ChannelID, true
	case *sv2.OpenExtendedMiningChannelSuccess:
		return m.ChannelID, true
	}
	return 0, false
}
