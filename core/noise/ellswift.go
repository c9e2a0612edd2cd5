package noise

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

// BIP324 ElligatorSwift: decoding, encoding and the x-only ECDH, our own on
// this package's field and point arithmetic. Encodings are public, so
// decoding and encoding may take time that depends on them; the ECDH's
// scalar multiplication with the secret key is constant-time (point.go).
// The encoder draws u and the case from the caller's source, so tests can
// replay a handshake byte for byte.

// sqrtMinus3 is BIP324's MINUS_3_SQRT, (−3)^((p+1)/4), the root its
// reference's FE.sqrt returns (TestSqrtMinus3 pins it). Its sign matters: it
// decides which of XSwiftEC's second and third candidates comes first.
var sqrtMinus3 = func() fe {
	var m3, r fe
	m3.neg(new(fe).setInt(3))
	if !r.sqrt(&m3) {
		panic("noise: −3 is not a square mod p")
	}
	return *r.canonical()
}()

// swiftX is a decoded x coordinate kept as the fraction n/d, so that
// decoding needs no inversion, with w = (n³ + 7d³)·d, a square: the point
// is (n/d, √w/d²), since multiplying y² = x³ + 7 by d⁴ gives (yd²)² = w.
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
// (n³ + 7d³)·d is (multiply by d⁴), which a Jacobi symbol tells without a
// square root or an inversion. x3 needs no test: when neither x1
// nor x2 is on the curve it is, as BIP324 relies on. It is tested anyway,
// so that an arithmetic mistake would show as a failed decoding (reported
// as an internal error) instead of a wrong shared secret.
//
// btcec's ellswift.XSwiftEC instead inverts 2t', √−3·u', 2Y and 2, and
// computes Y, which it then discards.
func xswiftec(uIn, tIn *fe, x *swiftX) bool {
	u, t := *uIn, *tIn
	if u.isZero() {
		u.setInt(1)
	}
	if t.isZero() {
		t.setInt(1)
	}
	var u2, u3, g, s, gs fe
	u2.square(&u)
	u3.mul(&u2, &u)
	g.add(&u3, &fe{7})
	s.square(&t)
	if gs.add(&g, &s).isZero() {
		s.mulSmall(&s, 4) // t' = 2t'
		gs.add(&g, &s)
	}

	// x1 = (3su'³ − (g+s)²) / 3su'²
	var s3, gs2 fe
	s3.mulSmall(&s, 3)
	gs2.square(&gs)
	x.n.mul(&s3, &u3).sub(&x.n, &gs2)
	x.d.mul(&s3, &u2)
	if x.onCurve() {
		return true
	}

	// x2 = −u'(c(g−s) + (g+s)) / 2(g+s), c = √−3
	var cg fe
	cg.sub(&g, &s).mul(&cg, &sqrtMinus3)
	x.d.add(&gs, &gs)
	x.n.add(&cg, &gs).mul(&x.n, &u).neg(&x.n)
	if x.onCurve() {
		return true
	}

	// x3 = u'(c(g−s) − (g+s)) / 2(g+s)
	x.n.sub(&cg, &gs).mul(&x.n, &u)
	return x.onCurve()
}

// onCurve sets x.w = (n³ + 7d³)·d and reports whether it is a square,
// i.e. whether n/d is the x coordinate of a curve point.
func (x *swiftX) onCurve() bool {
	var d3 fe
	d3.square(&x.d).mul(&d3, &x.d).mulSmall(&d3, 7)
	x.w.square(&x.n).mul(&x.w, &x.n).add(&x.w, &d3).mul(&x.w, &x.d)
	return x.w.isSquareVar()
}

// point returns the decoded point as (n·d : √w : d²), which is
// (n/d, √w/d²), with one square root and no inversion.
func (x *swiftX) point() (point, error) {
	var p point
	if !p.y.sqrt(&x.w) {
		return point{}, errors.New("noise: internal error: ElligatorSwift decoding found no y")
	}
	p.x.mul(&x.n, &x.d)
	p.z.square(&x.d)
	return p, nil
}

// decodeEllSwift decodes a 64-byte encoding into x. Every 64-byte string is
// a valid encoding, so an error means a bug.
func decodeEllSwift(enc *[64]byte, x *swiftX) error {
	var u, t fe
	if !xswiftec(u.setSlice(enc[:32]), t.setSlice(enc[32:]), x) {
		return errors.New("noise: internal error: ElligatorSwift decoding found no point")
	}
	return nil
}

// ellswiftDecode returns the x coordinate encoded by a 64-byte ElligatorSwift
// encoding, canonical.
func ellswiftDecode(enc *[64]byte) (*fe, error) {
	var x swiftX
	if err := decodeEllSwift(enc, &x); err != nil {
		return nil, err
	}
	r := new(fe)
	r.inv(&x.d).mul(r, &x.n).canonical()
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
		if u.setSlice(buf[:32]).isZero() {
			continue // decoding reads u = 0 as 1; skipping keeps the round trip exact
		}
		if !xswiftecInv(&t, &u, x, int(buf[32]&7)) {
			continue
		}
		// BIP324's inverse yields a t that decodes to x whenever it yields
		// one; TestEllSwiftInverseCases checks that on every case.
		var enc [64]byte
		ub, tb := u.bytes(), t.bytes()
		copy(enc[:32], ub[:])
		copy(enc[32:], tb[:])
		return enc, nil
	}
	return [64]byte{}, ErrRandom
}

// Constants of XSwiftECInv: 1/2, (1 − √−3)/2 and (1 + √−3)/2.
var feHalf, swiftK0, swiftK1 = func() (h, k0, k1 fe) {
	h.inv(new(fe).setInt(2))
	k0.sub(&feOne, &sqrtMinus3).mul(&k0, &h).canonical()
	k1.add(&feOne, &sqrtMinus3).mul(&k1, &h).canonical()
	return
}()

// xswiftecInv is BIP324's XSwiftECInv(u, x, c): it sets t, canonical, so
// that XSwiftEC(u, t) = x and reports true, or reports false when case c
// (0 to 7) has no such t for this u. u must be nonzero and x on the curve.
// It returns exactly BIP324's t: its square roots are a^((p+1)/4), like
// the reference's.
//
// Only about one call in four succeeds, so the conditions that can fail
// are tested first, in an order different from BIP324's (which does not
// change which calls succeed), and the inversions and square roots that
// build t run only once they hold. btcec's ellswift.XSwiftECInv inverts 2
// on every call.
func xswiftecInv(t, u, x *fe, c int) bool {
	var u2, g, s, v, w fe
	u2.square(u)
	g.mul(&u2, u).add(&g, &fe{7}) // u³ + 7
	if c&2 == 0 {
		// Fail if lift_x(−x − u) succeeds.
		var m, gm fe
		m.add(x, u).neg(&m)
		gm.square(&m).mul(&gm, &m).add(&gm, &fe{7})
		if gm.isSquareVar() {
			return false
		}
		// v = x, s = −(u³ + 7)/(u² + uv + v²), which must be a square, as
		// −(u³ + 7)(u² + uv + v²) is exactly when s is.
		v = *x
		var q, gq, ux fe
		q.square(x).add(&q, &u2).add(&q, ux.mul(u, x))
		gq.mul(&g, &q).neg(&gq)
		if !gq.isSquareVar() {
			return false
		}
		// w = √s = √(a/q) for a = −(u³ + 7) is a·q·(a·q³)^((p−3)/4): one
		// exponentiation for the inversion and the square root, and the
		// root BIP324's s^((p+1)/4) gives.
		var a, aq3, check fe
		a.neg(&g)
		aq3.square(&q).mul(&aq3, &q).mul(&aq3, &a)
		w.pow34(&aq3).mul(&w, &a).mul(&w, &q)
		if !check.square(&w).mul(&check, &q).equal(&a) {
			return false // q = 0; −x − u was on the curve then, so unreachable
		}
	} else {
		// s = x − u, nonzero and (for w below) a square.
		s.sub(x, u)
		if s.isZero() || !s.isSquareVar() {
			return false
		}
		// r = √(−s(4(u³ + 7) + 3u²s)), nonzero if c is odd.
		var a, g4, r fe
		g4.mulSmall(&g, 4)
		a.mulSmall(&u2, 3).mul(&a, &s).add(&a, &g4).mul(&a, &s).neg(&a)
		if !a.isSquareVar() {
			return false
		}
		r.sqrt(&a)
		if r.isZero() && c&1 == 1 {
			return false
		}
		// With z = s^((p−3)/4): w = √s = s·z and 1/s = z², s being a
		// nonzero square. v = (r/s − u)/2.
		var z fe
		z.pow34(&s)
		w.mul(&s, &z)
		v.square(&z).mul(&v, &r).sub(&v, u).mul(&v, &feHalf)
	}
	// t = ±w(u(1 ∓ √−3)/2 + v): (1 + √−3)/2 for odd c, and negated for
	// c & 5 = 0 or 5.
	k := &swiftK0
	if c&1 == 1 {
		k = &swiftK1
	}
	t.mul(u, k).add(t, &v).mul(t, &w)
	if c&5 == 0 || c&5 == 5 {
		t.neg(t)
	}
	t.canonical()
	return true
}

// ellswiftECDHXOnly returns the x coordinate of k·P, where P is the point
// encoded by theirs (BIP324 "ellswift_ecdh_xonly"). The scalar
// multiplication and the final inversion are constant-time in k; the
// decoding works on the public encoding only.
func ellswiftECDHXOnly(k *btcec.ModNScalar, theirs *[64]byte) ([32]byte, error) {
	var x swiftX
	if err := decodeEllSwift(theirs, &x); err != nil {
		return [32]byte{}, err
	}
	p, err := x.point()
	if err != nil {
		return [32]byte{}, err
	}
	var q point
	q.pointMult(k, &p)
	if q.isInfinity() {
		return [32]byte{}, errors.New("noise: ElligatorSwift ECDH: result is the point at infinity")
	}
	var zi, rx fe
	zi.inv(&q.z)
	return rx.mul(&q.x, &zi).bytes(), nil
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
