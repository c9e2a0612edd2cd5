package cpuminer

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// batch is how many nonces a thread hashes between looks at its work: about
// 5 ms at 12 MH/s, so a new job interrupts the old one within milliseconds.
const batch = 1 << 16

// work is one hashing goroutine: it mines a job of one of the channels
// until the work changes, then picks again.
func (m *Miner) work(ctx context.Context, thread int) {
	for ctx.Err() == nil {
		gen, channels, changed := m.h.snapshot()
		var w *mining.Work
		if len(channels) > 0 {
			// Threads are spread over the channels; on a shared channel each
			// takes its own share of the nonce space.
			ch := channels[thread%len(channels)]
			w, _ = m.h.state.Load().Work(ch)
		}
		if w == nil {
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		sharers, index := m.cfg.Threads/len(channels), thread/len(channels)
		if thread%len(channels) < m.cfg.Threads%len(channels) {
			sharers++
		}
		m.mine(ctx, thread, gen, w, sharers, index)
	}
}

// mine hashes w until the work changes. Each header is scanned over this
// thread's nonce range; when that is exhausted the next variation is used:
// the extranonce (extended jobs), then the version (when the job and the
// pool allow rolling), then ntime, one second at a time.
func (m *Miner) mine(ctx context.Context, thread int, gen uint64, w *mining.Work, sharers, index int) {
	network, _ := target.FromCompact(w.NBits)
	// An extranonce of two bytes or more carries the thread, so each thread
	// has its own coinbases and the whole nonce space; otherwise the threads
	// on a channel split the nonce space.
	ownExtranonce := w.Extended && w.ExtranonceSize >= 2
	span := uint64(1<<32) / uint64(max(sharers, 1))
	from := uint32(uint64(index) * span)
	if ownExtranonce {
		from, span = 0, 1<<32
	}
	var extranonce []byte
	if w.Extended {
		extranonce = make([]byte, w.ExtranonceSize)
	}
	enSpace := extranonceSpace(w.ExtranonceSize, ownExtranonce)
	vSpace := uint64(1)
	if w.VersionRolling && !m.h.fixedVersion.Load() {
		vSpace = 1 << 16 // the BIP320 bits
	}
	ntime := max(w.MinNTime, uint32(time.Now().Unix()))
	for roll := uint64(0); ; roll++ {
		en, rest := roll%enSpace, roll/enSpace
		v, t := rest%vSpace, rest/vSpace
		if w.Extended {
			setExtranonce(extranonce, thread, en, ownExtranonce)
		}
		version := w.Version
		if vSpace > 1 {
			version = w.Version&^mining.VersionRollingMask | uint32(v)<<13&mining.VersionRollingMask
		}
		h := w.Header(extranonce, 0, ntime+uint32(t), version)
		for done := uint64(0); done < span; {
			n := uint32(min(batch, span-done))
			start := from + uint32(done)
			nonce, hash, found := scan(&h, &w.Target, start, n)
			if found {
				m.hashes[thread].Add(uint64(nonce-start) + 1)
				done += uint64(nonce-start) + 1
				m.found(ctx, w, &h, extranonce, nonce, hash, &network)
			} else {
				m.hashes[thread].Add(uint64(n))
				done += uint64(n)
			}
			if ctx.Err() != nil {
				return
			}
			if next := m.h.gen.Load(); next != gen {
				// Something changed; go on only if this thread's work did not.
				if !m.sameWork(thread, w) {
					return
				}
				gen = next
			}
		}
	}
}

// sameWork reports whether the thread would still be given w.
func (m *Miner) sameWork(thread int, w *mining.Work) bool {
	_, channels, _ := m.h.snapshot()
	if len(channels) == 0 || channels[thread%len(channels)] != w.ChannelID {
		return false
	}
	cur, ok := m.h.state.Load().Work(w.ChannelID)
	return ok && cur == w
}

// extranonceSpace is how many extranonces a thread may roll through.
func extranonceSpace(size int, ownThread bool) uint64 {
	if ownThread {
		size -= 2 // the thread's bytes
	}
	switch {
	case size <= 0:
		return 1
	case size >= 4:
		return 1 << 32
	}
	return 1 << (8 * size)
}

// setExtranonce writes the roll counter, after the thread in the first two
// bytes when the thread owns its extranonces, so no two threads hash the
// same coinbase.
func setExtranonce(e []byte, thread int, roll uint64, ownThread bool) {
	clear(e)
	counter := e
	if ownThread {
		binary.BigEndian.PutUint16(e, uint16(thread))
		counter = e[2:]
	}
	var r [8]byte
	binary.LittleEndian.PutUint64(r[:], roll)
	copy(counter, r[:])
}

// found submits a share and counts a block.
func (m *Miner) found(ctx context.Context, w *mining.Work, h *block.Header, extranonce []byte, nonce uint32, hash sv2.U256, network *sv2.U256) {
	seq := m.seq.Add(1)
	var msg sv2.Message
	if w.Extended {
		msg = &sv2.SubmitSharesExtended{ChannelID: w.ChannelID, SequenceNumber: seq, JobID: w.JobID, Nonce: nonce,
			NTime: h.NTime, Version: h.Version, Extranonce: append([]byte(nil), extranonce...)}
	} else {
		msg = &sv2.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: seq, JobID: w.JobID, Nonce: nonce, NTime: h.NTime, Version: h.Version}
	}
	if target.Meets(&hash, network) {
		m.blocks.Add(1)
		m.log.Info("block found", "channel", w.ChannelID, "job", w.JobID, "nonce", nonce)
	}
	m.submit(ctx, msg)
}

// Measure hashes for d on threads goroutines without a pool and returns the
// total hashrate in H/s.
func Measure(threads int, d time.Duration) float64 {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	impossible := sv2.U256{} // no hash meets a zero target, so nothing stops a scan early
	counts := make([]uint64, threads)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range threads {
		wg.Go(func() {
			h := block.Header{Version: 0x20000000, NBits: 0x207fffff, NTime: uint32(i)}
			for from := uint32(0); time.Now().Before(deadline); from += batch {
				scan(&h, &impossible, from, batch)
				counts[i] += batch
			}
		})
	}
	wg.Wait()
	var total uint64
	for _, c := range counts {
		total += c
	}
	return float64(total) / time.Since(start).Seconds()
}
