package coinbase

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/sv2"
)

// TestParseDeclaredRoundTrip: the declared form of a custom job's coinbase
// parses back into the job's fields, SegWit or not.
func TestParseDeclaredRoundTrip(t *testing.T) {
	cfg := Config{Outputs: []*wire.TxOut{{Value: 100, PkScript: payTo(1)}}, Tag: []byte("/jd/")}
	for _, segwit := range []bool{false, true} {
		m := customJobFor(template([]byte{0x03, 0x10, 0x27, 0x00}, segwit), cfg, 12)
		cb, _, err := FromCustomJob(m, 12)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseDeclared(cb.FullPrefix(), cb.FullSuffix())
		if err != nil {
			t.Fatalf("segwit=%v: %v", segwit, err)
		}
		if d.TxVersion != m.CoinbaseTxVersion || !bytes.Equal(d.ScriptSigPrefix, m.CoinbasePrefix) || d.ExtranonceSize != 12 ||
			d.Sequence != m.CoinbaseTxInputNSequence || !bytes.Equal(d.Outputs, m.CoinbaseTxOutputs) ||
			d.Locktime != m.CoinbaseTxLocktime || d.SegWit != segwit {
			t.Errorf("segwit=%v: parsed %+v from job %+v", segwit, d, m)
		}
	}
}

func TestParseDeclaredErrors(t *testing.T) {
	cfg := Config{Outputs: []*wire.TxOut{{Value: 100, PkScript: payTo(1)}}}
	cb, _, err := FromCustomJob(customJobFor(template([]byte{0x01, 0x65}, true), cfg, 8), 8)
	if err != nil {
		t.Fatal(err)
	}
	p, s := cb.FullPrefix(), cb.FullSuffix()
	mod := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	for name, tc := range map[string]struct {
		prefix, suffix []byte
		want           error
	}{
		"empty":              {nil, nil, ErrMalformed},
		"bad flag":           {mod(p, 5, 2), s, ErrMalformed},
		"two inputs":         {mod(p, 6, 2), s, ErrMalformed},
		"spends something":   {mod(p, 7, 1), s, ErrMalformed},
		"truncated input":    {p[:20], s, ErrMalformed},
		"scriptSig too long": {mod(p, 43, 101), s, ErrScriptSigTooLong},
		"scriptSig short":    {mod(p, 43, 1), s, ErrScriptSigShort},
		"extranonce > 32":    {mod(p, 43, byte(len(p)-44+33)), s, ErrExtranonceSize},
		"prefix past it":     {append(bytes.Clone(p), make([]byte, 20)...), s, ErrExtranonceSize},
		"short suffix":       {p, s[:5], ErrMalformed},
		"no outputs":         {p, mod(s, 4, 0), ErrOutputs},
		"absurd outputs":     {p, append(append(bytes.Clone(s[:4]), 0xfe, 0xff, 0xff, 0xff, 0x7f), s[5:]...), ErrOutputs},
		"truncated output":   {p, s[:12], ErrOutputs},
		"byte left over":     {p, append(bytes.Clone(s), 0), ErrMalformed},
		"no locktime":        {p, s[:len(s)-1], ErrMalformed},
	} {
		if _, err := ParseDeclared(tc.prefix, tc.suffix); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func FuzzParseDeclared(f *testing.F) {
	cfg := Config{Outputs: []*wire.TxOut{{Value: 100, PkScript: payTo(1)}}, Tag: []byte("/t/")}
	for _, segwit := range []bool{false, true} {
		cb, _, _ := FromCustomJob(customJobFor(template([]byte{0x01, 0x65}, segwit), cfg, 8), 8)
		f.Add(cb.FullPrefix(), cb.FullSuffix())
	}
	f.Fuzz(func(t *testing.T, prefix, suffix []byte) {
		d, err := ParseDeclared(prefix, suffix)
		if err != nil {
			return
		}
		// Without BIP141 fields, what parses rebuilds into the same bytes.
		m := &sv2.SetCustomMiningJob{CoinbaseTxVersion: d.TxVersion, CoinbasePrefix: d.ScriptSigPrefix,
			CoinbaseTxInputNSequence: d.Sequence, CoinbaseTxOutputs: d.Outputs, CoinbaseTxLocktime: d.Locktime}
		if cb, _, err := FromCustomJob(m, d.ExtranonceSize); err == nil && !d.SegWit && !cb.SegWit() &&
			(!bytes.Equal(cb.FullPrefix(), prefix) || !bytes.Equal(cb.FullSuffix(), suffix)) {
			t.Fatalf("rebuilt %x|%x from %x|%x", cb.FullPrefix(), cb.FullSuffix(), prefix, suffix)
		}
		if d.ExtranonceSize < 0 || d.ExtranonceSize > MaxExtranonceSize || len(d.ScriptSigPrefix)+d.ExtranonceSize > MaxScriptSigSize {
			t.Fatalf("out of range: %+v", d)
		}
		if _, err := ParseOutputs(d.Outputs); err != nil {
			t.Fatalf("outputs accepted that ParseOutputs refuses: %v", err)
		}
	})
}
