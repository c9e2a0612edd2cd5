package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/sv2"
)

func decodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "decode",
		Usage:     "decode Sv2 frames or payloads given in hex, one JSON object per frame",
		ArgsUsage: "HEX... (or - to read hex from standard input)",
		Description: `Without --type, each argument holds one or more whole frames (6-byte header + payload).
With --type, each argument holds exactly one payload of that message type (of extension
--extension, 0 by default: the core specification).
Known are the messages of the core specification and of Extensions Negotiation (extension
0x0001: RequestExtensions, RequestExtensions.Success, RequestExtensions.Error).
Hex may contain spaces. Output, one line per frame:
  {"message":"<name as in spec §8>","msg_type":N,"extension_type":N,"channel_msg":bool,"fields":{...}}
extension_type is printed without the channel_msg bit. In fields, keys are the spec's field
names; byte fields (B0_*, U256, PUBKEY, SIGNATURE) are lowercase hex in wire order; OPTION is
null or its value. The TLV fields after a SubmitSharesExtended (spec §3.4.3) are listed in
"tlvs", each as {"extension":N,"field":N,"value":"<hex>"}, with "user_identity" added as a
string for that field of Worker-Specific Hashrate Tracking (extension 0x0002, field 0x01);
TLV fields after other messages are checked and not shown. A string that is not UTF-8 is
printed with U+FFFD and its raw bytes are noted on standard error. Malformed input prints one
error line on standard error, nothing on standard output, and exits with status 1.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Usage: "decode payloads of message type `T` (decimal or 0x-hex)"},
			&cli.StringFlag{Name: "extension", Aliases: []string{"e"}, Value: "0", Usage: "with --type, the message's extension type `E` (decimal or 0x-hex; 1 for Extensions Negotiation)"},
			&cli.BoolFlag{Name: "channel-msg", DefaultText: "what spec §8 says for the type", Usage: "the frame's channel_msg bit (with --type)"},
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("sv2 decode: "+err.Error(), 1)
		},
		Action: runDecode,
	}
}

func runDecode(c *cli.Context) error {
	if c.IsSet("extension") && !c.IsSet("type") {
		return cli.Exit("sv2 decode: --extension needs --type: a frame's header names its extension", 1)
	}
	inputs := c.Args().Slice()
	if len(inputs) == 0 || (len(inputs) == 1 && inputs[0] == "-") {
		raw, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return cli.Exit("sv2 decode: reading standard input: "+err.Error(), 1)
		}
		inputs = []string{string(raw)}
	}
	var out bytes.Buffer
	var notes []string
	for i, in := range inputs {
		b, err := parseHex(in)
		if err != nil {
			return cli.Exit(fmt.Sprintf("sv2 decode: argument %d: %v", i+1, err), 1)
		}
		var frames []decoded
		if c.IsSet("type") {
			d, err := decodePayload(c, b)
			if err != nil {
				return cli.Exit(fmt.Sprintf("sv2 decode: argument %d: %v", i+1, err), 1)
			}
			frames = []decoded{d}
		} else if frames, err = decodeFrames(b); err != nil {
			return cli.Exit(fmt.Sprintf("sv2 decode: argument %d: %v", i+1, err), 1)
		}
		for _, d := range frames {
			out.Write(render(d))
			out.WriteByte('\n')
			info := sv2.Info(d.msg)
			for _, f := range sv2.Fields(d.msg) {
				if s, ok := f.Value.(string); ok && !utf8.ValidString(s) {
					notes = append(notes, fmt.Sprintf("sv2 decode: note: %s.%s is not UTF-8; shown with U+FFFD; raw bytes %x", info.Name, f.Name, s))
				}
			}
		}
	}
	if _, err := c.App.Writer.Write(out.Bytes()); err != nil {
		return cli.Exit("sv2 decode: "+err.Error(), 1)
	}
	for _, n := range notes {
		fmt.Fprintln(c.App.ErrWriter, n)
	}
	return nil
}

type decoded struct {
	h   sv2.Header
	msg sv2.Message
}

// decodeFrames decodes b as a sequence of whole frames; unknown types are errors here.
func decodeFrames(b []byte) ([]decoded, error) {
	if len(b) == 0 {
		return nil, errors.New("no frame given")
	}
	var frames []decoded
	for n := 1; len(b) > 0; n++ {
		h, err := sv2.ParseHeader(b)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", n, err)
		}
		rest := b[sv2.HeaderSize:]
		if int(h.Length) > len(rest) {
			// Decoding what is there names the field the frame was cut in.
			if info, ok := sv2.Lookup(h.ExtensionType, h.MsgType); ok {
				if err := info.New().DecodePayload(rest); err != nil && errors.Is(err, sv2.ErrTruncated) {
					return nil, fmt.Errorf("frame %d: %w (msg_length %d, %d bytes present)", n, err, h.Length, len(rest))
				}
			}
			return nil, fmt.Errorf("frame %d: %s: msg_length %d but only %d payload bytes follow: %w",
				n, frameName(h), h.Length, len(rest), sv2.ErrTruncated)
		}
		m, err := decodeChecked(h, rest[:h.Length])
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", n, err)
		}
		if _, unknown := m.(*sv2.Unknown); unknown {
			return nil, fmt.Errorf("frame %d: %s: %w", n, frameName(h), sv2.ErrUnknownMessage)
		}
		frames = append(frames, decoded{h, m})
		b = rest[h.Length:]
	}
	return frames, nil
}

func frameName(h sv2.Header) string {
	if info, ok := sv2.Lookup(h.ExtensionType, h.MsgType); ok {
		return info.Name
	}
	return fmt.Sprintf("message type 0x%02x of extension 0x%04x", h.MsgType, h.Extension())
}

func decodePayload(c *cli.Context, payload []byte) (decoded, error) {
	t, err := strconv.ParseUint(c.String("type"), 0, 8)
	if err != nil {
		return decoded{}, fmt.Errorf("--type %q: want a message type from 0 to 255 (decimal or 0x-hex)", c.String("type"))
	}
	ext, err := strconv.ParseUint(c.String("extension"), 0, 16)
	if err != nil || uint16(ext)&sv2.ChannelMsgBit != 0 {
		return decoded{}, fmt.Errorf("--extension %q: want an extension type from 0 to 0x7fff (decimal or 0x-hex)", c.String("extension"))
	}
	info, ok := sv2.Lookup(uint16(ext), uint8(t))
	if !ok {
		if ext != 0 {
			return decoded{}, fmt.Errorf("--extension 0x%04x --type 0x%02x: %w", ext, t, sv2.ErrUnknownMessage)
		}
		return decoded{}, fmt.Errorf("--type 0x%02x: %w", t, sv2.ErrUnknownMessage)
	}
	h := sv2.Header{ExtensionType: uint16(ext), MsgType: uint8(t), Length: uint32(len(payload))}
	if len(payload) > sv2.MaxPayloadSize {
		return decoded{}, fmt.Errorf("%s: payload of %d bytes exceeds the frame limit %d: %w", info.Name, len(payload), sv2.MaxPayloadSize, sv2.ErrTooLong)
	}
	if (c.IsSet("channel-msg") && c.Bool("channel-msg")) || (!c.IsSet("channel-msg") && info.ChannelMsg) {
		h.ExtensionType |= sv2.ChannelMsgBit
	}
	m, err := decodeChecked(h, payload)
	if err != nil {
		return decoded{}, err
	}
	return decoded{h, m}, nil
}

// decodeChecked decodes a payload and, since the tool knows every extension
// it can show, holds the TLV fields to their extensions' limits as a peer
// that negotiated them would.
func decodeChecked(h sv2.Header, payload []byte) (sv2.Message, error) {
	m, err := sv2.Decode(h, payload)
	if err != nil {
		return nil, err
	}
	if sh, ok := m.(*sv2.SubmitSharesExtended); ok {
		if err := sv2.CheckTLVs("SubmitSharesExtended", sh.TLVs); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func render(d decoded) []byte {
	var b []byte
	b = append(b, `{"message":`...)
	b = strconv.AppendQuote(b, sv2.Info(d.msg).Name)
	b = append(b, `,"msg_type":`...)
	b = strconv.AppendUint(b, uint64(d.h.MsgType), 10)
	b = append(b, `,"extension_type":`...)
	b = strconv.AppendUint(b, uint64(d.h.Extension()), 10)
	b = append(b, `,"channel_msg":`...)
	b = strconv.AppendBool(b, d.h.ChannelMsg())
	b = append(b, `,"fields":`...)
	b = append(b, sv2.FieldsJSON(d.msg)...)
	return append(b, '}')
}

// parseHex decodes hex, ignoring white space and an optional 0x prefix.
func parseHex(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		var inv hex.InvalidByteError
		if errors.As(err, &inv) {
			return nil, fmt.Errorf("bad hex: invalid character %q", rune(inv))
		}
		return nil, fmt.Errorf("bad hex: %w (odd number of digits?)", err)
	}
	return b, nil
}
