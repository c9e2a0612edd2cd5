package transport

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// Sizes of the encrypted framing (§4.6).
const (
	// MACSize is the size of the Poly1305 tag that ends every Noise message.
	MACSize = noise.MACSize
	// MaxNoiseMessage is the largest Noise transport message, ciphertext and MAC.
	MaxNoiseMessage = 65535
	// MaxBlockPlaintext is the largest payload chunk one Noise message carries.
	MaxBlockPlaintext = MaxNoiseMessage - MACSize
	// EncryptedHeaderSize is the size of an encrypted frame header.
	EncryptedHeaderSize = sv2.HeaderSize + MACSize
)

// EncryptedLen returns the size on the wire of a payload of n plaintext bytes:
// one MAC per Noise block of at most MaxBlockPlaintext bytes (§4.6).
func EncryptedLen(n int) int {
	full, rest := n/MaxBlockPlaintext, n%MaxBlockPlaintext
	if rest > 0 {
		rest += MACSize
	}
	return full*MaxNoiseMessage + rest
}

// cipherState is a Noise CipherState (§4.4.1) for one direction of a
// transport: ChaCha20-Poly1305 with the nonce as 32 zero bits and a
// little-endian 64-bit counter. It keeps its nonce buffer so sealing and
// opening allocate nothing.
type cipherState struct {
	aead  cipher.AEAD
	n     uint64
	nonce [chacha20poly1305.NonceSize]byte
}

func newCipherState(key [32]byte, n uint64) (*cipherState, error) {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, fmt.Errorf("transport: cipher: %w", err)
	}
	return &cipherState{aead: aead, n: n}, nil
}

func (c *cipherState) next() ([]byte, error) {
	if c.n == ^uint64(0) {
		// Noise reserves the last nonce; a connection never gets near it, but reusing one would be fatal.
		return nil, ErrNonceExhausted
	}
	binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	c.n++
	return c.nonce[:], nil
}

// seal appends the encryption of plaintext to dst.
func (c *cipherState) seal(dst, plaintext []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return dst, err
	}
	return c.aead.Seal(dst, nonce, plaintext, nil), nil
}

// open decrypts ciphertext in place and returns the plaintext, which shares its
// storage. The nonce advances only on success, as §4.4.1 says.
func (c *cipherState) open(ciphertext []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	pt, err := c.aead.Open(ciphertext[:0], nonce, ciphertext, nil)
	if err != nil {
		c.n--
		return nil, ErrDecrypt
	}
	return pt, nil
}
