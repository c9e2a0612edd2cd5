package noise

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
)

// Bitcoin's base58 alphabet: no 0, O, I or l, which are easy to misread.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58CheckEncode appends a 4-byte double-SHA256 checksum to payload and
// encodes the result in base58, as Bitcoin addresses and SRI keys are.
func base58CheckEncode(payload []byte) string {
	sum := checksum(payload)
	data := append(append([]byte(nil), payload...), sum[:]...)

	n := new(big.Int).SetBytes(data)
	radix, mod := big.NewInt(58), new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	// Each leading zero byte is written as a leading '1'.
	for _, b := range data {
		if b != 0 {
			break
		}
		out = append(out, base58Alphabet[0])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// base58CheckDecode reverses base58CheckEncode, returning the payload.
func base58CheckDecode(s string) ([]byte, error) {
	// Decoding is quadratic in the length; no key string comes near this.
	const maxLen = 128
	if len(s) > maxLen {
		return nil, fmt.Errorf("%w: %d characters", ErrKeyLength, len(s))
	}
	n, radix := new(big.Int), big.NewInt(58)
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%w: character %q at offset %d", ErrKeyBase58, s[i], i)
		}
		n.Mul(n, radix).Add(n, big.NewInt(int64(d)))
	}
	zeros := len(s) - len(strings.TrimLeft(s, base58Alphabet[:1]))
	data := append(make([]byte, zeros), n.Bytes()...)
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: %d bytes is too short to hold a checksum", ErrKeyLength, len(data))
	}
	payload, sum := data[:len(data)-4], data[len(data)-4:]
	if want := checksum(payload); !bytes.Equal(sum, want[:]) {
		return nil, ErrKeyChecksum
	}
	return payload, nil
}

func checksum(b []byte) [4]byte {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	return [4]byte(h2[:4])
}
