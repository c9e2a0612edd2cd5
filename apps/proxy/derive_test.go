package proxy

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// sizes are the devices' full extranonce the derivation tests try: what
// the upstream channel rolls (16 bytes at the mini pool), and less, which
// leaves zero filler after the upstream's prefix.
var sizes = []struct {
	name   string
	size   int // Config.ExtranonceSize
	full   int // the devices' full extranonce
	filler int
}{
	{"what the upstream rolls", 0, 16, 0},
	{"extranonce size 8", 8, 8, 8},
}

// upstreamOf reads what the mini pool sent the proxy when it opened its
// channel on a tip: the channel and its first job.
func upstreamOf(t *testing.T, pool *miniPool) (*sv2.OpenExtendedMiningChannelSuccess, *sv2.NewExtendedMiningJob) {
	t.Helper()
	up := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool.sent)
	job := recv[*sv2.NewExtendedMiningJob](t, pool.sent)
	if job.ChannelID != up.ChannelID {
		t.Fatalf("the pool's job is for channel %d, the proxy's is %d", job.ChannelID, up.ChannelID)
	}
	return up, job
}

// lead is the upstream part of a device's extranonce: the upstream
// channel's prefix and filler zeros.
func lead(up *sv2.OpenExtendedMiningChannelSuccess, filler int) []byte {
	return append(append([]byte(nil), up.ExtranoncePrefix...), make([]byte, filler)...)
}

// A standard device channel's job is the pool's job with the upstream
// channel's prefix (and filler) and the device channel's prefix as its
// extranonce: its merkle root is the one the pool computes for that
// extranonce, and a share on it is accepted by the pool with the hash the
// device computed.
func TestStandardJobIsThePoolsJob(t *testing.T) {
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			pool := startMiniPool(t, nil)
			pool.newTip(t, 1, 9)
			_, addr := startProxy(t, func(c *Config) { c.ExtranonceSize = tc.size }, pool.addr)
			up, poolJob := upstreamOf(t, pool)
			if up.ExtranonceSize != 16 {
				t.Fatalf("the mini pool rolls %d bytes, the test wants 16", up.ExtranonceSize)
			}
			d := dialDevice(t, addr)
			ch := d.openStandard(t, 1)
			job := next[*sv2.NewMiningJob](t, d)
			if len(ch.ExtranoncePrefix) != tc.full {
				t.Fatalf("device prefix %x: %d bytes, want the full %d", ch.ExtranoncePrefix, len(ch.ExtranoncePrefix), tc.full)
			}
			if rest := ch.ExtranoncePrefix[DefaultChannelIndexSize:]; !bytes.Equal(rest, make([]byte, len(rest))) {
				t.Fatalf("device prefix %x: not zero after the channel index", ch.ExtranoncePrefix)
			}
			want := merkle.Root(coinbase.TxID(poolJob.CoinbaseTxPrefix, lead(up, tc.filler), ch.ExtranoncePrefix, poolJob.CoinbaseTxSuffix), poolJob.MerklePath)
			if job.MerkleRoot != want {
				t.Fatalf("device job merkle root %x, the pool's for its extranonce %x", job.MerkleRoot, want)
			}
			if job.Version != poolJob.Version {
				t.Errorf("device job version %#x, the pool's %#x", job.Version, poolJob.Version)
			}
			w := d.work(t, ch.ChannelID)
			nonce, hash := grind(w, nil, up.Target, nil)
			d.submit(t, w, nonce, nil)
			m := pool.accepted(t, hash)
			if m.ChannelID != up.ChannelID || m.JobID != poolJob.JobID || len(m.Extranonce) != int(up.ExtranonceSize) {
				t.Fatalf("share upstream on channel %d job %d with %d extranonce bytes, want %d, %d, %d",
					m.ChannelID, m.JobID, len(m.Extranonce), up.ChannelID, poolJob.JobID, up.ExtranonceSize)
			}
		})
	}
}

// An extended device channel's job has the pool's coinbase prefix with the
// upstream channel's prefix (and filler) appended, the pool's suffix and
// merkle path; the device rolls the full extranonce less the channel
// index, and a share with an extranonce of its own is accepted by the pool.
func TestExtendedJobIsThePoolsJob(t *testing.T) {
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			pool := startMiniPool(t, nil)
			pool.newTip(t, 1, 9)
			_, addr := startProxy(t, func(c *Config) { c.ExtranonceSize = tc.size }, pool.addr)
			up, poolJob := upstreamOf(t, pool)
			d := dialDevice(t, addr)
			ch := d.openExtended(t, 1, 0)
			job := next[*sv2.NewExtendedMiningJob](t, d)
			if want := tc.full - DefaultChannelIndexSize; int(ch.ExtranonceSize) != want {
				t.Fatalf("device extranonce size %d, want %d", ch.ExtranonceSize, want)
			}
			if tc.size == 0 && int(ch.ExtranonceSize) != int(up.ExtranonceSize)-DefaultChannelIndexSize {
				t.Fatalf("device extranonce size %d, want the upstream's %d less the index", ch.ExtranonceSize, up.ExtranonceSize)
			}
			if len(ch.ExtranoncePrefix) != DefaultChannelIndexSize {
				t.Fatalf("device prefix %x, want the %d-byte channel index", ch.ExtranoncePrefix, DefaultChannelIndexSize)
			}
			wantPrefix := append(append([]byte(nil), poolJob.CoinbaseTxPrefix...), lead(up, tc.filler)...)
			if !bytes.Equal(job.CoinbaseTxPrefix, wantPrefix) {
				t.Fatalf("device coinbase prefix\n%x, want the pool's and the upstream prefix\n%x", job.CoinbaseTxPrefix, wantPrefix)
			}
			if !bytes.Equal(job.CoinbaseTxSuffix, poolJob.CoinbaseTxSuffix) {
				t.Fatalf("device coinbase suffix %x, the pool's %x", job.CoinbaseTxSuffix, poolJob.CoinbaseTxSuffix)
			}
			if fmt.Sprint(job.MerklePath) != fmt.Sprint(poolJob.MerklePath) || !job.VersionRollingAllowed {
				t.Fatalf("device job path %x rolling %v, the pool's %x %v", job.MerklePath, job.VersionRollingAllowed, poolJob.MerklePath, poolJob.VersionRollingAllowed)
			}
			w := d.work(t, ch.ChannelID)
			ext := bytes.Repeat([]byte{0xa5}, int(ch.ExtranonceSize))
			nonce, hash := grind(w, ext, up.Target, nil)
			d.submit(t, w, nonce, ext)
			m := pool.accepted(t, hash)
			wantExt := append(append(make([]byte, tc.filler), ch.ExtranoncePrefix...), ext...)
			if !bytes.Equal(m.Extranonce, wantExt) {
				t.Fatalf("extranonce upstream %x, want filler, the device's prefix and its own %x", m.Extranonce, wantExt)
			}
		})
	}
}

// With a one-byte channel index the proxy serves 256 channels per upstream
// channel, each with its own prefix; the 257th is refused as exhausted
// (on any connection), and closing one frees its index for the next.
func TestChannelIndexSizeOneServes256Channels(t *testing.T) {
	pool := startMiniPool(t, nil)
	_, addr := startProxy(t, func(c *Config) { c.ChannelIndexSize = 1 }, pool.addr)
	d := dialDevice(t, addr)
	open := func(d *testDevice, req uint32) {
		d.send(t, &sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: "rig", NominalHashRate: tinyHashrate, MaxTarget: target.Max()})
	}
	answer := func(t *testing.T, d *testDevice) sv2.Message {
		t.Helper()
		return recvWhere(t, d.msgs, func(m sv2.Message) bool {
			switch m.(type) {
			case *sv2.OpenStandardMiningChannelSuccess, *sv2.OpenMiningChannelError:
				return true
			}
			return false
		})
	}
	const n = 256
	for req := uint32(1); req <= n+1; req++ {
		open(d, req)
	}
	byPrefix := map[string]uint32{}
	var closed *sv2.OpenStandardMiningChannelSuccess
	for req := uint32(1); req <= n; req++ {
		s, ok := answer(t, d).(*sv2.OpenStandardMiningChannelSuccess)
		if !ok || s.RequestID != req {
			t.Fatalf("answer %d: %+v, want channel %d open", req, s, req)
		}
		if len(s.ExtranoncePrefix) != 16 || !bytes.Equal(s.ExtranoncePrefix[1:], make([]byte, 15)) {
			t.Fatalf("channel %d prefix %x: want a 1-byte index and 15 zeros", s.ChannelID, s.ExtranoncePrefix)
		}
		if other, dup := byPrefix[string(s.ExtranoncePrefix)]; dup {
			t.Fatalf("channels %d and %d have the same prefix %x", other, s.ChannelID, s.ExtranoncePrefix)
		}
		byPrefix[string(s.ExtranoncePrefix)] = s.ChannelID
		if req == 100 {
			closed = s
		}
	}
	e, ok := answer(t, d).(*sv2.OpenMiningChannelError)
	if !ok || e.RequestID != n+1 || e.ErrorCode != extranonce.ErrorCodeExhausted {
		t.Fatalf("the 257th open: %+v, want %s", e, extranonce.ErrorCodeExhausted)
	}

	// The sub-range is the upstream channel's: another connection gets none.
	d2 := dialDevice(t, addr)
	open(d2, 1)
	if e, ok := answer(t, d2).(*sv2.OpenMiningChannelError); !ok || e.ErrorCode != extranonce.ErrorCodeExhausted {
		t.Fatalf("another connection's open: %+v, want %s", e, extranonce.ErrorCodeExhausted)
	}

	d.send(t, &sv2.CloseChannel{ChannelID: closed.ChannelID, ReasonCode: "done"})
	open(d, n+2)
	s, ok := answer(t, d).(*sv2.OpenStandardMiningChannelSuccess)
	if !ok || s.RequestID != n+2 {
		t.Fatalf("reopen after a close: %+v", s)
	}
	if !bytes.Equal(s.ExtranoncePrefix, closed.ExtranoncePrefix) {
		t.Fatalf("reopened with prefix %x, want the closed channel's %x, the only free one", s.ExtranoncePrefix, closed.ExtranoncePrefix)
	}
}

// An upstream channel that rolls fewer extranonce bytes than
// Config.ExtranonceSize is refused: the proxy asks for that many, a pool
// that refuses leaves the proxy trying again and never ready, and a
// channel opened with fewer anyway is given up for the next upstream.
func TestUpstreamRollingTooFewIsRefused(t *testing.T) {
	t.Run("the pool refuses", func(t *testing.T) {
		pool := startMiniPool(t, nil) // rolls 16
		p, _ := newProxy(t, func(c *Config) { c.ExtranonceSize = 20 }, pool.addr)
		for i := range 2 { // the first open, and the retry after the refusal
			if m := recvOpen(t, pool); m.MinExtranonceSize != 20 {
				t.Fatalf("open %d asks for %d extranonce bytes, want 20", i+1, m.MinExtranonceSize)
			}
		}
		select {
		case <-p.Ready():
			t.Fatal("the proxy serves devices without an upstream channel")
		default:
		}
		if s := p.Stats(); s.Upstream != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	for _, tc := range []struct {
		name        string
		size, rolls int
	}{
		{"fewer than the extranonce size", 8, 4},
		{"no more than the channel index", 0, DefaultChannelIndexSize},
	} {
		t.Run("the proxy refuses "+tc.name, func(t *testing.T) {
			short := startMiniPool(t, func(c *mining.ServerConfig) {
				a, err := extranonce.New(extranonce.Config{IndexSize: 4, RollableSize: tc.rolls})
				if err != nil {
					t.Fatal(err)
				}
				c.Extranonce = a
			})
			short.ignoreMinExtranonce.Store(true)
			good := startMiniPool(t, nil)
			good.newTip(t, 1, 9)
			p, addr := startProxy(t, func(c *Config) { c.ExtranonceSize, c.Attempts = tc.size, 1 }, short.addr, good.addr)
			if m := recvOpen(t, short); int(m.MinExtranonceSize) != max(tc.size, DefaultChannelIndexSize+1) {
				t.Fatalf("the proxy asked for %d extranonce bytes", m.MinExtranonceSize)
			}
			if s := recv[*sv2.OpenExtendedMiningChannelSuccess](t, short.sent); int(s.ExtranonceSize) != tc.rolls {
				t.Fatalf("the short pool gave %d bytes, the test wants %d", s.ExtranonceSize, tc.rolls)
			}
			up, _ := upstreamOf(t, good)
			if s := p.Stats(); s.Upstream != 1 || s.Switches != 1 {
				t.Fatalf("stats %+v, want the proxy on the second upstream after one switch", s)
			}
			d := dialDevice(t, addr)
			ch := d.openExtended(t, 1, 0)
			want := tc.size
			if want == 0 {
				want = int(up.ExtranonceSize)
			}
			if int(ch.ExtranonceSize) != want-DefaultChannelIndexSize {
				t.Fatalf("device extranonce size %d, want %d", ch.ExtranonceSize, want-DefaultChannelIndexSize)
			}
			w := d.work(t, ch.ChannelID)
			ext := make([]byte, ch.ExtranonceSize)
			nonce, hash := grind(w, ext, up.Target, nil)
			d.submit(t, w, nonce, ext)
			good.accepted(t, hash)
		})
	}
}

// An upstream job without version rolling makes device jobs without it,
// and the proxy refuses a device share that rolls the version anyway.
func TestVersionRollingFollowsTheUpstream(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fixed version %v", fixed), func(t *testing.T) {
			pool := startMiniPool(t, func(c *mining.ServerConfig) { c.FixedVersion = fixed })
			pool.newTip(t, 1, 9)
			_, addr := startProxy(t, func(c *Config) { c.ShareBatchSize = 1 }, pool.addr)
			_, poolJob := upstreamOf(t, pool)
			if poolJob.VersionRollingAllowed == fixed {
				t.Fatalf("the pool's job allows version rolling: %v", poolJob.VersionRollingAllowed)
			}
			d := dialDevice(t, addr)
			ch := d.openExtended(t, 1, 0)
			job := next[*sv2.NewExtendedMiningJob](t, d)
			if job.VersionRollingAllowed != !fixed {
				t.Fatalf("device job allows version rolling: %v, want %v", job.VersionRollingAllowed, !fixed)
			}
			w := d.work(t, ch.ChannelID)
			rolled := *w
			rolled.Version |= 1 << 13
			ext := make([]byte, ch.ExtranonceSize)
			nonce, _ := grind(&rolled, ext, w.Target, nil)
			d.submit(t, &rolled, nonce, ext)
			ack := recvWhere(t, d.msgs, func(m sv2.Message) bool {
				switch m.(type) {
				case *sv2.SubmitSharesError, *sv2.SubmitSharesSuccess:
					return true
				}
				return false
			})
			e, refused := ack.(*sv2.SubmitSharesError)
			if refused != fixed || (fixed && e.ErrorCode != mining.CodeVersionRollingNotAllowed) {
				t.Fatalf("a share with a rolled version: %+v", ack)
			}
		})
	}
}
