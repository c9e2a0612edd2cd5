package cpuminer

import (
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/sv2"
)

// scan hashes the header h for nonces [from, from+count) (wrapping at 2^32)
// and returns the first nonce whose hash meets t. The first 64 header bytes
// are hashed once (the midstate); sha256d.Scan then costs two SHA-256
// compressions per nonce, less what does not depend on the nonce, and checks
// the hash's top word before the whole target.
func scan(h *block.Header, t *sv2.U256, from, count uint32) (nonce uint32, hash sv2.U256, found bool) {
	b := h.Bytes()
	mid := sha256d.Midstate((*[64]byte)(b[:64]))
	nonce, sum, found := sha256d.Scan(&mid, (*[16]byte)(b[64:80]), (*[32]byte)(t), from, count)
	return nonce, sv2.U256(sum), found
}
