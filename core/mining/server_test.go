package mining

import (
	"errors"
	"testing"

	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

func TestGroupGetsOneExtendedJob(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.template(1, true, 2)
	e.prevHash(1, hardBits)
	ext := e.open(true)
	std := e.open(false)
	out, err := e.srv.NewTemplate(testTemplate(2, true, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || len(out[0].Messages) != 1 {
		t.Fatalf("got %d outbounds, want one message for the group", len(out))
	}
	m, ok := out[0].Messages[0].(*sv2.NewExtendedMiningJob)
	if !ok || m.ChannelID != e.conn.GroupChannelID() || m.MinNTime.Valid {
		t.Fatalf("got %#v, want a future NewExtendedMiningJob for group %d", out[0].Messages[0], e.conn.GroupChannelID())
	}
	e.deliverOut(out, nil)
	out, err = e.srv.SetNewPrevHash(prevHash(2, hardBits))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := out[0].Messages[0].(*sv2.SetNewPrevHash); len(out[0].Messages) != 1 || !ok || p.JobID != m.JobID || p.ChannelID != m.ChannelID {
		t.Fatalf("got %v, want one SetNewPrevHash for the group job", out[0].Messages)
	}
	e.deliverOut(out, nil)
	for _, ch := range []uint32{ext, std} {
		w := e.work(ch)
		if w.JobID != m.JobID {
			t.Fatalf("channel %d works on job %d, want %d", ch, w.JobID, m.JobID)
		}
		if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("channel %d: %v %q", ch, r.Status, r.Code)
		}
	}
}

func TestStandardJobsHaveDistinctMerkleRoots(t *testing.T) {
	e := newEnv(t, FlagRequiresStandardJobs, nil)
	e.template(1, true, 4)
	e.prevHash(1, hardBits)
	for range 50 {
		e.open(false)
	}
	out, err := e.srv.NewTemplate(testTemplate(2, false, 4))
	if err != nil {
		t.Fatal(err)
	}
	roots := make(map[sv2.U256]bool)
	ids := make(map[uint32]bool)
	for _, m := range out[0].Messages {
		j := m.(*sv2.NewMiningJob)
		if roots[j.MerkleRoot] || ids[j.JobID] {
			t.Fatalf("merkle root or job id repeated: %+v", j)
		}
		roots[j.MerkleRoot], ids[j.JobID] = true, true
	}
	if len(roots) != 50 {
		t.Fatalf("%d jobs for 50 channels", len(roots))
	}
}

func TestOpenChannelErrors(t *testing.T) {
	t.Run("exhausted affects only that request", func(t *testing.T) {
		alloc, err := extranonce.New(extranonce.Config{IndexSize: 1, RollableSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, 0, func(c *ServerConfig) { c.Extranonce = alloc })
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		first := e.open(true)
		for range 255 {
			e.open(true)
		}
		_, err = e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()})
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Code != CodeChannelCapacityExhausted || !errors.Is(err, extranonce.ErrExhausted) {
			t.Fatalf("got %v, want %s", err, CodeChannelCapacityExhausted)
		}
		w := e.work(first)
		if r := e.submit(newShare(w).find(t, w, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("existing channel after exhaustion: %v %q", r.Status, r.Code)
		}
	})
	t.Run("extended on a standard-jobs connection", func(t *testing.T) {
		e := newEnv(t, FlagRequiresStandardJobs, nil)
		_, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()})
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Code != CodeExtendedChannelsNotSupported {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("min extranonce too large", func(t *testing.T) {
		e := newEnv(t, 0, nil)
		_, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max(), MinExtranonceSize: 5})
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Code != CodeMinExtranonceSizeTooLarge {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("version rolling required on a fixed-version server", func(t *testing.T) {
		srv := testServer(t, func(c *ServerConfig) { c.FixedVersion = true })
		if _, err := srv.NewConn(FlagRequiresVersionRolling); !errors.Is(err, ErrFlags) {
			t.Fatalf("got %v, want ErrFlags", err)
		}
	})
}

func TestSetExtranoncePrefixKeepsOldJobs(t *testing.T) {
	e, ch := setup(t, 0, true, hardBits, nil)
	old := e.work(ch)
	m, err := e.conn.SetExtranoncePrefix(ch)
	if err != nil {
		t.Fatal(err)
	}
	e.deliver([]sv2.Message{m})
	e.template(3, false, 3)
	w := e.work(ch)
	if string(w.ExtranoncePrefix) == string(old.ExtranoncePrefix) {
		t.Fatal("new job kept the old prefix")
	}
	for _, wk := range []*Work{old, w} {
		if r := e.submit(newShare(wk).find(t, wk, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("job %d: %v %q", wk.JobID, r.Status, r.Code)
		}
	}
}
