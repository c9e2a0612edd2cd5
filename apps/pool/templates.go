package pool

import (
	"context"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

// newTemplates is the pool's template-distribution client handler: core's
// tpclient, stating the pool's coinbase needs, handing templates and tips to
// the mining server (its sibling) and found-block settlement, and, with the
// node path configured, keeping templates' transactions so a block can be
// built without the provider.
func newTemplates(p *Pool, size uint32, sigops uint16) *tpclient.Handler {
	return tpclient.New(tpclient.Config{
		Constraints:       sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: size, CoinbaseOutputMaxAdditionalSigops: sigops},
		FetchTransactions: p.cfg.Node != nil,
		Now:               p.now, // the clock monitoring measures the template's age by
		Logger:            p.log.With("side", "template-provider"),
		OnConnected: func(context.Context, service.ServerInfo) []service.ClientEvent {
			p.blocks.Connected() // pending blocks go out on the new connection
			return nil
		},
		OnTemplate: func(_ context.Context, m *sv2.NewTemplate) []service.ClientEvent {
			return tpclient.ToSibling(tpclient.Templates, m)
		},
		OnPrevHash: func(_ context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
			p.blocks.OnTip(m.PrevHash)
			p.plans.bits.Store(m.NBits)
			return tpclient.ToSibling(tpclient.PrevHashes, m)
		},
	})
}

// displayHash shows a hash as block explorers do: byte-reversed hex.
func displayHash(h sv2.U256) string { return chainhash.Hash(h).String() }
