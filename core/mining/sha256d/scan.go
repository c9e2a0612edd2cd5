package sha256d

import (
	"encoding/binary"
	"math/bits"
)

// Scan hashes the 80-byte block headers whose first 64 bytes have the
// [Midstate] mid and whose last 16 are tail with its nonce (tail[12:16],
// little-endian) set to from, from+1, … for count nonces, wrapping at 2^32,
// and returns the first nonce whose double SHA-256, read as a little-endian
// 256-bit number (as Bitcoin compares a hash with a target), is at most
// target, with that hash. tail's own nonce bytes are ignored.
//
// It is [Header] in a loop with everything that does not depend on the nonce
// hoisted out of it: the first four rounds of the first compression are
// done once per call (the nonce, the fourth message word, enters the fourth
// round only by addition), the padding of both compressions is constant, the
// second compression stops two rounds early, when its last state word (the
// hash's most significant bits) is known, and only hashes whose top 32 bits
// pass are finished and compared in full. With SHA-NI it hashes two nonces at
// once, which keeps the SHA unit busy while one chain of rounds waits on the
// other.
func Scan(mid *[8]uint32, tail *[16]byte, target *[32]byte, from, count uint32) (nonce uint32, hash [32]byte, found bool) {
	return native.scan(mid, tail, target, from, count)
}

// scanState is what a scan precomputes; the assembly reads its first five
// fields, in SHA256RNDS2's lane order (see block_amd64.s), at fixed offsets.
type scanState struct {
	abef, cdgh       [4]uint32 // the state after the first four rounds with a zero nonce word
	midABEF, midCDGH [4]uint32 // the midstate, added at the end of the first compression
	msg              [4]uint32 // the first four message words, the nonce word zero

	mid, after4 [8]uint32 // the same, a to h, for scanGeneric
}

// scanWK is W[t]+K[t] of the constant message words: rounds 4-15 of the
// block ending an 80-byte message (the padding after the nonce), then rounds
// 8-15 of the block of a 32-byte message (the second hash). Never written.
var scanWK = func() (wk [20]uint32) {
	for t := 4; t < 16; t++ {
		wk[t-4] = roundK[t]
	}
	wk[0] += 0x80000000 // W[4]: the padding's 1 bit
	wk[11] += 640       // W[15]: 80 bytes in bits
	for t := 8; t < 16; t++ {
		wk[t+4] = roundK[t]
	}
	wk[12] += 0x80000000 // W[8]
	wk[19] += 256        // W[15]: 32 bytes in bits
	return wk
}()

func (s *scanState) init(mid *[8]uint32, tail *[16]byte) {
	s.mid = *mid
	w := [4]uint32{binary.BigEndian.Uint32(tail[0:]), binary.BigEndian.Uint32(tail[4:]), binary.BigEndian.Uint32(tail[8:])}
	s.msg = w
	s.after4 = *mid
	rounds(&s.after4, w[:], 0)
	s.abef, s.cdgh = laneOrder(&s.after4)
	s.midABEF, s.midCDGH = laneOrder(mid)
}

// laneOrder returns state a…h as SHA256RNDS2's registers: dwords 0 to 3 are
// [f e b a] and [h g d c].
func laneOrder(s *[8]uint32) (abef, cdgh [4]uint32) {
	return [4]uint32{s[5], s[4], s[1], s[0]}, [4]uint32{s[7], s[6], s[3], s[2]}
}

// rounds does one SHA-256 round on s for each word of w, the first being
// message word t.
func rounds(s *[8]uint32, w []uint32, t int) {
	a, b, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for i, wi := range w {
		t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) +
			(e&f ^ ^e&g) + roundK[t+i] + wi
		t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) +
			(a&b ^ a&c ^ b&c)
		h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	*s = [8]uint32{a, b, c, d, e, f, g, h}
}

// schedule fills w[16:] from w[:16].
func schedule(w *[64]uint32) {
	for t := 16; t < 64; t++ {
		w[t] = sigma1(w[t-2]) + w[t-7] + sigma0(w[t-15]) + w[t-16]
	}
}

// scanGeneric is scanSHANI in Go: it returns the first of count nonces from
// from whose hash's most significant 32 bits (the last four bytes, read
// little-endian) are at most top, a candidate the caller checks in full.
func scanGeneric(s *scanState, from, count, top uint32) (nonce uint32, ok bool) {
	var w, w2 [64]uint32
	copy(w[:3], s.msg[:3])
	w[4], w[15] = 0x80000000, 640
	w2[8], w2[15] = 0x80000000, 256
	for n := from; count > 0; n, count = n+1, count-1 {
		// The nonce word is added to T1 of round 3, which becomes part of a and e.
		w[3] = bits.ReverseBytes32(n)
		schedule(&w)
		st := s.after4
		st[0] += w[3]
		st[4] += w[3]
		rounds(&st, w[4:], 4)
		for j := range st {
			w2[j] = st[j] + s.mid[j]
		}
		schedule(&w2)
		// After 61 rounds e is what will be h after 64; h+iv[7] is the last
		// word of the digest, whose bytes are the hash's most significant.
		st = iv
		rounds(&st, w2[:61], 0)
		if bits.ReverseBytes32(st[4]+iv[7]) <= top {
			return n, true
		}
	}
	return 0, false
}

func (i impl) scan(mid *[8]uint32, tail *[16]byte, target *[32]byte, from, count uint32) (uint32, [32]byte, bool) {
	var s scanState
	s.init(mid, tail)
	top := binary.LittleEndian.Uint32(target[28:])
	t := *tail
	for count > 0 {
		var n uint32
		var ok bool
		if i.shani {
			n, ok = scanSHANI(&s, from, count, top)
		} else {
			n, ok = scanGeneric(&s, from, count, top)
		}
		if !ok {
			break
		}
		binary.LittleEndian.PutUint32(t[12:], n)
		if h := i.header(mid, &t); meets(&h, target) {
			return n, h, true
		}
		count -= n - from + 1
		from = n + 1
	}
	return 0, [32]byte{}, false
}

// meets reports whether hash ≤ target as little-endian 256-bit numbers.
func meets(hash, target *[32]byte) bool {
	for i := 24; i >= 0; i -= 8 {
		h, t := binary.LittleEndian.Uint64(hash[i:]), binary.LittleEndian.Uint64(target[i:])
		if h != t {
			return h < t
		}
	}
	return true
}
