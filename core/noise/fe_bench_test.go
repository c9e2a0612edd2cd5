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
