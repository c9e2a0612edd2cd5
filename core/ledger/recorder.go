package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults for zero RecorderConfig fields.
const (
	DefaultFlush      = time.Second
	DefaultBucket     = 10 * time.Second
	DefaultMaxPending = 100_000
)

// minFlushTimeout is the least time a flush of Run is given before it is
// abandoned (its work kept for the next): a write hung on a connection
// whose peer is gone must not stop every later flush.
const minFlushTimeout = 5 * time.Second

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	Store  Store
	Rules  Rules
	Flush  time.Duration // how often buckets are written (DefaultFlush): the work a crash may lose
	Bucket time.Duration // the buckets' length (DefaultBucket)
	// MaxPending bounds the buckets (of one user's worker each) that work
	// a failed write kept holds in memory while the database is away
	// (DefaultMaxPending). Past it, that work is merged into one bucket
	// per user and worker, the newest of theirs, its totals exact: the
	// work of an outage then loses its time resolution (in a PPLNS window
	// it counts as done at the end of the outage), but memory is bounded
	// by the users and workers, not by the outage's length.
	MaxPending int
	Logger     *slog.Logger
	Now        func() time.Time
}

// Recorder sums shares into buckets in memory and writes them every Flush,
// so that the share path never waits on the database; Block writes a found
// block at once. Its methods are safe for concurrent use.
type Recorder struct {
	cfg RecorderConfig
	log *slog.Logger

	// refused counts the buckets of work the database refused (ErrBadData)
	// and the recorder set aside.
	refused atomic.Uint64

	mu      sync.Mutex
	pending map[workKey]*Work
}

type workKey struct {
	bucket       int64
	user, worker string
}

// NewRecorder returns a Recorder writing to cfg.Store; Run writes.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Flush <= 0 {
		cfg.Flush = DefaultFlush
	}
	if cfg.Bucket <= 0 {
		cfg.Bucket = DefaultBucket
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Recorder{cfg: cfg, log: cfg.Logger, pending: map[workKey]*Work{}}
}

// storable is name as every engine can store it: PostgreSQL's TEXT takes
// neither a NUL byte nor invalid UTF-8, which miners' names may hold (a
// user identity is any bytes), so each becomes U+FFFD.
func storable(name string) string {
	if utf8.ValidString(name) && strings.IndexByte(name, 0) < 0 {
		return name
	}
	return strings.ReplaceAll(strings.ToValidUTF8(name, "\uFFFD"), "\x00", "\uFFFD")
}

// Share adds one share of user's worker: accepted with its difficulty, or
// rejected with code. It never blocks on the database. Names the database
// cannot store are recorded with U+FFFD for their NUL bytes and invalid
// UTF-8.
func (r *Recorder) Share(user, worker string, accepted bool, difficulty float64, code string) {
	user, worker = storable(user), storable(worker)
	b := r.cfg.Now().Truncate(r.cfg.Bucket)
	k := workKey{b.Unix(), user, worker}
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.pending[k]
	if w == nil {
		w = &Work{Bucket: b, User: user, Worker: worker}
		r.pending[k] = w
	}
	if !accepted {
		if w.Rejected == nil {
			w.Rejected = map[string]uint64{}
		}
		w.Rejected[code]++
		return
	}
	w.Accepted++
	w.Difficulty += difficulty
}

// Refused is how many buckets of work the database refused (ErrBadData)
// and the recorder set aside, each logged: work lost to keep the rest.
func (r *Recorder) Refused() uint64 { return r.refused.Load() }

// take returns the pending work and starts afresh. It swaps the map, so
// that Share never waits on a copy of a large backlog.
func (r *Recorder) take() map[workKey]*Work {
	r.mu.Lock()
	defer r.mu.Unlock()
	taken := r.pending
	r.pending = map[workKey]*Work{}
	return taken
}

// putBack returns work a write failed to store, for the next flush:
// merged per user and worker first if it holds more than MaxPending
// buckets, then with the work Share added meanwhile, the smaller map into
// the larger, so that the lock is held for the few new buckets rather
// than the backlog.
func (r *Recorder) putBack(backlog map[workKey]*Work) {
	if len(backlog) > r.cfg.MaxPending {
		backlog = r.compact(backlog)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	from, into := r.pending, backlog
	if len(from) > len(into) {
		from, into = into, from
	}
	for k, w := range from {
		add(into, k, w)
	}
	r.pending = into
}

// add adds w to the bucket of k in m.
func add(m map[workKey]*Work, k workKey, w *Work) {
	p := m[k]
	if p == nil {
		m[k] = w
		return
	}
	p.Accepted += w.Accepted
	p.Difficulty += w.Difficulty
	for code, n := range w.Rejected {
		if p.Rejected == nil {
			p.Rejected = map[string]uint64{}
		}
		p.Rejected[code] += n
	}
}

// compact merges backlog's buckets into one per user and worker, its
// newest (see RecorderConfig.MaxPending).
func (r *Recorder) compact(backlog map[workKey]*Work) map[workKey]*Work {
	type who struct{ user, worker string }
	newest := map[who]int64{}
	for k := range backlog {
		if b, ok := newest[who{k.user, k.worker}]; !ok || k.bucket > b {
			newest[who{k.user, k.worker}] = k.bucket
		}
	}
	out := make(map[workKey]*Work, len(newest))
	for k, w := range backlog {
		k.bucket = newest[who{k.user, k.worker}]
		if p := out[k]; p == nil {
			w.Bucket = time.Unix(k.bucket, 0)
		}
		add(out, k, w)
	}
	r.log.Warn("ledger: the database has been unwritable for long: the work kept meanwhile is merged into one bucket per user and worker, losing its time resolution",
		"buckets", len(backlog), "merged_into", len(out), "max_pending", r.cfg.MaxPending)
	return out
}

// rows is m's work as a Store takes it.
func rows(m map[workKey]*Work) []Work {
	out := make([]Work, 0, len(m))
	for _, w := range m {
		out = append(out, *w)
	}
	return out
}

// backlogOf is work by bucket, as take returns it.
func backlogOf(work []Work) map[workKey]*Work {
	m := make(map[workKey]*Work, len(work))
	for _, w := range work {
		add(m, workKey{w.Bucket.Unix(), w.User, w.Worker}, &w)
	}
	return m
}

// Flush writes the pending work now, in one transaction; on failure it is
// kept for the next. Work the database refuses (ErrBadData) is written in
// parts instead, and the buckets it still refuses are set aside (logged,
// counted by Refused), so that they cannot block every later flush.
func (r *Recorder) Flush(ctx context.Context) error {
	taken := r.take()
	if len(taken) == 0 {
		return nil
	}
	work := rows(taken)
	err := r.cfg.Store.AddWork(ctx, work)
	if errors.Is(err, ErrBadData) {
		var kept []Work
		kept, err = r.sift(ctx, work, err)
		taken = backlogOf(kept)
	}
	if err != nil {
		r.putBack(taken)
		return err
	}
	return nil
}

// sift writes work, which the database refused as one batch with why, in
// halves, and halves of those it refuses in turn, until each bucket it
// refuses is alone and set aside: a few bad buckets cost a few
// transactions each, not one per bucket of the batch. It returns the work
// not written for another reason (to keep), with that reason.
func (r *Recorder) sift(ctx context.Context, work []Work, why error) (kept []Work, err error) {
	if len(work) == 1 {
		r.refused.Add(1)
		w := work[0]
		r.log.Error("LEDGER: THE DATABASE REFUSES A BUCKET OF WORK; IT IS SET ASIDE, NOT WRITTEN",
			"user", w.User, "worker", w.Worker, "bucket", w.Bucket, "accepted", w.Accepted, "difficulty", w.Difficulty, "rejected", w.Rejected, "error", why)
		return nil, nil
	}
	mid := len(work) / 2
	for _, half := range [][]Work{work[:mid], work[mid:]} {
		if err != nil { // the database is away: the rest waits for the next flush
			kept = append(kept, half...)
			continue
		}
		e := r.cfg.Store.AddWork(ctx, half)
		switch {
		case errors.Is(e, ErrBadData):
			k, e := r.sift(ctx, half, e)
			kept, err = append(kept, k...), e
		case e != nil:
			kept, err = append(kept, half...), e
		}
	}
	return kept, err
}

// Block records a found block at once, before any other write: with the
// work pending so far, its split computed from the window that work ends,
// in one transaction. On failure the work is kept, and the error says the
// block was not recorded (the caller logs it loudly and tries again).
// Pending work the database refuses (ErrBadData) is written apart, its
// refused buckets set aside as Flush does, and the block after it.
//
// window, when positive, is the block's PPLNS window instead of the
// configured one (a pool that sizes it by the block's network difficulty).
func (r *Recorder) Block(ctx context.Context, b Block, window float64) ([]Payout, error) {
	rules := r.cfg.Rules
	if window > 0 {
		rules.Window = window
	}
	b.Finder = storable(b.Finder)
	taken := r.take()
	work := rows(taken)
	split, err := r.cfg.Store.AddBlock(ctx, b, work, rules)
	if errors.Is(err, ErrBadData) && len(work) > 0 {
		kept, werr := r.sift(ctx, work, err)
		if werr != nil {
			r.putBack(backlogOf(kept))
			return nil, fmt.Errorf("ledger: add block %s: %w", b.Hash, werr)
		}
		taken = nil // written, or set aside
		split, err = r.cfg.Store.AddBlock(ctx, b, nil, rules)
	}
	if err != nil {
		if taken != nil {
			r.putBack(taken)
		}
		return nil, err
	}
	return split, nil
}

// Run writes the pending work every Flush until ctx ends, then once more
// and returns nil. Each write is given the larger of 5 s and 3 Flush: one
// that takes longer is abandoned, its work kept for the next.
func (r *Recorder) Run(ctx context.Context) error {
	timeout := max(minFlushTimeout, 3*r.cfg.Flush)
	t := time.NewTicker(r.cfg.Flush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// Not cancelled with ctx: a stop landing at COMMIT would leave
			// the outcome unknown, the work put back, and written twice by
			// the last flush (seen with PostgreSQL).
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			err := r.Flush(fctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.log.Error("ledger: cannot write accepted work; kept for the next flush", "error", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Error("ledger: accepted work not written at stop", "error", err)
			}
			return nil
		}
	}
}
