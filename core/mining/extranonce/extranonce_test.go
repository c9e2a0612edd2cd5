package extranonce

import (
	"bytes"
	"errors"
	"testing"
)

func TestMillionAllocationsUnique(t *testing.T) {
	a, err := New(Config{Prefix: []byte{0x01}, IndexSize: 3, RollableSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]uint64, MaxChannels/64)
	for i := range 1_000_000 {
		p, err := a.Allocate(i%2 == 0)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if p.Bytes[0] != 0x01 {
			t.Fatalf("prefix %x lost the fixed byte", p.Bytes)
		}
		idx := uint64(p.Bytes[1])<<16 | uint64(p.Bytes[2])<<8 | uint64(p.Bytes[3])
		if idx != p.Index || seen[idx/64]&(1<<(idx%64)) != 0 {
			t.Fatalf("allocation %d: index %d repeated or misencoded in %x", i, p.Index, p.Bytes)
		}
		seen[idx/64] |= 1 << (idx % 64)
		if want := map[bool]int{true: 8, false: 4}[i%2 == 0]; len(p.Bytes) != want {
			t.Fatalf("prefix of %d bytes, want %d", len(p.Bytes), want)
		}
	}
}

func TestExhaustion(t *testing.T) {
	a, err := New(Config{IndexSize: 1, RollableSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	held := make([]Prefix, 0, 256)
	for range 256 {
		p, err := a.Allocate(false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	if _, err := a.Allocate(false); !errors.Is(err, ErrExhausted) {
		t.Fatalf("257th allocation: %v, want ErrExhausted", err)
	}
	// Other holders are untouched, and a release is usable after Advance only.
	if a.InUse() != 256 {
		t.Fatalf("InUse %d", a.InUse())
	}
	if err := a.Release(held[17].Index); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate(false); !errors.Is(err, ErrExhausted) {
		t.Fatalf("allocation before Advance: %v, want ErrExhausted (prefix still quarantined)", err)
	}
	a.Advance()
	p, err := a.Allocate(false)
	if err != nil || p.Index != 17 {
		t.Fatalf("after Advance: %v %v, want index 17", p.Index, err)
	}
	if err := a.Release(999); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Release(999): %v", err)
	}
}

func TestNoReuseWhileJobsLive(t *testing.T) {
	a, err := New(Config{IndexSize: 2, RollableSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := a.Allocate(false)
	if err := a.Release(p.Index); err != nil {
		t.Fatal(err)
	}
	for range 65535 { // every other index, without Advance
		q, err := a.Allocate(false)
		if err != nil {
			t.Fatal(err)
		}
		if q.Index == p.Index {
			t.Fatal("released prefix reused before Advance")
		}
	}
	if _, err := a.Allocate(false); !errors.Is(err, ErrExhausted) {
		t.Fatalf("got %v, want ErrExhausted", err)
	}
}

func TestNestedSubRanges(t *testing.T) {
	pool, err := New(Config{IndexSize: 2, RollableSize: 6}) // pool: 2 index bytes, 6 for proxies
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for range 3 { // three proxies
		up, err := pool.Allocate(false)
		if err != nil {
			t.Fatal(err)
		}
		proxy, err := FromUpstream(up.Bytes, pool.RollableSize(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if proxy.FullSize() != pool.FullSize() || proxy.RollableSize() != 4 {
			t.Fatalf("proxy layout %d/%d", proxy.FullSize(), proxy.RollableSize())
		}
		for range 2000 {
			p, err := proxy.Allocate(false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(p.Bytes, up.Bytes) || seen[string(p.Bytes)] {
				t.Fatalf("prefix %x outside %x or repeated", p.Bytes, up.Bytes)
			}
			seen[string(p.Bytes)] = true
		}
	}
	if len(seen) != 6000 {
		t.Fatalf("%d unique prefixes, want 6000", len(seen))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{IndexSize: 0},
		{IndexSize: 9},
		{IndexSize: 2, RollableSize: -1},
		{Prefix: make([]byte, 20), IndexSize: 4, RollableSize: 9},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
}

// Free gives an index back for reuse at once, Release only after Advance;
// Quarantined counts what waits, and a freed index is not owned any more.
func TestFreeAndQuarantine(t *testing.T) {
	a, err := New(Config{IndexSize: 1, RollableSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if a.Capacity() != 256 {
		t.Fatalf("Capacity %d, want 256", a.Capacity())
	}
	held := make([]Prefix, 0, 256)
	for range 256 {
		p, err := a.Allocate(false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	if err := a.Release(held[3].Index); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(held[9].Index); err != nil {
		t.Fatal(err)
	}
	if a.InUse() != 255 || a.Quarantined() != 1 {
		t.Fatalf("InUse %d, Quarantined %d, want 255 and 1", a.InUse(), a.Quarantined())
	}
	p, err := a.Allocate(false)
	if err != nil || p.Index != 9 {
		t.Fatalf("after Free: index %d, %v, want the freed 9", p.Index, err)
	}
	if _, err := a.Allocate(false); !errors.Is(err, ErrExhausted) {
		t.Fatalf("with only a quarantined index: %v, want ErrExhausted", err)
	}
	a.Advance()
	if a.Quarantined() != 0 || a.InUse() != 255 {
		t.Fatalf("after Advance: InUse %d, Quarantined %d", a.InUse(), a.Quarantined())
	}
	if err := a.Free(3); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Free of an index already given back: %v, want ErrNotOwned", err)
	}
}
