package noise

import (
	"github.com/btcsuite/btcd/btcec/v2/ellswift"

	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

func TestEllSwiftDecodeVectors(t *testing.T) {
	for i, v := range readCSV(t, "bip324_ellswift_decode.csv") {
		enc := [64]byte(unhex(t, v["ellswift"]))
		x, err := ellswiftDecode(&enc)
		if err != nil {
			t.Fatalf("vector %d (%s): %v", i, v["comment"], err)
		}
		if got := hex.EncodeToString(ptr(x.bytes())[:]); got != v["x"] {
			t.Errorf("vector %d (%s): x = %s, want %s", i, v["comment"], got, v["x"])
		}
	}
}

func TestV2ECDHVectors(t *testing.T) {
	for i, v := range readCSV(t, "bip324_v2_ecdh.csv") {
		priv := unhex(t, v["priv_ours"])
		ours := unhex(t, v["ellswift_ours"])
		theirs := unhex(t, v["ellswift_theirs"])
		initiator := v["initiating"] == "1"

		var d btcec.ModNScalar
		d.SetByteSlice(priv)
		x, err := ellswiftECDHXOnly(&d, (*[64]byte)(theirs))
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if got := hex.EncodeToString(x[:]); got != v["x_shared"] {
			t.Errorf("vector %d: x_shared = %s, want %s", i, got, v["x_shared"])
		}

		shared, err := EllSwiftDH{Initiator: initiator}.DH(append(priv, ours...), theirs)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if got := hex.EncodeToString(shared); got != v["shared_secret"] {
			t.Errorf("vector %d: shared_secret = %s, want %s", i, got, v["shared_secret"])
		}
	}
}

func TestEllSwiftEncodeRoundTrip(t *testing.T) {
	rng := seeded(1)
	for i := range 200 {
		k, err := GenerateStaticKey(rng)
		if err != nil {
			t.Fatal(err)
		}
		enc := k.EllSwift()
		x, err := ellswiftDecode(&enc)
		if err != nil {
			t.Fatal(err)
		}
		if pub := k.PublicKey(); x.bytes() != [32]byte(pub) {
			t.Fatalf("key %d: encoding decodes to %x, want %x", i, x.bytes(), pub)
		}
	}
}

// TestEllSwiftInverseCases checks the raw inverse, whose mistakes the
// encoder's final round-trip check would otherwise hide: every t it returns
// must decode back to x, and each of the eight cases must sometimes succeed.
func TestEllSwiftInverseCases(t *testing.T) {
	rng := seeded(2)
	var succeeded [8]int
	var buf [32]byte
	for range 300 {
		sk, err := generateSecretKey(rng)
		if err != nil {
			t.Fatal(err)
		}
		pub := sk.PublicKey()
		x := feBytes(pub[:])
		rng.Read(buf[:])
		u := feBytes(buf[:])
		for c := range 8 {
			var tt fe
			if !xswiftecInv(&tt, u, x, c) {
				continue
			}
			succeeded[c]++
			if got, err := ellswift.XSwiftEC(toFV(u), toFV(&tt)); err != nil || *fromFV(got) != *x {
				t.Fatalf("case %d: t does not decode back to x (btcec)", c)
			}
			var x2 swiftX
			if !xswiftec(u, &tt, &x2) {
				t.Fatalf("case %d: t does not decode", c)
			}
			var got fe
			if got.inv(&x2.d).mul(&got, &x2.n); !got.equal(x) {
				t.Fatalf("case %d: t does not decode back to x", c)
			}
		}
	}
	for c, n := range succeeded {
		if n == 0 {
			t.Errorf("case %d never succeeded", c)
		}
	}
}

func TestEllSwiftEncodeDeterministic(t *testing.T) {
	a, err := GenerateStaticKey(seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateStaticKey(seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	if a.EllSwift() != b.EllSwift() || a.SecretKey() != b.SecretKey() {
		t.Error("same seed gave different static keys")
	}
}

func TestEllSwiftEncodeRandFailure(t *testing.T) {
	sk, _, err := GenerateAuthorityKeyPair(seeded(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStaticKey(sk, bytes.NewReader(nil)); err == nil {
		t.Error("NewStaticKey succeeded with an empty randomness source")
	}
}

func TestEllSwiftDHRejectsBadSizes(t *testing.T) {
	k, err := GenerateStaticKey(seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	key := k.dhKey()
	dh := EllSwiftDH{}
	for _, tc := range []struct {
		name      string
		priv, pub []byte
		wantErr   error
	}{
		{"short private", key.Private[:95], key.Public, ErrKeyLength},
		{"short public", key.Private, key.Public[:63], ErrKeyLength},
		{"zero secret", append(make([]byte, 32), key.Public...), key.Public, ErrSecretKeyRange},
	} {
		if _, err := dh.DH(tc.priv, tc.pub); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
}

// TestEllSwiftDHRoles checks that the two roles agree, and that the result
// depends on the role, as BIP324 intends.
func TestEllSwiftDHRoles(t *testing.T) {
	rng := seeded(6)
	a, err := EllSwiftDH{}.GenerateKeypair(rng)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EllSwiftDH{}.GenerateKeypair(rng)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := EllSwiftDH{Initiator: true}.DH(a.Private, b.Public)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := EllSwiftDH{Initiator: false}.DH(b.Private, a.Public)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ab, ba) {
		t.Fatalf("initiator and responder disagree: %x vs %x", ab, ba)
	}
	wrongRole, err := EllSwiftDH{Initiator: true}.DH(b.Private, a.Public)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ab, wrongRole) {
		t.Error("DH output does not depend on the role")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestBrokenRandomFails checks that a source of only zeros, which can give
// neither a key nor an encoding, makes key generation fail instead of hang.
func TestBrokenRandomFails(t *testing.T) {
	if _, _, err := GenerateAuthorityKeyPair(zeroReader{}); !errors.Is(err, ErrRandom) {
		t.Errorf("GenerateAuthorityKeyPair: err = %v, want %v", err, ErrRandom)
	}
	sk, _, err := GenerateAuthorityKeyPair(seeded(12))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStaticKey(sk, zeroReader{}); !errors.Is(err, ErrRandom) {
		t.Errorf("NewStaticKey: err = %v, want %v", err, ErrRandom)
	}
	if _, err := NewInitiator(InitiatorConfig{Rand: zeroReader{}}); err != nil {
		t.Fatal(err)
	}
	i, _ := NewInitiator(InitiatorConfig{Rand: zeroReader{}})
	if _, err := i.Start(); !errors.Is(err, ErrRandom) {
		t.Errorf("Start: err = %v, want %v", err, ErrRandom)
	}
}
