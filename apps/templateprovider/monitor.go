package templateprovider

import (
	"time"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/service"
)

// status is the provider's figures now, as monitoring serves them: its
// clients, the node's current template and its age (since it was taken
// from the node: every TemplateInterval while the node answers), the
// solutions its clients sent and what the node made of them, and the node
// RPC. It is unhealthy when no template came for staleAfter.
func (p *provider) status(srv *service.ServerService, n Node, started time.Time, staleAfter time.Duration) monitor.Status {
	conns := srv.ClientCount()
	client, _ := n.(*node.Client)
	st := monitor.Status{App: "templateprovider", Started: started, Connections: &conns, Node: monitor.NodeOf(client)}
	p.mu.Lock()
	if t := p.current; t != nil {
		st.Template = &monitor.Template{ID: p.nextID, PrevHash: t.PrevHash.String(), Received: p.fetched, Value: uint64(max(t.CoinbaseValue, 0))}
		if t.Height > 0 {
			st.Template.Height = uint32(t.Height)
		}
	}
	p.mu.Unlock()
	// Blocks as the node judged them: "confirmed" is the node's acceptance
	// (or a verdict-less store), as the provider follows no block of its own.
	st.Blocks = monitor.CountedBlocks(p.blocks.Load(), p.accepted.Load()+p.inconclusive.Load(), p.refused.Load()+p.unreachable.Load())
	switch {
	case st.Template == nil:
		st.State = "waiting for the node's first template"
	case time.Since(st.Template.Received) > staleAfter:
		st.State = "no template from the node since " + st.Template.Received.UTC().Format(time.TimeOnly)
	default:
		st.State, st.Healthy = "running", true
	}
	st.Counters = []monitor.Counter{
		{Name: "templates_sent", Help: "Templates sent to clients.", Value: float64(p.sent.Load()), Total: true},
		{Name: "solutions", Help: "SubmitSolution messages received.", Value: float64(p.solutions.Load()), Total: true},
		{Name: "solutions_invalid", Help: "Solutions that made no block (an unknown template, a hash above the target): nothing submitted.", Value: float64(p.invalid.Load()), Total: true},
		{Name: "blocks_inconclusive", Help: "Blocks the node stored without a verdict.", Value: float64(p.inconclusive.Load()), Total: true},
		{Name: "blocks_unsubmitted", Help: "Blocks given up on: the node could not be reached.", Value: float64(p.unreachable.Load()), Total: true},
	}
	return st
}
