package cpuminer

import (
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/sv2"
)

// The bound of the Must show 1: one core's two-compression rate,
// crypto/sha256's throughput on 1 MiB inputs on one goroutine divided by the
// 128 bytes (two blocks) a nonce costs, measured in the same run as scan.

// sha256Rate hashes 1 MiB inputs for about d and returns bytes per second.
func sha256Rate(buf []byte, d time.Duration) float64 {
	start := time.Now()
	n := 0
	for ; n == 0 || time.Since(start) < d; n++ {
		sink = sha256.Sum256(buf)
	}
	return float64(n*len(buf)) / time.Since(start).Seconds()
}

// scanRate runs scan on one goroutine for about d, in the miner's batches
// and with a target no hash meets, and returns nonces per second.
func scanRate(h *block.Header, d time.Duration) float64 {
	var impossible sv2.U256
	start := time.Now()
	n := 0
	for from := uint32(0); n == 0 || time.Since(start) < d; from += batch {
		scan(h, &impossible, from, batch)
		n += batch
	}
	return float64(n) / time.Since(start).Seconds()
}

var sink [32]byte

// measureBound alternates the two measurements rounds times, each for d, and
// returns the medians: the bound in H/s and scan's rate in H/s.
func measureBound(rounds int, d time.Duration) (bound, rate float64) {
	buf := make([]byte, 1<<20)
	h := block.Header{Version: 0x20000000, NBits: 0x207fffff, NTime: 1700000000}
	bounds, rates := make([]float64, rounds), make([]float64, rounds)
	for i := range rounds {
		bounds[i] = sha256Rate(buf, d) / 128
		rates[i] = scanRate(&h, d)
	}
	slices.Sort(bounds)
	slices.Sort(rates)
	return bounds[rounds/2], rates[rounds/2]
}

// TestBound prints the bound, scan's rate and their ratio (go test -v -run
// TestBound). It fails below the ratio in SV2_CPUMINER_MIN_RATIO if that is
// set (0.85 is the issue's); unset, it only reports, since a loaded machine
// slows the two measurements unevenly.
func TestBound(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds")
	}
	bound, rate := measureBound(5, 200*time.Millisecond)
	ratio := rate / bound
	line := fmt.Sprintf("bound_hs=%.0f scan_hs=%.0f ratio=%.3f impl=%s", bound, rate, ratio, sha256d.Implementation())
	t.Log(line)
	if s := os.Getenv("SV2_CPUMINER_MIN_RATIO"); s != "" {
		min, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("SV2_CPUMINER_MIN_RATIO=%q: %v", s, err)
		}
		if ratio < min {
			t.Fatalf("%s: ratio below %v", line, min)
		}
	}
}

// BenchmarkBound reports, per op of 2^16 nonces, the bound (bound_hs),
// scan's rate (scan_hs) and their ratio, all measured in the same run.
func BenchmarkBound(b *testing.B) {
	buf := make([]byte, 1<<20)
	h := block.Header{Version: 0x20000000, NBits: 0x207fffff, NTime: 1700000000}
	var impossible sv2.U256
	var scanTime, shaTime time.Duration
	var nonces, bytes int
	for i := uint32(0); b.Loop(); i++ {
		start := time.Now()
		scan(&h, &impossible, i*batch, batch)
		scanTime += time.Since(start)
		nonces += batch
		// About as long on crypto/sha256: 2^16 nonces are 8 MiB of blocks.
		start = time.Now()
		for range 8 {
			sink = sha256.Sum256(buf)
		}
		shaTime += time.Since(start)
		bytes += 8 * len(buf)
	}
	bound := float64(bytes) / shaTime.Seconds() / 128
	rate := float64(nonces) / scanTime.Seconds()
	b.ReportMetric(bound, "bound_hs")
	b.ReportMetric(rate, "scan_hs")
	b.ReportMetric(rate/bound, "ratio")
}
