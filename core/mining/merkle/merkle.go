// Package merkle computes Bitcoin merkle roots: from a coinbase txid and the
// merkle path of a job (deepest hash first), and the coinbase's merkle path
// from a block's transaction ids, as a template provider or job declarator needs.
package merkle

import (
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/sv2"
)

// DoubleSHA256 returns SHA256(SHA256(b)), the hash of transactions, headers and merkle nodes.
func DoubleSHA256(b []byte) sv2.U256 { return sha256d.Sum(b) }

// Parent returns the merkle node above left and right.
func Parent(left, right *sv2.U256) sv2.U256 {
	return sha256d.Node((*[32]byte)(left), (*[32]byte)(right))
}

// Root folds the coinbase txid with path, deepest hash first, as §5.3.16
// describes; hashes are in internal (wire) byte order. It is on the share
// hot path: three SHA-256 compressions per level, no allocation.
func Root(coinbaseTxID sv2.U256, path []sv2.U256) sv2.U256 {
	return sha256d.Root(coinbaseTxID, path)
}

// Path returns the merkle path of the coinbase (the first leaf) of a block
// whose other transactions have the given txids, in block order. The result
// is empty for a block with only the coinbase.
func Path(txids []sv2.U256) []sv2.U256 {
	if len(txids) == 0 {
		return nil
	}
	var path []sv2.U256
	// level holds the nodes to the right of the coinbase's branch at the current depth.
	level := append([]sv2.U256(nil), txids...)
	for len(level) > 0 {
		path = append(path, level[0])
		rest := level[1:]
		next := make([]sv2.U256, 0, (len(rest)+1)/2)
		for i := 0; i < len(rest); i += 2 {
			// An odd node at the end is paired with itself, as Bitcoin does.
			right := &rest[i]
			if i+1 < len(rest) {
				right = &rest[i+1]
			}
			next = append(next, Parent(&rest[i], right))
		}
		level = next
	}
	return path
}

// RootFromTxIDs returns the merkle root of a whole block, leaves in block
// order (the coinbase first). It is for checks and block assembly, not the hot path.
func RootFromTxIDs(txids []sv2.U256) sv2.U256 {
	if len(txids) == 0 {
		return sv2.U256{}
	}
	return Root(txids[0], Path(txids[1:]))
}
