package noise

import "testing"

func BenchmarkFieldMul(b *testing.B) {
	x := *feBytes([]byte("0123456789abcdef0123456789abcdef"))
	y := *feBytes([]byte("fedcba9876543210fedcba9876543210"))
	for b.Loop() {
		x.mul(&x, &y)
	}
}

func BenchmarkFieldSquare(b *testing.B) {
	x := *feBytes([]byte("0123456789abcdef0123456789abcdef"))
	for b.Loop() {
		x.square(&x)
	}
}

func BenchmarkFieldIsSquare(b *testing.B) {
	x := *feBytes([]byte("0123456789abcdef0123456789abcdef"))
	for b.Loop() {
		x.isSquare()
		x[0]++
	}
}

func BenchmarkFieldIsSquareVar(b *testing.B) {
	x := *feBytes([]byte("0123456789abcdef0123456789abcdef"))
	for b.Loop() {
		x.isSquareVar()
		x[0]++
	}
}

// TestFieldAssembly holds mul and square (assembly on amd64) to their
// portable forms on edge values, values at or above p, and random ones,
// aliased too.
func TestFieldAssembly(t *testing.T) {
	vals := fieldTestValues(seeded(61), 3000)
	for i, a := range vals {
		fa := rawFE(a)
		var got, want fe
		if *got.square(&fa) != *want.squareGeneric(&fa) {
			t.Fatalf("square(%x) = %x, portable %x", a, got, want)
		}
		for _, b := range vals[max(0, i-8) : i+1] {
			fb := rawFE(b)
			if *got.mul(&fa, &fb) != *want.mulGeneric(&fa, &fb) {
				t.Fatalf("mul(%x, %x) = %x, portable %x", a, b, got, want)
			}
			alias := fa
			if *alias.mul(&alias, &fb) != want {
				t.Fatalf("mul(z=x) differs")
			}
		}
	}
}
