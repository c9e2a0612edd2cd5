//go:build amd64 && !purego

package sha256d

import "golang.org/x/sys/cpu"

// hasSHANI reports whether blockSHANI can run: it uses the SHA extensions,
// PSHUFB (SSSE3) and PBLENDW (SSE4.1). golang.org/x/sys/cpu (v0.50.0) does not
// report the SHA extensions, so that bit comes from CPUID directly.
var hasSHANI = cpu.X86.HasSSSE3 && cpu.X86.HasSSE41 && cpuHasSHA()

// cpuHasSHA reports CPUID.(EAX=07H,ECX=0):EBX.SHA[bit 29], as the Intel SDM
// says to detect the SHA extensions; they need only the XMM state the OS
// always saves on amd64.
func cpuHasSHA() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<29) != 0
}

// cpuid executes CPUID for a leaf and subleaf.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// The SHA-NI functions, in block_amd64.s. The fused ones keep the state in
// registers between their compressions, which saves a quarter of the time of
// a merkle node compared with three calls of blockSHANI.

// blockSHANI is the compression function; len(p) is a multiple of 64.
//
//go:noescape
func blockSHANI(state *[8]uint32, p []byte)

// nodeSHANI sets out to the double SHA-256 of left‖right.
//
//go:noescape
func nodeSHANI(out, left, right *[32]byte)

// rootSHANI folds h with the n nodes at path, h on the left each time.
//
//go:noescape
func rootSHANI(h, path *[32]byte, n int)

// headerSHANI sets out to the double SHA-256 of an 80-byte header from the
// midstate of its first 64 bytes and its last 16.
//
//go:noescape
func headerSHANI(out *[32]byte, mid *[8]uint32, tail *[16]byte)

// scanSHANI returns the first of count nonces from from whose hash's most
// significant 32 bits, read as a target is, are at most top; see scanGeneric.
//
//go:noescape
func scanSHANI(s *scanState, from, count, top uint32) (nonce uint32, ok bool)
