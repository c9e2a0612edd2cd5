package ledger

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func openTest(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Unix(1_800_000_000, 0)

func TestSQLiteWorkWindowBlocksBalances(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s := openTest(t, path)
	// Oldest first: alice 4 units, then bob 2 and alice 2 in one bucket,
	// then bob 1.
	if err := s.AddWork(ctx, []Work{
		{Bucket: t0, User: "alice", Worker: "rig1", Accepted: 4, Difficulty: 4},
		{Bucket: t0.Add(10 * time.Second), User: "bob", Accepted: 2, Difficulty: 2, Rejected: map[string]uint64{"stale-share": 1}},
		{Bucket: t0.Add(10 * time.Second), User: "alice", Worker: "rig2", Accepted: 1, Difficulty: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddWork(ctx, []Work{ // sums with what the bucket holds
		{Bucket: t0.Add(10 * time.Second), User: "alice", Worker: "rig2", Accepted: 1, Difficulty: 1},
		{Bucket: t0.Add(20 * time.Second), User: "bob", Accepted: 1, Difficulty: 1},
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    float64
		want []Weight
	}{
		{1, []Weight{{"bob", 1}}},
		{3, []Weight{{"alice", 1}, {"bob", 2}}}, // half of the middle bucket, each user by half
		{5, []Weight{{"alice", 2}, {"bob", 3}}},
		{7, []Weight{{"alice", 4}, {"bob", 3}}},
		{100, []Weight{{"alice", 6}, {"bob", 3}}},
		{0, nil},
	} {
		got, err := s.Window(ctx, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })); diff != "" {
			t.Errorf("window %g: (-want +got)\n%s", c.n, diff)
		}
	}

	rules := Rules{Window: 5, FeeBasisPoints: 200, Pool: "pool"}
	split, err := s.AddBlock(ctx, Block{Hash: "00ab", Height: 101, Reward: 1000, Fees: 10, Found: t0.Add(25 * time.Second), Finder: "bob"},
		[]Work{{Bucket: t0.Add(20 * time.Second), User: "bob", Accepted: 1, Difficulty: 1}}, rules)
	if err != nil {
		t.Fatal(err)
	}
	// The window ends with the block's work: bob 2 (last bucket), bob 2 and
	// alice 2 (middle) = 6 > 5: bob 2 + (2+2)*3/4 → bob 3.5, alice 1.5.
	want := []Payout{{"alice", 294}, {"bob", 686}, {"pool", 20}}
	if diff := cmp.Diff(want, split); diff != "" {
		t.Errorf("split (-want +got)\n%s", diff)
	}
	if got, _ := s.Split(ctx, "00ab"); !cmp.Equal(got, want) {
		t.Errorf("stored split %v", got)
	}
	if _, err := s.Split(ctx, "ffff"); !errors.Is(err, ErrUnknownBlock) {
		t.Errorf("split of an unknown block: %v", err)
	}
	if _, err := s.AddBlock(ctx, Block{Hash: "00ab"}, nil, rules); err == nil {
		t.Error("the same block recorded twice")
	}

	// A pending block owes nothing yet; confirmed, its split is owed.
	if b, _ := s.Balances(ctx); len(b) != 0 {
		t.Errorf("balances before confirmation: %v", b)
	}
	if err := s.SetBlockState(ctx, "00ab", Confirmed); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBlockState(ctx, "ffff", Confirmed); !errors.Is(err, ErrUnknownBlock) {
		t.Errorf("state of an unknown block: %v", err)
	}
	if err := s.AddPayout(ctx, Payout{"bob", 600}, t0.Add(time.Hour), "txid"); err != nil {
		t.Fatal(err)
	}
	bal, err := s.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Payout{{"alice", 294}, {"bob", 86}, {"pool", 20}}, bal); diff != "" {
		t.Errorf("balances (-want +got)\n%s", diff)
	}
	if err := s.AddPayout(ctx, Payout{"alice", 1000}, t0.Add(time.Hour), "oops"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Balances(ctx); !errors.Is(err, ErrOverpaid) {
		t.Errorf("balances after overpaying: %v", err)
	}

	// Reopened, it holds the same, and the schema is not applied again.
	s.Close()
	s2 := openTest(t, path)
	blocks, err := s2.Blocks(ctx, 10)
	if err != nil || len(blocks) != 1 || blocks[0].State != Confirmed || blocks[0].Reward != 1000 || !blocks[0].Found.Equal(t0.Add(25*time.Second)) {
		t.Fatalf("blocks after reopening: %+v %v", blocks, err)
	}
	if w, _ := s2.Window(ctx, 100); len(w) != 2 || w[1].Difficulty != 4 {
		t.Errorf("window after reopening: %v", w)
	}
}

// A database of a later schema than the program's is refused, not used.
func TestSQLiteNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s := openTest(t, path)
	if _, err := s.db.Exec(`INSERT INTO schema_version (version) VALUES (?)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenSQLite(context.Background(), path); err == nil {
		t.Error("a newer schema was opened")
	}
}
