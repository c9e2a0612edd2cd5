package sv1

import (
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/stratumgo/stratum/core/sv2"
)

// Stratum V1's byte orders, which differ from the header's:
//   - prev hash: the header's 32 bytes with each 4-byte word reversed;
//   - version, nbits, ntime, nonce and version bits: 8 hex digits, the
//     number written big-endian (the header stores it little-endian);
//   - coinbase parts, extranonces and merkle branches: bytes as they are
//     hashed, in order (the branches in the header's internal order).

// PrevHashHex writes a prev hash (the header's byte order, as sv2.U256
// holds it) the way mining.notify carries it.
func PrevHashHex(h sv2.U256) string {
	var b [32]byte
	for i := 0; i < 32; i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = h[i+3], h[i+2], h[i+1], h[i]
	}
	return hex.EncodeToString(b[:])
}

// ParsePrevHash reads mining.notify's prev hash into the header's byte order.
func ParsePrevHash(s string) (sv2.U256, error) {
	var h sv2.U256
	if len(s) != 64 {
		return h, fmt.Errorf("sv1: prev hash of %d hex digits, want 64", len(s))
	}
	var b [32]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return h, fmt.Errorf("sv1: prev hash: %w", err)
	}
	for i := 0; i < 32; i += 4 {
		h[i], h[i+1], h[i+2], h[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return h, nil
}

// Uint32Hex writes a header number (version, nbits, ntime, nonce) as Sv1
// does: 8 hex digits, most significant first.
func Uint32Hex(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// ParseUint32Hex reads a header number written as Sv1 does: 1 to 8 hex
// digits, most significant first.
func ParseUint32Hex(s string) (uint32, error) {
	if len(s) == 0 || len(s) > 8 {
		return 0, fmt.Errorf("sv1: %q: want 1 to 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("sv1: %q is not hex", s)
	}
	return uint32(v), nil
}
