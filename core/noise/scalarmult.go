package noise

import (
	"encoding/binary"
	"math/big"
	"math/bits"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Variable-base scalar multiplication for the ECDHs and signature checks,
// on btcec's point formulas. Like btcec.ScalarMultNonConst it splits k with
// the secp256k1 endomorphism (GLV) into two ~128-bit halves,
//
//	k·P = k1·P + k2·φ(P), φ(x, y) = (βx, y) = λ·P,
//
// but it writes them in width-5 NAF over tables of P's odd multiples made
// affine with one shared inversion, where btcec uses plain NAF (width 2).
// That trades eight table points for about 43 mixed additions instead of
// 86, at the same ~129 doublings. Not constant-time, as btcec's isn't.

const (
	wnafWidth = 5
	wnafTable = 1 << (wnafWidth - 2) // P, 3P, …, 15P
	// wnafMax bounds the digits of any 256-bit value, though the GLV halves
	// have about 129 bits.
	wnafMax = 257
)

// The GLV basis (a1, b1), (a2, b2) of {(a, b) : a + bλ ≡ 0 mod n}, with b1
// negative (kept as −b1) and b2 = a1 (GECC §3.5, Example 3.73), and
// glvBeta, the cube root of unity in the field that matches λ:
// λ·(x, y) = (βx, y) (TestGLVConstants checks all of them).
var (
	glvA1      = hexScalar("3086d221a7d46bcde86c90e49284eb15")
	glvMinusB1 = hexScalar("e4437ed6010e88286f547fa90abfe4c3")
	glvA2      = hexScalar("114ca50f7a8e2f3f657c1108d9d44cfd8")
	glvB2      = glvA1
	glvLambda  = hexScalar("5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72")
	glvBeta    = func() fe {
		var f fe
		f.SetByteSlice(hexBig("7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee").Bytes())
		return f
	}()
	// glvG1, glvG2 = round(2³⁸⁴·b2/n), round(2³⁸⁴·(−b1)/n), so that
	// round(b2·k/n) ≈ k·glvG1/2³⁸⁴ needs no division.
	glvG1 = glvRoundedQuotient(glvB2)
	glvG2 = glvRoundedQuotient(glvMinusB1)
)

func hexBig(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("noise: bad constant " + s)
	}
	return v
}

func hexScalar(s string) btcec.ModNScalar {
	var k btcec.ModNScalar
	k.SetByteSlice(hexBig(s).Bytes())
	return k
}

func glvRoundedQuotient(b btcec.ModNScalar) [4]uint64 {
	n := btcec.S256().N
	bb := b.Bytes()
	q := new(big.Int).SetBytes(bb[:])
	q.Lsh(q, 384).Add(q, new(big.Int).Rsh(n, 1)).Quo(q, n)
	var out [32]byte
	q.FillBytes(out[:])
	return words(&out)
}

// words returns a 32-byte big-endian value as little-endian 64-bit words.
func words(b *[32]byte) [4]uint64 {
	return [4]uint64{
		binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[16:]),
		binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[0:]),
	}
}

// mulShift384 returns round(k·g/2³⁸⁴) for 256-bit k and g, as a scalar.
func mulShift384(k, g *[4]uint64) btcec.ModNScalar {
	var p [8]uint64
	for i := range 4 {
		var carry uint64
		for j := range 4 {
			hi, lo := bits.Mul64(k[i], g[j])
			var c uint64
			lo, c = bits.Add64(lo, p[i+j], 0)
			hi += c
			lo, c = bits.Add64(lo, carry, 0)
			hi += c
			p[i+j], carry = lo, hi
		}
		p[i+4] = carry
	}
	// Bits 384 and up, plus the rounding bit 383.
	lo, c := bits.Add64(p[6], p[5]>>63, 0)
	hi := p[7] + c
	var b [32]byte
	binary.BigEndian.PutUint64(b[16:], hi)
	binary.BigEndian.PutUint64(b[24:], lo)
	var s btcec.ModNScalar
	s.SetBytes(&b)
	return s
}

// splitScalar returns k1, k2 with k ≡ k1 + k2·λ (mod n), as magnitudes of
// about 128 bits and signs: c1 = round(b2·k/n), c2 = round(−b1·k/n),
// k1 = k − c1·a1 − c2·a2, k2 = −c1·b1 − c2·b2 (the rounding need not be
// exact for the congruence to hold).
func splitScalar(k *btcec.ModNScalar) (k1, k2 btcec.ModNScalar, neg1, neg2 bool) {
	kb := k.Bytes()
	kw := words(&kb)
	c1, c2 := mulShift384(&kw, &glvG1), mulShift384(&kw, &glvG2)
	var t btcec.ModNScalar
	k1.Mul2(&c1, &glvA1).Add(t.Mul2(&c2, &glvA2)).Negate().Add(k)
	k2.Mul2(&c1, &glvMinusB1).Add(t.Mul2(&c2, &glvB2).Negate())
	if neg1 = k1.IsOverHalfOrder(); neg1 {
		k1.Negate()
	}
	if neg2 = k2.IsOverHalfOrder(); neg2 {
		k2.Negate()
	}
	return k1, k2, neg1, neg2
}

// wnaf writes the width-wnafWidth NAF of k into d, least significant digit
// first, and returns the number of digits: odd digits in (−2^(w−1),
// 2^(w−1)), each followed by at least w−1 zeros.
func wnaf(d *[wnafMax]int8, k *btcec.ModNScalar) int {
	kb := k.Bytes()
	w := words(&kb)
	v := [5]uint64{w[0], w[1], w[2], w[3]} // one spare word for carries
	n := 0
	for v != ([5]uint64{}) {
		var digit int64
		if v[0]&1 == 1 {
			digit = int64(v[0] & (1<<wnafWidth - 1))
			if digit >= 1<<(wnafWidth-1) {
				digit -= 1 << wnafWidth
			}
			// v -= digit, leaving v divisible by 2^w.
			if digit > 0 {
				v[0] -= uint64(digit) // no borrow: digit ≤ v mod 2^w
			} else {
				var c uint64
				v[0], c = bits.Add64(v[0], uint64(-digit), 0)
				for i := 1; c != 0 && i < len(v); i++ {
					v[i], c = bits.Add64(v[i], c, 0)
				}
			}
		}
		d[n] = int8(digit)
		n++
		for i := range len(v) - 1 {
			v[i] = v[i]>>1 | v[i+1]<<63
		}
		v[len(v)-1] >>= 1
	}
	return n
}

// oddMultiples sets t[i] = (2i+1)·p, all affine (Z = 1) and normalized, and
// neg[i] = −t[i]. p must be affine and normalized, and not the point at
// infinity.
func oddMultiples(t, neg *[wnafTable]btcec.JacobianPoint, p *btcec.JacobianPoint) {
	var p2 btcec.JacobianPoint
	btcec.DoubleNonConst(p, &p2)
	t[0] = *p
	for i := 1; i < wnafTable; i++ {
		btcec.AddNonConst(&t[i-1], &p2, &t[i])
	}
	// Make all affine with one inversion (Montgomery's trick): prefix[i]
	// is the product of the Z coordinates of t[1..i].
	var prefix [wnafTable]fe
	prefix[0].SetInt(1)
	for i := 1; i < wnafTable; i++ {
		prefix[i].Mul2(&prefix[i-1], &t[i].Z)
	}
	var inv, zi, zi2 fe
	feInvVar(&inv, &prefix[wnafTable-1])
	for i := wnafTable - 1; i >= 1; i-- {
		zi.Mul2(&inv, &prefix[i-1]) // 1/Z_i
		inv.Mul(&t[i].Z)            // 1/(Z_1⋯Z_{i−1})
		zi2.SquareVal(&zi)
		t[i].X.Mul(&zi2).Normalize()
		t[i].Y.Mul(zi2.Mul(&zi)).Normalize()
		t[i].Z.SetInt(1)
	}
	for i := range t {
		neg[i] = t[i]
		neg[i].Y.Negate(1).Normalize()
	}
}

// scalarMult sets r = k·p. p must be affine (Z = 1) and normalized, and not
// the point at infinity; r is normalized. It works on any curve
// y² = x³ + b, as the formulas never use b, so the x-only ECDH can run it on
// an isomorphic curve (see ellswiftECDHXOnly).
func scalarMult(k *btcec.ModNScalar, p, r *btcec.JacobianPoint) {
	k1, k2, neg1, neg2 := splitScalar(k)
	var d1, d2 [wnafMax]int8
	n1, n2 := wnaf(&d1, &k1), wnaf(&d2, &k2)

	// Tables for P and φ(P) = (βx, y), negated where the half scalar is.
	var t1, t1n, t2, t2n [wnafTable]btcec.JacobianPoint
	oddMultiples(&t1, &t1n, p)
	for i := range t1 {
		t2[i], t2n[i] = t1[i], t1n[i]
		t2[i].X.Mul(&glvBeta).Normalize()
		t2n[i].X = t2[i].X
	}
	if neg1 {
		t1, t1n = t1n, t1
	}
	if neg2 {
		t2, t2n = t2n, t2
	}

	var q btcec.JacobianPoint // the point at infinity
	for i := max(n1, n2) - 1; i >= 0; i-- {
		btcec.DoubleNonConst(&q, &q)
		if i < n1 {
			if d := d1[i]; d > 0 {
				btcec.AddNonConst(&q, &t1[d>>1], &q)
			} else if d < 0 {
				btcec.AddNonConst(&q, &t1n[(-d)>>1], &q)
			}
		}
		if i < n2 {
			if d := d2[i]; d > 0 {
				btcec.AddNonConst(&q, &t2[d>>1], &q)
			} else if d < 0 {
				btcec.AddNonConst(&q, &t2n[(-d)>>1], &q)
			}
		}
	}
	*r = q
}
