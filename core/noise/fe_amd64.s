//go:build amd64 && !purego

#include "textflag.h"

// REDUCE sets z = t0…t7 (R8…R13, BX, CX) modulo p, below 2²⁵⁶: t0…t3 +=
// t4…t7·C with the carry word of each step in DI, then a fold of the top
// word (below 2³⁵), + DX·C, and C once more on a carry, which leaves the
// words so small that no carry follows (reduce512's steps). z is read from
// the frame last, so that x and y may alias it.
#define REDUCE \
	MOVQ $0x1000003d1, SI; \
	MOVQ R12, AX; \
	MULQ SI; \
	ADDQ AX, R8; \
	ADCQ $0, DX; \
	MOVQ DX, DI; \
	MOVQ R13, AX; \
	MULQ SI; \
	ADDQ DI, AX; \
	ADCQ $0, DX; \
	ADDQ AX, R9; \
	ADCQ $0, DX; \
	MOVQ DX, DI; \
	MOVQ BX, AX; \
	MULQ SI; \
	ADDQ DI, AX; \
	ADCQ $0, DX; \
	ADDQ AX, R10; \
	ADCQ $0, DX; \
	MOVQ DX, DI; \
	MOVQ CX, AX; \
	MULQ SI; \
	ADDQ DI, AX; \
	ADCQ $0, DX; \
	ADDQ AX, R11; \
	ADCQ $0, DX; \
	MOVQ DX, AX; \
	MULQ SI; \
	ADDQ AX, R8; \
	ADCQ DX, R9; \
	ADCQ $0, R10; \
	ADCQ $0, R11; \
	SBBQ DI, DI; \
	ANDQ SI, DI; \
	ADDQ DI, R8; \
	ADCQ $0, R9; \
	ADCQ $0, R10; \
	ADCQ $0, R11; \
	MOVQ z+0(FP), AX; \
	MOVQ R8, 0(AX); \
	MOVQ R9, 8(AX); \
	MOVQ R10, 16(AX); \
	MOVQ R11, 24(AX);

// func feMul(z, x, y *fe)
//
// Product scanning: column k of x·y accumulates in three registers that
// rotate, so that t0…t7 end in R8…R13, BX, CX, then REDUCE (C = 2²⁵⁶ mod p
// = 0x1000003d1). x and y are read before z is written, so z may alias them.
TEXT ·feMul(SB), NOSPLIT, $0-24
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI

	// Column 0: t0, and t1 t2 started.
	MOVQ 0(SI), AX
	MULQ 0(DI)
	MOVQ AX, R8
	MOVQ DX, R9
	XORQ R10, R10
	XORQ R11, R11

	// Column 1 into R9 R10 R11.
	MOVQ 0(SI), AX
	MULQ 8(DI)
	ADDQ AX, R9
	ADCQ DX, R10
	ADCQ $0, R11
	MOVQ 8(SI), AX
	MULQ 0(DI)
	ADDQ AX, R9
	ADCQ DX, R10
	ADCQ $0, R11

	// Column 2 into R10 R11 R12.
	XORQ R12, R12
	MOVQ 0(SI), AX
	MULQ 16(DI)
	ADDQ AX, R10
	ADCQ DX, R11
	ADCQ $0, R12
	MOVQ 8(SI), AX
	MULQ 8(DI)
	ADDQ AX, R10
	ADCQ DX, R11
	ADCQ $0, R12
	MOVQ 16(SI), AX
	MULQ 0(DI)
	ADDQ AX, R10
	ADCQ DX, R11
	ADCQ $0, R12

	// Column 3 into R11 R12 R13.
	XORQ R13, R13
	MOVQ 0(SI), AX
	MULQ 24(DI)
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13
	MOVQ 8(SI), AX
	MULQ 16(DI)
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13
	MOVQ 16(SI), AX
	MULQ 8(DI)
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13
	MOVQ 24(SI), AX
	MULQ 0(DI)
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13

	// Column 4 into R12 R13 BX.
	XORQ BX, BX
	MOVQ 8(SI), AX
	MULQ 24(DI)
	ADDQ AX, R12
	ADCQ DX, R13
	ADCQ $0, BX
	MOVQ 16(SI), AX
	MULQ 16(DI)
	ADDQ AX, R12
	ADCQ DX, R13
	ADCQ $0, BX
	MOVQ 24(SI), AX
	MULQ 8(DI)
	ADDQ AX, R12
	ADCQ DX, R13
	ADCQ $0, BX

	// Column 5 into R13 BX CX.
	XORQ CX, CX
	MOVQ 16(SI), AX
	MULQ 24(DI)
	ADDQ AX, R13
	ADCQ DX, BX
	ADCQ $0, CX
	MOVQ 24(SI), AX
	MULQ 16(DI)
	ADDQ AX, R13
	ADCQ DX, BX
	ADCQ $0, CX

	// Column 6 into BX CX (the product fits in 512 bits).
	MOVQ 24(SI), AX
	MULQ 24(DI)
	ADDQ AX, BX
	ADCQ DX, CX

	REDUCE
	RET

// func feSquare(z, x *fe)
//
// As feMul with y = x, but each cross product xᵢxⱼ (i < j) is computed
// once and added twice: 10 multiplications instead of 16.
TEXT ·feSquare(SB), NOSPLIT, $0-16
	MOVQ x+8(FP), SI

	// Column 0.
	MOVQ 0(SI), AX
	MULQ AX
	MOVQ AX, R8
	MOVQ DX, R9
	XORQ R10, R10
	XORQ R11, R11

	// Column 1 into R9 R10 R11.
	MOVQ 0(SI), AX
	MULQ 8(SI)
	ADDQ AX, R9
	ADCQ DX, R10
	ADCQ $0, R11
	ADDQ AX, R9
	ADCQ DX, R10
	ADCQ $0, R11

	// Column 2 into R10 R11 R12.
	XORQ R12, R12
	MOVQ 0(SI), AX
	MULQ 16(SI)
	ADDQ AX, R10
	ADCQ DX, R11
	ADCQ $0, R12
	ADDQ AX, R10
	ADCQ DX, R11
	ADCQ $0, R12
	MOVQ 8(SI), AX
	MULQ 8(SI)
	ADDQ AX, R10
	ADCQ DX, R11
	ADCQ $0, R12

	// Column 3 into R11 R12 R13.
	XORQ R13, R13
	MOVQ 0(SI), AX
	MULQ 24(SI)
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13
	MOVQ 8(SI), AX
	MULQ 16(SI)
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13
	ADDQ AX, R11
	ADCQ DX, R12
	ADCQ $0, R13

	// Column 4 into R12 R13 BX.
	XORQ BX, BX
	MOVQ 8(SI), AX
	MULQ 24(SI)
	ADDQ AX, R12
	ADCQ DX, R13
	ADCQ $0, BX
	ADDQ AX, R12
	ADCQ DX, R13
	ADCQ $0, BX
	MOVQ 16(SI), AX
	MULQ 16(SI)
	ADDQ AX, R12
	ADCQ DX, R13
	ADCQ $0, BX

	// Column 5 into R13 BX CX.
	XORQ CX, CX
	MOVQ 16(SI), AX
	MULQ 24(SI)
	ADDQ AX, R13
	ADCQ DX, BX
	ADCQ $0, CX
	ADDQ AX, R13
	ADCQ DX, BX
	ADCQ $0, CX

	// Column 6 into BX CX.
	MOVQ 24(SI), AX
	MULQ 24(SI)
	ADDQ AX, BX
	ADCQ DX, CX

	REDUCE
	RET
