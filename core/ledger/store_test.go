package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratumgo/stratum/core/ledger/pgtest"
)

// pg is the PostgreSQL server of the package's tests, each on a database
// of its own; TestMain stops it.
var pg pgtest.Shared

// engine makes empty ledgers of one kind.
type engine struct {
	name string
	// newLedger makes an empty ledger for t and returns its spec, for Open.
	newLedger func(t *testing.T) string
}

var engines = []engine{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "ledger.db") }},
	{"postgres", func(t *testing.T) string { return pg.NewDatabase(t) }},
}

// eachEngine runs f as a subtest for each engine, on an empty ledger.
func eachEngine(t *testing.T, f func(t *testing.T, spec string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e.newLedger(t)) })
	}
}

// openTest opens the ledger spec (Open's), closed at t's cleanup.
func openTest(t *testing.T, spec string) *sqlStore {
	t.Helper()
	s, err := Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	switch s := s.(type) {
	case *SQLite:
		return &s.sqlStore
	case *Postgres:
		return &s.sqlStore
	}
	t.Fatalf("Open(%q) is a %T", spec, s)
	return nil
}

var t0 = time.Unix(1_800_000_000, 0)

// approx compares floats to 1e-9, relatively.
var approx = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) })

func TestOpen(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*SQLite); !ok {
		t.Errorf("Open of a path: %T", s)
	}
	dsn := pg.NewDatabase(t)
	for _, spec := range []string{dsn, strings.Replace(dsn, "postgres://", "postgresql://", 1)} {
		s, err := Open(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*Postgres); !ok {
			t.Errorf("Open of %s: %T", spec, s)
		}
		s.Close()
	}
	// A nil Store, not a nil *Postgres in a Store, when it fails.
	if s, err := Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=5"); err == nil || s != nil {
		t.Errorf("Open of a server not there: %v, %v", s, err)
	}
}

func TestStoreWorkWindowBlocksBalances(t *testing.T) {
	eachEngine(t, testWorkWindowBlocksBalances)
}

func testWorkWindowBlocksBalances(t *testing.T, spec string) {
	ctx := context.Background()
	s := openTest(t, spec)
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
		if diff := cmp.Diff(c.want, got, approx); diff != "" {
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
	if blocks, err := s.AddBlock(ctx, Block{Hash: "00ab"}, nil, rules); err != nil || len(blocks) == 0 {
		t.Errorf("the same block again: %v %v, want its split as recorded", blocks, err)
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
	// Paying more than a balance is refused, and changes nothing.
	if err := s.AddPayout(ctx, Payout{"alice", 295}, t0.Add(time.Hour), "oops"); !errors.Is(err, ErrOverpaid) {
		t.Errorf("paying alice 295 of her 294: %v, want ErrOverpaid", err)
	}
	if err := s.AddPayout(ctx, Payout{"nobody", 1}, t0.Add(time.Hour), "oops"); !errors.Is(err, ErrOverpaid) {
		t.Errorf("paying a user owed nothing: %v, want ErrOverpaid", err)
	}
	if err := s.AddPayout(ctx, Payout{"alice", 0}, t0.Add(time.Hour), "zero"); err == nil {
		t.Error("a payout of 0 sat accepted")
	}
	if again, err := s.Balances(ctx); err != nil || !cmp.Equal(again, bal) {
		t.Errorf("balances after refused payouts: %v %v, want %v", again, err, bal)
	}

	// Reopened, it holds the same, and the schema is not applied again.
	s.Close()
	s2 := openTest(t, spec)
	blocks, err := s2.Blocks(ctx, 10)
	if err != nil || len(blocks) != 1 || blocks[0].State != Confirmed || blocks[0].Reward != 1000 || !blocks[0].Found.Equal(t0.Add(25*time.Second)) {
		t.Fatalf("blocks after reopening: %+v %v", blocks, err)
	}
	if w, _ := s2.Window(ctx, 100); len(w) != 2 || w[1].Difficulty != 4 {
		t.Errorf("window after reopening: %v", w)
	}
	var rejected int
	if err := s2.db.QueryRow(`SELECT SUM(count) FROM rejects WHERE code = 'stale-share'`).Scan(&rejected); err != nil || rejected != 1 {
		t.Errorf("rejects %d %v", rejected, err)
	}
}

// A database of a later schema than the program's is refused, not used.
func TestStoreNewerSchemaRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		s := openTest(t, spec)
		if _, err := s.db.Exec(s.q(`INSERT INTO schema_version (version) VALUES (?)`), len(s.d.migrations)+1); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s, err := Open(context.Background(), spec); !errors.Is(err, ErrNewerSchema) {
			t.Errorf("a newer schema: %v", err)
			if err == nil {
				s.Close()
			}
		}
	})
}

// Both engines have the same tables, columns and indexes at each version.
func TestStoreSchemasAlike(t *testing.T) {
	sq := openTest(t, engines[0].newLedger(t))
	pq := openTest(t, engines[1].newLedger(t))
	if len(sq.d.migrations) != len(pq.d.migrations) {
		t.Fatalf("SQLite has %d versions, PostgreSQL %d", len(sq.d.migrations), len(pq.d.migrations))
	}
	names := func(s *sqlStore, query string) []string {
		rows, err := s.db.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var table, name string
			if err := rows.Scan(&table, &name); err != nil {
				t.Fatal(err)
			}
			out = append(out, table+"."+name)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	columns := names(sq, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY 1, 2`)
	if diff := cmp.Diff(columns, names(pq, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`)); diff != "" {
		t.Errorf("columns (-sqlite +postgres)\n%s", diff)
	}
	indexes := names(sq, `SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY 1, 2`)
	if diff := cmp.Diff(indexes, names(pq, `SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' ORDER BY 1, 2`)); diff != "" {
		t.Errorf("indexes (-sqlite +postgres)\n%s", diff)
	}
}

// A block whose split is given (as its coinbase was built) keeps that
// split, not the window's, and its work is added all the same.
func TestStoreGivenSplit(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		given := []Payout{{"carol", 300}, {"alice", 600}, {"pool", 100}} // not in order
		split, err := s.AddBlock(ctx, Block{Hash: "0b", Reward: 1000, Found: t0, Split: given},
			[]Work{{Bucket: t0, User: "bob", Accepted: 1, Difficulty: 5}}, Rules{Window: 100, Pool: "pool"})
		if err != nil {
			t.Fatal(err)
		}
		want := []Payout{{"alice", 600}, {"carol", 300}, {"pool", 100}}
		if diff := cmp.Diff(want, split); diff != "" {
			t.Errorf("split (-want +got)\n%s", diff)
		}
		if got, err := s.Split(ctx, "0b"); err != nil || !cmp.Equal(got, want) {
			t.Errorf("stored split %v %v", got, err)
		}
		if w, err := s.Window(ctx, 100); err != nil || !cmp.Equal(w, []Weight{{"bob", 5}}) {
			t.Errorf("the block's work: %v %v", w, err)
		}
		// An empty split given is a split: of a reward of nothing.
		if split, err := s.AddBlock(ctx, Block{Hash: "0c", Found: t0, Split: []Payout{}}, nil, Rules{Window: 100, Pool: "pool"}); err != nil || len(split) != 0 {
			t.Errorf("an empty split given: %v %v", split, err)
		}
	})
}

// A split that cannot be right is refused, saying why, and nothing of the
// block (nor its work) is written.
func TestStoreBadSplitsRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		rules := Rules{Window: 100, Pool: "pool"}
		for _, c := range []struct {
			name string
			b    Block
			want string
		}{
			{"short of the reward", Block{Reward: 1000, Split: []Payout{{"a", 500}, {"b", 499}}}, "sums to 999 sat, the reward is 1000"},
			{"over the reward", Block{Reward: 1000, Split: []Payout{{"a", 1001}}}, "sums to 1001 sat, the reward is 1000"},
			{"overflowing", Block{Reward: 1000, Split: []Payout{{"a", math.MaxUint64}, {"b", 1001}}}, "more than 2^64"},
			{"a user twice", Block{Reward: 1000, Split: []Payout{{"a", 500}, {"b", 250}, {"a", 250}}}, `user "a" is in it twice`},
			{"paid over the split", Block{Reward: 1000, Split: []Payout{{"a", 500}, {"b", 500}}, InCoinbase: []Payout{{"a", 501}}, CoinbaseTxid: "cb"},
				`pays "a" 501 sat, over the user's split amount 500`},
			{"paid out of the split", Block{Reward: 1000, Split: []Payout{{"a", 1000}}, InCoinbase: []Payout{{"z", 1}}, CoinbaseTxid: "cb"},
				`pays "z" 1 sat, over the user's split amount 0`},
			{"paid twice", Block{Reward: 1000, Split: []Payout{{"a", 1000}}, InCoinbase: []Payout{{"a", 1}, {"a", 1}}, CoinbaseTxid: "cb"},
				`user "a" is paid twice`},
			{"paid without a txid", Block{Reward: 1000, Split: []Payout{{"a", 1000}}, InCoinbase: []Payout{{"a", 1}}}, "names no CoinbaseTxid"},
			// Checked against the window's split too: nobody's work is in it.
			{"paid over the window's split", Block{Reward: 1000, InCoinbase: []Payout{{"z", 1}}, CoinbaseTxid: "cb"}, `pays "z" 1 sat, over the user's split amount 0`},
		} {
			c.b.Hash, c.b.Found = "0bad", t0
			_, err := s.AddBlock(ctx, c.b, []Work{{Bucket: t0, User: "a", Accepted: 1, Difficulty: 1}}, rules)
			if !errors.Is(err, ErrInvalidSplit) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "0bad") {
				t.Errorf("%s: %v, want ErrInvalidSplit naming the block and %q", c.name, err, c.want)
			}
		}
		if b, err := s.Blocks(ctx, 10); err != nil || len(b) != 0 {
			t.Errorf("blocks after refusals: %v %v", b, err)
		}
		if w, err := s.Window(ctx, 100); err != nil || len(w) != 0 {
			t.Errorf("work after refusals: %v %v", w, err)
		}
	})
}

// What the coinbase paid users directly is paid once the block is
// confirmed, once however often it is confirmed; balances net it out.
func TestStoreCoinbasePayouts(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		b := Block{Hash: "0cb", Reward: 1000, Found: t0, CoinbaseTxid: "c0ffee",
			Split:      []Payout{{"alice", 500}, {"bob", 300}, {"carol", 150}, {"pool", 50}},
			InCoinbase: []Payout{{"alice", 500}, {"bob", 200}, {"carol", 0}}}
		if _, err := s.AddBlock(ctx, b, nil, Rules{Pool: "pool"}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Payouts(ctx, "", 10); err != nil || len(p) != 0 {
			t.Fatalf("payouts of a pending block: %v %v", p, err)
		}
		before := time.Now()
		for _, state := range []string{Confirmed, Confirmed, Orphaned, Confirmed} {
			if err := s.SetBlockState(ctx, "0cb", state); err != nil && (state != Orphaned || !errors.Is(err, ErrConfirmed)) {
				t.Fatal(err)
			}
		}
		paid, err := s.Payouts(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(paid) != 2 {
			t.Fatalf("payouts %+v: want alice's and bob's, once", paid)
		}
		for _, p := range paid {
			if p.Txid != "c0ffee" || p.At.Before(before.Add(-time.Second)) || p.At.After(time.Now()) {
				t.Errorf("payout %+v: want txid c0ffee, at now", p)
			}
		}
		if got := map[string]uint64{paid[0].User: paid[0].Amount, paid[1].User: paid[1].Amount}; !cmp.Equal(got, map[string]uint64{"alice": 500, "bob": 200}) {
			t.Errorf("payouts %+v", paid)
		}
		bal, err := s.Balances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Payout{{"bob", 100}, {"carol", 150}, {"pool", 50}}, bal); diff != "" {
			t.Errorf("balances (-want +got)\n%s", diff)
		}
	})
}

func TestStorePayoutsNewestFirst(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		owed := []Payout{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}
		if _, err := s.AddBlock(ctx, Block{Hash: "00aa", Height: 1, Reward: 10, Found: t0, Split: owed}, nil, Rules{Pool: "pool"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBlockState(ctx, "00aa", Confirmed); err != nil {
			t.Fatal(err)
		}
		for _, p := range []Paid{
			{"a", 1, t0.Add(time.Minute), "t1"},
			{"b", 2, t0, "t2"},
			{"c", 3, t0.Add(time.Hour), "t3"},
			{"d", 4, t0.Add(time.Minute), "t4"}, // at a's time, recorded later
		} {
			if err := s.AddPayout(ctx, Payout{p.User, p.Amount}, p.At, p.Txid); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Payouts(ctx, "b", 3); err != nil || len(got) != 1 || got[0].User != "b" {
			t.Errorf("b's payouts: %v %v, want b's one", got, err)
		}
		got, err := s.Payouts(ctx, "", 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []Paid{{"c", 3, t0.Add(time.Hour), "t3"}, {"d", 4, t0.Add(time.Minute), "t4"}, {"a", 1, t0.Add(time.Minute), "t1"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("payouts (-want +got)\n%s", diff)
		}
	})
}

// The window of a long history is what a walk over the whole table
// finds, whatever the page size, and costs about the window.
func TestStoreWindowLongHistory(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		const buckets = 400
		var work []Work
		for i := range buckets {
			b := t0.Add(time.Duration(i) * 10 * time.Second)
			work = append(work, Work{Bucket: b, User: "alice", Worker: "rig1", Accepted: 1, Difficulty: float64(1 + i%3)})
			if i%2 == 0 {
				work = append(work, Work{Bucket: b, User: "alice", Worker: "rig2", Accepted: 1, Difficulty: 2})
			}
			if i%5 != 0 {
				work = append(work, Work{Bucket: b, User: "bob", Accepted: 1, Difficulty: 0.5 * float64(1+i%7)})
			}
			if i > buckets-10 {
				work = append(work, Work{Bucket: b, User: "carol", Worker: "x", Accepted: 1, Difficulty: 3})
			}
		}
		if err := s.AddWork(ctx, work); err != nil {
			t.Fatal(err)
		}
		var total float64
		for _, w := range work {
			total += w.Difficulty
		}
		// Bucket edges (the sums are exact) and inside buckets; pages that
		// end inside a bucket.
		ns := []float64{0.25, 3, 3.5, 10, 100, 234.5, total / 2, total, total + 1, math.MaxFloat64}
		for _, page := range []int{3, 1000} {
			s.windowPage = page
			for _, n := range ns {
				want := wholeTableWindow(t, s, n)
				var got []Weight
				if err := s.tx(ctx, func(tx *sql.Tx) error {
					var err error
					got, _, err = s.windowOf(ctx, tx, n)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, approx); diff != "" {
					t.Errorf("page %d, window %g: (-whole table +paged)\n%s", page, n, diff)
				}
			}
		}
		// A window of a few buckets reads a page or so, not the history.
		s.windowPage = 50
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			_, read, err := s.windowOf(ctx, tx, 100)
			if read > 100 {
				t.Errorf("a window of 100 units of %g read %d rows of %d", total, read, len(work))
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
}

// wholeTableWindow is the window as the ledger first computed it: every
// bucket's sums, newest first, from one query over the whole table.
func wholeTableWindow(t *testing.T, s *sqlStore, n float64) []Weight {
	t.Helper()
	if n <= 0 {
		return nil
	}
	rows, err := s.db.Query(`SELECT bucket, "user", SUM(difficulty) FROM work GROUP BY bucket, "user" ORDER BY bucket DESC, "user"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		bucket int64
		w      Weight
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.bucket, &r.w.User, &r.w.Difficulty); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	byUser := map[string]float64{}
	var taken float64
	for i := 0; i < len(all) && taken < n; {
		j := i
		var sum float64
		for ; j < len(all) && all[j].bucket == all[i].bucket; j++ {
			sum += all[j].w.Difficulty
		}
		f := 1.0
		if taken+sum > n {
			f = (n - taken) / sum
		}
		for _, r := range all[i:j] {
			byUser[r.w.User] += r.w.Difficulty * f
		}
		taken += sum * f
		i = j
	}
	var out []Weight
	for _, u := range []string{"alice", "bob", "carol"} {
		if d := byUser[u]; d > 0 {
			out = append(out, Weight{u, d})
		}
	}
	return out
}

// Two payments of one whole balance made at once, through two handles
// (two frontends, or the CLI beside the pool): one is recorded, the other
// refused, so the balance is never spent twice.
func TestStorePayoutsCannotSpendABalanceTwice(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		a, b := openTest(t, spec), openTest(t, spec)
		if _, err := a.AddBlock(ctx, Block{Hash: "00bb", Height: 1, Reward: 100, Found: t0, Split: []Payout{{"erin", 100}}}, nil, Rules{Pool: "pool"}); err != nil {
			t.Fatal(err)
		}
		if err := a.SetBlockState(ctx, "00bb", Confirmed); err != nil {
			t.Fatal(err)
		}
		for round := range 10 {
			errs := make(chan error, 2)
			for i, s := range []*sqlStore{a, b} {
				go func() { errs <- s.AddPayout(ctx, Payout{"erin", 100}, t0, fmt.Sprintf("tx-%d-%d", round, i)) }()
			}
			var ok, refused int
			for range 2 {
				switch err := <-errs; {
				case err == nil:
					ok++
				case errors.Is(err, ErrOverpaid):
					refused++
				default:
					t.Fatalf("round %d: %v; want a payment or ErrOverpaid", round, err)
				}
			}
			wantOK := 0
			if round == 0 {
				wantOK = 1
			}
			if ok != wantOK || refused != 2-wantOK {
				t.Fatalf("round %d: %d payments of erin's 100 recorded, %d refused; want %d recorded", round, ok, refused, wantOK)
			}
		}
		if bal, err := a.Balances(ctx); err != nil || len(bal) != 0 {
			t.Errorf("balances %v, %v; want erin paid exactly once", bal, err)
		}
	})
}

// A server id is one frontend's while it renews its claim; another is
// refused until the claim expires or is given up.
func TestStoreServerIDClaims(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		a, b := openTest(t, spec), openTest(t, spec)
		const ttl = 300 * time.Millisecond
		if err := a.ClaimServerID(ctx, 1, "host-a:1", ttl); err != nil {
			t.Fatal(err)
		}
		renewed := time.Now()
		if err := a.ClaimServerID(ctx, 1, "host-a:1", ttl); err != nil {
			t.Errorf("renewing a claim: %v", err)
		}
		err := b.ClaimServerID(ctx, 1, "host-b:2", ttl)
		if !errors.Is(err, ErrServerIDTaken) || !strings.Contains(err.Error(), "host-a:1") {
			t.Errorf("claiming a held id: %v, want ErrServerIDTaken naming its holder", err)
		}
		if err := b.ClaimServerID(ctx, 2, "host-b:2", ttl); err != nil {
			t.Errorf("claiming a free id: %v", err)
		}
		// a stops renewing: past ttl by the database's clock, b takes id 1
		// over, and a's renewal fails.
		for deadline := time.Now().Add(5 * time.Second); ; {
			err := b.ClaimServerID(ctx, 1, "host-b:2", ttl)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrServerIDTaken) || time.Now().After(deadline) {
				t.Fatalf("taking over an expired claim: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// SQLite's clock counts whole milliseconds: a claim may look a
		// millisecond older than it is.
		if d := time.Since(renewed); d < ttl-2*time.Millisecond {
			t.Errorf("a claim renewed %v ago, under its ttl of %v, was taken over", d, ttl)
		}
		if err := a.ClaimServerID(ctx, 1, "host-a:1", ttl); !errors.Is(err, ErrServerIDTaken) {
			t.Errorf("renewing a claim taken over: %v, want ErrServerIDTaken", err)
		}
		// Releasing another's claim does nothing; releasing one's own frees it.
		if err := a.ReleaseServerID(ctx, 1, "host-a:1"); err != nil {
			t.Fatal(err)
		}
		if err := a.ClaimServerID(ctx, 1, "host-a:1", ttl); !errors.Is(err, ErrServerIDTaken) {
			t.Errorf("claiming after releasing another's claim: %v, want ErrServerIDTaken", err)
		}
		if err := b.ReleaseServerID(ctx, 1, "host-b:2"); err != nil {
			t.Fatal(err)
		}
		if err := a.ClaimServerID(ctx, 1, "host-a:1", ttl); err != nil {
			t.Errorf("claiming a released id: %v", err)
		}
	})
}

// OpenExisting opens a ledger of this program's schema as it is, and
// refuses one of another version without changing it, or a SQLite file
// that is not there without making it.
func TestOpenExisting(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		version := func() int {
			var v int
			if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		want := version()
		e, err := OpenExisting(ctx, spec)
		if err != nil {
			t.Fatalf("a ledger of this version: %v", err)
		}
		if _, err := e.Balances(ctx); err != nil {
			t.Error(err)
		}
		e.Close()
		for _, c := range []struct {
			version int
			want    error
		}{{want + 1, ErrNewerSchema}, {want - 1, ErrOlderSchema}} {
			if _, err := s.db.Exec(`DELETE FROM schema_version`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(s.q(`INSERT INTO schema_version (version) VALUES (?)`), c.version); err != nil {
				t.Fatal(err)
			}
			if e, err := OpenExisting(ctx, spec); !errors.Is(err, c.want) {
				t.Errorf("a ledger of version %d, this program's %d: %v, want %v", c.version, want, err, c.want)
				if err == nil {
					e.Close()
				}
			}
			if v := version(); v != c.version {
				t.Errorf("OpenExisting changed the schema's version from %d to %d", c.version, v)
			}
		}
	})
	missing := filepath.Join(t.TempDir(), "missing.db")
	if _, err := OpenExisting(context.Background(), missing); err == nil {
		t.Error("OpenExisting of a missing file: no error")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("OpenExisting of a missing file made it")
	}
}

// A PostgreSQL server that accepts connections and never answers is an
// error soon, though neither the URL nor the context set a timeout.
func TestOpenPostgresNoAnswer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	dsn := "postgres://nobody@" + ln.Addr().String() + "/none?sslmode=disable"
	for name, open := range map[string]func(context.Context, string) (Store, error){"Open": Open, "OpenExisting": OpenExisting} {
		start := time.Now()
		if s, err := open(context.Background(), dsn); err == nil {
			s.Close()
			t.Errorf("%s of a server that never answers: no error", name)
		} else if d := time.Since(start); d > connectTimeout+time.Second {
			t.Errorf("%s of a server that never answers took %v to fail: %v", name, d, err)
		}
	}
}

// A block recorded twice (a try whose commit went through though its
// caller saw an error) is one block with its first split; confirmed is
// final; states are the three.
func TestStoreBlockTwiceAndFinalStates(t *testing.T) {
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		rules := Rules{Window: 100, Pool: "pool"}
		first, err := s.AddBlock(ctx, Block{Hash: "00cc", Height: 5, Reward: 1000, Found: t0}, []Work{{Bucket: t0, User: "ann", Accepted: 1, Difficulty: 10}}, rules)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.AddBlock(ctx, Block{Hash: "00cc", Height: 5, Reward: 1000, Found: t0}, []Work{{Bucket: t0, User: "ben", Accepted: 1, Difficulty: 10}}, rules)
		if err != nil || !cmp.Equal(again, first) {
			t.Errorf("the block again: %v %v, want its first split %v", again, err, first)
		}
		if blocks, err := s.Blocks(ctx, 10); err != nil || len(blocks) != 1 {
			t.Errorf("blocks %v %v, want one", blocks, err)
		}
		if w, err := s.Window(ctx, 100); err != nil || len(w) != 2 {
			t.Errorf("window %v %v: the second try's work is kept too", w, err)
		}
		if err := s.SetBlockState(ctx, "00cc", "lost"); err == nil {
			t.Error("a state that is none of the three accepted")
		}
		if err := s.SetBlockState(ctx, "00cc", Confirmed); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBlockState(ctx, "00cc", Confirmed); err != nil {
			t.Errorf("confirmed again: %v", err)
		}
		if err := s.SetBlockState(ctx, "00cc", Orphaned); !errors.Is(err, ErrConfirmed) {
			t.Errorf("a confirmed block orphaned: %v, want ErrConfirmed", err)
		}
		if b, err := s.Blocks(ctx, 1); err != nil || b[0].State != Confirmed {
			t.Errorf("blocks %v %v, want it confirmed still", b, err)
		}
	})
}
