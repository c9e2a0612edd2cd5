package proxy

import (
	"context"
	"net"

	"github.com/stratumgo/stratum/core/monitor"
)

// MonitorAddr waits until the monitoring server listens and returns its
// address (monitor.ErrOff without Config.Monitor).
func (p *Proxy) MonitorAddr(ctx context.Context) (net.Addr, error) { return p.mon.Addr(ctx) }

// newMonitor builds the monitoring server of Config.Monitor, if set.
func (p *Proxy) newMonitor() (err error) {
	p.mon, err = monitor.NewForServer(p.cfg.Monitor, "proxy", p.log, p.now, p.Status, p.server, p.dev.accounts)
	return err
}

// Status is the proxy's figures now, as monitoring serves them: the devices'
// work as the proxy validated it, and what went up to the upstream in use.
func (p *Proxy) Status() monitor.Status {
	s := p.Stats()
	t := p.dev.accounts.Totals(p.now())
	st := monitor.Status{
		App: "proxy", Started: p.started, Hashrate: t.Hashrate,
		Connections: &s.Devices, Channels: &t.Channels, Users: &t.Users,
		Shares: monitor.SharesOf(t.Counters),
		Blocks: &monitor.Blocks{Found: t.Blocks},
	}
	up := &monitor.Upstream{Index: s.Upstream, Connected: s.Connected, Switches: s.Switches}
	switch addr := p.up.stats.address.Load(); {
	case addr != nil && s.Connected:
		up.Address = *addr // the upstream as dialled, or as a Reconnect named it
	case s.Upstream >= 0 && s.Upstream < len(p.cfg.Upstreams):
		up.Address = p.cfg.Upstreams[s.Upstream].Address
	}
	if s.Upstream > 0 {
		up.Fallback = "fallback"
	}
	st.Upstream = up
	select {
	case <-p.readyCh:
	default:
		st.State = "waiting for the first upstream channel"
	}
	switch {
	case st.State != "":
	case !s.Connected:
		st.State = "upstream unreachable"
	default:
		st.State, st.Healthy = "running", true
	}
	st.Counters = []monitor.Counter{
		{Name: "shares_up", Help: "Device shares passed upstream.", Value: float64(s.SharesUp), Total: true},
		{Name: "upstream_accepted", Help: "Shares passed upstream that it acknowledged.", Value: float64(s.UpAccepted), Total: true},
		{Name: "upstream_refused", Help: "Shares passed upstream that it refused.", Value: float64(s.UpRefused), Total: true},
		{Name: "upstream_stale", Help: "Of the refused, those refused as stale.", Value: float64(s.UpStale), Total: true},
		{Name: "shares_dropped", Help: "Device shares of work of an upstream connection that ended.", Value: float64(s.Dropped), Total: true},
		{Name: "upstream_jobs", Help: "Jobs received from upstream.", Value: float64(s.Jobs), Total: true},
		{Name: "device_connections_ended", Help: "Device connections that ended.", Value: float64(s.Removed), Total: true},
	}
	return st
}
