package ledger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// failingStore fails its writes while down.
type failingStore struct {
	Store
	mu   sync.Mutex
	down bool
}

func (f *failingStore) AddWork(ctx context.Context, w []Work) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errors.New("database down")
	}
	return f.Store.AddWork(ctx, w)
}

func (f *failingStore) AddBlock(ctx context.Context, b Block, w []Work, r Rules) ([]Payout, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, errors.New("database down")
	}
	return f.Store.AddBlock(ctx, b, w, r)
}

func (f *failingStore) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }

func TestRecorderBatchesAndKeepsWhatFailed(t *testing.T) {
	eachEngine(t, testRecorderBatchesAndKeepsWhatFailed)
}

func testRecorderBatchesAndKeepsWhatFailed(t *testing.T, spec string) {
	ctx := context.Background()
	s := openTest(t, spec)
	fs := &failingStore{Store: s}
	now := t0
	r := NewRecorder(RecorderConfig{Store: fs, Rules: Rules{Window: 100, Pool: "pool"}, Now: func() time.Time { return now }})
	for range 3 {
		r.Share("alice", "rig1", true, 2, "")
	}
	r.Share("alice", "rig1", false, 0, "stale-share")
	now = now.Add(15 * time.Second) // the next bucket
	r.Share("bob", "", true, 1, "")
	if w, _ := s.Window(ctx, 100); len(w) != 0 {
		t.Fatalf("work written before a flush: %v", w)
	}
	fs.setDown(true)
	if err := r.Flush(ctx); err == nil {
		t.Fatal("a flush to a database down succeeded")
	}
	if _, err := r.Block(ctx, Block{Hash: "aa", Reward: 100}, 0); err == nil {
		t.Fatal("a block recorded in a database down")
	}
	fs.setDown(false)
	split, err := r.Block(ctx, Block{Hash: "aa", Reward: 1000, Found: now}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The block carried the work the failed writes kept: alice 6, bob 1.
	if len(split) != 3 || split[0] != (Payout{"alice", 857}) || split[1] != (Payout{"bob", 142}) || split[2] != (Payout{"pool", 1}) {
		t.Errorf("split %v", split)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.Window(ctx, 100); len(w) != 2 || w[0].Difficulty != 6 || w[1].Difficulty != 1 {
		t.Errorf("work written once: %v", w)
	}
	var rejected int
	if err := s.db.QueryRow(`SELECT SUM(count) FROM rejects WHERE code = 'stale-share'`).Scan(&rejected); err != nil || rejected != 1 {
		t.Errorf("rejects %d %v", rejected, err)
	}
}

// The crash test's child: records a share every millisecond, flushing every
// 20 ms, and says after each flush how many shares were written, until it
// is killed.
func TestMain(m *testing.M) {
	if spec := os.Getenv("LEDGER_CRASH_CHILD"); spec != "" {
		crashChild(spec)
		return
	}
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

func crashChild(spec string) {
	ctx := context.Background()
	s, err := Open(ctx, spec)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	r := NewRecorder(RecorderConfig{Store: s, Rules: Rules{Window: 1e9, Pool: "pool"}})
	var shares int
	tick := time.NewTicker(20 * time.Millisecond)
	for {
		select {
		case <-tick.C:
			if err := r.Flush(ctx); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println("flushed", shares)
		default:
			r.Share("alice", "rig", true, 1, "")
			shares++
			if shares == 50 {
				// A block mid-run: written at once, whatever comes after.
				if _, err := r.Block(ctx, Block{Hash: "b1", Height: 7, Reward: 5000, Found: time.Now()}, 0); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				fmt.Println("block")
				// Confirmed, and part of it paid: what is owed must survive too.
				if err := s.SetBlockState(ctx, "b1", Confirmed); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				if err := s.AddPayout(ctx, Payout{"alice", 1234}, time.Now(), "tx1"); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				bal, err := s.Balances(ctx)
				if err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				fmt.Println("balances", fmt.Sprint(bal))
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// kill -9 of a process mid-load: every share written by a flush it
// reported, the block, and the balances it reported are in the ledger
// when it is opened again.
func TestRecorderSurvivesKill(t *testing.T) {
	eachEngine(t, testRecorderSurvivesKill)
}

func testRecorderSurvivesKill(t *testing.T, spec string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LEDGER_CRASH_CHILD="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(out)
	flushed, flushes, block, balances := 0, 0, false, ""
	for flushes < 10 && lines.Scan() {
		f := strings.Fields(lines.Text())
		switch f[0] {
		case "flushed":
			flushed, _ = strconv.Atoi(f[1])
			flushes++
		case "block":
			block = true
		case "balances":
			balances = strings.TrimPrefix(lines.Text(), "balances ")
		default:
			t.Fatalf("child: %s", lines.Text())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred flush runs
		t.Fatal(err)
	}
	cmd.Wait()
	if flushes < 10 || !block || flushed < 50 || balances == "" {
		t.Fatalf("child reported %d flushes, %d shares, block %v", flushes, flushed, block)
	}
	s := openTest(t, spec)
	w, err := s.Window(context.Background(), 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || w[0].Difficulty < float64(flushed) {
		t.Errorf("after kill -9: %v in the ledger, %d shares reported written", w, flushed)
	}
	blocks, err := s.Blocks(context.Background(), 10)
	if err != nil || len(blocks) != 1 || blocks[0].Hash != "b1" {
		t.Errorf("blocks after kill -9: %+v %v", blocks, err)
	}
	split, err := s.Split(context.Background(), "b1")
	if err != nil || len(split) != 1 || split[0] != (Payout{"alice", 5000}) {
		t.Errorf("the block's split after kill -9: %v %v", split, err)
	}
	if bal, err := s.Balances(context.Background()); err != nil || fmt.Sprint(bal) != balances || balances != "[{alice 3766}]" {
		t.Errorf("balances after kill -9: %v %v; the child had %s, want [{alice 3766}]", bal, err, balances)
	}
}

// Names the database cannot store are recorded with U+FFFD for their NUL
// bytes and invalid UTF-8, in every engine.
func TestRecorderStorableNames(t *testing.T) {
	for in, want := range map[string]string{
		"alice":          "alice",
		"":               "",
		"mallory\x00":    "mallory\uFFFD",
		"mal\xff\xfe":    "mal\uFFFD",
		"\x00a\xffb\x00": "\uFFFDa\uFFFDb\uFFFD",
		"ünïcode ⛏":      "ünïcode ⛏",
	} {
		if got := storable(in); got != want {
			t.Errorf("storable(%q) = %q, want %q", in, got, want)
		}
	}
	eachEngine(t, func(t *testing.T, spec string) {
		ctx := context.Background()
		s := openTest(t, spec)
		r := NewRecorder(RecorderConfig{Store: s, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: func() time.Time { return t0 }})
		r.Share("mallory\x00", "rig\xff", true, 2, "")
		if _, err := r.Block(ctx, Block{Hash: "00b1", Reward: 1000, Found: t0, Finder: "mallory\x00"}, 0); err != nil {
			t.Fatal(err)
		}
		if w, err := s.Window(ctx, 1e9); err != nil || len(w) != 1 || w[0].User != "mallory\uFFFD" {
			t.Errorf("window %+v (%v), want mallory\\uFFFD's", w, err)
		}
		if b, err := s.Blocks(ctx, 1); err != nil || len(b) != 1 || b[0].Finder != "mallory\uFFFD" {
			t.Errorf("blocks %+v (%v), want one found by mallory\\uFFFD", b, err)
		}
	})
}

// A batch holding buckets the database refuses (as PostgreSQL refuses a
// NUL byte, should one get past Share) is written without them: they are
// set aside and counted, the rest written, and nothing is kept to fail
// the next flush or a block.
func TestRecorderSetsAsideRefusedWork(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pg.NewDatabase(t))
	r := NewRecorder(RecorderConfig{Store: s, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: func() time.Time { return t0 }})
	put := func(user string, d float64) {
		r.pending[workKey{t0.Unix(), user, ""}] = &Work{Bucket: t0, User: user, Accepted: 1, Difficulty: d}
	}
	for i := range 50 {
		put(fmt.Sprintf("user-%02d", i), 1)
	}
	put("bad\x00one", 1)
	put("bad\xfftwo", 1)
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("a flush with refused buckets: %v", err)
	}
	if n := r.Refused(); n != 2 {
		t.Errorf("%d buckets refused, want 2", n)
	}
	if n := r.pendingLen(); n != 0 {
		t.Errorf("%d buckets pending after the flush, want 0", n)
	}
	if w, err := s.Window(ctx, 1e9); err != nil || len(w) != 50 {
		t.Errorf("%d users' work written (%v), want 50", len(w), err)
	}
	// A block with a refused bucket pending is recorded, the rest of the
	// work in its window.
	put("bad\x00three", 1)
	r.Share("alice", "", true, 50, "")
	split, err := r.Block(ctx, Block{Hash: "00b1", Reward: 1000, Found: t0}, 0)
	if err != nil {
		t.Fatalf("a block with a refused bucket pending: %v", err)
	}
	if len(split) != 51 || split[0] != (Payout{"alice", 500}) {
		t.Errorf("split %v, want alice's 500 first of 51 users", split)
	}
	if n := r.Refused(); n != 3 {
		t.Errorf("%d buckets refused, want 3", n)
	}
}

// Past MaxPending, the work failed flushes kept is merged into one bucket
// per user and worker, the newest of theirs, with its totals exact.
func TestRecorderCompactsALongBacklog(t *testing.T) {
	now := t0
	r := NewRecorder(RecorderConfig{Store: downStore{}, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: func() time.Time { return now }, MaxPending: 4})
	for i := range 6 {
		r.Share("alice", "rig", true, 2, "")
		r.Share("alice", "rig", false, 0, "stale-share")
		if i%2 == 0 {
			r.Share("bob", "", true, 1, "")
		}
		r.Flush(context.Background()) //nolint:errcheck // the database is down
		now = now.Add(DefaultBucket)
	}
	got := map[workKey]Work{}
	for k, w := range r.pending {
		got[k] = *w
	}
	// The fifth flush merged 5 buckets of alice's and 3 of bob's; the
	// sixth's 3 buckets are within the bound.
	want := map[workKey]Work{
		{t0.Add(4 * DefaultBucket).Unix(), "alice", "rig"}: {Bucket: t0.Add(4 * DefaultBucket), User: "alice", Worker: "rig", Accepted: 5, Difficulty: 10, Rejected: map[string]uint64{"stale-share": 5}},
		{t0.Add(4 * DefaultBucket).Unix(), "bob", ""}:      {Bucket: t0.Add(4 * DefaultBucket), User: "bob", Accepted: 3, Difficulty: 3},
		{t0.Add(5 * DefaultBucket).Unix(), "alice", "rig"}: {Bucket: t0.Add(5 * DefaultBucket), User: "alice", Worker: "rig", Accepted: 1, Difficulty: 2, Rejected: map[string]uint64{"stale-share": 1}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(workKey{})); diff != "" {
		t.Errorf("pending after 6 failed flushes (-want +got)\n%s", diff)
	}
}

// A flush put back (the database down) keeps the work Share added while
// it ran.
func TestRecorderPutBackKeepsNewWork(t *testing.T) {
	r := NewRecorder(RecorderConfig{Store: downStore{}, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: func() time.Time { return t0 }})
	r.Share("alice", "", true, 1, "")
	r.Share("bob", "", true, 1, "")
	taken := r.take()
	r.Share("alice", "", true, 2, "")
	r.Share("carol", "", true, 4, "")
	r.putBack(taken)
	got := map[string]float64{}
	for _, w := range r.pending {
		got[w.User] += w.Difficulty
	}
	if diff := cmp.Diff(map[string]float64{"alice": 3, "bob": 1, "carol": 4}, got); diff != "" {
		t.Errorf("pending after a put back (-want +got)\n%s", diff)
	}
}
