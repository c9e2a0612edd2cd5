package coinbase

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/wire/v2"
)

// StripParts removes the BIP141 fields from a coinbase prefix and suffix that
// keep them (DeclareMiningJob's form, §3.7.2), giving the form whose hash is
// the txid (NewExtendedMiningJob's, §3.7.1). Parts without BIP141 fields are
// returned unchanged. The prefix must end where the extranonce starts, so it
// holds the whole input up to the scriptSig's extranonce.
func StripParts(fullPrefix, fullSuffix []byte) (prefix, suffix []byte, err error) {
	if len(fullPrefix) < 6 {
		return nil, nil, fmt.Errorf("%w: prefix of %d bytes", ErrMalformed, len(fullPrefix))
	}
	if fullPrefix[4] != 0x00 {
		return fullPrefix, fullSuffix, nil // no marker: not a witness serialization
	}
	if fullPrefix[5] != 0x01 {
		return nil, nil, fmt.Errorf("%w: BIP141 flag %#x", ErrMalformed, fullPrefix[5])
	}
	prefix = append(append([]byte(nil), fullPrefix[:4]...), fullPrefix[6:]...)

	// suffix: sequence, outputs, witness of the single input, locktime.
	r := bytes.NewReader(fullSuffix)
	if _, err := r.Seek(4, 0); err != nil || r.Len() < 4 {
		return nil, nil, fmt.Errorf("%w: suffix of %d bytes", ErrMalformed, len(fullSuffix))
	}
	nOut, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: output count: %w", ErrMalformed, err)
	}
	for i := uint64(0); i < nOut; i++ {
		if err := skip(r, 8); err != nil {
			return nil, nil, fmt.Errorf("%w: output %d value", ErrMalformed, i)
		}
		if err := skipVarBytes(r); err != nil {
			return nil, nil, fmt.Errorf("%w: output %d script", ErrMalformed, i)
		}
	}
	outputsEnd := len(fullSuffix) - r.Len()
	items, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: witness item count: %w", ErrMalformed, err)
	}
	for i := uint64(0); i < items; i++ {
		if err := skipVarBytes(r); err != nil {
			return nil, nil, fmt.Errorf("%w: witness item %d", ErrMalformed, i)
		}
	}
	if r.Len() != 4 {
		return nil, nil, fmt.Errorf("%w: %d bytes after the witness, want the 4-byte locktime", ErrMalformed, r.Len())
	}
	suffix = append(append([]byte(nil), fullSuffix[:outputsEnd]...), fullSuffix[len(fullSuffix)-4:]...)
	return prefix, suffix, nil
}

func skip(r *bytes.Reader, n uint64) error {
	if n > uint64(r.Len()) {
		return ErrMalformed
	}
	_, err := r.Seek(int64(n), 1)
	return err
}

func skipVarBytes(r *bytes.Reader) error {
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return err
	}
	return skip(r, n)
}
