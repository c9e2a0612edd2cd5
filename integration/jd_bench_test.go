package integration

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/apps/jds"
	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// BenchmarkJDDeclare times a declaration of the node's mempool
// transactions through a real JDS on btcd, over Noise: declare is
// DeclareMiningJob to .Success (the JDS's work and the node's proposal
// check), node-proposal the node's check of the same block alone.
//
//	cd integration && go test -run XXX -bench JDDeclare -benchtime 20x
func BenchmarkJDDeclare(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			nd, _ := setupJDNode(b, ctx, harness.NodeOptions{}, n)
			tpp := startTP(b, nd, nil)
			sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			payout, _ := txscript.PayToAddrScript(nd.MiningAddress())
			harness.Go(b, "jds", func(ctx context.Context) error {
				return jds.Run(ctx, jds.Config{Listener: ln, AuthorityKey: &sk, Network: "regtest", Node: nd.ClientConfig(),
					TemplateProvider: jdserver.TemplateProvider{Address: tpp.addr, AuthorityKey: &tpp.key}, PayoutScript: payout,
					TokenBurst: 1 << 30, DeclareBurst: 1 << 30, Logger: testLogger(b, "jds")})
			})
			tmpl := takeTemplate(b, tpp)
			if len(tmpl.txs) != n {
				b.Fatalf("template of %d transactions, want %d", len(tmpl.txs), n)
			}
			jdc := startJDClient(b, ln.Addr().String(), pk, jdserver.FlagDeclareTxData)
			const extranonceSize = 16
			b.Run("declare", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					job := buildJob(b, tmpl, jdc.allocate(b, "bench"), extranonceSize, tmpl.txs)
					b.StartTimer()
					if _, ok := jdc.declare(b, job).(*sv2.DeclareMiningJobSuccess); !ok {
						b.Fatal("declaration refused")
					}
				}
			})
			b.Run("node-proposal", func(b *testing.B) {
				job := buildJob(b, tmpl, jdc.allocate(b, "bench"), extranonceSize, tmpl.txs)
				cb, _, err := coinbase.FromCustomJob(job.custom, extranonceSize)
				if err != nil {
					b.Fatal(err)
				}
				ext := make([]byte, extranonceSize)
				h := block.Header{Version: job.custom.Version, PrevHash: job.custom.PrevHash, MerkleRoot: merkle.Root(cb.TxID(ext), job.custom.MerklePath),
					NTime: max(job.custom.MinNTime, uint32(time.Now().Unix())), NBits: job.custom.NBits}
				blk, err := block.Assemble(h, cb.AppendTx(nil, ext), tmpl.txs)
				if err != nil {
					b.Fatal(err)
				}
				raw, _ := block.Serialize(blk)
				c := nd.Client()
				for b.Loop() {
					if err := c.ProposeBlock(ctx, raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
