package node

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

// watch runs WatchTips until the test ends and returns the channel of tips
// it reports.
func watch(t *testing.T, c *Client, cfg WatchConfig) <-chan Tip {
	t.Helper()
	tips := make(chan Tip, 16)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		err := c.WatchTips(ctx, cfg, func(tip Tip) { tips <- tip })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WatchTips returned %v, want context.Canceled", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return tips
}

func expectTip(t *testing.T, tips <-chan Tip, want Tip) {
	t.Helper()
	select {
	case got := <-tips:
		if got != want {
			t.Fatalf("tip = %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no tip within 5s, want %v", want)
	}
}

// expectTipEventually accepts tips of increasing height until want, for
// outages where the watcher may or may not see the blocks in between.
func expectTipEventually(t *testing.T, tips <-chan Tip, last, want Tip) {
	t.Helper()
	for {
		select {
		case got := <-tips:
			if got == want {
				return
			}
			if got.Height <= last.Height || got.Height >= want.Height {
				t.Fatalf("tip %v after %v, want heights rising to %v", got, last, want)
			}
			last = got
		case <-time.After(5 * time.Second):
			t.Fatalf("no tip %v within 5s", want)
		}
	}
}

func expectNoTip(t *testing.T, tips <-chan Tip) {
	t.Helper()
	select {
	case got := <-tips:
		t.Fatalf("unexpected tip %v", got)
	default:
	}
}

var fastRetry = WatchConfig{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: 5 * time.Millisecond}

func TestWatchTips(t *testing.T) {
	for _, mode := range []WatchMode{WatchAuto, WatchWebsocket, WatchLongPoll, WatchPoll} {
		t.Run(mode.String(), func(t *testing.T) {
			f := newFakeNode(t)
			c := f.client(t)
			cfg := fastRetry
			cfg.Mode = mode
			tips := watch(t, c, cfg)
			expectTip(t, tips, f.tip())

			// Two blocks in a row, each reported once and in order.
			resyncs := f.callCount("getbestblockhash")
			var last Tip
			for range 2 {
				last = f.mine()
				expectTip(t, tips, last)
			}
			if mode == WatchWebsocket || mode == WatchAuto {
				if n := f.callCount("getbestblockhash"); n != resyncs {
					t.Errorf("%d getbestblockhash calls for blocks that extend the tip, want 0 (report straight from the notification)", n-resyncs)
				}
			}

			// The node goes away; blocks arrive meanwhile; when it comes back
			// the watcher reports the tip it finds there.
			f.setDown(true)
			f.mine()
			want := f.mine()
			f.setDown(false)
			expectTipEventually(t, tips, last, want)
			expectTip(t, tips, f.mine())
			expectNoTip(t, tips)
		})
	}
}

func TestWatchAutoFallsBackWithoutWebsocket(t *testing.T) {
	f := newFakeNode(t)
	f.noWS = true
	c := f.client(t)
	tips := watch(t, c, fastRetry)
	expectTip(t, tips, f.tip())
	expectTip(t, tips, f.mine())
	if f.callCount("/ws") != 1 || f.callCount("getblocktemplate") < 2 {
		t.Errorf("%d websocket attempts and %d getblocktemplate calls; want one attempt, then long polls",
			f.callCount("/ws"), f.callCount("getblocktemplate"))
	}
}

func TestWatchKeepsRetryingBadCredentials(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t, func(c *Config) { c.Password = "wrong" })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	called := false
	err := c.WatchTips(ctx, fastRetry, func(Tip) { called = true })
	if !errors.Is(err, context.DeadlineExceeded) || called {
		t.Fatalf("WatchTips = %v (called %v), want it to keep retrying until the deadline", err, called)
	}
}

func TestWatchBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for range 20 {
		w := newWatcher(nil, WatchConfig{MinBackoff: lo, MaxBackoff: hi}, func(Tip) {})
		for n, want := range []time.Duration{lo, 2 * lo, 4 * lo, 8 * lo, hi, hi, hi} {
			if got := w.retry.Next(); got < want*8/10 || got > want*12/10 {
				t.Fatalf("retry delay %d = %v, want %v ±20%%", n+1, got, want)
			}
		}
	}
}

// The default backoff retries a node that went away within about two
// seconds, so a restarted node's tip is learnt soon after it answers again
// (with a 10 s cap it took up to 12 s, and miners found stale blocks).
func TestWatchDefaultBackoffNoticesARestartSoon(t *testing.T) {
	w := newWatcher(nil, WatchConfig{}, func(Tip) {})
	limit := time.Duration(float64(DefaultMaxBackoff) * (1 + watchJitter))
	for n := range 30 {
		if d := w.retry.Next(); d > limit || d > 2400*time.Millisecond {
			t.Fatalf("retry delay %d = %v, want at most 2.4s", n+1, d)
		}
	}
}

// Issue 12, item 14: a long poll on a quiet chain is never abandoned and
// re-issued. The fake holds each long poll as Bitcoin Core does, until the
// tip changes, whether or not the client still waits: re-issuing one every
// LongPollTimeout (the old code) piles them up until the node's RPC threads
// are gone. Now one stays open and the watcher checks on the node instead.
func TestLongPollNeverPilesUpOnAQuietChain(t *testing.T) {
	f := newFakeNode(t)
	release := make(chan struct{})
	var mu sync.Mutex
	outstanding, most, total := 0, 0, 0
	f.methods["getblocktemplate"] = func(params []json.RawMessage) (any, *rpcErrorObject) {
		var req struct {
			LongPollID string `json:"longpollid"`
		}
		json.Unmarshal(params[0], &req)
		if req.LongPollID != "" {
			mu.Lock()
			outstanding++
			total++
			most = max(most, outstanding)
			mu.Unlock()
			<-release // held like Bitcoin Core: the client's leaving does not end it
			mu.Lock()
			outstanding--
			mu.Unlock()
		}
		return f.templateReply(), nil
	}
	t.Cleanup(func() { close(release) }) // before the fake's server closes
	c := f.client(t)
	cfg := fastRetry
	cfg.Mode = WatchLongPoll
	cfg.LongPollTimeout = 20 * time.Millisecond
	tips := watch(t, c, cfg)
	expectTip(t, tips, f.tip())
	// Fifteen check periods of a quiet chain: only the clock can tell.
	time.Sleep(300 * time.Millisecond)
	checks := f.callCount("getbestblockhash")
	mu.Lock()
	defer mu.Unlock()
	if total != 1 || most != 1 {
		t.Errorf("%d long polls issued, %d at once on a quiet chain; want one, held open", total, most)
	}
	if checks < 5 {
		t.Errorf("%d checks on the node in 15 periods", checks)
	}
}
