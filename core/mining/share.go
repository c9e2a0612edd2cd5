package mining

import (
	"encoding/binary"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// ShareStatus is the outcome of one share.
type ShareStatus uint8

// Share outcomes.
const (
	ShareRejected ShareStatus = iota
	ShareAccepted
	ShareBlockFound // accepted, and its hash meets the network target
)

func (s ShareStatus) String() string {
	switch s {
	case ShareAccepted:
		return "accepted"
	case ShareBlockFound:
		return "block found"
	default:
		return "rejected"
	}
}

// ShareResult is what validating one share produced.
type ShareResult struct {
	Status     ShareStatus
	Code       string   // the SubmitShares.Error code when rejected
	Hash       sv2.U256 // the header hash, when computed
	Difficulty float64  // credited difficulty: that of the job's target when it was sent, or of an easier SetTarget since
	// Ack is due when AckDue is set: the batch reached ShareBatchSize, or a block was found.
	Ack    sv2.SubmitSharesSuccess
	AckDue bool
	Block  *FoundBlock // when Status is ShareBlockFound
	// TemplateID is the template of the share's job (0 for a custom job),
	// and Prefix the job's extranonce prefix (the whole extranonce of a
	// standard channel): with the share's own extranonce, what a proxy or a
	// job declarator client needs to pass an accepted share upstream. Prefix
	// is shared: do not modify it.
	TemplateID uint64
	Prefix     []byte
}

// Reply returns the message the share calls for now: a SubmitShares.Error, a
// due SubmitShares.Success, or nil. It allocates; the result fields do not.
func (r *ShareResult) Reply(channelID, seq uint32) sv2.Message {
	switch {
	case r.Status == ShareRejected:
		return &sv2.SubmitSharesError{ChannelID: channelID, SequenceNumber: seq, ErrorCode: r.Code}
	case r.AckDue:
		ack := r.Ack
		return &ack
	}
	return nil
}

// FoundBlock is everything needed to submit a found block: SubmitSolution for
// a template provider, or with the template's transactions, block.Assemble.
type FoundBlock struct {
	TemplateID uint64 // 0 for a custom job
	// Custom marks a custom job's block: its miner's job declarator client
	// has the transactions and submits it (§6.3), the pool cannot.
	Custom bool
	// MerklePath is a custom job's, by which its job declarator finds the
	// declared transactions; nil for template jobs.
	MerklePath []sv2.U256
	Height     int64 // from the templates' BIP34 push; -1 if they do not say
	Header     block.Header
	Coinbase   []byte // complete, BIP141 fields kept
}

// SubmitSolution returns the Template Distribution message for the block (§7.7).
func (f *FoundBlock) SubmitSolution() *sv2.SubmitSolution {
	return &sv2.SubmitSolution{
		TemplateID: f.TemplateID, Version: f.Header.Version, HeaderTimestamp: f.Header.NTime,
		HeaderNonce: f.Header.Nonce, CoinbaseTx: f.Coinbase,
	}
}

func reject(code string) ShareResult { return ShareResult{Status: ShareRejected, Code: code} }

// SubmitStandard validates a SubmitSharesStandard.
func (c *Conn) SubmitStandard(m *sv2.SubmitSharesStandard) ShareResult {
	return c.submit(m.ChannelID, m.SequenceNumber, m.JobID, m.Nonce, m.NTime, m.Version, nil, false)
}

// SubmitExtended validates a SubmitSharesExtended.
func (c *Conn) SubmitExtended(m *sv2.SubmitSharesExtended) ShareResult {
	return c.submit(m.ChannelID, m.SequenceNumber, m.JobID, m.Nonce, m.NTime, m.Version, m.Extranonce, true)
}

func (c *Conn) submit(chID, seq, jobID, nonce, ntime, version uint32, extranonce []byte, extended bool) ShareResult {
	now := c.srv.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[chID]
	if ch == nil || ch.extended != extended {
		return reject(CodeInvalidChannelID)
	}
	j := ch.jobs[jobID]
	if j == nil {
		if _, ok := ch.stale[jobID]; ok {
			return reject(CodeStaleShare)
		}
		return reject(CodeInvalidJobID)
	}
	if j.future || c.tip == nil {
		return reject(CodeInvalidJobID) // no prev hash for it yet
	}
	if extended && len(extranonce) != ch.rollable {
		return reject(CodeBadExtranonceSize)
	}
	maxNTime := now.Unix() + int64(c.srv.cfg.MaxNTimeAhead.Seconds())
	if ntime < j.minNTime || int64(ntime) > maxNTime {
		return reject(CodeInvalidShare)
	}
	if version != j.version {
		if !j.rolling {
			return reject(CodeVersionRollingNotAllowed)
		}
		if (version^j.version)&^VersionRollingMask != 0 {
			return reject(CodeInvalidNonRollableVersionBit)
		}
	}
	h := block.Header{Version: version, PrevHash: c.tip.prevHash, MerkleRoot: j.merkleRoot, NTime: ntime, NBits: c.tip.nBits, Nonce: nonce}
	if extended {
		rc := &ch.root
		if !rc.valid || rc.job != j || string(rc.ext[:rc.n]) != string(extranonce) {
			rc.root = merkle.Root(coinbase.TxID(j.cb.Prefix(), j.prefix, extranonce, j.cb.Suffix()), j.path)
			rc.valid, rc.job, rc.n = true, j, copy(rc.ext[:], extranonce)
		}
		h.MerkleRoot = rc.root
	}
	hash := h.Hash()
	// The network target first, so that a block is never lost to a share target.
	isBlock := target.Meets(&hash, &c.tip.network)
	// A share meets the job's target, or the channel's when a SetTarget made
	// it easier since the job was sent: beyond §5.3.21 (a target for the
	// jobs that follow), as Stratum V1 miners take set_difficulty at once. A
	// harder one does not refuse the shares of jobs sent before it. Vardiff
	// counts the share at the target the miner was then asked for.
	jt, difficulty := &j.target, j.difficulty
	if target.Less(j.target, ch.target) {
		jt = &ch.target
		if !target.Meets(&hash, &j.target) {
			difficulty = target.Difficulty(ch.target)
		}
	}
	if !isBlock && !target.Meets(&hash, jt) {
		return reject(CodeDifficultyTooLow)
	}
	key := binary.LittleEndian.Uint64(hash[:8])
	if _, dup := ch.seen[key]; dup {
		return reject(CodeDuplicateShare)
	}
	if ch.vd != nil {
		ch.vd.OnShareAt(*jt) // a share refused for a full set still shows the rate
	}
	if len(ch.seen) >= c.srv.cfg.MaxSharesPerTip && !isBlock {
		return reject(CodeTooManyShares)
	}
	if ch.seen == nil {
		ch.seen = make(map[uint64]struct{})
	}
	ch.seen[key] = struct{}{}
	ch.credited = true
	r := ShareResult{Status: ShareAccepted, Hash: hash, Difficulty: difficulty, TemplateID: j.templateID, Prefix: j.prefix}
	ch.batch.count++
	ch.batch.sum += difficulty
	ch.batch.lastSeq = seq
	if isBlock {
		full := append(append([]byte(nil), j.prefix...), extranonce...)
		r.Status = ShareBlockFound
		r.Block = &FoundBlock{TemplateID: j.templateID, Custom: j.custom, Height: c.tip.height, Header: h, Coinbase: j.cb.AppendTx(nil, full)}
		if j.custom {
			r.Block.MerklePath = j.path
		}
	}
	if isBlock || ch.batch.count >= uint32(c.srv.cfg.ShareBatchSize) || c.ackEach.Load() {
		r.AckDue = true
		r.Ack = ch.batch.ack(ch.id)
	}
	return r
}

// FlushAck returns the acknowledgement of a channel's partial batch, if it has
// one, and starts a new batch; for example before closing the channel.
func (c *Conn) FlushAck(channelID uint32) (*sv2.SubmitSharesSuccess, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[channelID]
	if ch == nil || ch.batch.count == 0 {
		return nil, false
	}
	ack := ch.batch.ack(ch.id)
	return &ack, true
}
