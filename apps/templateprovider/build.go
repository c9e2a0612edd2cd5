package templateprovider

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// Consensus limits and the coinbase reservation of spec §7 / §7.1.
const (
	maxBlockWeight = 4_000_000
	maxBlockSigOps = 80_000 // sigop cost
	// reservedWeight covers the header (320), the transaction count (12),
	// the coinbase's fixed fields with SegWit (236), a 100-byte scriptSig
	// (400), the output count (12) and the witness commitment output (188).
	reservedWeight = 1168
)

// constraints is what a client asked for in CoinbaseOutputConstraints.
type constraints struct {
	size   uint32 // bytes of outputs the client adds
	sigops uint16 // sigop cost the client adds
}

// template is one NewTemplate we sent, with what SubmitSolution and
// RequestTransactionData need later.
type template struct {
	msg      *sv2.NewTemplate
	prevHash sv2.U256
	height   int64
	bits     uint32
	txData   [][]byte // the selected transactions, witness-serialized, in block order
	fees     int64    // fees of those transactions
}

// selection is what selectTransactions chose for one set of constraints.
type selection struct {
	txs  []node.TemplateTx
	fees int64
	err  error
}

// selectFor is selectTransactions as a selection.
func selectFor(t *node.Template, c constraints) selection {
	var s selection
	s.txs, s.fees, s.err = selectTransactions(t, c)
	return s
}

// selectOnce is selectFor remembered in memo: the clients of one node
// template mostly share their constraints.
func selectOnce(memo map[constraints]selection, t *node.Template, c constraints) selection {
	s, ok := memo[c]
	if !ok {
		s = selectFor(t, c)
		memo[c] = s
	}
	return s
}

// selectTransactions keeps the node's transactions, in its order, while the
// block stays within weight and sigops once the client's outputs and a
// maximal coinbase are added; a transaction left out takes its dependants
// with it. The node lists lower-priority transactions later, so dropping from
// the end drops the cheapest ones first.
func selectTransactions(t *node.Template, c constraints) ([]node.TemplateTx, int64, error) {
	weightLimit := int64(maxBlockWeight)
	if t.WeightLimit > 0 && t.WeightLimit < weightLimit {
		weightLimit = t.WeightLimit
	}
	sigopLimit := int64(maxBlockSigOps)
	if t.SigOpLimit > 0 && t.SigOpLimit < sigopLimit {
		sigopLimit = t.SigOpLimit
	}
	budget := weightLimit - reservedWeight - 4*int64(c.size)
	sigops := sigopLimit - int64(c.sigops)
	if budget < 0 || sigops < 0 {
		return nil, 0, fmt.Errorf("templateprovider: coinbase constraints (%d bytes, %d sigops) leave no room in a block", c.size, c.sigops)
	}
	kept := make([]bool, len(t.Transactions))
	var out []node.TemplateTx
	var fees int64
	for i, tx := range t.Transactions {
		weight, err := txWeight(tx)
		if err != nil {
			return nil, 0, err
		}
		ok := weight <= budget && tx.SigOps <= sigops
		for _, d := range tx.Depends {
			if d < 1 || d > i || !kept[d-1] {
				ok = false // a parent is missing (or the node's index is bad)
			}
		}
		if !ok {
			continue
		}
		kept[i] = true
		budget -= weight
		sigops -= tx.SigOps
		fees += tx.Fee
		out = append(out, tx)
	}
	return out, fees, nil
}

// txWeight is the node's figure or, when it gave none, computed from the data.
func txWeight(tx node.TemplateTx) (int64, error) {
	if tx.Weight > 0 {
		return tx.Weight, nil
	}
	var m wire.MsgTx
	if err := m.Deserialize(bytes.NewReader(tx.Data)); err != nil {
		return 0, fmt.Errorf("templateprovider: transaction %s from the node: %w", tx.TxID, err)
	}
	return int64(m.SerializeSizeStripped()*3 + m.SerializeSize()), nil
}

// buildTemplate turns the node's template, with the transactions selected
// for one set of constraints, into a NewTemplate. The coinbase gets a
// witness commitment when a transaction has a witness and, with signet (or a
// template naming a signet challenge), always: a signet block without one is
// invalid, since its signet solution lives in that output (BIP325).
func buildTemplate(t *node.Template, sel selection, id uint64, future, signet bool) (*template, error) {
	if sel.err != nil {
		return nil, sel.err
	}
	txs, fees := sel.txs, sel.fees
	var allFees int64
	for _, tx := range t.Transactions {
		allFees += tx.Fee
	}
	prefix, err := txscript.NewScriptBuilder().AddInt64(t.Height).Script() // BIP34
	if err != nil {
		return nil, fmt.Errorf("templateprovider: height %d: %w", t.Height, err)
	}
	txids := make([]sv2.U256, len(txs))
	wtxids := make([]sv2.U256, len(txs))
	data := make([][]byte, len(txs))
	segwit := false
	for i, tx := range txs {
		txids[i], wtxids[i], data[i] = sv2.U256(tx.TxID), sv2.U256(tx.WTxID), tx.Data
		segwit = segwit || tx.WTxID != tx.TxID
	}
	var outputs []byte
	var count uint32
	if segwit || signet || t.SignetChallenge != nil {
		var buf bytes.Buffer
		out := wire.NewTxOut(0, coinbase.WitnessCommitmentScript(wtxids))
		if err := wire.WriteTxOut(&buf, 0, 0, out); err != nil {
			return nil, err
		}
		outputs, count = buf.Bytes(), 1
	}
	return &template{
		msg: &sv2.NewTemplate{
			TemplateID:               id,
			FutureTemplate:           future,
			Version:                  uint32(t.Version),
			CoinbaseTxVersion:        2,
			CoinbasePrefix:           prefix,
			CoinbaseTxInputSequence:  wire.MaxTxInSequenceNum,
			CoinbaseTxValueRemaining: uint64(t.CoinbaseValue - (allFees - fees)),
			CoinbaseTxOutputsCount:   count,
			CoinbaseTxOutputs:        outputs,
			CoinbaseTxLocktime:       0,
			MerklePath:               merkle.Path(txids),
		},
		prevHash: sv2.U256(t.PrevHash),
		height:   t.Height,
		bits:     t.Bits,
		txData:   data,
		fees:     fees,
	}, nil
}

// prevHashMessage announces t's tip for the template with id.
func prevHashMessage(t *node.Template, id uint64) (*sv2.TemplateSetNewPrevHash, error) {
	if t.Target == nil {
		return nil, errors.New("templateprovider: node's template has no target")
	}
	tgt, err := target.FromBig(t.Target)
	if err != nil {
		return nil, fmt.Errorf("templateprovider: node's target: %w", err)
	}
	return &sv2.TemplateSetNewPrevHash{
		TemplateID:      id,
		PrevHash:        sv2.U256(t.PrevHash),
		HeaderTimestamp: uint32(t.CurTime),
		NBits:           t.Bits,
		Target:          tgt,
	}, nil
}
