package jdc

import (
	"context"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// The JDC's /metrics and JSON count its devices' shares, refusals by code,
// its declarations, the template it works on and the upstream in use.
func TestMonitorCountsDevicesAndDeclarations(t *testing.T) {
	pool := &fakePool{}
	j, addr, _, _, _ := fakeStack(t, pool, func(c *Config) {
		c.MinShareDifficulty = -1
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	maddr, err := j.MonitorAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + maddr.String()

	d := &shareDevice{benchDevice: benchDevice{prev: make(chan time.Time, 1), open: make(chan *sv2.OpenExtendedMiningChannelSuccess, 1)}, jobs: make(chan *sv2.NewExtendedMiningJob, 8)}
	svc := dialDevice(t, addr, d)
	requestChannel(svc, 1, 1e-9) // every hash a share
	open := <-d.open
	job := <-d.jobs
	submit := func(seq uint32, jobID uint32) {
		t.Helper()
		if err := svc.HandleEvent(context.Background(), service.SendToServer{Protocol: sv2.ProtocolMining, Message: &sv2.SubmitSharesExtended{
			ChannelID: open.ChannelID, SequenceNumber: seq, JobID: jobID, Nonce: seq, NTime: uint32(time.Now().Unix()),
			Version: job.Version, Extranonce: make([]byte, open.ExtranonceSize)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		submit(uint32(i), job.JobID)
	}
	submit(9, job.JobID+1000) // no such job

	// The device's goroutine takes the shares; await the counts they make.
	var st monitor.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		monitortest.GetJSON(t, base, "/api/v1/status", &st)
		if st.Shares.Accepted == 3 && st.Shares.Rejected[mining.CodeInvalidJobID] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.Shares.Accepted != 3 || st.Shares.Rejected[mining.CodeInvalidJobID] != 1 {
		t.Fatalf("shares %+v", st.Shares)
	}
	m := monitortest.Scrape(t, base)
	s := j.Stats()
	m.Expect(t,
		monitortest.Want{Name: "sv2_app_info", Labels: []string{"app", "jdc"}, Value: 1},
		monitortest.Want{Name: "sv2_healthy", Value: 1},
		monitortest.Want{Name: "sv2_shares_accepted_total", Value: 3},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", mining.CodeInvalidJobID}, Value: 1},
		monitortest.Want{Name: "sv2_user_shares_accepted_total", Labels: []string{"user", "rig"}, Value: 3},
		monitortest.Want{Name: "sv2_connections", Value: 1},
		monitortest.Want{Name: "sv2_channels", Value: 1},
		monitortest.Want{Name: "sv2_upstream_connected", Value: 1},
		monitortest.Want{Name: "sv2_upstream_info", Labels: []string{"fallback", "none"}, Value: 1},
		monitortest.Want{Name: "sv2_jdc_jobs_refused_total", Value: 0},
		monitortest.Want{Name: "sv2_blocks_found_total", Value: 0},
	)
	if got := m.Must(t, "sv2_declarations_total"); got != float64(s.Declared) {
		t.Errorf("declarations %g, Stats says %d", got, s.Declared)
	}
	if got := m.Must(t, "sv2_declarations_accepted_total"); got != float64(s.JobsAcked) || got < 1 {
		t.Errorf("jobs the pool took %g, Stats says %d", got, s.JobsAcked)
	}
	if got := m.Must(t, "sv2_jdc_shares_up_total"); got < float64(s.SharesUp) {
		t.Errorf("shares up %g, Stats said %d before", got, s.SharesUp)
	}
	if st.Template == nil || st.Template.ID == 0 || st.Upstream == nil || st.Upstream.Address == "" || st.State != "running" {
		t.Errorf("template %+v upstream %+v state %q", st.Template, st.Upstream, st.State)
	}
}
