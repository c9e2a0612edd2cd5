package integration

import (
	"math"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"testing"
	"time"

	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// share finds a nonce for w whose hash meets (or, with !valid, misses) the
// share target.
func (m *testMiner) share(t *testing.T, w *mining.Work, extranonce []byte, valid bool) *sv2.SubmitSharesStandard {
	t.Helper()
	h := w.Header(extranonce, m.nonce, w.MinNTime, w.Version)
	for ; ; h.Nonce++ {
		hash := h.Hash()
		if target.Meets(&hash, &w.Target) == valid {
			break
		}
	}
	m.nonce = h.Nonce + 1 // the next share is another one
	m.seq++
	return &sv2.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: m.seq, JobID: w.JobID, Nonce: h.Nonce, NTime: h.NTime, Version: h.Version}
}

func payoutOpTrue(t *testing.T) pool.Payout {
	p, err := pool.ParsePayout("51", &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// 4. Share rules end to end: batches, duplicates, easy shares, stale shares.
func TestPoolShareRules(t *testing.T) {
	t.Parallel()
	f := startFakeTP(t)
	pl := startPool(t, f.asTP(), func(cfg *pool.Config) {
		cfg.Payouts = []pool.Payout{payoutOpTrue(t)}
		cfg.ShareBatchSize = 3
	})
	m := startMiner(t, pl.addr, pl.key, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, 1, "dave")
	w := m.work(t, ch)
	difficulty := target.Difficulty(w.Target)

	// Three valid shares make one acknowledgement with their count and sum.
	var last *sv2.SubmitSharesStandard
	for range 3 {
		last = m.share(t, w, nil, true)
		m.send(t, last)
	}
	ack := expect[*sv2.SubmitSharesSuccess](t, m, time.Minute)
	if ack.ChannelID != ch || ack.NewSubmitsAcceptedCount != 3 || ack.LastSequenceNumber != last.SequenceNumber || ack.NewSharesSum != uint64(math.Round(3*difficulty)) {
		t.Errorf("acknowledgement %+v, want 3 shares up to %d summing %.0f", ack, last.SequenceNumber, 3*difficulty)
	}
	reject := func(s *sv2.SubmitSharesStandard, code string) {
		t.Helper()
		m.send(t, s)
		e := expect[*sv2.SubmitSharesError](t, m, time.Minute)
		if e.ErrorCode != code || e.SequenceNumber != s.SequenceNumber {
			t.Errorf("got %+v, want %s for sequence %d", e, code, s.SequenceNumber)
		}
	}
	dup := *last
	m.seq++
	dup.SequenceNumber = m.seq
	reject(&dup, mining.CodeDuplicateShare)
	reject(m.share(t, w, nil, false), mining.CodeDifficultyTooLow)

	// After a new block, the old job's shares are stale.
	old := w
	f.newTip(t)
	waitNewWork(t, m, ch, old.PrevHash)
	reject(m.share(t, old, nil, true), mining.CodeStaleShare)
	// The new job's shares count again, in a fresh batch.
	w = m.work(t, ch)
	for range 3 {
		m.send(t, m.share(t, w, nil, true))
	}
	if ack := expect[*sv2.SubmitSharesSuccess](t, m, time.Minute); ack.NewSubmitsAcceptedCount != 3 {
		t.Errorf("second batch %+v", ack)
	}
	if u := pl.pool.Stats().Users["dave"]; u.Accepted != 6 || u.Rejected[mining.CodeDuplicateShare] != 1 ||
		u.Rejected[mining.CodeDifficultyTooLow] != 1 || u.Rejected[mining.CodeStaleShare] != 1 {
		t.Errorf("accounting for dave: %+v", u)
	}
}

// waitNewWork waits until the channel works on another prev hash than old.
func waitNewWork(t *testing.T, m *testMiner, ch uint32, old sv2.U256) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if w, ok := m.state.Work(ch); ok && w.PrevHash != old {
			return
		}
		select {
		case <-m.msgs:
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("channel %d stayed on %x", ch, old)
}

// 2. Group channels: ten extended channels on one connection get one job
// and one prev hash per template, addressed to the group; ten standard
// channels on a REQUIRES_STANDARD_JOBS connection get a job each.
func TestPoolGroupChannels(t *testing.T) {
	t.Parallel()
	f := startFakeTP(t)
	pl := startPool(t, f.asTP(), func(cfg *pool.Config) { cfg.Payouts = []pool.Payout{payoutOpTrue(t)} })

	ext := startMiner(t, pl.addr, pl.key, 0)
	var group uint32
	for i := range 10 {
		ext.send(t, &sv2.OpenExtendedMiningChannel{RequestID: uint32(i + 1), UserIdentity: "erin", NominalHashRate: tinyHashrate, MaxTarget: maxTarget, MinExtranonceSize: 8})
		s := expect[*sv2.OpenExtendedMiningChannelSuccess](t, ext, time.Minute)
		if group != 0 && s.GroupChannelID != group {
			t.Fatalf("channel %d in group %d, others in %d", s.ChannelID, s.GroupChannelID, group)
		}
		group = s.GroupChannelID
	}
	std := startMiner(t, pl.addr, pl.key, mining.FlagRequiresStandardJobs)
	stdChannels := map[uint32]bool{}
	for i := range 10 {
		stdChannels[std.openStandard(t, uint32(i+1), "frank")] = true
	}
	drain(ext)
	drain(std)

	f.newTip(t)
	// Extended connection: exactly one job and one prev hash, to the group.
	job := expect[*sv2.NewExtendedMiningJob](t, ext, time.Minute)
	snph := expect[*sv2.SetNewPrevHash](t, ext, time.Minute)
	if job.ChannelID != group || snph.ChannelID != group || snph.JobID != job.JobID {
		t.Errorf("job to %d, prev hash to %d (job %d), want both to group %d", job.ChannelID, snph.ChannelID, snph.JobID, group)
	}
	// Standard connection: one NewMiningJob per channel.
	jobs := map[uint32]int{}
	for len(jobs) < 10 {
		j := expect[*sv2.NewMiningJob](t, std, time.Minute)
		if !stdChannels[j.ChannelID] {
			t.Fatalf("job for unknown channel %d", j.ChannelID)
		}
		jobs[j.ChannelID]++
	}
	// Nothing more for the extended connection about this template.
	quiet := time.After(300 * time.Millisecond)
	for {
		select {
		case m := <-ext.msgs:
			if _, isJob := m.(*sv2.NewExtendedMiningJob); isJob {
				t.Errorf("a second extended job for one template: %+v", m)
			}
			if _, isPrev := m.(*sv2.SetNewPrevHash); isPrev {
				t.Errorf("a second prev hash for one template: %+v", m)
			}
		case <-quiet:
			return
		}
	}
}

func drain(m *testMiner) {
	for {
		select {
		case <-m.msgs:
		default:
			return
		}
	}
}
