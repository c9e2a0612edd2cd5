package transport

import "errors"

// Errors of the transport; compare with errors.Is.
var (
	// ErrDecrypt means a frame failed authentication: it was corrupted or forged.
	// The connection is closed, since the cipher states can no longer agree.
	ErrDecrypt = errors.New("transport: decryption failed (corrupted or forged data)")
	// ErrFrameTooLarge means a peer announced a payload over the configured maximum.
	ErrFrameTooLarge = errors.New("transport: frame over the maximum size")
	// ErrNonceExhausted means a cipher state used all its nonces.
	ErrNonceExhausted = errors.New("transport: nonces exhausted")
	// ErrHandshakeTimeout means the Noise handshake did not finish within its deadline.
	ErrHandshakeTimeout = errors.New("transport: handshake timed out")
	// ErrReadClosed means reading was stopped with CloseRead; writing goes on.
	ErrReadClosed = errors.New("transport: reading closed")
)
