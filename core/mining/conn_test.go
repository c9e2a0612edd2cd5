package mining

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/mining/vardiff"
	"github.com/stratumgo/stratum/core/sv2"
)

func TestUpdateChannel(t *testing.T) {
	const hashrate float32 = 1e12
	atRate, err := target.FromHashrate(float64(hashrate), 6) // the default shares per minute
	if err != nil {
		t.Fatal(err)
	}
	atDoubleRate, _ := target.FromHashrate(float64(2*hashrate), 6)
	lowMax, _ := target.FromDifficulty(1e6) // harder than atRate (difficulty about 2,300)
	cases := []struct {
		name    string
		vardiff bool
		update  func(ch uint32) *sv2.UpdateChannel
		want    *sv2.U256 // the SetTarget's target; nil for none
		code    string    // the UpdateError code
	}{
		{name: "same hashrate and max target: nothing to send",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: hashrate, MaximumTarget: target.Max()}
			}},
		{name: "higher hashrate: harder target",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 2 * hashrate, MaximumTarget: target.Max()}
			}, want: &atDoubleRate},
		{name: "lower max target is honoured at once",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: hashrate, MaximumTarget: lowMax}
			}, want: &lowMax},
		{name: "vardiff: lower max target is honoured at once", vardiff: true,
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: hashrate, MaximumTarget: lowMax}
			}, want: &lowMax},
		{name: "vardiff: hashrate alone changes nothing", vardiff: true,
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 2 * hashrate, MaximumTarget: target.Max()}
			}},
		{name: "invalid-channel-id",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch + 100, NominalHashRate: hashrate, MaximumTarget: target.Max()}
			}, code: CodeInvalidChannelID},
		{name: "invalid-nominal-hashrate",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: float32(math.NaN()), MaximumTarget: target.Max()}
			}, code: CodeInvalidNominalHashrate},
		{name: "negative hashrate",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: -1, MaximumTarget: target.Max()}
			}, code: CodeInvalidNominalHashrate},
		{name: "zero max target",
			update: func(ch uint32) *sv2.UpdateChannel {
				return &sv2.UpdateChannel{ChannelID: ch, NominalHashRate: hashrate}
			}, code: CodeMaxTargetOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0, func(cfg *ServerConfig) {
				if c.vardiff {
					cfg.Vardiff = &vardiff.Config{SharesPerMinute: 6}
				}
			})
			e.template(1, true, 1)
			e.prevHash(1, hardBits)
			msgs, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{NominalHashRate: hashrate, MaxTarget: target.Max(), MinExtranonceSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			ch := msgs[0].(*sv2.OpenExtendedMiningChannelSuccess).ChannelID
			if got, _ := e.conn.Target(ch); got != atRate {
				t.Fatalf("initial target %x, want %x", got, atRate)
			}
			st, err := e.conn.UpdateChannel(c.update(ch))
			if c.code != "" {
				var ue *UpdateError
				if !errors.As(err, &ue) || ue.Code != c.code {
					t.Fatalf("got %v, want an UpdateError with code %s", err, c.code)
				}
				if c.code == CodeInvalidChannelID && !errors.Is(err, ErrUnknownChannel) {
					t.Fatalf("%v does not match ErrUnknownChannel", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.want == nil && st != nil:
				t.Fatalf("SetTarget %x, want none", st.MaximumTarget)
			case c.want != nil && (st == nil || st.MaximumTarget != *c.want || st.ChannelID != ch):
				t.Fatalf("SetTarget %+v, want target %x on channel %d", st, *c.want, ch)
			case c.want != nil:
				if got, _ := e.conn.Target(ch); got != *c.want {
					t.Fatalf("channel target %x after SetTarget %x", got, *c.want)
				}
			}
		})
	}
}

func TestCloseChannel(t *testing.T) {
	t.Run("shares after close are refused", func(t *testing.T) {
		e, ch := setup(t, 0, true, hardBits, nil)
		w := e.work(ch)
		s := newShare(w).find(t, w, anyHash)
		if err := e.conn.CloseChannel(ch); err != nil {
			t.Fatal(err)
		}
		if r := e.submit(s); r.Code != CodeInvalidChannelID {
			t.Fatalf("share on a closed channel: %v %q", r.Status, r.Code)
		}
		if err := e.conn.CloseChannel(ch); !errors.Is(err, ErrUnknownChannel) {
			t.Fatalf("second close: %v, want ErrUnknownChannel", err)
		}
		if _, err := e.conn.SetTarget(ch, target.Max()); !errors.Is(err, ErrUnknownChannel) {
			t.Fatalf("SetTarget on a closed channel: %v", err)
		}
		// No jobs for it any more.
		out, err := e.srv.NewTemplate(testTemplate(5, false, 1))
		if err != nil || len(out) != 0 {
			t.Fatalf("NewTemplate after the only channel closed: %v, %d outbounds", err, len(out))
		}
	})
	t.Run("the group id closes every member", func(t *testing.T) {
		e, ch := setup(t, 0, true, hardBits, nil)
		other := e.open(false)
		if err := e.conn.CloseChannel(e.conn.GroupChannelID()); err != nil {
			t.Fatal(err)
		}
		for _, id := range []uint32{ch, other} {
			if _, ok := e.conn.Target(id); ok {
				t.Fatalf("channel %d still open", id)
			}
		}
	})
	t.Run("a closed channel that took a share: its prefix waits for the next prev hash", func(t *testing.T) {
		alloc, err := extranonce.New(extranonce.Config{IndexSize: 1, RollableSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, 0, func(c *ServerConfig) { c.Extranonce = alloc })
		e.template(1, true, 1)
		e.prevHash(1, hardBits)
		ids := make(map[string]uint32)
		for range 256 {
			ch := e.open(true)
			ids[string(e.work(ch).ExtranoncePrefix)] = ch
		}
		victim := e.work(1)
		if r := e.submit(newShare(victim).find(t, victim, anyHash)); r.Status != ShareAccepted {
			t.Fatalf("share on the victim: %v %q", r.Status, r.Code)
		}
		if err := e.conn.CloseChannel(1); err != nil {
			t.Fatal(err)
		}
		var oe *OpenError
		if _, err := e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()}); !errors.As(err, &oe) || oe.Code != CodeChannelCapacityExhausted {
			t.Fatalf("open while the closed prefix is quarantined: %v", err)
		}
		e.template(2, true, 1)
		e.prevHash(2, hardBits)
		ch := e.open(true)
		if got := e.work(ch).ExtranoncePrefix; string(got) != string(victim.ExtranoncePrefix) {
			t.Fatalf("new channel got prefix %x, want the released %x", got, victim.ExtranoncePrefix)
		}
	})
}

func TestRemoveConn(t *testing.T) {
	alloc, err := extranonce.New(extranonce.Config{IndexSize: 1, RollableSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 0, func(c *ServerConfig) { c.Extranonce = alloc })
	e.template(1, true, 1)
	e.prevHash(1, hardBits)
	gone := e.open(true)
	w := e.work(gone)
	s := newShare(w).find(t, w, anyHash)
	if r := e.submit(s); r.Status != ShareAccepted { // its prefix is in a credited header
		t.Fatalf("share before the removal: %v %q", r.Status, r.Code)
	}

	other, err := e.srv.NewConn(0)
	if err != nil {
		t.Fatal(err)
	}
	for range 255 {
		if _, err := other.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()}); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.RemoveConn(e.conn)

	if r := e.submit(s); r.Code != CodeInvalidChannelID {
		t.Fatalf("share on a removed connection: %v %q", r.Status, r.Code)
	}
	if _, err := e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()}); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("open on a removed connection: %v, want ErrConnClosed", err)
	}
	out, err := e.srv.NewTemplate(testTemplate(2, true, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Conn == e.conn {
			t.Fatal("a template made jobs for a removed connection")
		}
	}
	// Its prefix is free once its jobs are stale.
	if _, err := other.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()}); !errors.Is(err, extranonce.ErrExhausted) {
		t.Fatalf("open before the prev hash: %v, want exhaustion", err)
	}
	if _, err := e.srv.SetNewPrevHash(prevHash(2, hardBits)); err != nil {
		t.Fatal(err)
	}
	msgs, err := other.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max()})
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[0].(*sv2.OpenExtendedMiningChannelSuccess).ExtranoncePrefix; string(got) != string(w.ExtranoncePrefix) {
		t.Fatalf("prefix %x, want the removed connection's %x", got, w.ExtranoncePrefix)
	}
	e.srv.RemoveConn(e.conn) // a second removal is harmless
}

// TestConcurrentUse drives one Server from many goroutines at once, as a pool
// does: per connection, a goroutine opening channels, submitting shares and
// updating channels; and one goroutine sending templates and prev hashes to
// all. Run under -race, it checks the locking; it also checks that every
// share gets an answer a correct client can get.
func TestConcurrentUse(t *testing.T) {
	srv := testServer(t, func(c *ServerConfig) {
		c.Vardiff = &vardiff.Config{SharesPerMinute: 6, MinInterval: time.Nanosecond}
	})
	if _, err := srv.NewTemplate(testTemplate(1, true, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SetNewPrevHash(prevHash(1, hardBits)); err != nil {
		t.Fatal(err)
	}
	const conns, rounds = 6, 200
	type peer struct {
		conn   *Conn
		client *Client
	}
	peers := make([]peer, conns)
	for i := range peers {
		c, err := srv.NewConn(uint32(i%2) * FlagRequiresStandardJobs)
		if err != nil {
			t.Fatal(err)
		}
		peers[i] = peer{c, NewClient()}
	}
	// Messages from the template goroutine and from a connection's own
	// goroutine can reach its client in either order (a job for a channel
	// whose Success is not yet handled), so unknown channels and jobs are
	// expected here and simply skipped by the client.
	deliver := func(c *Client, msgs []sv2.Message) {
		for _, m := range msgs {
			if err := c.Handle(m); err != nil && !errors.Is(err, ErrUnknownChannel) && !errors.Is(err, ErrUnknownJob) {
				t.Errorf("Handle(%T): %v", m, err)
			}
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // templates and prev hashes
		for id := uint64(2); ; id++ {
			select {
			case <-stop:
				return
			default:
			}
			future := id%3 == 0
			out, err := srv.NewTemplate(testTemplate(id, future, 4))
			if err != nil {
				t.Error(err)
				return
			}
			if future {
				more, err := srv.SetNewPrevHash(prevHash(id, hardBits))
				if err != nil {
					t.Error(err)
					return
				}
				out = append(out, more...)
			}
			for _, o := range out {
				for _, p := range peers {
					if p.conn == o.Conn {
						deliver(p.client, o.Messages)
					}
				}
			}
		}
	})
	var accepted sync.Map
	var workers sync.WaitGroup
	for i, p := range peers {
		workers.Go(func() {
			var chans []uint32
			for r := range rounds {
				if r%50 == 0 {
					var msgs []sv2.Message
					var err error
					if i%2 == 0 && r%100 == 0 {
						msgs, err = p.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max(), MinExtranonceSize: 4})
					} else {
						msgs, err = p.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()})
					}
					if err != nil {
						t.Error(err)
						return
					}
					deliver(p.client, msgs)
					switch m := msgs[0].(type) {
					case *sv2.OpenStandardMiningChannelSuccess:
						chans = append(chans, m.ChannelID)
					case *sv2.OpenExtendedMiningChannelSuccess:
						chans = append(chans, m.ChannelID)
					}
				}
				ch := chans[r%len(chans)]
				switch r % 40 {
				case 13:
					if st, err := p.conn.UpdateChannel(&sv2.UpdateChannel{ChannelID: ch, NominalHashRate: 1, MaximumTarget: target.Max()}); err != nil {
						t.Error(err)
					} else if st != nil {
						deliver(p.client, []sv2.Message{st})
					}
				case 27:
					deliver(p.client, p.conn.UpdateTargets())
				case 31:
					if m, err := p.conn.SetExtranoncePrefix(ch); err != nil {
						t.Error(err)
					} else {
						deliver(p.client, []sv2.Message{m})
					}
				}
				w, ok := p.client.Work(ch)
				if !ok {
					continue
				}
				s := newShare(w)
				s.nonce = uint32(r)
				res := p.conn.SubmitStandard(&sv2.SubmitSharesStandard{ChannelID: ch, JobID: w.JobID, Nonce: s.nonce, NTime: s.ntime, Version: s.version})
				if w.Extended {
					res = p.conn.SubmitExtended(&sv2.SubmitSharesExtended{ChannelID: ch, JobID: w.JobID, Nonce: s.nonce, NTime: s.ntime, Version: s.version, Extranonce: s.extranonce})
				}
				switch {
				case res.Status == ShareAccepted:
					accepted.Store(i, true)
				case res.Code == CodeStaleShare, res.Code == CodeInvalidJobID, res.Code == CodeDifficultyTooLow:
					// The job went stale or out of the past jobs, or vardiff
					// made the target harder, while the share was on its way.
				default:
					t.Errorf("conn %d channel %d job %d: %v %q", i, ch, w.JobID, res.Status, res.Code)
				}
			}
			if i == 0 {
				srv.RemoveConn(p.conn)
			} else if err := p.conn.CloseChannel(chans[0]); err != nil {
				t.Error(err)
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	for i := range peers {
		if _, ok := accepted.Load(i); !ok {
			t.Errorf("connection %d had no share accepted", i)
		}
	}
}
