package ledger

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults for zero RecorderConfig fields.
const (
	DefaultFlush  = time.Second
	DefaultBucket = 10 * time.Second
)

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	Store  Store
	Rules  Rules
	Flush  time.Duration // how often buckets are written (DefaultFlush): the work a crash may lose
	Bucket time.Duration // the buckets' length (DefaultBucket)
	Logger *slog.Logger
	Now    func() time.Time
}

// Recorder sums shares into buckets in memory and writes them every Flush,
// so that the share path never waits on the database; Block writes a found
// block at once. Its methods are safe for concurrent use.
type Recorder struct {
	cfg RecorderConfig
	log *slog.Logger

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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Recorder{cfg: cfg, log: cfg.Logger, pending: map[workKey]*Work{}}
}

// Share adds one share of user's worker: accepted with its difficulty, or
// rejected with code. It never blocks on the database.
func (r *Recorder) Share(user, worker string, accepted bool, difficulty float64, code string) {
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

// take returns the pending work and starts afresh.
func (r *Recorder) take() []Work {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Work, 0, len(r.pending))
	for _, w := range r.pending {
		out = append(out, *w)
	}
	clear(r.pending)
	return out
}

// putBack returns work a write failed to store, for the next flush.
func (r *Recorder) putBack(work []Work) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range work {
		k := workKey{w.Bucket.Unix(), w.User, w.Worker}
		p := r.pending[k]
		if p == nil {
			p = &Work{Bucket: w.Bucket, User: w.User, Worker: w.Worker}
			r.pending[k] = p
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
}

// Flush writes the pending work now; on failure it is kept for the next.
func (r *Recorder) Flush(ctx context.Context) error {
	work := r.take()
	if err := r.cfg.Store.AddWork(ctx, work); err != nil {
		r.putBack(work)
		return err
	}
	return nil
}

// Block records a found block at once, before any other write: with the
// work pending so far, its split computed from the window that work ends,
// in one transaction. On failure the work is kept, and the error says the
// block was not recorded (the caller logs it loudly and tries again).
//
// window, when positive, is the block's PPLNS window instead of the
// configured one (a pool that sizes it by the block's network difficulty).
func (r *Recorder) Block(ctx context.Context, b Block, window float64) ([]Payout, error) {
	rules := r.cfg.Rules
	if window > 0 {
		rules.Window = window
	}
	work := r.take()
	split, err := r.cfg.Store.AddBlock(ctx, b, work, rules)
	if err != nil {
		r.putBack(work)
		return nil, err
	}
	return split, nil
}

// Run writes the pending work every Flush until ctx ends, then once more
// (with a context of its own, a few seconds long) and returns nil.
func (r *Recorder) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Flush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("ledger: cannot write accepted work; kept for the next flush", "error", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Error("ledger: accepted work not written at stop", "error", err)
			}
			return nil
		}
	}
}
