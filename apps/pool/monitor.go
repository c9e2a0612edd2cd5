package pool

import (
	"context"
	"errors"
	"net"

	"github.com/stratumgo/stratum/core/monitor"
)

// ErrNoMonitor is MonitorAddr's error when Config.Monitor is not set.
var ErrNoMonitor = errors.New("pool: no monitoring configured")

// newMonitor builds the monitoring server of Config.Monitor, if set.
func (p *Pool) newMonitor() error {
	if p.cfg.Monitor == nil {
		return nil
	}
	mcfg := *p.cfg.Monitor
	if mcfg.Logger == nil {
		mcfg.Logger = p.log.With("side", "monitor")
	}
	if mcfg.Now == nil {
		mcfg.Now = p.now
	}
	m, err := monitor.New(mcfg, "pool", p.Status)
	if err != nil {
		return err
	}
	m.ServeAccounts(p.accounts)
	m.ServeConnections(p.server)
	p.mon = m
	return nil
}

// MonitorAddr waits until the monitoring server listens and returns its address.
func (p *Pool) MonitorAddr(ctx context.Context) (net.Addr, error) {
	if p.mon == nil {
		return nil, ErrNoMonitor
	}
	return p.mon.Addr(ctx)
}

// Status is the pool's figures now, as monitoring serves them: the
// accounting's totals (every share since the start), the block queue, the
// template provider and the node. It costs O(1) in users and channels.
func (p *Pool) Status() monitor.Status {
	t := p.accounts.Totals(p.now())
	conns := p.server.ClientCount()
	st := monitor.Status{
		App: "pool", Started: p.started, Hashrate: t.Hashrate,
		Connections: &conns, Channels: &t.Channels, Users: &t.Users,
		Shares: monitor.SharesOf(t.Counters), Blocks: monitor.BlocksOf(p.blocks.Queue),
		Template: monitor.TemplateOf(p.tmpl), Node: monitor.NodeOf(p.node),
	}
	address, connected := p.tmpl.Upstream()
	if address == "" {
		address = p.cfg.TemplateProvider.Address
	}
	st.Upstream = &monitor.Upstream{Address: address, Connected: connected}
	switch {
	case !connected:
		st.State = "template provider unreachable"
	case st.Template == nil:
		st.State = "waiting for a template"
	default:
		st.State, st.Healthy = "running", true
	}
	if p.cfg.Solo {
		st.Counters = append(st.Counters, monitor.Counter{Name: "solo", Help: "1 when the pool pays each miner's own address.", Value: 1})
	}
	st.Counters = append(st.Counters, monitor.Counter{Name: "workers", Help: "Workers the accounting keeps now.", Value: float64(t.Workers)})
	return st
}
