package sha256d

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

var sink [32]byte

func BenchmarkBlock(b *testing.B) {
	for _, im := range impls(b) {
		b.Run(im.name, func(b *testing.B) {
			var p [BlockSize]byte
			s := iv
			b.SetBytes(BlockSize)
			b.ReportAllocs()
			for b.Loop() {
				im.impl.block(&s, p[:])
			}
			sink[0] = byte(s[0])
		})
	}
}

// BenchmarkNode is one merkle node: three compressions.
func BenchmarkNode(b *testing.B) {
	var l, r [32]byte
	for _, im := range impls(b) {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l = im.impl.node(&l, &r)
			}
		})
	}
	b.Run("crypto-sha256", func(b *testing.B) {
		var buf [64]byte
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(buf[:])
			h = sha256.Sum256(h[:])
			copy(buf[:32], h[:])
		}
	})
}

// BenchmarkRoot12 folds a 12-node merkle path, as an extended share on a
// block of 2,000 to 4,000 transactions needs: 36 compressions.
func BenchmarkRoot12(b *testing.B) {
	path := make([][32]byte, 12)
	for _, im := range impls(b) {
		b.Run(im.name, func(b *testing.B) {
			var h [32]byte
			b.ReportAllocs()
			for b.Loop() {
				h = root(im.impl, h, path)
			}
			sink = h
		})
	}
}

// BenchmarkHeader hashes an 80-byte header from its midstate, rolling the nonce: two compressions.
func BenchmarkHeader(b *testing.B) {
	var first [64]byte
	var tail [16]byte
	mid := Midstate(&first)
	for _, im := range impls(b) {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				tail[12], tail[13] = byte(i), byte(i>>8)
				sink = im.impl.header(&mid, &tail)
			}
		})
	}
}

// BenchmarkSum double-hashes data of a coinbase's size and larger.
func BenchmarkSum(b *testing.B) {
	for _, n := range []int{80, 150, 1024} {
		data := make([]byte, n)
		for _, im := range impls(b) {
			b.Run(fmt.Sprintf("%s/%d", im.name, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					d := newDigest(im.impl)
					d.Write(data)
					sink = d.Sum()
				}
			})
		}
		b.Run(fmt.Sprintf("crypto-sha256/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sink = double(data)
			}
		})
	}
}

// BenchmarkScan is the miner's loop over batches of nonces, none meeting
// the target; ns/nonce is the figure to compare with BenchmarkHeader.
func BenchmarkScan(b *testing.B) {
	var first [64]byte
	var tail [16]byte
	var target [32]byte // zero: no hash meets it
	mid := Midstate(&first)
	for _, im := range impls(b) {
		b.Run(im.name, func(b *testing.B) {
			const batch = 1 << 14
			b.ReportAllocs()
			n := 0
			for i := uint32(0); b.Loop(); i += batch {
				im.impl.scan(&mid, &tail, &target, i, batch)
				n += batch
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/nonce")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "nonces/s")
		})
	}
}
