package pool

import (
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
	"github.com/stratumgo/stratum/core/submit"
	"github.com/stratumgo/stratum/core/sv2"
)

// startMonitoredPool runs a test pool with monitoring on loopback and
// returns it with the monitor's base URL.
func startMonitoredPool(t *testing.T) (*testPool, string) {
	t.Helper()
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	addr, err := p.MonitorAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The provider's first template is on its way: await it, as the pool
	// has no event for it.
	deadline := time.Now().Add(waitLimit)
	for !p.Status().Healthy {
		if time.Now().After(deadline) {
			t.Fatalf("the pool never became healthy: %+v", p.Status())
		}
		time.Sleep(time.Millisecond)
	}
	return p, "http://" + addr.String()
}

// The pool's /metrics, read with Prometheus' own parser, moves as shares are
// accepted and refused and a block is found, and its JSON agrees.
func TestMonitorCountsSharesAndBlocks(t *testing.T) {
	p, base := startMonitoredPool(t)
	before := monitortest.Scrape(t, base)
	if got := before.Must(t, "sv2_shares_accepted_total"); got != 0 {
		t.Fatalf("a new pool has %g accepted shares", got)
	}
	if got := before.Must(t, "sv2_healthy"); got != 1 {
		t.Errorf("a pool with a template is not healthy: %g", got)
	}

	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "ivy.rig1", 1)
	w := m.currentWork(t, ch)
	nonces := grind(w, 0, 1<<16)
	if len(nonces) < 2 {
		t.Fatalf("%d shares in 65536 nonces", len(nonces))
	}
	m.send(t, share(w, 1, nonces[0]))
	expect[*sv2.SubmitSharesSuccess](t, m)
	m.send(t, share(w, 2, nonces[0])) // the same share again
	if e := expect[*sv2.SubmitSharesError](t, m); e.ErrorCode != "duplicate-share" {
		t.Fatalf("duplicate answered %q", e.ErrorCode)
	}
	m.send(t, &sv2.SubmitSharesStandard{ChannelID: ch, SequenceNumber: 3, JobID: w.JobID + 1000, Nonce: nonces[1], NTime: w.MinNTime, Version: w.Version})
	if e := expect[*sv2.SubmitSharesError](t, m); e.ErrorCode != "invalid-job-id" {
		t.Fatalf("unknown job answered %q", e.ErrorCode)
	}

	after := monitortest.Scrape(t, base)
	after.Expect(t,
		monitortest.Want{Name: "sv2_shares_accepted_total", Value: 1},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", "duplicate-share"}, Value: 1},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", "invalid-job-id"}, Value: 1},
		monitortest.Want{Name: "sv2_connections", Value: 1},
		monitortest.Want{Name: "sv2_channels", Value: 1},
		monitortest.Want{Name: "sv2_users", Value: 1},
		monitortest.Want{Name: "sv2_blocks_found_total", Value: 0},
		monitortest.Want{Name: "sv2_user_shares_accepted_total", Labels: []string{"user", "ivy.rig1"}, Value: 1},
		monitortest.Want{Name: "sv2_user_shares_rejected_total", Labels: []string{"user", "ivy.rig1"}, Value: 2},
	)
	if d := after.Must(t, "sv2_shares_accepted_difficulty_total"); d <= 0 {
		t.Errorf("accepted difficulty %g", d)
	}
	if h := after.Must(t, "sv2_hashrate_hashes_per_second"); h <= 0 {
		t.Errorf("hashrate %g after an accepted share", h)
	}

	// A block: a tip with regtest's target, about every other hash a block.
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	expect[*sv2.NewMiningJob](t, m)
	expect[*sv2.SetNewPrevHash](t, m)
	w = m.currentWork(t, ch)
	nonce, hash := grindBlock(w, prev.Target)
	m.send(t, share(w, 4, nonce))
	expect[*sv2.SubmitSharesSuccess](t, m)
	recv(t, p.tp.solutions, "the block's SubmitSolution")
	waitCounts(t, p, submit.Counts{Found: 1, Pending: 1})

	found := monitortest.Scrape(t, base)
	for name, want := range map[string]float64{"sv2_blocks_found_total": 1, "sv2_blocks_pending": 1, "sv2_shares_accepted_total": 2, "sv2_user_blocks_found_total": 1} {
		if got := found.Must(t, name); got != want {
			t.Errorf("after the block: %s = %g, want %g", name, got, want)
		}
	}
	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.Shares.Accepted != 2 || st.Shares.Rejected["duplicate-share"] != 1 || st.Shares.Rejected["invalid-job-id"] != 1 ||
		st.Blocks.Found != 1 || st.Blocks.Pending != 1 || len(st.Blocks.Recent) != 1 || *st.Connections != 1 || *st.Channels != 1 {
		t.Fatalf("status disagrees with the metrics: %+v shares %+v blocks %+v", st, st.Shares, st.Blocks)
	}
	b := st.Blocks.Recent[0]
	if b.Hash != chainhash.Hash(hash).String() || b.State != "pending" || b.Finder != "ivy.rig1" || b.Height == 0 {
		t.Errorf("recent block %+v, want hash %s pending by ivy.rig1", b, chainhash.Hash(hash))
	}
	if st.Template == nil || st.Template.ID != tmpl.TemplateID || st.Template.Height != 100 || st.Upstream == nil || !st.Upstream.Connected || !st.Healthy {
		t.Errorf("template %+v upstream %+v healthy %v", st.Template, st.Upstream, st.Healthy)
	}

	// The provider builds on it: confirmed, in both.
	next := p.tp.template(true)
	nextPrev := p.tp.prevHash(next.TemplateID)
	nextPrev.PrevHash = hash
	p.tp.send(t, next)
	p.tp.send(t, nextPrev)
	waitCounts(t, p, submit.Counts{Found: 1, Confirmed: 1})
	if got := monitortest.Scrape(t, base).Must(t, "sv2_blocks_confirmed_total"); got != 1 {
		t.Errorf("confirmed %g", got)
	}
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.Blocks.Confirmed != 1 || st.Blocks.Recent[0].State != "confirmed" {
		t.Errorf("after the tip: %+v", st.Blocks)
	}

	var users []monitor.User
	monitortest.GetJSON(t, base, "/api/v1/users", &users)
	if len(users) != 1 || users[0].User != "ivy.rig1" || users[0].Accepted != 2 || users[0].Blocks != 1 || users[0].Rejected["duplicate-share"] != 1 {
		t.Errorf("users %+v", users)
	}
	var conns []monitor.Connection
	monitortest.GetJSON(t, base, "/api/v1/connections", &conns)
	if len(conns) != 1 || !conns[0].Encrypted || conns[0].Protocol == "" {
		t.Errorf("connections %+v", conns)
	}
}
