package noise

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// BIP340 Schnorr signatures, through btcec's schnorr package.

// validXOnly reports whether x is the x coordinate of a secp256k1 point.
func validXOnly(x *[32]byte) bool {
	_, err := schnorr.ParsePubKey(x[:])
	return err == nil
}

// xOnlyPublic returns the x-only public key of secret scalar d.
func xOnlyPublic(d *btcec.ModNScalar) [32]byte {
	return [32]byte(schnorr.SerializePubKey(btcec.PrivKeyFromScalar(d).PubKey()))
}

// schnorrSign signs msg with d, using aux as BIP340's auxiliary randomness.
func schnorrSign(d *btcec.ModNScalar, msg, aux *[32]byte) ([64]byte, error) {
	sig, err := schnorr.Sign(btcec.PrivKeyFromScalar(d), msg[:], schnorr.CustomNonce(*aux))
	if err != nil {
		return [64]byte{}, err
	}
	return [64]byte(sig.Serialize()), nil
}

// schnorrVerify reports whether sig is a valid BIP340 signature of msg by the x-only key px.
func schnorrVerify(px, msg *[32]byte, sig *[64]byte) bool {
	pub, err := schnorr.ParsePubKey(px[:])
	if err != nil {
		return false
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return false
	}
	return s.Verify(msg[:], pub)
}
