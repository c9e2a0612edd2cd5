package noise

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"
)

// CertificateVersion is the only certificate format version the Sv2 spec
// defines.
const CertificateVersion = 0

// Certificate is the Sv2 SIGNATURE_NOISE_MESSAGE (spec §4.5.2, §4.5.3): an
// authority's BIP340 signature binding a server's static key to a validity
// window. Its wire form is version (u16), valid_from (u32) and
// not_valid_after (u32), all little-endian, then the 64-byte signature.
type Certificate struct {
	Version uint16
	// ValidFrom is the first Unix second at which the certificate is valid.
	ValidFrom uint32
	// NotValidAfter is the last Unix second at which the certificate is valid.
	NotValidAfter uint32
	// Signature signs SHA-256(version || valid_from || not_valid_after ||
	// x-only server static key), the integers encoded as on the wire.
	Signature [64]byte
}

// IssueCertificate signs server's static key for the window [validFrom,
// notValidAfter], clamped to what 32-bit Unix seconds can express. rand
// (crypto/rand if nil) supplies BIP340's auxiliary randomness.
func IssueCertificate(authority SecretKey, server PublicKey, validFrom, notValidAfter time.Time, rand io.Reader) (Certificate, error) {
	c := Certificate{
		Version:       CertificateVersion,
		ValidFrom:     unix32(validFrom),
		NotValidAfter: unix32(notValidAfter),
	}
	var aux [32]byte
	if _, err := io.ReadFull(orCryptoRand(rand), aux[:]); err != nil {
		return Certificate{}, err
	}
	d := authority.scalar()
	digest := c.digest(server)
	sig, err := schnorrSign(&d, &digest, &aux)
	if err != nil {
		return Certificate{}, err
	}
	c.Signature = sig
	return c, nil
}

// Verify checks that authority signed c for server, and that now lies in the
// validity window widened by tolerance on both sides (a negative tolerance
// counts as zero). Time errors are *CertificateTimeError.
func (c Certificate) Verify(authority, server PublicKey, now time.Time, tolerance time.Duration) error {
	if c.Version != CertificateVersion {
		return fmt.Errorf("%w: %d", ErrCertificateVersion, c.Version)
	}
	digest := c.digest(server)
	if !schnorrVerify((*[32]byte)(&authority), &digest, &c.Signature) {
		return ErrCertificateSignature
	}
	tolerance = max(tolerance, 0)
	from := time.Unix(int64(c.ValidFrom), 0).UTC()
	until := time.Unix(int64(c.NotValidAfter), 0).UTC()
	var err error
	switch {
	case now.Before(from.Add(-tolerance)):
		err = ErrCertificateNotYetValid
	case now.After(until.Add(tolerance)):
		err = ErrCertificateExpired
	default:
		return nil
	}
	return &CertificateTimeError{Err: err, ValidFrom: from, NotValidAfter: until, Now: now, Tolerance: tolerance}
}

// digest is the signed message: SHA-256 over the first ten wire bytes and
// the server's x-only key (spec §4.5.3.1; SRI signs the same bytes).
func (c Certificate) digest(server PublicKey) [32]byte {
	var b [10 + 32]byte
	c.putHeader(b[:10])
	copy(b[10:], server[:])
	return sha256.Sum256(b[:])
}

func (c Certificate) putHeader(b []byte) {
	binary.LittleEndian.PutUint16(b[0:], c.Version)
	binary.LittleEndian.PutUint32(b[2:], c.ValidFrom)
	binary.LittleEndian.PutUint32(b[6:], c.NotValidAfter)
}

// MarshalBinary returns the 74-byte SIGNATURE_NOISE_MESSAGE.
func (c Certificate) MarshalBinary() ([]byte, error) {
	b := make([]byte, SignatureNoiseMessageSize)
	c.putHeader(b)
	copy(b[10:], c.Signature[:])
	return b, nil
}

// UnmarshalBinary parses a 74-byte SIGNATURE_NOISE_MESSAGE.
func (c *Certificate) UnmarshalBinary(b []byte) error {
	if len(b) != SignatureNoiseMessageSize {
		return ErrCertificateSize
	}
	c.Version = binary.LittleEndian.Uint16(b[0:])
	c.ValidFrom = binary.LittleEndian.Uint32(b[2:])
	c.NotValidAfter = binary.LittleEndian.Uint32(b[6:])
	c.Signature = [64]byte(b[10:])
	return nil
}

// unix32 converts t to Unix seconds, saturating at the u32 range instead of
// wrapping, so a far-future expiry cannot turn into a date in 1970.
func unix32(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), math.MaxUint32))
}
