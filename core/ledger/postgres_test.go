package ledger

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Two frontends on one database: their work sums in the same buckets,
// their blocks are recorded at the same time without deadlock, a block
// is split over both's work, and a block confirmed by both pays once.
func TestPostgresFrontends(t *testing.T) {
	ctx := context.Background()
	dsn := pg.NewDatabase(t)
	deadlocks := strings.Count(pg.Log(), "deadlock detected")
	a, b := openTest(t, dsn), openTest(t, dsn)
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	// Every batch touches the same rows, in an order of its own.
	batch := func(r *rand.Rand) []Work {
		var work []Work
		for i := range 4 {
			for _, u := range users {
				work = append(work, Work{Bucket: t0.Add(time.Duration(i) * 10 * time.Second), User: u, Worker: "w",
					Accepted: 1, Difficulty: 1, Rejected: map[string]uint64{"stale-share": 1, "invalid-job-id": 1}})
			}
		}
		r.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
		return work
	}
	const batches, blocks = 20, 3
	var wg sync.WaitGroup
	for i, s := range []*sqlStore{a, b, a, b} {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for range batches {
				if err := s.AddWork(ctx, batch(r)); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for k := range blocks {
				b := Block{Hash: fmt.Sprintf("%d-%d", i, k), Reward: 1000, Found: t0}
				if _, err := s.AddBlock(ctx, b, batch(r), Rules{Window: 1e9, Pool: "pool"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	each := float64(4 * (batches + blocks) * 4) // 4 writers, 4 buckets
	w, err := b.Window(ctx, math.MaxFloat64)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Weight, len(users))
	for i, u := range users {
		want[i] = Weight{u, each}
	}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("the buckets after concurrent writes (-want +got)\n%s", diff)
	}
	var rejects int
	if err := a.db.QueryRow(`SELECT CAST(SUM(count) AS BIGINT) FROM rejects`).Scan(&rejects); err != nil || float64(rejects) != 2*each*float64(len(users)) {
		t.Errorf("rejects %d (%v), want %g", rejects, err, 2*each*float64(len(users)))
	}
	if n := strings.Count(pg.Log(), "deadlock detected"); n != deadlocks {
		t.Errorf("%d deadlocks in the server's log", n-deadlocks)
	}

	// A block by a is split over b's work too.
	if err := b.AddWork(ctx, []Work{{Bucket: t0.Add(time.Hour), User: "onlyb", Accepted: 1, Difficulty: 10}}); err != nil {
		t.Fatal(err)
	}
	split, err := a.AddBlock(ctx, Block{Hash: "both", Reward: 2000, Found: t0.Add(time.Hour), CoinbaseTxid: "cb",
		InCoinbase: []Payout{{"onlyb", 500}}},
		[]Work{{Bucket: t0.Add(time.Hour), User: "onlya", Accepted: 1, Difficulty: 10}}, Rules{Window: 20, Pool: "pool"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Payout{{"onlya", 1000}, {"onlyb", 1000}}, split); diff != "" {
		t.Errorf("a block of a over both's last 20 units (-want +got)\n%s", diff)
	}

	// Both confirm it, at once and again: its coinbase pays once.
	for range 3 {
		for _, s := range []*sqlStore{a, b} {
			wg.Go(func() {
				if err := s.SetBlockState(ctx, "both", Confirmed); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	paid, err := a.Payouts(ctx, "", 10)
	if err != nil || len(paid) != 1 || paid[0].User != "onlyb" || paid[0].Amount != 500 {
		t.Errorf("payouts %+v %v: want onlyb 500, once", paid, err)
	}
}

// Frontends starting at once on a new database apply each version of the
// schema once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	ctx := context.Background()
	dsn := pg.NewDatabase(t)
	const n = 4
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			s, err := OpenPostgres(ctx, dsn)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	close(start)
	wg.Wait()
	s := openTest(t, dsn)
	rows, err := s.db.Query(`SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if len(versions) != len(postgresMigrations) || versions[0] != 1 || versions[len(versions)-1] != len(postgresMigrations) {
		t.Errorf("schema versions %v after %d concurrent starts", versions, n)
	}
}
