package jdserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// benchNode judges every proposal valid at once: the benchmarks measure
// the JDS's own work, not the node's.
type benchNode struct{}

func (benchNode) ProposeBlock(context.Context, []byte) error   { return nil }
func (benchNode) SubmitRawBlock(context.Context, []byte) error { return nil }

// benchMempool is a fixed wtxid index.
type benchMempool map[chainhash.Hash]node.MempoolTx

func (benchMempool) Refresh(context.Context) error { return nil }
func (m benchMempool) Lookup(w chainhash.Hash) (node.MempoolTx, bool) {
	tx, ok := m[w]
	return tx, ok
}

// benchTxs makes n distinct SegWit transactions (wtxid ≠ txid).
func benchTxs(b testing.TB, n int) ([][]byte, []sv2.U256) {
	raws := make([][]byte, n)
	wtxids := make([]sv2.U256, n)
	for i := range n {
		tx := wire.NewMsgTx(2)
		var op wire.OutPoint
		rand.Read(op.Hash[:])
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op, Sequence: 0xffffffff, Witness: wire.TxWitness{make([]byte, 72), make([]byte, 33)}})
		tx.AddTxOut(&wire.TxOut{Value: 10_000, PkScript: append([]byte{0x00, 0x14}, make([]byte, 20)...)})
		var buf bytes.Buffer
		if err := tx.Serialize(&buf); err != nil {
			b.Fatal(err)
		}
		raws[i], wtxids[i] = buf.Bytes(), sv2.U256(tx.WitnessHash())
	}
	return raws, wtxids
}

// benchSetup is a declarator on a regtest tip at height 200 and a
// full-template client, with a declaration of n transactions that the
// mempool holds when known.
func benchSetup(b testing.TB, n int, known bool) (*declarator, *client, *sv2.DeclareMiningJob, [][]byte) {
	sk, _, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	payout := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{7}, 20)...)
	cfg := Config{AuthorityKey: &sk, PayoutScript: payout, TemplateProvider: TemplateProvider{Address: "x:1"}, Node: node.Config{URL: "http://127.0.0.1:1"}}
	if err := cfg.setDefaults(); err != nil {
		b.Fatal(err)
	}
	cfg.DeclareBurst = 1 << 30 // the rate limit is not what is measured
	raws, wtxids := benchTxs(b, n)
	mp := benchMempool{}
	if known {
		for i, raw := range raws {
			mp[chainhash.Hash(wtxids[i])] = node.MempoolTx{WTxID: chainhash.Hash(wtxids[i]), Raw: raw}
		}
	}
	d := &declarator{cfg: cfg, log: cfg.Logger, key: sk, pub: sk.PublicKey(),
		outputs: payoutOutputs(payout), chain: newChain(), node: benchNode{}, mempool: mp,
		blocks: &pushed{inFlight: map[chainhash.Hash]bool{}}, stats: &counters{}}
	d.params.Store(&chaincfg.RegressionNetParams)
	d.chain.template(&sv2.NewTemplate{TemplateID: 1, CoinbasePrefix: []byte{0x02, 0xc8, 0x00}})
	d.chain.prevHash(&sv2.TemplateSetNewPrevHash{TemplateID: 1, PrevHash: sv2.U256{1}, HeaderTimestamp: uint32(time.Now().Unix()), NBits: 0x207fffff})
	outs, _ := coinbase.ParseOutputs(d.outputs)
	cb, err := coinbase.New(&sv2.NewTemplate{Version: 0x20000000, CoinbaseTxVersion: 2, CoinbasePrefix: []byte{0x02, 0xc8, 0x00},
		CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 25_00000000}, coinbase.Config{Outputs: []*wire.TxOut{&outs[0]}}, 16)
	if err != nil {
		b.Fatal(err)
	}
	cl := &client{info: service.ClientInfo{ID: 1}, full: true, tokens: map[uint64]time.Time{}, pending: map[uint32]*declaration{}}
	m := &sv2.DeclareMiningJob{Version: 0x20000000, CoinbaseTxPrefix: cb.FullPrefix(), CoinbaseTxSuffix: cb.FullSuffix(), WtxidList: wtxids}
	return d, cl, m, raws
}

// grant gives cl a fresh Declare token and puts it in m.
func grant(b testing.TB, d *declarator, cl *client, m *sv2.DeclareMiningJob) {
	t := jdtoken.Token{Kind: jdtoken.Declare, ID: randomID(), Expires: time.Now().Add(time.Hour)}
	tok, err := t.Sign(d.key, nil)
	if err != nil {
		b.Fatal(err)
	}
	cl.tokens[t.ID] = t.Expires
	m.MiningJobToken = tok
}

func succeeded(b testing.TB, evs []service.ServerEvent) {
	if len(evs) != 1 {
		b.Fatalf("%d events", len(evs))
	}
	if _, ok := evs[0].(service.SendToClient).Message.(*sv2.DeclareMiningJobSuccess); !ok {
		b.Fatalf("answer %+v", evs[0].(service.SendToClient).Message)
	}
}

var benchSizes = []int{100, 1000, 4000}

// BenchmarkDeclare is DeclareMiningJob to .Success with every transaction
// in the mempool, the node's proposal check excluded (it answers at once):
// look-ups, block assembly, the token.
func BenchmarkDeclare(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			d, cl, m, _ := benchSetup(b, n, true)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				grant(b, d, cl, m)
				cl.jobs = nil
				b.StartTimer()
				evs, err := d.declare(context.Background(), 1, cl, m)
				if err != nil {
					b.Fatal(err)
				}
				succeeded(b, evs)
			}
		})
	}
}

// BenchmarkDeclareLookups is the checks and mempool look-ups alone.
func BenchmarkDeclareLookups(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			d, cl, m, _ := benchSetup(b, n, true)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				grant(b, d, cl, m)
				b.StartTimer()
				if _, code, detail := d.check(context.Background(), cl, m, time.Now()); code != "" {
					b.Fatal(code, detail)
				}
			}
		})
	}
}

// BenchmarkProvideMissing is ProvideMissingTransactions.Success to
// .Success when the mempool has none of them: each transaction parsed and
// checked against its wtxid, then the block built.
func BenchmarkProvideMissing(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			d, cl, m, raws := benchSetup(b, n, false)
			provided := &sv2.ProvideMissingTransactionsSuccess{TransactionList: raws}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				grant(b, d, cl, m)
				cl.jobs = nil
				if evs, err := d.declare(context.Background(), 1, cl, m); err != nil || len(evs) != 1 {
					b.Fatal(err, evs)
				}
				b.StartTimer()
				evs, err := d.provide(context.Background(), 1, cl, provided)
				if err != nil {
					b.Fatal(err)
				}
				succeeded(b, evs)
			}
		})
	}
}

// BenchmarkDeclarationMemory reports what an accepted declaration keeps
// (retained-B/decl): its message, parsed coinbase and the references to
// its transactions, which are the mempool index's own.
func BenchmarkDeclarationMemory(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			const keep = 50
			d, cl, proto, _ := benchSetup(b, n, true)
			d.cfg.KeepJobs = keep
			var retained float64
			for b.Loop() {
				cl.jobs = nil
				msgs := make([]*sv2.DeclareMiningJob, keep)
				for i := range msgs {
					m := *proto
					m.WtxidList = append([]sv2.U256(nil), proto.WtxidList...)
					grant(b, d, cl, &m)
					msgs[i] = &m
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for _, m := range msgs {
					evs, err := d.declare(context.Background(), 1, cl, m)
					if err != nil {
						b.Fatal(err)
					}
					succeeded(b, evs)
				}
				msgs = nil // the declarations keep theirs
				runtime.GC()
				runtime.ReadMemStats(&after)
				retained = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / keep
				if len(cl.jobs) != keep {
					b.Fatalf("%d declarations kept", len(cl.jobs))
				}
			}
			b.ReportMetric(retained, "retained-B/decl")
		})
	}
}
