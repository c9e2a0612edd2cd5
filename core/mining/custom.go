package mining

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// CustomJobConfig lets a Server accept custom jobs (SetCustomMiningJob,
// §5.3.18, from a job declarator client, §6).
type CustomJobConfig struct {
	// PayoutScript is the locking script of the pool payout output, the
	// first output of AllocateMiningJobToken.Success's coinbase_tx_outputs
	// (§6.4.3). A custom job must pay it (required).
	PayoutScript []byte
	// MinPayout, when set, is the least a custom job at height must pay
	// the payout script (the block subsidy, say); less is refused as
	// invalid-coinbase-tx-outputs. Without it any positive amount will do.
	MinPayout func(height int64) uint64
	// VerifyToken checks a job's mining_job_token, for example that the
	// pool's job declarator server granted it to the channel's user for
	// exactly this job (see core/jdtoken), and spends it. Nil accepts any
	// token. It is called once the job passed every other check, without
	// locks held, from the goroutine that calls SetCustomMiningJob on c.
	VerifyToken func(c *Conn, m *sv2.SetCustomMiningJob) error
}

// maxMerklePath bounds a custom job's merkle path: a block of at most
// 4,000,000 weight units holds at most 16,666 transactions of the minimum 240,
// whose coinbase branch is 15 hashes deep.
const maxMerklePath = 15

// CustomJob is an accepted SetCustomMiningJob.
type CustomJob struct {
	Success sv2.SetCustomMiningJobSuccess // to send
	// Payout is what the coinbase pays to the pool payout script and Total
	// what all its outputs pay, in satoshis. When the miner kept part of the
	// reward, Payout < Total, and a pool MAY pay the job's shares in
	// proportion (§6.4.3, example B).
	Payout, Total uint64
}

// SetCustomMiningJob validates a custom job on an extended channel, or on the
// group channel for every extended channel in it (standard members are
// ignored, §5.3.18), and makes it the channels' newest job: shares on it are
// validated like those on other extended jobs, and a new prev hash makes it
// stale. A refusal is a *CustomJobError whose Code goes in
// SetCustomMiningJob.Error.
//
// The job must build on the current tip (prev_hash, nbits, a min_ntime not
// below the tip's nor beyond MaxNTimeAhead), have a consensus-valid version,
// a coinbase_prefix that starts with the BIP34 height of the pool's own
// templates and leaves room for the channel's extranonce in a scriptSig of
// at most 100 bytes, well-formed outputs paying the pool payout script, a
// coinbase final at that height, and a merkle path no deeper than a block
// allows. Time-based coinbase locktimes are left to the job declarator server.
func (c *Conn) SetCustomMiningJob(m *sv2.SetCustomMiningJob) (*CustomJob, error) {
	cfg := c.srv.cfg.CustomJobs
	switch {
	case cfg == nil:
		return nil, customErr(CodeJDNotSupported, errors.New("the server takes no custom jobs"))
	case c.flags&FlagRequiresWorkSelection == 0:
		return nil, customErr(CodeJDNotSupported, errors.New("the connection did not negotiate REQUIRES_WORK_SELECTION"))
	case int32(m.Version) < 4:
		// Consensus rejects versions below 4 since BIP65 (Core's bad-version).
		return nil, customErr(CodeInvalidVersion, fmt.Errorf("version %#x", m.Version))
	case len(m.MerklePath) > maxMerklePath:
		return nil, customErr(CodeInvalidMerklePath, fmt.Errorf("%d hashes, a block allows %d", len(m.MerklePath), maxMerklePath))
	}
	cb, outs, err := coinbase.FromCustomJob(m, c.srv.cfg.Extranonce.FullSize())
	switch {
	case errors.Is(err, coinbase.ErrOutputs):
		return nil, customErr(CodeInvalidCoinbaseTxOutputs, err)
	case err != nil:
		return nil, customErr(CodeInvalidCoinbasePrefix, err)
	}
	res := &CustomJob{Success: sv2.SetCustomMiningJobSuccess{ChannelID: m.ChannelID, RequestID: m.RequestID}}
	for _, o := range outs {
		res.Total += uint64(o.Value)
		if bytes.Equal(o.PkScript, cfg.PayoutScript) {
			res.Payout += uint64(o.Value)
		}
	}
	if res.Payout == 0 {
		return nil, customErr(CodeInvalidCoinbaseTxOutputs, errors.New("nothing paid to the pool payout script"))
	}
	maxNTime := c.srv.cfg.Now().Unix() + int64(c.srv.cfg.MaxNTimeAhead.Seconds())

	c.mu.Lock()
	t, err := c.checkCustomTip(m, maxNTime)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if cfg.MinPayout != nil && t.height >= 0 {
		if least := cfg.MinPayout(t.height); res.Payout < least {
			return nil, customErr(CodeInvalidCoinbaseTxOutputs, fmt.Errorf("%d sat to the pool payout script, at least %d due at height %d", res.Payout, least, t.height))
		}
	}
	if cfg.VerifyToken != nil {
		if err := cfg.VerifyToken(c, m); err != nil {
			return nil, customErr(CodeInvalidMiningJobToken, err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tip != t { // a new block while the token was checked
		return nil, customErr(CodeStaleChainTip, fmt.Errorf("prev hash %x is no longer the tip", m.PrevHash))
	}
	members, err := c.customJobChannels(m.ChannelID)
	if err != nil {
		return nil, err
	}
	res.Success.JobID = c.nextJobID()
	for _, ch := range members {
		j := &job{
			id: res.Success.JobID, custom: true, cb: cb, path: m.MerklePath, version: m.Version,
			rolling: !c.srv.cfg.FixedVersion, prefix: ch.prefix.Bytes, minNTime: m.MinNTime,
			target: ch.target, difficulty: target.Difficulty(ch.target),
		}
		ch.addJob(j)
		c.jobRefs[j.id]++
		c.pushActive(ch, j.id)
	}
	return res, nil
}

// checkCustomTip checks a custom job against the current tip and returns
// that tip; c.mu is held.
func (c *Conn) checkCustomTip(m *sv2.SetCustomMiningJob, maxNTime int64) (*tip, error) {
	if _, err := c.customJobChannels(m.ChannelID); err != nil {
		return nil, err
	}
	t := c.tip
	switch {
	case t == nil || m.PrevHash != t.prevHash:
		return nil, customErr(CodeStaleChainTip, fmt.Errorf("prev hash %x is not the tip", m.PrevHash))
	case m.NBits != t.nBits:
		return nil, customErr(CodeInvalidNBits, fmt.Errorf("nbits %#08x, the tip's are %#08x", m.NBits, t.nBits))
	case m.MinNTime < t.minNTime || int64(m.MinNTime) > maxNTime:
		return nil, customErr(CodeInvalidMinNTime, fmt.Errorf("min_ntime %d, want %d to %d", m.MinNTime, t.minNTime, maxNTime))
	case t.height >= 0 && !bytes.HasPrefix(m.CoinbasePrefix, t.heightPush):
		return nil, customErr(CodeInvalidCoinbasePrefix, fmt.Errorf("coinbase_prefix %x does not start with height %d (%x)", m.CoinbasePrefix, t.height, t.heightPush))
	case t.height >= 0 && !finalAtHeight(m.CoinbaseTxLocktime, m.CoinbaseTxInputNSequence, t.height):
		return nil, customErr(CodeInvalidCoinbaseTxLocktime, fmt.Errorf("locktime %d with sequence %#x is not final at height %d", m.CoinbaseTxLocktime, m.CoinbaseTxInputNSequence, t.height))
	}
	return t, nil
}

// customJobChannels returns the extended channels a custom job on id is for.
func (c *Conn) customJobChannels(id uint32) ([]*channel, error) {
	if ch := c.channels[id]; ch != nil {
		if !ch.extended {
			return nil, customErr(CodeCustomJobInvalidChannelID, fmt.Errorf("channel %d is a standard channel", id))
		}
		return []*channel{ch}, nil
	}
	var members []*channel
	if id != 0 && id == c.group {
		for _, ch := range c.channels {
			if ch.extended {
				members = append(members, ch)
			}
		}
	}
	if len(members) == 0 {
		return nil, customErr(CodeCustomJobInvalidChannelID, fmt.Errorf("%w: %d, or a group without extended channels", ErrUnknownChannel, id))
	}
	return members, nil
}

func customErr(code string, err error) *CustomJobError { return &CustomJobError{Code: code, Err: err} }

// finalAtHeight reports whether a coinbase with this locktime and input
// sequence may be in a block at height: a final sequence or a zero locktime
// always is, a height locktime must be below the height, and a time locktime
// (500,000,000 and up) is not judged here.
func finalAtHeight(locktime, sequence uint32, height int64) bool {
	const lockTimeThreshold = 500_000_000
	switch {
	case sequence == 0xffffffff || locktime == 0 || locktime >= lockTimeThreshold:
		return true
	default:
		return int64(locktime) < height
	}
}
