package cpuminer

import (
	"context"
	"math"
	"net"

	"github.com/stratumgo/stratum/core/monitor"
)

// MonitorAddr waits until the monitoring server listens and returns its
// address (monitor.ErrOff without Config.Monitor).
func (m *Miner) MonitorAddr(ctx context.Context) (net.Addr, error) { return m.mon.Addr(ctx) }

// Status is the miner's figures now, as monitoring serves them: its
// hashrate over the last ReportInterval (as it logs it), the shares the
// pool took and refused, and the pool.
func (m *Miner) Status() monitor.Status {
	s := m.Stats()
	st := monitor.Status{
		App: "cpuminer", Started: m.started, Hashrate: math.Float64frombits(m.rate.Load()), Channels: &s.Channels,
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
