package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratumgo/stratum/core/backoff"
)

// WatchMode selects how WatchTips learns about new blocks.
type WatchMode int

const (
	// WatchAuto subscribes to btcd websocket notifications and falls back to
	// WatchLongPoll when the node has no websocket endpoint (Bitcoin Core).
	WatchAuto WatchMode = iota
	// WatchWebsocket uses btcd's notifyblocks websocket notifications only.
	WatchWebsocket
	// WatchLongPoll waits on the node for a new best block. On Bitcoin Core
	// it calls waitfornewblock with our tip (v30 and later) or
	// waitforblockheight (v0.14 to v29), each bounded by WaitTimeout, which
	// the node enforces; on nodes without those calls (btcd) it long-polls
	// getblocktemplate (BIP22 longpollid).
	WatchLongPoll
	// WatchPoll calls getbestblockhash every PollInterval.
	WatchPoll
)

func (m WatchMode) String() string {
	switch m {
	case WatchAuto:
		return "auto"
	case WatchWebsocket:
		return "websocket"
	case WatchLongPoll:
		return "longpoll"
	case WatchPoll:
		return "poll"
	}
	return fmt.Sprintf("WatchMode(%d)", int(m))
}

// Defaults for zero WatchConfig fields. DefaultMaxBackoff is short because
// the watcher's next attempt is when a restarted node is noticed: work on the
// old tip meanwhile is wasted (at 10 s, up to 12 s of stale blocks after a
// restart), while an attempt at a node that is down costs one refused
// connection.
const (
	DefaultPollInterval    = time.Second
	DefaultMinBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff      = 2 * time.Second
	DefaultLongPollTimeout = 2 * time.Minute
	DefaultWaitTimeout     = 5 * time.Second
	DefaultPingInterval    = 30 * time.Second
)

// WatchConfig tunes WatchTips. The zero value is WatchAuto with the
// documented defaults.
type WatchConfig struct {
	Mode WatchMode
	// PollInterval is the period of WatchPoll (default DefaultPollInterval).
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts to reach a node that went away (defaults DefaultMinBackoff,
	// DefaultMaxBackoff); each delay is spread by ±20% so that many clients
	// of one node do not retry in lockstep.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// LongPollTimeout is how often a waiting getblocktemplate long poll is
	// checked on: the node is asked for its best block, and no answer or a
	// tip the long poll missed starts the session again. The long poll
	// itself is never abandoned while the node answers (default
	// DefaultLongPollTimeout).
	LongPollTimeout time.Duration
	// WaitTimeout is how long one wait for a new block on Bitcoin Core
	// (waitfornewblock, waitforblockheight) lasts at most; the node ends it
	// by itself and the watcher asks again. Bitcoin Core goes on with a wait
	// whose client went away, holding one of its RPC threads (-rpcthreads:
	// 16, 4 before v29), so a wait left by a stopped watcher holds it for at
	// most WaitTimeout: keep it short. The node has RequestTimeout more to
	// answer; no answer by then starts the session again (default
	// DefaultWaitTimeout; at least a millisecond, the node's unit).
	WaitTimeout time.Duration
	// PingInterval is the websocket keep-alive period; a connection silent
	// for two periods is considered dead (default DefaultPingInterval).
	PingInterval time.Duration
}

func (c WatchConfig) withDefaults() WatchConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.LongPollTimeout, DefaultLongPollTimeout)
	def(&c.WaitTimeout, DefaultWaitTimeout)
	c.WaitTimeout = max(c.WaitTimeout, time.Millisecond) // 0 ms would be no timeout at all
	def(&c.PingInterval, DefaultPingInterval)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return c
}

// WatchTips reports the node's best block to onTip: once as soon as the
// node answers, then after every change of the best block. It blocks until
// ctx ends and then returns ctx.Err(); nothing else ends it. A node that
// cannot be reached, refuses the credentials or goes away is logged and
// retried with exponential backoff, and when it answers again WatchTips
// reports the tip it finds there.
//
// onTip must not be nil. It is called on the goroutine that runs WatchTips, one call at a time,
// never twice in a row with the same hash; while it runs, notifications
// queue up in the connection, so it should hand the tip off rather than do
// slow work.
func (c *Client) WatchTips(ctx context.Context, cfg WatchConfig, onTip func(Tip)) error {
	return newWatcher(c, cfg, onTip).run(ctx)
}

func newWatcher(c *Client, cfg WatchConfig, onTip func(Tip)) *watcher {
	cfg = cfg.withDefaults()
	return &watcher{c: c, cfg: cfg, onTip: onTip, retry: backoff.Backoff{Base: cfg.MinBackoff, Cap: cfg.MaxBackoff, Jitter: watchJitter}}
}

type watcher struct {
	c     *Client
	cfg   WatchConfig
	onTip func(Tip)

	last     Tip
	haveLast bool
	retry    backoff.Backoff // counts consecutive failed sessions; reset once the node answers
	wait     waitKind        // how long-poll sessions wait: the best the node has shown it serves
}

// waitKind is how a long-poll session waits for a new block, best first. A
// watcher moves down the list when the node shows it lacks one, and never
// back.
type waitKind int

const (
	// waitNewBlock: waitfornewblock <timeout> <our tip> (Bitcoin Core v30+):
	// bounded by the node, and no block missed between two waits.
	waitNewBlock waitKind = iota
	// waitHeight: waitforblockheight <our height + 1> <timeout> (Bitcoin
	// Core v0.14 to v29, where waitfornewblock takes no tip and would miss a
	// block found between two waits). A reorganisation to a chain no longer
	// than ours is seen when the wait times out.
	waitHeight
	// waitTemplate: a getblocktemplate long poll (btcd, which ends a long
	// poll whose client went away).
	waitTemplate
)

func (k waitKind) method() string {
	switch k {
	case waitNewBlock:
		return "waitfornewblock"
	case waitHeight:
		return "waitforblockheight"
	}
	return "getblocktemplate"
}

// watchJitter spreads the retry delays by ±20%.
const watchJitter = 0.2

func (w *watcher) run(ctx context.Context) error {
	mode := w.cfg.Mode
	if mode == WatchAuto {
		mode = WatchWebsocket
	}
	log := w.c.log.With("watch", mode.String())
	for {
		var err error
		switch mode {
		case WatchWebsocket:
			err = w.websocketSession(ctx)
		case WatchLongPoll:
			err = w.longPollSession(ctx)
		default:
			err = w.pollSession(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if w.cfg.Mode == WatchAuto && mode == WatchWebsocket && errors.Is(err, ErrWebsocketUnsupported) {
			log.Info("node has no websocket notifications, falling back to long-poll", "err", err)
			mode = WatchLongPoll
			log = w.c.log.With("watch", mode.String())
			continue
		}
		delay := w.retry.Next()
		lvl := slog.LevelWarn
		if errors.Is(err, ErrUnauthorized) {
			lvl = slog.LevelError // needs a configuration change, say so loudly
		}
		log.Log(ctx, lvl, "tip watcher lost the node, retrying", "err", err, "attempt", w.retry.Attempts(), "retry_in", delay)
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
	}
}

// connected notes that the node answered, ending a series of failures.
func (w *watcher) connected() {
	if n := w.retry.Attempts(); n > 0 {
		w.c.log.Info("tip watcher reached the node again", "after_attempts", n)
		w.retry.Reset()
	}
}

// emit reports tip unless it is the one reported last.
func (w *watcher) emit(tip Tip) {
	if w.haveLast && tip.Hash == w.last.Hash {
		return
	}
	w.last, w.haveLast = tip, true
	w.c.log.Debug("new tip", "height", tip.Height, "hash", tip.Hash)
	w.onTip(tip)
}

// resync asks the node for its tip and reports it.
func (w *watcher) resync(ctx context.Context) error {
	tip, err := w.c.Tip(ctx)
	if err != nil {
		return err
	}
	w.connected()
	w.emit(tip)
	return nil
}

func (w *watcher) pollSession(ctx context.Context) error {
	for {
		hash, err := w.c.GetBestBlockHash(ctx)
		if err != nil {
			return err
		}
		w.connected()
		if !w.haveLast || hash != w.last.Hash {
			info, err := w.c.headerInfo(ctx, hash)
			if err != nil {
				return err
			}
			w.emit(Tip{Hash: hash, Height: info.Height})
		}
		if !sleep(ctx, w.cfg.PollInterval) {
			return ctx.Err()
		}
	}
}

// longPollSession waits on the node for new blocks in the best way it
// serves (see waitKind).
func (w *watcher) longPollSession(ctx context.Context) error {
	for w.wait != waitTemplate {
		err := w.waitSession(ctx)
		next, lacks := w.lacksWait(err)
		if !lacks {
			return err
		}
		w.c.log.Info("node does not serve "+w.wait.method()+"; waiting with "+next.method(), "err", err)
		w.wait = next
	}
	return w.templateSession(ctx)
}

// errWaitUnanswered ends a wait session whose first wait the node refused,
// wrapping the node's error.
type errWaitUnanswered struct{ err error }

func (e errWaitUnanswered) Error() string { return e.err.Error() }
func (e errWaitUnanswered) Unwrap() error { return e.err }

// lacksWait reports whether err, from a wait session, says the node lacks
// w.wait, and what to try instead: a node without the method (btcd), one
// whose waitfornewblock takes no tip (Bitcoin Core before v30: "-1" with its
// help text for the extra argument), or one whose -rpcwhitelist does not
// let us call it (HTTP 403, the node having just answered other calls).
func (w *watcher) lacksWait(err error) (waitKind, bool) {
	var first errWaitUnanswered
	if !errors.As(err, &first) {
		return 0, false
	}
	if errors.Is(err, errForbidden) {
		return waitTemplate, true
	}
	var rpcErr *RPCError
	if !errors.As(err, &rpcErr) {
		return 0, false
	}
	switch rpcErr.Code {
	case CodeMethodNotFound:
		// waitforblockheight came with waitfornewblock (v0.14): without
		// one, the node has neither.
		return waitTemplate, true
	case CodeMisc, CodeInvalidParams, CodeInvalidParameter, codeTypeError:
		if w.wait == waitNewBlock {
			return waitHeight, true
		}
		return waitTemplate, true
	}
	return 0, false
}

// waitSession reports the node's tip, then waits on the node for each new
// one with w.wait (waitNewBlock or waitHeight). Each wait ends on the node
// within WaitTimeout, so none outlives a stopped watcher for longer.
func (w *watcher) waitSession(ctx context.Context) error {
	if err := w.resync(ctx); err != nil {
		return err
	}
	for first := true; ; first = false {
		start := time.Now()
		tip, err := w.c.waitForTip(ctx, w.wait, w.last, w.cfg.WaitTimeout)
		if err != nil {
			if first && ctx.Err() == nil {
				return errWaitUnanswered{err}
			}
			return err
		}
		if tip.Hash == w.last.Hash && time.Since(start) < w.cfg.WaitTimeout/2 {
			// Bitcoin Core ends waits early only when it shuts down: do not
			// ask it again at once, but as for a node that went away.
			return fmt.Errorf("node: %s returned the same tip after %v of %v: the node is shutting down?",
				w.wait.method(), time.Since(start).Round(time.Millisecond), w.cfg.WaitTimeout)
		}
		w.emit(tip)
	}
}

// blockRef is the answer of Bitcoin Core's waitfor* calls.
type blockRef struct {
	Hash   string `json:"hash"`
	Height *int64 `json:"height"`
}

// waitForTip asks Bitcoin Core to wait, for at most timeout, until its best
// block is no longer last (waitNewBlock) or is above last's height
// (waitHeight), and returns its best block when the wait ends: last itself
// when it timed out. The node ends the wait by itself; it has RequestTimeout
// more to answer, and no answer by then is a connection failure.
func (c *Client) waitForTip(ctx context.Context, kind waitKind, last Tip, timeout time.Duration) (Tip, error) {
	ms := max(timeout.Milliseconds(), 1) // 0 would wait without end
	method := kind.method()
	var params []any
	switch kind {
	case waitNewBlock:
		params = []any{ms, last.Hash.String()}
	case waitHeight:
		params = []any{last.Height + 1, ms}
	default:
		return Tip{}, fmt.Errorf("node: no wait call for %s", method)
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout+c.cfg.RequestTimeout)
	defer cancel()
	var ref blockRef
	// A wait lasts as long as the node has no news: counted, not timed.
	c.stats.begin()
	err := c.roundTrip(ctx, callCtx, method, params, &ref)
	c.stats.done(ctx, err)
	if err != nil {
		return Tip{}, err
	}
	hash, err := parseHash(method, ref.Hash)
	if err != nil {
		return Tip{}, err
	}
	if ref.Height == nil {
		return Tip{}, fmt.Errorf("%w: %s: no height", ErrMalformedReply, method)
	}
	return Tip{Hash: hash, Height: *ref.Height}, nil
}

func (w *watcher) templateSession(ctx context.Context) error {
	t, err := w.c.GetBlockTemplate(ctx)
	if err != nil {
		return err
	}
	w.connected()
	w.emit(Tip{Hash: t.PrevHash, Height: t.Height - 1})
	for {
		next, err := w.longPoll(ctx, t)
		if err != nil {
			return err
		}
		t = next
		w.emit(Tip{Hash: t.PrevHash, Height: t.Height - 1})
	}
}

// longPoll waits for the template that replaces t. It never abandons the
// request while the node answers: Bitcoin Core keeps an abandoned long
// poll running until its tip or mempool changes, holding one of its few RPC
// threads, so re-issuing it on a quiet chain would freeze the node's RPC
// (and a stopped watcher leaves its long poll there: on Bitcoin Core,
// waitSession is used instead).
// Every LongPollTimeout it asks the node for its best block instead: no
// answer, or a tip the long poll missed (its connection died silently),
// ends the wait with an error and the session starts again.
func (w *watcher) longPoll(ctx context.Context, t *Template) (*Template, error) {
	type result struct {
		t   *Template
		err error
	}
	lpCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan result, 1)
	go func() { // joined below on every path
		next, err := w.c.GetBlockTemplateLongPoll(lpCtx, t.LongPollID)
		done <- result{next, err}
	}()
	check := time.NewTicker(w.cfg.LongPollTimeout)
	defer check.Stop()
	for {
		select {
		case r := <-done:
			return r.t, r.err
		case <-check.C:
			pctx, pcancel := context.WithTimeout(ctx, w.cfg.LongPollTimeout)
			best, err := w.c.GetBestBlockHash(pctx)
			pcancel()
			if err == nil && best != t.PrevHash {
				err = fmt.Errorf("node: the tip moved to %s but the long poll did not return", best)
			}
			if err != nil {
				cancel()
				<-done
				return nil, fmt.Errorf("node: checking on a long poll: %w", err)
			}
		}
	}
}

// sleep waits for d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
