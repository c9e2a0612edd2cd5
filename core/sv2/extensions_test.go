package sv2

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExtensionRegistry(t *testing.T) {
	tests := []struct {
		m    Message
		name string
		typ  uint8
	}{
		{new(RequestExtensions), "RequestExtensions", 0x00},
		{new(RequestExtensionsSuccess), "RequestExtensions.Success", 0x01},
		{new(RequestExtensionsError), "RequestExtensions.Error", 0x02},
	}
	for _, tt := range tests {
		info := Info(tt.m)
		if info.Name != tt.name || info.Extension != ExtensionNegotiation || info.Type != tt.typ || info.ChannelMsg {
			t.Errorf("Info(%T) = %+v", tt.m, info)
		}
		for _, p := range []Protocol{ProtocolMining, ProtocolJobDeclaration, ProtocolTemplateDistribution} {
			if !info.UsableOn(p) {
				t.Errorf("%s not usable on %v: extension 0x0001 is negotiated after SetupConnection on any subprotocol", tt.name, p)
			}
		}
		got, ok := Lookup(ExtensionNegotiation, tt.typ)
		if !ok || got.Name != tt.name {
			t.Errorf("Lookup(0x0001, 0x%02x) = %q, %t", tt.typ, got.Name, ok)
		}
		// The same msg_type in extension 0 is the Common Protocol message.
		core, _ := Lookup(0, tt.typ)
		if !strings.HasPrefix(core.Name, "SetupConnection") || core.Extension != 0 {
			t.Errorf("Lookup(0, 0x%02x) = %+v, want a SetupConnection message", tt.typ, core)
		}
		h, err := HeaderFor(tt.m, 3)
		if err != nil || h != (Header{ExtensionType: 0x0001, MsgType: tt.typ, Length: 3}) {
			t.Errorf("HeaderFor(%s) = %+v, %v; want extension_type 0x0001", tt.name, h, err)
		}
		frame, err := AppendFrame(nil, tt.m)
		if err != nil || !bytes.HasPrefix(frame, []byte{0x01, 0x00, tt.typ}) {
			t.Errorf("AppendFrame(%s) = %x, %v; want a header starting 01 00 %02x", tt.name, frame, err, tt.typ)
		}
		_, m, err := DecodeFrame(frame)
		if err != nil || Info(m).Name != tt.name {
			t.Errorf("DecodeFrame(%x) = %T, %v", frame, m, err)
		}
		// §3.2.1: the channel_msg bit is not part of the extension, and it must match the message.
		payload, _ := Encode(tt.m)
		if _, err := Decode(Header{ExtensionType: 0x0001 | ChannelMsgBit, MsgType: tt.typ, Length: uint32(len(payload))}, payload); !errors.Is(err, ErrChannelBit) {
			t.Errorf("%s with channel_msg: err = %v, want ErrChannelBit", tt.name, err)
		}
	}
	// A core message that carries TLV fields of extension 0x0002 keeps extension_type 0 (§3.4.1).
	frame, err := AppendFrame(nil, &SubmitSharesExtended{TLVs: []TLV{WorkerIdentityTLV("w")}})
	if err != nil || !bytes.HasPrefix(frame, []byte{0x00, 0x80, MsgTypeSubmitSharesExtended}) {
		t.Errorf("SubmitSharesExtended with a TLV: frame %x, %v; want extension_type 0x8000", frame, err)
	}
}

// extensionVectors is testdata/sv2_extensions.json.
type extensionVectors struct {
	Messages []struct {
		Name          string          `json:"name"`
		Comment       string          `json:"comment"`
		ExtensionType uint16          `json:"extension_type"`
		MsgType       uint8           `json:"msg_type"`
		PayloadHex    string          `json:"payload_hex"`
		FrameHex      string          `json:"frame_hex"`
		Fields        json.RawMessage `json:"fields"`
	} `json:"messages"`
	TLVLists []struct {
		Comment string          `json:"comment"`
		Hex     string          `json:"hex"`
		TLVs    json.RawMessage `json:"tlvs"`
	} `json:"tlv_lists"`
	Rejected []struct {
		Name       string `json:"name"`
		Comment    string `json:"comment"`
		MsgType    uint8  `json:"msg_type"`
		PayloadHex string `json:"payload_hex"`
		Field      string `json:"field"`
	} `json:"rejected"`
}

func loadExtensionVectors(t testing.TB) extensionVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/sv2_extensions.json")
	if err != nil {
		t.Fatal(err)
	}
	var v extensionVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Messages) == 0 || len(v.TLVLists) == 0 || len(v.Rejected) == 0 {
		t.Fatal("no extension vectors loaded")
	}
	return v
}

func TestExtensionVectors(t *testing.T) {
	vecs := loadExtensionVectors(t)
	for _, vec := range vecs.Messages {
		t.Run(vec.Name+"/"+vec.Comment, func(t *testing.T) {
			payload, _ := hex.DecodeString(vec.PayloadHex)
			frame, _ := hex.DecodeString(vec.FrameHex)
			h, m, err := DecodeFrame(frame)
			if err != nil {
				t.Fatalf("DecodeFrame: %v", err)
			}
			if Info(m).Name != vec.Name || h.Extension() != vec.ExtensionType || h.MsgType != vec.MsgType || !bytes.Equal(frame[HeaderSize:], payload) {
				t.Fatalf("frame decodes as %s, header %+v", Info(m).Name, h)
			}
			if diff := cmp.Diff(jsonValue(t, vec.Fields), jsonValue(t, FieldsJSON(m))); diff != "" {
				t.Errorf("fields differ from the vector (-vector +decoded):\n%s", diff)
			}
			enc, err := AppendFrame(nil, m)
			if err != nil || !bytes.Equal(enc, frame) {
				t.Errorf("re-encoded\n %x, %v\nwant\n %x", enc, err, frame)
			}
		})
	}
	for _, vec := range vecs.TLVLists {
		t.Run("tlv/"+vec.Comment, func(t *testing.T) {
			list, _ := hex.DecodeString(vec.Hex)
			r := NewReader(list, "test")
			tlvs := r.TLVs()
			if err := r.Done(); err != nil {
				t.Fatal(err)
			}
			type plain struct {
				Extension uint16 `json:"extension"`
				Field     uint8  `json:"field"`
				Value     string `json:"value"`
			}
			var got []plain
			for _, tlv := range tlvs {
				got = append(got, plain{tlv.Extension, tlv.Field, hex.EncodeToString(tlv.Value)})
			}
			js, _ := json.Marshal(got)
			if diff := cmp.Diff(jsonValue(t, vec.TLVs), jsonValue(t, js)); diff != "" {
				t.Errorf("TLVs differ from the vector (-vector +decoded):\n%s", diff)
			}
			w := NewWriter(nil, "test")
			w.TLVs(tlvs)
			if enc, err := w.Finish(); err != nil || !bytes.Equal(enc, list) {
				t.Errorf("re-encoded %x, %v; want %x", enc, err, list)
			}
		})
	}
	for _, vec := range vecs.Rejected {
		t.Run("rejected/"+vec.Comment, func(t *testing.T) {
			payload, _ := hex.DecodeString(vec.PayloadHex)
			info, _ := Lookup(0, vec.MsgType)
			err := info.New().DecodePayload(payload)
			var de *DecodeError
			if !errors.As(err, &de) || de.Message != vec.Name || de.Field != vec.Field {
				t.Errorf("err = %v, want a DecodeError on %s.%s", err, vec.Name, vec.Field)
			}
		})
	}
}

func TestUserIdentityLimits(t *testing.T) {
	base, _ := Encode(&SubmitSharesExtended{ChannelID: 1})
	withTLV := func(ext uint16, field uint8, value string) []byte {
		b := append(bytes.Clone(base), byte(ext), byte(ext>>8), field, byte(len(value)), byte(len(value)>>8))
		return append(b, value...)
	}
	tests := []struct {
		name    string
		payload []byte
		err     error // nil: accepted
	}{
		{"32 bytes", withTLV(2, 1, strings.Repeat("a", 32)), nil},
		{"empty", withTLV(2, 1, ""), nil},
		{"UTF-8 beyond ASCII", withTLV(2, 1, "Wörker_ß"), nil},
		{"33 bytes", withTLV(2, 1, strings.Repeat("a", 33)), ErrTooLong},
		{"not UTF-8", withTLV(2, 1, "w\xff"), ErrInvalid},
		// Only field 0x01 of extension 0x0002 is user_identity.
		{"another field of extension 0x0002", withTLV(2, 2, strings.Repeat("a", 40)+"\xff"), nil},
		{"field 0x01 of another extension", withTLV(3, 1, strings.Repeat("a", 40)+"\xff"), nil},
	}
	for _, tt := range tests {
		var m SubmitSharesExtended
		err := m.DecodePayload(tt.payload)
		if err == nil {
			// Decoding keeps the fields (they may be of an extension not
			// negotiated, to be ignored); the check of negotiated ones refuses.
			err = CheckTLVs("SubmitSharesExtended", m.TLVs)
			m = SubmitSharesExtended{}
		}
		if tt.err == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, tt.err) || de.Message != "SubmitSharesExtended" || de.Field != "tlv" {
			t.Errorf("%s: err = %v, want %v on SubmitSharesExtended.tlv", tt.name, err, tt.err)
		}
		if m.TLVs != nil || m.ChannelID != 0 {
			t.Errorf("%s: failed decode modified the message: %+v", tt.name, m)
		}
	}
	// Extension 0x0002 extends only SubmitSharesExtended: elsewhere the field means nothing and is dropped.
	enc, _ := Encode(&SetTarget{ChannelID: 1})
	enc = append(enc, 2, 0, 1, 33, 0)
	enc = append(enc, strings.Repeat("a", 33)...)
	if err := new(SetTarget).DecodePayload(enc); err != nil {
		t.Errorf("SetTarget with a 33-byte 0x0002/0x01 TLV: %v", err)
	}
}

func TestEncodeTLVErrors(t *testing.T) {
	tests := []struct {
		name string
		tlvs []TLV
		err  error
	}{
		{"not ordered by extension", []TLV{{Extension: 3}, {Extension: 2}}, ErrInvalid},
		{"value over 65535 bytes", []TLV{{Extension: 0x4000, Value: make([]byte, MaxB0_64K+1)}}, ErrTooLong},
		{"more than MaxTLVs", make([]TLV, MaxTLVs+1), ErrTooLong},
		{"user_identity over 32 bytes", []TLV{WorkerIdentityTLV(strings.Repeat("a", 33))}, ErrTooLong},
		{"user_identity not UTF-8", []TLV{WorkerIdentityTLV("\xff")}, ErrInvalid},
	}
	for _, tt := range tests {
		m := &SubmitSharesExtended{ChannelID: 1, TLVs: tt.tlvs}
		out, err := m.AppendPayload([]byte("keep"))
		var ee *EncodeError
		if !errors.As(err, &ee) || !errors.Is(err, tt.err) || ee.Message != "SubmitSharesExtended" || ee.Field != "tlv" {
			t.Errorf("%s: err = %v, want %v on SubmitSharesExtended.tlv", tt.name, err, tt.err)
		}
		if string(out) != "keep" {
			t.Errorf("%s: failed encode returned %q, want dst unchanged", tt.name, out)
		}
	}
	// Fields of one extension keep their order; equal extension types are in order.
	ok := &SubmitSharesExtended{TLVs: []TLV{{Extension: 2, Field: 2}, {Extension: 2, Field: 1, Value: []byte("a")}, {Extension: 0x4000, Field: 0}}}
	if _, err := Encode(ok); err != nil {
		t.Errorf("ordered list: %v", err)
	}
}

func TestMaxTLVs(t *testing.T) {
	base, _ := Encode(&SubmitSharesExtended{})
	empty := []byte{0, 0x40, 0, 0, 0} // extension 0x4000, field 0, no value
	for _, n := range []int{MaxTLVs, MaxTLVs + 1} {
		payload := append(bytes.Clone(base), bytes.Repeat(empty, n)...)
		for _, m := range []Message{new(SubmitSharesExtended), new(SubmitSharesStandard)} {
			if m.MsgType() == MsgTypeSubmitSharesStandard {
				payload = append(make([]byte, 24), bytes.Repeat(empty, n)...)
			}
			err := m.DecodePayload(payload)
			if n <= MaxTLVs && err != nil {
				t.Errorf("%s with %d TLVs: %v", Info(m).Name, n, err)
			}
			var de *DecodeError
			if n > MaxTLVs && (!errors.As(err, &de) || !errors.Is(err, ErrTooLong) || de.Field != "tlv") {
				t.Errorf("%s with %d TLVs: err = %v, want ErrTooLong on tlv", Info(m).Name, n, err)
			}
		}
	}
}

func TestTLVDecodeAllocations(t *testing.T) {
	plain, _ := Encode(&SubmitSharesExtended{Extranonce: []byte{1, 2, 3, 4, 5, 6, 7, 8}})
	with, _ := Encode(&SubmitSharesExtended{Extranonce: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		TLVs: []TLV{WorkerIdentityTLV("Worker_001"), {Extension: 0x4000, Value: []byte{1, 2}}, {Extension: 0x4001}}})
	var m SubmitSharesExtended
	// The extranonce, then with TLVs one []TLV and one buffer for all the values.
	for _, tt := range []struct {
		payload []byte
		allocs  float64
	}{{plain, 1}, {with, 3}} {
		if got := testing.AllocsPerRun(100, func() { m.DecodePayload(tt.payload) }); got != tt.allocs {
			t.Errorf("decoding %d bytes: %v allocations, want %v", len(tt.payload), got, tt.allocs)
		}
	}
	// Other messages check a TLV list without allocating.
	std, _ := Encode(&SubmitSharesStandard{})
	std = append(std, with[len(plain):]...)
	if got := testing.AllocsPerRun(100, func() { new(SubmitSharesStandard).DecodePayload(std) }); got != 0 {
		t.Errorf("SubmitSharesStandard with TLVs: %v allocations, want 0", got)
	}
	// A TLV length that lies is refused before anything is allocated for it.
	lie := append(bytes.Clone(plain), 2, 0, 1, 0xff, 0xff, 'w')
	if got := bytesAllocated(func() {
		for range 200 {
			m.DecodePayload(lie)
		}
	}) / 200; got > 1024 {
		t.Errorf("a TLV claiming 65535 bytes: %d bytes allocated per decode", got)
	}
	if err := m.DecodePayload(lie); !errors.Is(err, ErrTruncated) {
		t.Errorf("a TLV claiming 65535 bytes: err = %v, want ErrTruncated", err)
	}
	// Decoded values are copies, each with its own capacity.
	in := bytes.Clone(with)
	if err := m.DecodePayload(in); err != nil {
		t.Fatal(err)
	}
	clear(in)
	if id, _ := WorkerIdentity(m.TLVs); id != "Worker_001" {
		t.Errorf("user_identity %q after the input was cleared", id)
	}
	_ = append(m.TLVs[0].Value, 'X')
	if !bytes.Equal(m.TLVs[1].Value, []byte{1, 2}) {
		t.Errorf("appending to one value changed the next: %x", m.TLVs[1].Value)
	}
}

func TestWorkerIdentityHelpers(t *testing.T) {
	id := WorkerIdentityTLV("Worker_001")
	if id.Extension != 0x0002 || id.Field != 0x01 || string(id.Value) != "Worker_001" {
		t.Errorf("WorkerIdentityTLV = %+v", id)
	}
	if _, ok := WorkerIdentity(nil); ok {
		t.Error("WorkerIdentity(nil) found one")
	}
	other := TLV{Extension: 2, Field: 2, Value: []byte("no")}
	if s, ok := WorkerIdentity([]TLV{other, {Extension: 3, Field: 1, Value: []byte("no")}, id}); !ok || s != "Worker_001" {
		t.Errorf("WorkerIdentity = %q, %t", s, ok)
	}

	a, b := TLV{Extension: 1, Field: 5}, TLV{Extension: 0x4000, Field: 1}
	old := WorkerIdentityTLV("old")
	tests := []struct {
		in, want []TLV
	}{
		{nil, []TLV{id}},
		{[]TLV{a}, []TLV{a, id}},
		{[]TLV{b}, []TLV{id, b}},
		{[]TLV{a, other, b}, []TLV{a, other, id, b}},
		{[]TLV{a, old, b}, []TLV{a, id, b}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		got := WithWorkerIdentity(in, "Worker_001")
		if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
			t.Errorf("WithWorkerIdentity(%v) (-want +got):\n%s", tt.in, diff)
		}
		if diff := cmp.Diff(tt.in, in, equateEmpty); diff != "" {
			t.Errorf("WithWorkerIdentity modified its input:\n%s", diff)
		}
		if _, err := Encode(&SubmitSharesExtended{TLVs: got}); err != nil {
			t.Errorf("WithWorkerIdentity(%v) does not encode: %v", tt.in, err)
		}
	}
}

func TestKeepExtensions(t *testing.T) {
	tlvs := []TLV{WorkerIdentityTLV("w"), {Extension: 3, Field: 1}, {Extension: 3, Field: 2}, {Extension: 0x4000}}
	orig := slices.Clone(tlvs)
	only := func(exts ...uint16) func(uint16) bool {
		return func(e uint16) bool { return slices.Contains(exts, e) }
	}
	tests := []struct {
		negotiated func(uint16) bool
		want       []TLV
	}{
		{only(2, 3, 0x4000), tlvs},
		{only(2), tlvs[:1]},
		{only(3), tlvs[1:3]},
		{only(2, 0x4000), []TLV{tlvs[0], tlvs[3]}},
		{only(0x4000), tlvs[3:]},
		{only(), nil},
	}
	for i, tt := range tests {
		got := KeepExtensions(tlvs, tt.negotiated)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("case %d (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(orig, tlvs); diff != "" {
			t.Fatalf("case %d modified the input:\n%s", i, diff)
		}
	}
	all := only(2, 3, 0x4000)
	if got := KeepExtensions(tlvs, all); &got[0] != &tlvs[0] {
		t.Error("KeepExtensions copied a list it keeps whole")
	}
	if n := testing.AllocsPerRun(100, func() { KeepExtensions(tlvs, all) }); n != 0 {
		t.Errorf("KeepExtensions keeping every field: %v allocations", n)
	}
	if got := KeepExtensions(nil, all); got != nil {
		t.Errorf("KeepExtensions(nil) = %v", got)
	}
}

func TestTLVJSON(t *testing.T) {
	m := &SubmitSharesExtended{ChannelID: 1, TLVs: []TLV{WorkerIdentityTLV("Worker_001"), {Extension: 0x4000, Field: 2}}}
	want := `{"channel_id":1,"sequence_number":0,"job_id":0,"nonce":0,"ntime":0,"version":0,"extranonce":"",` +
		`"tlvs":[{"extension":2,"field":1,"value":"576f726b65725f303031","user_identity":"Worker_001"},{"extension":16384,"field":2,"value":""}]}`
	if got := string(FieldsJSON(m)); got != want {
		t.Errorf("FieldsJSON =\n %s\nwant\n %s", got, want)
	}
	if got := string(FieldsJSON(&SubmitSharesExtended{})); !strings.HasSuffix(got, `"tlvs":[]}`) {
		t.Errorf("without TLVs: %s", got)
	}
	if got := string(FieldsJSON(&RequestExtensionsError{RequestID: 1, RequiredExtensions: []uint16{2}})); got != `{"request_id":1,"unsupported_extensions":[],"required_extensions":[2]}` {
		t.Errorf("RequestExtensions.Error: %s", got)
	}
}
