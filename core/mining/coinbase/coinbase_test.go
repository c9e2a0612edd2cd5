package coinbase

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/sv2"
)

func payTo(b byte) []byte { return append([]byte{0x00, 0x14}, bytes.Repeat([]byte{b}, 20)...) }

func template(prefix []byte, segwit bool) *sv2.NewTemplate {
	t := &sv2.NewTemplate{TemplateID: 1, Version: 0x20000000, CoinbaseTxVersion: 2, CoinbasePrefix: prefix,
		CoinbaseTxInputSequence: 0xfffffffe, CoinbaseTxValueRemaining: 5000, CoinbaseTxLocktime: 7}
	if segwit {
		script := WitnessCommitmentScript(nil)
		t.CoinbaseTxOutputs = append(binary.LittleEndian.AppendUint64(nil, 0), byte(len(script)))
		t.CoinbaseTxOutputs = append(t.CoinbaseTxOutputs, script...)
		t.CoinbaseTxOutputsCount = 1
	}
	return t
}

func TestNewErrors(t *testing.T) {
	outs := []*wire.TxOut{{PkScript: payTo(1)}}
	cases := []struct {
		name string
		t    *sv2.NewTemplate
		cfg  Config
		size int
		want error
	}{
		{"scriptSig 101 bytes", template(make([]byte, 8), false), Config{Outputs: outs, Tag: make([]byte, 59)}, 32, ErrScriptSigTooLong},
		{"scriptSig 100 bytes fits", template(make([]byte, 8), false), Config{Outputs: outs, Tag: make([]byte, 58)}, 32, nil},
		{"scriptSig too short", template(nil, false), Config{Outputs: outs}, 0, ErrScriptSigShort},
		{"extranonce over 32", template([]byte{1, 1}, false), Config{Outputs: outs}, 33, ErrExtranonceSize},
		{"no outputs", template([]byte{1, 1}, false), Config{}, 4, ErrNoOutputs},
		{"outputs exceed value", template([]byte{1, 1}, false),
			Config{Outputs: []*wire.TxOut{{PkScript: payTo(1)}, {Value: 5001, PkScript: payTo(2)}}}, 4, ErrValue},
		{"truncated template outputs", func() *sv2.NewTemplate {
			t := template([]byte{1, 1}, true)
			t.CoinbaseTxOutputs = t.CoinbaseTxOutputs[:20]
			return t
		}(), Config{Outputs: outs}, 4, ErrOutputs},
		{"extra template output bytes", func() *sv2.NewTemplate {
			t := template([]byte{1, 1}, true)
			t.CoinbaseTxOutputs = append(t.CoinbaseTxOutputs, 0)
			return t
		}(), Config{Outputs: outs}, 4, ErrOutputs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.t, c.cfg, c.size)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestValueSplit(t *testing.T) {
	cfg := Config{Outputs: []*wire.TxOut{{Value: 100, PkScript: payTo(1)}, {Value: 900, PkScript: payTo(2)}}}
	cb, err := New(template([]byte{1, 1}, true), cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(cb.AppendTx(nil, make([]byte, 4)))); err != nil {
		t.Fatal(err)
	}
	if len(tx.TxOut) != 3 || tx.TxOut[0].Value != 4100 || tx.TxOut[1].Value != 900 || tx.TxOut[2].Value != 0 {
		t.Fatalf("outputs %v %v %v", tx.TxOut[0].Value, tx.TxOut[1].Value, tx.TxOut[2].Value)
	}
	if cfg.Outputs[0].Value != 100 {
		t.Fatal("New changed the caller's outputs")
	}
	if len(tx.TxIn[0].Witness) != 1 || !bytes.Equal(tx.TxIn[0].Witness[0], make([]byte, 32)) {
		t.Fatal("SegWit coinbase without the 32-byte zero witness")
	}
}

// FuzzCoinbase builds coinbases from random templates and extranonces, strips and
// reassembles them, and checks that every route gives btcd's txid.
func FuzzCoinbase(f *testing.F) {
	f.Add([]byte{0x03, 0x10, 0x27, 0x00}, []byte("/pool/"), []byte{1, 2, 3, 4, 5, 6, 7, 8}, true, uint64(625_000_000), uint32(2), uint32(0))
	f.Add([]byte{0x01, 0x01}, []byte{}, []byte{}, false, uint64(0), uint32(1), uint32(500))
	f.Add(bytes.Repeat([]byte{0x4c}, 40), bytes.Repeat([]byte{'x'}, 20), make([]byte, 32), true, uint64(1<<62), uint32(0xffffffff), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, prefix, tag, extranonce []byte, segwit bool, value uint64, version, locktime uint32) {
		tmpl := template(prefix, segwit)
		tmpl.CoinbaseTxValueRemaining = value % (21e6 * 1e8)
		tmpl.CoinbaseTxVersion, tmpl.CoinbaseTxLocktime = version, locktime
		cb, err := New(tmpl, Config{Outputs: []*wire.TxOut{{PkScript: payTo(3)}}, Tag: tag}, len(extranonce))
		if err != nil {
			return // refused configurations are fine; panics are not
		}
		full := cb.AppendTx(nil, extranonce)
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(full)); err != nil {
			t.Fatalf("btcd cannot parse our coinbase: %v", err)
		}
		want := sv2.U256(tx.TxHash())
		if got := cb.TxID(extranonce); got != want {
			t.Fatalf("TxID %x, btcd %x", got, want)
		}
		p, s, err := StripParts(cb.FullPrefix(), cb.FullSuffix())
		if err != nil {
			t.Fatalf("StripParts: %v", err)
		}
		if !bytes.Equal(p, cb.Prefix()) || !bytes.Equal(s, cb.Suffix()) {
			t.Fatal("StripParts differs from the stripped prefix/suffix")
		}
		if got := TxID(p, extranonce[:len(extranonce)/2], extranonce[len(extranonce)/2:], s); got != want {
			t.Fatalf("reassembled txid %x, btcd %x", got, want)
		}
		var stripped bytes.Buffer
		tx.SerializeNoWitness(&stripped) //nolint:errcheck // bytes.Buffer
		if !bytes.Equal(stripped.Bytes(), cb.AppendStrippedTx(nil, extranonce)) {
			t.Fatal("stripped coinbase differs from btcd's no-witness serialization")
		}
		if tx.HasWitness() != segwit || len(tx.TxIn[0].SignatureScript) > MaxScriptSigSize {
			t.Fatal("witness or scriptSig length wrong")
		}
	})
}

func FuzzStripParts(f *testing.F) {
	cb, _ := New(template([]byte{1, 1}, true), Config{Outputs: []*wire.TxOut{{PkScript: payTo(3)}}}, 4)
	f.Add(cb.FullPrefix(), cb.FullSuffix())
	f.Add([]byte{1, 0, 0, 0, 0, 1}, []byte{0, 0, 0, 0, 0xfd})
	f.Fuzz(func(t *testing.T, prefix, suffix []byte) {
		StripParts(prefix, suffix) //nolint:errcheck // must only not panic
	})
}

func TestWeightedPayouts(t *testing.T) {
	scripts := [][]byte{{0x51}, {0x52}, {0x53}}
	outs := func() []*wire.TxOut {
		o := make([]*wire.TxOut, len(scripts))
		for i, s := range scripts {
			o[i] = wire.NewTxOut(999, s) // ignored with weights
		}
		return o
	}
	tests := []struct {
		value   uint64
		weights []uint64
		want    []int64
	}{
		{5_000_000_000, []uint64{1, 1, 2}, []int64{1_250_000_000, 1_250_000_000, 2_500_000_000}},
		{100, []uint64{1, 1, 1}, []int64{34, 33, 33}}, // the dust goes to the first
		{2_100_000_000_000_000, []uint64{1 << 62, 1 << 62, 1}, nil},
	}
	for _, tt := range tests {
		got, err := payouts(outs(), tt.weights, tt.value)
		if err != nil {
			t.Fatalf("%d by %v: %v", tt.value, tt.weights, err)
		}
		var sum uint64
		for i, o := range got {
			sum += uint64(o.Value)
			if tt.want != nil && o.Value != tt.want[i] {
				t.Errorf("%d by %v: output %d = %d, want %d", tt.value, tt.weights, i, o.Value, tt.want[i])
			}
		}
		if sum != tt.value {
			t.Errorf("%d by %v: outputs sum to %d", tt.value, tt.weights, sum)
		}
	}
	if _, err := payouts(outs(), []uint64{1, 2}, 100); !errors.Is(err, ErrValue) {
		t.Errorf("weights for the wrong number of outputs: %v", err)
	}
	if _, err := payouts(outs(), []uint64{1, 0, 1}, 100); !errors.Is(err, ErrValue) {
		t.Errorf("zero weight: %v", err)
	}
}

func TestWitnessCommitmentPrefix(t *testing.T) {
	// BIP141: OP_RETURN, a 36-byte push, then 0xaa21a9ed; btcd checks blocks
	// against the same bytes.
	if !bytes.Equal([]byte(WitnessCommitmentPrefix), blockchain.WitnessMagicBytes) {
		t.Fatalf("WitnessCommitmentPrefix = %x, btcd's WitnessMagicBytes = %x", WitnessCommitmentPrefix, blockchain.WitnessMagicBytes)
	}
	script := WitnessCommitmentScript(nil)
	if len(script) != 38 || !bytes.HasPrefix(script, []byte(WitnessCommitmentPrefix)) || !isWitnessCommitment(script) {
		t.Fatalf("WitnessCommitmentScript(nil) = %x, want the prefix and a 32-byte commitment", script)
	}
	if isWitnessCommitment(script[:37]) || isWitnessCommitment(append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xee}, make([]byte, 32)...)) {
		t.Fatal("isWitnessCommitment takes a short script or a wrong header")
	}
}

// A coinbase whose suffix a job could not carry (a B0_64K) is refused.
func TestNewRefusesASuffixOverB064K(t *testing.T) {
	tmpl := &sv2.NewTemplate{TemplateID: 1, Version: 0x20000000, CoinbaseTxVersion: 2, CoinbasePrefix: []byte{0x01, 0x65},
		CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 1_000_000}
	outs := make([]*wire.TxOut, 1600) // 1600 × 43 bytes: over 65,535
	weights := make([]uint64, len(outs))
	for i := range outs {
		outs[i], weights[i] = wire.NewTxOut(0, append([]byte{0x51, 0x20}, make([]byte, 32)...)), 1
	}
	if _, err := New(tmpl, Config{Outputs: outs, Weights: weights}, 8); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a coinbase of 1600 outputs: %v, want ErrTooLarge", err)
	}
	if _, err := New(tmpl, Config{Outputs: outs[:1000], Weights: weights[:1000]}, 8); err != nil {
		t.Errorf("a coinbase of 1000 outputs: %v", err)
	}
}
