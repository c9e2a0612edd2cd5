package sv2

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by *DecodeError and *EncodeError; compare with errors.Is.
var (
	// ErrTruncated means the input ended before the field was complete.
	ErrTruncated = errors.New("sv2: truncated")
	// ErrTooLong means a length or value exceeds what the field's type allows.
	ErrTooLong = errors.New("sv2: over the type's limit")
	// ErrTrailingBytes means a frame's payload is longer than its msg_length. (Bytes
	// after a message's last field are read as TLV fields, §3.4.3: a list cut short is
	// ErrTruncated on field "tlv".)
	ErrTrailingBytes = errors.New("sv2: trailing bytes")
	// ErrInvalid means a field holds a value its type forbids (for example an OPTION with two elements).
	ErrInvalid = errors.New("sv2: invalid value")
	// ErrUnknownMessage means no message of this extension and message type is known.
	ErrUnknownMessage = errors.New("sv2: unknown message type")
	// ErrChannelBit means the frame's channel_msg bit disagrees with the message type (§8).
	ErrChannelBit = errors.New("sv2: channel_msg bit does not match the message type")
)

// DecodeError reports malformed input: which message and field, what was wrong
// (one of the sentinel errors above, available through errors.Is) and details.
type DecodeError struct {
	Message string // message name as in §8, e.g. "SetupConnection.Success"; "frame" for the header
	Field   string // spec field name, e.g. "user_identity"; empty for message-level problems
	Err     error  // a sentinel: ErrTruncated, ErrTooLong, ErrTrailingBytes, ErrInvalid, ...
	Detail  string // human-readable specifics, e.g. "need 4 bytes, have 1"
}

func (e *DecodeError) Error() string {
	where := e.Message
	if e.Field != "" {
		where += "." + e.Field
	}
	if e.Detail == "" {
		return fmt.Sprintf("decode %s: %v", where, e.Err)
	}
	return fmt.Sprintf("decode %s: %v: %s", where, e.Err, e.Detail)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError reports a value that cannot be encoded, such as a string longer
// than 255 bytes in a STR0_255 field.
type EncodeError struct {
	Message string
	Field   string
	Err     error
	Detail  string
}

func (e *EncodeError) Error() string {
	where := e.Message
	if e.Field != "" {
		where += "." + e.Field
	}
	if e.Detail == "" {
		return fmt.Sprintf("encode %s: %v", where, e.Err)
	}
	return fmt.Sprintf("encode %s: %v: %s", where, e.Err, e.Detail)
}

func (e *EncodeError) Unwrap() error { return e.Err }
