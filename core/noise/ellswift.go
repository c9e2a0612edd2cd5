package noise

import (
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ellswift"
)

// BIP324 ElligatorSwift on btcec's ellswift package. Its own encoder reads
// crypto/rand directly; ellswiftEncode draws u and the case from the
// caller's source instead, so tests can replay a handshake byte for byte.

type fe = btcec.FieldVal

// feBytes reduces a 32-byte big-endian value modulo p, as BIP324 does for u and t.
func feBytes(b []byte) *fe {
	f := new(fe)
	f.SetByteSlice(b)
	return f.Normalize()
}

// ellswiftDecode returns the x coordinate encoded by a 64-byte ElligatorSwift
// encoding. Every 64-byte string is a valid encoding.
func ellswiftDecode(enc *[64]byte) (*fe, error) {
	x, err := ellswift.XSwiftEC(feBytes(enc[:32]), feBytes(enc[32:]))
	if err != nil {
		return nil, fmt.Errorf("noise: internal error: ElligatorSwift decoding: %w", err)
	}
	return x.Normalize(), nil
}

// ellswiftEncode returns a uniformly looking 64-byte encoding of x, drawing
// u and the case from rand (BIP324 "XElligatorSwift").
func ellswiftEncode(x *fe, rand io.Reader) ([64]byte, error) {
	var buf [33]byte
	// About one attempt in four succeeds; only a broken source runs out.
	for range maxRandomAttempts {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return [64]byte{}, fmt.Errorf("noise: reading randomness: %w", err)
		}
		u := feBytes(buf[:32])
		if u.IsZero() {
			continue // decoding reads u = 0 as 1; skipping keeps the round trip exact
		}
		t := ellswift.XSwiftECInv(u, x, int(buf[32]&7))
		if t == nil {
			continue
		}
		// BIP324's inverse yields a t that decodes to x whenever it yields
		// one; TestEllSwiftInverseCases checks that on every case.
		var enc [64]byte
		u.PutBytesUnchecked(enc[:32])
		t.Normalize().PutBytesUnchecked(enc[32:])
		return enc, nil
	}
	return [64]byte{}, ErrRandom
}

// ellswiftECDHXOnly returns the x coordinate of d·P, where P is the point
// encoded by theirs (BIP324 "ellswift_ecdh_xonly").
func ellswiftECDHXOnly(d *btcec.ModNScalar, theirs *[64]byte) ([32]byte, error) {
	x, err := ellswift.EllswiftECDHXOnly(*theirs, btcec.PrivKeyFromScalar(d))
	if err != nil {
		return [32]byte{}, fmt.Errorf("noise: ElligatorSwift ECDH: %w", err)
	}
	return x, nil
}

// v2ECDH is BIP324's v2_ecdh: the x-only shared secret bound to both
// encodings, ordered initiator first. The order is why our DH must know its
// role.
func v2ECDH(d *btcec.ModNScalar, ours, theirs *[64]byte, initiator bool) ([32]byte, error) {
	h, err := ellswift.V2Ecdh(btcec.PrivKeyFromScalar(d), *theirs, *ours, initiator)
	if err != nil {
		return [32]byte{}, fmt.Errorf("noise: v2_ecdh: %w", err)
	}
	if h == nil {
		return [32]byte{}, errors.New("noise: v2_ecdh returned no secret")
	}
	return *h, nil
}
