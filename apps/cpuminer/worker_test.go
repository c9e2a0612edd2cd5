package cpuminer

import (
	"encoding/hex"
	"testing"
)

// No two (thread, roll) pairs get the same extranonce while rolls stay in
// the space, whatever the extranonce size.
func TestExtranoncesAreDistinct(t *testing.T) {
	for _, size := range []int{1, 2, 3, 4, 8} {
		own := size >= 2
		space := extranonceSpace(size, own)
		threads := 3
		if !own {
			threads = 1 // threads share the extranonce and split the nonce space instead
		}
		rolls := min(space, 300)
		seen := map[string]bool{}
		e := make([]byte, size)
		for th := range threads {
			for r := range rolls {
				setExtranonce(e, th, r, own)
				k := hex.EncodeToString(e)
				if seen[k] {
					t.Fatalf("size %d: thread %d roll %d repeats %s", size, th, r, k)
				}
				seen[k] = true
			}
		}
	}
	if got := extranonceSpace(2, true); got != 1 {
		t.Errorf("two bytes, both the thread's: space %d, want 1 (then version or ntime roll)", got)
	}
	if got := extranonceSpace(3, true); got != 256 {
		t.Errorf("three bytes: space %d, want 256", got)
	}
}
