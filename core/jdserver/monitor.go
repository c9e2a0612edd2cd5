package jdserver

import (
	"context"
	"net"

	"github.com/stratumgo/stratum/core/monitor"
)

// MonitorAddr waits until the monitoring server listens and returns its
// address (monitor.ErrOff without Config.Monitor).
func (j *JDS) MonitorAddr(ctx context.Context) (net.Addr, error) { return j.mon.Addr(ctx) }

func (j *JDS) newMonitor() (err error) {
	j.mon, err = monitor.NewForServer(j.cfg.Monitor, "jds", j.log, j.cfg.Now, j.Status, j.server, nil)
	return err
}

// Declarations are the JDS's declarations by result, for a monitoring
// status (its own, or a pool's that runs it in-process).
func (j *JDS) Declarations() *monitor.Declaration { return declarationsOf(j.Stats()) }

func declarationsOf(s Stats) *monitor.Declaration {
	return &monitor.Declaration{Declared: s.Declared, Accepted: s.Accepted, Refused: s.Refused}
}

// Status is the JDS's figures now, as monitoring serves them: its JDC
// connections, declarations by result, the template provider's tip, the
// node and the blocks pushed to it.
func (j *JDS) Status() monitor.Status {
	s := j.Stats()
	conns := j.server.ClientCount()
	st := monitor.Status{
		App: "jds", Started: j.started, Connections: &conns,
		Declaration: declarationsOf(s),
		Template:    monitor.TemplateOf(j.tpc),
		Node:        monitor.NodeOf(j.client),
		// Pushed blocks as the node judged them: the JDS sees no later tip
		// of its own, so "confirmed" is the node's acceptance.
		Blocks: monitor.CountedBlocks(s.Submitted, s.NodeAccepted, s.NodeRefused+s.Undelivered),
	}
	up, state, ok := monitor.ProviderUpstream(j.tpc, j.cfg.TemplateProvider.Address)
	st.Upstream, st.State, st.Healthy = up, state, ok
	if ok {
		st.State = "running"
	}
	st.Counters = []monitor.Counter{
		{Name: "tokens", Help: "Mining job tokens granted.", Value: float64(s.Tokens), Total: true},
		{Name: "tokens_refused", Help: "Token requests over the rate limit.", Value: float64(s.TokensRefused), Total: true},
		{Name: "solutions", Help: "PushSolution messages that completed a declared job.", Value: float64(s.Solutions), Total: true},
		{Name: "mempool_transactions", Help: "Transactions the mempool index holds.", Value: float64(j.mempool.Len())},
		{Name: "mempool_bytes", Help: "Bytes of the transactions the mempool index holds.", Value: float64(j.mempool.Bytes())},
	}
	return st
}

// NodeRPC is the JDS's traffic with its node, for a pool that runs it
// in-process to show beside its own.
func (j *JDS) NodeRPC() *monitor.NodeRPC { return monitor.NodeOf(j.client) }
