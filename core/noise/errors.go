package noise

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by this package, possibly wrapped with detail; test for
// them with errors.Is.
var (
	// ErrMessageSize: a handshake message does not have the exact size the
	// Sv2 spec fixes for it (64 bytes, then 234 bytes).
	ErrMessageSize = errors.New("noise: handshake message has the wrong size")
	// ErrDecrypt: a handshake message failed AEAD authentication, so it was
	// corrupted, forged, or meant for another session.
	ErrDecrypt = errors.New("noise: handshake message failed authentication")
	// ErrHandshakeState: a handshake method was called out of order, again, or
	// after an earlier failure; a handshake is single-use.
	ErrHandshakeState = errors.New("noise: handshake step called out of order or after failure")

	// ErrCertificateSignature: the responder's certificate is not signed by
	// the configured authority for the static key it presented.
	ErrCertificateSignature = errors.New("noise: certificate signature is invalid")
	// ErrCertificateVersion: the certificate uses a format version other
	// than CertificateVersion.
	ErrCertificateVersion = errors.New("noise: unsupported certificate version")
	// ErrCertificateExpired: the certificate's not_valid_after lies in the
	// past, beyond the clock-skew tolerance.
	ErrCertificateExpired = errors.New("noise: certificate has expired")
	// ErrCertificateNotYetValid: the certificate's valid_from lies in the
	// future, beyond the clock-skew tolerance.
	ErrCertificateNotYetValid = errors.New("noise: certificate is not yet valid")
	// ErrCertificateSize: an encoded certificate is not
	// SignatureNoiseMessageSize bytes long.
	ErrCertificateSize = errors.New("noise: certificate has the wrong size")

	// ErrNoAuthority: a responder was configured with none of an authority
	// key, a certificate and an issuer (or with several), so it cannot prove its identity.
	ErrNoAuthority = errors.New("noise: responder needs exactly one of an authority key, a certificate and a certificate issuer")
	// ErrNoStaticKey: a responder was given a certificate but no static key,
	// and a certificate only vouches for the key it was issued for.
	ErrNoStaticKey = errors.New("noise: responder with a certificate needs the static key it certifies")

	// ErrKeyBase58: a key string contains a character outside base58.
	ErrKeyBase58 = errors.New("noise: key string is not base58")
	// ErrKeyChecksum: a key string's base58check checksum does not match,
	// usually a typo or a truncated copy.
	ErrKeyChecksum = errors.New("noise: key string has a bad checksum")
	// ErrKeyLength: a key decodes to the wrong number of bytes.
	ErrKeyLength = errors.New("noise: key has the wrong length")
	// ErrKeyVersion: an authority public key string does not start with the
	// version prefix [1, 0].
	ErrKeyVersion = errors.New("noise: authority key string has an unknown version prefix")
	// ErrKeyNotOnCurve: a public key is not the x coordinate of a secp256k1
	// point.
	ErrKeyNotOnCurve = errors.New("noise: public key is not on the secp256k1 curve")
	// ErrSecretKeyRange: a secret key is zero or not below the curve order.
	ErrSecretKeyRange = errors.New("noise: secret key is out of range")

	// ErrRandom: a randomness source kept producing values that cannot be
	// keys or encodings, which only a broken source does.
	ErrRandom = errors.New("noise: randomness source keeps producing unusable values")
)

// CertificateTimeError reports a certificate refused because the initiator's
// clock lies outside its validity window, with the times needed to tell a
// stale certificate from a skewed clock. It wraps ErrCertificateExpired or
// ErrCertificateNotYetValid.
type CertificateTimeError struct {
	Err           error
	ValidFrom     time.Time
	NotValidAfter time.Time
	Now           time.Time
	Tolerance     time.Duration
}

// Error names all the times, so the message alone tells what to fix.
func (e *CertificateTimeError) Error() string {
	return fmt.Sprintf("%v: valid from %s until %s, now %s, clock-skew tolerance %s",
		e.Err,
		e.ValidFrom.UTC().Format(time.RFC3339),
		e.NotValidAfter.UTC().Format(time.RFC3339),
		e.Now.UTC().Format(time.RFC3339),
		e.Tolerance)
}

// Unwrap returns Err, for errors.Is.
func (e *CertificateTimeError) Unwrap() error { return e.Err }
