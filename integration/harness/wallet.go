package harness

import (
	"context"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// coinbaseMaturity is regtest's: a coinbase created at height h may be spent
// in a block at height h+100 or later.
var coinbaseMaturity = int64(chaincfg.RegressionNetParams.CoinbaseMaturity)

// MatureCoinbases makes sure at least count of the harness's unspent
// coinbase outputs can be spent in the next block, generating blocks as
// needed (first to have count coinbases, then to let them mature).
func (n *Node) MatureCoinbases(ctx context.Context, count int) error {
	for {
		tip, err := n.Client().GetBlockCount(ctx)
		if err != nil {
			return err
		}
		unspent := n.unspent()
		if missing := count - len(unspent); missing > 0 {
			if _, err := n.Generate(ctx, missing); err != nil {
				return err
			}
			continue
		}
		// Spendable in the next block (tip+1) when tip+1-height >= maturity.
		need := unspent[count-1].height + coinbaseMaturity - 1
		if tip >= need {
			return nil
		}
		if _, err := n.Generate(ctx, int(need-tip)); err != nil {
			return err
		}
	}
}

// unspent returns the unspent coinbases, oldest first.
func (n *Node) unspent() []coin {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []coin
	for _, c := range n.coins {
		if !c.spent {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].height < out[j].height })
	return out
}

// SendSegWitTxs creates count SegWit transactions, each spending one mature
// coinbase output of the harness's key (P2WPKH) back to that key, signs them
// (BIP143) and broadcasts them. The fee of the i-th transaction is
// 1000+100·i satoshis, so templates carry distinct fees. It generates blocks
// first if fewer than count coinbases are mature. The transactions are in
// the mempool when it returns.
func (n *Node) SendSegWitTxs(ctx context.Context, count int) ([]*wire.MsgTx, error) {
	if err := n.MatureCoinbases(ctx, count); err != nil {
		return nil, err
	}
	coins := n.unspent()[:count]
	txs := make([]*wire.MsgTx, 0, count)
	for i, c := range coins {
		tx, err := n.spend(c, 1000+100*int64(i))
		if err != nil {
			return txs, err
		}
		if _, err := n.Client().SendRawTransaction(ctx, tx); err != nil {
			return txs, fmt.Errorf("broadcast transaction %d spending %v: %w", i, c.out, err)
		}
		n.markSpent(c.out)
		txs = append(txs, tx)
	}
	return txs, nil
}

func (n *Node) markSpent(op wire.OutPoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.coins {
		if n.coins[i].out == op {
			n.coins[i].spent = true
		}
	}
}

// spend builds and signs a one-input, one-output P2WPKH transaction.
func (n *Node) spend(c coin, fee int64) (*wire.MsgTx, error) {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: c.out, Sequence: wire.MaxTxInSequenceNum})
	tx.AddTxOut(&wire.TxOut{Value: c.value - fee, PkScript: n.pkScript})
	fetcher := txscript.NewCannedPrevOutputFetcher(n.pkScript, c.value)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	wit, err := txscript.WitnessSignature(tx, sigHashes, 0, c.value, n.pkScript, txscript.SigHashAll, n.key, true)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	tx.TxIn[0].Witness = wit
	return tx, nil
}
