// Package noise implements the Stratum V2 secure channel handshake,
// Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256 (Sv2 spec §4), with the
// certificates and key strings that go with it. It performs no I/O: an
// Initiator and a Responder turn handshake messages into byte slices and
// back, and a completed handshake yields a Result holding the two transport
// cipher states.
//
// The exchange is:
//
//	initiator                               responder
//	Start()     -> 64 bytes: ephemeral key ->  Respond()
//	Finish()    <- 234 bytes               <-  (session ready)
//
// The messages travel raw, without a length prefix or Sv2 frame header, so
// each side reads exactly Message1Size or Message2Size bytes.
//
// # Differences from plain Noise NX
//
// The pattern, hashing and key schedule are standard Noise (empty prologue,
// ChaCha20-Poly1305 with the Noise nonce layout, SHA-256 HKDF), run by
// github.com/flynn/noise. What Sv2 changes:
//
//   - DH is secp256k1 with 64-byte ElligatorSwift public keys (BIP324), and its
//     output is BIP324's v2_ecdh: a tagged hash of both parties' encodings,
//     initiator's first, and the x-only shared secret. See EllSwiftDH.
//   - Message 2 always carries a 74-byte payload, the SIGNATURE_NOISE_MESSAGE
//     (Certificate), making it 234 bytes; message 1 has an empty payload.
//   - NX sends the responder's static key without the initiator knowing it in
//     advance; the server is authenticated instead by an authority key the
//     initiator trusts, whose BIP340 signature over the static key and a
//     validity window is the certificate. An initiator without an authority
//     key still gets an encrypted channel, but Result.Authenticated is false.
//
// # Keys
//
// An authority public key string is base58check of the bytes [1, 0] (a
// little-endian u16 version) followed by the 32-byte x-only key (spec §4.7),
// e.g. 9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh. A secret key
// string is base58check of the 32 raw key bytes without a prefix, the form
// of the Stratum Reference Implementation's authority_secret_key setting, so
// the same config values work in both. Both key types implement
// encoding.TextMarshaler for configuration files.
//
// # Side channels
//
// The curve arithmetic is this package's own (fe.go, point.go): a field of
// four 64-bit words (its product in assembly on amd64) and complete point
// formulas. Everything that touches a
// secret — the static and ephemeral keys' ECDHs, key generation and
// certificate signing — runs in constant time: the same sequence of
// operations and memory accesses whatever the secret's bits, with masks
// where code would otherwise branch (see point.go for how). Only public
// data takes variable-time shortcuts: decoding and encoding ElligatorSwift
// keys, and verifying signatures. BenchmarkECDHSecrets shows the ECDH taking
// one time for scalars as different as 1 and n − 1.
//
// # Certificates
//
// A responder signs a fresh certificate for its static key in every
// handshake (or sends one issued in advance), valid from one minute ago to
// give slow initiator clocks some room. SRI issues valid_from = now and
// allows 10 seconds of clock difference; this package's initiator allows
// DefaultClockSkew unless configured otherwise.
package noise
