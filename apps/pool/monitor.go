package pool

import (
	"context"
	"net"

	"github.com/stratumgo/stratum/core/monitor"
)

// newMonitor builds the monitoring server of Config.Monitor, if set.
func (p *Pool) newMonitor() (err error) {
	p.mon, err = monitor.NewForServer(p.cfg.Monitor, "pool", p.log, p.now, p.Status, p.server, p.accounts)
	p.serveLedger()
	return err
}

// MonitorAddr waits until the monitoring server listens and returns its
// address (monitor.ErrOff without Config.Monitor).
func (p *Pool) MonitorAddr(ctx context.Context) (net.Addr, error) { return p.mon.Addr(ctx) }

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
	up, state, ok := monitor.ProviderUpstream(p.tmpl, p.cfg.TemplateProvider.Address)
	st.Upstream, st.State, st.Healthy = up, state, ok
	if ok {
		st.State = "running"
	}
	if p.jds != nil { // the in-process JDS's declarations are the pool's, and its node RPC
		st.Declaration = p.jds.Declarations()
		n := p.jds.NodeRPC()
		st.Counters = append(st.Counters,
			monitor.Counter{Name: "jds_node_rpc_requests", Help: "Calls of the in-process JDS to the node's JSON-RPC.", Value: float64(n.Requests), Total: true},
			monitor.Counter{Name: "jds_node_rpc_errors", Help: "Of those, failed.", Value: float64(n.Errors), Total: true})
	}
	if p.cfg.Solo {
		st.Counters = append(st.Counters, monitor.Counter{Name: "solo", Help: "1 when the pool pays each miner's own address.", Value: 1})
	}
	st.Counters = append(st.Counters, monitor.Counter{Name: "workers", Help: "Workers the accounting keeps now.", Value: float64(t.Workers)},
		monitor.Counter{Name: "server_id", Help: "The first byte of every extranonce prefix the pool hands out (--server-id).", Value: float64(p.cfg.ServerID)})
	if p.ledger != nil {
		st.Counters = append(st.Counters, monitor.Counter{Name: "ledger_refused_rows", Help: "Work rows the ledger's database refused (bad names), set aside and logged.", Value: float64(p.ledger.Refused()), Total: true})
	}
	return st
}
