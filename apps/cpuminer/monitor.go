package cpuminer

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/monitor"
)

// MonitorAddr waits until the monitoring server listens and returns its
// address (monitor.ErrOff without Config.Monitor).
func (m *Miner) MonitorAddr(ctx context.Context) (net.Addr, error) { return m.mon.Addr(ctx) }

// rateMeter turns the hash counters into a rate: the hashes since the
// previous reading over the time between, read at most once a second (a
// closer reading returns the previous rate).
type rateMeter struct {
	mu     sync.Mutex
	at     time.Time
	hashes uint64
	rate   float64
}

func (r *rateMeter) read(now time.Time, hashes uint64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dt := now.Sub(r.at).Seconds(); !r.at.IsZero() && dt >= 1 {
		r.rate = float64(hashes-r.hashes) / dt
	} else if !r.at.IsZero() {
		return r.rate
	}
	r.at, r.hashes = now, hashes
	return r.rate
}

// Status is the miner's figures now, as monitoring serves them: its
// hashrate, the shares the pool took and refused, and the pool.
func (m *Miner) Status() monitor.Status {
	s := m.Stats()
	st := monitor.Status{
		App: "cpuminer", Started: m.started, Hashrate: m.rate.read(time.Now(), s.Hashes), Channels: &s.Channels,
		Shares:   &monitor.Shares{Accepted: s.Accepted, Rejected: s.Rejected},
		Blocks:   &monitor.Blocks{Found: s.Blocks},
		Upstream: &monitor.Upstream{Address: m.cfg.Pool, Connected: s.Channels > 0},
	}
	if s.Channels > 0 {
		st.State, st.Healthy = "mining", true
	} else {
		st.State = "connecting to the pool"
	}
	st.Counters = []monitor.Counter{
		{Name: "hashes", Help: "Hashes computed.", Value: float64(s.Hashes), Total: true},
		{Name: "threads", Help: "Hashing threads.", Value: float64(m.cfg.Threads)},
	}
	return st
}
