package cpuminer

import (
	"encoding/binary"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// scan hashes the header h for nonces [from, from+count) and returns the
// first nonce whose hash meets t. The first 64 header bytes are hashed once
// (the midstate); each nonce then costs two SHA-256 compressions: the last
// 16 bytes with padding, and the second hash.
func scan(h *block.Header, t *sv2.U256, from, count uint32) (nonce uint32, hash sv2.U256, found bool) {
	b := h.Bytes()
	mid := sha256d.Midstate((*[64]byte)(b[:64]))
	var tail [16]byte
	copy(tail[:], b[64:])
	end := from + count
	for n := from; n != end; n++ {
		binary.LittleEndian.PutUint32(tail[12:], n)
		d := sha256d.Header(&mid, &tail)
		// The hash's most significant bytes are last; most nonces fail there.
		if d[31] > t[31] {
			continue
		}
		if hash = sv2.U256(d); target.Meets(&hash, t) {
			return n, hash, true
		}
	}
	return 0, sv2.U256{}, false
}
