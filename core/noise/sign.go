package noise

import (
	"crypto/sha256"
	"errors"
	"io"
)

// ErrEmptyTag is returned by Sign for a message without a domain tag.
var ErrEmptyTag = errors.New("noise: a signed message needs a domain tag")

// Sign signs msg with an authority key, as BIP340 Schnorr over the tagged
// hash SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ msg). The tag keeps what an
// authority signs for an application (a job declarator's tokens, say) from
// ever being taken for a certificate, whose digest is an untagged SHA-256.
// rand (crypto/rand if nil) supplies BIP340's auxiliary randomness.
func Sign(authority SecretKey, tag string, msg []byte, rand io.Reader) ([64]byte, error) {
	if tag == "" {
		return [64]byte{}, ErrEmptyTag
	}
	var aux [32]byte
	if _, err := io.ReadFull(orCryptoRand(rand), aux[:]); err != nil {
		return [64]byte{}, err
	}
	d := authority.scalar()
	digest := signedDigest(tag, msg)
	return schnorrSign(&d, &digest, &aux)
}

// VerifySignature reports whether sig is Sign's signature of msg under tag by
// the authority whose public key is pub.
func VerifySignature(pub PublicKey, tag string, msg []byte, sig *[64]byte) bool {
	if tag == "" {
		return false
	}
	digest := signedDigest(tag, msg)
	return schnorrVerify((*[32]byte)(&pub), &digest, sig)
}

func signedDigest(tag string, msg []byte) [32]byte {
	t := sha256.Sum256([]byte(tag))
	return taggedHash(&t, msg)
}
