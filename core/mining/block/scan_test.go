package block

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

func sampleTx(witness bool) []byte {
	tx := wire.NewMsgTx(2)
	in := &wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 3}, SignatureScript: []byte{1, 2}, Sequence: 7}
	if witness {
		in.Witness = wire.TxWitness{{1, 2, 3}, {}}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(&wire.TxOut{Value: 5, PkScript: []byte{0x51}})
	var b bytes.Buffer
	tx.Serialize(&b)
	return b.Bytes()
}

func TestScanTx(t *testing.T) {
	for _, w := range []bool{false, true} {
		raw := sampleTx(w)
		if err := ScanTx(raw); err != nil {
			t.Fatalf("witness=%v: %v", w, err)
		}
		for i := range raw { // every truncation is refused
			if err := ScanTx(raw[:i]); !errors.Is(err, ErrBadTransaction) {
				t.Fatalf("witness=%v, %d of %d bytes: %v", w, i, len(raw), err)
			}
		}
		if err := ScanTx(append(bytes.Clone(raw), 0)); !errors.Is(err, ErrBadTransaction) {
			t.Errorf("a trailing byte: %v", err)
		}
	}
	for name, raw := range map[string][]byte{
		"800,000 inputs":  {2, 0, 0, 0, 0xfe, 0x68, 0x77, 0x0c, 0x00},
		"huge 64-bit":     {2, 0, 0, 0, 0xff, 1, 1, 1, 1, 1, 1, 1, 1},
		"bad flag":        {2, 0, 0, 0, 0, 2, 1},
		"outputs":         append(append([]byte{2, 0, 0, 0, 1}, make([]byte, 36)...), 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x40, 0x76, 0x38, 0x00),
		"script too long": append(append([]byte{2, 0, 0, 0, 1}, make([]byte, 36)...), 0xfd, 0xff, 0xff),
	} {
		if err := ScanTx(raw); !errors.Is(err, ErrBadTransaction) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzScanTx: what ScanTx accepts, btcd decodes, consuming every byte; what
// btcd cannot decode, ScanTx refuses.
func FuzzScanTx(f *testing.F) {
	f.Add(sampleTx(false))
	f.Add(sampleTx(true))
	f.Fuzz(func(t *testing.T, raw []byte) {
		scanErr := ScanTx(raw)
		if scanErr != nil {
			return
		}
		var tx wire.MsgTx
		r := bytes.NewReader(raw)
		if err := tx.Deserialize(r); err != nil || r.Len() != 0 {
			t.Fatalf("ScanTx accepted what btcd refuses (%v, %d left): %x", err, r.Len(), raw)
		}
	})
}
