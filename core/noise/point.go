package noise

import (
	"encoding/binary"
	"math/big"
	"math/bits"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Constant-time point arithmetic and scalar multiplication on secp256k1,
// y² = x³ + 7, for the secret keys the handshake works with: a server's
// static key (one ECDH in every handshake), the ephemeral keys, and an
// authority key signing certificates.
//
// Points are homogeneous projective (X : Y : Z) and add with the complete
// formulas of Renes, Costello and Batina ("Complete addition formulas for
// prime order elliptic curves", 2016, algorithms 7 and 9 for a = 0): one
// sequence of field operations for every pair of points, equal, opposite
// or at infinity included, so no input takes another path.
//
// k·P splits k with the curve's endomorphism (GLV) into two halves of at
// most 129 bits, k ≡ k1 + k2·λ, λ·(x, y) = (βx, y), and writes each half in
// 33 signed odd digits of 4 bits (±1, ±3, …, ±15; Joye and Tunstall's
// regular recoding), so that every step is four doublings and two
// additions of table entries, whatever the digits. Entries are read by
// scanning the whole table with masks, signs applied with a masked
// negation. An even half is made odd by adding one, and P (or βP) taken
// away at the end with a masked select. k·G needs no doublings: a table of
// (2j+1)·16ⁱ·G (made once) turns it into 65 additions, one per 4-bit digit
// of k itself. Nothing branches on, or indexes memory with, a secret bit;
// fe's operations are constant-time too. Signature verification, on
// public data only, uses scalarMultVar, the variable-time width-5 NAF.

// point is a secp256k1 point (X : Y : Z) = (X/Z, Y/Z); the point at
// infinity is (0 : 1 : 0).
type point struct{ x, y, z fe }

// curveB3 is 3b, b = 7, as the formulas use it.
const curveB3 = 21

// choose sets r = p when c is 1 and leaves r alone when c is 0.
func (r *point) choose(p *point, c uint64) {
	r.x.choose(&p.x, c)
	r.y.choose(&p.y, c)
	r.z.choose(&p.z, c)
}

// add sets r = p + q (Renes–Costello–Batina algorithm 7: 12 products and
// two multiplications by 3b). r may alias p or q.
func (r *point) add(p, q *point) *point {
	var t0, t1, t2, t3, t4, x3, y3, z3 fe
	t0.mul(&p.x, &q.x)
	t1.mul(&p.y, &q.y)
	t2.mul(&p.z, &q.z)
	t3.add(&p.x, &p.y)
	t4.add(&q.x, &q.y)
	t3.mul(&t3, &t4)
	t4.add(&t0, &t1)
	t3.sub(&t3, &t4)
	t4.add(&p.y, &p.z)
	x3.add(&q.y, &q.z)
	t4.mul(&t4, &x3)
	x3.add(&t1, &t2)
	t4.sub(&t4, &x3)
	x3.add(&p.x, &p.z)
	y3.add(&q.x, &q.z)
	x3.mul(&x3, &y3)
	y3.add(&t0, &t2)
	y3.sub(&x3, &y3)
	x3.add(&t0, &t0)
	t0.add(&x3, &t0)
	t2.mulSmall(&t2, curveB3)
	z3.add(&t1, &t2)
	t1.sub(&t1, &t2)
	y3.mulSmall(&y3, curveB3)
	x3.mul(&t4, &y3)
	t2.mul(&t3, &t1)
	x3.sub(&t2, &x3)
	y3.mul(&y3, &t0)
	t1.mul(&t1, &z3)
	y3.add(&t1, &y3)
	t0.mul(&t0, &t3)
	z3.mul(&z3, &t4)
	z3.add(&z3, &t0)
	r.x, r.y, r.z = x3, y3, z3
	return r
}

// double sets r = 2p (algorithm 9: six products, two squares and one
// multiplication by 3b). r may alias p.
func (r *point) double(p *point) *point {
	var t0, t1, t2, x3, y3, z3 fe
	t0.square(&p.y)
	z3.add(&t0, &t0)
	z3.add(&z3, &z3)
	z3.add(&z3, &z3)
	t1.mul(&p.y, &p.z)
	t2.square(&p.z)
	t2.mulSmall(&t2, curveB3)
	x3.mul(&t2, &z3)
	y3.add(&t0, &t2)
	z3.mul(&t1, &z3)
	t1.add(&t2, &t2)
	t2.add(&t1, &t2)
	t0.sub(&t0, &t2)
	y3.mul(&t0, &y3)
	y3.add(&x3, &y3)
	t1.mul(&p.x, &p.y)
	x3.mul(&t0, &t1)
	x3.add(&x3, &x3)
	r.x, r.y, r.z = x3, y3, z3
	return r
}

// isInfinity reports whether p is the point at infinity.
func (p *point) isInfinity() bool { return p.z.isZero() }

// affine returns p's coordinates x = X/Z, y = Y/Z, canonical; p must not
// be the point at infinity. The inversion is constant-time.
func (p *point) affine() (x, y fe) {
	var zi fe
	zi.inv(&p.z)
	x.mul(&p.x, &zi).canonical()
	y.mul(&p.y, &zi).canonical()
	return x, y
}

// liftX returns the point with x coordinate x and even y (BIP340 lift_x),
// or false when x is not on the curve. x must be canonical.
func liftX(x *fe) (point, bool) {
	var y2, y fe
	y2.square(x).mul(&y2, x).add(&y2, &fe{7})
	if !y.sqrt(&y2) {
		return point{}, false
	}
	y.condNeg(&y, y.canonical()[0]&1)
	return point{x: *x, y: y, z: feOne}, true
}

// mulTable holds P, 3P, 5P, …, 15P: the digits' odd multiples.
type mulTable [8]point

// newMulTable returns the table of p's odd multiples.
func newMulTable(p *point) *mulTable {
	t := new(mulTable)
	var p2 point
	p2.double(p)
	t[0] = *p
	for i := 1; i < len(t); i++ {
		t[i].add(&t[i-1], &p2)
	}
	return t
}

// endo returns the table of φ(P) = (βx, y) = λ·P from P's table.
func (t *mulTable) endo() *mulTable {
	e := new(mulTable)
	for i := range t {
		e[i] = t[i]
		e[i].x.mul(&t[i].x, &glvBeta)
	}
	return e
}

// lookup sets r = ±t[idx], negated when neg is 1, reading every entry.
func (t *mulTable) lookup(r *point, idx, neg uint64) {
	*r = point{}
	for i := range t {
		// eq is 1 when i = idx: i ^ idx is below 8, so subtracting one
		// borrows exactly when it is 0.
		_, eq := bits.Sub64(uint64(i)^idx, 1, 0)
		r.choose(&t[i], eq)
	}
	r.y.condNeg(&r.y, neg)
}

// digits is the length of a GLV half's recoding: 32 digits of 4 bits and a
// top one, enough for halves below 2¹²⁹.
const digits = 33

// recoding is one half's digits as table indices and sign bits: digit i is
// (2·idx[i] + 1), negated when neg[i] is 1.
type recoding struct {
	idx, neg [digits]uint64
}

// recode writes the odd k in signed 4-bit odd digits, len(idx) of them
// (enough for k below 2^(4·len(idx) − 3)), least significant first:
// d = (k mod 32) − 16, then k = (k − d)/16, which is (k >> 4) | 1 and
// stays odd; the last k is the top digit.
func recode(idx, neg []uint64, k [4]uint64) {
	n := len(idx)
	for i := range n - 1 {
		low := k[0] & 15
		ng := (k[0]>>4)&1 ^ 1 // d < 0 when bit 4 is clear
		// |d| is low when d ≥ 0 and 16 − low when not.
		abs := low ^ ((low ^ (16 - low)) & -ng)
		idx[i], neg[i] = abs>>1, ng
		k[0] = k[0]>>4 | k[1]<<60 | 1
		k[1] = k[1]>>4 | k[2]<<60
		k[2] = k[2]>>4 | k[3]<<60
		k[3] >>= 4
	}
	idx[n-1], neg[n-1] = k[0]>>1, 0
}

// mulTerm is one k·P of a sum: P's tables and k's split.
type mulTerm struct {
	t, tphi *mulTable
	k       *btcec.ModNScalar
}

// scalarMult sets r = Σ kᵢ·Pᵢ over the terms (one or two), sharing the
// doublings, in constant time in the scalars.
func (r *point) scalarMult(terms ...mulTerm) *point {
	type half struct {
		t       *mulTable
		rec     recoding
		neg     uint64 // the half is negative: every digit's sign flips
		evenFix uint64 // the half was even and had one added
	}
	var hs [4]half
	n := 0
	for _, tm := range terms {
		k1, k2, neg1, neg2 := splitScalar(tm.k)
		for j, k := range [2][4]uint64{k1, k2} {
			h := &hs[n]
			n++
			h.t, h.neg = tm.t, neg1
			if j == 1 {
				h.t, h.neg = tm.tphi, neg2
			}
			h.evenFix = k[0]&1 ^ 1
			k[0] |= 1 // k + 1 when even
			recode(h.rec.idx[:], h.rec.neg[:], k)
		}
	}
	var q, e point
	q = point{y: feOne} // infinity
	for i := digits - 1; i >= 0; i-- {
		if i != digits-1 {
			q.double(&q).double(&q).double(&q).double(&q)
		}
		for j := range n {
			h := &hs[j]
			h.t.lookup(&e, h.rec.idx[i], h.rec.neg[i]^h.neg)
			q.add(&q, &e)
		}
	}
	// Take away the one added to even halves: q − (±P).
	for j := range n {
		h := &hs[j]
		var s point
		h.t.lookup(&e, 0, h.neg^1)
		s.add(&q, &e)
		q.choose(&s, h.evenFix)
	}
	*r = q
	return r
}

// The generator and its tables, computed once: constants, not state.
var (
	generator = point{
		x: *new(fe).setSlice(hexBig("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798").FillBytes(make([]byte, 32))),
		y: *new(fe).setSlice(hexBig("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8").FillBytes(make([]byte, 32))),
		z: feOne,
	}
	genTable    = newMulTable(&generator)
	genTablePhi = genTable.endo()
	// genComb is baseMult's table, made on first use (about 0.3 ms).
	genComb = sync.OnceValue(newCombTable)
)

// affinePoint is a point (x, y), never the point at infinity.
type affinePoint struct{ x, y fe }

// addAffine sets r = p + q for any p and an affine q (Renes–Costello–Batina
// algorithm 8: 11 products and two multiplications by 3b). r may alias p.
func (r *point) addAffine(p *point, q *affinePoint) *point {
	var t0, t1, t2, t3, t4, x3, y3, z3 fe
	t0.mul(&p.x, &q.x)
	t1.mul(&p.y, &q.y)
	t3.add(&q.x, &q.y)
	t4.add(&p.x, &p.y)
	t3.mul(&t3, &t4)
	t4.add(&t0, &t1)
	t3.sub(&t3, &t4)
	t4.mul(&q.y, &p.z)
	t4.add(&t4, &p.y)
	y3.mul(&q.x, &p.z)
	y3.add(&y3, &p.x)
	x3.add(&t0, &t0)
	t0.add(&x3, &t0)
	t2.mulSmall(&p.z, curveB3)
	z3.add(&t1, &t2)
	t1.sub(&t1, &t2)
	y3.mulSmall(&y3, curveB3)
	x3.mul(&t4, &y3)
	t2.mul(&t3, &t1)
	x3.sub(&t2, &x3)
	y3.mul(&y3, &t0)
	t1.mul(&t1, &z3)
	y3.add(&t1, &y3)
	t0.mul(&t0, &t3)
	z3.mul(&z3, &t4)
	z3.add(&z3, &t0)
	r.x, r.y, r.z = x3, y3, z3
	return r
}

// combDigits is the length of a whole scalar's recoding: 64 digits of 4
// bits and a top one (always 1).
const combDigits = 65

// combTable holds (2j+1)·16ⁱ·G in row i, column j: k·G is then the sum of
// one entry per row, with no doublings.
type combTable [combDigits][8]affinePoint

func newCombTable() *combTable {
	var rows [combDigits]*mulTable
	b := generator
	for i := range rows {
		rows[i] = newMulTable(&b)
		b.double(&b).double(&b).double(&b).double(&b)
	}
	// Make every entry affine with one inversion (Montgomery's trick).
	const n = combDigits * 8
	var prefix [n]fe
	at := func(i int) *point { return &rows[i/8][i%8] }
	prefix[0] = at(0).z
	for i := 1; i < n; i++ {
		prefix[i].mul(&prefix[i-1], &at(i).z)
	}
	var inv, zi fe
	inv.inv(&prefix[n-1])
	t := new(combTable)
	for i := n - 1; i >= 0; i-- {
		if i > 0 {
			zi.mul(&inv, &prefix[i-1]) // 1/Z_i
			inv.mul(&inv, &at(i).z)    // 1/(Z_0⋯Z_{i−1})
		} else {
			zi = inv
		}
		e := &t[i/8][i%8]
		e.x.mul(&at(i).x, &zi).canonical()
		e.y.mul(&at(i).y, &zi).canonical()
	}
	return t
}

// lookup sets r = ±row[idx], negated when neg is 1, reading every entry.
func lookupAffine(r *affinePoint, row *[8]affinePoint, idx, neg uint64) {
	*r = affinePoint{}
	for i := range row {
		_, eq := bits.Sub64(uint64(i)^idx, 1, 0)
		r.x.choose(&row[i].x, eq)
		r.y.choose(&row[i].y, eq)
	}
	r.y.condNeg(&r.y, neg)
}

// baseMult sets r = k·G in constant time. An even k is replaced by the odd
// n − k, and the result negated back.
func (r *point) baseMult(k *btcec.ModNScalar) *point {
	kb := k.Bytes()
	w := words(&kb)
	even := w[0]&1 ^ 1
	nw, _ := sub256(&orderWords, &w)
	m := -even
	for i := range w {
		w[i] ^= (w[i] ^ nw[i]) & m
	}
	var idx, neg [combDigits]uint64
	recode(idx[:], neg[:], w)
	t := genComb()
	q := point{y: feOne}
	var e affinePoint
	for i := range t {
		lookupAffine(&e, &t[i], idx[i], neg[i])
		q.addAffine(&q, &e)
	}
	q.y.condNeg(&q.y, even)
	*r = q
	return r
}

// pointMult sets r = k·p for an affine or projective p.
func (r *point) pointMult(k *btcec.ModNScalar, p *point) *point {
	t := newMulTable(p)
	return r.scalarMult(mulTerm{t, t.endo(), k})
}

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
	glvBeta    = *new(fe).setSlice(hexBig("7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee").FillBytes(make([]byte, 32)))
	// glvG1, glvG2 = round(2³⁸⁴·b2/n), round(2³⁸⁴·(−b1)/n), so that
	// round(b2·k/n) ≈ k·glvG1/2³⁸⁴ needs no division.
	glvG1 = glvRoundedQuotient(glvB2)
	glvG2 = glvRoundedQuotient(glvMinusB1)
	// orderWords is n and halfOrderWords ⌊n/2⌋, little-endian.
	orderWords     = bigWords(btcec.S256().N)
	halfOrderWords = bigWords(new(big.Int).Rsh(btcec.S256().N, 1))
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

func bigWords(v *big.Int) [4]uint64 {
	var b [32]byte
	v.FillBytes(b[:])
	return words(&b)
}

func glvRoundedQuotient(b btcec.ModNScalar) [4]uint64 {
	n := btcec.S256().N
	bb := b.Bytes()
	q := new(big.Int).SetBytes(bb[:])
	q.Lsh(q, 384).Add(q, new(big.Int).Rsh(n, 1)).Quo(q, n)
	return bigWords(q)
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
			p[i+j], carry = mulAdd(k[i], g[j], p[i+j], carry)
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

// sub256 returns x − y and the borrow.
func sub256(x, y *[4]uint64) ([4]uint64, uint64) {
	var r [4]uint64
	var b uint64
	r[0], b = bits.Sub64(x[0], y[0], 0)
	r[1], b = bits.Sub64(x[1], y[1], b)
	r[2], b = bits.Sub64(x[2], y[2], b)
	r[3], b = bits.Sub64(x[3], y[3], b)
	return r, b
}

// magnitude returns |k| for k read as a value in (−n/2, n/2], and 1 when k
// is negative (above n/2), in constant time.
func magnitude(k *btcec.ModNScalar) ([4]uint64, uint64) {
	kb := k.Bytes()
	w := words(&kb)
	_, neg := sub256(&halfOrderWords, &w) // borrows when k > ⌊n/2⌋
	nw, _ := sub256(&orderWords, &w)
	m := -neg
	for i := range w {
		w[i] ^= (w[i] ^ nw[i]) & m
	}
	return w, neg
}

// splitScalar returns the magnitudes of k1, k2 with k ≡ k1 + k2·λ (mod n),
// each below 2¹²⁹, and their signs (1 for negative): c1 = round(b2·k/n),
// c2 = round(−b1·k/n), k1 = k − c1·a1 − c2·a2, k2 = −c1·b1 − c2·b2 (the
// rounding need not be exact for the congruence to hold). Constant time.
func splitScalar(k *btcec.ModNScalar) (k1, k2 [4]uint64, neg1, neg2 uint64) {
	kb := k.Bytes()
	kw := words(&kb)
	c1, c2 := mulShift384(&kw, &glvG1), mulShift384(&kw, &glvG2)
	var s1, s2, t btcec.ModNScalar
	s1.Mul2(&c1, &glvA1).Add(t.Mul2(&c2, &glvA2)).Negate().Add(k)
	s2.Mul2(&c1, &glvMinusB1).Add(t.Mul2(&c2, &glvB2).Negate())
	k1, neg1 = magnitude(&s1)
	k2, neg2 = magnitude(&s2)
	return k1, k2, neg1, neg2
}

// wnafMax bounds the width-5 NAF digits of a GLV half (below 2¹²⁹).
const wnafMax = 131

// wnaf writes the width-5 NAF of k into d, least significant digit first,
// and returns the number of digits: odd digits in (−16, 16), each followed
// by at least four zeros. Variable time: for public scalars only.
func wnaf(d *[wnafMax]int8, k [4]uint64) int {
	v := [5]uint64{k[0], k[1], k[2], k[3]} // a spare word for carries
	n := 0
	for v != ([5]uint64{}) {
		var digit int64
		if v[0]&1 == 1 {
			digit = int64(v[0] & 31)
			if digit >= 16 {
				digit -= 32
			}
			// v −= digit, leaving v divisible by 32.
			if digit > 0 {
				v[0] -= uint64(digit) // no borrow: digit ≤ v mod 32
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

// scalarMultVar sets r = Σ kᵢ·Pᵢ like scalarMult, in variable time, for
// public scalars (signature verification): width-5 NAF digits of each GLV
// half, so that most steps add nothing.
func (r *point) scalarMultVar(terms ...mulTerm) *point {
	type half struct {
		t   *mulTable
		d   [wnafMax]int8
		n   int
		neg bool
	}
	var hs [4]half
	n, top := 0, 0
	for _, tm := range terms {
		k1, k2, neg1, neg2 := splitScalar(tm.k)
		hs[n] = half{t: tm.t, neg: neg1 == 1}
		hs[n].n = wnaf(&hs[n].d, k1)
		hs[n+1] = half{t: tm.tphi, neg: neg2 == 1}
		hs[n+1].n = wnaf(&hs[n+1].d, k2)
		top = max(top, hs[n].n, hs[n+1].n)
		n += 2
	}
	q := point{y: feOne}
	var e point
	for i := top - 1; i >= 0; i-- {
		q.double(&q)
		for j := range n {
			h := &hs[j]
			if i >= h.n || h.d[i] == 0 {
				continue
			}
			d := h.d[i]
			neg := (d < 0) != h.neg
			e = h.t[(max(d, -d)-1)/2]
			if neg {
				e.y.neg(&e.y)
			}
			q.add(&q, &e)
		}
	}
	*r = q
	return r
}
