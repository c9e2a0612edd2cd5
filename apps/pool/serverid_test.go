package pool

import (
	"bytes"
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/core/sv2"
)

// nextOf returns the next message of type T from the pool, skipping others
// (jobs, tips, group channels).
func nextOf[T sv2.Message](t testing.TB, m *testMiner) T {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case msg := <-m.in:
			if v, ok := msg.(T); ok {
				return v
			}
			if e, ok := msg.(*sv2.OpenMiningChannelError); ok {
				t.Fatalf("channel refused: %s", sv2.FieldsJSON(e))
			}
		case err := <-m.disconnected:
			t.Fatalf("miner disconnected: %v", err)
		case <-deadline:
			var want T
			t.Fatalf("timed out waiting for %T", want)
		}
	}
}

// openedPrefix opens a channel and returns the extranonce_prefix and
// extranonce_size of its Success (0 for a standard channel).
func (m *testMiner) openedPrefix(t testing.TB, user string, extended bool) (prefix []byte, size int, channel uint32) {
	t.Helper()
	m.nextReq++
	if extended {
		m.send(t, &sv2.OpenExtendedMiningChannel{RequestID: m.nextReq, UserIdentity: user, NominalHashRate: 1, MaxTarget: target.Max(), MinExtranonceSize: 8})
		ok := nextOf[*sv2.OpenExtendedMiningChannelSuccess](t, m)
		return ok.ExtranoncePrefix, int(ok.ExtranonceSize), ok.ChannelID
	}
	m.send(t, &sv2.OpenStandardMiningChannel{RequestID: m.nextReq, UserIdentity: user, NominalHashRate: 1, MaxTarget: target.Max()})
	ok := nextOf[*sv2.OpenStandardMiningChannelSuccess](t, m)
	return ok.ExtranoncePrefix, 0, ok.ChannelID
}

// workOn waits until the miner's work on channel builds on prev.
func (m *testMiner) workOn(t testing.TB, channel uint32, prev sv2.U256) *mining.Work {
	t.Helper()
	var w *mining.Work
	until(t, "a job on the new tip", func() bool {
		var ok bool
		w, ok = m.work.Work(channel)
		return ok && w.PrevHash == prev
	})
	return w
}

// serverCounter is the server_id counter of the pool's monitoring status.
func serverCounter(t testing.TB, p *Pool) float64 {
	t.Helper()
	i := slices.IndexFunc(p.Status().Counters, func(c monitor.Counter) bool { return c.Name == "server_id" })
	if i < 0 {
		t.Fatal("no server_id counter in the status")
	}
	return p.Status().Counters[i].Value
}

// Two frontends on one template provider, with server ids 1 and 2: every
// prefix they hand out (extended channels, standard channels with standard
// jobs and in a group, Sv1 devices) starts with their id, the layout miners
// see is the usual one (4-byte extended prefixes with 16 bytes to roll,
// 20-byte standard ones), no prefix is handed out by both, and on the same
// template their channels hash different headers.
func TestServerIDsSplitTheExtranonceSpace(t *testing.T) {
	tp := startFakeTP(t)
	ids := []int{1, 2}
	pools := make([]*testPool, len(ids))
	sv1Addrs := make([]string, len(ids))
	for i, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sv1Addrs[i] = ln.Addr().String()
		pools[i] = startPoolOn(t, tp, func(c *Config) {
			c.ServerID = id
			c.ShareBatchSize = 1
			c.Sv1 = &sv1.Config{Listener: ln}
		})
	}

	owner := map[string]int{} // the 4 bytes of prefix that make the headers, by who handed them out
	firstExtended := make([]uint32, len(ids))
	extMiners := make([]*testMiner, len(ids))
	for i, p := range pools {
		id := byte(ids[i])
		record := func(prefix []byte) {
			t.Helper()
			if prev, dup := owner[string(prefix[:4])]; dup {
				t.Errorf("server %d hands out %x, already handed out by server %d", id, prefix[:4], prev)
			}
			owner[string(prefix[:4])] = int(id)
		}
		ext := dialMiner(t, p, 0)
		extMiners[i] = ext
		for n := range 3 {
			prefix, size, ch := ext.openedPrefix(t, "alice", true)
			if n == 0 {
				firstExtended[i] = ch
			}
			if len(prefix) != 4 || size != extranonceRollable || prefix[0] != id {
				t.Errorf("server %d: extended prefix %x, extranonce_size %d; want 4 bytes from %02x and 16", id, prefix, size, id)
			}
			record(prefix)
		}
		std := dialMiner(t, p, mining.FlagRequiresStandardJobs)
		group := dialMiner(t, p, 0)
		for _, m := range []*testMiner{std, std, group} {
			prefix, _, _ := m.openedPrefix(t, "bob", false)
			if len(prefix) != 20 || prefix[0] != id || !bytes.Equal(prefix[4:], make([]byte, 16)) {
				t.Errorf("server %d: standard prefix %x; want 20 bytes from %02x, zeros after the index", id, prefix, id)
			}
			record(prefix)
		}

		c, err := sv1.Dial(context.Background(), sv1.ClientConfig{Address: sv1Addrs[i], User: "carol", Password: "x"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		j, _, err := c.Job(ctx, 0)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// The device's channel prefix ends coinb1 (its extranonce1 is the session's).
		if n := len(j.Coinb1); n < 4 || j.Coinb1[n-4] != id {
			t.Errorf("server %d: Sv1 coinb1 ends %x, want the channel prefix from %02x", id, j.Coinb1[max(0, n-4):], id)
		} else {
			record(j.Coinb1[n-4:])
		}
		if got := serverCounter(t, p.Pool); got != float64(id) {
			t.Errorf("server %d: monitoring says server_id %v", id, got)
		}
	}

	// The same template and tip for both: with the same coinbase, only
	// the prefixes keep the headers apart.
	tmpl := tp.template(true)
	prev := tp.prevHash(tmpl.TemplateID)
	tp.send(t, tmpl)
	tp.send(t, prev)
	wa := extMiners[0].workOn(t, firstExtended[0], prev.PrevHash)
	wb := extMiners[1].workOn(t, firstExtended[1], prev.PrevHash)
	if !bytes.Equal(wa.CoinbasePrefix, wb.CoinbasePrefix) || !bytes.Equal(wa.CoinbaseSuffix, wb.CoinbaseSuffix) || !slices.Equal(wa.MerklePath, wb.MerklePath) {
		t.Fatal("the two pools' jobs on one template differ beyond the extranonce")
	}
	rolled := make([]byte, extranonceRollable)
	ha := wa.Header(rolled, 0, wa.MinNTime, wa.Version)
	hb := wb.Header(rolled, 0, wb.MinNTime, wb.Version)
	if ha.Hash() == hb.Hash() {
		t.Errorf("servers 1 and 2 give their first channels the same header (prefixes %x and %x)", wa.ExtranoncePrefix, wb.ExtranoncePrefix)
	}

	// A share of the new prefix layout is taken.
	extMiners[1].send(t, extendedShare(t, wb, 0, []byte{1}, nil))
	nextOf[*sv2.SubmitSharesSuccess](t, extMiners[1])
}

// Without a server id the pool keeps the layout it always had: the first
// channel's index is all zero, then 1, with the usual sizes; monitoring
// says server 0.
func TestNoServerIDKeepsTheLayout(t *testing.T) {
	p := startPool(t, nil)
	ext := dialMiner(t, p, 0)
	prefix, size, _ := ext.openedPrefix(t, "alice", true)
	if !bytes.Equal(prefix, []byte{0, 0, 0, 0}) || size != 16 {
		t.Errorf("first extended prefix %x, extranonce_size %d; want 00000000 and 16", prefix, size)
	}
	std := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	prefix, _, _ = std.openedPrefix(t, "bob", false)
	if want := append([]byte{0, 0, 0, 1}, make([]byte, 16)...); !bytes.Equal(prefix, want) {
		t.Errorf("second (standard) prefix %x, want %x", prefix, want)
	}
	if got := serverCounter(t, p.Pool); got != 0 {
		t.Errorf("monitoring says server_id %v, want 0", got)
	}
}

// Server ids are 0 to 255 (TestConfigErrors refuses the others).
func TestServerIDRange(t *testing.T) {
	sk, _, _ := noise.GenerateAuthorityKeyPair(nil)
	for _, id := range []int{0, 255} {
		cfg := Config{Network: "regtest", AuthorityKey: &sk, TemplateProvider: TemplateProvider{Address: "127.0.0.1:1"}, Payouts: []Payout{{Script: []byte{0x51}, Weight: 1}}, ServerID: id}
		if _, err := New(cfg); err != nil {
			t.Errorf("server id %d: %v", id, err)
		}
	}
}
