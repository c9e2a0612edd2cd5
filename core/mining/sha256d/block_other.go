//go:build !amd64 || purego

package sha256d

const hasSHANI = false

// The SHA-NI functions are never called where hasSHANI is false.

func blockSHANI(state *[8]uint32, p []byte)                     { panic(errNoSHANI) }
func nodeSHANI(out, left, right *[32]byte)                      { panic(errNoSHANI) }
func rootSHANI(h, path *[32]byte, n int)                        { panic(errNoSHANI) }
func headerSHANI(out *[32]byte, mid *[8]uint32, tail *[16]byte) { panic(errNoSHANI) }

func scanSHANI(s *scanState, from, count, top uint32) (uint32, bool) { panic(errNoSHANI) }

const errNoSHANI = "sha256d: SHA-NI not available"
