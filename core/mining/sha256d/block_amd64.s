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

// Nonce scanning, two nonces at a time.
//
// Registers: X0 W+K, X7 scratch; nonce A: X1 ABEF, X2 CDGH, X3-X6 message
// words; nonce B: X8 ABEF, X9 CDGH, X10-X13 message words; X14, X15 the
// midstate. AX round constants, BX ·scanWK, DI the scanState, DX nonce A,
// CX nonces left, R8 the target's top word, R9 and R10 the nonce words.
// SHA256RNDS2's latency, not its throughput, bounds one chain of rounds, so
// two independent chains side by side take little longer than one.

// RND4(m, koff, s1, s2) does four rounds of one nonce with message words m.
#define RND4(m, koff, s1, s2) \
	MOVOU       koff(AX), X0  \
	PADDD       m, X0         \
	SHA256RNDS2 X0, s1, s2    \
	PSHUFD      $0x0e, X0, X0 \
	SHA256RNDS2 X0, s2, s1

// RND4WK(off, s1, s2) does four rounds of one nonce with W+K at off(BX).
#define RND4WK(off, s1, s2) \
	MOVOU       off(BX), X0   \
	SHA256RNDS2 X0, s1, s2    \
	PSHUFD      $0x0e, X0, X0 \
	SHA256RNDS2 X0, s2, s1

// R2 does four rounds of both nonces; WK2 the same with constant words.
#define R2(ma, mb, koff) \
	RND4(ma, koff, X1, X2) \
	RND4(mb, koff, X8, X9)

#define WK2(off) \
	RND4WK(off, X1, X2) \
	RND4WK(off, X8, X9)

// SR2 extends both message schedules by four words, then does their rounds.
#define SR2(a0, a1, a2, a3, b0, b1, b2, b3, koff) \
	SCHEDULE(a0, a1, a2, a3) \
	SCHEDULE(b0, b1, b2, b3) \
	R2(a0, b0, koff)

// INIT1(w, s1, s2, m0, m1, m2, m3) starts the first compression of one
// nonce whose message word is in w: the state after four rounds is the
// precomputed one plus w in a and e, and the message is the header's last
// 16 bytes with the padding of 80 bytes.
#define INIT1(w, s1, s2, m0, m1, m2, m3) \
	MOVQ   w, s2            \
	PSHUFD $0x11, s2, s1    \
	MOVOU  0(DI), s2        \
	PADDD  s2, s1           \
	MOVOU  16(DI), s2       \
	MOVOU  64(DI), m0       \
	PINSRD $3, w, m0        \
	MOVOU  pad80<>(SB), m1  \
	PXOR   m2, m2           \
	MOVOU  len640<>(SB), m3

// INIT2(s1, s2, m0, m1, m2, m3) adds the midstate to one nonce's state and
// starts the second compression on the digest and the padding of 32 bytes.
#define INIT2(s1, s2, m0, m1, m2, m3) \
	PADDD   X14, s1         \
	PADDD   X15, s2         \
	PSHUFD  $0x1b, s1, m0   \
	PSHUFD  $0xb1, s2, m1   \
	MOVOU   m0, X7          \
	PBLENDW $0xf0, m1, m0   \
	PALIGNR $8, X7, m1      \
	MOVOU   pad80<>(SB), m2 \
	MOVOU   len256<>(SB), m3 \
	MOVOU   ivABEF<>(SB), s1 \
	MOVOU   ivCDGH<>(SB), s2

// TOP(s, r) sets r to the hash's most significant word, read as the target
// is, from the ABEF register s after rounds 60-61: its F is e after 61
// rounds, which rounds 62-63 only move on to h.
#define TOP(s, r) \
	PEXTRD $0, s, r        \
	ADDL   $0x5be0cd19, r  \
	BSWAPL r

// func scanSHANI(s *scanState, from, count, top uint32) (nonce uint32, ok bool)
TEXT ·scanSHANI(SB), NOSPLIT, $0-29
	MOVQ  s+0(FP), DI
	MOVL  from+8(FP), DX
	MOVL  count+12(FP), CX
	MOVL  top+16(FP), R8
	TESTL CX, CX
	JZ    none
	LEAQ  ·roundK(SB), AX
	LEAQ  ·scanWK(SB), BX
	MOVOU 32(DI), X14
	MOVOU 48(DI), X15

scanloop:
	MOVL  DX, R9
	BSWAPL R9
	LEAL  1(DX), R10
	BSWAPL R10
	INIT1(R9, X1, X2, X3, X4, X5, X6)
	INIT1(R10, X8, X9, X10, X11, X12, X13)

	// First compression: rounds 4-15 constant, then the schedule.
	WK2(0)
	WK2(16)
	WK2(32)
	SR2(X3, X4, X5, X6, X10, X11, X12, X13, 64)
	SR2(X4, X5, X6, X3, X11, X12, X13, X10, 80)
	SR2(X5, X6, X3, X4, X12, X13, X10, X11, 96)
	SR2(X6, X3, X4, X5, X13, X10, X11, X12, 112)
	SR2(X3, X4, X5, X6, X10, X11, X12, X13, 128)
	SR2(X4, X5, X6, X3, X11, X12, X13, X10, 144)
	SR2(X5, X6, X3, X4, X12, X13, X10, X11, 160)
	SR2(X6, X3, X4, X5, X13, X10, X11, X12, 176)
	SR2(X3, X4, X5, X6, X10, X11, X12, X13, 192)
	SR2(X4, X5, X6, X3, X11, X12, X13, X10, 208)
	SR2(X5, X6, X3, X4, X12, X13, X10, X11, 224)
	SR2(X6, X3, X4, X5, X13, X10, X11, X12, 240)

	// Second compression: rounds 0-7 on the digest, 8-15 constant, then
	// the schedule up to round 61.
	INIT2(X1, X2, X3, X4, X5, X6)
	INIT2(X8, X9, X10, X11, X12, X13)
	R2(X3, X10, 0)
	R2(X4, X11, 16)
	WK2(48)
	WK2(64)
	SR2(X3, X4, X5, X6, X10, X11, X12, X13, 64)
	SR2(X4, X5, X6, X3, X11, X12, X13, X10, 80)
	SR2(X5, X6, X3, X4, X12, X13, X10, X11, 96)
	SR2(X6, X3, X4, X5, X13, X10, X11, X12, 112)
	SR2(X3, X4, X5, X6, X10, X11, X12, X13, 128)
	SR2(X4, X5, X6, X3, X11, X12, X13, X10, 144)
	SR2(X5, X6, X3, X4, X12, X13, X10, X11, 160)
	SR2(X6, X3, X4, X5, X13, X10, X11, X12, 176)
	SR2(X3, X4, X5, X6, X10, X11, X12, X13, 192)
	SR2(X4, X5, X6, X3, X11, X12, X13, X10, 208)
	SR2(X5, X6, X3, X4, X12, X13, X10, X11, 224)
	SCHEDULE(X6, X3, X4, X5)
	SCHEDULE(X13, X10, X11, X12)
	MOVOU       240(AX), X0
	PADDD       X6, X0
	SHA256RNDS2 X0, X1, X2
	MOVOU       240(AX), X0
	PADDD       X13, X0
	SHA256RNDS2 X0, X8, X9

	// X2 and X9 are ABEF now. Nonce A first: it comes first.
	TOP(X2, R9)
	CMPL R9, R8
	JLS  foundA
	CMPL CX, $1
	JEQ  none
	TOP(X9, R10)
	CMPL R10, R8
	JLS  foundB
	ADDL $2, DX
	SUBL $2, CX
	JNZ  scanloop

none:
	MOVL $0, nonce+24(FP)
	MOVB $0, ok+28(FP)
	RET

foundB:
	INCL DX

foundA:
	MOVL DX, nonce+24(FP)
	MOVB $1, ok+28(FP)
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
