package integration

import (
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
)

// checkStackMonitoring reads the monitoring of the binaries of
// TestStackWithBinaries, which has found blocks: the pool's blocks and
// users, the provider's solutions, the miner's accepted shares.
func checkStackMonitoring(t *testing.T, pool, tp, miner string) {
	t.Helper()
	m := monitortest.Scrape(t, pool)
	if got := m.Must(t, "sv2_blocks_found_total"); got < 1 {
		t.Errorf("pool: %g blocks found", got)
	}
	for _, user := range []string{"std-miner", "ext-miner"} {
		if got := m.Must(t, "sv2_user_shares_accepted_total", "user", user); got < 1 {
			t.Errorf("pool: %s has %g accepted shares", user, got)
		}
	}
	var st monitor.Status
	monitortest.GetJSON(t, pool, "/api/v1/status", &st)
	if !st.Healthy || st.Blocks == nil || len(st.Blocks.Recent) == 0 || st.Template == nil || st.Upstream == nil || !st.Upstream.Connected {
		t.Errorf("pool status %+v", st)
	}
	if got := m.Must(t, "sv2_shares_accepted_total"); got < float64(st.Shares.Accepted)-1000 || got > float64(st.Shares.Accepted) {
		t.Errorf("pool: %g accepted in the scrape, %d in the later status", got, st.Shares.Accepted)
	}

	tm := monitortest.Scrape(t, tp)
	if got := tm.Must(t, "sv2_templateprovider_solutions_total"); got < 1 {
		t.Errorf("provider: %g solutions", got)
	}
	if got := tm.Must(t, "sv2_node_rpc_requests_total"); got < 1 {
		t.Errorf("provider: %g node requests", got)
	}
	if got := tm.Must(t, "sv2_connections"); got < 1 {
		t.Errorf("provider: %g connections (the pool's)", got)
	}

	// The miner's hashrate is its rate over its report interval (2 s
	// here): the first report makes it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mm := monitortest.Scrape(t, miner)
		if mm.Must(t, "sv2_shares_accepted_total") >= 1 && mm.Must(t, "sv2_hashrate_hashes_per_second") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("miner: accepted %g, hashrate %g", mm.Must(t, "sv2_shares_accepted_total"), mm.Must(t, "sv2_hashrate_hashes_per_second"))
			break
		}
		time.Sleep(250 * time.Millisecond) // the miner has no event for its report
	}
}
