package sv1

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/sv2"
)

// block881423 is mainnet block 881,423 (testdata/block881423.json), the
// ground truth for Stratum V1's byte orders.
type block881423 struct {
	Source         string   `json:"source"`
	Hash           string   `json:"hash"` // as displayed: most significant byte first
	Header         string   `json:"header"`
	CoinbaseTx     string   `json:"coinbase_tx"` // with the BIP141 fields
	Coinb1End      int      `json:"coinb1_end"`
	Extranonce1End int      `json:"extranonce1_end"`
	Extranonce2End int      `json:"extranonce2_end"`
	MerkleBranches []string `json:"merkle_branches"`

	header                [80]byte
	coinb1, en1, en2, cb2 []byte // the full (SegWit) coinbase, split
	branch                []sv2.U256
	hash                  sv2.U256 // internal order
}

// Its header fields, as the header holds them (little-endian on the wire).
const (
	version881423 = 0x2e596000
	nbits881423   = 0x17029a8a
	ntime881423   = 0x679ac169
	nonce881423   = 0xff05fb02
)

func loadBlock881423(t *testing.T) *block881423 {
	t.Helper()
	raw, err := os.ReadFile("testdata/block881423.json")
	if err != nil {
		t.Fatal(err)
	}
	var b block881423
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if b.Source == "" {
		t.Fatal("testdata/block881423.json names no source")
	}
	mustHex := func(s string) []byte {
		t.Helper()
		v, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if n := copy(b.header[:], mustHex(b.Header)); n != 80 || len(b.Header) != 160 {
		t.Fatalf("header of %d hex digits", len(b.Header))
	}
	cb := mustHex(b.CoinbaseTx)
	if !(0 < b.Coinb1End && b.Coinb1End < b.Extranonce1End && b.Extranonce1End < b.Extranonce2End && b.Extranonce2End < len(cb)) {
		t.Fatalf("split %d/%d/%d of a %d-byte coinbase", b.Coinb1End, b.Extranonce1End, b.Extranonce2End, len(cb))
	}
	b.coinb1, b.en1, b.en2, b.cb2 = cb[:b.Coinb1End], cb[b.Coinb1End:b.Extranonce1End], cb[b.Extranonce1End:b.Extranonce2End], cb[b.Extranonce2End:]
	for _, s := range b.MerkleBranches {
		var h sv2.U256
		if n := copy(h[:], mustHex(s)); n != 32 || len(s) != 64 {
			t.Fatalf("merkle branch %q", s)
		}
		b.branch = append(b.branch, h)
	}
	display := mustHex(b.Hash)
	if len(display) != 32 {
		t.Fatalf("hash %q", b.Hash)
	}
	for i := range 32 {
		b.hash[i] = display[31-i]
	}
	return &b
}

// prevHash is the header's prev hash, in the header's byte order.
func (b *block881423) prevHash() sv2.U256 { return sv2.U256(b.header[4:36]) }

// sv1Coinbase is coinb1 and coinb2 as mining.notify carries them: without
// the BIP141 fields, so that they hash to the txid.
//
// StripParts reads the suffix from the input's nSequence on (Sv2 puts the
// extranonce at the end of the scriptSig); this block's pool put it in the
// middle, so the scriptSig's rest is set aside and put back.
func (b *block881423) sv1Coinbase(t *testing.T) (coinb1, coinb2 []byte) {
	t.Helper()
	full := slices.Concat(b.coinb1, b.en1, b.en2, b.cb2)
	// version 4, marker and flag 2, one input 1, prev out 36, then the
	// scriptSig's length (one byte here) and the scriptSig.
	const lenAt = 4 + 2 + 1 + 36
	if full[6] != 1 || full[lenAt] >= 0xfd {
		t.Fatalf("coinbase %x: want one input and a short scriptSig", full[:lenAt+1])
	}
	end := lenAt + 1 + int(full[lenAt])
	if end < b.Extranonce2End {
		t.Fatalf("the extranonce (to %d) is not in the scriptSig (to %d)", b.Extranonce2End, end)
	}
	coinb1, tail, err := coinbase.StripParts(b.coinb1, full[end:])
	if err != nil {
		t.Fatal(err)
	}
	coinb2 = slices.Concat(full[b.Extranonce2End:end], tail)
	if p, s, err := coinbase.StripParts(b.coinb1, b.cb2); err != nil {
		t.Logf("StripParts of the pool's own split: %v", err)
	} else if !bytes.Equal(p, coinb1) || !bytes.Equal(s, coinb2) {
		t.Errorf("StripParts of the pool's own split = %x, %x; want %x, %x", p, s, coinb1, coinb2)
	}
	return coinb1, coinb2
}

func TestBlock881423Data(t *testing.T) {
	b := loadBlock881423(t)
	if len(b.branch) != 11 {
		t.Errorf("%d merkle branches, want 11", len(b.branch))
	}
	if len(b.en1) != Extranonce1Size || len(b.en2) != DefaultExtranonce2Size {
		t.Errorf("extranonces of %d and %d bytes, want %d and %d", len(b.en1), len(b.en2), Extranonce1Size, DefaultExtranonce2Size)
	}
	// The full coinbase is SegWit: marker 0x00 and flag 0x01 after the version.
	if b.coinb1[4] != 0 || b.coinb1[5] != 1 {
		t.Errorf("coinbase %x is not SegWit", b.coinb1[:6])
	}
}

func TestPrevHashBlock881423(t *testing.T) {
	b := loadBlock881423(t)
	// The header's bytes 4..36 with each 4-byte word reversed.
	const want = "8a6ac9e3fe15ca70f8995e21434cb64ac4d2b5e10001543b0000000000000000"
	prev := b.prevHash()
	if got := PrevHashHex(prev); got != want {
		t.Errorf("PrevHashHex = %s, want %s", got, want)
	}
	got, err := ParsePrevHash(want)
	if err != nil {
		t.Fatal(err)
	}
	if got != prev {
		t.Errorf("ParsePrevHash(%s) = %x, want %x", want, got[:], prev[:])
	}
	// Neither the header's order nor the displayed (fully reversed) one.
	if want == hex.EncodeToString(prev[:]) {
		t.Error("the Sv1 prev hash is the header's order")
	}
	for _, bad := range []string{"", want[:62], want + "00", want[:63] + "g"} {
		if _, err := ParsePrevHash(bad); err == nil {
			t.Errorf("ParsePrevHash(%q) accepted", bad)
		}
	}
}

func TestPrevHashRoundTrip(t *testing.T) {
	var h sv2.U256
	for i := range h {
		h[i] = byte(i)
	}
	s := PrevHashHex(h)
	if s != "03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c" {
		t.Errorf("PrevHashHex = %s", s)
	}
	if got, err := ParsePrevHash(s); err != nil || got != h {
		t.Errorf("ParsePrevHash(%s) = %x, %v", s, got[:], err)
	}
}

func TestUint32HexBlock881423(t *testing.T) {
	b := loadBlock881423(t)
	le := func(off int) uint32 {
		return uint32(b.header[off]) | uint32(b.header[off+1])<<8 | uint32(b.header[off+2])<<16 | uint32(b.header[off+3])<<24
	}
	for _, c := range []struct {
		name string
		v    uint32
		off  int
		want string
	}{
		{"version", version881423, 0, "2e596000"},
		{"nbits", nbits881423, 72, "17029a8a"},
		{"ntime", ntime881423, 68, "679ac169"},
		{"nonce", nonce881423, 76, "ff05fb02"},
	} {
		if got := le(c.off); got != c.v {
			t.Errorf("%s in the header: %08x, want %08x", c.name, got, c.v)
		}
		if got := Uint32Hex(c.v); got != c.want {
			t.Errorf("Uint32Hex(%s) = %s, want %s", c.name, got, c.want)
		}
		if got, err := ParseUint32Hex(c.want); err != nil || got != c.v {
			t.Errorf("ParseUint32Hex(%s) = %08x, %v; want %08x", c.want, got, err, c.v)
		}
	}
}

func TestParseUint32Hex(t *testing.T) {
	for _, v := range []uint32{0, 1, 0xf, 0x1fffe000, 0x20000000, 0xffffffff} {
		s := Uint32Hex(v)
		if len(s) != 8 {
			t.Errorf("Uint32Hex(%#x) = %q: not 8 digits", v, s)
		}
		if got, err := ParseUint32Hex(s); err != nil || got != v {
			t.Errorf("ParseUint32Hex(%q) = %#x, %v", s, got, err)
		}
	}
	// Fewer digits are the number without its leading zeros; either case.
	for s, want := range map[string]uint32{"0": 0, "1": 1, "2000": 0x2000, "1FFFE000": 0x1fffe000, "DeadBeef": 0xdeadbeef} {
		if got, err := ParseUint32Hex(s); err != nil || got != want {
			t.Errorf("ParseUint32Hex(%q) = %#x, %v; want %#x", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "123456789", "000000000", "0x1234", "ffffffg0", "12 34", "-1", "+1", " 1", "１"} {
		if v, err := ParseUint32Hex(bad); err == nil {
			t.Errorf("ParseUint32Hex(%q) = %#x, want an error", bad, v)
		}
	}
}

func TestMerkleBranchHexList(t *testing.T) {
	b := loadBlock881423(t)
	if got := merkleBranchHex(b.branch); !slices.Equal(got, b.MerkleBranches) {
		t.Errorf("merkleBranchHex = %q, want %q", got, b.MerkleBranches)
	}
	if got := merkleBranchHex(nil); got == nil || len(got) != 0 {
		t.Errorf("merkleBranchHex(nil) = %#v, want an empty list", got)
	}
}

// TestStripBlock881423 checks that Sv1's coinbase parts are the full
// ones without the BIP141 marker, flag and witness.
func TestStripBlock881423(t *testing.T) {
	b := loadBlock881423(t)
	coinb1, coinb2 := b.sv1Coinbase(t)
	if want := slices.Concat(b.coinb1[:4], b.coinb1[6:]); !bytes.Equal(coinb1, want) {
		t.Errorf("stripped coinb1 = %x, want %x", coinb1, want)
	}
	// The witness: one item of 32 bytes, before the 4-byte lock time.
	witness := slices.Concat([]byte{1, 32}, make([]byte, 32))
	full := len(b.cb2)
	if !bytes.Equal(b.cb2[full-4-len(witness):full-4], witness) {
		t.Fatalf("coinb2 does not end with the coinbase witness: %x", b.cb2[full-40:])
	}
	if want := slices.Concat(b.cb2[:full-4-len(witness)], b.cb2[full-4:]); !bytes.Equal(coinb2, want) {
		t.Errorf("stripped coinb2 = %x, want %x", coinb2, want)
	}
}

func block881423Job(t *testing.T, b *block881423) *ClientJob {
	t.Helper()
	coinb1, coinb2 := b.sv1Coinbase(t)
	prev, err := ParsePrevHash(PrevHashHex(b.prevHash()))
	if err != nil {
		t.Fatal(err)
	}
	return &ClientJob{
		ID: "1", PrevHash: prev, Coinb1: coinb1, Coinb2: coinb2, Branch: b.branch,
		Version: version881423, NBits: nbits881423, NTime: ntime881423, Clean: true,
	}
}

func TestClientJobHeaderBlock881423(t *testing.T) {
	b := loadBlock881423(t)
	j := block881423Job(t, b)
	h := j.Header(b.en1, b.en2, ntime881423, nonce881423, version881423)
	if got := h.Bytes(); got != b.header {
		t.Errorf("header\n%x, want\n%x", got[:], b.header[:])
	}
	if got := h.Hash(); got != b.hash {
		t.Errorf("hash %x, want %x (%s reversed)", got[:], b.hash[:], b.Hash)
	}

	// With the witness left in, the coinbase hashes to its wtxid, not its
	// txid: the header is not the block's.
	full := *j
	full.Coinb1, full.Coinb2 = b.coinb1, b.cb2
	if h := full.Header(b.en1, b.en2, ntime881423, nonce881423, version881423); h.Hash() == b.hash {
		t.Error("the SegWit coinbase gives the block hash too")
	}
	// Any other extranonce2 changes the merkle root.
	en2 := slices.Clone(b.en2)
	en2[0] ^= 1
	if h := j.Header(b.en1, en2, ntime881423, nonce881423, version881423); h.MerkleRoot == sv2.U256(b.header[36:68]) {
		t.Error("the merkle root does not depend on extranonce2")
	}
}

func TestParseNotifyBlock881423(t *testing.T) {
	b := loadBlock881423(t)
	want := block881423Job(t, b)
	quote := func(v any) json.RawMessage {
		t.Helper()
		q, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	params := []json.RawMessage{
		quote(want.ID),
		quote(PrevHashHex(b.prevHash())),
		quote(hex.EncodeToString(want.Coinb1)),
		quote(hex.EncodeToString(want.Coinb2)),
		quote(merkleBranchHex(b.branch)),
		quote(Uint32Hex(version881423)),
		quote(Uint32Hex(nbits881423)),
		quote(Uint32Hex(ntime881423)),
		quote(true),
	}
	got, err := parseNotify(params)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseNotify\n%+v, want\n%+v", got, want)
	}
	h := got.Header(b.en1, b.en2, got.NTime, nonce881423, got.Version)
	if h.Hash() != b.hash {
		t.Errorf("the notified job's header hashes to %x, want %x", h.Hash(), b.hash)
	}

	// The same notification as a pool writes it, in one line.
	line := []byte(`{"id":null,"method":"mining.notify","params":[`)
	for i, p := range params {
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, p...)
	}
	line = append(line, "]}"...)
	var msg struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(line, &msg); err != nil || msg.Method != "mining.notify" {
		t.Fatalf("%s: %v", line, err)
	}
	if got, err := parseNotify(msg.Params); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseNotify of %s = %+v, %v", line, got, err)
	}

	for i, bad := range map[int]json.RawMessage{
		1: quote(hex.EncodeToString(b.header[4:35])),
		2: quote("zz"),
		3: quote("0"),
		4: quote([]string{b.MerkleBranches[0][:62]}),
		5: quote("123456789"),
		6: quote(7),
		7: quote(""),
		8: quote("true"),
	} {
		p := slices.Clone(params)
		p[i] = bad
		if j, err := parseNotify(p); err == nil {
			t.Errorf("parseNotify with param %d = %s accepted: %+v", i, bad, j)
		}
	}
	if _, err := parseNotify(params[:8]); err == nil {
		t.Error("parseNotify of 8 params accepted")
	}
}

// merkleBranchHex writes a merkle path as mining.notify's branch list.
func merkleBranchHex(path []sv2.U256) []string {
	out := make([]string, len(path))
	for i := range path {
		out[i] = hex.EncodeToString(path[i][:])
	}
	return out
}
