package sv2

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
)

// Limits of the variable-length data types (§3.1).
const (
	MaxStr0_255 = 255
	MaxB0_32    = 32
	MaxB0_255   = 255
	MaxB0_64K   = 1<<16 - 1
	MaxB0_16M   = 1<<24 - 1
	MaxSeq0_255 = 255
	MaxSeq0_64K = 1<<16 - 1
	MaxU24      = 1<<24 - 1
)

// U256 is a 256-bit value in wire (little-endian) byte order, such as a hash or a target.
type U256 [32]byte

// String returns the bytes in wire order as lowercase hex.
func (u U256) String() string { return hex.EncodeToString(u[:]) }

// Pubkey is the X coordinate of a secp256k1 public key (BIP340), the PUBKEY type.
type Pubkey [32]byte

// String returns the key as lowercase hex.
func (p Pubkey) String() string { return hex.EncodeToString(p[:]) }

// Signature is a BIP340 Schnorr signature, the SIGNATURE type.
type Signature [64]byte

// String returns the signature as lowercase hex.
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// Option is OPTION[T]: a value that may be absent, encoded as a sequence of zero or one element.
type Option[T any] struct {
	Value T
	Valid bool // whether Value is present
}

// Some returns an Option holding v.
func Some[T any](v T) Option[T] { return Option[T]{Value: v, Valid: true} }

// Get returns the value and whether it is present.
func (o Option[T]) Get() (T, bool) { return o.Value, o.Valid }

// optional lets the JSON renderer treat every Option[T] alike.
func (o Option[T]) optional() (any, bool) { return o.Value, o.Valid }

// reader decodes the data types from a payload. The first error sticks, so a
// message decoder reads all fields and checks once at the end.
type reader struct {
	b   []byte
	msg string
	err error
}

func (r *reader) fail(field string, err error, format string, args ...any) {
	if r.err == nil {
		r.err = &DecodeError{Message: r.msg, Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
}

// take consumes n bytes; it returns nil (and records an error) when fewer remain.
func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(field, ErrTruncated, "need %d bytes, have %d", n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// done reports the first error, or ErrTrailingBytes if input is left over.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("", ErrTrailingBytes, "%d bytes after the last field", len(r.b))
	}
	return r.err
}

func (r *reader) u8(field string) uint8 {
	if p := r.take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) bool(field string) bool { return r.u8(field)&1 == 1 }

func (r *reader) u16(field string) uint16 {
	if p := r.take(field, 2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u24(field string) uint32 {
	if p := r.take(field, 3); p != nil {
		return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if p := r.take(field, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if p := r.take(field, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *reader) f32(field string) float32 { return math.Float32frombits(r.u32(field)) }

func (r *reader) u256(field string) (v U256) {
	if p := r.take(field, 32); p != nil {
		copy(v[:], p)
	}
	return v
}

func (r *reader) pubkey(field string) (v Pubkey) {
	if p := r.take(field, 32); p != nil {
		copy(v[:], p)
	}
	return v
}

func (r *reader) signature(field string) (v Signature) {
	if p := r.take(field, 64); p != nil {
		copy(v[:], p)
	}
	return v
}

// length reads a length prefix of prefix bytes and checks it against max and
// against the input that remains, so nothing is allocated for a lying prefix.
func (r *reader) length(field string, prefix, max, elemSize int) int {
	var n int
	switch prefix {
	case 1:
		n = int(r.u8(field))
	case 2:
		n = int(r.u16(field))
	case 3:
		n = int(r.u24(field))
	}
	if r.err != nil {
		return 0
	}
	if n > max {
		r.fail(field, ErrTooLong, "length %d, maximum %d", n, max)
		return 0
	}
	if n*elemSize > len(r.b) {
		r.fail(field, ErrTruncated, "length %d needs at least %d bytes, have %d", n, n*elemSize, len(r.b))
		return 0
	}
	return n
}

// bytes reads a length-prefixed byte array (B0_*) and returns a copy, nil when empty.
func (r *reader) bytes(field string, prefix, max int) []byte {
	n := r.length(field, prefix, max, 1)
	if n == 0 {
		return nil
	}
	return append([]byte(nil), r.take(field, n)...)
}

func (r *reader) b0_32(field string) []byte  { return r.bytes(field, 1, MaxB0_32) }
func (r *reader) b0_255(field string) []byte { return r.bytes(field, 1, MaxB0_255) }
func (r *reader) b0_64k(field string) []byte { return r.bytes(field, 2, MaxB0_64K) }
func (r *reader) b0_16m(field string) []byte { return r.bytes(field, 3, MaxB0_16M) }

func (r *reader) str0_255(field string) string {
	n := r.length(field, 1, MaxStr0_255, 1)
	if n == 0 {
		return ""
	}
	return string(r.take(field, n))
}

func (r *reader) optionU32(field string) Option[uint32] {
	switch n := r.u8(field); {
	case r.err != nil:
		return Option[uint32]{}
	case n == 0:
		return Option[uint32]{}
	case n == 1:
		return Some(r.u32(field))
	default:
		r.fail(field, ErrInvalid, "OPTION length %d, must be 0 or 1", n)
		return Option[uint32]{}
	}
}

func (r *reader) seqU256(field string, prefix, max int) []U256 {
	n := r.length(field, prefix, max, 32)
	if n == 0 {
		return nil
	}
	s := make([]U256, n)
	for i := range s {
		copy(s[i][:], r.take(field, 32))
	}
	return s
}

func (r *reader) seq0_64kU16(field string) []uint16 {
	n := r.length(field, 2, MaxSeq0_64K, 2)
	if n == 0 {
		return nil
	}
	s := make([]uint16, n)
	for i := range s {
		s[i] = r.u16(field)
	}
	return s
}

func (r *reader) seq0_64kU32(field string) []uint32 {
	n := r.length(field, 2, MaxSeq0_64K, 4)
	if n == 0 {
		return nil
	}
	s := make([]uint32, n)
	for i := range s {
		s[i] = r.u32(field)
	}
	return s
}

// seq0_64kB0_16M reads SEQ0_64K[B0_16M]; each element needs at least its 3-byte prefix.
func (r *reader) seq0_64kB0_16M(field string) [][]byte {
	n := r.length(field, 2, MaxSeq0_64K, 3)
	if n == 0 {
		return nil
	}
	s := make([][]byte, n)
	for i := range s {
		s[i] = r.b0_16m(field)
		if r.err != nil {
			return nil
		}
	}
	return s
}

// writer appends the data types to a buffer. The first error sticks.
type writer struct {
	b   []byte
	msg string
	err error
}

func (w *writer) fail(field string, err error, format string, args ...any) {
	if w.err == nil {
		w.err = &EncodeError{Message: w.msg, Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
}

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }

func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

func (w *writer) u24(field string, v uint32) {
	if v > MaxU24 {
		w.fail(field, ErrTooLong, "value %d does not fit in U24", v)
		return
	}
	w.b = append(w.b, byte(v), byte(v>>8), byte(v>>16))
}

func (w *writer) f32(v float32)          { w.u32(math.Float32bits(v)) }
func (w *writer) u256(v *U256)           { w.b = append(w.b, v[:]...) }
func (w *writer) pubkey(v *Pubkey)       { w.b = append(w.b, v[:]...) }
func (w *writer) signature(v *Signature) { w.b = append(w.b, v[:]...) }

func (w *writer) prefix(field string, n, prefix, max int) bool {
	if n > max {
		w.fail(field, ErrTooLong, "length %d, maximum %d", n, max)
		return false
	}
	switch prefix {
	case 1:
		w.u8(uint8(n))
	case 2:
		w.u16(uint16(n))
	case 3:
		w.u24(field, uint32(n))
	}
	return true
}

func (w *writer) bytes(field string, v []byte, prefix, max int) {
	if w.prefix(field, len(v), prefix, max) {
		w.b = append(w.b, v...)
	}
}

func (w *writer) b0_32(field string, v []byte)  { w.bytes(field, v, 1, MaxB0_32) }
func (w *writer) b0_255(field string, v []byte) { w.bytes(field, v, 1, MaxB0_255) }
func (w *writer) b0_64k(field string, v []byte) { w.bytes(field, v, 2, MaxB0_64K) }
func (w *writer) b0_16m(field string, v []byte) { w.bytes(field, v, 3, MaxB0_16M) }

func (w *writer) str0_255(field string, v string) {
	if w.prefix(field, len(v), 1, MaxStr0_255) {
		w.b = append(w.b, v...)
	}
}

func (w *writer) optionU32(v Option[uint32]) {
	if !v.Valid {
		w.u8(0)
		return
	}
	w.u8(1)
	w.u32(v.Value)
}

func (w *writer) seqU256(field string, v []U256, prefix, max int) {
	if w.prefix(field, len(v), prefix, max) {
		for i := range v {
			w.b = append(w.b, v[i][:]...)
		}
	}
}

func (w *writer) seq0_64kU16(field string, v []uint16) {
	if w.prefix(field, len(v), 2, MaxSeq0_64K) {
		for _, x := range v {
			w.u16(x)
		}
	}
}

func (w *writer) seq0_64kU32(field string, v []uint32) {
	if w.prefix(field, len(v), 2, MaxSeq0_64K) {
		for _, x := range v {
			w.u32(x)
		}
	}
}

func (w *writer) seq0_64kB0_16M(field string, v [][]byte) {
	if w.prefix(field, len(v), 2, MaxSeq0_64K) {
		for _, x := range v {
			w.b0_16m(field, x)
		}
	}
}

// result returns the grown buffer, or the original one and the error.
func (w *writer) result(orig []byte) ([]byte, error) {
	if w.err != nil {
		return orig, w.err
	}
	return w.b, nil
}
