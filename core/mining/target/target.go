// Package target converts between the forms a proof-of-work threshold takes:
// compact nBits, the 256-bit target (sv2.U256, little-endian as on the wire),
// difficulty, and a hashrate with a wanted share rate.
package target

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/stratumgo/stratum/core/sv2"
)

// Errors callers may branch on.
var (
	ErrNegative = errors.New("target: negative compact target")
	ErrOverflow = errors.New("target: value does not fit in 256 bits")
	ErrRange    = errors.New("target: argument out of range")
)

// diff1Bits is the compact form of the difficulty-1 ("pdiff") target,
// 0x00000000ffff0000...0000.
const diff1Bits = 0x1d00ffff

// Max returns the largest target, 2^256-1: every hash meets it.
func Max() sv2.U256 {
	var t sv2.U256
	for i := range t {
		t[i] = 0xff
	}
	return t
}

// Diff1 returns the difficulty-1 target (the "pdiff" target 0xffff·2^208).
func Diff1() sv2.U256 {
	t, _ := FromCompact(diff1Bits)
	return t
}

// Meets reports whether hash, read as a little-endian 256-bit number, is at
// most target. It is the hot-path comparison of share validation.
func Meets(hash, target *sv2.U256) bool {
	for i := 3; i >= 0; i-- {
		h := binary.LittleEndian.Uint64(hash[i*8:])
		t := binary.LittleEndian.Uint64(target[i*8:])
		if h != t {
			return h < t
		}
	}
	return true
}

// Less reports whether a < b as 256-bit numbers.
func Less(a, b sv2.U256) bool { return a != b && Meets(&a, &b) }

// ToBig returns t as a non-negative big.Int.
func ToBig(t sv2.U256) *big.Int {
	var be [32]byte
	for i := range t {
		be[31-i] = t[i]
	}
	return new(big.Int).SetBytes(be[:])
}

// FromBig returns n as a U256, or ErrOverflow if n is negative or needs more than 256 bits.
func FromBig(n *big.Int) (sv2.U256, error) {
	var t sv2.U256
	if n.Sign() < 0 || n.BitLen() > 256 {
		return t, fmt.Errorf("%w: %s", ErrOverflow, n)
	}
	var be [32]byte
	n.FillBytes(be[:])
	for i := range be {
		t[i] = be[31-i]
	}
	return t, nil
}

// FromCompact expands nBits into a target, following Bitcoin Core's
// SetCompact: a set sign bit with a non-zero mantissa and a value over 256 bits are errors.
func FromCompact(bits uint32) (sv2.U256, error) {
	exp := int(bits >> 24)
	mant := bits & 0x007fffff
	if mant != 0 && bits&0x00800000 != 0 {
		return sv2.U256{}, fmt.Errorf("%w: %#08x", ErrNegative, bits)
	}
	n := new(big.Int)
	if exp <= 3 {
		n.SetUint64(uint64(mant >> (8 * (3 - exp))))
	} else {
		n.SetUint64(uint64(mant))
		n.Lsh(n, uint(8*(exp-3)))
	}
	t, err := FromBig(n)
	if err != nil {
		return t, fmt.Errorf("compact %#08x: %w", bits, err)
	}
	return t, nil
}

// ToCompact returns the compact form of t, rounding down as Bitcoin Core's GetCompact does.
func ToCompact(t sv2.U256) uint32 {
	n := ToBig(t)
	size := uint32((n.BitLen() + 7) / 8)
	var mant uint32
	if size <= 3 {
		mant = uint32(n.Uint64() << (8 * (3 - size)))
	} else {
		mant = uint32(new(big.Int).Rsh(n, uint(8*(size-3))).Uint64())
	}
	// A mantissa with its top bit set would read as negative: move a byte into the exponent.
	if mant&0x00800000 != 0 {
		mant >>= 8
		size++
	}
	return size<<24 | mant
}

// Float returns t as a float64 (rounded), without allocating.
func Float(t *sv2.U256) float64 {
	var f float64
	for i := 3; i >= 0; i-- {
		f = f*0x1p64 + float64(binary.LittleEndian.Uint64(t[i*8:]))
	}
	return f
}

// diff1Float is the difficulty-1 target as a float64: 0xffff·2^208.
const diff1Float = 0xffff * 0x1p208

// Difficulty returns the difficulty of t: the difficulty-1 target divided by t.
// A zero target has infinite difficulty.
func Difficulty(t sv2.U256) float64 {
	f := Float(&t)
	if f == 0 {
		return math.Inf(1)
	}
	return diff1Float / f
}

// FromDifficulty returns the target of difficulty d (> 0), capped at Max.
func FromDifficulty(d float64) (sv2.U256, error) {
	if !(d > 0) || math.IsInf(d, 0) {
		return sv2.U256{}, fmt.Errorf("%w: difficulty %v", ErrRange, d)
	}
	return FromFloat(diff1Float / d), nil
}

// fromFloat converts a non-negative float64 to a target, saturating at Max.
func FromFloat(f float64) sv2.U256 {
	if f >= 0x1p256 {
		return Max()
	}
	n, _ := new(big.Float).SetFloat64(f).Int(nil)
	t, err := FromBig(n)
	if err != nil {
		return Max()
	}
	return t
}

// FromHashrate returns the target at which a device hashing at hashrate (H/s)
// finds sharesPerMinute shares per minute on average: 2^256 / (hashes per share).
func FromHashrate(hashrate, sharesPerMinute float64) (sv2.U256, error) {
	if !(hashrate >= 0) || !(sharesPerMinute > 0) || math.IsInf(hashrate, 0) || math.IsInf(sharesPerMinute, 0) {
		return sv2.U256{}, fmt.Errorf("%w: hashrate %v, shares per minute %v", ErrRange, hashrate, sharesPerMinute)
	}
	hashesPerShare := hashrate * 60 / sharesPerMinute
	if hashesPerShare <= 1 {
		return Max(), nil
	}
	return FromFloat(0x1p256 / hashesPerShare), nil
}

// Hashrate returns the hashrate (H/s) at which target t yields sharesPerMinute shares per minute.
func Hashrate(t sv2.U256, sharesPerMinute float64) float64 {
	f := Float(&t)
	if f == 0 {
		return math.Inf(1)
	}
	return 0x1p256 / f * sharesPerMinute / 60
}

// SharesPerMinute returns how many shares per minute a device hashing at hashrate finds at target t.
func SharesPerMinute(t sv2.U256, hashrate float64) float64 {
	return hashrate * 60 * Float(&t) / 0x1p256
}
