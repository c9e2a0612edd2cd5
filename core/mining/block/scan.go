package block

import (
	"encoding/binary"
	"fmt"
)

// ScanTx checks that raw is exactly one serialized transaction (witness
// serialization allowed) whose every count fits the bytes it has: at least
// 41 bytes per input, 9 per output, 1 per witness item. btcd's
// MsgTx.Deserialize sizes its allocations by counts bounded only for a
// 32 MB message, so a peer's few bytes claiming millions of inputs would
// cost a hundred megabytes before the decode failed; scanned first, a
// transaction costs no more than its own size to decode. It allocates
// nothing.
func ScanTx(raw []byte) error {
	s := scanner{b: raw}
	s.skip(4, "version")
	segwit := false
	if s.err == nil && len(s.b) >= 2 && s.b[0] == 0 {
		if s.b[1] != 1 {
			return fmt.Errorf("%w: BIP141 flag %#x", ErrBadTransaction, s.b[1])
		}
		segwit = true
		s.skip(2, "marker and flag")
	}
	ins := s.count(41, "inputs")
	for range ins {
		s.skip(36, "outpoint")
		s.skip(s.count(1, "scriptSig bytes"), "scriptSig")
		s.skip(4, "sequence")
	}
	outs := s.count(9, "outputs")
	for range outs {
		s.skip(8, "value")
		s.skip(s.count(1, "script bytes"), "script")
	}
	if segwit {
		any := false
		for range ins {
			items := s.count(1, "witness items")
			any = any || items > 0
			for range items {
				s.skip(s.count(1, "witness item bytes"), "witness item")
			}
		}
		if s.err == nil && !any { // BIP144: no witness, no witness serialization
			s.err = fmt.Errorf("%w: the witness serialization of a transaction without witness", ErrBadTransaction)
		}
	}
	s.skip(4, "locktime")
	switch {
	case s.err != nil:
		return s.err
	case len(s.b) != 0:
		return fmt.Errorf("%w: %d bytes after the transaction", ErrBadTransaction, len(s.b))
	}
	return nil
}

type scanner struct {
	b   []byte
	err error
}

func (s *scanner) skip(n uint64, what string) {
	if s.err != nil {
		return
	}
	if n > uint64(len(s.b)) {
		s.err = fmt.Errorf("%w: truncated at the %s (%d bytes wanted, %d left)", ErrBadTransaction, what, n, len(s.b))
		return
	}
	s.b = s.b[n:]
}

// count reads a CompactSize count of things of at least min bytes each,
// refusing one that the remaining bytes cannot hold.
func (s *scanner) count(min uint64, what string) uint64 {
	if s.err != nil {
		return 0
	}
	if len(s.b) == 0 {
		s.err = fmt.Errorf("%w: truncated at the count of %s", ErrBadTransaction, what)
		return 0
	}
	var n uint64
	switch p := s.b[0]; {
	case p < 0xfd:
		n, s.b = uint64(p), s.b[1:]
	case p == 0xfd && len(s.b) >= 3:
		n, s.b = uint64(binary.LittleEndian.Uint16(s.b[1:])), s.b[3:]
	case p == 0xfe && len(s.b) >= 5:
		n, s.b = uint64(binary.LittleEndian.Uint32(s.b[1:])), s.b[5:]
	case p == 0xff && len(s.b) >= 9:
		n, s.b = binary.LittleEndian.Uint64(s.b[1:]), s.b[9:]
	default:
		s.err = fmt.Errorf("%w: truncated count of %s", ErrBadTransaction, what)
		return 0
	}
	if n > uint64(len(s.b))/min {
		s.err = fmt.Errorf("%w: %d %s in %d bytes", ErrBadTransaction, n, what, len(s.b))
		return 0
	}
	return n
}
