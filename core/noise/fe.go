package noise

import (
	"encoding/binary"
	"math/bits"
)

// The secp256k1 field, p = 2²⁵⁶ − 2³² − 977, in constant time.
//
// An fe holds four little-endian 64-bit words and any value below 2²⁵⁶, not
// necessarily below p: every operation accepts such values and returns one,
// reducing 2²⁵⁶ ≡ feC (mod p) with multiplications and masks, never with a
// branch, so that the time an operation takes does not depend on the values
// it works on. Only canonical() (and what calls it: bytes, isZero, equal,
// isOdd) brings a value below p. No operation branches on or indexes memory
// with its operands; math/bits' Mul64, Add64 and Sub64 compile to
// carry-flag instructions on the platforms we build for.
//
// Four 64-bit words, where btcec's FieldVal uses ten 26-bit ones, take a
// third as many multiplications. On amd64 mul and square are assembly
// (fe_amd64.s, the same steps as mulGeneric and squareGeneric; the purego
// build tag keeps the Go forms).
type fe [4]uint64

// feC is 2²⁵⁶ mod p.
const feC = 0x1000003d1

// feP is p, little-endian.
var feP = fe{0xfffffffefffffc2f, ^uint64(0), ^uint64(0), ^uint64(0)}

// feOne is 1.
var feOne = fe{1}

// setBytes sets z to the 32-byte big-endian b reduced modulo p and reports
// whether b was below p.
func (z *fe) setBytes(b *[32]byte) (*fe, bool) {
	*z = fe{
		binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[16:]),
		binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[0:]),
	}
	ok := !z.geP()
	z.canonical()
	return z, ok
}

// setSlice is setBytes for a slice of exactly 32 bytes.
func (z *fe) setSlice(b []byte) *fe {
	z.setBytes((*[32]byte)(b))
	return z
}

// bytes returns z reduced modulo p, 32 bytes big-endian.
func (z *fe) bytes() [32]byte {
	c := *z
	c.canonical()
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], c[3])
	binary.BigEndian.PutUint64(b[8:], c[2])
	binary.BigEndian.PutUint64(b[16:], c[1])
	binary.BigEndian.PutUint64(b[24:], c[0])
	return b
}

// geP reports whether z ≥ p, i.e. whether z + feC carries out of 2²⁵⁶.
func (z *fe) geP() bool {
	_, c := bits.Add64(z[0], feC, 0)
	_, c = bits.Add64(z[1], 0, c)
	_, c = bits.Add64(z[2], 0, c)
	_, c = bits.Add64(z[3], 0, c)
	return c == 1
}

// canonical reduces z below p. z < 2²⁵⁶ < 2p, so subtracting p once (that
// is, adding feC modulo 2²⁵⁶) when z ≥ p is enough.
func (z *fe) canonical() *fe {
	var t fe
	var c uint64
	t[0], c = bits.Add64(z[0], feC, 0)
	t[1], c = bits.Add64(z[1], 0, c)
	t[2], c = bits.Add64(z[2], 0, c)
	t[3], c = bits.Add64(z[3], 0, c)
	z.choose(&t, c)
	return z
}

// choose sets z = x when c is 1 and leaves z alone when c is 0.
func (z *fe) choose(x *fe, c uint64) *fe {
	m := -c
	z[0] ^= (z[0] ^ x[0]) & m
	z[1] ^= (z[1] ^ x[1]) & m
	z[2] ^= (z[2] ^ x[2]) & m
	z[3] ^= (z[3] ^ x[3]) & m
	return z
}

// isZero reports whether z ≡ 0 (mod p).
func (z *fe) isZero() bool {
	c := *z
	c.canonical()
	return c[0]|c[1]|c[2]|c[3] == 0
}

// equal reports whether z ≡ x (mod p).
func (z *fe) equal(x *fe) bool {
	var d fe
	return d.sub(z, x).isZero()
}

// setInt sets z to the small value v.
func (z *fe) setInt(v uint64) *fe {
	*z = fe{v}
	return z
}

// add sets z = x + y.
func (z *fe) add(x, y *fe) *fe {
	var c uint64
	z[0], c = bits.Add64(x[0], y[0], 0)
	z[1], c = bits.Add64(x[1], y[1], c)
	z[2], c = bits.Add64(x[2], y[2], c)
	z[3], c = bits.Add64(x[3], y[3], c)
	// A carry is 2²⁵⁶ ≡ feC. Adding it can carry once more, but then the
	// sum is below feC and a second feC cannot.
	z[0], c = bits.Add64(z[0], feC&-c, 0)
	z[1], c = bits.Add64(z[1], 0, c)
	z[2], c = bits.Add64(z[2], 0, c)
	z[3], c = bits.Add64(z[3], 0, c)
	z[0] += feC & -c
	return z
}

// sub sets z = x − y.
func (z *fe) sub(x, y *fe) *fe {
	var b uint64
	z[0], b = bits.Sub64(x[0], y[0], 0)
	z[1], b = bits.Sub64(x[1], y[1], b)
	z[2], b = bits.Sub64(x[2], y[2], b)
	z[3], b = bits.Sub64(x[3], y[3], b)
	// A borrow added 2²⁵⁶ ≡ feC: take feC away, which can borrow once more
	// (then the value is at least 2²⁵⁶ − feC, and a second feC cannot).
	z[0], b = bits.Sub64(z[0], feC&-b, 0)
	z[1], b = bits.Sub64(z[1], 0, b)
	z[2], b = bits.Sub64(z[2], 0, b)
	z[3], b = bits.Sub64(z[3], 0, b)
	z[0] -= feC & -b
	return z
}

// neg sets z = −x.
func (z *fe) neg(x *fe) *fe {
	return z.sub(&fe{}, x)
}

// condNeg sets z = −x when c is 1 and z = x when c is 0.
func (z *fe) condNeg(x *fe, c uint64) *fe {
	var n fe
	n.neg(x)
	*z = *x
	return z.choose(&n, c)
}

// mulSmall sets z = x·k for k < 2³².
func (z *fe) mulSmall(x *fe, k uint64) *fe {
	var c uint64
	h0, l0 := bits.Mul64(x[0], k)
	h1, l1 := bits.Mul64(x[1], k)
	h2, l2 := bits.Mul64(x[2], k)
	h3, l3 := bits.Mul64(x[3], k)
	r0 := l0
	r1, c := bits.Add64(l1, h0, 0)
	r2, c := bits.Add64(l2, h1, c)
	r3, c := bits.Add64(l3, h2, c)
	r4 := h3 + c // below 2³²
	z.fold(r0, r1, r2, r3, r4)
	return z
}

// fold sets z to r0..r3 + r4·2²⁵⁶ reduced below 2²⁵⁶, for r4 < 2⁶⁴ − 2³⁴.
func (z *fe) fold(r0, r1, r2, r3, r4 uint64) {
	var c uint64
	h, l := bits.Mul64(r4, feC)
	r0, c = bits.Add64(r0, l, 0)
	r1, c = bits.Add64(r1, h, c)
	r2, c = bits.Add64(r2, 0, c)
	r3, c = bits.Add64(r3, 0, c)
	// On a carry the words are below 2⁹⁸, so feC more cannot carry again.
	r0, c = bits.Add64(r0, feC&-c, 0)
	r1, c = bits.Add64(r1, 0, c)
	r2, c = bits.Add64(r2, 0, c)
	r3 += c
	z[0], z[1], z[2], z[3] = r0, r1, r2, r3
}

// reduce512 sets z to t0..t7 (a 512-bit value, little-endian words) modulo
// p, below 2²⁵⁶: lo + hi·2²⁵⁶ ≡ lo + hi·feC.
func (z *fe) reduce512(t0, t1, t2, t3, t4, t5, t6, t7 uint64) {
	var c uint64
	h0, l0 := bits.Mul64(t4, feC)
	h1, l1 := bits.Mul64(t5, feC)
	h2, l2 := bits.Mul64(t6, feC)
	h3, l3 := bits.Mul64(t7, feC)
	t0, c = bits.Add64(t0, l0, 0)
	t1, c = bits.Add64(t1, l1, c)
	t2, c = bits.Add64(t2, l2, c)
	t3, c = bits.Add64(t3, l3, c)
	r4 := h3 + c
	t1, c = bits.Add64(t1, h0, 0)
	t2, c = bits.Add64(t2, h1, c)
	t3, c = bits.Add64(t3, h2, c)
	// fold, inlined by hand: r4 + c is below 2³⁴.
	h, l := bits.Mul64(r4+c, feC)
	t0, c = bits.Add64(t0, l, 0)
	t1, c = bits.Add64(t1, h, c)
	t2, c = bits.Add64(t2, 0, c)
	t3, c = bits.Add64(t3, 0, c)
	t0, c = bits.Add64(t0, feC&-c, 0)
	t1, c = bits.Add64(t1, 0, c)
	t2, c = bits.Add64(t2, 0, c)
	z[0], z[1], z[2], z[3] = t0, t1, t2, t3+c
}

// mulAdd returns the low and high words of a·b + c + d, which cannot
// overflow 128 bits.
func mulAdd(a, b, c, d uint64) (lo, hi uint64) {
	hi, lo = bits.Mul64(a, b)
	var k uint64
	lo, k = bits.Add64(lo, c, 0)
	hi += k
	lo, k = bits.Add64(lo, d, 0)
	hi += k
	return lo, hi
}

// mac adds x·y to the three-word accumulator a0, a1, a2 (a column of a
// product-scanning multiplication). Locals, not arrays, so that the
// compiler keeps the words in registers.
func mac(x, y, a0, a1, a2 uint64) (uint64, uint64, uint64) {
	h, l := bits.Mul64(x, y)
	var c uint64
	a0, c = bits.Add64(a0, l, 0)
	a1, c = bits.Add64(a1, h, c)
	return a0, a1, a2 + c
}

// mac2 adds 2·x·y to the accumulator.
func mac2(x, y, a0, a1, a2 uint64) (uint64, uint64, uint64) {
	h, l := bits.Mul64(x, y)
	var c uint64
	a0, c = bits.Add64(a0, l, 0)
	a1, c = bits.Add64(a1, h, c)
	a2 += c
	a0, c = bits.Add64(a0, l, 0)
	a1, c = bits.Add64(a1, h, c)
	return a0, a1, a2 + c
}

// mulGeneric sets z = x·y: mul's portable form.
func (z *fe) mulGeneric(x, y *fe) *fe {
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	y0, y1, y2, y3 := y[0], y[1], y[2], y[3]
	var a0, a1, a2 uint64
	a0, a1, a2 = mac(x0, y0, 0, 0, 0)
	t0 := a0
	a0, a1, a2 = mac(x0, y1, a1, a2, 0)
	a0, a1, a2 = mac(x1, y0, a0, a1, a2)
	t1 := a0
	a0, a1, a2 = mac(x0, y2, a1, a2, 0)
	a0, a1, a2 = mac(x1, y1, a0, a1, a2)
	a0, a1, a2 = mac(x2, y0, a0, a1, a2)
	t2 := a0
	a0, a1, a2 = mac(x0, y3, a1, a2, 0)
	a0, a1, a2 = mac(x1, y2, a0, a1, a2)
	a0, a1, a2 = mac(x2, y1, a0, a1, a2)
	a0, a1, a2 = mac(x3, y0, a0, a1, a2)
	t3 := a0
	a0, a1, a2 = mac(x1, y3, a1, a2, 0)
	a0, a1, a2 = mac(x2, y2, a0, a1, a2)
	a0, a1, a2 = mac(x3, y1, a0, a1, a2)
	t4 := a0
	a0, a1, a2 = mac(x2, y3, a1, a2, 0)
	a0, a1, a2 = mac(x3, y2, a0, a1, a2)
	t5 := a0
	a0, a1, _ = mac(x3, y3, a1, a2, 0)
	z.reduce512(t0, t1, t2, t3, t4, t5, a0, a1)
	return z
}

// squareGeneric sets z = x², with the cross products xᵢxⱼ (i ≠ j) computed
// once and added twice: square's portable form.
func (z *fe) squareGeneric(x *fe) *fe {
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	var a0, a1, a2 uint64
	a0, a1, a2 = mac(x0, x0, 0, 0, 0)
	t0 := a0
	a0, a1, a2 = mac2(x0, x1, a1, a2, 0)
	t1 := a0
	a0, a1, a2 = mac2(x0, x2, a1, a2, 0)
	a0, a1, a2 = mac(x1, x1, a0, a1, a2)
	t2 := a0
	a0, a1, a2 = mac2(x0, x3, a1, a2, 0)
	a0, a1, a2 = mac2(x1, x2, a0, a1, a2)
	t3 := a0
	a0, a1, a2 = mac2(x1, x3, a1, a2, 0)
	a0, a1, a2 = mac(x2, x2, a0, a1, a2)
	t4 := a0
	a0, a1, a2 = mac2(x2, x3, a1, a2, 0)
	t5 := a0
	a0, a1, _ = mac(x3, x3, a1, a2, 0)
	z.reduce512(t0, t1, t2, t3, t4, t5, a0, a1)
	return z
}

// squareN sets z = x^(2ⁿ), n ≥ 1.
func (z *fe) squareN(x *fe, n int) *fe {
	z.square(x)
	for range n - 1 {
		z.square(z)
	}
	return z
}

// powChain returns x^(2²²³ − 1), x^(2²² − 1), x^(2² − 1), x^(2³ − 1), the
// runs of ones that p − 2, (p + 1)/4 and (p − 1)/2 share (each begins with
// 223 ones, a zero and 22 ones).
func powChain(x *fe) (x223, x22, x2, x3 fe) {
	var x6, x9, x11, x44, x88, x176, x220 fe
	x2.square(x).mul(&x2, x)
	x3.square(&x2).mul(&x3, x)
	x6.squareN(&x3, 3).mul(&x6, &x3)
	x9.squareN(&x6, 3).mul(&x9, &x3)
	x11.squareN(&x9, 2).mul(&x11, &x2)
	x22.squareN(&x11, 11).mul(&x22, &x11)
	x44.squareN(&x22, 22).mul(&x44, &x22)
	x88.squareN(&x44, 44).mul(&x88, &x44)
	x176.squareN(&x88, 88).mul(&x176, &x88)
	x220.squareN(&x176, 44).mul(&x220, &x44)
	x223.squareN(&x220, 3).mul(&x223, &x3)
	return
}

// inv sets z = 1/x (Fermat: x^(p−2)); the inverse of 0 is 0. The exponent
// is 223 ones, 0, 22 ones, then 0000101101.
func (z *fe) inv(x *fe) *fe {
	x223, x22, x2, _ := powChain(x)
	var r fe
	r.squareN(&x223, 23).mul(&r, &x22)
	r.squareN(&r, 5).mul(&r, x)
	r.squareN(&r, 3).mul(&r, &x2)
	r.squareN(&r, 2).mul(&r, x)
	*z = r
	return z
}

// sqrt sets z to a square root of x, x^((p+1)/4), and reports whether x is
// a square (whether z² ≡ x). The exponent is 223 ones, 0, 22 ones, then
// 00001100. Of the two roots it picks the one BIP324's reference picks.
func (z *fe) sqrt(x *fe) bool {
	x223, x22, x2, _ := powChain(x)
	var r fe
	r.squareN(&x223, 23).mul(&r, &x22)
	r.squareN(&r, 6).mul(&r, &x2)
	r.squareN(&r, 2)
	var check fe
	ok := check.square(&r).equal(x)
	*z = r
	return ok
}

// pow34 sets z = x^((p−3)/4), which gives a square root and an inverse at
// once: for a nonzero square x, √x = x·z (the root sqrt picks) and
// 1/x = z². The exponent is 223 ones, 0, 22 ones, then 00001011.
func (z *fe) pow34(x *fe) *fe {
	x223, x22, x2, _ := powChain(x)
	var r fe
	r.squareN(&x223, 23).mul(&r, &x22)
	r.squareN(&r, 5).mul(&r, x)
	r.squareN(&r, 3).mul(&r, &x2)
	*z = r
	return z
}

// isSquare reports whether x is a square modulo p, zero included (Euler:
// x^((p−1)/2) is 1 or 0). The exponent is 223 ones, 0, 22 ones, then
// 000010111.
func (x *fe) isSquare() bool {
	x223, x22, _, x3 := powChain(x)
	var r fe
	r.squareN(&x223, 23).mul(&r, &x22)
	r.squareN(&r, 5).mul(&r, x)
	r.squareN(&r, 4).mul(&r, &x3)
	return !r.equal(&fe{feP[0] - 1, feP[1], feP[2], feP[3]})
}

// isSquareVar reports whether x is a square modulo p, zero included, like
// isSquare but in variable time, for public values: about a third of the
// time of the exponentiation.
//
// It computes the Jacobi symbol (x | p) with Bernstein and Yang's divsteps
// in the form that keeps both values positive (g ← (g + f)/2 where the
// original has (g − f)/2), as libsecp256k1 does for its Jacobi symbol:
// batches of 62 steps run on the low 64 bits alone, which is exact because
// each step reads only f mod 8 and g mod 4, and each batch ends by applying
// its 2×2 matrix to the whole values. Where no swap can come, several
// steps' additions of f are made at once, as one multiple of f that clears
// the low bits of g. Along the way, halving g flips the
// symbol when f ≡ 3, 5 (mod 8) ((2 | f) = −1), and swapping f and g flips it
// when both are 3 mod 4 (quadratic reciprocity); adding f to g keeps it.
// The steps end at f = 1. Their number has no proven bound in this form,
// so after jacobiMaxBatches the exponentiation answers instead.
func (x *fe) isSquareVar() bool {
	c := *x
	c.canonical()
	g := [4]uint64(c)
	if g == ([4]uint64{}) {
		return true
	}
	f := [4]uint64(feP)
	var jac uint64
	delta := int64(1)
	for range jacobiMaxBatches {
		var u, v, q, r uint64
		delta, u, v, q, r = jacobiBatch(delta, f[0], g[0], &jac)
		f, g = applyMatrix(&f, &g, u, v), applyMatrix(&f, &g, q, r)
		if f == [4]uint64{1} {
			return jac&1 == 0
		}
	}
	return x.isSquare()
}

// jacobiMaxBatches bounds isSquareVar's batches: random inputs need about
// 10 (TestIsSquareVar counts them).
const jacobiMaxBatches = 40

// jacobiBatch runs 62 halving steps on the low words f and g and returns
// the new δ and the matrix (u v; q r) with 2⁶²·(f', g') = (u·f + v·g,
// q·f + r·g). Every entry stays at most 2⁶².
func jacobiBatch(delta int64, f, g uint64, jac *uint64) (int64, uint64, uint64, uint64, uint64) {
	u, v, q, r := uint64(1), uint64(0), uint64(0), uint64(1)
	i := 62
	for {
		// Halve g as often as it is even, within the batch's steps.
		z := bits.TrailingZeros64(g | 1<<i)
		g >>= z
		u <<= z
		v <<= z
		delta += int64(z)
		i -= z
		*jac ^= uint64(z) & (f>>1 ^ f>>2) // (2 | f) = −1 for f ≡ 3, 5 (mod 8)
		if i == 0 {
			return delta, u, v, q, r
		}
		// g is odd.
		if delta > 0 {
			f, g = g, f
			u, v, q, r = q, r, u, v
			delta = -delta
			*jac ^= (f & g) >> 1 // both 3 mod 4: reciprocity flips the sign
		}
		// Now δ ≤ 0, and the next 1 − δ steps cannot swap: make that many
		// low bits of g zero at once (at most six, as far as the inverse
		// below is exact), adding w·f, w = −g/f mod 2^limit.
		limit := min(int(1-delta), i, 6)
		w := g * f * (f*f - 2) & (1<<limit - 1) // 1/f ≡ f(2 − f²) (mod 64)
		g += f * w
		q += u * w
		r += v * w
	}
}

// applyMatrix returns (a·f + b·g)/2⁶², which is exact and below 2²⁵⁶ for
// the matrices jacobiBatch returns.
func applyMatrix(f, g *[4]uint64, a, b uint64) [4]uint64 {
	var s [5]uint64
	for i := range 4 {
		h1, l1 := bits.Mul64(f[i], a)
		h2, l2 := bits.Mul64(g[i], b)
		lo, c := bits.Add64(l1, l2, 0)
		hi := h1 + h2 + c // a·f[i] + b·g[i] < 2¹²⁷: no overflow
		s[i], c = bits.Add64(s[i], lo, 0)
		s[i+1] = hi + c
	}
	return [4]uint64{
		s[0]>>62 | s[1]<<2, s[1]>>62 | s[2]<<2,
		s[2]>>62 | s[3]<<2, s[3]>>62 | s[4]<<2,
	}
}
