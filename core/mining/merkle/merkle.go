// Package merkle computes Bitcoin merkle roots: from a coinbase txid and the
// merkle path of a job (deepest hash first), and the coinbase's merkle path
// from a block's transaction ids, as a template provider or job declarator needs.
package merkle

import (
	"crypto/sha256"

	"github.com/stratumgo/stratum/core/sv2"
)

// DoubleSHA256 returns SHA256(SHA256(b)), the hash of transactions, headers and merkle nodes.
func DoubleSHA256(b []byte) sv2.U256 {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// Parent returns the merkle node above left and right.
func Parent(left, right *sv2.U256) sv2.U256 {
	var buf [64]byte
	copy(buf[:32], left[:])
	copy(buf[32:], right[:])
	return DoubleSHA256(buf[:])
}

// Root folds the coinbase txid with path, deepest hash first, as §5.3.16
// describes; hashes are in internal (wire) byte order.
func Root(coinbaseTxID sv2.U256, path []sv2.U256) sv2.U256 {
	var buf [64]byte
	copy(buf[:32], coinbaseTxID[:])
	for i := range path {
		copy(buf[32:], path[i][:])
		h := sha256.Sum256(buf[:])
		h = sha256.Sum256(h[:])
		copy(buf[:32], h[:])
	}
	return sv2.U256(buf[:32])
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
