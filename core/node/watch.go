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
	// WatchLongPoll long-polls getblocktemplate (BIP22 longpollid).
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
	// LongPollTimeout is how often a waiting long poll is checked on: the
	// node is asked for its best block, and no answer or a tip the long poll
	// missed starts the session again. The long poll itself is never
	// abandoned while the node answers (default DefaultLongPollTimeout).
	LongPollTimeout time.Duration
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

func (w *watcher) longPollSession(ctx context.Context) error {
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
// threads, so re-issuing it on a quiet chain would freeze the node's RPC.
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
