package block_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// mine finds a nonce for h under regtest's proof-of-work limit.
func mine(t *testing.T, h block.Header) block.Header {
	t.Helper()
	net, err := target.FromCompact(h.NBits)
	if err != nil {
		t.Fatal(err)
	}
	for hash := h.Hash(); !target.Meets(&hash, &net); hash = h.Hash() {
		h.Nonce++
	}
	return h
}

// checkWithBtcd runs btcd's consensus checks on blk and checks its hash.
func checkWithBtcd(t *testing.T, blk *wire.MsgBlock, want block.Header) {
	t.Helper()
	b := btcutil.NewBlock(blk)
	if err := blockchain.CheckBlockSanity(b, chaincfg.RegressionNetParams.PowLimit, blockchain.NewMedianTime()); err != nil {
		t.Fatalf("CheckBlockSanity: %v", err)
	}
	if err := blockchain.ValidateWitnessCommitment(b); err != nil {
		t.Fatalf("ValidateWitnessCommitment: %v", err)
	}
	if got := blk.BlockHash(); sv2.U256(got) != want.Hash() {
		t.Fatalf("block hash %v, want %x", got, want.Hash())
	}
}

func rawTxs(t *testing.T, txs []*wire.MsgTx) [][]byte {
	raw := make([][]byte, len(txs))
	for i, tx := range txs {
		raw[i] = serialize(t, tx)
	}
	return raw
}

// solvedTemplate is a template, its prev hash, and a SubmitSolution for it.
type solvedTemplate struct {
	rt     regtestTemplate
	prev   *sv2.TemplateSetNewPrevHash
	sol    *sv2.SubmitSolution
	header block.Header
}

func solveTemplate(t *testing.T, ntx int, segwit bool) solvedTemplate {
	t.Helper()
	params := chaincfg.RegressionNetParams
	rt := newRegtestTemplate(t, ntx, segwit, uint64(100+ntx))
	cb, err := coinbase.New(rt.tmpl, poolConfig, 8)
	if err != nil {
		t.Fatal(err)
	}
	extranonce := []byte{8, 7, 6, 5, 4, 3, 2, 1}
	prev := &sv2.TemplateSetNewPrevHash{TemplateID: rt.tmpl.TemplateID, PrevHash: sv2.U256(*params.GenesisHash),
		HeaderTimestamp: 1_700_000_000, NBits: params.PowLimitBits}
	h := mine(t, block.Header{Version: rt.tmpl.Version | 0x2000, PrevHash: prev.PrevHash,
		MerkleRoot: merkle.Root(cb.TxID(extranonce), rt.tmpl.MerklePath), NTime: prev.HeaderTimestamp + 7, NBits: prev.NBits})
	sol := &sv2.SubmitSolution{TemplateID: rt.tmpl.TemplateID, Version: h.Version, HeaderTimestamp: h.NTime,
		HeaderNonce: h.Nonce, CoinbaseTx: cb.AppendTx(nil, extranonce)}
	return solvedTemplate{rt: rt, prev: prev, sol: sol, header: h}
}

func TestFromSubmitSolution(t *testing.T) {
	for _, segwit := range []bool{false, true} {
		for _, ntx := range []int{0, 1, 2, 3, 7, 2000} {
			t.Run(fmt.Sprintf("segwit=%v/txs=%d", segwit, ntx), func(t *testing.T) {
				st := solveTemplate(t, ntx, segwit)
				blk, err := block.FromSubmitSolution(st.sol, st.rt.tmpl, st.prev, rawTxs(t, st.rt.txs))
				if err != nil {
					t.Fatal(err)
				}
				checkWithBtcd(t, blk, st.header)
				if blk.Transactions[0].HasWitness() != segwit {
					t.Fatalf("coinbase witness %v, want %v", blk.Transactions[0].HasWitness(), segwit)
				}
			})
		}
	}
}

func TestFromSubmitSolutionRejects(t *testing.T) {
	st := solveTemplate(t, 3, true)
	raw := rawTxs(t, st.rt.txs)
	otherTemplate := *st.rt.tmpl
	otherTemplate.TemplateID++
	cases := []struct {
		name string
		sol  *sv2.SubmitSolution
		tmpl *sv2.NewTemplate
		txs  [][]byte
		want error
	}{
		{"another template", st.sol, &otherTemplate, raw, block.ErrMismatch},
		{"transactions reordered", st.sol, st.rt.tmpl, [][]byte{raw[1], raw[0], raw[2]}, block.ErrMismatch},
		{"a transaction missing", st.sol, st.rt.tmpl, raw[:2], block.ErrMismatch},
		{"malformed transaction", st.sol, st.rt.tmpl, [][]byte{raw[0], raw[1], raw[2][:10]}, block.ErrBadTransaction},
		{"malformed coinbase", &sv2.SubmitSolution{TemplateID: st.sol.TemplateID, CoinbaseTx: []byte{1, 2}}, st.rt.tmpl, raw, block.ErrBadTransaction},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := block.FromSubmitSolution(c.sol, c.tmpl, st.prev, c.txs); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// declaredJob is a DeclareMiningJob, its transactions, and a PushSolution for it.
type declaredJob struct {
	job    *sv2.DeclareMiningJob
	txs    []*wire.MsgTx
	sol    *sv2.PushSolution
	header block.Header
}

func declareAndSolve(t *testing.T, ntx int, segwit bool) declaredJob {
	t.Helper()
	params := chaincfg.RegressionNetParams
	rt := newRegtestTemplate(t, ntx, segwit, uint64(200+ntx))
	cb, err := coinbase.New(rt.tmpl, poolConfig, 8)
	if err != nil {
		t.Fatal(err)
	}
	job := &sv2.DeclareMiningJob{RequestID: 42, Version: rt.tmpl.Version, CoinbaseTxPrefix: cb.FullPrefix(), CoinbaseTxSuffix: cb.FullSuffix()}
	extranonce := []byte{1, 1, 2, 3, 5, 8, 13, 21}
	txids := []sv2.U256{cb.TxID(extranonce)}
	for _, tx := range rt.txs {
		job.WtxidList = append(job.WtxidList, sv2.U256(tx.WitnessHash()))
		txids = append(txids, sv2.U256(tx.TxHash()))
	}
	h := mine(t, block.Header{Version: job.Version, PrevHash: sv2.U256(*params.GenesisHash),
		MerkleRoot: merkle.RootFromTxIDs(txids), NTime: 1_700_000_100, NBits: params.PowLimitBits})
	sol := &sv2.PushSolution{Extranonce: extranonce, PrevHash: h.PrevHash, Nonce: h.Nonce, NTime: h.NTime, NBits: h.NBits, Version: h.Version}
	return declaredJob{job: job, txs: rt.txs, sol: sol, header: h}
}

func TestFromPushSolution(t *testing.T) {
	for _, segwit := range []bool{false, true} {
		for _, ntx := range []int{0, 1, 2, 3, 7, 2000} {
			t.Run(fmt.Sprintf("segwit=%v/txs=%d", segwit, ntx), func(t *testing.T) {
				dj := declareAndSolve(t, ntx, segwit)
				blk, err := block.FromPushSolution(dj.sol, dj.job, rawTxs(t, dj.txs))
				if err != nil {
					t.Fatal(err)
				}
				checkWithBtcd(t, blk, dj.header)
			})
		}
	}
}

func TestFromPushSolutionRejects(t *testing.T) {
	dj := declareAndSolve(t, 3, true)
	raw := rawTxs(t, dj.txs)
	cases := []struct {
		name string
		txs  [][]byte
		want error
	}{
		{"transactions not in the declared order", [][]byte{raw[1], raw[0], raw[2]}, block.ErrMismatch},
		{"a transaction missing", raw[:2], block.ErrMismatch},
		{"an extra transaction", append(raw[:3:3], raw[0]), block.ErrMismatch},
		{"malformed transaction", [][]byte{raw[0], raw[1], {0xff}}, block.ErrBadTransaction},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := block.FromPushSolution(dj.sol, dj.job, c.txs); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A stripped coinbase prefix (NewExtendedMiningJob's form) with the full suffix does not parse.
	stripped := *dj.job
	stripped.CoinbaseTxPrefix = append(append([]byte(nil), dj.job.CoinbaseTxPrefix[:4]...), dj.job.CoinbaseTxPrefix[6:]...)
	if _, err := block.FromPushSolution(dj.sol, &stripped, raw); !errors.Is(err, block.ErrBadTransaction) {
		t.Fatalf("coinbase without its BIP141 marker but with its witness: %v, want ErrBadTransaction", err)
	}
}
