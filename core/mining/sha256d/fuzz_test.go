package sha256d

import "testing"

// FuzzEquivalence checks every helper on both implementations against
// crypto/sha256, with data written to a Digest in two pieces split at split.
func FuzzEquivalence(f *testing.F) {
	f.Add([]byte("abc"), uint(1))
	f.Add(make([]byte, 55), uint(0))
	f.Add(make([]byte, 56), uint(56))
	f.Add(make([]byte, 80), uint(64))
	f.Add(make([]byte, 200), uint(100))
	f.Fuzz(func(t *testing.T, data []byte, split uint) {
		want := double(data)
		k := int(split % uint(len(data)+1))
		for _, im := range impls(t) {
			d := newDigest(im.impl)
			d.Write(data[:k])
			d.Write(data[k:])
			if got := d.Sum(); got != want {
				t.Fatalf("%s: %d bytes split at %d: %x, want %x", im.name, len(data), k, got, want)
			}
			if len(data) >= 64 {
				l, r := (*[32]byte)(data[:32]), (*[32]byte)(data[32:64])
				if got, want := im.impl.node(l, r), double(data[:64]); got != want {
					t.Fatalf("%s: node %x, want %x", im.name, got, want)
				}
			}
			if len(data) >= 32 {
				// data as a leaf and a path of whole 32-byte nodes.
				nodes := make([][32]byte, len(data)/32-1)
				want := [32]byte(data[:32])
				for i := range nodes {
					nodes[i] = [32]byte(data[32*(i+1):])
					want = double(append(want[:], nodes[i][:]...))
				}
				if got := root(im.impl, [32]byte(data[:32]), nodes); got != want {
					t.Fatalf("%s: root of %d nodes %x, want %x", im.name, len(nodes), got, want)
				}
			}
			if len(data) >= 80 {
				mid := iv
				im.impl.block(&mid, data[:64])
				if got, want := im.impl.header(&mid, (*[16]byte)(data[64:80])), double(data[:80]); got != want {
					t.Fatalf("%s: header %x, want %x", im.name, got, want)
				}
			}
		}
		if got := Sum(data); got != want {
			t.Fatalf("Sum: %x, want %x", got, want)
		}
	})
}
