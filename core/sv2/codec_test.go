package sv2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// equateEmpty treats nil and empty slices alike (decoders return nil for empty
// fields) and a NaN F32 as equal to itself.
var equateEmpty = cmp.Options{cmpopts.EquateEmpty(), cmpopts.EquateNaNs()}

func sampleName(i int, m Message) string { return fmt.Sprintf("%d/%s", i, Info(m).Name) }

// msgKey identifies a message type: message types are unique within an extension.
type msgKey struct {
	ext uint16
	typ uint8
}

func TestEveryMessageHasASample(t *testing.T) {
	seen := map[msgKey]bool{}
	for _, m := range samples() {
		seen[msgKey{Info(m).Extension, m.MsgType()}] = true
	}
	for _, info := range Messages() {
		if !seen[msgKey{info.Extension, info.Type}] {
			t.Errorf("no sample of %s (extension 0x%04x, 0x%02x)", info.Name, info.Extension, info.Type)
		}
	}
	if got := len(Messages()); got != 44 {
		t.Errorf("registry has %d messages, want 44: §8 lists 41 (5 common, 21 mining, 8 job declaration, 7 template distribution), extension 0x0001 adds 3", got)
	}
}

func TestRegistry(t *testing.T) {
	for _, info := range Messages() {
		m := info.New()
		if m.MsgType() != info.Type {
			t.Errorf("%s: New().MsgType() = 0x%02x, want 0x%02x", info.Name, m.MsgType(), info.Type)
		}
		_, isChan := m.(ChannelMessage)
		if isChan != info.ChannelMsg {
			t.Errorf("%s: implements ChannelMessage = %t, §8 channel_msg = %t", info.Name, isChan, info.ChannelMsg)
		}
		got, ok := Lookup(info.Extension, info.Type)
		if !ok || got.Name != info.Name || got.Extension != info.Extension {
			t.Errorf("Lookup(0x%04x, 0x%02x) = %q, %t", info.Extension, info.Type, got.Name, ok)
		}
		if got, ok := Lookup(info.Extension|ChannelMsgBit, info.Type); !ok || got.Name != info.Name {
			t.Errorf("Lookup ignores the channel_msg bit: got %q, %t", got.Name, ok)
		}
		if got := Info(m); got.Name != info.Name || got.Extension != info.Extension || got.Type != info.Type {
			t.Errorf("Info(%T) = %+v, want %+v", m, got, info)
		}
		_, isExt := m.(ExtensionMessage)
		if isExt != (info.Extension != 0) {
			t.Errorf("%s: implements ExtensionMessage = %t, extension 0x%04x", info.Name, isExt, info.Extension)
		}
		if _, ok := Lookup(0x4001, info.Type); ok {
			t.Errorf("Lookup(0x4001, 0x%02x) found a core message", info.Type)
		}
	}
	// The two SetNewPrevHash messages are distinct types.
	a, _ := Lookup(0, 0x20)
	b, _ := Lookup(0, 0x72)
	if reflect.TypeOf(a.New()) == reflect.TypeOf(b.New()) || a.Protocol != ProtocolMining || b.Protocol != ProtocolTemplateDistribution {
		t.Errorf("SetNewPrevHash 0x20 and 0x72 must be distinct: %T (%v), %T (%v)", a.New(), a.Protocol, b.New(), b.Protocol)
	}
	for _, mt := range []uint8{0x05, 0x1e, 0x26, 0x52, 0x61, 0x77, 0xff} {
		if _, ok := Lookup(0, mt); ok {
			t.Errorf("Lookup(0, 0x%02x) found a message; §8 has none", mt)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for i, m := range samples() {
		t.Run(sampleName(i, m), func(t *testing.T) {
			enc, err := Encode(m)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got := Info(m).New()
			if err := got.DecodePayload(enc); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(m, got, equateEmpty); diff != "" {
				t.Errorf("encode → decode changed the message (-want +got):\n%s", diff)
			}
			again, err := Encode(got)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(enc, again) {
				t.Errorf("decode → encode changed the bytes:\n first %x\nsecond %x", enc, again)
			}
			// A whole frame round-trips too, with the §8 channel_msg bit.
			frame, err := AppendFrame([]byte("prefix"), m)
			if err != nil {
				t.Fatalf("AppendFrame: %v", err)
			}
			if !bytes.HasPrefix(frame, []byte("prefix")) {
				t.Fatalf("AppendFrame lost what dst held")
			}
			h, fm, err := DecodeFrame(frame[len("prefix"):])
			if err != nil {
				t.Fatalf("DecodeFrame: %v", err)
			}
			if h.ChannelMsg() != Info(m).ChannelMsg || h.Extension() != Info(m).Extension || h.MsgType != m.MsgType() || int(h.Length) != len(enc) {
				t.Errorf("header %+v for %s (payload %d bytes)", h, Info(m).Name, len(enc))
			}
			if diff := cmp.Diff(m, fm, equateEmpty); diff != "" {
				t.Errorf("frame round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func fieldNames(m Message) []string {
	var names []string
	for _, f := range Fields(m) {
		names = append(names, f.Name)
	}
	return names
}

// tlvsOf returns the TLV fields a message carries.
func tlvsOf(m Message) []TLV {
	if s, ok := m.(*SubmitSharesExtended); ok {
		return s.TLVs
	}
	return nil
}

// Every prefix of a valid payload is an error that names a field of the message, never a panic,
// except a prefix that ends between two TLV fields: it is the message with fewer of them.
func TestTruncationAtEveryOffset(t *testing.T) {
	for i, m := range samples() {
		enc, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		names := fieldNames(m)
		before := Info(m).New()
		// Where each TLV field starts, and where the last ends.
		tlvs := tlvsOf(m)
		boundaries := map[int]int{}
		if len(tlvs) > 0 {
			names = append(names, "tlv")
			off := len(enc)
			for _, tlv := range tlvs {
				off -= TLVHeaderSize + len(tlv.Value)
			}
			for k, tlv := range tlvs {
				boundaries[off] = k
				off += TLVHeaderSize + len(tlv.Value)
			}
		}
		for n := range len(enc) {
			got := Info(m).New()
			err := got.DecodePayload(enc[:n])
			if k, ok := boundaries[n]; ok {
				want := *m.(*SubmitSharesExtended)
				want.TLVs = tlvs[:k]
				if err != nil {
					t.Fatalf("%s: cut to %d bytes, before TLV %d: %v", sampleName(i, m), n, k+1, err)
				}
				if diff := cmp.Diff(&want, got, equateEmpty); diff != "" {
					t.Fatalf("%s: cut before TLV %d (-want +got):\n%s", sampleName(i, m), k+1, diff)
				}
				continue
			}
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: payload cut to %d of %d bytes: err = %v, want a truncation DecodeError", sampleName(i, m), n, len(enc), err)
			}
			if de.Message != Info(m).Name || !slices.Contains(names, de.Field) {
				t.Fatalf("%s: cut to %d: error names %q.%q, not a field of the message (%v)", sampleName(i, m), n, de.Message, de.Field, names)
			}
			if diff := cmp.Diff(before, got); diff != "" {
				t.Fatalf("%s: failed decode modified the message:\n%s", sampleName(i, m), diff)
			}
		}
	}
}

// Bytes after a message's fields must be a well-formed TLV list (§3.4.3): a list is accepted
// (kept by SubmitSharesExtended, dropped by the others), anything else is an error on "tlv".
func TestBytesAfterTheFields(t *testing.T) {
	good := []TLV{{Extension: ExtensionWorkerHashrate, Field: 9, Value: []byte("x")}, {Extension: 0x4000, Field: 1}, {Extension: 0x4000, Field: 2, Value: make([]byte, 70)}}
	w := NewWriter(nil, "test")
	w.TLVs(good)
	list, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"one byte":                   {0},
		"a TLV header of 4 bytes":    list[:4],
		"a TLV value cut short":      list[:TLVHeaderSize],
		"a TLV list cut in a header": list[:len(list)-70-1],
		"a TLV list cut in a value":  list[:len(list)-1],
		"a TLV list and one byte":    append(bytes.Clone(list), 0),
	}
	for i, m := range samples() {
		enc, _ := Encode(m)
		for what, extra := range bad {
			got := Info(m).New()
			err := got.DecodePayload(append(bytes.Clone(enc), extra...))
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrTruncated) || de.Message != Info(m).Name || de.Field != "tlv" {
				t.Errorf("%s followed by %s: err = %v, want a truncation DecodeError on %s.tlv", sampleName(i, m), what, err, Info(m).Name)
			}
			if diff := cmp.Diff(Info(m).New(), got); diff != "" {
				t.Errorf("%s: failed decode modified the message:\n%s", sampleName(i, m), diff)
			}
		}
		got := Info(m).New()
		if err := got.DecodePayload(append(bytes.Clone(enc), list...)); err != nil {
			t.Errorf("%s followed by a TLV list: %v", sampleName(i, m), err)
			continue
		}
		want := m
		if s, ok := m.(*SubmitSharesExtended); ok {
			c := *s
			c.TLVs = append(slices.Clone(s.TLVs), good...)
			want = &c
		}
		if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
			t.Errorf("%s followed by a TLV list (-want +got):\n%s", sampleName(i, m), diff)
		}
	}
	frame, _ := AppendFrame(nil, &SetTarget{ChannelID: 1})
	if _, _, err := DecodeFrame(append(frame, 1, 2)); !errors.Is(err, ErrTrailingBytes) {
		t.Errorf("frame with two extra bytes: err = %v, want ErrTrailingBytes", err)
	}
	if _, _, err := DecodeFrame(frame[:len(frame)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("frame one byte short: err = %v, want ErrTruncated", err)
	}
}

func TestLengthOverTypeLimit(t *testing.T) {
	tests := []struct {
		name    string
		m       Message
		payload []byte
		field   string
		err     error
	}{
		{"B0_32 of 33", &SetExtranoncePrefix{}, append([]byte{1, 0, 0, 0, 33}, make([]byte, 33)...), "extranonce_prefix", ErrTooLong},
		{"OPTION of 2", &NewMiningJob{}, append([]byte{1, 0, 0, 0, 2, 0, 0, 0, 2}, make([]byte, 44)...), "min_ntime", ErrInvalid},
		// Declared lengths larger than the input are refused before anything is allocated for them.
		{"B0_64K claims 65535", &SubmitSolution{}, []byte{7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 1}, "coinbase_tx", ErrTruncated},
		{"SEQ0_255[U256] claims 255", &NewTemplate{}, nil, "merkle_path", ErrTruncated},
		{"SEQ0_64K[U256] claims 65535", &DeclareMiningJob{}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2}, "wtxid_list", ErrTruncated},
		{"SEQ0_64K[B0_16M] claims 65535", &ProvideMissingTransactionsSuccess{}, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff}, "transaction_list", ErrTruncated},
		{"B0_16M element claims 16M", &ProvideMissingTransactionsSuccess{}, []byte{1, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 1, 2, 3}, "transaction_list", ErrTruncated},
		{"TLV claims 65535", &SubmitSharesExtended{}, append(make([]byte, 25), 2, 0, 1, 0xff, 0xff, 'w'), "tlv", ErrTruncated},
	}
	// A NewTemplate whose merkle path claims 255 hashes but carries one.
	nt, _ := Encode(&NewTemplate{MerklePath: path(1)})
	nt[len(nt)-33] = 255
	tests[3].payload = nt

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			// Averaged over many calls, so allocations by other goroutines of
			// the test process do not count against the decoder.
			const calls = 200
			allocated := bytesAllocated(func() {
				for range calls {
					err = tt.m.DecodePayload(tt.payload)
				}
			}) / calls
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, tt.err) || de.Field != tt.field {
				t.Fatalf("err = %v, want %v on field %s", err, tt.err, tt.field)
			}
			if allocated > 4096 {
				t.Errorf("decoding %d bytes of bad input allocated %d bytes per call", len(tt.payload), allocated)
			}
		})
	}
}

func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestEncodeRejectsValuesOverLimits(t *testing.T) {
	long := string(make([]byte, 256))
	tests := []struct {
		m     Message
		field string
	}{
		{&SetupConnection{Vendor: long}, "vendor"},
		{&OpenMiningChannelError{ErrorCode: long}, "error_code"},
		{&SetExtranoncePrefix{ExtranoncePrefix: make([]byte, 33)}, "extranonce_prefix"},
		{&DeclareMiningJobSuccess{NewMiningJobToken: make([]byte, 256)}, "new_mining_job_token"},
		{&SubmitSolution{CoinbaseTx: make([]byte, 65536)}, "coinbase_tx"},
		{&NewExtendedMiningJob{MerklePath: make([]U256, 256)}, "merkle_path"},
		{&SetGroupChannel{ChannelIDs: make([]uint32, 65536)}, "channel_ids"},
		{&ProvideMissingTransactionsSuccess{TransactionList: [][]byte{make([]byte, 1<<24)}}, "transaction_list"},
	}
	for _, tt := range tests {
		dst := []byte("keep")
		out, err := tt.m.AppendPayload(dst)
		var ee *EncodeError
		if !errors.As(err, &ee) || !errors.Is(err, ErrTooLong) || ee.Field != tt.field {
			t.Errorf("%s: err = %v, want ErrTooLong on %s", Info(tt.m).Name, err, tt.field)
		}
		if string(out) != "keep" {
			t.Errorf("%s: failed encode returned %q, want dst unchanged", Info(tt.m).Name, out)
		}
	}
	if _, err := AppendFrame(nil, &Unknown{Type: 0x99, Payload: make([]byte, MaxPayloadSize+1)}); !errors.Is(err, ErrTooLong) {
		t.Errorf("frame over U24: err = %v, want ErrTooLong", err)
	}
}

// STR0_255 is an unconstrained byte sequence: non-UTF-8 bytes survive, and
// FieldsJSON still produces valid JSON.
func TestNonUTF8Strings(t *testing.T) {
	m := &SetupConnection{Vendor: "\xff\xfeok", DeviceID: "plain"}
	enc, _ := Encode(m)
	var got SetupConnection
	if err := got.DecodePayload(enc); err != nil {
		t.Fatal(err)
	}
	if got.Vendor != "\xff\xfeok" {
		t.Errorf("vendor = %q, want the raw bytes", got.Vendor)
	}
	js := FieldsJSON(&got)
	if !json.Valid(js) {
		t.Fatalf("invalid JSON: %s", js)
	}
	if names := NonUTF8Fields(&got); !slices.Equal(names, []string{"vendor"}) {
		t.Errorf("NonUTF8Fields = %v, want [vendor]", names)
	}
}

func TestBoolReadsOnlyTheLowBit(t *testing.T) {
	enc, _ := Encode(&NewTemplate{})
	for b, want := range map[byte]bool{0: false, 1: true, 2: false, 3: true, 0xfe: false, 0xff: true} {
		enc[8] = b // future_template
		var m NewTemplate
		if err := m.DecodePayload(enc); err != nil || m.FutureTemplate != want {
			t.Errorf("BOOL byte 0x%02x: got %t, %v; want %t", b, m.FutureTemplate, err, want)
		}
	}
}

func TestPrimitives(t *testing.T) {
	w := NewWriter([]byte("kept"), "test")
	w.U24("u24", 0x123456)
	w.F32(1.5)
	pk := Pubkey{1, 2, 3}
	w.Pubkey(pk)
	sig := Signature{9: 9, 63: 63}
	w.Signature(sig)
	w.Bytes([]byte{0xaa, 0xbb})
	WriteOption(&w, "opt", Some[uint16](0x0102), func(w *Writer, _ string, v uint16) { w.U16(v) })
	WriteSeq0_255(&w, "seq", []string{"a", "bc"}, (*Writer).Str0_255)
	enc, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%x", enc[4:11]), "563412"+"0000c03f"; got != want {
		t.Errorf("U24+F32 = %s, want %s", got, want)
	}
	r := NewReader(enc[4:], "test")
	if v := r.U24("u24"); v != 0x123456 {
		t.Errorf("u24 = %x", v)
	}
	if v := r.F32("f32"); v != 1.5 {
		t.Errorf("f32 = %v", v)
	}
	if v := r.Pubkey("pk"); v != pk {
		t.Errorf("pubkey = %v", v)
	}
	if v := r.Signature("sig"); v != sig {
		t.Errorf("signature = %v", v)
	}
	if v := r.Bytes("bytes", 2); !bytes.Equal(v, []byte{0xaa, 0xbb}) {
		t.Errorf("bytes = %x", v)
	}
	if v := ReadOption(&r, "opt", (*Reader).U16); v != Some[uint16](0x0102) {
		t.Errorf("option = %+v", v)
	}
	if v := ReadSeq0_255(&r, "seq", 1, (*Reader).Str0_255); !slices.Equal(v, []string{"a", "bc"}) {
		t.Errorf("seq = %q", v)
	}
	if err := r.Done(); err != nil {
		t.Errorf("Done: %v", err)
	}

	w = NewWriter([]byte("kept"), "test")
	w.U8(1)
	w.U24("big", 1<<24)
	if out, err := w.Finish(); !errors.Is(err, ErrTooLong) || string(out) != "kept" {
		t.Errorf("U24 of 2^24: %q, %v; want dst unchanged and ErrTooLong", out, err)
	}
	r = NewReader([]byte{1, 2}, "test")
	r.Signature("sig")
	if !errors.Is(r.Err(), ErrTruncated) {
		t.Errorf("short signature: %v", r.Err())
	}
	r = NewReader([]byte{3, 0, 0, 0}, "test")
	if ReadSeq0_255(&r, "seq", 4, (*Reader).U32); !errors.Is(r.Err(), ErrTruncated) {
		t.Errorf("sequence of 3 U32 in 3 bytes: %v", r.Err())
	}
}

func TestUnknownMessages(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"reserved core type", Header{MsgType: 0x1e, ExtensionType: ChannelMsgBit}},
		{"unassigned core type", Header{MsgType: 0x99}},
		{"extension message", Header{ExtensionType: 0x0003, MsgType: 0x00}},
		{"unassigned type of Extensions Negotiation", Header{ExtensionType: ExtensionNegotiation, MsgType: 0x03}},
		{"experimental extension channel message", Header{ExtensionType: 0x4002 | ChannelMsgBit, MsgType: 0x1a}},
	}
	for _, tt := range tests {
		payload := []byte{5, 0, 0, 0, 0xaa}
		tt.h.Length = uint32(len(payload))
		m, err := Decode(tt.h, payload)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		u, ok := m.(*Unknown)
		if !ok {
			t.Fatalf("%s: got %T, want *Unknown", tt.name, m)
		}
		if u.ExtensionType != tt.h.Extension() || u.Type != tt.h.MsgType || u.ChannelMsg != tt.h.ChannelMsg() || !bytes.Equal(u.Payload, payload) {
			t.Errorf("%s: %+v", tt.name, u)
		}
		if u.ChannelMsg && u.Channel() != 5 {
			t.Errorf("%s: Channel() = %d", tt.name, u.Channel())
		}
		// It forwards unchanged.
		frame, err := AppendFrame(nil, u)
		if err != nil {
			t.Fatal(err)
		}
		if want := append(tt.h.AppendTo(nil), payload...); !bytes.Equal(frame, want) {
			t.Errorf("%s: forwarded as %x, want %x", tt.name, frame, want)
		}
	}
}

func TestChannelBitMismatch(t *testing.T) {
	payload, _ := Encode(&SubmitSharesStandard{ChannelID: 1})
	_, err := Decode(Header{MsgType: MsgTypeSubmitSharesStandard, Length: uint32(len(payload))}, payload)
	if !errors.Is(err, ErrChannelBit) {
		t.Errorf("SubmitSharesStandard without channel_msg: err = %v, want ErrChannelBit", err)
	}
	payload, _ = Encode(&SetupConnectionSuccess{})
	_, err = Decode(Header{ExtensionType: ChannelMsgBit, MsgType: MsgTypeSetupConnectionSuccess, Length: uint32(len(payload))}, payload)
	if !errors.Is(err, ErrChannelBit) {
		t.Errorf("SetupConnection.Success with channel_msg: err = %v, want ErrChannelBit", err)
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	err := new(SetupConnection).DecodePayload([]byte{0, 2, 0, 2, 0, 0, 0, 0, 0, 9, 'a'})
	want := "decode SetupConnection.endpoint_host: sv2: truncated: length 9 needs at least 9 bytes, have 1"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
}
