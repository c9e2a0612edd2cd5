package sv2

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vectors is testdata/sv2_messages.json: encodings from independent implementations.
type vectors struct {
	Messages []struct {
		Name       string          `json:"name"`
		Comment    string          `json:"comment"`
		MsgType    uint8           `json:"msg_type"`
		PayloadHex string          `json:"payload_hex"`
		Fields     json.RawMessage `json:"fields"`
	} `json:"messages"`
	FrameHeaders []struct {
		Comment       string `json:"comment"`
		Hex           string `json:"hex"`
		ExtensionType uint16 `json:"extension_type"`
		MsgType       uint8  `json:"msg_type"`
		MsgLength     uint32 `json:"msg_length"`
	} `json:"frame_headers"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/sv2_messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Messages) == 0 || len(v.FrameHeaders) == 0 {
		t.Fatal("no vectors loaded")
	}
	return v
}

// jsonValue decodes JSON keeping numbers exact, for comparing field values.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

func TestSharedVectors(t *testing.T) {
	for _, vec := range loadVectors(t).Messages {
		t.Run(vec.Name+"/"+vec.Comment, func(t *testing.T) {
			payload, err := hex.DecodeString(vec.PayloadHex)
			if err != nil {
				t.Fatal(err)
			}
			info, ok := Lookup(0, vec.MsgType)
			if !ok || info.Name != vec.Name {
				t.Fatalf("Lookup(0x%02x) = %q, %t; want %s", vec.MsgType, info.Name, ok, vec.Name)
			}
			m := info.New()
			if err := m.DecodePayload(payload); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(jsonValue(t, vec.Fields), jsonValue(t, FieldsJSON(m))); diff != "" {
				t.Errorf("fields differ from the vector (-vector +decoded):\n%s", diff)
			}
			enc, err := Encode(m)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(enc, payload) {
				t.Errorf("re-encoded\n %x\nwant\n %x", enc, payload)
			}
		})
	}
}

func TestSharedFrameHeaders(t *testing.T) {
	for _, vec := range loadVectors(t).FrameHeaders {
		raw, err := hex.DecodeString(vec.Hex)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(raw)
		if err != nil {
			t.Fatalf("%s: %v", vec.Comment, err)
		}
		want := Header{ExtensionType: vec.ExtensionType, MsgType: vec.MsgType, Length: vec.MsgLength}
		if h != want {
			t.Errorf("%s: got %+v, want %+v", vec.Comment, h, want)
		}
		if got := h.AppendTo(nil); !bytes.Equal(got, raw) {
			t.Errorf("%s: re-encoded %x, want %x", vec.Comment, got, raw)
		}
	}
}
