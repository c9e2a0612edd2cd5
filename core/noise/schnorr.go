package noise

import (
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// BIP340 Schnorr signatures. Signing goes through btcec's schnorr package;
// verification, which every authenticating initiator runs, is our own on
// btcec's arithmetic, to use this package's faster scalar multiplication and
// inversion and to lift the public key only once (btcec's Verify parses it
// twice, each time with a square root).

// validXOnly reports whether x is the x coordinate of a secp256k1 point.
func validXOnly(x *[32]byte) bool {
	_, err := schnorr.ParsePubKey(x[:])
	return err == nil
}

// xOnlyPublic returns the x-only public key of secret scalar d.
func xOnlyPublic(d *btcec.ModNScalar) [32]byte {
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(d, &p)
	var x fe
	feInvVar(&x, &p.Z).Square().Mul(&p.X).Normalize() // X/Z²
	var out [32]byte
	x.PutBytesUnchecked(out[:])
	return out
}

// schnorrSign signs msg with d, using aux as BIP340's auxiliary randomness.
func schnorrSign(d *btcec.ModNScalar, msg, aux *[32]byte) ([64]byte, error) {
	sig, err := schnorr.Sign(btcec.PrivKeyFromScalar(d), msg[:], schnorr.CustomNonce(*aux))
	if err != nil {
		return [64]byte{}, err
	}
	return [64]byte(sig.Serialize()), nil
}

// bip340ChallengeTag is SHA-256 of the tag "BIP0340/challenge".
var bip340ChallengeTag = sha256.Sum256([]byte("BIP0340/challenge"))

// schnorrVerify reports whether sig is a valid BIP340 signature of msg by
// the x-only key px (BIP340 "Verify"). Not constant-time; it handles only
// public data.
func schnorrVerify(px, msg *[32]byte, sig *[64]byte) bool {
	// P = lift_x(px), the point with even y; fail if px ≥ p or off the curve.
	var p btcec.JacobianPoint
	if p.X.SetBytes(px) != 0 {
		return false
	}
	var y2 fe
	y2.SquareVal(&p.X).Mul(&p.X).AddInt(7)
	if !p.Y.SquareRootVal(&y2) {
		return false
	}
	if p.Y.Normalize().IsOdd() {
		p.Y.Negate(1).Normalize()
	}
	p.Z.SetInt(1)

	// r = sig[0:32] < p, s = sig[32:64] < n.
	var r fe
	if r.SetBytes((*[32]byte)(sig[:32])) != 0 {
		return false
	}
	var s btcec.ModNScalar
	if s.SetBytes((*[32]byte)(sig[32:])) != 0 {
		return false
	}

	// e = hash_BIP0340/challenge(r ‖ px ‖ msg) mod n
	var buf [5 * 32]byte
	copy(buf[0:], bip340ChallengeTag[:])
	copy(buf[32:], bip340ChallengeTag[:])
	copy(buf[64:], sig[:32])
	copy(buf[96:], px[:])
	copy(buf[128:], msg[:])
	h := sha256.Sum256(buf[:])
	var e btcec.ModNScalar
	e.SetBytes(&h)

	// R = s·G − e·P; fail if R is infinite, has odd y or x ≠ r.
	var sg, ep, rp btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&s, &sg)
	scalarMult(e.Negate(), &p, &ep)
	btcec.AddNonConst(&sg, &ep, &rp)
	if rp.Z.Normalize().IsZero() || (rp.X.Normalize().IsZero() && rp.Y.Normalize().IsZero()) {
		return false
	}
	var zi, zi2 fe
	feInvVar(&zi, &rp.Z)
	zi2.SquareVal(&zi)
	rp.X.Mul(&zi2).Normalize()
	rp.Y.Mul(zi2.Mul(&zi)).Normalize()
	return !rp.Y.IsOdd() && rp.X.Equals(&r)
}
