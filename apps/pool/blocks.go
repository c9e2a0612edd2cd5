package pool

import (
	"context"
	"fmt"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/submit"
	"github.com/stratumgo/stratum/core/sv2"
)

// blocks gets found blocks to the network: core/submit's Queue, sending
// SubmitSolution through the template-distribution client and, with
// Config.Node, submitting to the node too. The template handler tells it of
// provider connections (Connected) and new tips (OnTip); Pool.Run runs it.
// A template id means nothing on a later provider connection, so a block
// still pending when the provider reconnects goes to the node alone; without
// Config.Node it cannot be delivered, and the Queue says so at error level.
type blocks struct{ *submit.Queue }

// newBlocks builds the pool's block queue; p.client and p.tmpl are set.
func newBlocks(p *Pool) (*blocks, error) {
	cfg := submit.Config{
		SendSolution: func(ctx context.Context, m *sv2.SubmitSolution) error {
			return p.client.HandleEvent(ctx, service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: m})
		},
		Transactions: p.tmpl.Transactions,
		Logger:       p.log.With("component", "blocks"),
	}
	if p.jds != nil { // its declarations hold custom blocks' transactions
		cfg.CustomTransactions = p.jds.CustomTransactions
	}
	if p.cfg.Node != nil {
		n, err := node.New(*p.cfg.Node)
		if err != nil {
			return nil, fmt.Errorf("%w: node: %w", ErrConfig, err)
		}
		cfg.Node, p.node = n, n
	}
	q, err := submit.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &blocks{q}, nil
}

// found queues a block with its header hash; it never blocks the share path.
func (b *blocks) found(fb *mining.FoundBlock, hash sv2.U256, finder string) {
	b.Found(fb, hash, finder)
}

// run delivers pending blocks until ctx ends. (*blocks is also a
// service.Runner through the Queue's Run.)
func (b *blocks) run(ctx context.Context) { _ = b.Run(ctx) }
