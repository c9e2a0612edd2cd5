package sv2

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Extension identifiers: the extension_type values allocated to the extensions
// this package implements (§3.4, extensions/ in the specification repository).
const (
	// ExtensionNegotiation is Extensions Negotiation (extensions/0x0001-extensions-negotiation.md):
	// the messages RequestExtensions, RequestExtensions.Success and RequestExtensions.Error,
	// framed with extension_type 0x0001 (§3.4.1).
	ExtensionNegotiation uint16 = 0x0001
	// ExtensionWorkerHashrate is Worker-Specific Hashrate Tracking
	// (extensions/0x0002-worker-specific-hashrate-tracking.md): it defines no message, only
	// the user_identity TLV field appended to SubmitSharesExtended, whose frame keeps
	// extension_type 0 (§3.4.1).
	ExtensionWorkerHashrate uint16 = 0x0002
)

// Message types of Extensions Negotiation, valid with extension_type ExtensionNegotiation
// (extension 0x0001 §3). They reuse the numbers of the Common Protocol's first messages:
// the extension_type tells them apart.
const (
	MsgTypeRequestExtensions        uint8 = 0x00
	MsgTypeRequestExtensionsSuccess uint8 = 0x01
	MsgTypeRequestExtensionsError   uint8 = 0x02
)

// TLV fields of Worker-Specific Hashrate Tracking (extension 0x0002 §1.1).
const (
	// TLVFieldUserIdentity is the field_type of the worker's user_identity in SubmitSharesExtended.
	TLVFieldUserIdentity uint8 = 0x01
	// MaxUserIdentityTLV is the longest user_identity value, in bytes; the value is UTF-8, unpadded.
	MaxUserIdentityTLV = 32
)

// Limits of TLV lists (§3.4.3).
const (
	// TLVHeaderSize is the size of a TLV field's header: extension_type U16, field_type U8, length U16.
	TLVHeaderSize = 5
	// MaxTLVs is the most TLV fields this package accepts after one message. It is this
	// package's limit, not the specification's: it bounds what a decoder allocates for a
	// list of empty fields (a TLV value of 32 bytes for each 5 bytes of input).
	MaxTLVs = 255
)

// ExtensionMessage is implemented by the messages an extension introduced; frames carrying
// them have the extension's identifier in extension_type (§3.4.1). Core messages do not
// implement it: their extension_type is 0.
type ExtensionMessage interface {
	Message
	// Extension returns the extension_type of the extension that defined the message.
	Extension() uint16
}

// RequestExtensions asks the server, right after SetupConnection.Success and on any
// subprotocol, for the extensions the client wants to use (client → server, extension
// 0x0001 §2). A server that does not implement Extensions Negotiation ignores it.
type RequestExtensions struct {
	RequestID           uint16   `sv2:"request_id"`
	RequestedExtensions []uint16 `sv2:"requested_extensions"`
}

func (*RequestExtensions) MsgType() uint8    { return MsgTypeRequestExtensions }
func (*RequestExtensions) Extension() uint16 { return ExtensionNegotiation }

func (m *RequestExtensions) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "RequestExtensions")
	w.U16(m.RequestID)
	w.Seq0_64KU16("requested_extensions", m.RequestedExtensions)
	return w.Finish()
}

func (m *RequestExtensions) DecodePayload(p []byte) error {
	r := NewReader(p, "RequestExtensions")
	v := RequestExtensions{
		RequestID:           r.U16("request_id"),
		RequestedExtensions: r.Seq0_64KU16("requested_extensions"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// RequestExtensionsSuccess lists which of the requested extensions the server supports; the
// client may use those and no others (server → client, extension 0x0001 §2).
type RequestExtensionsSuccess struct {
	RequestID           uint16   `sv2:"request_id"`
	SupportedExtensions []uint16 `sv2:"supported_extensions"`
}

func (*RequestExtensionsSuccess) MsgType() uint8    { return MsgTypeRequestExtensionsSuccess }
func (*RequestExtensionsSuccess) Extension() uint16 { return ExtensionNegotiation }

func (m *RequestExtensionsSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "RequestExtensions.Success")
	w.U16(m.RequestID)
	w.Seq0_64KU16("supported_extensions", m.SupportedExtensions)
	return w.Finish()
}

func (m *RequestExtensionsSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "RequestExtensions.Success")
	v := RequestExtensionsSuccess{
		RequestID:           r.U16("request_id"),
		SupportedExtensions: r.Seq0_64KU16("supported_extensions"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// RequestExtensionsError refuses a RequestExtensions: the requested extensions the server does
// not support, and those it requires that were not requested; a client that does not ask again
// with the required ones is disconnected (server → client, extension 0x0001 §2, §4).
type RequestExtensionsError struct {
	RequestID             uint16   `sv2:"request_id"`
	UnsupportedExtensions []uint16 `sv2:"unsupported_extensions"`
	RequiredExtensions    []uint16 `sv2:"required_extensions"`
}

func (*RequestExtensionsError) MsgType() uint8    { return MsgTypeRequestExtensionsError }
func (*RequestExtensionsError) Extension() uint16 { return ExtensionNegotiation }

func (m *RequestExtensionsError) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "RequestExtensions.Error")
	w.U16(m.RequestID)
	w.Seq0_64KU16("unsupported_extensions", m.UnsupportedExtensions)
	w.Seq0_64KU16("required_extensions", m.RequiredExtensions)
	return w.Finish()
}

func (m *RequestExtensionsError) DecodePayload(p []byte) error {
	r := NewReader(p, "RequestExtensions.Error")
	v := RequestExtensionsError{
		RequestID:             r.U16("request_id"),
		UnsupportedExtensions: r.Seq0_64KU16("unsupported_extensions"),
		RequiredExtensions:    r.Seq0_64KU16("required_extensions"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// TLV is one Type-Length-Value field placed after a message's own fields by an extension
// (§3.4.3). On the wire it is Extension as a U16, Field as a U8, the length of Value as a
// U16, then Value.
//
// Byte order: both U16s are little-endian, like every other Sv2 integer. The specification's
// example (§3.4.3 and extension 0x0002 §1.1) writes the user_identity TLV of "Worker_001" as
// 00 02 01 00 0A ..., which reads as big-endian; the reference implementation, SRI
// (github.com/stratum-mining/stratum, sv2/parsers-sv2/src/tlv/codec.rs at commit
// 268022034c18c11259350fe863c8f105d2dbb64e: Tlv::decode and Tlv::encode, and its test
// test_tlv_encode_format), reads and writes both with from_le_bytes/to_le_bytes, that is
// 02 00 01 0A 00 .... This package follows SRI, with which it must interoperate.
type TLV struct {
	Extension uint16 // extension_type of the extension that defines the field
	Field     uint8  // field_type, numbered within that extension
	Value     []byte // at most MaxB0_64K bytes; the decoder leaves it nil when empty
}

// WorkerIdentityTLV returns the user_identity field of Worker-Specific Hashrate Tracking
// (extension 0x0002, field 0x01) for a SubmitSharesExtended. The encoder refuses a value
// longer than MaxUserIdentityTLV bytes or not UTF-8.
func WorkerIdentityTLV(userIdentity string) TLV {
	return TLV{Extension: ExtensionWorkerHashrate, Field: TLVFieldUserIdentity, Value: []byte(userIdentity)}
}

// WorkerIdentity returns the user_identity of the first Worker-Specific Hashrate Tracking
// field in tlvs, and whether there is one.
func WorkerIdentity(tlvs []TLV) (string, bool) {
	for _, t := range tlvs {
		if t.Extension == ExtensionWorkerHashrate && t.Field == TLVFieldUserIdentity {
			return string(t.Value), true
		}
	}
	return "", false
}

// WithWorkerIdentity returns a new list holding tlvs with its user_identity field (extension
// 0x0002, field 0x01) replaced by userIdentity, or with one inserted where the order by
// extension type (§3.4.3) puts it. tlvs is not modified.
func WithWorkerIdentity(tlvs []TLV, userIdentity string) []TLV {
	id := WorkerIdentityTLV(userIdentity)
	out := make([]TLV, 0, len(tlvs)+1)
	done := false
	for _, t := range tlvs {
		switch {
		case done:
		case t.Extension == ExtensionWorkerHashrate && t.Field == TLVFieldUserIdentity:
			t, done = id, true
		case t.Extension > ExtensionWorkerHashrate:
			out, done = append(out, id), true
		}
		out = append(out, t)
	}
	if !done {
		out = append(out, id)
	}
	return out
}

// KeepExtensions returns the fields of tlvs whose extension negotiated reports true, in
// their order: what a recipient acts on, since fields of extensions not negotiated must be
// ignored (§3.4.2, extension 0x0002 §1.3). When every field is kept it returns tlvs itself
// and allocates nothing; otherwise it returns a new slice (nil if no field is kept) and
// leaves tlvs unchanged.
func KeepExtensions(tlvs []TLV, negotiated func(extension uint16) bool) []TLV {
	for i, t := range tlvs {
		if negotiated(t.Extension) {
			continue
		}
		var out []TLV
		if i > 0 {
			out = append(make([]TLV, 0, len(tlvs)-1), tlvs[:i]...)
		}
		for _, t := range tlvs[i+1:] {
			if negotiated(t.Extension) {
				out = append(out, t)
			}
		}
		return out
	}
	return tlvs
}

// CheckTLVs checks the fields of the extensions this package knows against
// their specification's limits (a user_identity of extension 0x0002: at most
// MaxUserIdentityTLV bytes of UTF-8) and returns a *DecodeError naming message
// and the field "tlv" for the first that breaks them. A service calls it on
// the fields of negotiated extensions, which a recipient must reject when
// they are out of bounds (§3.4.3).
func CheckTLVs(message string, tlvs []TLV) error {
	if detail, err := userIdentityProblem(tlvs); err != nil {
		r := NewReader(nil, message)
		r.Fail("tlv", err, detail)
		return r.Err()
	}
	return nil
}

// userIdentityProblem returns what is wrong with the user_identity fields of Worker-Specific
// Hashrate Tracking in tlvs, if anything: a value over MaxUserIdentityTLV bytes (ErrTooLong)
// or not UTF-8 (ErrInvalid). Extension 0x0002 §1.1 and §3.4.3 make the recipient reject such
// a message.
func userIdentityProblem(tlvs []TLV) (detail string, err error) {
	for i, t := range tlvs {
		if t.Extension != ExtensionWorkerHashrate || t.Field != TLVFieldUserIdentity {
			continue
		}
		if len(t.Value) > MaxUserIdentityTLV {
			return fmt.Sprintf("TLV %d, user_identity of extension 0x0002: %d bytes, maximum %d", i+1, len(t.Value), MaxUserIdentityTLV), ErrTooLong
		}
		if !utf8.Valid(t.Value) {
			return fmt.Sprintf("TLV %d, user_identity of extension 0x0002: not UTF-8", i+1), ErrInvalid
		}
	}
	return "", nil
}

// scanTLVs checks that the unread input is a TLV list (§3.4.3) of at most MaxTLVs fields and
// returns the number of fields and the size of their values, consuming nothing. A list that
// ends inside a field is an ErrTruncated error on field "tlv".
func (r *Reader) scanTLVs() (n, valueBytes int) {
	b := r.b
	for len(b) > 0 {
		if n == MaxTLVs {
			r.fail("tlv", ErrTooLong, "more than %d TLV fields", MaxTLVs)
			return 0, 0
		}
		if len(b) < TLVHeaderSize {
			r.fail("tlv", ErrTruncated, "TLV %d: need %d header bytes, have %d (of %d after the message's fields)",
				n+1, TLVHeaderSize, len(b), len(r.b))
			return 0, 0
		}
		l := int(binary.LittleEndian.Uint16(b[3:]))
		if len(b)-TLVHeaderSize < l {
			r.fail("tlv", ErrTruncated, "TLV %d (extension 0x%04x, field 0x%02x): length %d, have %d (of %d after the message's fields)",
				n+1, binary.LittleEndian.Uint16(b), b[2], l, len(b)-TLVHeaderSize, len(r.b))
			return 0, 0
		}
		b = b[TLVHeaderSize+l:]
		n++
		valueBytes += l
	}
	return n, valueBytes
}

// TLVs reads the rest of the payload as a list of TLV fields (§3.4.3), for a message that
// keeps them; nil when no byte is left. Each field is a 5-byte header (extension_type U16,
// field_type U8, length U16, all little-endian, see [TLV]) and length bytes of value. The
// values are copied into one new buffer. A list that ends inside a field, or holds more than
// MaxTLVs fields, is an error on field "tlv". The order of the fields is not checked: a
// recipient scans for the fields it knows (extension 0x0002 §1.3).
func (r *Reader) TLVs() []TLV {
	if r.err != nil || len(r.b) == 0 {
		return nil
	}
	n, size := r.scanTLVs()
	if r.err != nil {
		return nil
	}
	tlvs := make([]TLV, n)
	var values []byte
	if size > 0 {
		values = make([]byte, 0, size)
	}
	b := r.b
	for i := range tlvs {
		l := int(binary.LittleEndian.Uint16(b[3:]))
		tlvs[i] = TLV{Extension: binary.LittleEndian.Uint16(b), Field: b[2]}
		if l > 0 {
			start := len(values)
			values = append(values, b[TLVHeaderSize:TLVHeaderSize+l]...)
			tlvs[i].Value = values[start:len(values):len(values)]
		}
		b = b[TLVHeaderSize+l:]
	}
	r.b = nil
	return tlvs
}

// skipTLVs checks that the rest of the payload is a TLV list, as TLVs does, and drops it.
func (r *Reader) skipTLVs() {
	if r.scanTLVs(); r.err == nil {
		r.b = nil
	}
}

// TLVs appends tlvs as a TLV list (§3.4.3), after the message's own fields. The fields must
// be ordered by extension type, as §3.4.3 requires (ErrInvalid otherwise); a value over
// MaxB0_64K bytes or more than MaxTLVs fields is ErrTooLong. Errors name the field "tlv".
func (w *Writer) TLVs(tlvs []TLV) {
	if len(tlvs) > MaxTLVs {
		w.fail("tlv", ErrTooLong, "%d TLV fields, maximum %d", len(tlvs), MaxTLVs)
		return
	}
	for i, t := range tlvs {
		if i > 0 && t.Extension < tlvs[i-1].Extension {
			w.fail("tlv", ErrInvalid, "TLV %d of extension 0x%04x follows one of extension 0x%04x; §3.4.3 orders TLV fields by extension type",
				i+1, t.Extension, tlvs[i-1].Extension)
			return
		}
		if len(t.Value) > MaxB0_64K {
			w.fail("tlv", ErrTooLong, "TLV %d (extension 0x%04x, field 0x%02x): value of %d bytes, maximum %d",
				i+1, t.Extension, t.Field, len(t.Value), MaxB0_64K)
			return
		}
	}
	for _, t := range tlvs {
		w.U16(t.Extension)
		w.U8(t.Field)
		w.U16(uint16(len(t.Value)))
		w.b = append(w.b, t.Value...)
	}
}
