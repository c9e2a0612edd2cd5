package sha256d

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"testing"
)

// refScan is Scan by crypto/sha256: the first nonce in [from, from+count)
// (mod 2^32) whose header hashes to at most target.
func refScan(header []byte, target *[32]byte, from, count uint32) (uint32, [32]byte, bool) {
	h := slices.Clone(header[:80])
	for n := from; count > 0; n, count = n+1, count-1 {
		binary.LittleEndian.PutUint32(h[76:], n)
		if d := double(h); meets(&d, target) {
			return n, d, true
		}
	}
	return 0, [32]byte{}, false
}

// checkScan scans [from, from+count) with im in pieces, resuming after each
// hit, and checks every hit and every miss against crypto/sha256. It returns
// the number of hits.
func checkScan(t *testing.T, im impl, header []byte, target *[32]byte, from, count uint32) int {
	t.Helper()
	mid := iv
	im.block(&mid, header[:64])
	tail := [16]byte(header[64:80])
	hits := 0
	for count > 0 {
		n, h, ok := im.scan(&mid, &tail, target, from, count)
		wn, wh, wok := refScan(header, target, from, count)
		if n != wn || h != wh || ok != wok {
			t.Fatalf("header %x target %x from %d count %d: Scan (%d, %x, %t), crypto/sha256 (%d, %x, %t)",
				header, target, from, count, n, h, ok, wn, wh, wok)
		}
		if !ok {
			break
		}
		hits++
		count -= n - from + 1
		from = n + 1
	}
	return hits
}

// randTarget returns a random target that about one hash in 2^bits meets.
func randTarget(r *rand.Rand, bits int) [32]byte {
	var t [32]byte
	for i := range t {
		t[i] = byte(r.Uint32())
	}
	// Clear the top bits, most significant (the last byte's high bits) first.
	for i := 0; i < bits; i++ {
		t[31-i/8] &^= 0x80 >> (i % 8)
	}
	return t
}

func TestScanMatchesCryptoSHA256(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 22))
			hits := 0
			for i := range 120 {
				header := randBytes(r, 80)
				bits := []int{0, 1, 2, 4, 8, 32}[i%6]
				target := randTarget(r, bits)
				from, count := r.Uint32(), uint32(1+r.IntN(600))
				if i%5 == 0 {
					from = 0xffffffff - uint32(r.IntN(150)) // wraps around 2^32
				}
				hits += checkScan(t, im.impl, header, &target, from, count)
			}
			// Targets equal to a hash, and one less: the top words tie, so
			// the full comparison decides.
			for range 40 {
				header := randBytes(r, 80)
				n := r.Uint32()
				binary.LittleEndian.PutUint32(header[76:], n)
				target := double(header)
				hits += checkScan(t, im.impl, header, &target, n-3, 7)
				for j := range target { // target - 1
					target[j]--
					if target[j] != 0xff {
						break
					}
				}
				hits += checkScan(t, im.impl, header, &target, n-3, 7)
			}
			// Count 0 and the whole range's last nonce.
			header := randBytes(r, 80)
			all := [32]byte{}
			for j := range all {
				all[j] = 0xff
			}
			hits += checkScan(t, im.impl, header, &all, 0xffffffff, 1)
			hits += checkScan(t, im.impl, header, &all, 5, 0)
			if hits < 2000 {
				t.Fatalf("only %d hits checked", hits)
			}
			t.Logf("%d hits checked", hits)
		})
	}
}

// TestScanImplementationsAgree compares the candidates of the two scan
// loops, before the full comparison, on the whole range of top words.
func TestScanImplementationsAgree(t *testing.T) {
	if !hasSHANI {
		t.Skip("no SHA-NI")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for i := range 200 {
		var s scanState
		var mid [8]uint32
		for j := range mid {
			mid[j] = r.Uint32()
		}
		s.init(&mid, (*[16]byte)(randBytes(r, 16)))
		top := r.Uint32() >> (i % 32)
		from, count := r.Uint32(), uint32(r.IntN(2000))
		for count > 0 {
			gn, gok := scanGeneric(&s, from, count, top)
			nn, nok := scanSHANI(&s, from, count, top)
			if gn != nn || gok != nok {
				t.Fatalf("top %#x from %d count %d: generic (%d, %t), SHA-NI (%d, %t)", top, from, count, gn, gok, nn, nok)
			}
			if !gok {
				break
			}
			count -= gn - from + 1
			from = gn + 1
		}
	}
}

// Block 125552, the example of the Bitcoin wiki's block hashing algorithm page.
const (
	header125552 = "01000000" +
		"81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000" +
		"e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b" +
		"c7f5d74d" + "f2b9441a" + "42a14695"
	hash125552 = "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d" // displayed, byte-reversed
)

// TestScanFindsBlock125552 scans a range around the real nonce with the
// block's own target (nBits 0x1a44b9f2) and finds exactly that nonce.
func TestScanFindsBlock125552(t *testing.T) {
	raw, _ := hex.DecodeString(header125552)
	nonce := binary.LittleEndian.Uint32(raw[76:])
	if nonce != 2504433986 {
		t.Fatalf("nonce %d", nonce)
	}
	var target [32]byte // 0x44b9f2 * 256^(0x1a-3), little-endian
	target[0x1a-3], target[0x1a-2], target[0x1a-1] = 0xf2, 0xb9, 0x44
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			mid := iv
			im.impl.block(&mid, raw[:64])
			var tail [16]byte
			copy(tail[:12], raw[64:76]) // the nonce bytes are Scan's to set
			n, h, ok := im.impl.scan(&mid, &tail, &target, nonce-5000, 10000)
			slices.Reverse(h[:])
			if !ok || n != nonce || hex.EncodeToString(h[:]) != hash125552 {
				t.Fatalf("found %t nonce %d hash %x, want %d %s", ok, n, h, nonce, hash125552)
			}
		})
	}
	mid := Midstate((*[64]byte)(raw))
	if n, _, ok := Scan(&mid, (*[16]byte)(raw[64:]), &target, nonce, 1); !ok || n != nonce {
		t.Fatalf("Scan of the nonce alone: %d %t", n, ok)
	}
}

// FuzzScan checks Scan on both paths against crypto/sha256 for any header,
// target and (short) range of nonces.
func FuzzScan(f *testing.F) {
	raw, _ := hex.DecodeString(header125552)
	easy := make([]byte, 32)
	easy[31] = 0x0f
	f.Add(raw, easy, uint32(2504433980), uint16(10))
	f.Add(make([]byte, 80), make([]byte, 32), uint32(0), uint16(100))
	f.Add(raw, slices.Repeat([]byte{0xff}, 32), uint32(0xfffffff0), uint16(40))
	f.Add(raw, easy, uint32(0xffffffff), uint16(1))
	f.Fuzz(func(t *testing.T, header, target []byte, from uint32, count uint16) {
		if len(header) < 80 || len(target) < 32 {
			return
		}
		tg := [32]byte(target)
		for _, im := range impls(t) {
			checkScan(t, im.impl, header, &tg, from, uint32(count%512))
		}
	})
}
