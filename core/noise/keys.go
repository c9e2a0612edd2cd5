package noise

import (
	cryptorand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

// authorityKeyVersion is the little-endian u16 that prefixes an encoded
// authority public key (Sv2 spec §4.7), i.e. the bytes [1, 0].
const authorityKeyVersion = 1

// PublicKey is a BIP340 x-only secp256k1 public key. Authority keys take this
// form, and certificates name the server's static key in it.
type PublicKey [32]byte

// NewPublicKey checks that b is a 32-byte x coordinate of a curve point.
func NewPublicKey(b []byte) (PublicKey, error) {
	if len(b) != len(PublicKey{}) {
		return PublicKey{}, fmt.Errorf("%w: public key is %d bytes, want 32", ErrKeyLength, len(b))
	}
	k := PublicKey(b)
	if !validXOnly((*[32]byte)(&k)) {
		return PublicKey{}, ErrKeyNotOnCurve
	}
	return k, nil
}

// ParsePublicKey parses an authority public key in the Sv2 form
// base58check([1, 0] || x-only key), as printed on pool websites and used in
// SRI's authority_public_key setting.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := base58CheckDecode(s)
	if err != nil {
		return PublicKey{}, err
	}
	if len(b) != 2+len(PublicKey{}) {
		return PublicKey{}, fmt.Errorf("%w: authority key decodes to %d bytes, want 34", ErrKeyLength, len(b))
	}
	if v := binary.LittleEndian.Uint16(b); v != authorityKeyVersion {
		return PublicKey{}, fmt.Errorf("%w: version %d, want %d", ErrKeyVersion, v, authorityKeyVersion)
	}
	return NewPublicKey(b[2:])
}

// String returns the Sv2 authority key encoding that ParsePublicKey reads.
func (k PublicKey) String() string {
	var b [2 + 32]byte
	binary.LittleEndian.PutUint16(b[:], authorityKeyVersion)
	copy(b[2:], k[:])
	return base58CheckEncode(b[:])
}

// MarshalText encodes k as String does, for configuration files.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes k as ParsePublicKey does.
func (k *PublicKey) UnmarshalText(text []byte) error {
	v, err := ParsePublicKey(string(text))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// SecretKey is a secp256k1 secret key, such as an authority key or a
// server's static key. Its zero value is not a valid key. It never prints
// itself through fmt, so that logging a config cannot leak it; use
// FormatSecretKey or MarshalText to write it out.
type SecretKey struct {
	b [32]byte
}

// NewSecretKey checks that b is a 32-byte big-endian integer in [1, n-1].
func NewSecretKey(b []byte) (SecretKey, error) {
	if len(b) != 32 {
		return SecretKey{}, fmt.Errorf("%w: secret key is %d bytes, want 32", ErrKeyLength, len(b))
	}
	var d btcec.ModNScalar
	if overflow := d.SetByteSlice(b); overflow || d.IsZero() {
		return SecretKey{}, ErrSecretKeyRange
	}
	return SecretKey{b: [32]byte(b)}, nil
}

// ParseSecretKey parses a secret key in SRI's configuration form (the
// authority_secret_key setting): base58check of the 32 raw key bytes, with
// no version prefix.
func ParseSecretKey(s string) (SecretKey, error) {
	b, err := base58CheckDecode(s)
	if err != nil {
		return SecretKey{}, err
	}
	return NewSecretKey(b)
}

// FormatSecretKey returns the encoding ParseSecretKey reads.
func FormatSecretKey(k SecretKey) string { return base58CheckEncode(k.b[:]) }

// Bytes returns the 32 big-endian key bytes.
func (k SecretKey) Bytes() [32]byte { return k.b }

// PublicKey returns the x-only public key of k.
func (k SecretKey) PublicKey() PublicKey {
	d := k.scalar()
	return xOnlyPublic(&d)
}

func (k SecretKey) scalar() btcec.ModNScalar {
	var d btcec.ModNScalar
	d.SetBytes(&k.b)
	return d
}

// String hides the key; see FormatSecretKey.
func (k SecretKey) String() string { return "noise.SecretKey(redacted)" }

// Format hides the key from every fmt verb, %x and %#v included.
func (k SecretKey) Format(f fmt.State, verb rune) { io.WriteString(f, k.String()) }

// MarshalText encodes k as FormatSecretKey does, for configuration files.
func (k SecretKey) MarshalText() ([]byte, error) {
	if k == (SecretKey{}) {
		return nil, ErrSecretKeyRange
	}
	return []byte(FormatSecretKey(k)), nil
}

// UnmarshalText decodes k as ParseSecretKey does.
func (k *SecretKey) UnmarshalText(text []byte) error {
	v, err := ParseSecretKey(string(text))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// GenerateAuthorityKeyPair returns a fresh authority key pair drawn from
// rand (crypto/rand if nil).
func GenerateAuthorityKeyPair(rand io.Reader) (SecretKey, PublicKey, error) {
	sk, err := generateSecretKey(orCryptoRand(rand))
	if err != nil {
		return SecretKey{}, PublicKey{}, err
	}
	return sk, sk.PublicKey(), nil
}

func generateSecretKey(rand io.Reader) (SecretKey, error) {
	var b [32]byte
	for range maxRandomAttempts {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return SecretKey{}, fmt.Errorf("noise: reading randomness: %w", err)
		}
		// Rejecting out-of-range values (probability ~2^-128) keeps keys
		// uniform, unlike reducing modulo n.
		if k, err := NewSecretKey(b[:]); err == nil {
			return k, nil
		}
	}
	return SecretKey{}, ErrRandom
}

// maxRandomAttempts bounds rejection sampling, so that a broken randomness
// source (say, one returning only zeros) fails instead of hanging. Honest
// randomness exhausts it with probability below 2^-100.
const maxRandomAttempts = 256

func orCryptoRand(r io.Reader) io.Reader {
	if r == nil {
		return cryptorand.Reader
	}
	return r
}

// StaticKey is a responder's static key pair together with the
// ElligatorSwift encoding it presents in handshakes. The encoding is fixed
// when the key is made, so every handshake of one server shows the same bytes.
type StaticKey struct {
	secret   SecretKey
	public   PublicKey
	ellswift [64]byte
}

// GenerateStaticKey returns a fresh static key drawn from rand (crypto/rand
// if nil); servers without a configured key call it once per start.
func GenerateStaticKey(rand io.Reader) (*StaticKey, error) {
	rand = orCryptoRand(rand)
	sk, err := generateSecretKey(rand)
	if err != nil {
		return nil, err
	}
	return NewStaticKey(sk, rand)
}

// NewStaticKey wraps a configured secret key; rand (crypto/rand if nil)
// picks its ElligatorSwift encoding.
func NewStaticKey(secret SecretKey, rand io.Reader) (*StaticKey, error) {
	if secret == (SecretKey{}) {
		return nil, ErrSecretKeyRange
	}
	pub := secret.PublicKey()
	enc, err := ellswiftEncode(new(fe).setSlice(pub[:]), orCryptoRand(rand))
	if err != nil {
		return nil, err
	}
	return &StaticKey{secret: secret, public: pub, ellswift: enc}, nil
}

// Format prints only the public key: fmt does not call SecretKey's Format
// on an unexported field, so the default output would show the secret.
func (k StaticKey) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "noise.StaticKey(%s)", k.public)
}

// SecretKey returns the secret half, e.g. to persist the key.
func (k StaticKey) SecretKey() SecretKey { return k.secret }

// PublicKey returns the x-only public key that certificates sign.
func (k StaticKey) PublicKey() PublicKey { return k.public }

// EllSwift returns the 64-byte encoding sent in handshake message 2.
func (k StaticKey) EllSwift() [64]byte { return k.ellswift }
