package noise

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestAuthorityKeySpecVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/sv2_messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		AuthorityKeys []struct {
			RawKeyHex   string `json:"raw_key_hex"`
			Base58Check string `json:"base58check"`
		} `json:"authority_keys"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.AuthorityKeys) == 0 {
		t.Fatal("no authority key vectors")
	}
	for _, v := range file.AuthorityKeys {
		want := PublicKey(unhex(t, v.RawKeyHex))
		if got := want.String(); got != v.Base58Check {
			t.Errorf("String() = %s, want %s", got, v.Base58Check)
		}
		got, err := ParsePublicKey(v.Base58Check)
		if err != nil {
			t.Fatalf("ParsePublicKey(%s): %v", v.Base58Check, err)
		}
		if got != want {
			t.Errorf("ParsePublicKey(%s) = %x, want %x", v.Base58Check, got, want)
		}
	}
}

// TestSRIConfigKeyPair uses the authority key pair of SRI's example pool
// configs (authority_secret_key / authority_public_key), so that config
// files written for SRI work here unchanged.
func TestSRIConfigKeyPair(t *testing.T) {
	const (
		secret = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n"
		public = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
	)
	sk, err := ParseSecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := sk.PublicKey().String(); got != public {
		t.Errorf("public key = %s, want %s", got, public)
	}
	if got := FormatSecretKey(sk); got != secret {
		t.Errorf("FormatSecretKey = %s, want %s", got, secret)
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	valid, err := NewPublicKey(unhex(t, "76637000979c1c11af0c300bcd8c7fe48610fce9b9c11e3daee35ae0b08a7455"))
	if err != nil {
		t.Fatal(err)
	}
	withPrefix := func(prefix []byte, key []byte) string {
		return base58CheckEncode(append(append([]byte(nil), prefix...), key...))
	}
	// x = 5 has no curve point: 5^3 + 7 = 132 is not a square mod p.
	notOnCurve := make([]byte, 32)
	notOnCurve[31] = 5
	if validXOnly((*[32]byte)(notOnCurve)) {
		t.Fatal("test key is on the curve after all")
	}

	s := valid.String()
	badChecksum := s[:len(s)-1] + string(nextBase58(s[len(s)-1]))

	all := []error{ErrKeyBase58, ErrKeyChecksum, ErrKeyLength, ErrKeyVersion, ErrKeyNotOnCurve}
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"bad checksum", badChecksum, ErrKeyChecksum},
		{"not base58", "0" + s[1:], ErrKeyBase58},
		{"empty", "", ErrKeyLength},
		{"version 2", withPrefix([]byte{2, 0}, valid[:]), ErrKeyVersion},
		{"big-endian version", withPrefix([]byte{0, 1}, valid[:]), ErrKeyVersion},
		{"no prefix", base58CheckEncode(valid[:]), ErrKeyLength},
		{"31-byte key", withPrefix([]byte{1, 0}, valid[:31]), ErrKeyLength},
		{"33-byte key", withPrefix([]byte{1, 0}, append(valid[:], 0)), ErrKeyLength},
		{"not on curve", withPrefix([]byte{1, 0}, notOnCurve), ErrKeyNotOnCurve},
		{"x >= p", withPrefix([]byte{1, 0}, unhex(t, strings.Repeat("ff", 32))), ErrKeyNotOnCurve},
		{"too long", strings.Repeat("2", 1000), ErrKeyLength},
	} {
		_, err := ParsePublicKey(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		for _, other := range all {
			if other != tc.want && errors.Is(err, other) {
				t.Errorf("%s: err %v also matches %v", tc.name, err, other)
			}
		}
	}
}

// nextBase58 returns another base58 digit, to corrupt a string while
// keeping it decodable.
func nextBase58(c byte) byte {
	i := strings.IndexByte(base58Alphabet, c)
	return base58Alphabet[(i+1)%len(base58Alphabet)]
}

func TestParseSecretKeyErrors(t *testing.T) {
	n := unhex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	nMinus1 := unhex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")
	if _, err := ParseSecretKey(base58CheckEncode(nMinus1)); err != nil {
		t.Errorf("n-1 rejected: %v", err)
	}
	valid := base58CheckEncode(nMinus1)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"zero", base58CheckEncode(make([]byte, 32)), ErrSecretKeyRange},
		{"curve order", base58CheckEncode(n), ErrSecretKeyRange},
		{"31 bytes", base58CheckEncode(nMinus1[:31]), ErrKeyLength},
		{"bad checksum", valid[:len(valid)-1] + string(nextBase58(valid[len(valid)-1])), ErrKeyChecksum},
		{"not base58", "l" + valid[1:], ErrKeyBase58},
	} {
		if _, err := ParseSecretKey(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSecretKeyIsRedacted(t *testing.T) {
	sk, _, err := GenerateAuthorityKeyPair(seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	b := sk.Bytes()
	secrets := []string{FormatSecretKey(sk), hex.EncodeToString(b[:]), fmt.Sprint(b[0], " ", b[1])}
	static, err := NewStaticKey(sk, seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ResponderConfig{AuthorityKey: &sk, StaticKey: static}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{sk, &sk, cfg, &cfg, []SecretKey{sk}, static, *static} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range secrets {
				if strings.Contains(out, secret) {
					t.Errorf("Sprintf(%q, %T) = %q leaks the key", verb, v, out)
				}
			}
		}
	}
}

func TestKeyTextRoundTrip(t *testing.T) {
	sk, pub, err := GenerateAuthorityKeyPair(seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	if sk.PublicKey() != pub {
		t.Fatal("GenerateAuthorityKeyPair returned mismatched keys")
	}
	type config struct {
		Secret SecretKey `json:"authority_secret_key"`
		Public PublicKey `json:"authority_public_key"`
	}
	out, err := json.Marshal(config{sk, pub})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"authority_secret_key":%q,"authority_public_key":%q}`, FormatSecretKey(sk), pub)
	if string(out) != want {
		t.Errorf("JSON = %s, want %s", out, want)
	}
	var back config
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Secret != sk || back.Public != pub {
		t.Error("keys changed in a JSON round trip")
	}
	if _, err := json.Marshal(config{}); !errors.Is(err, ErrSecretKeyRange) {
		t.Errorf("marshaling an unset secret key: err = %v, want %v", err, ErrSecretKeyRange)
	}
	if err := json.Unmarshal([]byte(`{"authority_public_key":"0OIl"}`), &back); !errors.Is(err, ErrKeyBase58) {
		t.Errorf("unmarshaling a bad public key: err = %v, want %v", err, ErrKeyBase58)
	}
}

func TestGenerateAuthorityKeyPairDeterministic(t *testing.T) {
	sk1, pub1, err := GenerateAuthorityKeyPair(seeded(10))
	if err != nil {
		t.Fatal(err)
	}
	sk2, pub2, err := GenerateAuthorityKeyPair(seeded(10))
	if err != nil {
		t.Fatal(err)
	}
	sk3, _, err := GenerateAuthorityKeyPair(seeded(11))
	if err != nil {
		t.Fatal(err)
	}
	if sk1 != sk2 || pub1 != pub2 {
		t.Error("same seed gave different key pairs")
	}
	if sk1 == sk3 {
		t.Error("different seeds gave the same key")
	}
	if _, err := NewPublicKey(pub1[:]); err != nil {
		t.Errorf("generated public key is invalid: %v", err)
	}
}
