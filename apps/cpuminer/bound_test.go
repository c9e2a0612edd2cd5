package cpuminer

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/sv2"
)

// The bound the miner's speed is judged against: one core's
// two-compression rate, crypto/sha256's throughput on 1 MiB inputs divided
// by the 128 bytes (two blocks) a nonce costs, measured in the same run as
// scan. It is a benchmark, not a test: a loaded machine slows the two
// measurements unevenly, so no fixed ratio can be asserted in CI.

var sink [32]byte

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
