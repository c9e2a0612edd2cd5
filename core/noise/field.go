package noise

import (
	"math/big"
	"math/bits"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Field helpers on btcec's secp256k1 arithmetic (FieldVal, 10×26-bit limbs).
//
// FieldVal inverts and tests squares by exponentiation, some 255 squarings
// (~7.5 µs here). math/big's extended Euclid and Jacobi symbol do the same
// in under 1 µs, so the handshake uses them instead. They run in variable
// time, like the rest of this package's curve arithmetic
// (btcec.ScalarMultNonConst is not constant-time either): the handshake
// does not try to hide its secrets from timing side channels.

type fe = btcec.FieldVal

// fieldPrime is p = 2²⁵⁶ − 2³² − 977.
var fieldPrime = btcec.S256().P

// feSetBytes sets f to the 32-byte big-endian value b reduced modulo p, as
// BIP324 does for u and t, and returns f normalized.
func feSetBytes(f *fe, b []byte) *fe {
	f.SetByteSlice(b)
	return f.Normalize()
}

// feBytes is feSetBytes into a new value.
func feBytes(b []byte) *fe { return feSetBytes(new(fe), b) }

func feToBig(z *big.Int, a *fe) *big.Int {
	var b [32]byte
	t := *a
	t.Normalize().PutBytesUnchecked(b[:])
	return z.SetBytes(b[:])
}

// feInvVar sets r = 1/a and returns r normalized. a must not be zero (mod p).
// Variable time.
func feInvVar(r, a *fe) *fe {
	var x big.Int
	if feToBig(&x, a).ModInverse(&x, fieldPrime) == nil {
		panic("noise: inverting zero")
	}
	var b [32]byte
	x.FillBytes(b[:])
	r.SetBytes(&b)
	return r
}

// feIsSquareVar reports whether a is a square modulo p, zero included
// (Legendre symbol ≥ 0). Variable time.
//
// It runs the binary Jacobi symbol algorithm on 4×64-bit words: with x = a
// and y = p, strip factors of two from x ((2|y) = −1 when y ≡ ±3 mod 8), make
// x ≥ y by swapping (quadratic reciprocity flips the sign when both are 3
// mod 4), subtract y from x, until x is zero; then y is gcd(a, p), 1 unless
// a = 0. math/big's Jacobi, Euclid with a division per step, takes ~10 µs
// and a hundred allocations, more than the exponentiation it replaces.
func feIsSquareVar(a *fe) bool {
	var b [32]byte
	t := *a
	t.Normalize().PutBytesUnchecked(b[:])
	x := words(&b)
	y := [4]uint64{0xfffffffefffffc2f, ^uint64(0), ^uint64(0), ^uint64(0)}
	neg := false
	for x != ([4]uint64{}) {
		// Strip factors of two. x is nonzero, so some word is.
		for x[0] == 0 {
			x[0], x[1], x[2], x[3] = x[1], x[2], x[3], 0 // 64 factors: an even count
		}
		if tz := uint(bits.TrailingZeros64(x[0])); tz != 0 {
			x[0] = x[0]>>tz | x[1]<<(64-tz)
			x[1] = x[1]>>tz | x[2]<<(64-tz)
			x[2] = x[2]>>tz | x[3]<<(64-tz)
			x[3] >>= tz
			if m := y[0] & 7; tz&1 == 1 && (m == 3 || m == 5) {
				neg = !neg
			}
		}
		// Both odd now. Keep x ≥ y.
		if less4(&x, &y) {
			x, y = y, x
			if x[0]&3 == 3 && y[0]&3 == 3 {
				neg = !neg
			}
		}
		var c uint64
		x[0], c = bits.Sub64(x[0], y[0], 0)
		x[1], c = bits.Sub64(x[1], y[1], c)
		x[2], c = bits.Sub64(x[2], y[2], c)
		x[3], _ = bits.Sub64(x[3], y[3], c)
	}
	if y != [4]uint64{1} {
		return true // a = 0
	}
	return !neg
}

// less4 reports whether x < y as little-endian 256-bit integers.
func less4(x, y *[4]uint64) bool {
	for i := 3; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}
