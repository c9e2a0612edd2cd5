package noise

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func issueTestCertificate(t *testing.T) (Certificate, PublicKey, PublicKey) {
	t.Helper()
	rng := seeded(20)
	authority, authorityPub, err := GenerateAuthorityKeyPair(rng)
	if err != nil {
		t.Fatal(err)
	}
	server, err := GenerateStaticKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := IssueCertificate(authority, server.PublicKey(), testNow, testNow.Add(time.Hour), rng)
	if err != nil {
		t.Fatal(err)
	}
	return cert, authorityPub, server.PublicKey()
}

func TestCertificateWireFormat(t *testing.T) {
	c := Certificate{Version: 0x0102, ValidFrom: 0x03040506, NotValidAfter: 0x0708090a}
	for i := range c.Signature {
		c.Signature[i] = byte(0x10 + i)
	}
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0a, 0x09, 0x08, 0x07}, c.Signature[:]...)
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalBinary = %x, want %x", b, want)
	}
	var back Certificate
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, n := range []int{0, 73, 75} {
		if err := back.UnmarshalBinary(make([]byte, n)); !errors.Is(err, ErrCertificateSize) {
			t.Errorf("%d bytes: err = %v, want %v", n, err, ErrCertificateSize)
		}
	}
}

// TestCertificateSignedBytes rebuilds the signed message by hand from the
// spec (§4.5.3.1): SHA-256 of version, valid_from and not_valid_after as
// little-endian u16/u32, then the 32-byte x-only server key.
func TestCertificateSignedBytes(t *testing.T) {
	cert, authority, server := issueTestCertificate(t)
	var pre []byte
	pre = binary.LittleEndian.AppendUint16(pre, 0)
	pre = binary.LittleEndian.AppendUint32(pre, uint32(testNow.Unix()))
	pre = binary.LittleEndian.AppendUint32(pre, uint32(testNow.Add(time.Hour).Unix()))
	pre = append(pre, server[:]...)
	msg := sha256.Sum256(pre)
	if !schnorrVerify((*[32]byte)(&authority), &msg, &cert.Signature) {
		t.Error("signature is not over SHA-256(version || valid_from || not_valid_after || server x-only key)")
	}
}

func TestCertificateVerify(t *testing.T) {
	cert, authority, server := issueTestCertificate(t)
	_, otherAuthority, err := GenerateAuthorityKeyPair(seeded(21))
	if err != nil {
		t.Fatal(err)
	}
	from, until := testNow, testNow.Add(time.Hour)
	tol := 5 * time.Minute
	tampered := func(f func(*Certificate)) Certificate { c := cert; f(&c); return c }

	for _, tc := range []struct {
		name      string
		cert      Certificate
		authority PublicKey
		server    PublicKey
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", cert, authority, server, from.Add(time.Minute), tol, nil},
		{"first second", cert, authority, server, from, 0, nil},
		{"last second", cert, authority, server, until, 0, nil},
		{"expired", cert, authority, server, until.Add(tol + time.Second), tol, ErrCertificateExpired},
		{"expired within tolerance", cert, authority, server, until.Add(tol), tol, nil},
		{"expired without tolerance", cert, authority, server, until.Add(time.Second), 0, ErrCertificateExpired},
		{"negative tolerance", cert, authority, server, until.Add(time.Second), -time.Hour, ErrCertificateExpired},
		{"not yet valid", cert, authority, server, from.Add(-tol - time.Second), tol, ErrCertificateNotYetValid},
		{"not yet valid within tolerance", cert, authority, server, from.Add(-tol), tol, nil},
		{"wrong authority", cert, otherAuthority, server, from, tol, ErrCertificateSignature},
		{"wrong server key", cert, authority, otherAuthority, from, tol, ErrCertificateSignature},
		{"tampered signature", tampered(func(c *Certificate) { c.Signature[40] ^= 1 }), authority, server, from, tol, ErrCertificateSignature},
		{"extended window", tampered(func(c *Certificate) { c.NotValidAfter += 3600 }), authority, server, from, tol, ErrCertificateSignature},
		{"version 1", tampered(func(c *Certificate) { c.Version = 1 }), authority, server, from, tol, ErrCertificateVersion},
	} {
		err := tc.cert.Verify(tc.authority, tc.server, tc.now, tc.tolerance)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestCertificateTimeErrorFields(t *testing.T) {
	cert, authority, server := issueTestCertificate(t)
	now := testNow.Add(2 * time.Hour)
	err := cert.Verify(authority, server, now, time.Minute)
	var te *CertificateTimeError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *CertificateTimeError", err)
	}
	want := &CertificateTimeError{
		Err:           ErrCertificateExpired,
		ValidFrom:     testNow,
		NotValidAfter: testNow.Add(time.Hour),
		Now:           now,
		Tolerance:     time.Minute,
	}
	if diff := cmp.Diff(*want, *te, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("error fields (-want +got):\n%s", diff)
	}
	const msg = "noise: certificate has expired: valid from 2026-03-14T15:09:26Z until 2026-03-14T16:09:26Z, now 2026-03-14T17:09:26Z, clock-skew tolerance 1m0s"
	if err.Error() != msg {
		t.Errorf("message = %q, want %q", err.Error(), msg)
	}
}

func TestIssueCertificateClampsTimes(t *testing.T) {
	cert, _, server := issueTestCertificate(t)
	sk, _, err := GenerateAuthorityKeyPair(seeded(22))
	if err != nil {
		t.Fatal(err)
	}
	cert, err = IssueCertificate(sk, server, time.Unix(-5, 0), time.Unix(1<<40, 0), seeded(23))
	if err != nil {
		t.Fatal(err)
	}
	if cert.ValidFrom != 0 || cert.NotValidAfter != 1<<32-1 {
		t.Errorf("window = [%d, %d], want [0, %d]", cert.ValidFrom, cert.NotValidAfter, uint32(1<<32-1))
	}
}
