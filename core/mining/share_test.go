package mining

import (
	"testing"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// channelKinds are the three ways a channel gets its jobs.
var channelKinds = []struct {
	name     string
	flags    uint32
	extended bool
}{
	{"standard", FlagRequiresStandardJobs, false}, // NewMiningJob per channel
	{"extended", 0, true},                         // NewExtendedMiningJob via the group
	{"group-standard", 0, false},                  // a proxy's standard channel fed by group jobs
}

// setup opens a channel on a tip and sends one more template, so the share's
// job is a group job on grouped connections.
func setup(t *testing.T, flags uint32, extended bool, bits uint32, mod func(*ServerConfig)) (*env, uint32) {
	t.Helper()
	e := newEnv(t, flags, mod)
	e.template(1, true, 3)
	e.prevHash(1, bits)
	ch := e.open(extended)
	e.template(2, false, 3)
	return e, ch
}

func TestShareValidation(t *testing.T) {
	type tc struct {
		name   string
		bits   uint32
		mod    func(*ServerConfig)
		kinds  string // "" for all kinds, else the only kind it applies to
		run    func(t *testing.T, e *env, ch uint32) ShareResult
		status ShareStatus
		code   string
	}
	cases := []tc{
		{name: "accepted", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			return e.submit(newShare(w).find(t, w, anyHash))
		}, status: ShareAccepted},
		{name: "invalid-channel-id", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w).find(t, w, anyHash)
			s.channel = 999
			return e.submit(s)
		}, code: CodeInvalidChannelID},
		{name: "group id is not a channel", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w).find(t, w, anyHash)
			s.channel = e.conn.GroupChannelID()
			return e.submit(s)
		}, code: CodeInvalidChannelID},
		{name: "invalid-job-id", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w).find(t, w, anyHash)
			s.job = 12345
			return e.submit(s)
		}, code: CodeInvalidJobID},
		{name: "past job on the same tip accepted", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			e.template(3, false, 3)
			if e.work(ch).JobID == w.JobID {
				t.Fatal("no new job")
			}
			return e.submit(newShare(w).find(t, w, anyHash))
		}, status: ShareAccepted},
		{name: "job older than PastJobs is unknown", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			for id := uint64(3); id < 6; id++ {
				e.template(id, false, 3)
			}
			return e.submit(newShare(w).find(t, w, anyHash))
		}, code: CodeInvalidJobID},
		{name: "stale-share after a new prev hash", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			e.template(7, true, 3)
			e.prevHash(7, hardBits)
			return e.submit(newShare(w).find(t, w, anyHash))
		}, code: CodeStaleShare},
		{name: "future job before its prev hash", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := *e.work(ch)
			e.template(8, true, 3)
			// The client keeps future jobs aside; submit on the future job's id.
			s := newShare(&w).find(t, &w, anyHash)
			s.job = w.JobID + 1
			return e.submit(s)
		}, code: CodeInvalidJobID},
		{name: "bad-extranonce-size", kinds: "extended", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w).find(t, w, anyHash)
			s.extranonce = append(s.extranonce, 0)
			return e.submit(s)
		}, code: CodeBadExtranonceSize},
		{name: "ntime below min_ntime", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w)
			s.ntime--
			return e.submit(s.find(t, w, anyHash))
		}, code: CodeInvalidShare},
		{name: "ntime too far ahead", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w)
			s.ntime += 2*3600 + 1
			return e.submit(s.find(t, w, anyHash))
		}, code: CodeInvalidShare},
		{name: "ntime at the limit", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w)
			s.ntime += 2 * 3600
			return e.submit(s.find(t, w, anyHash))
		}, status: ShareAccepted},
		{name: "rolled BIP320 bits accepted", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w)
			s.version |= 0x1fffe000
			return e.submit(s.find(t, w, anyHash))
		}, status: ShareAccepted},
		{name: "invalid-non-rollable-version-bit", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w)
			s.version |= 1
			return e.submit(s.find(t, w, anyHash))
		}, code: CodeInvalidNonRollableVersionBit},
		{name: "version-rolling-not-allowed", mod: func(c *ServerConfig) { c.FixedVersion = true },
			run: func(t *testing.T, e *env, ch uint32) ShareResult {
				w := e.work(ch)
				s := newShare(w)
				s.version |= 1 << 13
				return e.submit(s.find(t, w, anyHash))
			}, code: CodeVersionRollingNotAllowed},
		{name: "duplicate-share within a job", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			s := newShare(w).find(t, w, anyHash)
			if r := e.submit(s); r.Status != ShareAccepted {
				t.Fatalf("first submission: %v %s", r.Status, r.Code)
			}
			return e.submit(s)
		}, code: CodeDuplicateShare},
		{name: "difficulty-too-low", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			if _, err := e.conn.SetTarget(ch, halfTarget()); err != nil {
				t.Fatal(err)
			}
			e.template(3, false, 3) // a job sent with the new target
			w := e.work(ch)
			return e.submit(newShare(w).find(t, w, above(halfTarget())))
		}, code: CodeDifficultyTooLow},
		{name: "block found", bits: regtestBits, run: func(t *testing.T, e *env, ch uint32) ShareResult {
			w := e.work(ch)
			net, _ := target.FromCompact(regtestBits)
			return e.submit(newShare(w).find(t, w, below(net)))
		}, status: ShareBlockFound},
		{name: "block below the share target is still a block", bits: regtestBits,
			run: func(t *testing.T, e *env, ch uint32) ShareResult {
				var tiny sv2.U256
				tiny[0] = 1
				if _, err := e.conn.SetTarget(ch, tiny); err != nil {
					t.Fatal(err)
				}
				e.template(3, false, 3)
				w := e.work(ch)
				net, _ := target.FromCompact(regtestBits)
				return e.submit(newShare(w).find(t, w, func(h sv2.U256) bool {
					return target.Meets(&h, &net) && !target.Meets(&h, &tiny)
				}))
			}, status: ShareBlockFound},
		{name: "SetTarget leaves earlier jobs at their target", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			early := e.work(ch) // sent at the maximum target
			if _, err := e.conn.SetTarget(ch, halfTarget()); err != nil {
				t.Fatal(err)
			}
			e.template(3, false, 3)
			late := e.work(ch)
			if r := e.submit(newShare(late).find(t, late, above(halfTarget()))); r.Code != CodeDifficultyTooLow {
				t.Fatalf("share above the new target on the new job: %v %q", r.Status, r.Code)
			}
			r := e.submit(newShare(early).find(t, early, above(halfTarget())))
			if r.Difficulty != target.Difficulty(target.Max()) {
				t.Fatalf("credited difficulty %v, want the old target's %v", r.Difficulty, target.Difficulty(target.Max()))
			}
			return r
		}, status: ShareAccepted},
		{name: "an easier SetTarget applies to earlier jobs at once", run: func(t *testing.T, e *env, ch uint32) ShareResult {
			if _, err := e.conn.SetTarget(ch, halfTarget()); err != nil {
				t.Fatal(err)
			}
			e.template(3, false, 3)
			early := e.work(ch) // sent at half the maximum target
			if _, err := e.conn.SetTarget(ch, target.Max()); err != nil {
				t.Fatal(err)
			}
			r := e.submit(newShare(early).find(t, early, above(halfTarget())))
			if r.Difficulty != target.Difficulty(target.Max()) {
				t.Fatalf("credited difficulty %v, want the new target's %v", r.Difficulty, target.Difficulty(target.Max()))
			}
			// One that meets the job's own, harder target is credited at it.
			s := newShare(early)
			s.ntime++
			if r := e.submit(s.find(t, early, below(halfTarget()))); r.Status != ShareAccepted || r.Difficulty != target.Difficulty(halfTarget()) {
				t.Fatalf("a share meeting the job's target: %v %q, difficulty %v, want %v", r.Status, r.Code, r.Difficulty, target.Difficulty(halfTarget()))
			}
			return r
		}, status: ShareAccepted},
	}
	for _, k := range channelKinds {
		for _, c := range cases {
			if c.kinds != "" && c.kinds != k.name {
				continue
			}
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				bits := c.bits
				if bits == 0 {
					bits = hardBits
				}
				e, ch := setup(t, k.flags, k.extended, bits, c.mod)
				r := c.run(t, e, ch)
				if r.Status != c.status || r.Code != c.code {
					t.Fatalf("got %v %q, want %v %q", r.Status, r.Code, c.status, c.code)
				}
				if r.Status == ShareBlockFound {
					checkFoundBlock(t, e, r)
				}
			})
		}
	}
}

// checkFoundBlock checks that a found block's coinbase and header agree.
func checkFoundBlock(t *testing.T, e *env, r ShareResult) {
	t.Helper()
	if r.Block == nil || !r.AckDue {
		t.Fatalf("block found without block (%v) or immediate ack (%v)", r.Block != nil, r.AckDue)
	}
	if r.Block.Header.Hash() != r.Hash {
		t.Fatal("block header does not hash to the share hash")
	}
	sol := r.Block.SubmitSolution()
	if sol.TemplateID != 3 && sol.TemplateID != 2 {
		t.Fatalf("SubmitSolution for template %d", sol.TemplateID)
	}
}

func TestAcknowledgementBatches(t *testing.T) {
	for _, k := range channelKinds {
		t.Run(k.name, func(t *testing.T) {
			e, ch := setup(t, k.flags, k.extended, hardBits, nil) // batch size 3
			w := e.work(ch)
			s := newShare(w)
			var acks []sv2.SubmitSharesSuccess
			for i := range 7 {
				s.ntime = w.MinNTime + uint32(i) // a new header each time
				r := e.submit(s.find(t, w, anyHash))
				if r.Status != ShareAccepted {
					t.Fatalf("share %d: %v %q", i, r.Status, r.Code)
				}
				if r.AckDue {
					acks = append(acks, r.Ack)
				}
			}
			if len(acks) != 2 {
				t.Fatalf("%d acks for 7 shares in batches of 3, want 2", len(acks))
			}
			for _, a := range acks {
				if a.NewSubmitsAcceptedCount != 3 || a.ChannelID != ch {
					t.Fatalf("ack %+v, want 3 shares on channel %d", a, ch)
				}
				if want := uint64(3 * target.Difficulty(target.Max())); a.NewSharesSum != want && a.NewSharesSum != want+1 {
					t.Fatalf("ack sum %d, want about %d", a.NewSharesSum, want)
				}
			}
			ack, ok := e.conn.FlushAck(ch)
			if !ok || ack.NewSubmitsAcceptedCount != 1 {
				t.Fatalf("flush: %+v %v, want the one unacknowledged share", ack, ok)
			}
		})
	}
}

func TestAckEachShare(t *testing.T) {
	e, ch := setup(t, 0, true, hardBits, nil) // batch size 3
	e.conn.AckEachShare()
	w := e.work(ch)
	s := newShare(w)
	for i := range 4 {
		s.ntime = w.MinNTime + uint32(i)
		s = s.find(t, w, anyHash)
		r := e.submit(s)
		if r.Status != ShareAccepted || !r.AckDue || r.Ack.NewSubmitsAcceptedCount != 1 || r.Ack.LastSequenceNumber != s.nonce {
			t.Fatalf("share %d: %v %q, ack due %v %+v; want each share acknowledged alone", i, r.Status, r.Code, r.AckDue, r.Ack)
		}
	}
}
