package sha256d

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// impls are the implementations this machine can run; the generic one always.
func impls(t testing.TB) []struct {
	name string
	impl impl
} {
	all := []struct {
		name string
		impl impl
	}{{"generic", impl{}}}
	if hasSHANI {
		all = append(all, struct {
			name string
			impl impl
		}{"SHA-NI", impl{shani: true}})
	} else {
		t.Log("no SHA-NI on this CPU or build: testing the generic path only")
	}
	return all
}

func newDigest(i impl) *Digest {
	d := new(Digest)
	d.Reset()
	d.impl = i
	return d
}

func double(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// stdState returns crypto/sha256's internal state after writing p, a whole
// number of blocks, read from its MarshalBinary form ("sha\x03", the eight
// state words big-endian, the buffer, the length).
func stdState(t testing.TB, p []byte) [8]uint32 {
	t.Helper()
	h := sha256.New()
	h.Write(p)
	m, err := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil || string(m[:4]) != "sha\x03" {
		t.Fatalf("crypto/sha256 state: %v, magic %q", err, m[:4])
	}
	var s [8]uint32
	for i := range s {
		s[i] = binary.BigEndian.Uint32(m[4+4*i:])
	}
	return s
}

func TestBlockMatchesCryptoSHA256State(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for blocks := range 6 {
				p := randBytes(r, blocks*BlockSize)
				s := iv
				im.impl.block(&s, p)
				if want := stdState(t, p); s != want {
					t.Fatalf("%d blocks: state %08x, crypto/sha256 has %08x", blocks, s, want)
				}
			}
		})
	}
}

// TestImplementationsAgree compresses random blocks from random states, which
// no message reaches from the IV alone.
func TestImplementationsAgree(t *testing.T) {
	if !hasSHANI {
		t.Skip("no SHA-NI")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		var s [8]uint32
		for j := range s {
			s[j] = r.Uint32()
		}
		p := randBytes(r, BlockSize*(1+i%3))
		g, n := s, s
		impl{}.block(&g, p)
		impl{shani: true}.block(&n, p)
		if g != n {
			t.Fatalf("state %08x, %d bytes: generic %08x, SHA-NI %08x", s, len(p), g, n)
		}
	}
}

func TestBlockRejectsPartialBlocks(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Block accepted 65 bytes")
		}
	}()
	s := Init()
	Block(&s, make([]byte, 65))
}

func TestMidstate(t *testing.T) {
	var first [64]byte
	copy(first[:], "a block header's first 64 bytes, the part a miner does not roll")
	if got, want := Midstate(&first), stdState(t, first[:]); got != want {
		t.Fatalf("Midstate %08x, want %08x", got, want)
	}
	s := Init()
	Block(&s, first[:])
	if s != Midstate(&first) {
		t.Fatal("Block from Init differs from Midstate")
	}
}

// TestSum checks every length across the first five block boundaries and random longer ones.
func TestSum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lengths := make([]int, 0, 400)
	for n := range 5*BlockSize + 1 {
		lengths = append(lengths, n)
	}
	for range 50 {
		lengths = append(lengths, r.IntN(10000))
	}
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for _, n := range lengths {
				data := randBytes(r, n)
				want := double(data)
				d := newDigest(im.impl)
				d.Write(data)
				if got := d.Sum(); got != want {
					t.Fatalf("%d bytes: %x, want %x", n, got, want)
				}
				// The same data in random pieces, summed twice (Sum leaves d unchanged).
				d.Reset()
				d.impl = im.impl
				for rest := data; len(rest) > 0; {
					k := min(len(rest), r.IntN(100))
					d.Write(rest[:k])
					rest = rest[k:]
				}
				if got := d.Sum(); got != want {
					t.Fatalf("%d bytes in pieces: %x, want %x", n, got, want)
				}
				if got := d.Sum(); got != want {
					t.Fatalf("%d bytes, second Sum: %x, want %x", n, got, want)
				}
			}
		})
	}
	if got, want := Sum([]byte("abc")), double([]byte("abc")); got != want {
		t.Fatalf("Sum(abc) %x, want %x", got, want)
	}
	var zero Digest // the zero value is ready to use
	zero.Write([]byte("abc"))
	if got, want := zero.Sum(), double([]byte("abc")); got != want {
		t.Fatalf("zero Digest: %x, want %x", got, want)
	}
}

func TestNode(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for range 500 {
				var l, rt [32]byte
				copy(l[:], randBytes(r, 32))
				copy(rt[:], randBytes(r, 32))
				if got, want := im.impl.node(&l, &rt), double(append(l[:], rt[:]...)); got != want {
					t.Fatalf("node(%x, %x) = %x, want %x", l, rt, got, want)
				}
			}
		})
	}
}

// testHash is a named [32]byte, as sv2.U256 is, for the generic Root.
type testHash [32]byte

func TestRoot(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for n := range 20 {
				var leaf testHash
				copy(leaf[:], randBytes(r, 32))
				path := make([]testHash, n)
				for i := range path {
					copy(path[i][:], randBytes(r, 32))
				}
				want := leaf
				for _, p := range path {
					want = double(append(want[:], p[:]...))
				}
				if got := root(im.impl, leaf, path); got != want {
					t.Fatalf("path of %d: %x, want %x", n, got, want)
				}
			}
		})
	}
	leaf, path := testHash{1}, []testHash{{2}, {3}}
	first := Node((*[32]byte)(&leaf), (*[32]byte)(&path[0]))
	if got, want := Root(leaf, path), testHash(double(append(first[:], path[1][:]...))); got != want {
		t.Fatalf("Root %x, want %x", got, want)
	}
}

// genesisHeader is the header of Bitcoin's block 0, whose hash everyone knows.
const (
	genesisHeader = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
	genesisHash   = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f" // displayed, byte-reversed
)

func TestHeader(t *testing.T) {
	genesis, _ := hex.DecodeString(genesisHeader)
	r := rand.New(rand.NewPCG(9, 10))
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			headers := [][]byte{genesis}
			for range 500 {
				headers = append(headers, randBytes(r, 80))
			}
			for _, h := range headers {
				mid := iv
				im.impl.block(&mid, h[:64])
				if got, want := im.impl.header(&mid, (*[16]byte)(h[64:])), double(h); got != want {
					t.Fatalf("header %x: %x, want %x", h, got, want)
				}
			}
			mid := iv
			im.impl.block(&mid, genesis[:64])
			got := im.impl.header(&mid, (*[16]byte)(genesis[64:]))
			slices.Reverse(got[:])
			if hex.EncodeToString(got[:]) != genesisHash {
				t.Fatalf("genesis hash %x, want %s", got, genesisHash)
			}
		})
	}
}

// TestConstants checks the tables against their definitions (FIPS 180-4
// §4.2.2, §5.3.3): the first 32 bits of the fractional parts of the cube roots
// of the first 64 primes, and of the square roots of the first 8.
func TestConstants(t *testing.T) {
	var primes []int64
	for n := int64(2); len(primes) < 64; n++ {
		if !slices.ContainsFunc(primes, func(q int64) bool { return n%q == 0 }) {
			primes = append(primes, n)
		}
	}
	low32 := func(x *big.Int) uint32 { return uint32(new(big.Int).And(x, big.NewInt(0xffffffff)).Uint64()) }
	for i, p := range primes {
		// floor(cbrt(p * 2^96)) by bisection; its low 32 bits are the fraction.
		n := new(big.Int).Lsh(big.NewInt(p), 96)
		lo, hi := big.NewInt(0), new(big.Int).Lsh(big.NewInt(1), 40)
		for new(big.Int).Sub(hi, lo).Cmp(big.NewInt(1)) > 0 {
			mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
			if new(big.Int).Exp(mid, big.NewInt(3), nil).Cmp(n) <= 0 {
				lo = mid
			} else {
				hi = mid
			}
		}
		if got := low32(lo); roundK[i] != got {
			t.Errorf("K[%d] = %#08x, want %#08x", i, roundK[i], got)
		}
		if i < 8 {
			if got := low32(new(big.Int).Sqrt(new(big.Int).Lsh(big.NewInt(p), 64))); iv[i] != got {
				t.Errorf("H0[%d] = %#08x, want %#08x", i, iv[i], got)
			}
		}
	}
}
