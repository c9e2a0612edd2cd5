package noise

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	sk, pk, err := GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := GenerateAuthorityKeyPair(nil)
	msg := []byte("a token body")
	sig, err := Sign(sk, "test/v1", msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifySignature(pk, "test/v1", msg, &sig) {
		t.Fatal("a good signature does not verify")
	}
	for name, ok := range map[string]bool{
		"another key":     VerifySignature(other, "test/v1", msg, &sig),
		"another tag":     VerifySignature(pk, "test/v2", msg, &sig),
		"another message": VerifySignature(pk, "test/v1", []byte("a token bodY"), &sig),
		"empty tag":       VerifySignature(pk, "", msg, &sig),
	} {
		if ok {
			t.Errorf("%s: verifies", name)
		}
	}
	bad := sig
	bad[63] ^= 1
	if VerifySignature(pk, "test/v1", msg, &bad) {
		t.Error("a flipped bit verifies")
	}
	if _, err := Sign(sk, "", msg, nil); !errors.Is(err, ErrEmptyTag) {
		t.Errorf("empty tag: %v", err)
	}
	// A certificate's digest is untagged: a token signature never passes as one.
	c, _ := IssueCertificate(sk, pk, time.Unix(1e9, 0), time.Unix(2e9, 0), bytes.NewReader(make([]byte, 32)))
	if VerifySignature(pk, "test/v1", msg, &c.Signature) {
		t.Error("a certificate signature verifies as a message signature")
	}
}
