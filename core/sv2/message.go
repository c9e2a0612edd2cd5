package sv2

import "fmt"

// Message is one Stratum V2 message. Every core message type in this package
// implements it with a pointer receiver, e.g. *SetupConnection.
type Message interface {
	// MsgType returns the message's msg_type (§8).
	MsgType() uint8
	// AppendPayload appends the encoded payload (without the frame header) to
	// dst and returns the extended buffer. On error it returns dst unchanged
	// and an *EncodeError naming the field whose value cannot be encoded.
	AppendPayload(dst []byte) ([]byte, error)
	// DecodePayload replaces the message with the one encoded in p, which must
	// hold exactly one payload. It keeps no reference to p. On error it returns
	// a *DecodeError and leaves the message unchanged.
	DecodePayload(p []byte) error
}

// ChannelMessage is implemented by the messages sent with the channel_msg bit
// set (§8); their payload starts with the channel id.
type ChannelMessage interface {
	Message
	// Channel returns the channel_id the message is addressed to.
	Channel() uint32
}

// Unknown holds a message whose extension type or message type this package
// does not know, undecoded, so that a proxy can forward it unchanged (§3.4).
type Unknown struct {
	ExtensionType uint16 // without the channel_msg bit
	Type          uint8
	ChannelMsg    bool
	Payload       []byte
}

func (u *Unknown) MsgType() uint8 { return u.Type }

// Channel returns the channel id in the first four payload bytes of a channel
// message, or 0 if the message has none.
func (u *Unknown) Channel() uint32 {
	if !u.ChannelMsg || len(u.Payload) < 4 {
		return 0
	}
	p := u.Payload
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}

func (u *Unknown) AppendPayload(dst []byte) ([]byte, error) { return append(dst, u.Payload...), nil }

// DecodePayload keeps a copy of p; the header fields are set by Decode.
func (u *Unknown) DecodePayload(p []byte) error {
	u.Payload = append([]byte(nil), p...)
	return nil
}

func (u *Unknown) name() string {
	return fmt.Sprintf("unknown message 0x%02x of extension 0x%04x", u.Type, u.ExtensionType)
}

// Encode returns m's payload in a new buffer.
func Encode(m Message) ([]byte, error) { return m.AppendPayload(nil) }
