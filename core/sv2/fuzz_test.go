package sv2

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
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
	for _, vec := range loadExtensionVectors(f).Messages {
		frame, _ := hex.DecodeString(vec.FrameHex)
		f.Add(frame)
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

// FuzzMessage picks the message type from the first byte (every type this
// package knows reachable, extensions' included) and decodes the rest as its
// payload, whatever the frame would say.
func FuzzMessage(f *testing.F) {
	all := Messages()
	seed := func(ext uint16, typ uint8, payload []byte) {
		for i, info := range all {
			if info.Extension == ext && info.Type == typ {
				f.Add(append([]byte{byte(i)}, payload...))
			}
		}
	}
	for _, m := range samples() {
		enc, _ := Encode(m)
		if len(enc) < 4096 {
			seed(Info(m).Extension, m.MsgType(), enc)
		}
	}
	vecs := loadExtensionVectors(f)
	for _, vec := range vecs.Messages {
		payload, _ := hex.DecodeString(vec.PayloadHex)
		seed(vec.ExtensionType, vec.MsgType, payload)
	}
	for _, vec := range vecs.Rejected {
		payload, _ := hex.DecodeString(vec.PayloadHex)
		seed(0, vec.MsgType, payload)
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

// FuzzTLVs decodes arbitrary bytes as a TLV list: Reader.TLVs and Done agree
// on what is well-formed, and a list ordered by extension type re-encodes to
// exactly its input (the encoding has no slack).
func FuzzTLVs(f *testing.F) {
	vecs := loadExtensionVectors(f)
	for _, vec := range vecs.TLVLists {
		list, _ := hex.DecodeString(vec.Hex)
		f.Add(list)
	}
	for _, m := range samples() {
		if tlvs := tlvsOf(m); len(tlvs) > 0 {
			w := NewWriter(nil, "seed")
			w.TLVs(tlvs)
			list, _ := w.Finish()
			f.Add(list)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{2, 0, 1, 0xff, 0xff})
	f.Add([]byte{3, 0, 1, 0, 0, 2, 0, 1, 1, 0, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b, "fuzz")
		tlvs := r.TLVs()
		err := r.Done()
		skip := NewReader(b, "fuzz")
		if err2 := skip.Done(); (err == nil) != (err2 == nil) {
			t.Fatalf("TLVs then Done: %v; Done alone: %v", err, err2)
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != "tlv" {
				t.Fatalf("error %v does not name the field tlv", err)
			}
			return
		}
		size := 0
		for _, tlv := range tlvs {
			size += TLVHeaderSize + len(tlv.Value)
		}
		if size != len(b) || len(tlvs) > MaxTLVs {
			t.Fatalf("%d TLVs of %d bytes from %d bytes", len(tlvs), size, len(b))
		}
		w := NewWriter(nil, "fuzz")
		w.TLVs(tlvs)
		enc, err := w.Finish()
		if !sortedByExtension(tlvs) {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unordered list encoded: %v", err)
			}
			return
		}
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded as %x, %v; input %x", enc, err, b)
		}
	})
}

func sortedByExtension(tlvs []TLV) bool {
	return slices.IsSortedFunc(tlvs, func(a, b TLV) int { return cmp.Compare(a.Extension, b.Extension) })
}

func checkStable(t *testing.T, m Message) {
	t.Helper()
	if tlvs := tlvsOf(m); !sortedByExtension(tlvs) {
		// The decoder scans for fields in any order (extension 0x0002 §1.3);
		// the encoder sends them ordered, as §3.4.3 requires.
		if _, err := Encode(m); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s with TLVs not ordered by extension: encode err = %v, want ErrInvalid", Info(m).Name, err)
		}
		return
	}
	enc, err := Encode(m)
	if err != nil {
		t.Fatalf("%s decoded but does not encode: %v", Info(m).Name, err)
	}
	m2 := Info(m).New()
	if err := m2.DecodePayload(enc); err != nil {
		t.Fatalf("%s: re-decoding its own encoding: %v", Info(m).Name, err)
	}
	if diff := gocmp.Diff(m, m2, equateEmpty); diff != "" {
		t.Fatalf("%s: decode → encode → decode changed it:\n%s", Info(m).Name, diff)
	}
	enc2, _ := Encode(m2)
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("%s: encodings differ:\n%x\n%x", Info(m).Name, enc, enc2)
	}
}
