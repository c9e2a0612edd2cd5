package mining

import (
	"runtime"
	"testing"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// channelBytes returns the heap bytes one open, idle channel holds on a
// connection with flags: n channels opened on a tip (each with its first job),
// measured after a GC.
func channelBytes(t testing.TB, flags uint32, extended bool) float64 {
	t.Helper()
	const n = 2000
	e := newEnv(t, flags, nil)
	e.template(1, true, 12)
	e.prevHash(1, hardBits)
	// The allocator's bitmap (2 MiB) is made with the first channel.
	if _, err := e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		var err error
		if extended {
			_, err = e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{MaxTarget: target.Max(), MinExtranonceSize: 4})
		} else {
			_, err = e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{MaxTarget: target.Max()})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(e)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
}

// An idle channel costs little: its duplicate-share set and its other maps
// are allocated when first needed, not up front (issue 12, item 4: the set
// was pre-sized to 256 hashes, about 19.5 KB a channel).
func TestIdleChannelMemory(t *testing.T) {
	const limit = 1500 // bytes per channel, its first job included (about 950 now)
	for _, k := range channelKinds {
		t.Run(k.name, func(t *testing.T) {
			got := channelBytes(t, k.flags, k.extended)
			t.Logf("%s: %.0f bytes per open channel", k.name, got)
			if got > limit {
				t.Errorf("%s channel holds %.0f bytes, want at most %d", k.name, got, limit)
			}
		})
	}
}
