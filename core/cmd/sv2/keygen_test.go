package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stratumgo/stratum/core/noise"
)

// checkKeyPair checks that secret is a key whose public half is public.
func checkKeyPair(t *testing.T, secret, public string) {
	t.Helper()
	sk, err := noise.ParseSecretKey(secret)
	if err != nil {
		t.Fatalf("secret key %q: %v", secret, err)
	}
	pk, err := noise.ParsePublicKey(public)
	if err != nil {
		t.Fatalf("public key %q: %v", public, err)
	}
	if sk.PublicKey() != pk {
		t.Errorf("secret key %q belongs to %s, not to the printed %s", secret, sk.PublicKey(), public)
	}
}

func TestKeygenText(t *testing.T) {
	var seen []string
	for range 2 {
		r := run(t, sv2Bin, "", "keygen")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 2 || !strings.HasSuffix(r.stdout, "\n") {
			t.Fatalf("want two lines, got %q", r.stdout)
		}
		secret, ok1 := strings.CutPrefix(lines[0], "secret_key: ")
		public, ok2 := strings.CutPrefix(lines[1], "public_key: ")
		if !ok1 || !ok2 {
			t.Fatalf("want secret_key: and public_key: lines, got %q", r.stdout)
		}
		checkKeyPair(t, secret, public)
		seen = append(seen, secret, public)
	}
	if seen[0] == seen[2] || seen[1] == seen[3] {
		t.Errorf("two runs printed the same keys: %q", seen)
	}
}

func TestKeygenJSON(t *testing.T) {
	var seen []map[string]string
	for range 2 {
		r := run(t, sv2Bin, "", "keygen", "--json")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if strings.Count(r.stdout, "\n") != 1 || !strings.HasSuffix(r.stdout, "}\n") {
			t.Fatalf("want one JSON object and a newline, got %q", r.stdout)
		}
		d := json.NewDecoder(strings.NewReader(r.stdout))
		var keys map[string]string
		if err := d.Decode(&keys); err != nil {
			t.Fatalf("%v: %q", err, r.stdout)
		}
		if d.More() {
			t.Fatalf("more than one JSON value: %q", r.stdout)
		}
		if len(keys) != 2 || keys["secret_key"] == "" || keys["public_key"] == "" {
			t.Fatalf("want exactly secret_key and public_key, got %q", r.stdout)
		}
		checkKeyPair(t, keys["secret_key"], keys["public_key"])
		seen = append(seen, keys)
	}
	if seen[0]["secret_key"] == seen[1]["secret_key"] || seen[0]["public_key"] == seen[1]["public_key"] {
		t.Errorf("two runs printed the same keys: %q", seen)
	}
}

func TestKeygenRejectsArguments(t *testing.T) {
	r := run(t, sv2Bin, "", "keygen", "extra")
	if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, one line", r.code, r.stdout, r.stderr)
	}
}

// The example authority key of spec §4.7, which sv2 probe --authority-pubkey
// must accept as pools print it.
func TestSpecAuthorityKeyVector(t *testing.T) {
	const encoded = "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh"
	want, _ := hex.DecodeString("76637000979c1c11af0c300bcd8c7fe48610fce9b9c11e3daee35ae0b08a7455")
	pk, err := noise.ParsePublicKey(encoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pk[:], want) {
		t.Errorf("got %x, want %x", pk, want)
	}
	if pk.String() != encoded {
		t.Errorf("String() = %s, want %s", pk, encoded)
	}
}
