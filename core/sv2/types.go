package sv2

import (
	"bytes"
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

// Reader decodes the Sv2 data types from one payload, for message decoders
// (this package's and those of protocol extensions). The first error sticks:
// later reads return zero values, so a decoder reads every field and checks
// once, with Done. Each read takes the spec's field name for error messages.
type Reader struct {
	b   []byte
	msg string
	err error
}

// NewReader returns a Reader over payload; message names the message in errors.
func NewReader(payload []byte, message string) Reader { return Reader{b: payload, msg: message} }

// Err returns the first error, if any.
func (r *Reader) Err() error { return r.err }

// Len returns the number of bytes not read yet.
func (r *Reader) Len() int { return len(r.b) }

// Done returns the first error. Input left over after the message's fields
// must be a list of TLV fields (§3.4.3), which Done checks as [Reader.TLVs]
// does and drops: a message whose TLV fields matter reads them with TLVs
// first. Left-over bytes that are not such a list are a DecodeError on field
// "tlv" wrapping ErrTruncated (ErrTooLong beyond MaxTLVs fields).
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) != 0 {
		r.skipTLVs()
	}
	return r.err
}

// Fail records err (a sentinel such as ErrInvalid) for field unless an error is already recorded.
func (r *Reader) Fail(field string, err error, detail string) {
	if r.err == nil {
		r.err = &DecodeError{Message: r.msg, Field: field, Err: err, Detail: detail}
	}
}

func (r *Reader) fail(field string, err error, format string, args ...any) {
	if r.err == nil {
		r.Fail(field, err, fmt.Sprintf(format, args...))
	}
}

// take consumes n bytes without copying; it returns nil (and records an error) when fewer remain.
func (r *Reader) take(field string, n int) []byte {
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

// Bytes reads the BYTES type: exactly n bytes, returned as a copy (nil when n is 0).
func (r *Reader) Bytes(field string, n int) []byte {
	if n == 0 {
		return nil
	}
	return bytes.Clone(r.take(field, n))
}

func (r *Reader) U8(field string) uint8 {
	if p := r.take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

// Bool reads BOOL, looking only at the least significant bit as §3.1 requires.
func (r *Reader) Bool(field string) bool { return r.U8(field)&1 == 1 }

func (r *Reader) U16(field string) uint16 {
	if p := r.take(field, 2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *Reader) U24(field string) uint32 {
	if p := r.take(field, 3); p != nil {
		return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
	}
	return 0
}

func (r *Reader) U32(field string) uint32 {
	if p := r.take(field, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *Reader) U64(field string) uint64 {
	if p := r.take(field, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *Reader) F32(field string) float32 { return math.Float32frombits(r.U32(field)) }

func (r *Reader) U256(field string) (v U256) {
	if p := r.take(field, 32); p != nil {
		copy(v[:], p)
	}
	return v
}

func (r *Reader) Pubkey(field string) (v Pubkey) {
	if p := r.take(field, 32); p != nil {
		copy(v[:], p)
	}
	return v
}

func (r *Reader) Signature(field string) (v Signature) {
	if p := r.take(field, 64); p != nil {
		copy(v[:], p)
	}
	return v
}

// length reads a length prefix of prefix bytes and checks it against max and
// against the input that remains (each element needs at least minElem bytes),
// so nothing is allocated for a prefix that lies.
func (r *Reader) length(field string, prefix, max, minElem int) int {
	var n int
	switch prefix {
	case 1:
		n = int(r.U8(field))
	case 2:
		n = int(r.U16(field))
	case 3:
		n = int(r.U24(field))
	}
	if r.err != nil {
		return 0
	}
	if n > max {
		r.fail(field, ErrTooLong, "length %d, maximum %d", n, max)
		return 0
	}
	if n*minElem > len(r.b) {
		r.fail(field, ErrTruncated, "length %d needs at least %d bytes, have %d", n, n*minElem, len(r.b))
		return 0
	}
	return n
}

func (r *Reader) prefixed(field string, prefix, max int) []byte {
	return r.Bytes(field, r.length(field, prefix, max, 1))
}

// B0_32 reads a byte array of at most 32 bytes with a U8 length; nil when empty.
func (r *Reader) B0_32(field string) []byte { return r.prefixed(field, 1, MaxB0_32) }

// B0_255 reads a byte array of at most 255 bytes with a U8 length; nil when empty.
func (r *Reader) B0_255(field string) []byte { return r.prefixed(field, 1, MaxB0_255) }

// B0_64K reads a byte array with a U16 length; nil when empty.
func (r *Reader) B0_64K(field string) []byte { return r.prefixed(field, 2, MaxB0_64K) }

// B0_16M reads a byte array with a U24 length; nil when empty.
func (r *Reader) B0_16M(field string) []byte { return r.prefixed(field, 3, MaxB0_16M) }

// Str0_255 reads STR0_255. The bytes are kept as they are: the spec does not
// require UTF-8.
func (r *Reader) Str0_255(field string) string {
	n := r.length(field, 1, MaxStr0_255, 1)
	if n == 0 {
		return ""
	}
	return string(r.take(field, n))
}

// OptionU32 reads OPTION[U32].
func (r *Reader) OptionU32(field string) Option[uint32] {
	// Not ReadOption: passing r to a func value would move the caller's Reader to the heap.
	switch n := r.U8(field); {
	case r.err != nil || n == 0:
		return Option[uint32]{}
	case n == 1:
		v := r.U32(field)
		return Option[uint32]{Value: v, Valid: r.err == nil}
	default:
		r.fail(field, ErrInvalid, "OPTION length %d, must be 0 or 1", n)
		return Option[uint32]{}
	}
}

// Seq0_255U256 reads SEQ0_255[U256], such as a merkle path.
func (r *Reader) Seq0_255U256(field string) []U256 { return r.seqU256(field, 1, MaxSeq0_255) }

// Seq0_64KU256 reads SEQ0_64K[U256], such as a wtxid list.
func (r *Reader) Seq0_64KU256(field string) []U256 { return r.seqU256(field, 2, MaxSeq0_64K) }

func (r *Reader) seqU256(field string, prefix, max int) []U256 {
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

// Seq0_64KU16 reads SEQ0_64K[U16].
func (r *Reader) Seq0_64KU16(field string) []uint16 {
	n := r.length(field, 2, MaxSeq0_64K, 2)
	if n == 0 {
		return nil
	}
	s := make([]uint16, n)
	for i := range s {
		s[i] = r.U16(field)
	}
	return s
}

// Seq0_64KU32 reads SEQ0_64K[U32].
func (r *Reader) Seq0_64KU32(field string) []uint32 {
	n := r.length(field, 2, MaxSeq0_64K, 4)
	if n == 0 {
		return nil
	}
	s := make([]uint32, n)
	for i := range s {
		s[i] = r.U32(field)
	}
	return s
}

// Seq0_64KB0_16M reads SEQ0_64K[B0_16M], such as a transaction list.
func (r *Reader) Seq0_64KB0_16M(field string) [][]byte {
	n := r.length(field, 2, MaxSeq0_64K, 3)
	if n == 0 {
		return nil
	}
	s := make([][]byte, n)
	for i := range s {
		if s[i] = r.B0_16M(field); r.err != nil {
			return nil
		}
	}
	return s
}

// ReadOption reads OPTION[T], a SEQ0_1[T], with read decoding one T.
func ReadOption[T any](r *Reader, field string, read func(*Reader, string) T) Option[T] {
	switch n := r.U8(field); {
	case r.err != nil || n == 0:
		return Option[T]{}
	case n == 1:
		v := read(r, field)
		if r.err != nil {
			return Option[T]{}
		}
		return Some(v)
	default:
		r.fail(field, ErrInvalid, "OPTION length %d, must be 0 or 1", n)
		return Option[T]{}
	}
}

// ReadSeq0_255 reads SEQ0_255[T]; minSize is the smallest encoding of one T,
// used to refuse impossible lengths before allocating.
func ReadSeq0_255[T any](r *Reader, field string, minSize int, read func(*Reader, string) T) []T {
	return readSeq(r, field, 1, MaxSeq0_255, minSize, read)
}

// ReadSeq0_64K reads SEQ0_64K[T]; minSize is as for ReadSeq0_255.
func ReadSeq0_64K[T any](r *Reader, field string, minSize int, read func(*Reader, string) T) []T {
	return readSeq(r, field, 2, MaxSeq0_64K, minSize, read)
}

func readSeq[T any](r *Reader, field string, prefix, max, minSize int, read func(*Reader, string) T) []T {
	n := r.length(field, prefix, max, minSize)
	if n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		s[i] = read(r, field)
		if r.err != nil {
			return nil
		}
	}
	return s
}

// Writer appends the Sv2 data types to a buffer, for message encoders. The
// first error (a value its type cannot hold) sticks and is returned by Finish.
type Writer struct {
	b     []byte
	start int
	msg   string
	err   error
}

// NewWriter returns a Writer appending to dst; message names the message in errors.
func NewWriter(dst []byte, message string) Writer {
	return Writer{b: dst, start: len(dst), msg: message}
}

// Finish returns the extended buffer, or on error the buffer as it was given and the error.
func (w *Writer) Finish() ([]byte, error) {
	if w.err != nil {
		return w.b[:w.start], w.err
	}
	return w.b, nil
}

func (w *Writer) fail(field string, err error, format string, args ...any) {
	if w.err == nil {
		w.err = &EncodeError{Message: w.msg, Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
}

func (w *Writer) U8(v uint8)   { w.b = append(w.b, v) }
func (w *Writer) U16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *Writer) U32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *Writer) U64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }

// Bool writes BOOL as 1 or 0.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// U24 writes the low 24 bits of v; a larger v is an error.
func (w *Writer) U24(field string, v uint32) {
	if v > MaxU24 {
		w.fail(field, ErrTooLong, "value %d does not fit in U24", v)
		return
	}
	w.b = append(w.b, byte(v), byte(v>>8), byte(v>>16))
}

func (w *Writer) F32(v float32)         { w.U32(math.Float32bits(v)) }
func (w *Writer) U256(v U256)           { w.b = append(w.b, v[:]...) }
func (w *Writer) Pubkey(v Pubkey)       { w.b = append(w.b, v[:]...) }
func (w *Writer) Signature(v Signature) { w.b = append(w.b, v[:]...) }

// Bytes writes the BYTES type: v as it is, without a length.
func (w *Writer) Bytes(v []byte) { w.b = append(w.b, v...) }

// length writes an n-element length prefix of prefix bytes, or records an error if n > max.
func (w *Writer) length(field string, n, prefix, max int) bool {
	if n > max {
		w.fail(field, ErrTooLong, "length %d, maximum %d", n, max)
		return false
	}
	switch prefix {
	case 1:
		w.U8(uint8(n))
	case 2:
		w.U16(uint16(n))
	case 3:
		w.U24(field, uint32(n))
	}
	return true
}

func (w *Writer) prefixed(field string, v []byte, prefix, max int) {
	if w.length(field, len(v), prefix, max) {
		w.b = append(w.b, v...)
	}
}

func (w *Writer) B0_32(field string, v []byte)  { w.prefixed(field, v, 1, MaxB0_32) }
func (w *Writer) B0_255(field string, v []byte) { w.prefixed(field, v, 1, MaxB0_255) }
func (w *Writer) B0_64K(field string, v []byte) { w.prefixed(field, v, 2, MaxB0_64K) }
func (w *Writer) B0_16M(field string, v []byte) { w.prefixed(field, v, 3, MaxB0_16M) }

func (w *Writer) Str0_255(field string, v string) {
	if w.length(field, len(v), 1, MaxStr0_255) {
		w.b = append(w.b, v...)
	}
}

func (w *Writer) OptionU32(v Option[uint32]) {
	if !v.Valid {
		w.U8(0)
		return
	}
	w.U8(1)
	w.U32(v.Value)
}

func (w *Writer) Seq0_255U256(field string, v []U256) { w.seqU256(field, v, 1, MaxSeq0_255) }
func (w *Writer) Seq0_64KU256(field string, v []U256) { w.seqU256(field, v, 2, MaxSeq0_64K) }

func (w *Writer) seqU256(field string, v []U256, prefix, max int) {
	if w.length(field, len(v), prefix, max) {
		for i := range v {
			w.b = append(w.b, v[i][:]...)
		}
	}
}

func (w *Writer) Seq0_64KU16(field string, v []uint16) {
	if w.length(field, len(v), 2, MaxSeq0_64K) {
		for _, x := range v {
			w.U16(x)
		}
	}
}

func (w *Writer) Seq0_64KU32(field string, v []uint32) {
	if w.length(field, len(v), 2, MaxSeq0_64K) {
		for _, x := range v {
			w.U32(x)
		}
	}
}

func (w *Writer) Seq0_64KB0_16M(field string, v [][]byte) {
	if w.length(field, len(v), 2, MaxSeq0_64K) {
		for _, x := range v {
			w.B0_16M(field, x)
		}
	}
}

// WriteOption writes OPTION[T] with write encoding one T.
func WriteOption[T any](w *Writer, field string, v Option[T], write func(*Writer, string, T)) {
	if !v.Valid {
		w.U8(0)
		return
	}
	w.U8(1)
	write(w, field, v.Value)
}

// WriteSeq0_255 writes SEQ0_255[T]; more than 255 elements is an error.
func WriteSeq0_255[T any](w *Writer, field string, v []T, write func(*Writer, string, T)) {
	writeSeq(w, field, v, 1, MaxSeq0_255, write)
}

// WriteSeq0_64K writes SEQ0_64K[T]; more than 65535 elements is an error.
func WriteSeq0_64K[T any](w *Writer, field string, v []T, write func(*Writer, string, T)) {
	writeSeq(w, field, v, 2, MaxSeq0_64K, write)
}

func writeSeq[T any](w *Writer, field string, v []T, prefix, max int, write func(*Writer, string, T)) {
	if w.length(field, len(v), prefix, max) {
		for _, x := range v {
			write(w, field, x)
		}
	}
}
