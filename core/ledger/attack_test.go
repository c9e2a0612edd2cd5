package ledger

// Attacks on the ledger as a hostile miner or a hostile environment would
// make them: a database that is down for long, one that holds a lock, user
// and worker names PostgreSQL cannot store. Each test fails if the ledger
// misbehaves.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// downStore is a Store whose database is unreachable: every write fails.
type downStore struct{ Store }

func (downStore) AddWork(context.Context, []Work) error { return errors.New("database down") }
func (downStore) AddBlock(context.Context, Block, []Work, Rules) ([]Payout, error) {
	return nil, errors.New("database down")
}

// pendingLen is how many buckets the recorder holds in memory.
func (r *Recorder) pendingLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// SYMPTOM (fails now): while the database is down, every failed flush puts
// its work back in full, bucket by bucket, with no bound: the pending map
// grows with users × buckets of outage (a day down with 100k users is 864
// million entries at the 10 s buckets, an out-of-memory kill that loses all
// of it; this test keeps it small: 200 users over 50 buckets, 10,000
// entries). A hostile miner speeds it up with fresh worker names on accepted
// shares (a row each, see TestAttackFreshWorkerNamesOnAcceptedShares in
// apps/pool). What a failed flush keeps must be bounded by the users and
// workers, not by how long the outage lasts.
func TestAttackRecorderPendingBoundedWhileStoreDown(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	const users, buckets = 200, 50
	// The bound scaled down with the test: the default (DefaultMaxPending)
	// is for a pool's many users, far above this test's 10,000 buckets.
	r := NewRecorder(RecorderConfig{Store: downStore{}, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: clock, MaxPending: users})
	for range buckets {
		for u := range users {
			r.Share(fmt.Sprintf("user-%d", u), "", true, 1, "")
		}
		if err := r.Flush(context.Background()); err == nil {
			t.Fatal("a flush to a database that is down succeeded")
		}
		mu.Lock()
		now = now.Add(DefaultBucket)
		mu.Unlock()
	}
	// Nothing may be lost: the difficulty is all there.
	var sum float64
	r.mu.Lock()
	for _, w := range r.pending {
		sum += w.Difficulty
	}
	r.mu.Unlock()
	if sum != users*buckets {
		t.Fatalf("%v difficulty kept, want %d: work lost", sum, users*buckets)
	}
	if n := r.pendingLen(); n > 2*users {
		t.Errorf("after %d buckets of outage the recorder holds %d buckets in memory for %d users: it grows with the outage's length, without bound", buckets, n, users)
	}
}

// A failed flush of a large backlog must not hold the share path: Share
// takes the recorder's lock, which take and putBack hold while they copy the
// whole backlog.
//
// SYMPTOM (fails now, a consequence of the unbounded backlog): with 200,000
// buckets pending (a database down a while under many users), every failed
// flush holds Share for the copy of all of them.
func TestAttackShareDoesNotWaitOnAFailedFlushBacklog(t *testing.T) {
	now := t0
	r := NewRecorder(RecorderConfig{Store: downStore{}, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: func() time.Time { return now }})
	const backlog = 200_000
	for i := range backlog { // as the pending map would hold them after an outage
		r.pending[workKey{now.Unix() - int64(i/1000)*10, fmt.Sprintf("user-%d", i%1000), ""}] = &Work{Bucket: now.Add(-time.Duration(i/1000) * DefaultBucket), User: fmt.Sprintf("user-%d", i%1000), Accepted: 1, Difficulty: 1}
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				r.Flush(context.Background()) //nolint:errcheck // it fails: the database is down
			}
		}
	}()
	var worst time.Duration
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		start := time.Now()
		r.Share("alice", "", true, 1, "")
		worst = max(worst, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-flushed
	if worst > 50*time.Millisecond {
		t.Errorf("a share waited %v on a failed flush of a %d-bucket backlog: the share path must not wait on the database, nor on copying what it could not take", worst, backlog)
	}
}

// SYMPTOM (fails now): PostgreSQL's TEXT takes neither a NUL byte nor a
// string that is not UTF-8, and the pool hands the ledger user identities
// as miners sent them (OpenMiningChannel's user_identity is a STR0_255 of
// any bytes; an Sv1 authorize can carry \u0000). AddWork writes a flush in
// one transaction, so one such name fails the whole batch; the Recorder
// puts it back and the next flush fails the same way, for ever: nobody's
// work is written again, and AddBlock, which writes the pending work with
// the block, fails too (see TestAttackNULIdentityPoisonsThePostgresLedger
// in apps/pool). One bad name must cost its own row at most.
func TestAttackPostgresOneBadNameDoesNotPoisonABatch(t *testing.T) {
	for _, bad := range []string{"mallory\x00", "mallory\xff\xfe", "ok-user"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, pg.NewDatabase(t))
			r := NewRecorder(RecorderConfig{Store: s, Rules: Rules{Window: 1e9, Pool: "pool"}, Now: func() time.Time { return t0 }})
			r.Share(bad, "", true, 1, "")
			r.Share("alice", "rig", true, 5, "")
			for range 3 {
				r.Flush(ctx) //nolint:errcheck // what matters is what gets written
			}
			w, err := s.Window(ctx, 1e9)
			if err != nil {
				t.Fatal(err)
			}
			var alice float64
			for _, x := range w {
				if x.User == "alice" {
					alice = x.Difficulty
				}
			}
			if alice != 5 {
				t.Errorf("after 3 flushes with a share of user %q pending, alice's work in the ledger is %v, want 5: one name PostgreSQL refuses blocks everybody's work", bad, alice)
			}
			if n := r.pendingLen(); n != 0 {
				t.Errorf("%d buckets still pending after 3 flushes (a poison row is put back for ever)", n)
			}
			// A block found now must be recorded.
			bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := r.Block(bctx, Block{Hash: "00b1", Height: 1, Reward: 1000, Found: t0}, 0); err != nil {
				t.Errorf("a block found with user %q's share pending cannot be recorded: %v", bad, err)
			}
		})
	}
}

// What holds: a database that holds the work table locked (LOCK TABLE in
// another session's open transaction, a long migration or backup) does not
// delay Share, and a flush waiting on the lock loses nothing: once the lock
// goes every share is written.
func TestAttackLockedWorkTableDoesNotDelayShares(t *testing.T) {
	ctx := context.Background()
	dsn := pg.NewDatabase(t)
	s := openTest(t, dsn)
	locker := openTest(t, dsn)
	tx, err := locker.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE work IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r := NewRecorder(RecorderConfig{Store: s, Rules: Rules{Window: 1e9, Pool: "pool"}, Flush: 10 * time.Millisecond})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	var worst time.Duration
	const shares = 500
	for range shares {
		start := time.Now()
		r.Share("alice", "", true, 1, "")
		worst = max(worst, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	if worst > 20*time.Millisecond {
		t.Errorf("a share took %v while the work table was locked", worst)
	}
	if err := tx.Rollback(); err != nil { // the lock goes
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		w, err := s.Window(ctx, 1e9)
		if err == nil && len(w) == 1 && w[0].Difficulty == shares {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the lock went: window %v (%v), want alice's %d", w, err, shares)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// hangStore's first AddWork hangs until its context ends, as a write on a
// connection whose peer is gone without a word does (a half-open TCP
// connection, a NAT entry dropped, a server wedged); later writes go to
// the real store on fresh connections.
type hangStore struct {
	Store
	mu   sync.Mutex
	hung bool
}

func (h *hangStore) AddWork(ctx context.Context, w []Work) error {
	h.mu.Lock()
	first := !h.hung
	h.hung = true
	h.mu.Unlock()
	if first {
		<-ctx.Done()
		return ctx.Err()
	}
	return h.Store.AddWork(ctx, w)
}

// SYMPTOM (fails now): Recorder.Run flushes with Run's own context, which
// has no deadline: one write that hangs (a dead connection the kernel has
// not noticed yet, minutes with TCP keepalives, for ever without) stops
// every later flush until the pool stops. The work piles up in memory
// and none of it is written though the database answers on any new
// connection. A flush must give up after a bounded time (5 s here, the
// found blocks' own per-try timeout) and try again.
func TestAttackHungFlushDoesNotStopLaterFlushes(t *testing.T) {
	ctx := context.Background()
	real := openTest(t, t.TempDir()+"/ledger.db")
	r := NewRecorder(RecorderConfig{Store: &hangStore{Store: real}, Rules: Rules{Window: 1e9, Pool: "pool"}, Flush: 10 * time.Millisecond})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { stop(); <-done }()
	r.Share("alice", "", true, 1, "")
	time.Sleep(50 * time.Millisecond) // the first flush takes it, and hangs
	r.Share("bob", "", true, 1, "")
	deadline := time.Now().Add(6500 * time.Millisecond)
	for {
		w, err := real.Window(ctx, 1e9)
		if err == nil && len(w) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("6.5 s after one write hung the ledger holds %v (%v): no later flush ran, though the database takes writes", w, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
