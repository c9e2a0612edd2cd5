package sv2

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// addSeeds adds every sample and shared vector as a frame (header + payload).
func addFrameSeeds(f *testing.F) {
	for _, m := range samples() {
		frame, err := AppendFrame(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		if len(frame) < 4096 {
			f.Add(frame)
		}
	}
	for _, vec := range loadVectors(f).Messages {
		payload, _ := hex.DecodeString(vec.PayloadHex)
		info, _ := Lookup(0, vec.MsgType)
		h := Header{MsgType: vec.MsgType, Length: uint32(len(payload))}
		if info.ChannelMsg {
			h.ExtensionType = ChannelMsgBit
		}
		f.Add(append(h.AppendTo(nil), payload...))
	}
}

func FuzzHeader(f *testing.F) {
	for _, vec := range loadVectors(f).FrameHeaders {
		raw, _ := hex.DecodeString(vec.Hex)
		f.Add(raw)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if len(b) >= HeaderSize {
				t.Fatalf("error on %d bytes: %v", len(b), err)
			}
			return
		}
		enc := h.AppendTo(nil)
		if !bytes.Equal(enc, b[:HeaderSize]) {
			t.Fatalf("header %x re-encoded as %x", b[:HeaderSize], enc)
		}
		if h2, _ := ParseHeader(enc); h2 != h {
			t.Fatalf("decode → encode → decode: %+v then %+v", h, h2)
		}
	})
}

// FuzzFrame decodes arbitrary bytes as one frame of any message type; whatever
// decodes must encode, and decode again to the same message and bytes.
func FuzzFrame(f *testing.F) {
	addFrameSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, m, err := DecodeFrame(b)
		if err != nil {
			return
		}
		checkStable(t, m)
	})
}

// FuzzMessage picks the message type from the first byte (every core type
// reachable) and decodes the rest as its payload, whatever the frame would say.
func FuzzMessage(f *testing.F) {
	all := Messages()
	for _, m := range samples() {
		enc, _ := Encode(m)
		if len(enc) >= 4096 {
			continue
		}
		for i, info := range all {
			if info.Type == m.MsgType() {
				f.Add(append([]byte{byte(i)}, enc...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		m := all[int(b[0])%len(all)].New()
		if err := m.DecodePayload(b[1:]); err != nil {
			return
		}
		checkStable(t, m)
	})
}

func checkStable(t *testing.T, m Message) {
	t.Helper()
	enc, err := Encode(m)
	if err != nil {
		t.Fatalf("%s decoded but does not encode: %v", Info(m).Name, err)
	}
	m2 := Info(m).New()
	if err := m2.DecodePayload(enc); err != nil {
		t.Fatalf("%s: re-decoding its own encoding: %v", Info(m).Name, err)
	}
	if diff := cmp.Diff(m, m2, equateEmpty); diff != "" {
		t.Fatalf("%s: decode → encode → decode changed it:\n%s", Info(m).Name, diff)
	}
	enc2, _ := Encode(m2)
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("%s: encodings differ:\n%x\n%x", Info(m).Name, enc, enc2)
	}
}
