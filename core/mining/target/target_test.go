package target

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/blockchain"

	"github.com/stratumgo/stratum/core/sv2"
)

// TestCompactAgainstBtcd checks FromCompact and ToCompact against btcd's CompactToBig and BigToCompact.
func TestCompactAgainstBtcd(t *testing.T) {
	for _, bits := range []uint32{0x1d00ffff, 0x207fffff, 0x1903a30c, 0x17034219, 0x1b0404cb, 0x03123456, 0x02008000, 0x01003456, 0x04123456, 0x1f00ffff} {
		got, err := FromCompact(bits)
		if err != nil {
			t.Fatalf("%#x: %v", bits, err)
		}
		if ToBig(got).Cmp(blockchain.CompactToBig(bits)) != 0 {
			t.Fatalf("%#x: %x, btcd %x", bits, ToBig(got), blockchain.CompactToBig(bits))
		}
		if c, want := ToCompact(got), blockchain.BigToCompact(blockchain.CompactToBig(bits)); c != want {
			t.Fatalf("%#x: ToCompact %#x, btcd %#x", bits, c, want)
		}
	}
	for _, bits := range []uint32{0x04923456, 0x23000001} {
		if _, err := FromCompact(bits); err == nil {
			t.Fatalf("%#x accepted", bits)
		}
	}
	if _, err := FromCompact(0x04923456); !errors.Is(err, ErrNegative) {
		t.Fatal("negative compact not ErrNegative")
	}
}

func TestDifficulty(t *testing.T) {
	cases := []struct {
		name string
		t    sv2.U256
	}{
		{"diff1", Diff1()},
		{"mainnet 0x1903a30c", mustCompact(t, 0x1903a30c)},
		{"regtest", mustCompact(t, 0x207fffff)},
	}
	for _, c := range cases {
		got := Difficulty(c.t)
		if c.name == "diff1" && got != 1 {
			t.Fatalf("%s: %v", c.name, got)
		}
		back, err := FromDifficulty(got)
		if err != nil {
			t.Fatal(err)
		}
		if r := Float(&back) / Float(&c.t); math.Abs(r-1) > 1e-9 {
			t.Fatalf("%s: round trip off by %v", c.name, r)
		}
	}
	if _, err := FromDifficulty(0); !errors.Is(err, ErrRange) {
		t.Fatal("difficulty 0 accepted")
	}
	if Difficulty(sv2.U256{}) != math.Inf(1) {
		t.Fatal("zero target difficulty not infinite")
	}
}

func mustCompact(t *testing.T, bits uint32) sv2.U256 {
	t.Helper()
	v, err := FromCompact(bits)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHashrate(t *testing.T) {
	for _, h := range []float64{1e6, 1e12, 1e18} {
		for _, spm := range []float64{1, 6, 60} {
			tg, err := FromHashrate(h, spm)
			if err != nil {
				t.Fatal(err)
			}
			if got := SharesPerMinute(tg, h); math.Abs(got/spm-1) > 1e-9 {
				t.Fatalf("h=%v spm=%v: %v shares per minute", h, spm, got)
			}
			if got := Hashrate(tg, spm); math.Abs(got/h-1) > 1e-9 {
				t.Fatalf("h=%v spm=%v: hashrate %v", h, spm, got)
			}
		}
	}
	if tg, _ := FromHashrate(0, 6); tg != Max() {
		t.Fatal("zero hashrate is not the maximum target")
	}
	if _, err := FromHashrate(1, 0); !errors.Is(err, ErrRange) {
		t.Fatal("zero share rate accepted")
	}
}

func TestMeetsMatchesBig(t *testing.T) {
	vals := []sv2.U256{{}, Max(), Diff1(), {1}, {31: 1}, {0: 0xff, 8: 1}}
	for _, a := range vals {
		for _, b := range vals {
			if got, want := Meets(&a, &b), ToBig(a).Cmp(ToBig(b)) <= 0; got != want {
				t.Fatalf("Meets(%x, %x) = %v", a, b, got)
			}
		}
	}
	if _, err := FromBig(new(big.Int).Lsh(big.NewInt(1), 256)); !errors.Is(err, ErrOverflow) {
		t.Fatal("2^256 accepted")
	}
}
