//go:build amd64 && !purego

#include "textflag.h"

// Compression with the SHA extensions.
//
// SHA256RNDS2 does two rounds and keeps the eight working variables in two
// registers in its own lane order (dword 3 down to 0): ABEF = [A B E F] and
// CDGH = [C D G H]. Its implicit X0 supplies W[t]+K[t] and W[t+1]+K[t+1] in
// the low two dwords. After two rounds the old ABEF is the new CDGH, so the
// two state registers swap roles on every SHA256RNDS2 and are back in place
// after each pair.
//
// Registers: X1 ABEF, X2 CDGH, X0 W+K, X3-X6 four groups of four message
// words, X7 scratch, X8 byte-swap mask, X9/X10 the state before a block,
// X11/X12 rootSHANI's running hash; AX round constants, BX precomputed W+K
// of the padding block, SI and DX inputs, DI output, CX a count.

// ROUNDS4 does four rounds with message words m and the round constants at koff(AX).
#define ROUNDS4(m, koff) \
	MOVOU       koff(AX), X0  \
	PADDD       m, X0         \
	SHA256RNDS2 X0, X1, X2    \
	PSHUFD      $0x0e, X0, X0 \
	SHA256RNDS2 X0, X2, X1

// ROUNDS4WK does four rounds with precomputed W+K at off(BX).
#define ROUNDS4WK(off) \
	MOVOU       off(BX), X0   \
	SHA256RNDS2 X0, X1, X2    \
	PSHUFD      $0x0e, X0, X0 \
	SHA256RNDS2 X0, X2, X1

// SCHEDULE turns m0 = W[t-16..t-13] into W[t..t+3], given m1 = W[t-12..t-9],
// m2 = W[t-8..t-5] and m3 = W[t-4..t-1]: SHA256MSG1 adds σ0 of the word
// after each, PALIGNR forms W[t-7..t-4] to add, and SHA256MSG2 adds σ1 of the
// word two before each result word.
#define SCHEDULE(m0, m1, m2, m3) \
	SHA256MSG1 m1, m0     \
	MOVOU      m3, X7     \
	PALIGNR    $4, m2, X7 \
	PADDD      X7, m0     \
	SHA256MSG2 m3, m0

// COMPRESS does the 64 rounds of one block whose message words are in X3-X6,
// and adds the state it started from (X9, X10).
#define COMPRESS \
	ROUNDS4(X3, 0)           \
	ROUNDS4(X4, 16)          \
	ROUNDS4(X5, 32)          \
	ROUNDS4(X6, 48)          \
	SCHEDULE(X3, X4, X5, X6) \
	ROUNDS4(X3, 64)          \
	SCHEDULE(X4, X5, X6, X3) \
	ROUNDS4(X4, 80)          \
	SCHEDULE(X5, X6, X3, X4) \
	ROUNDS4(X5, 96)          \
	SCHEDULE(X6, X3, X4, X5) \
	ROUNDS4(X6, 112)         \
	SCHEDULE(X3, X4, X5, X6) \
	ROUNDS4(X3, 128)         \
	SCHEDULE(X4, X5, X6, X3) \
	ROUNDS4(X4, 144)         \
	SCHEDULE(X5, X6, X3, X4) \
	ROUNDS4(X5, 160)         \
	SCHEDULE(X6, X3, X4, X5) \
	ROUNDS4(X6, 176)         \
	SCHEDULE(X3, X4, X5, X6) \
	ROUNDS4(X3, 192)         \
	SCHEDULE(X4, X5, X6, X3) \
	ROUNDS4(X4, 208)         \
	SCHEDULE(X5, X6, X3, X4) \
	ROUNDS4(X5, 224)         \
	SCHEDULE(X6, X3, X4, X5) \
	ROUNDS4(X6, 240)         \
	PADDD X9, X1             \
	PADDD X10, X2

// LOAD4 reads four big-endian message words at addr into m.
#define LOAD4(m, addr) \
	MOVOU  addr, m \
	PSHUFB X8, m

// SAVE keeps the state a block starts from.
#define SAVE \
	MOVOU X1, X9 \
	MOVOU X2, X10

// LOAD_IV sets the state to SHA-256's initial value.
#define LOAD_IV \
	MOVOU ivABEF<>(SB), X1 \
	MOVOU ivCDGH<>(SB), X2

// LOAD_STATE reads [a b c d], [e f g h] at 0(r) into ABEF [f e b a], CDGH [h g d c].
#define LOAD_STATE(r) \
	MOVOU   0(r), X1      \
	MOVOU   16(r), X2     \
	PSHUFD  $0xb1, X1, X1 \
	PSHUFD  $0x1b, X2, X2 \
	MOVOU   X1, X7        \
	PALIGNR $8, X2, X1    \
	PBLENDW $0xf0, X7, X2

// STATE_WORDS turns ABEF, CDGH into lo = [a b c d], hi = [e f g h].
#define STATE_WORDS(lo, hi) \
	PSHUFD  $0x1b, X1, lo \
	PSHUFD  $0xb1, X2, hi \
	MOVOU   lo, X7        \
	PBLENDW $0xf0, hi, lo \
	PALIGNR $8, X7, hi

// PAD64 compresses the block that pads a 64-byte message: its message
// schedule is constant, so its W+K comes precomputed from ·padWK at BX.
#define PAD64 \
	SAVE            \
	ROUNDS4WK(0)    \
	ROUNDS4WK(16)   \
	ROUNDS4WK(32)   \
	ROUNDS4WK(48)   \
	ROUNDS4WK(64)   \
	ROUNDS4WK(80)   \
	ROUNDS4WK(96)   \
	ROUNDS4WK(112)  \
	ROUNDS4WK(128)  \
	ROUNDS4WK(144)  \
	ROUNDS4WK(160)  \
	ROUNDS4WK(176)  \
	ROUNDS4WK(192)  \
	ROUNDS4WK(208)  \
	ROUNDS4WK(224)  \
	ROUNDS4WK(240)  \
	PADDD X9, X1    \
	PADDD X10, X2

// SECOND hashes the 32-byte digest in the state again, leaving the result's
// words in lo, hi: the message is the digest's eight words and constant padding.
#define SECOND(lo, hi) \
	STATE_WORDS(X3, X4)    \
	MOVOU pad80<>(SB), X5  \
	MOVOU len256<>(SB), X6 \
	LOAD_IV                \
	SAVE                   \
	COMPRESS               \
	STATE_WORDS(lo, hi)

// STORE writes the digest words lo, hi to 0(DI) as bytes.
#define STORE(lo, hi) \
	PSHUFB X8, lo    \
	PSHUFB X8, hi    \
	MOVOU  lo, 0(DI) \
	MOVOU  hi, 16(DI)

// func blockSHANI(state *[8]uint32, p []byte)
TEXT ·blockSHANI(SB), NOSPLIT, $0-32
	MOVQ  state+0(FP), DI
	MOVQ  p_base+8(FP), SI
	MOVQ  p_len+16(FP), DX
	ANDQ  $~63, DX
	JZ    done
	ADDQ  SI, DX
	LEAQ  ·roundK(SB), AX
	MOVOU bswapMask<>(SB), X8
	LOAD_STATE(DI)

loop:
	SAVE
	LOAD4(X3, 0(SI))
	LOAD4(X4, 16(SI))
	LOAD4(X5, 32(SI))
	LOAD4(X6, 48(SI))
	COMPRESS
	ADDQ $64, SI
	CMPQ SI, DX
	JB   loop

	STATE_WORDS(X3, X4)
	MOVOU X3, 0(DI)
	MOVOU X4, 16(DI)

done:
	RET

// func nodeSHANI(out, left, right *[32]byte)
// Three compressions: left‖right, its padding block, and the second hash.
TEXT ·nodeSHANI(SB), NOSPLIT, $0-24
	MOVQ  out+0(FP), DI
	MOVQ  left+8(FP), SI
	MOVQ  right+16(FP), DX
	LEAQ  ·roundK(SB), AX
	LEAQ  ·padWK(SB), BX
	MOVOU bswapMask<>(SB), X8

	LOAD_IV
	SAVE
	LOAD4(X3, 0(SI))
	LOAD4(X4, 16(SI))
	LOAD4(X5, 0(DX))
	LOAD4(X6, 16(DX))
	COMPRESS
	PAD64
	SECOND(X3, X4)
	STORE(X3, X4)
	RET

// func rootSHANI(h, path *[32]byte, n int)
// Folds h with the n nodes at path, h on the left, as nodeSHANI does per
// node; the running hash stays in X11, X12 as message words between nodes.
TEXT ·rootSHANI(SB), NOSPLIT, $0-24
	MOVQ  h+0(FP), DI
	MOVQ  path+8(FP), DX
	MOVQ  n+16(FP), CX
	TESTQ CX, CX
	JZ    rootdone
	LEAQ  ·roundK(SB), AX
	LEAQ  ·padWK(SB), BX
	MOVOU bswapMask<>(SB), X8
	LOAD4(X11, 0(DI))
	LOAD4(X12, 16(DI))

rootloop:
	LOAD_IV
	SAVE
	MOVOU X11, X3
	MOVOU X12, X4
	LOAD4(X5, 0(DX))
	LOAD4(X6, 16(DX))
	COMPRESS
	PAD64
	SECOND(X11, X12)
	ADDQ $32, DX
	DECQ CX
	JNZ  rootloop

	STORE(X11, X12)

rootdone:
	RET

// func headerSHANI(out *[32]byte, mid *[8]uint32, tail *[16]byte)
// Two compressions: the header's last 16 bytes with the padding of an
// 80-byte message, from the midstate, and the second hash.
TEXT ·headerSHANI(SB), NOSPLIT, $0-24
	MOVQ  out+0(FP), DI
	MOVQ  mid+8(FP), SI
	MOVQ  tail+16(FP), DX
	LEAQ  ·roundK(SB), AX
	MOVOU bswapMask<>(SB), X8

	LOAD_STATE(SI)
	SAVE
	LOAD4(X3, 0(DX))
	MOVOU pad80<>(SB), X4
	PXOR  X5, X5
	MOVOU len640<>(SB), X6
	COMPRESS
	SECOND(X3, X4)
	STORE(X3, X4)
	RET

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// bswapMask makes PSHUFB reverse the bytes of each dword.
DATA bswapMask<>+0(SB)/8, $0x0405060700010203
DATA bswapMask<>+8(SB)/8, $0x0c0d0e0f08090a0b
GLOBL bswapMask<>(SB), RODATA|NOPTR, $16

// ivABEF, ivCDGH are SHA-256's initial value in SHA256RNDS2's lane order.
DATA ivABEF<>+0(SB)/8, $0x510e527f9b05688c // F, E
DATA ivABEF<>+8(SB)/8, $0x6a09e667bb67ae85 // B, A
GLOBL ivABEF<>(SB), RODATA|NOPTR, $16
DATA ivCDGH<>+0(SB)/8, $0x1f83d9ab5be0cd19 // H, G
DATA ivCDGH<>+8(SB)/8, $0x3c6ef372a54ff53a // D, C
GLOBL ivCDGH<>(SB), RODATA|NOPTR, $16

// pad80 is four message words starting with the padding's 1 bit; len256 and
// len640 end a block with a message length of 256 and 640 bits (32 and 80 bytes).
DATA pad80<>+0(SB)/8, $0x80000000
DATA pad80<>+8(SB)/8, $0
GLOBL pad80<>(SB), RODATA|NOPTR, $16
DATA len256<>+0(SB)/8, $0
DATA len256<>+8(SB)/8, $0x0000010000000000
GLOBL len256<>(SB), RODATA|NOPTR, $16
DATA len640<>+0(SB)/8, $0
DATA len640<>+8(SB)/8, $0x0000028000000000
GLOBL len640<>(SB), RODATA|NOPTR, $16
