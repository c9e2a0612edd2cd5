package sv2

import (
	"encoding/binary"
	"fmt"
)

// Frame layout (§3.2).
const (
	// HeaderSize is the size of the frame header: extension_type U16, msg_type U8, msg_length U24.
	HeaderSize = 6
	// ChannelMsgBit is the bit of extension_type that marks a channel message (§3.2.1).
	ChannelMsgBit uint16 = 0x8000
	// MaxPayloadSize is the largest payload msg_length can describe.
	MaxPayloadSize = MaxU24
)

// Header is a frame header.
type Header struct {
	ExtensionType uint16 // as on the wire, channel_msg bit included
	MsgType       uint8
	Length        uint32 // msg_length: the payload size, at most MaxPayloadSize
}

// ChannelMsg reports whether the channel_msg bit is set.
func (h Header) ChannelMsg() bool { return h.ExtensionType&ChannelMsgBit != 0 }

// Extension returns the extension type without the channel_msg bit.
func (h Header) Extension() uint16 { return h.ExtensionType &^ ChannelMsgBit }

// AppendTo appends the 6-byte encoding of h to dst. Length must fit in U24.
func (h Header) AppendTo(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, h.ExtensionType)
	return append(dst, h.MsgType, byte(h.Length), byte(h.Length>>8), byte(h.Length>>16))
}

// ParseHeader decodes the header in the first HeaderSize bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, &DecodeError{Message: "frame", Field: "header", Err: ErrTruncated,
			Detail: fmt.Sprintf("need %d bytes, have %d", HeaderSize, len(b))}
	}
	return Header{
		ExtensionType: binary.LittleEndian.Uint16(b),
		MsgType:       b[2],
		Length:        uint32(b[3]) | uint32(b[4])<<8 | uint32(b[5])<<16,
	}, nil
}

// HeaderFor returns the header of a frame carrying m with a payload of n bytes.
func HeaderFor(m Message, n int) (Header, error) {
	info := Info(m)
	if n > MaxPayloadSize {
		return Header{}, &EncodeError{Message: info.Name, Err: ErrTooLong,
			Detail: fmt.Sprintf("payload of %d bytes, maximum %d", n, MaxPayloadSize)}
	}
	// The extension that defined the message (§3.4.1): 0 for core messages,
	// whatever TLV fields they carry.
	ext := info.Extension &^ ChannelMsgBit
	if info.ChannelMsg {
		ext |= ChannelMsgBit
	}
	return Header{ExtensionType: ext, MsgType: m.MsgType(), Length: uint32(n)}, nil
}

// AppendFrame appends a whole frame, header and payload, carrying m to dst.
// On error it returns dst unchanged.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	b, err := m.AppendPayload(append(dst, make([]byte, HeaderSize)...))
	if err != nil {
		return dst, err
	}
	h, err := HeaderFor(m, len(b)-start-HeaderSize)
	if err != nil {
		return dst, err
	}
	h.AppendTo(b[start:start])
	return b, nil
}

// Decode decodes payload as the message the header names. A message of an
// unknown extension or message type is returned as *Unknown, not as an error.
// A core message whose channel_msg bit disagrees with §8 is an error
// (ErrChannelBit), as is a payload whose size is not the header's msg_length.
func Decode(h Header, payload []byte) (Message, error) {
	info, known := Lookup(h.ExtensionType, h.MsgType)
	name := info.Name
	if !known {
		name = fmt.Sprintf("message 0x%02x of extension 0x%04x", h.MsgType, h.Extension())
	}
	switch {
	case len(payload) < int(h.Length):
		return nil, &DecodeError{Message: name, Err: ErrTruncated,
			Detail: fmt.Sprintf("msg_length %d, payload has %d bytes", h.Length, len(payload))}
	case len(payload) > int(h.Length):
		return nil, &DecodeError{Message: name, Err: ErrTrailingBytes,
			Detail: fmt.Sprintf("msg_length %d, payload has %d bytes", h.Length, len(payload))}
	}
	if !known {
		return &Unknown{ExtensionType: h.Extension(), Type: h.MsgType, ChannelMsg: h.ChannelMsg(),
			Payload: append([]byte(nil), payload...)}, nil
	}
	if info.ChannelMsg != h.ChannelMsg() {
		return nil, &DecodeError{Message: name, Err: ErrChannelBit,
			Detail: fmt.Sprintf("channel_msg is %t, §8 says %t", h.ChannelMsg(), info.ChannelMsg)}
	}
	m := info.New()
	if err := m.DecodePayload(payload); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeFrame decodes b, which must hold exactly one frame.
func DecodeFrame(b []byte) (Header, Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, nil, err
	}
	m, err := Decode(h, b[HeaderSize:])
	return h, m, err
}
