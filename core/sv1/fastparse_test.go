package sv1

import (
	"bytes"
	"encoding/json"
	"testing"
)

var fastSeeds = []string{
	`{"id":4,"method":"mining.submit","params":["alice.rig1","1a","01020304","6553f100","deadbeef"]}`,
	`{"params":["alice.rig1","1a","01020304","6553f100","deadbeef","00002000"],"id":"x7","method":"mining.submit"}`,
	` { "id" : null , "method" : "mining.subscribe" , "params" : [ ] } `,
	`{"id":-12,"method":"mining.authorize","params":["a","b"]}`,
	`{"method":"x"}`,
	`{"id":007,"method":"x","params":[]}`,
	`{"id":1.5,"method":"x","params":[]}`,
	`{"id":1,"method":"x","params":["a\"b"]}`,
	`{"id":1,"method":"x","params":["é"]}`,
	`{"id":1,"method":"x","params":[1]}`,
	`{"id":1,"method":"x","method":"y"}`,
	`{"id":1,"method":"x","params":["a"]} trailing`,
	`{"id":1,"method":"x","params":["a",]}`,
	`{"id":1}`,
}

// FuzzFastParse holds the fast path to encoding/json's: whatever it takes,
// it reads as encoding/json does.
func FuzzFastParse(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := parseFast(line)
		if !ok {
			return
		}
		slow, err := parseJSON(line)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json refuses it: %v", line, err)
		}
		var a, b any
		if json.Unmarshal(fast.ID, &a) != nil || json.Unmarshal(slow.ID, &b) != nil || a != b {
			t.Fatalf("%q: id %s, encoding/json %s", line, fast.ID, slow.ID)
		}
		if fast.Method != slow.Method || len(fast.Params) != len(slow.Params) {
			t.Fatalf("%q: %q %d params, encoding/json %q %d", line, fast.Method, len(fast.Params), slow.Method, len(slow.Params))
		}
		for i := range fast.Params {
			x, err1 := fast.String(i, "p")
			slow.strs = nil
			y, err2 := slow.String(i, "p")
			if err1 != nil || err2 != nil || x != y || !bytes.Equal(bytes.TrimSpace(fast.Params[i]), bytes.TrimSpace(slow.Params[i])) {
				t.Fatalf("%q: param %d %q, encoding/json %q (%v %v)", line, i, x, y, err1, err2)
			}
		}
	})
}

func TestFastParseTakesTheCommonLines(t *testing.T) {
	for i, s := range fastSeeds[:5] {
		if _, ok := parseFast([]byte(s)); !ok {
			t.Errorf("seed %d %q left to encoding/json", i, s)
		}
	}
	for i, s := range fastSeeds[5:] {
		if _, ok := parseFast([]byte(s)); ok {
			t.Errorf("seed %d %q taken by the fast path", i+5, s)
		}
	}
}
