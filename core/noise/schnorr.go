package noise

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"
)

// BIP340 Schnorr signatures, on this package's point arithmetic. Signing
// works with an authority's long-lived secret and its nonce, so it is
// constant-time (baseMult, masked negations, ModNScalar's arithmetic);
// verification handles only public data.

// validXOnly reports whether x is the x coordinate of a secp256k1 point.
func validXOnly(x *[32]byte) bool {
	var f fe
	if _, ok := f.setBytes(x); !ok {
		return false
	}
	_, ok := liftX(&f)
	return ok
}

// xOnlyPublic returns the x-only public key of secret scalar d.
func xOnlyPublic(d *btcec.ModNScalar) [32]byte {
	var p point
	p.baseMult(d)
	x, _ := p.affine()
	return x.bytes()
}

// condNegScalar sets k = n − k when c is 1 and leaves it when c is 0.
func condNegScalar(k *btcec.ModNScalar, c uint64) {
	var n btcec.ModNScalar
	n.NegateVal(k)
	kb, nb := k.Bytes(), n.Bytes()
	kw, nw := words(&kb), words(&nb)
	m := -c
	var out [32]byte
	for i := range kw {
		kw[i] ^= (kw[i] ^ nw[i]) & m
	}
	for i, w := range kw {
		binary.BigEndian.PutUint64(out[24-8*i:], w)
	}
	k.SetBytes(&out)
}

// taggedHash is BIP340's hash_tag(x) = SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ x).
func taggedHash(tag *[32]byte, parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write(tag[:])
	h.Write(tag[:])
	for _, p := range parts {
		h.Write(p)
	}
	return [32]byte(h.Sum(nil))
}

var (
	bip340AuxTag       = sha256.Sum256([]byte("BIP0340/aux"))
	bip340NonceTag     = sha256.Sum256([]byte("BIP0340/nonce"))
	bip340ChallengeTag = sha256.Sum256([]byte("BIP0340/challenge"))
)

// schnorrSign signs msg with d, using aux as BIP340's auxiliary randomness
// (BIP340 "Sign"), and checks the signature before returning it.
func schnorrSign(dIn *btcec.ModNScalar, msg, aux *[32]byte) ([64]byte, error) {
	if dIn.IsZero() {
		return [64]byte{}, ErrSecretKeyRange
	}
	var p point
	p.baseMult(dIn)
	px, py := p.affine()
	pxb := px.bytes()
	d := *dIn
	condNegScalar(&d, py[0]&1) // d for the even-y P

	// t = bytes(d) xor hash_aux(aux); k' = hash_nonce(t ‖ P ‖ m) mod n.
	db := d.Bytes()
	ah := taggedHash(&bip340AuxTag, aux[:])
	var t [32]byte
	for i := range t {
		t[i] = db[i] ^ ah[i]
	}
	rand := taggedHash(&bip340NonceTag, t[:], pxb[:], msg[:])
	var k btcec.ModNScalar
	k.SetBytes(&rand)
	if k.IsZero() {
		return [64]byte{}, errors.New("noise: BIP340 nonce is zero") // probability 2⁻²⁵⁶
	}
	var r point
	r.baseMult(&k)
	rx, ry := r.affine()
	rxb := rx.bytes()
	condNegScalar(&k, ry[0]&1)

	// s = k + e·d, e = hash_challenge(R ‖ P ‖ m) mod n.
	eh := taggedHash(&bip340ChallengeTag, rxb[:], pxb[:], msg[:])
	var e, s btcec.ModNScalar
	e.SetBytes(&eh)
	s.Mul2(&e, &d).Add(&k)
	var sig [64]byte
	copy(sig[:32], rxb[:])
	sb := s.Bytes()
	copy(sig[32:], sb[:])
	if !schnorrVerify(&pxb, msg, &sig) {
		return [64]byte{}, errors.New("noise: internal error: a fresh BIP340 signature does not verify")
	}
	return sig, nil
}

// schnorrVerify reports whether sig is a valid BIP340 signature of msg by
// the x-only key px (BIP340 "Verify"). It handles only public data.
func schnorrVerify(px, msg *[32]byte, sig *[64]byte) bool {
	// P = lift_x(px); fail if px ≥ p or off the curve.
	var x fe
	if _, ok := x.setBytes(px); !ok {
		return false
	}
	p, ok := liftX(&x)
	if !ok {
		return false
	}
	// r = sig[0:32] < p, s = sig[32:64] < n.
	var r fe
	if _, ok := r.setBytes((*[32]byte)(sig[:32])); !ok {
		return false
	}
	var s btcec.ModNScalar
	if s.SetBytes((*[32]byte)(sig[32:])) != 0 {
		return false
	}
	eh := taggedHash(&bip340ChallengeTag, sig[:32], px[:], msg[:])
	var e btcec.ModNScalar
	e.SetBytes(&eh)

	// R = s·G − e·P; fail if R is infinite, has odd y or x ≠ r.
	pt := newMulTable(&p)
	var rp point
	rp.scalarMultVar(mulTerm{genTable, genTablePhi, &s}, mulTerm{pt, pt.endo(), e.Negate()})
	if rp.isInfinity() {
		return false
	}
	rx, ry := rp.affine()
	return ry[0]&1 == 0 && rx.equal(&r)
}
