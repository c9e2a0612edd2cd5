package block

import (
	"fmt"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/sv2"
)

// FromSubmitSolution builds the block that a SubmitSolution (§7.7) solves,
// as a template provider does before submitblock: t is the template it
// names, prev the TemplateSetNewPrevHash in force for t (the one that
// activated t, or the tip t was built on), and txs t's transactions in block
// order, serialized with witnesses (RequestTransactionData.Success's
// transaction_list). The header takes version, timestamp and nonce from the
// solution, prev hash and nBits from prev, and the merkle root of the
// solution's coinbase and t's merkle path; the transactions must make the
// same root. Proof of work is left to the node.
func FromSubmitSolution(sol *sv2.SubmitSolution, t *sv2.NewTemplate, prev *sv2.TemplateSetNewPrevHash, txs [][]byte) (*wire.MsgBlock, error) {
	if sol.TemplateID != t.TemplateID {
		return nil, fmt.Errorf("%w: solution for template %d, given template %d", ErrMismatch, sol.TemplateID, t.TemplateID)
	}
	h := Header{Version: sol.Version, PrevHash: prev.PrevHash, NTime: sol.HeaderTimestamp, NBits: prev.NBits, Nonce: sol.HeaderNonce}
	blk, txids, err := parse(h, sol.CoinbaseTx, txs)
	if err != nil {
		return nil, fmt.Errorf("template %d: %w", t.TemplateID, err)
	}
	h.MerkleRoot = merkle.Root(txids[0], t.MerklePath)
	if root := merkle.RootFromTxIDs(txids); root != h.MerkleRoot {
		return nil, fmt.Errorf("%w: template %d: its merkle path gives root %x, its %d transactions %x",
			ErrMismatch, t.TemplateID, h.MerkleRoot, len(txs), root)
	}
	blk.Header = h.Wire()
	return blk, nil
}

// FromPushSolution builds the block that a PushSolution (§6.4.9) solves, as a
// job declarator server does to propagate it: job is the DeclareMiningJob
// whose coinbase parts (BIP141 fields kept, §6.4.4) surround the solution's
// full extranonce, and txs are the transactions of its wtxid_list, in that
// order, serialized with witnesses. Each transaction must have the wtxid
// declared for its place. The header takes everything but the merkle root
// from the solution; the root is that of the coinbase and txs. Proof of work
// is left to the node.
func FromPushSolution(sol *sv2.PushSolution, job *sv2.DeclareMiningJob, txs [][]byte) (*wire.MsgBlock, error) {
	if len(txs) != len(job.WtxidList) {
		return nil, fmt.Errorf("%w: %d transactions for %d declared wtxids", ErrMismatch, len(txs), len(job.WtxidList))
	}
	coinbaseTx := make([]byte, 0, len(job.CoinbaseTxPrefix)+len(sol.Extranonce)+len(job.CoinbaseTxSuffix))
	coinbaseTx = append(append(append(coinbaseTx, job.CoinbaseTxPrefix...), sol.Extranonce...), job.CoinbaseTxSuffix...)
	h := Header{Version: sol.Version, PrevHash: sol.PrevHash, NTime: sol.NTime, NBits: sol.NBits, Nonce: sol.Nonce}
	blk, txids, err := parse(h, coinbaseTx, txs)
	if err != nil {
		return nil, fmt.Errorf("declared job %d: %w", job.RequestID, err)
	}
	for i, tx := range blk.Transactions[1:] {
		if got := sv2.U256(tx.WitnessHash()); got != job.WtxidList[i] {
			return nil, fmt.Errorf("%w: declared job %d: transaction %d has wtxid %x, declared %x",
				ErrMismatch, job.RequestID, i, got, job.WtxidList[i])
		}
	}
	h.MerkleRoot = merkle.RootFromTxIDs(txids)
	blk.Header = h.Wire()
	return blk, nil
}
