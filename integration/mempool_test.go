package integration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/integration/harness"
)

// What a job declaration server does with a declared job, against each
// node: resolve its transactions by wtxid from the node's mempool, then have
// the node check the block without proof of work.
func TestMempoolIndexAndBlockProposals(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 2*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		c := n.Client()
		mempool := node.NewMempool(c, node.MempoolConfig{})

		// No getblocktemplate between the last block and the transactions:
		// btcd would serve a cached template without them for a minute.
		txs, err := n.SendSegWitTxs(ctx, 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := mempool.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if mempool.Len() != len(txs) {
			t.Fatalf("index holds %d transactions, want the %d sent", mempool.Len(), len(txs))
		}
		var sent []chainhash.Hash
		for i, tx := range txs {
			var raw bytes.Buffer
			if err := tx.Serialize(&raw); err != nil {
				t.Fatal(err)
			}
			got, ok := mempool.Lookup(tx.WitnessHash())
			if !ok {
				t.Fatalf("tx %d: Lookup(wtxid %v) found nothing", i, tx.WitnessHash())
			}
			if got.TxID != tx.TxHash() || got.WTxID != tx.WitnessHash() || got.WTxID == got.TxID || !bytes.Equal(got.Raw, raw.Bytes()) {
				t.Errorf("tx %d: indexed as %v/%v (%d bytes), want %v/%v with its witness (%d bytes)",
					i, got.TxID, got.WTxID, len(got.Raw), tx.TxHash(), tx.WitnessHash(), raw.Len())
			}
			sent = append(sent, tx.TxHash())
		}

		tmpl, err := c.GetBlockTemplate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var inTemplate []chainhash.Hash
		var mempoolTxs []*wire.MsgTx
		for _, tt := range tmpl.Transactions {
			inTemplate = append(inTemplate, tt.TxID)
			// The job's transactions as the server would have them: from
			// the index, by wtxid.
			mt, ok := mempool.Lookup(tt.WTxID)
			if !ok {
				t.Fatalf("template transaction %v is not in the index", tt.WTxID)
			}
			var tx wire.MsgTx
			if err := tx.Deserialize(bytes.NewReader(mt.Raw)); err != nil {
				t.Fatal(err)
			}
			mempoolTxs = append(mempoolTxs, &tx)
		}
		if !sameSet(sent, inTemplate) {
			t.Fatalf("template has %d transactions, want exactly the %d sent", len(inTemplate), len(sent))
		}

		payTo := n.MiningAddress().ScriptAddress()
		block := proposalBlock(t, tmpl, payTo, mempoolTxs)
		if err := c.ProposeMsgBlock(ctx, block); err != nil {
			t.Fatalf("valid block proposed: %v, want nil", err)
		}
		// It is valid but for its proof of work, which a proposal skips.
		highHash := map[harness.Kind]string{harness.Btcd: "is higher than expected max", harness.Bitcoind: "high-hash"}[kind]
		var rej *node.RejectedError
		if err := c.SubmitBlock(ctx, block); !errors.As(err, &rej) || !strings.Contains(rej.Reason, highHash) {
			t.Fatalf("submitting the unsolved block: err = %v, want a refusal for its hash (%q)", err, highHash)
		}

		// The nodes' own reasons, verbatim.
		reasons := map[harness.Kind]struct{ missingInput, merkleRoot, stale string }{
			harness.Btcd:     {"bad-txns-missinginput", "bad-txnmrklroot", "bad-prevblk"},
			harness.Bitcoind: {"bad-txns-inputs-missingorspent", "bad-txnmrklroot", "inconclusive-not-best-prevblk"},
		}[kind]

		spendsNothing := wire.NewMsgTx(2)
		var nowhere chainhash.Hash
		rand.Read(nowhere[:])
		spendsNothing.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: nowhere}, Sequence: wire.MaxTxInSequenceNum})
		spendsNothing.AddTxOut(&wire.TxOut{Value: 1000, PkScript: append([]byte{txscript.OP_0, 20}, payTo...)})
		missing := proposalBlock(t, tmpl, payTo, append(slices.Clone(mempoolTxs), spendsNothing))
		checkRefused(t, c.ProposeMsgBlock(ctx, missing), reasons.missingInput, false)

		badRoot := proposalBlock(t, tmpl, payTo, mempoolTxs)
		badRoot.Header.MerkleRoot[0] ^= 1
		checkRefused(t, c.ProposeMsgBlock(ctx, badRoot), reasons.merkleRoot, false)

		// A block found meanwhile makes the proposal stale: refused for
		// its parent, whatever its transactions.
		if _, err := n.Generate(ctx, 1); err != nil {
			t.Fatal(err)
		}
		checkRefused(t, c.ProposeMsgBlock(ctx, block), reasons.stale, true)

		// The block mined the transactions: the index forgets them.
		if err := mempool.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if mempool.Len() != 0 || mempool.Bytes() != 0 {
			t.Errorf("after the block: index holds %d transactions, %d bytes; want none", mempool.Len(), mempool.Bytes())
		}
		if _, ok := mempool.Lookup(txs[0].WitnessHash()); ok {
			t.Error("a mined transaction is still indexed")
		}
	})
}

func checkRefused(t *testing.T, err error, reason string, stale bool) {
	t.Helper()
	var rej *node.RejectedError
	if !errors.As(err, &rej) || rej.Reason != reason || rej.RPC != nil {
		t.Errorf("err = %v, want a refusal with the node's reason %q", err, reason)
		return
	}
	if rej.StaleTip() != stale {
		t.Errorf("reason %q: StaleTip = %v, want %v", rej.Reason, rej.StaleTip(), stale)
	}
}

// proposalBlock assembles a block on tmpl with txs after a coinbase paying
// the template's value to a P2WPKH program, with the BIP34 height and the
// BIP141 witness commitment of txs; its nonce is chosen so that the header
// does not meet the target: no proof of work.
func proposalBlock(t *testing.T, tmpl *node.Template, witnessProgram []byte, txs []*wire.MsgTx) *wire.MsgBlock {
	t.Helper()
	extranonce := make([]byte, 8)
	rand.Read(extranonce)
	sigScript, err := txscript.NewScriptBuilder().AddInt64(tmpl.Height).AddData(extranonce).Script()
	if err != nil {
		t.Fatal(err)
	}
	coinbase := wire.NewMsgTx(2)
	coinbase.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript,
		Sequence:         wire.MaxTxInSequenceNum,
		Witness:          wire.TxWitness{make([]byte, blockchain.CoinbaseWitnessDataLen)},
	})
	coinbase.AddTxOut(&wire.TxOut{Value: tmpl.CoinbaseValue, PkScript: append([]byte{txscript.OP_0, 20}, witnessProgram...)})
	all := []*btcutil.Tx{btcutil.NewTx(coinbase)}
	for _, tx := range txs {
		all = append(all, btcutil.NewTx(tx))
	}
	witnessRoot := blockchain.CalcMerkleRoot(all, true)
	var preimage [64]byte // the witness root, then the zero reserved value
	copy(preimage[:32], witnessRoot[:])
	commitment := chainhash.DoubleHashB(preimage[:])
	coinbase.AddTxOut(&wire.TxOut{PkScript: append(append([]byte{txscript.OP_RETURN, 36}, blockchain.WitnessMagicBytes[2:]...), commitment...)})
	all[0] = btcutil.NewTx(coinbase) // drop the cached hashes

	block := wire.NewMsgBlock(&wire.BlockHeader{
		Version:    tmpl.Version,
		PrevBlock:  tmpl.PrevHash,
		MerkleRoot: blockchain.CalcMerkleRoot(all, false),
		Timestamp:  time.Unix(tmpl.CurTime, 0),
		Bits:       tmpl.Bits,
	})
	for _, tx := range all {
		block.AddTransaction(tx.MsgTx())
	}
	for {
		h := block.Header.BlockHash()
		if blockchain.HashToBig(&h).Cmp(tmpl.Target) > 0 {
			return block
		}
		block.Header.Nonce++
	}
}
