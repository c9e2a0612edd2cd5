package noise

import (
	"fmt"
	"io"

	"github.com/flynn/noise"
)

// dhPrivateSize is the length of an EllSwiftDH private key: the 32-byte
// secret followed by the key's own 64-byte ElligatorSwift encoding.
const dhPrivateSize = 32 + EllSwiftSize

// EllSwiftDH is the "Secp256k1+EllSwift" DH function of the Sv2 spec (§4.3.1,
// §4.4.2) for github.com/flynn/noise. Public keys are 64-byte ElligatorSwift
// encodings, and DH returns BIP324's v2_ecdh. That hash covers both parties'
// encodings in initiator-then-responder order, so the function must know its
// role, and a private key (noise.DHKey.Private) carries its own encoding
// after the 32-byte secret.
type EllSwiftDH struct {
	// Initiator is true on the side that sends the first handshake message.
	Initiator bool
}

var _ noise.DHFunc = EllSwiftDH{}

// DHName makes the protocol name Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256.
func (EllSwiftDH) DHName() string { return "Secp256k1+EllSwift" }

// DHLen returns 64, the public key size: flynn/noise uses DHLen to cut public
// keys out of handshake messages. DH itself returns 32 bytes, which MixKey
// accepts as readily.
func (EllSwiftDH) DHLen() int { return EllSwiftSize }

// GenerateKeypair returns a fresh key pair in the layout DH expects.
func (EllSwiftDH) GenerateKeypair(rand io.Reader) (noise.DHKey, error) {
	k, err := GenerateStaticKey(rand)
	if err != nil {
		return noise.DHKey{}, err
	}
	return k.dhKey(), nil
}

// DH returns v2_ecdh(secret, own encoding, pubkey, d.Initiator).
func (d EllSwiftDH) DH(privkey, pubkey []byte) ([]byte, error) {
	if len(privkey) != dhPrivateSize {
		return nil, fmt.Errorf("%w: DH private key is %d bytes, want %d", ErrKeyLength, len(privkey), dhPrivateSize)
	}
	if len(pubkey) != EllSwiftSize {
		return nil, fmt.Errorf("%w: DH public key is %d bytes, want %d", ErrKeyLength, len(pubkey), EllSwiftSize)
	}
	sk, err := NewSecretKey(privkey[:32])
	if err != nil {
		return nil, err
	}
	scalar := sk.scalar()
	shared, err := v2ECDH(&scalar, (*[64]byte)(privkey[32:]), (*[64]byte)(pubkey), d.Initiator)
	if err != nil {
		return nil, err
	}
	return shared[:], nil
}

func (k StaticKey) dhKey() noise.DHKey {
	priv := make([]byte, 0, dhPrivateSize)
	priv = append(priv, k.secret.b[:]...)
	priv = append(priv, k.ellswift[:]...)
	return noise.DHKey{Private: priv, Public: append([]byte(nil), k.ellswift[:]...)}
}
