package cpuminer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

func dsha(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// scan finds exactly the nonces crypto/sha256 says meet the target.
func TestScanMatchesCryptoSHA256(t *testing.T) {
	h := block.Header{Version: 0x20000000, PrevHash: sv2.U256{1, 2, 3}, MerkleRoot: sv2.U256{4, 5, 6}, NTime: 1700000000, NBits: 0x207fffff}
	var easy sv2.U256
	easy[31] = 0x0f // about one hash in 16
	for from := uint32(0); from < 2000; {
		nonce, hash, found := scan(&h, &easy, from, 2000-from)
		// Every nonce skipped must miss the target, by crypto/sha256's count.
		end := nonce
		if !found {
			end = 2000
		}
		for n := from; n < end; n++ {
			h.Nonce = n
			b := h.Bytes()
			d := sv2.U256(dsha(b[:]))
			if target.Meets(&d, &easy) {
				t.Fatalf("nonce %d meets the target but scan skipped it", n)
			}
		}
		if !found {
			break
		}
		h.Nonce = nonce
		b := h.Bytes()
		if d := sv2.U256(dsha(b[:])); sv2.U256(d) != hash || d[31] > 0x0f {
			t.Fatalf("nonce %d: scan hash %x, crypto/sha256 %x", nonce, hash, d)
		}
		from = nonce + 1
	}
}

// A real mainnet header hashes to its block hash through the midstate path.
func TestScanRealHeader(t *testing.T) {
	// Block 125552, the example of the Bitcoin wiki's block hashing algorithm page.
	raw, _ := hex.DecodeString("01000000" +
		"81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000" +
		"e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b" +
		"c7f5d74d" + "f2b9441a" + "42a14695")
	h := block.Header{
		Version: binary.LittleEndian.Uint32(raw[0:]), NTime: binary.LittleEndian.Uint32(raw[68:]),
		NBits: binary.LittleEndian.Uint32(raw[72:]),
	}
	copy(h.PrevHash[:], raw[4:36])
	copy(h.MerkleRoot[:], raw[36:68])
	nonce := binary.LittleEndian.Uint32(raw[76:])
	max := sv2.U256{}
	for i := range max {
		max[i] = 0xff
	}
	got, hash, found := scan(&h, &max, nonce, 1)
	want, _ := hex.DecodeString("1dbd981fe6985776b644b173a4d0385ddc1aa2a829688d1e0000000000000000")
	if !found || got != nonce || !bytes.Equal(hash[:], want) {
		t.Errorf("block 125552: nonce %d found %t hash %x, want %x", got, found, hash, want)
	}
}

func TestMeasure(t *testing.T) {
	if rate := Measure(1, 50e6); rate <= 0 {
		t.Errorf("Measure = %v", rate)
	}
}
