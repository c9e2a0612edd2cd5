package jdc

import (
	"context"
	"net"

	"github.com/stratumgo/stratum/core/monitor"
)

// MonitorAddr waits until the monitoring server listens and returns its
// address (monitor.ErrOff without Config.Monitor).
func (j *JDC) MonitorAddr(ctx context.Context) (net.Addr, error) { return j.mon.Addr(ctx) }

// newMonitor builds the monitoring server of Config.Monitor, if set.
func (j *JDC) newMonitor() (err error) {
	j.mon, err = monitor.NewForServer(j.cfg.Monitor, "jdc", j.log, j.now, j.Status, j.server, j.dev.accounts)
	return err
}

// Status is the JDC's figures now, as monitoring serves them: the devices'
// work as the JDC validated it, its blocks, the template it declares, the
// upstream in use (or solo mining) and its declarations.
func (j *JDC) Status() monitor.Status {
	s := j.Stats()
	t := j.dev.accounts.Totals(j.now())
	conns := j.server.ClientCount()
	st := monitor.Status{
		App: "jdc", Started: j.started, Hashrate: t.Hashrate,
		Connections: &conns, Channels: &t.Channels, Users: &t.Users,
		Shares:   monitor.SharesOf(t.Counters),
		Blocks:   monitor.BlocksOf(j.blocks),
		Template: monitor.TemplateOf(j.tp),
		// Its custom jobs: declared to the JDS (full-template mode), taken
		// by the pool, refused by either (their codes are in the log).
		Declaration: &monitor.Declaration{Declared: s.Declared, Accepted: s.JobsAcked},
	}
	pooled := j.up.stats.mode.Load() == int32(modePooled) && j.up.stats.poolUp.Load()
	up := &monitor.Upstream{Index: s.Upstream, Connected: pooled, Switches: s.Switches}
	switch addr := j.up.stats.address.Load(); {
	case addr != nil && pooled:
		up.Address = *addr // the pool as dialled, or as a Reconnect named it
	case s.Upstream >= 0 && s.Upstream < len(j.cfg.Upstreams):
		up.Address = j.cfg.Upstreams[s.Upstream].Pool.Address
	}
	switch {
	case s.Solo:
		up.Fallback = "solo"
	case s.Upstream > 0:
		up.Fallback = "fallback"
	}
	st.Upstream = up
	_, tpUp := j.tp.Upstream()
	switch {
	case !tpUp:
		st.State = "template provider unreachable"
	case st.Template == nil:
		st.State = "waiting for a template"
	case s.Solo:
		st.State, st.Healthy = "solo", true
	case pooled:
		st.State, st.Healthy = "running", true
	default:
		st.State = "connecting to the upstream"
	}
	st.Counters = []monitor.Counter{
		{Name: "shares_up", Help: "Device shares passed to the pool.", Value: float64(s.SharesUp), Total: true},
		{Name: "shares_optimistic", Help: "Of those, made before their job's acknowledgement.", Value: float64(s.Optimistic), Total: true},
		{Name: "shares_dropped", Help: "Device shares of refused or stale jobs, or over the pending bound.", Value: float64(s.Dropped), Total: true},
		{Name: "pool_refused", Help: "Shares the pool refused.", Value: float64(s.PoolRefused), Total: true},
		{Name: "pool_stale", Help: "Of those, refused as stale.", Value: float64(s.StaleShares), Total: true},
		{Name: "jobs_refused", Help: "Custom jobs the JDS or the pool refused.", Value: float64(s.JobsRefused), Total: true},
	}
	return st
}
