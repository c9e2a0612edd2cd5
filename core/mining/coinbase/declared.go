package coinbase

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire/v2"
)

// Declared is a coinbase as DeclareMiningJob carries it (§6.4.4: the
// complete serialization, BIP141 fields kept, split around the
// extranonce), in the fields SetCustomMiningJob repeats (§5.3.18).
type Declared struct {
	TxVersion uint32
	// ScriptSigPrefix is the scriptSig before the extranonce, which ends
	// the scriptSig (as FromCustomJob builds it): SetCustomMiningJob's
	// coinbase_prefix.
	ScriptSigPrefix []byte
	ExtranonceSize  int
	Sequence        uint32
	// Outputs is coinbase_tx_outputs: a CompactSize count, then the outputs.
	Outputs  []byte
	Locktime uint32
	SegWit   bool
}

// ParseDeclared parses a declared coinbase's prefix and suffix: one input
// spending nothing, a scriptSig of 2 to 100 bytes whose last ExtranonceSize
// bytes are the extranonce (at most 32), the outputs, and for a SegWit
// coinbase its witness, then the locktime, with no byte left over. Errors
// wrap ErrMalformed, ErrOutputs or ErrExtranonceSize and say what was wrong.
func ParseDeclared(prefix, suffix []byte) (*Declared, error) {
	r := bytes.NewReader(prefix)
	var d Declared
	if err := binary.Read(r, binary.LittleEndian, &d.TxVersion); err != nil {
		return nil, fmt.Errorf("%w: prefix of %d bytes has no version", ErrMalformed, len(prefix))
	}
	if len(prefix) >= 6 && prefix[4] == 0x00 {
		if prefix[5] != 0x01 {
			return nil, fmt.Errorf("%w: BIP141 flag %#x", ErrMalformed, prefix[5])
		}
		d.SegWit = true
		r.Seek(6, 0)
	}
	if n, err := wire.ReadVarInt(r, 0); err != nil || n != 1 {
		return nil, fmt.Errorf("%w: input count %d (%v), want 1", ErrMalformed, n, err)
	}
	var prevOut [36]byte
	if _, err := io.ReadFull(r, prevOut[:]); err != nil {
		return nil, fmt.Errorf("%w: truncated input", ErrMalformed)
	}
	if prevOut != nullPrevOut {
		return nil, fmt.Errorf("%w: the input spends %x, not nothing", ErrMalformed, prevOut)
	}
	size, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: scriptSig length: %w", ErrMalformed, err)
	}
	switch {
	case size > MaxScriptSigSize:
		return nil, fmt.Errorf("%w: %d bytes", ErrScriptSigTooLong, size)
	case size < MinScriptSigSize:
		return nil, fmt.Errorf("%w: %d bytes", ErrScriptSigShort, size)
	}
	d.ScriptSigPrefix = prefix[len(prefix)-r.Len():]
	d.ExtranonceSize = int(size) - len(d.ScriptSigPrefix)
	if d.ExtranonceSize < 0 || d.ExtranonceSize > MaxExtranonceSize {
		return nil, fmt.Errorf("%w: the scriptSig of %d bytes leaves %d for the extranonce after the prefix's %d, want 0 to %d",
			ErrExtranonceSize, size, d.ExtranonceSize, len(d.ScriptSigPrefix), MaxExtranonceSize)
	}

	if len(suffix) < 4+1+4 {
		return nil, fmt.Errorf("%w: suffix of %d bytes", ErrMalformed, len(suffix))
	}
	d.Sequence = binary.LittleEndian.Uint32(suffix)
	r = bytes.NewReader(suffix[4:])
	nOut, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: output count: %w", ErrOutputs, err)
	}
	if nOut == 0 || nOut > uint64(len(suffix)/9) {
		return nil, fmt.Errorf("%w: %d outputs in a suffix of %d bytes", ErrOutputs, nOut, len(suffix))
	}
	for i := uint64(0); i < nOut; i++ {
		if err := skip(r, 8); err != nil {
			return nil, fmt.Errorf("%w: output %d value", ErrOutputs, i)
		}
		if err := skipVarBytes(r); err != nil {
			return nil, fmt.Errorf("%w: output %d script", ErrOutputs, i)
		}
	}
	end := len(suffix) - r.Len()
	d.Outputs = suffix[4:end]
	if _, err := ParseOutputs(d.Outputs); err != nil {
		return nil, err
	}
	if d.SegWit {
		items, err := wire.ReadVarInt(r, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: witness item count: %w", ErrMalformed, err)
		}
		for i := uint64(0); i < items; i++ {
			if err := skipVarBytes(r); err != nil {
				return nil, fmt.Errorf("%w: witness item %d", ErrMalformed, i)
			}
		}
	}
	if r.Len() != 4 {
		return nil, fmt.Errorf("%w: %d bytes after the outputs and witness, want the 4-byte locktime", ErrMalformed, r.Len())
	}
	d.Locktime = binary.LittleEndian.Uint32(suffix[len(suffix)-4:])
	return &d, nil
}

// nullPrevOut is what a coinbase input spends: the zero hash, index 0xffffffff.
var nullPrevOut = func() (b [36]byte) {
	binary.LittleEndian.PutUint32(b[32:], 0xffffffff)
	return b
}()

// BIP34Height reads the block height that BIP34 puts first in a coinbase
// scriptSig, as Bitcoin Core writes it (CScript() << height: OP_0, OP_1 to
// OP_16, or a minimal push of the little-endian script number). It returns
// that push and the height, or -1 if prefix does not start with one.
func BIP34Height(prefix []byte) ([]byte, int64) {
	if len(prefix) == 0 {
		return nil, -1
	}
	switch op := prefix[0]; {
	case op == 0x00:
		return prefix[:1], 0
	case op >= 0x51 && op <= 0x60:
		return prefix[:1], int64(op - 0x50)
	case op >= 1 && op <= 5 && len(prefix) > int(op):
		num := prefix[1 : 1+op]
		if num[len(num)-1]&0x80 != 0 {
			return nil, -1 // negative: not a height
		}
		var h int64
		for i := len(num) - 1; i >= 0; i-- {
			h = h<<8 | int64(num[i])
		}
		return prefix[:1+op], h
	}
	return nil, -1
}
