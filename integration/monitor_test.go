package integration

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
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

// ledgerState is what a ledger held, for comparing across a kill.
type ledgerState struct {
	difficulty float64 // accepted, in all
	splits     map[string][]ledger.Payout
}

// readLedger reads the ledger spec names: a SQLite file (beside the pool:
// WAL lets a reader in) or a postgres:// URL.
func readLedger(t *testing.T, spec string) ledgerState {
	t.Helper()
	s, err := ledger.Open(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := ledgerState{splits: map[string][]ledger.Payout{}}
	window, err := s.Window(t.Context(), math.MaxFloat64)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range window {
		st.difficulty += w.Difficulty
	}
	blocks, err := s.Blocks(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if st.splits[b.Hash], err = s.Split(t.Context(), b.Hash); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// checkLedgerBeforeKill reads the pool's accepted difficulty and blocks from
// its monitoring, then waits for the ledger to hold them (the flush
// interval), and returns what it holds.
func checkLedgerBeforeKill(t *testing.T, pool, path string) ledgerState {
	t.Helper()
	m := monitortest.Scrape(t, pool)
	difficulty, found := m.Must(t, "sv2_shares_accepted_difficulty_total"), m.Must(t, "sv2_blocks_found_total")
	if found < 1 {
		t.Fatalf("the pool found %g blocks", found)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := readLedger(t, path)
		if st.difficulty >= difficulty*(1-1e-9) && float64(len(st.splits)) >= found {
			t.Logf("ledger before the kill: difficulty %g (pool said %g), %d blocks", st.difficulty, difficulty, len(st.splits))
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger holds difficulty %g and %d blocks; the pool had %g and %g", st.difficulty, len(st.splits), difficulty, found)
		}
		time.Sleep(50 * time.Millisecond) // the pool's flushes have no event for the test
	}
}

// checkLedgerAfterKill checks that the killed pool's ledger lost nothing
// it had written, and that each block's split sums to its reward with the
// pool's fee in it.
func checkLedgerAfterKill(t *testing.T, path string, before ledgerState) {
	t.Helper()
	after := readLedger(t, path)
	if after.difficulty < before.difficulty*(1-1e-9) {
		t.Errorf("after kill -9 the ledger holds difficulty %g, %g before", after.difficulty, before.difficulty)
	}
	for hash, split := range before.splits {
		if got := after.splits[hash]; fmt.Sprint(got) != fmt.Sprint(split) {
			t.Errorf("block %s: split %v after kill -9, %v before", hash, got, split)
		}
		pool := false
		for _, p := range split {
			pool = pool || p.User == "pool" && p.Amount > 0
		}
		if !pool {
			t.Errorf("block %s: the 1.5 %% fee is not in its split %v", hash, split)
		}
	}
}
