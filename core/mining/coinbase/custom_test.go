package coinbase

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/sv2"
)

// customJobFor returns the SetCustomMiningJob a job declarator client sends
// for template t with the pool's cfg, laid out as SRI does: coinbase_prefix
// is the template's prefix, the tag push and the extranonce's push opcode;
// coinbase_tx_outputs the pool's outputs then the template's, count first.
func customJobFor(t *sv2.NewTemplate, cfg Config, extranonceSize int) *sv2.SetCustomMiningJob {
	prefix := appendPush(append([]byte(nil), t.CoinbasePrefix...), cfg.Tag)
	prefix = append(prefix, byte(extranonceSize))
	outs, _ := payouts(cfg.Outputs, cfg.Weights, t.CoinbaseTxValueRemaining)
	body := appendVarInt(nil, uint64(len(outs))+uint64(t.CoinbaseTxOutputsCount))
	for _, o := range outs {
		body = appendTxOut(body, &o)
	}
	body = append(body, t.CoinbaseTxOutputs...)
	return &sv2.SetCustomMiningJob{Version: t.Version, CoinbaseTxVersion: t.CoinbaseTxVersion, CoinbasePrefix: prefix,
		CoinbaseTxInputNSequence: t.CoinbaseTxInputSequence, CoinbaseTxOutputs: body, CoinbaseTxLocktime: t.CoinbaseTxLocktime}
}

// TestFromCustomJobMatchesTemplate: a custom job that describes the coinbase
// New builds gives exactly the same coinbase, in both forms.
func TestFromCustomJobMatchesTemplate(t *testing.T) {
	cfg := Config{Outputs: []*wire.TxOut{{Value: 100, PkScript: payTo(1)}, {PkScript: payTo(2)}}, Tag: []byte("/jd/")}
	for _, segwit := range []bool{false, true} {
		tmpl := template([]byte{0x03, 0x10, 0x27, 0x00}, segwit)
		want, err := New(tmpl, cfg, 8)
		if err != nil {
			t.Fatal(err)
		}
		got, outs, err := FromCustomJob(customJobFor(tmpl, cfg, 8), 8)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Prefix(), want.Prefix()) || !bytes.Equal(got.Suffix(), want.Suffix()) ||
			!bytes.Equal(got.FullPrefix(), want.FullPrefix()) || !bytes.Equal(got.FullSuffix(), want.FullSuffix()) ||
			got.SegWit() != segwit || got.ExtranonceSize() != 8 {
			t.Fatalf("segwit=%v: custom coinbase differs from the template's", segwit)
		}
		if len(outs) != 2+int(tmpl.CoinbaseTxOutputsCount) || outs[0].Value != 5000 /* 100 and the remainder */ || !bytes.Equal(outs[1].PkScript, payTo(2)) {
			t.Fatalf("outputs %+v", outs)
		}
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(got.AppendTx(nil, make([]byte, 8)))); err != nil {
			t.Fatal(err)
		}
		if sv2.U256(tx.TxHash()) != got.TxID(make([]byte, 8)) {
			t.Fatal("txid differs from btcd's")
		}
	}
}

func TestFromCustomJobErrors(t *testing.T) {
	cfg := Config{Outputs: []*wire.TxOut{{PkScript: payTo(1)}}}
	outputs := func(b []byte) func(m *sv2.SetCustomMiningJob) {
		return func(m *sv2.SetCustomMiningJob) { m.CoinbaseTxOutputs = b }
	}
	value := func(v uint64) []byte {
		return append(binary.LittleEndian.AppendUint64([]byte{1}, v), 0)
	}
	cases := []struct {
		name string
		mod  func(*sv2.SetCustomMiningJob)
		size int
		want error
	}{
		{"scriptSig of 100 bytes fits", func(m *sv2.SetCustomMiningJob) { m.CoinbasePrefix = make([]byte, 92) }, 8, nil},
		{"scriptSig of 101 bytes", func(m *sv2.SetCustomMiningJob) { m.CoinbasePrefix = make([]byte, 93) }, 8, ErrScriptSigTooLong},
		{"scriptSig of 1 byte", func(m *sv2.SetCustomMiningJob) { m.CoinbasePrefix = []byte{1} }, 0, ErrScriptSigShort},
		{"extranonce over 32", nil, 33, ErrExtranonceSize},
		{"no output count", outputs(nil), 8, ErrOutputs},
		{"count beyond the bytes", outputs([]byte{0xfd, 0xff, 0xff}), 8, ErrOutputs},
		{"truncated output", outputs(value(1)[:5]), 8, ErrOutputs},
		{"script longer than the bytes", outputs(append(value(1)[:9], 5, 1)), 8, ErrOutputs},
		{"trailing bytes", outputs(append(value(1), 0)), 8, ErrOutputs},
		{"value over 21 million bitcoin", outputs(value(maxMoney + 1)), 8, ErrOutputs},
		{"negative value", outputs(value(1 << 63)), 8, ErrOutputs},
		{"values summing over 21 million bitcoin", outputs(append(append([]byte{2}, value(maxMoney)[1:]...), value(1)[1:]...)), 8, ErrOutputs},
		{"no outputs at all is well-formed", outputs([]byte{0}), 8, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := customJobFor(template([]byte{1, 1}, true), cfg, 8)
			if c.mod != nil {
				c.mod(m)
			}
			_, _, err := FromCustomJob(m, c.size)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzParseOutputs(f *testing.F) {
	f.Add(customJobFor(template([]byte{1, 1}, true), Config{Outputs: []*wire.TxOut{{PkScript: payTo(1)}}}, 8).CoinbaseTxOutputs)
	f.Add([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		outs, err := ParseOutputs(b)
		if err != nil {
			return
		}
		// What parses re-serializes to the same bytes.
		re := appendVarInt(nil, uint64(len(outs)))
		for _, o := range outs {
			re = appendTxOut(re, &o)
		}
		if !bytes.Equal(re, b) { // btcd refuses non-canonical counts, so the bytes must match
			t.Fatalf("%x re-serializes as %x", b, re)
		}
	})
}
