package mining

import (
	"testing"

	"github.com/stratumgo/stratum/core/sv2"
)

// benchShares submits shares on one channel's active job. Every 4096 shares it
// clears the duplicate set as a new prev hash would, so the benchmark measures
// the steady state of a tip rather than an ever-growing set.
func benchShares(b *testing.B, flags uint32, extended bool, pathLen int, sameExtranonce bool) {
	e := newEnv(b, flags, func(c *ServerConfig) { c.ShareBatchSize = 10 })
	e.template(1, true, pathLen)
	e.prevHash(1, hardBits)
	ch := e.open(extended)
	e.template(2, false, pathLen)
	w := e.work(ch)
	std := &sv2.SubmitSharesStandard{ChannelID: ch, JobID: w.JobID, NTime: w.MinNTime, Version: w.Version}
	ext := &sv2.SubmitSharesExtended{ChannelID: ch, JobID: w.JobID, NTime: w.MinNTime, Version: w.Version,
		Extranonce: make([]byte, w.ExtranonceSize)}
	seen := make(map[uint64]struct{})
	for i := range 4096 { // grow the duplicate set to its working size
		seen[uint64(i)] = struct{}{}
	}
	clear(seen)
	e.conn.channels[ch].seen = seen
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r ShareResult
		if extended {
			// A new extranonce each time: no work is shared between shares.
			ext.Nonce = uint32(i)
			if !sameExtranonce {
				ext.Extranonce[0], ext.Extranonce[1] = byte(i), byte(i>>8)
			}
			r = e.conn.SubmitExtended(ext)
		} else {
			std.Nonce = uint32(i)
			r = e.conn.SubmitStandard(std)
		}
		if r.Status != ShareAccepted {
			b.Fatalf("share %d: %v %q", i, r.Status, r.Code)
		}
		if i%4096 == 4095 {
			e.conn.mu.Lock()
			clear(seen)
			e.conn.mu.Unlock()
		}
	}
}

func BenchmarkValidateStandardShare(b *testing.B) {
	benchShares(b, FlagRequiresStandardJobs, false, 12, false)
}

// BenchmarkValidateExtendedShare12 gives every share a new extranonce: the
// coinbase txid and the 12-hash merkle path are hashed each time.
func BenchmarkValidateExtendedShare12(b *testing.B) { benchShares(b, 0, true, 12, false) }

// BenchmarkValidateExtendedShare12SameExtranonce repeats the extranonce, as a
// miner rolling nonce, version and ntime does, so the channel's root cache hits.
func BenchmarkValidateExtendedShare12SameExtranonce(b *testing.B) { benchShares(b, 0, true, 12, true) }

// BenchmarkStandardJobs1000Channels turns one template into NewMiningJob messages for 1,000 standard channels.
func BenchmarkStandardJobs1000Channels(b *testing.B) {
	e := newEnv(b, FlagRequiresStandardJobs, nil)
	e.template(1, true, 12)
	e.prevHash(1, hardBits)
	for range 1000 {
		if _, err := e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: halfTarget()}); err != nil {
			b.Fatal(err)
		}
	}
	tmpls := make([]*sv2.NewTemplate, b.N)
	for i := range tmpls {
		tmpls[i] = testTemplate(uint64(i+2), false, 12)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := e.srv.NewTemplate(tmpls[i])
		if err != nil || len(out[0].Messages) != 1000 {
			b.Fatalf("%v, %d messages", err, len(out[0].Messages))
		}
	}
}
