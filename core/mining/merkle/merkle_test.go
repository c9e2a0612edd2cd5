package merkle

import (
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/sv2"
)

// TestRootAgainstBtcd compares our root (from the coinbase and its path) with btcd's merkle tree.
func TestRootAgainstBtcd(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100, 2001} {
		txs := make([]*btcutil.Tx, n)
		txids := make([]sv2.U256, n)
		for i := range txs {
			tx := wire.NewMsgTx(1)
			tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{byte(i), byte(i >> 8)}, 0), nil, nil))
			tx.AddTxOut(wire.NewTxOut(int64(i), []byte{0x51}))
			txs[i] = btcutil.NewTx(tx)
			txids[i] = sv2.U256(tx.TxHash())
		}
		want := sv2.U256(blockchain.CalcMerkleRoot(txs, false))
		path := Path(txids[1:])
		if got := Root(txids[0], path); got != want {
			t.Fatalf("%d txs: root %x, btcd %x", n, got, want)
		}
		if got := RootFromTxIDs(txids); got != want {
			t.Fatalf("%d txs: RootFromTxIDs %x, btcd %x", n, got, want)
		}
	}
	if Path(nil) != nil {
		t.Fatal("path of a coinbase-only block is not empty")
	}
}

func BenchmarkRoot12(b *testing.B) {
	path := make([]sv2.U256, 12)
	var id sv2.U256
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		id[0] = byte(i)
		id = Root(id, path)
	}
}
