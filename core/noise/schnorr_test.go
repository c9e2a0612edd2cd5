package noise

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

func TestBIP340Vectors(t *testing.T) {
	for _, v := range readCSV(t, "bip340_vectors.csv") {
		id := "vector " + v["index"]
		pub := [32]byte(unhex(t, v["public key"]))
		msg := [32]byte(unhex(t, v["message"]))
		sig := [64]byte(unhex(t, v["signature"]))
		want := v["verification result"] == "TRUE"

		if got := schnorrVerify(&pub, &msg, &sig); got != want {
			t.Errorf("%s: verify = %v, want %v", id, got, want)
		}
		if v["secret key"] == "" {
			continue
		}
		sk, err := NewSecretKey(unhex(t, v["secret key"]))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got := sk.PublicKey(); got != pub {
			t.Errorf("%s: public key = %X, want %X", id, got, pub)
		}
		d := sk.scalar()
		aux := [32]byte(unhex(t, v["aux_rand"]))
		got, err := schnorrSign(&d, &msg, &aux)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got != sig {
			t.Errorf("%s: signature = %X, want %X", id, got, sig)
		}
	}
}

// TestBIP340OutOfRange covers BIP340 vectors 12 and 13: a valid signature
// whose r is replaced by p, or whose s is replaced by n, must not verify.
func TestBIP340OutOfRange(t *testing.T) {
	v := readCSV(t, "bip340_vectors.csv")[1]
	pub := [32]byte(unhex(t, v["public key"]))
	msg := [32]byte(unhex(t, v["message"]))
	sig := [64]byte(unhex(t, v["signature"]))
	if !schnorrVerify(&pub, &msg, &sig) {
		t.Fatal("base vector does not verify")
	}
	p := btcec.S256().P.FillBytes(make([]byte, 32))
	n := btcec.S256().N.FillBytes(make([]byte, 32))

	rIsP := sig
	copy(rIsP[:32], p)
	if schnorrVerify(&pub, &msg, &rIsP) {
		t.Error("signature with r = p verified")
	}
	sIsN := sig
	copy(sIsN[32:], n)
	if schnorrVerify(&pub, &msg, &sIsN) {
		t.Error("signature with s = n verified")
	}
}

func TestSchnorrRoundTrip(t *testing.T) {
	rng := seeded(7)
	for range 20 {
		sk, pub, err := GenerateAuthorityKeyPair(rng)
		if err != nil {
			t.Fatal(err)
		}
		var msg, aux [32]byte
		rng.Read(msg[:])
		rng.Read(aux[:])
		d := sk.scalar()
		sig, err := schnorrSign(&d, &msg, &aux)
		if err != nil {
			t.Fatal(err)
		}
		if !schnorrVerify((*[32]byte)(&pub), &msg, &sig) {
			t.Fatal("fresh signature does not verify")
		}
		msg[0] ^= 1
		if schnorrVerify((*[32]byte)(&pub), &msg, &sig) {
			t.Fatal("signature verified for another message")
		}
	}
}
