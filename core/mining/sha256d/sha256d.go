// Package sha256d computes SHA-256 and Bitcoin's double SHA-256 (SHA256d) on
// the short, fixed-shape inputs of mining, where crypto/sha256's per-call
// overhead costs more than the hashing itself: merkle nodes (64 bytes), block
// headers (80 bytes, from a midstate of their first 64) and coinbases.
// [Scan] is a miner's loop over the nonces of one header.
//
// [Block] is the SHA-256 compression function. On amd64 CPUs with the SHA
// extensions (SHA-NI, with SSSE3 and SSE4.1) it runs in assembly; elsewhere,
// and with the purego build tag, in Go. The choice is made once, when the
// package is initialised. Nothing in the package allocates.
//
// Digests are returned in the byte order SHA-256 produces them, which is
// Bitcoin's internal (wire) order of txids, merkle nodes and block hashes.
package sha256d

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// BlockSize is the size of the blocks [Block] compresses.
const BlockSize = 64

// iv is SHA-256's initial hash value (FIPS 180-4 §5.3.3). Never written.
var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// roundK holds the round constants (FIPS 180-4 §4.2.2); the assembly reads it too. Never written.
var roundK = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// padWK is W[t]+K[t] of the block that pads a 64-byte message: it never
// changes, so the assembly skips that block's message schedule. Never written.
var padWK = func() (wk [64]uint32) {
	var w [64]uint32
	w[0], w[15] = 0x80000000, 512
	for t := 16; t < 64; t++ {
		w[t] = sigma1(w[t-2]) + w[t-7] + sigma0(w[t-15]) + w[t-16]
	}
	for t := range wk {
		wk[t] = w[t] + roundK[t]
	}
	return wk
}()

// impl selects the compression function. The zero value is the pure-Go one,
// so tests can run every helper on both paths without touching package state.
type impl struct{ shani bool }

// native is the fastest implementation this CPU supports, chosen once at init.
var native = impl{shani: hasSHANI}

// Implementation names the compression function in use, for logs and benchmarks.
func Implementation() string {
	if native.shani {
		return "SHA-NI"
	}
	return "generic"
}

// block compresses whole blocks. A direct call on a bool, unlike a func
// variable, lets escape analysis keep the callers' state on the stack.
func (i impl) block(state *[8]uint32, p []byte) {
	if i.shani {
		blockSHANI(state, p)
		return
	}
	blockGeneric(state, p)
}

// Block runs the SHA-256 compression function over p, whose length must be a
// multiple of [BlockSize], updating state. Starting from [Init], it is the
// first step of hashing any message; it does not pad.
func Block(state *[8]uint32, p []byte) {
	if len(p)%BlockSize != 0 {
		panic(fmt.Sprintf("sha256d: Block given %d bytes, not whole 64-byte blocks", len(p)))
	}
	native.block(state, p)
}

// Init returns SHA-256's initial state, for [Block].
func Init() [8]uint32 { return iv }

// Midstate returns the state after compressing the first 64 bytes of a
// message, such as the part of a block header a miner does not roll; see [Header].
func Midstate(first *[64]byte) [8]uint32 {
	s := iv
	native.block(&s, first[:])
	return s
}

// Node returns the double SHA-256 of left‖right: the merkle node above two
// nodes or txids.
func Node(left, right *[32]byte) [32]byte { return native.node(left, right) }

// Root returns the merkle root above leaf given its merkle path, nearest
// sibling first, when leaf is the first leaf of the tree, as the coinbase is:
// leaf is hashed with each path node in turn, always on the left (§5.3.16 of
// the Stratum V2 specification). Its three compressions per node are the hot
// path of validating an extended share.
func Root[H ~[32]byte](leaf H, path []H) H { return H(root(native, [32]byte(leaf), path)) }

func root[H ~[32]byte](i impl, h [32]byte, path []H) [32]byte {
	if i.shani {
		if len(path) > 0 {
			// H's underlying type is [32]byte, so path is len(path) such arrays in a row.
			rootSHANI(&h, (*[32]byte)(unsafe.Pointer(unsafe.SliceData(path))), len(path))
		}
		return h
	}
	for _, p := range path {
		r := [32]byte(p)
		h = i.node(&h, &r)
	}
	return h
}

// Header returns the double SHA-256 of an 80-byte block header from the
// [Midstate] of its first 64 bytes and its last 16 (the merkle root's last 4
// bytes, nTime, nBits and the nonce): two compressions.
func Header(mid *[8]uint32, tail *[16]byte) [32]byte { return native.header(mid, tail) }

// Sum returns the double SHA-256 of data.
func Sum(data []byte) [32]byte {
	var d Digest
	d.Write(data)
	return d.Sum()
}

func (i impl) node(left, right *[32]byte) [32]byte {
	if i.shani {
		var out [32]byte
		nodeSHANI(&out, left, right)
		return out
	}
	var b [64]byte
	copy(b[:32], left[:])
	copy(b[32:], right[:])
	s := iv
	i.block(&s, b[:])
	// The padding of a 64-byte message is a whole block of its own and never changes.
	pad := [64]byte{0: 0x80, 62: 0x02} // 512 bits
	i.block(&s, pad[:])
	return i.second(&s)
}

func (i impl) header(mid *[8]uint32, tail *[16]byte) [32]byte {
	if i.shani {
		var out [32]byte
		headerSHANI(&out, mid, tail)
		return out
	}
	b := [64]byte{16: 0x80, 62: 0x02, 63: 0x80} // 640 bits
	copy(b[:16], tail[:])
	s := *mid
	i.block(&s, b[:])
	return i.second(&s)
}

// second returns SHA-256 of the 32-byte digest in state: the outer hash of
// SHA256d, one compression of the digest and its constant padding.
func (i impl) second(state *[8]uint32) [32]byte {
	b := [64]byte{32: 0x80, 62: 0x01} // 256 bits
	putState(&b, state)
	s := iv
	i.block(&s, b[:])
	var out [64]byte
	putState(&out, &s)
	return [32]byte(out[:32])
}

// putState writes state as the 32-byte big-endian digest at the start of b.
func putState(b *[64]byte, state *[8]uint32) {
	for j, v := range state {
		binary.BigEndian.PutUint32(b[4*j:], v)
	}
}

// Digest computes the double SHA-256 of data written to it in pieces, for
// example a coinbase as prefix, extranonce and suffix, without copying it
// into one buffer. The zero value is ready to use.
type Digest struct {
	state [8]uint32
	buf   [BlockSize]byte
	nbuf  int    // bytes waiting in buf
	len   uint64 // bytes written
	impl  impl
	ready bool
}

// Reset empties d.
func (d *Digest) Reset() {
	*d = Digest{state: iv, impl: native, ready: true}
}

// Write adds p to the message. It never fails; the results satisfy io.Writer.
func (d *Digest) Write(p []byte) (int, error) {
	if !d.ready {
		d.Reset()
	}
	n := len(p)
	d.len += uint64(n)
	if d.nbuf > 0 {
		c := copy(d.buf[d.nbuf:], p)
		d.nbuf += c
		p = p[c:]
		if d.nbuf < BlockSize {
			return n, nil
		}
		d.impl.block(&d.state, d.buf[:])
		d.nbuf = 0
	}
	if whole := len(p) &^ (BlockSize - 1); whole > 0 {
		d.impl.block(&d.state, p[:whole])
		p = p[whole:]
	}
	d.nbuf = copy(d.buf[:], p)
	return n, nil
}

// Sum returns the double SHA-256 of everything written. It does not change d,
// so writing may go on.
func (d *Digest) Sum() [32]byte {
	if !d.ready {
		d.Reset()
	}
	var b [2 * BlockSize]byte
	copy(b[:], d.buf[:d.nbuf])
	b[d.nbuf] = 0x80
	n := BlockSize
	if d.nbuf >= BlockSize-8 { // no room for the 8-byte length: one more block
		n = 2 * BlockSize
	}
	binary.BigEndian.PutUint64(b[n-8:n], d.len*8)
	s := d.state
	d.impl.block(&s, b[:n])
	return d.impl.second(&s)
}
