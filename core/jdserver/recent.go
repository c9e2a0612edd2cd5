package jdserver

import (
	"crypto/sha256"
	"sync"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/sv2"
)

// keepRecent is how many accepted declarations, of every connection, a
// pool running the JDS in-process can find a found block's transactions
// in: a few templates per JDC, for the JDCs of one tip; and
// keepRecentBytes bounds their transactions' bytes (those of the mempool
// index counted too, though shared), so that provided transactions cannot
// grow it past a few blocks per JDC.
const (
	keepRecent      = 1024
	keepRecentBytes = 256 << 20
)

// recent indexes accepted declarations by what a found block's custom job
// carries: its prev hash and merkle path.
type recent struct {
	mu    sync.Mutex
	byKey map[[32]byte][][]byte
	order [][32]byte
	bytes int
}

func size(txs [][]byte) (n int) {
	for _, tx := range txs {
		n += len(tx)
	}
	return n
}

func jobKey(prev sv2.U256, path []sv2.U256) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	for _, p := range path {
		h.Write(p[:])
	}
	return [32]byte(h.Sum(nil))
}

func (r *recent) add(prev sv2.U256, path []sv2.U256, txs [][]byte) {
	k := jobKey(prev, path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKey == nil {
		r.byKey = map[[32]byte][][]byte{}
	}
	if old, ok := r.byKey[k]; ok {
		r.bytes -= size(old)
	} else {
		r.order = append(r.order, k)
	}
	r.byKey[k] = txs
	r.bytes += size(txs)
	for len(r.order) > keepRecent || r.bytes > keepRecentBytes && len(r.order) > 1 {
		r.bytes -= size(r.byKey[r.order[0]])
		delete(r.byKey, r.order[0])
		r.order = r.order[1:]
	}
}

// CustomTransactions returns the declared transactions of a block found on
// a custom job this JDS accepted, for a pool that runs it in-process to
// submit the block itself (core/submit's Config.CustomTransactions).
func (j *JDS) CustomTransactions(fb *mining.FoundBlock) ([][]byte, bool) {
	r := &j.d.recent
	r.mu.Lock()
	defer r.mu.Unlock()
	txs, ok := r.byKey[jobKey(fb.Header.PrevHash, fb.MerklePath)]
	return txs, ok
}
