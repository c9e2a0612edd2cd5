package noise

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

// BIP324 ElligatorSwift: decoding, encoding and the x-only ECDH, our own on
// btcec's field and group arithmetic; see xswiftec, xswiftecInv and
// ellswiftECDHXOnly for what they save over btcec's ellswift package, and
// ecmath_test.go for the tests holding them to it. The encoder draws u and
// the case from the caller's source, so tests can replay a handshake byte
// for byte.

// sqrtMinus3 is BIP324's MINUS_3_SQRT, (−3)^((p+1)/4), the root its
// reference's FE.sqrt returns (TestSqrtMinus3 pins it). Its sign matters: it
// decides which of XSwiftEC's second and third candidates comes first.
var sqrtMinus3 = func() fe {
	var m3, r fe
	m3.SetInt(3).Negate(1)
	if !r.SquareRootVal(&m3) {
		panic("noise: −3 is not a square mod p")
	}
	return *r.Normalize()
}()

// swiftX is a decoded x coordinate kept as the fraction n/d, so that
// decoding needs no inversion, together with w = n³ + 7d³ (nonzero), which
// the ECDH reuses. All three are normalized.
type swiftX struct{ n, d, w fe }

// xswiftec is BIP324's XSwiftEC(u, t): the first of three candidates x1, x2,
// x3 on the curve. Following BIP324, with u' = u or 1 if u = 0, t' = t or 1
// if t = 0, t' doubled if u'³ + t'² + 7 = 0, and
//
//	g = u'³ + 7, s = t'², X = (g − s)/2t', Y = (X + t')/(√−3·u'),
//	x1 = u' + 4Y², x2 = (−X/Y − u')/2, x3 = (X/Y − u')/2.
//
// Substituting X and Y gives the candidates as fractions, x1 with
// denominator 3su'² and x2, x3 sharing 2(g + s), none of which can vanish:
//
//	x1 = (3su'³ − (g+s)²) / 3su'²
//	x2 = −u'(√−3·(g−s) + (g+s)) / 2(g+s)
//	x3 =  u'(√−3·(g−s) − (g+s)) / 2(g+s)
//
// A candidate n/d is on the curve when (n/d)³ + 7 is a square, that is when
// (n³ + 7d³)·d is (multiply by d⁴); a Jacobi symbol tells, without a square
// root or an inversion. x3 needs no test: when neither x1 nor x2 is on the
// curve it is, as BIP324 relies on. It is tested anyway, so that an
// arithmetic mistake would show as a failed decoding (reported as an
// internal error) instead of a wrong shared secret.
//
// btcec's ellswift.XSwiftEC instead inverts 2t', √−3·u', 2Y and 2,
// computes Y (which it discards), and tests candidates with square roots.
func xswiftec(uIn, tIn *fe, x *swiftX) bool {
	u, t := *uIn, *tIn
	if u.Normalize().IsZero() {
		u.SetInt(1)
	}
	if t.Normalize().IsZero() {
		t.SetInt(1)
	}
	var u2, u3, g, s, gs fe
	u2.SquareVal(&u)
	u3.Mul2(&u2, &u)
	g.Set(&u3).AddInt(7).Normalize()
	s.SquareVal(&t).Normalize()
	if gs.Add2(&g, &s).Normalize().IsZero() {
		s.MulInt(4).Normalize() // t' = 2t'
		gs.Add2(&g, &s).Normalize()
	}

	// x1 = (3su'³ − (g+s)²) / 3su'²
	var s3, gs2 fe
	s3.Set(&s).MulInt(3)
	gs2.SquareVal(&gs).Negate(1)
	x.n.Mul2(&s3, &u3).Add(&gs2).Normalize()
	x.d.Mul2(&s3, &u2).Normalize()
	if x.onCurve() {
		return true
	}

	// x2 = −u'(c(g−s) + (g+s)) / 2(g+s), c = √−3
	var cg fe
	cg.NegateVal(&s, 1).Add(&g).Mul(&sqrtMinus3)
	x.d.Set(&gs).MulInt(2).Normalize()
	x.n.Add2(&cg, &gs).Mul(&u).Negate(1).Normalize()
	if x.onCurve() {
		return true
	}

	// x3 = u'(c(g−s) − (g+s)) / 2(g+s)
	x.n.NegateVal(&gs, 1).Add(&cg).Mul(&u).Normalize()
	return x.onCurve()
}

// onCurve sets x.w = n³ + 7d³ and reports whether n/d is the x coordinate of
// a curve point, i.e. whether w·d is a square.
func (x *swiftX) onCurve() bool {
	var d3, wd fe
	d3.SquareVal(&x.d).Mul(&x.d).MulInt(7)
	x.w.SquareVal(&x.n).Mul(&x.n).Add(&d3).Normalize()
	wd.Mul2(&x.w, &x.d)
	return feIsSquareVar(&wd)
}

// decodeEllSwift decodes a 64-byte encoding into x. Every 64-byte string is
// a valid encoding, so an error means a bug.
func decodeEllSwift(enc *[64]byte, x *swiftX) error {
	var u, t fe
	if !xswiftec(feSetBytes(&u, enc[:32]), feSetBytes(&t, enc[32:]), x) {
		return errors.New("noise: internal error: ElligatorSwift decoding found no point")
	}
	return nil
}

// ellswiftDecode returns the x coordinate encoded by a 64-byte ElligatorSwift
// encoding, normalized.
func ellswiftDecode(enc *[64]byte) (*fe, error) {
	var x swiftX
	if err := decodeEllSwift(enc, &x); err != nil {
		return nil, err
	}
	r := new(fe)
	feInvVar(r, &x.d).Mul(&x.n).Normalize()
	return r, nil
}

// ellswiftEncode returns a uniformly looking 64-byte encoding of x, drawing
// u and the case from rand (BIP324 "XElligatorSwift").
func ellswiftEncode(x *fe, rand io.Reader) ([64]byte, error) {
	var buf [33]byte
	var u, t fe
	// About one attempt in four succeeds; only a broken source runs out.
	for range maxRandomAttempts {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return [64]byte{}, fmt.Errorf("noise: reading randomness: %w", err)
		}
		if feSetBytes(&u, buf[:32]).IsZero() {
			continue // decoding reads u = 0 as 1; skipping keeps the round trip exact
		}
		if !xswiftecInv(&t, &u, x, int(buf[32]&7)) {
			continue
		}
		// BIP324's inverse yields a t that decodes to x whenever it yields
		// one; TestEllSwiftInverseCases checks that on every case.
		var enc [64]byte
		u.PutBytesUnchecked(enc[:32])
		t.PutBytesUnchecked(enc[32:])
		return enc, nil
	}
	return [64]byte{}, ErrRandom
}

// Constants of XSwiftECInv: 1/2, (1 − √−3)/2 and (1 + √−3)/2.
var feHalf, swiftK0, swiftK1 = func() (h, k0, k1 fe) {
	var two fe
	feInvVar(&h, two.SetInt(2))
	k0.NegateVal(&sqrtMinus3, 1).AddInt(1).Mul(&h).Normalize()
	k1.Set(&sqrtMinus3).AddInt(1).Mul(&h).Normalize()
	return
}()

// xswiftecInv is BIP324's XSwiftECInv(u, x, c): it sets t, normalized, so
// that XSwiftEC(u, t) = x and reports true, or reports false when case c
// (0 to 7) has no such t for this u. u must be nonzero and x on the curve,
// both normalized. It returns exactly BIP324's t: its square roots are
// FieldVal's, a^((p+1)/4), like the reference's.
//
// Only about one call in four succeeds, so the conditions that can fail
// are tested first and cheaply, with Jacobi symbols, in an order different
// from BIP324's (which does not change which calls succeed), and the
// inversions and square roots that build t run only once they hold.
// btcec's ellswift.XSwiftECInv takes square roots to test and inverts 2 on
// every call.
func xswiftecInv(t, u, x *fe, c int) bool {
	var u2, g, s, v fe
	u2.SquareVal(u)
	g.Mul2(&u2, u).AddInt(7).Normalize() // u³ + 7
	if c&2 == 0 {
		// Fail if lift_x(−x − u) succeeds.
		var m, gm fe
		m.Add2(x, u).Negate(2).Normalize()
		gm.SquareVal(&m).Mul(&m).AddInt(7)
		if feIsSquareVar(&gm) {
			return false
		}
		// v = x, s = −(u³ + 7)/(u² + uv + v²), which must be a square, as
		// −(u³ + 7)(u² + uv + v²) is exactly when s is.
		v = *x
		var q, gq fe
		q.SquareVal(x).Add(&u2).Add(new(fe).Mul2(u, x)).Normalize()
		gq.Mul2(&g, &q).Negate(1)
		if !feIsSquareVar(&gq) {
			return false
		}
		feInvVar(&s, &q).Mul(&g).Negate(1).Normalize()
	} else {
		// s = x − u, nonzero and (for w below) a square.
		s.NegateVal(u, 1).Add(x).Normalize()
		if s.IsZero() || !feIsSquareVar(&s) {
			return false
		}
		// r = √(−s(4(u³ + 7) + 3u²s)), nonzero if c is odd.
		var a, g4, r fe
		g4.Set(&g).MulInt(4)
		a.Set(&u2).MulInt(3).Mul(&s).Add(&g4).Mul(&s).Negate(1)
		if !feIsSquareVar(&a) {
			return false
		}
		r.SquareRootVal(&a)
		if r.Normalize().IsZero() && c&1 == 1 {
			return false
		}
		// v = (r/s − u)/2
		feInvVar(&v, &s).Mul(&r).Add(new(fe).NegateVal(u, 1)).Mul(&feHalf)
	}
	var w fe
	if !w.SquareRootVal(&s) {
		return false // s was checked to be a square
	}
	// t = ±w(u(1 ∓ √−3)/2 + v): (1 + √−3)/2 for odd c, and negated for
	// c & 5 = 0 or 5.
	k := &swiftK0
	if c&1 == 1 {
		k = &swiftK1
	}
	t.Mul2(u, k).Add(&v).Mul(&w)
	if c&5 == 0 || c&5 == 5 {
		t.Negate(1)
	}
	t.Normalize()
	return true
}

// ellswiftECDHXOnly returns the x coordinate of k·P, where P is the point
// encoded by theirs (BIP324 "ellswift_ecdh_xonly").
//
// Only x(k·P) is wanted, so P's y coordinate, which would cost a square
// root, is never computed. With x = n/d and w = n³ + 7d³, the point
//
//	P' = (w·n, w², 1)
//
// lies on y² = x³ + 7λ⁶ with λ² = w·d, since (w²)² = w³(n³ + 7d³). That
// curve is isomorphic to secp256k1 by (x, y) ↦ (λ²x, λ³y), which maps one of
// ±P to P' (the sign is irrelevant, x(k·P) = x(−k·P)). λ lies in the field
// because x is on the curve (w·d is a square), and the Jacobian formulas
// for y² = x³ + b, the endomorphism (βx, y) among them, never use b, so
// btcec's scalar multiplication works on P' unchanged, with Z = 1 and thus
// its cheaper mixed additions. Mapping back, x(k·P) = X/(Z²·w·d): one
// inversion covers the decoding's denominator and the result's Z together.
func ellswiftECDHXOnly(k *btcec.ModNScalar, theirs *[64]byte) ([32]byte, error) {
	var x swiftX
	if err := decodeEllSwift(theirs, &x); err != nil {
		return [32]byte{}, err
	}
	var p, q btcec.JacobianPoint
	p.X.Mul2(&x.w, &x.n).Normalize()
	p.Y.SquareVal(&x.w).Normalize()
	p.Z.SetInt(1)
	// Not constant-time, like the rest of this package's curve arithmetic.
	scalarMult(k, &p, &q)
	var den fe
	if den.SquareVal(&q.Z).Mul(&x.w).Mul(&x.d).Normalize().IsZero() {
		return [32]byte{}, errors.New("noise: ElligatorSwift ECDH: result is the point at infinity")
	}
	feInvVar(&den, &den).Mul(&q.X).Normalize()
	var out [32]byte
	den.PutBytesUnchecked(out[:])
	return out, nil
}

// v2ECDHTag is SHA-256 of BIP324's tag "bip324_ellswift_xonly_ecdh".
var v2ECDHTag = sha256.Sum256([]byte("bip324_ellswift_xonly_ecdh"))

// v2ECDH is BIP324's v2_ecdh: the x-only shared secret bound to both
// encodings, ordered initiator first. The order is why our DH must know its
// role. It is a BIP340 tagged hash: SHA-256(tag ‖ tag ‖ ell_A ‖ ell_B ‖ x).
func v2ECDH(k *btcec.ModNScalar, ours, theirs *[64]byte, initiator bool) ([32]byte, error) {
	x, err := ellswiftECDHXOnly(k, theirs)
	if err != nil {
		return [32]byte{}, err
	}
	a, b := ours, theirs
	if !initiator {
		a, b = theirs, ours
	}
	var msg [32 + 32 + 64 + 64 + 32]byte
	copy(msg[0:], v2ECDHTag[:])
	copy(msg[32:], v2ECDHTag[:])
	copy(msg[64:], a[:])
	copy(msg[128:], b[:])
	copy(msg[192:], x[:])
	return sha256.Sum256(msg[:]), nil
}
