package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stratumgo/stratum/core/sv2"
)

// sv2Bin is the command built once by TestMain, so tests run the real binary.
var sv2Bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sv2-cmd-test")
	if err != nil {
		panic(err)
	}
	sv2Bin = filepath.Join(dir, "sv2")
	if out, err := exec.Command("go", "build", "-o", sv2Bin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, bin string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

type vectorFile struct {
	Messages []struct {
		Name       string          `json:"name"`
		MsgType    uint8           `json:"msg_type"`
		PayloadHex string          `json:"payload_hex"`
		Fields     json.RawMessage `json:"fields"`
	} `json:"messages"`
}

// The shared vectors live with the codec's tests.
func loadVectors(t *testing.T) vectorFile {
	raw, err := os.ReadFile("../../sv2/testdata/sv2_messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func exact(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v: %q", err, s)
	}
	return v
}

type output struct {
	Message       string          `json:"message"`
	MsgType       int             `json:"msg_type"`
	ExtensionType int             `json:"extension_type"`
	ChannelMsg    bool            `json:"channel_msg"`
	Fields        json.RawMessage `json:"fields"`
}

func TestDecodeSharedVectors(t *testing.T) {
	bin := sv2Bin
	var all bytes.Buffer
	vecs := loadVectors(t).Messages
	for _, vec := range vecs {
		payload, _ := hex.DecodeString(vec.PayloadHex)
		frame := append(sv2.Header{MsgType: vec.MsgType, Length: uint32(len(payload))}.AppendTo(nil), payload...)
		all.Write(frame)
		for _, args := range [][]string{
			{"decode", hex.EncodeToString(frame)},
			{"decode", "--type", "0x" + hex.EncodeToString([]byte{vec.MsgType}), vec.PayloadHex},
			{"decode", "--type", strconv.Itoa(int(vec.MsgType)), "--channel-msg=false", vec.PayloadHex},
		} {
			r := run(t, bin, "", args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("%v: %d lines of output, want 1", args, len(lines))
			}
			var o output
			if err := json.Unmarshal([]byte(lines[0]), &o); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if o.Message != vec.Name || o.MsgType != int(vec.MsgType) || o.ExtensionType != 0 || o.ChannelMsg {
				t.Errorf("%v: envelope %+v", args, o)
			}
			if diff := cmp.Diff(exact(t, string(vec.Fields)), exact(t, string(o.Fields))); diff != "" {
				t.Errorf("%v: fields (-vector +sv2 decode):\n%s", args, diff)
			}
		}
	}
	// Several frames in one argument, and from standard input: one line each.
	for _, r := range []result{run(t, bin, "", "decode", hex.EncodeToString(all.Bytes())), run(t, bin, hex.EncodeToString(all.Bytes())+"\n", "decode")} {
		if r.code != 0 || strings.Count(r.stdout, "\n") != len(vecs) {
			t.Errorf("concatenated frames: exit %d, %d lines, want %d; stderr %q", r.code, strings.Count(r.stdout, "\n"), len(vecs), r.stderr)
		}
	}
}

func TestDecodeChannelMessageAndU64(t *testing.T) {
	bin := sv2Bin
	frame, _ := sv2.AppendFrame(nil, &sv2.SubmitSharesSuccess{ChannelID: 7, LastSequenceNumber: 1, NewSubmitsAcceptedCount: 2, NewSharesSum: 18446744073709551615})
	r := run(t, bin, "", "decode", hex.EncodeToString(frame))
	want := `{"message":"SubmitShares.Success","msg_type":28,"extension_type":0,"channel_msg":true,"fields":{"channel_id":7,"last_sequence_number":1,"new_submits_accepted_count":2,"new_shares_sum":18446744073709551615}}` + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("got exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	frame, _ = sv2.AppendFrame(nil, &sv2.NewMiningJob{ChannelID: 1, JobID: 2, Version: 3})
	r = run(t, bin, "", "decode", hex.EncodeToString(frame))
	if !strings.Contains(r.stdout, `"min_ntime":null`) || !strings.Contains(r.stdout, `"merkle_root":"0000`) {
		t.Errorf("OPTION/U256 rendering: %s", r.stdout)
	}
}

func TestDecodeNonUTF8(t *testing.T) {
	bin := sv2Bin
	payload, _ := sv2.Encode(&sv2.SetupConnection{Protocol: 0, MinVersion: 2, MaxVersion: 2, Vendor: "\xff\xfe", DeviceID: "ok"})
	r := run(t, bin, "", "decode", "--type", "0", hex.EncodeToString(payload))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !json.Valid([]byte(r.stdout)) {
		t.Fatalf("not valid JSON: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "SetupConnection.vendor is not UTF-8") || !strings.Contains(r.stderr, "fffe") {
		t.Errorf("stderr should note the raw bytes: %q", r.stderr)
	}
}

func TestDecodeMalformed(t *testing.T) {
	bin := sv2Bin
	setup := "000000520000" + "02020002000100000007302e302e302e306121074269746d61696e085339692031332e351c62726169696e732d6f732d323031382d30392d32322d312d6861736810736f6d652d6465766963652d75756964"
	tests := []struct {
		name string
		args []string
		want string // substring of the one stderr line
	}{
		{"bad hex", []string{"decode", "00zz"}, "bad hex"},
		{"odd hex", []string{"decode", "000"}, "bad hex"},
		{"empty", []string{"decode", ""}, "no frame"},
		{"short header", []string{"decode", "0000"}, "frame.header: sv2: truncated"},
		{"truncated payload", []string{"decode", setup[:len(setup)-4]}, "SetupConnection.device_id: sv2: truncated"},
		// Bytes after a message's fields must be TLV fields (spec §3.4.3); one byte is a cut TLV header.
		{"trailing byte", []string{"decode", "--type", "1", "02000300000000"}, "SetupConnection.Success.tlv: sv2: truncated"},
		{"TLV value cut short", []string{"decode", "--type", "1", "020003000000" + "0200010a00" + "576f726b"}, "SetupConnection.Success.tlv: sv2: truncated"},
		{"user_identity over 32 bytes", []string{"decode", "--type", "0x1b", strings.Repeat("00", 25) + "0200012100" + strings.Repeat("61", 33)}, "SubmitSharesExtended.tlv: sv2: over the type's limit"},
		{"user_identity not UTF-8", []string{"decode", "--type", "0x1b", strings.Repeat("00", 25) + "0200010100" + "ff"}, "SubmitSharesExtended.tlv: sv2: invalid value"},
		{"spec's big-endian TLV example", []string{"decode", "--type", "0x1b", strings.Repeat("00", 25) + "000201000a" + "576f726b65725f303031"}, "SubmitSharesExtended.tlv: sv2: truncated"},
		{"string length over data", []string{"decode", "--type", "2", "00000000ff41"}, "SetupConnection.Error.error_code: sv2: truncated"},
		{"B0_32 over 32", []string{"decode", "--type", "0x19", "01000000" + "21" + strings.Repeat("00", 33)}, "SetExtranoncePrefix.extranonce_prefix: sv2: over the type's limit"},
		{"unknown type in frame", []string{"decode", "000099000000"}, "message type 0x99 of extension 0x0000: sv2: unknown message type"},
		{"unknown extension", []string{"decode", "030000000000"}, "extension 0x0003: sv2: unknown message type"},
		{"unknown type of extension 0x0001", []string{"decode", "010003000000"}, "message type 0x03 of extension 0x0001: sv2: unknown message type"},
		{"RequestExtensions cut short", []string{"decode", "010000040000" + "01000200" + "0200"}, "RequestExtensions.requested_extensions: sv2: truncated"},
		{"unknown --extension type", []string{"decode", "--extension", "1", "--type", "3", ""}, "--extension 0x0001 --type 0x03: sv2: unknown message type"},
		{"bad --extension", []string{"decode", "--extension", "0x8001", "--type", "0", "00"}, "--extension"},
		{"--extension without --type", []string{"decode", "--extension", "1", "010000060000010001000100"}, "--extension needs --type"},
		{"unknown --type", []string{"decode", "--type", "0x1e", ""}, "unknown message type"},
		{"bad --type", []string{"decode", "--type", "300", "00"}, "--type"},
		{"unknown flag", []string{"decode", "--bogus", "00"}, "flag provided but not defined"},
		{"channel bit wrong", []string{"decode", "--type", "0x21", "--channel-msg=false", "01000000" + strings.Repeat("00", 32)}, "channel_msg"},
	}
	for _, tt := range tests {
		r := run(t, bin, "", tt.args...)
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1", tt.name, r.code)
		}
		if r.stdout != "" {
			t.Errorf("%s: stdout %q, want nothing", tt.name, r.stdout)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: stderr %q, want one line containing %q", tt.name, r.stderr, tt.want)
		}
	}
}

type extensionVectorFile struct {
	Messages []struct {
		Name          string          `json:"name"`
		ExtensionType uint16          `json:"extension_type"`
		MsgType       uint8           `json:"msg_type"`
		PayloadHex    string          `json:"payload_hex"`
		FrameHex      string          `json:"frame_hex"`
		Fields        json.RawMessage `json:"fields"`
	} `json:"messages"`
}

// The extension messages and the TLV fields of SubmitSharesExtended, from the vectors in SRI's byte order.
func TestDecodeExtensionVectors(t *testing.T) {
	raw, err := os.ReadFile("../../sv2/testdata/sv2_extensions.json")
	if err != nil {
		t.Fatal(err)
	}
	var vecs extensionVectorFile
	if err := json.Unmarshal(raw, &vecs); err != nil {
		t.Fatal(err)
	}
	if len(vecs.Messages) == 0 {
		t.Fatal("no vectors")
	}
	for _, vec := range vecs.Messages {
		info, ok := sv2.Lookup(vec.ExtensionType, vec.MsgType)
		if !ok {
			t.Fatalf("%s: not in the registry", vec.Name)
		}
		for _, args := range [][]string{
			{"decode", vec.FrameHex},
			{"decode", "--extension", strconv.Itoa(int(vec.ExtensionType)), "--type", strconv.Itoa(int(vec.MsgType)), vec.PayloadHex},
			{"decode", "-e", "0x" + strconv.FormatUint(uint64(vec.ExtensionType), 16), "-t", "0x" + hex.EncodeToString([]byte{vec.MsgType}), vec.PayloadHex},
		} {
			r := run(t, sv2Bin, "", args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
			}
			var o output
			if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || strings.Count(r.stdout, "\n") != 1 {
				t.Fatalf("%v: %v in %q", args, err, r.stdout)
			}
			if o.Message != vec.Name || o.MsgType != int(vec.MsgType) || o.ExtensionType != int(vec.ExtensionType) || o.ChannelMsg != info.ChannelMsg {
				t.Errorf("%v: envelope %+v", args, o)
			}
			if diff := cmp.Diff(exact(t, string(vec.Fields)), exact(t, string(o.Fields))); diff != "" {
				t.Errorf("%v: fields (-vector +sv2 decode):\n%s", args, diff)
			}
		}
	}
}

func TestDecodeTLVs(t *testing.T) {
	m := &sv2.SubmitSharesExtended{ChannelID: 7, SequenceNumber: 1, JobID: 2, Nonce: 3, NTime: 4, Version: 5, Extranonce: []byte{0xaa},
		TLVs: []sv2.TLV{sv2.WorkerIdentityTLV("Worker_001"), {Extension: 0x4000, Field: 3, Value: []byte{1, 2}}}}
	frame, err := sv2.AppendFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, sv2Bin, "", "decode", hex.EncodeToString(frame))
	want := `{"message":"SubmitSharesExtended","msg_type":27,"extension_type":0,"channel_msg":true,"fields":{"channel_id":7,"sequence_number":1,"job_id":2,"nonce":3,"ntime":4,"version":5,"extranonce":"aa",` +
		`"tlvs":[{"extension":2,"field":1,"value":"576f726b65725f303031","user_identity":"Worker_001"},{"extension":16384,"field":3,"value":"0102"}]}}` + "\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("got exit %d, stderr %q\n%s\nwant\n%s", r.code, r.stderr, r.stdout, want)
	}
	// Without TLVs the list is empty.
	frame, _ = sv2.AppendFrame(nil, &sv2.SubmitSharesExtended{ChannelID: 7})
	if r := run(t, sv2Bin, "", "decode", hex.EncodeToString(frame)); r.code != 0 || !strings.Contains(r.stdout, `"extranonce":"","tlvs":[]}`) {
		t.Errorf("no TLVs: exit %d, %q", r.code, r.stdout)
	}
	// After other messages TLV fields are checked and dropped.
	frame, _ = sv2.AppendFrame(nil, &sv2.SetTarget{ChannelID: 7})
	frame = append(frame, 0x00, 0x40, 0x01, 0x01, 0x00, 0xee)
	frame[3] += 6
	r = run(t, sv2Bin, "", "decode", hex.EncodeToString(frame))
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"message":"SetTarget"`) || strings.Contains(r.stdout, "tlv") {
		t.Errorf("SetTarget with a TLV: exit %d, %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// decode --help names each flag's default once.
func TestDecodeHelpNamesEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	app := newApp(strings.NewReader(""), &out, &out)
	if err := app.Run([]string{"sv2", "decode", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}
