package mining

import (
	"errors"
	"testing"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// clientTarget returns a distinct target per n, for telling targets apart.
func clientTarget(n byte) sv2.U256 {
	t := target.Max()
	t[31] = n
	return t
}

func handle(t *testing.T, c *Client, msgs ...sv2.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := c.Handle(m); err != nil {
			t.Fatalf("Handle(%T): %v", m, err)
		}
	}
}

func wantWork(t *testing.T, c *Client, ch uint32) *Work {
	t.Helper()
	w, ok := c.Work(ch)
	if !ok {
		t.Fatalf("channel %d has no work", ch)
	}
	return w
}

func wantNoWork(t *testing.T, c *Client, ch uint32) {
	t.Helper()
	if w, ok := c.Work(ch); ok {
		t.Fatalf("channel %d has work %+v, want none", ch, w)
	}
}

var (
	clientPrev  = sv2.U256{1, 2, 3}
	clientPrev2 = sv2.U256{4, 5, 6}
)

func TestClientStandardChannelJobs(t *testing.T) {
	c := NewClient()
	handle(t, c, &sv2.OpenStandardMiningChannelSuccess{ChannelID: 1, GroupChannelID: 9, Target: clientTarget(1), ExtranoncePrefix: []byte{7, 7}})
	wantNoWork(t, c, 1)

	// A future job waits for its prev hash.
	handle(t, c, &sv2.NewMiningJob{ChannelID: 1, JobID: 10, Version: 0x20000000, MerkleRoot: sv2.U256{10}})
	wantNoWork(t, c, 1)
	handle(t, c, &sv2.SetNewPrevHash{ChannelID: 1, JobID: 10, PrevHash: clientPrev, MinNTime: 1000, NBits: 0x1d00ffff})
	w := wantWork(t, c, 1)
	want := Work{ChannelID: 1, JobID: 10, Version: 0x20000000, VersionRolling: true, PrevHash: clientPrev,
		NBits: 0x1d00ffff, MinNTime: 1000, Target: clientTarget(1), MerkleRoot: sv2.U256{10}}
	if w.ChannelID != want.ChannelID || w.JobID != want.JobID || w.Version != want.Version || w.PrevHash != want.PrevHash ||
		w.NBits != want.NBits || w.MinNTime != want.MinNTime || w.Target != want.Target || w.MerkleRoot != want.MerkleRoot || w.Extended {
		t.Fatalf("work %+v, want %+v", w, want)
	}
	if h := w.Header(nil, 5, 1001, w.Version); h.MerkleRoot != want.MerkleRoot || h.PrevHash != clientPrev || h.Nonce != 5 || h.NTime != 1001 {
		t.Fatalf("header %+v", h)
	}

	// A non-future job replaces the active one on the same prev hash.
	handle(t, c, &sv2.NewMiningJob{ChannelID: 1, JobID: 11, MinNTime: sv2.Some[uint32](1005), Version: 0x20000000, MerkleRoot: sv2.U256{11}})
	w = wantWork(t, c, 1)
	if w.JobID != 11 || w.MinNTime != 1005 || w.PrevHash != clientPrev || w.NBits != 0x1d00ffff {
		t.Fatalf("work after an active job: %+v", w)
	}

	// Only the job a SetNewPrevHash names stays valid: the other future job is dropped.
	handle(t, c, &sv2.NewMiningJob{ChannelID: 1, JobID: 12, Version: 1}, &sv2.NewMiningJob{ChannelID: 1, JobID: 13, Version: 1})
	handle(t, c, &sv2.SetNewPrevHash{ChannelID: 1, JobID: 12, PrevHash: clientPrev2, MinNTime: 2000, NBits: 0x1d00ffff})
	if w := wantWork(t, c, 1); w.JobID != 12 || w.PrevHash != clientPrev2 {
		t.Fatalf("work %+v, want job 12 on the new prev hash", w)
	}
	err := c.Handle(&sv2.SetNewPrevHash{ChannelID: 1, JobID: 13, PrevHash: clientPrev, MinNTime: 3000})
	if !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("prev hash for a dropped future job: %v, want ErrUnknownJob", err)
	}
	wantNoWork(t, c, 1) // the old job is stale and no new one is known
}

func TestClientActiveJobBeforePrevHashIsIgnored(t *testing.T) {
	c := NewClient()
	handle(t, c, &sv2.OpenStandardMiningChannelSuccess{ChannelID: 1, Target: clientTarget(1)},
		&sv2.NewMiningJob{ChannelID: 1, JobID: 3, MinNTime: sv2.Some[uint32](5)})
	wantNoWork(t, c, 1)
}

// TestClientSetTarget checks §5.3.21: the target applies to future jobs
// already received and to jobs received later, not to the active job.
func TestClientSetTarget(t *testing.T) {
	c := NewClient()
	handle(t, c,
		&sv2.OpenStandardMiningChannelSuccess{ChannelID: 1, GroupChannelID: 9, Target: clientTarget(1)},
		&sv2.NewMiningJob{ChannelID: 1, JobID: 1},
		&sv2.SetNewPrevHash{ChannelID: 1, JobID: 1, PrevHash: clientPrev},
		&sv2.NewMiningJob{ChannelID: 1, JobID: 2}, // future, received at the old target
		&sv2.SetTarget{ChannelID: 1, MaximumTarget: clientTarget(2)},
	)
	if w := wantWork(t, c, 1); w.JobID != 1 || w.Target != clientTarget(1) {
		t.Fatalf("active job %d has target %x, want it unchanged", w.JobID, w.Target)
	}
	handle(t, c, &sv2.SetNewPrevHash{ChannelID: 1, JobID: 2, PrevHash: clientPrev2})
	if w := wantWork(t, c, 1); w.JobID != 2 || w.Target != clientTarget(2) {
		t.Fatalf("future job %d activated with target %x, want the new one", w.JobID, w.Target)
	}
	handle(t, c, &sv2.NewMiningJob{ChannelID: 1, JobID: 3, MinNTime: sv2.Some[uint32](1)})
	if w := wantWork(t, c, 1); w.JobID != 3 || w.Target != clientTarget(2) {
		t.Fatalf("later job %d has target %x, want the new one", w.JobID, w.Target)
	}

	// A SetTarget on the group channel applies to every member.
	handle(t, c, &sv2.OpenStandardMiningChannelSuccess{ChannelID: 2, GroupChannelID: 9, Target: clientTarget(1)},
		&sv2.SetTarget{ChannelID: 9, MaximumTarget: clientTarget(3)},
		&sv2.NewExtendedMiningJob{ChannelID: 9, JobID: 5},
		&sv2.SetNewPrevHash{ChannelID: 9, JobID: 5, PrevHash: clientPrev2})
	for _, ch := range []uint32{1, 2} {
		if w := wantWork(t, c, ch); w.JobID != 5 || w.Target != clientTarget(3) {
			t.Fatalf("channel %d: job %d, target %x after a group SetTarget", ch, w.JobID, w.Target)
		}
	}
}

func TestClientExtendedChannelAndSetExtranoncePrefix(t *testing.T) {
	tmpl := testTemplate(1, true, 3)
	cb, err := coinbase.New(tmpl, coinbase.Config{Outputs: testServer(t, nil).cfg.Coinbase.Outputs}, 8)
	if err != nil {
		t.Fatal(err)
	}
	job := func(id uint32) *sv2.NewExtendedMiningJob {
		return &sv2.NewExtendedMiningJob{ChannelID: 1, JobID: id, MinNTime: sv2.Some[uint32](100), Version: 0x20000000,
			VersionRollingAllowed: true, MerklePath: tmpl.MerklePath, CoinbaseTxPrefix: cb.Prefix(), CoinbaseTxSuffix: cb.Suffix()}
	}
	c := NewClient()
	p1, p2 := []byte{1, 1, 1, 1}, []byte{2, 2, 2, 2}
	handle(t, c,
		&sv2.OpenExtendedMiningChannelSuccess{ChannelID: 1, GroupChannelID: 9, Target: clientTarget(1), ExtranonceSize: 4, ExtranoncePrefix: p1},
		&sv2.NewExtendedMiningJob{ChannelID: 1, JobID: 1, MerklePath: tmpl.MerklePath, CoinbaseTxPrefix: cb.Prefix(), CoinbaseTxSuffix: cb.Suffix()},
		&sv2.SetNewPrevHash{ChannelID: 1, JobID: 1, PrevHash: clientPrev, MinNTime: 100},
		job(2),
	)
	old := wantWork(t, c, 1)
	if !old.Extended || old.ExtranonceSize != 4 || string(old.ExtranoncePrefix) != string(p1) || !old.VersionRolling {
		t.Fatalf("extended work %+v", old)
	}
	handle(t, c, &sv2.SetExtranoncePrefix{ChannelID: 1, ExtranoncePrefix: p2}, job(3))
	w := wantWork(t, c, 1)
	if string(w.ExtranoncePrefix) != string(p2) || string(old.ExtranoncePrefix) != string(p1) {
		t.Fatalf("prefixes %x (new job) and %x (old job), want %x and %x", w.ExtranoncePrefix, old.ExtranoncePrefix, p2, p1)
	}
	ext := []byte{9, 8, 7, 6}
	want := merkle.Root(cb.TxID(append(append([]byte(nil), p2...), ext...)), tmpl.MerklePath)
	if h := w.Header(ext, 1, 100, w.Version); h.MerkleRoot != want {
		t.Fatalf("merkle root %x, want %x from the new prefix", h.MerkleRoot, want)
	}
}

// TestClientSetGroupChannel checks that group jobs reach exactly the group's
// members, and that a standard member derives its merkle root from its own prefix.
func TestClientSetGroupChannel(t *testing.T) {
	tmpl := testTemplate(1, true, 2)
	cb, err := coinbase.New(tmpl, coinbase.Config{Outputs: testServer(t, nil).cfg.Coinbase.Outputs}, 4)
	if err != nil {
		t.Fatal(err)
	}
	groupJob := func(group, id uint32) []sv2.Message {
		return []sv2.Message{
			&sv2.NewExtendedMiningJob{ChannelID: group, JobID: id, MerklePath: tmpl.MerklePath, CoinbaseTxPrefix: cb.Prefix(), CoinbaseTxSuffix: cb.Suffix()},
			&sv2.SetNewPrevHash{ChannelID: group, JobID: id, PrevHash: clientPrev},
		}
	}
	c := NewClient()
	handle(t, c,
		&sv2.OpenStandardMiningChannelSuccess{ChannelID: 1, GroupChannelID: 10, Target: clientTarget(1), ExtranoncePrefix: []byte{0, 0, 0, 1}},
		&sv2.OpenStandardMiningChannelSuccess{ChannelID: 2, GroupChannelID: 10, Target: clientTarget(1), ExtranoncePrefix: []byte{0, 0, 0, 2}},
		&sv2.SetGroupChannel{GroupChannelID: 20, ChannelIDs: []uint32{2}},
	)
	handle(t, c, groupJob(20, 5)...)
	wantNoWork(t, c, 1)
	w := wantWork(t, c, 2)
	if w.JobID != 5 || w.Extended {
		t.Fatalf("channel 2 work %+v, want standard work on job 5", w)
	}
	if want := merkle.Root(cb.TxID([]byte{0, 0, 0, 2}), tmpl.MerklePath); w.MerkleRoot != want {
		t.Fatalf("merkle root %x, want %x from the channel's prefix", w.MerkleRoot, want)
	}
	handle(t, c, groupJob(10, 6)...)
	if w := wantWork(t, c, 1); w.JobID != 6 {
		t.Fatalf("channel 1 on job %d, want 6", w.JobID)
	}
	if w := wantWork(t, c, 2); w.JobID != 5 {
		t.Fatalf("channel 2 moved to job %d by its old group", w.JobID)
	}
	if err := c.Handle(&sv2.NewExtendedMiningJob{ChannelID: 30, JobID: 7}); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("job for an unknown group: %v, want ErrUnknownChannel", err)
	}
}

// TestClientGroupPrevHashSkipsNewMembers: a group SetNewPrevHash sent before
// a channel joined the group may arrive after the channel's own jobs; the
// channel keeps its work.
func TestClientGroupPrevHashSkipsNewMembers(t *testing.T) {
	c := NewClient()
	handle(t, c,
		&sv2.OpenStandardMiningChannelSuccess{ChannelID: 1, GroupChannelID: 9, Target: clientTarget(1)},
		&sv2.NewExtendedMiningJob{ChannelID: 9, JobID: 1},
		&sv2.OpenStandardMiningChannelSuccess{ChannelID: 2, GroupChannelID: 9, Target: clientTarget(1)},
		&sv2.NewMiningJob{ChannelID: 2, JobID: 2},
		&sv2.SetNewPrevHash{ChannelID: 2, JobID: 2, PrevHash: clientPrev2},
		&sv2.SetNewPrevHash{ChannelID: 9, JobID: 1, PrevHash: clientPrev2},
	)
	if w := wantWork(t, c, 1); w.JobID != 1 {
		t.Fatalf("channel 1 on job %d, want the group job 1", w.JobID)
	}
	if w := wantWork(t, c, 2); w.JobID != 2 {
		t.Fatalf("channel 2 on job %d, want its own job 2", w.JobID)
	}
}

func TestClientCloseChannel(t *testing.T) {
	c := NewClient()
	open := func(id uint32) {
		handle(t, c, &sv2.OpenStandardMiningChannelSuccess{ChannelID: id, GroupChannelID: 9, Target: clientTarget(1)},
			&sv2.NewMiningJob{ChannelID: id, JobID: id}, &sv2.SetNewPrevHash{ChannelID: id, JobID: id, PrevHash: clientPrev})
		wantWork(t, c, id)
	}
	open(1)
	open(2)
	open(3)
	handle(t, c, &sv2.CloseChannel{ChannelID: 1, ReasonCode: "bye"})
	wantNoWork(t, c, 1)
	wantWork(t, c, 2)
	if err := c.Handle(&sv2.SetTarget{ChannelID: 1, MaximumTarget: clientTarget(2)}); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("SetTarget on a closed channel: %v, want ErrUnknownChannel", err)
	}
	// Closing the group channel closes every member (§5.3.9).
	handle(t, c, &sv2.CloseChannel{ChannelID: 9})
	wantNoWork(t, c, 2)
	wantNoWork(t, c, 3)
	if err := c.Handle(&sv2.CloseChannel{ChannelID: 9}); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("closing an empty group: %v, want ErrUnknownChannel", err)
	}
}

func TestClientUnknownChannelAndIgnoredMessages(t *testing.T) {
	c := NewClient()
	for _, m := range []sv2.Message{
		&sv2.SetTarget{ChannelID: 1}, &sv2.SetExtranoncePrefix{ChannelID: 1}, &sv2.NewMiningJob{ChannelID: 1},
		&sv2.NewExtendedMiningJob{ChannelID: 1}, &sv2.SetNewPrevHash{ChannelID: 1},
	} {
		if err := c.Handle(m); !errors.Is(err, ErrUnknownChannel) {
			t.Errorf("%T for an unknown channel: %v, want ErrUnknownChannel", m, err)
		}
	}
	// Messages without job state are accepted and change nothing.
	handle(t, c, &sv2.SubmitSharesSuccess{ChannelID: 1}, &sv2.SubmitSharesError{ChannelID: 1}, &sv2.OpenMiningChannelError{RequestID: 1},
		&sv2.SetCustomMiningJobSuccess{ChannelID: 1})
	wantNoWork(t, c, 1)
}
