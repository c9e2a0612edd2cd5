package proxy

import (
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
	"github.com/stratumgo/stratum/core/sv2"
)

// The proxy's /metrics and JSON count its devices' shares as it validated
// them, refusals by code, what went up, and the upstream in use.
func TestMonitorCountsDeviceShares(t *testing.T) {
	pool := startMiniPool(t, nil)
	pool.newTip(t, 1, 9)
	p, addr := startProxy(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	}, pool.addr)
	maddr, err := p.MonitorAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + maddr.String()

	d := dialDevice(t, addr)
	ch := d.openStandard(t, 1)
	w := d.work(t, ch.ChannelID)
	recvOpen(t, pool)
	nonce, _ := grind(w, nil, w.Target, nil)
	d.submit(t, w, nonce, nil)
	next[*sv2.SubmitSharesSuccess](t, d)
	d.submit(t, w, nonce, nil) // again: a duplicate
	if e := next[*sv2.SubmitSharesError](t, d); e.ErrorCode != mining.CodeDuplicateShare {
		t.Fatalf("duplicate answered %q", e.ErrorCode)
	}
	d.send(t, &sv2.SubmitSharesStandard{ChannelID: 77, SequenceNumber: 9, JobID: w.JobID, Nonce: nonce})
	if e := next[*sv2.SubmitSharesError](t, d); e.ErrorCode != mining.CodeInvalidChannelID {
		t.Fatalf("unknown channel answered %q", e.ErrorCode)
	}

	m := monitortest.Scrape(t, base)
	m.Expect(t,
		monitortest.Want{Name: "sv2_app_info", Labels: []string{"app", "proxy"}, Value: 1},
		monitortest.Want{Name: "sv2_healthy", Value: 1},
		monitortest.Want{Name: "sv2_shares_accepted_total", Value: 1},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", mining.CodeDuplicateShare}, Value: 1},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", mining.CodeInvalidChannelID}, Value: 1},
		monitortest.Want{Name: "sv2_connections", Value: 1},
		monitortest.Want{Name: "sv2_channels", Value: 1},
		monitortest.Want{Name: "sv2_users", Value: 1},
		monitortest.Want{Name: "sv2_user_shares_accepted_total", Labels: []string{"user", "rig"}, Value: 1},
		monitortest.Want{Name: "sv2_upstream_connected", Value: 1},
		monitortest.Want{Name: "sv2_upstream_info", Labels: []string{"address", pool.addr, "fallback", "none"}, Value: 1},
		monitortest.Want{Name: "sv2_upstream_index", Value: 0},
	)
	s := p.Stats()
	if got := m.Must(t, "sv2_proxy_shares_up_total"); got != float64(s.SharesUp) {
		t.Errorf("shares up %g, Stats says %d", got, s.SharesUp)
	}
	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.App != "proxy" || st.Shares.Accepted != 1 || st.Shares.Rejected[mining.CodeDuplicateShare] != 1 || st.Upstream.Address != pool.addr || !st.Upstream.Connected {
		t.Errorf("status %+v shares %+v upstream %+v", st, st.Shares, st.Upstream)
	}
	var users []monitor.User
	monitortest.GetJSON(t, base, "/api/v1/users", &users)
	if len(users) != 1 || users[0].User != "rig" || users[0].Accepted != 1 {
		t.Errorf("users %+v", users)
	}

	// The device leaves: its channel goes, its work stays counted.
	d.stop()
	waitFor(t, "the device to be gone", func() bool { return p.Stats().Devices == 0 })
	m = monitortest.Scrape(t, base)
	if got := m.Must(t, "sv2_channels"); got != 0 {
		t.Errorf("%g channels after the device left", got)
	}
	if got := m.Must(t, "sv2_shares_accepted_total"); got != 1 {
		t.Errorf("%g accepted after the device left", got)
	}
}
