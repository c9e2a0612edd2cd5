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
	// This node has no waitfornewblock either (tried once): getblocktemplate
	// long polls.
	if f.callCount("/ws") != 1 || f.callCount("waitfornewblock") != 1 || f.callCount("getblocktemplate") < 1 {
		t.Errorf("%d websocket attempts, %d waitfornewblock and %d getblocktemplate calls; want one attempt, then long polls",
			f.callCount("/ws"), f.callCount("waitfornewblock"), f.callCount("getblocktemplate"))
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

// On Bitcoin Core the long-poll watcher waits with waitfornewblock and our
// tip (v30), or waitforblockheight where waitfornewblock takes no tip
// (earlier versions, which it learns once): never with getblocktemplate,
// whose long poll Core keeps running after the watcher stops.
func TestWatchWaitsOnBitcoinCore(t *testing.T) {
	for _, tc := range []struct {
		name      string
		v30       bool
		wait      string
		newBlocks int // waitfornewblock calls expected in all (0: any)
	}{
		{"v30", true, "waitfornewblock", 0},
		{"before v30", false, "waitforblockheight", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
			f.noWS = true
			f.serveCoreWaits(tc.v30)
			c := f.client(t)
			cfg := fastRetry
			cfg.WaitTimeout = 100 * time.Millisecond
			tips := watch(t, c, cfg) // WatchAuto: no websocket, so the long poll
			expectTip(t, tips, f.tip())
			var last Tip
			for range 2 {
				last = f.mine()
				expectTip(t, tips, last)
			}
			// Quiet for a few wait timeouts: nothing new, waits asked again.
			waitForCalls(t, f, tc.wait, f.callCount(tc.wait)+3)
			expectNoTip(t, tips)

			f.setDown(true)
			f.mine()
			want := f.mine()
			f.setDown(false)
			expectTipEventually(t, tips, last, want)
			expectTip(t, tips, f.mine())
			waitForCalls(t, f, tc.wait, f.callCount(tc.wait)+1) // the wait on the new tip

			if n := f.callCount("getblocktemplate"); n != 0 {
				t.Errorf("%d getblocktemplate calls, want none", n)
			}
			if n := f.callCount("waitfornewblock"); tc.newBlocks != 0 && n != tc.newBlocks {
				t.Errorf("%d waitfornewblock calls, want %d (the node's lack learnt once)", n, tc.newBlocks)
			}
			p := f.lastParams(tc.wait)
			var ms int64
			if tc.v30 {
				var hash string
				if len(p) != 2 || json.Unmarshal(p[0], &ms) != nil || json.Unmarshal(p[1], &hash) != nil || hash != f.tip().Hash.String() {
					t.Errorf("waitfornewblock params %s, want the timeout and our tip %v", p, f.tip().Hash)
				}
			} else {
				var height int64
				if len(p) != 2 || json.Unmarshal(p[0], &height) != nil || json.Unmarshal(p[1], &ms) != nil || height != f.tip().Height+1 {
					t.Errorf("waitforblockheight params %s, want height %d and the timeout", p, f.tip().Height+1)
				}
			}
			if ms != 100 {
				t.Errorf("wait timeout %d ms, want WaitTimeout's 100", ms)
			}
		})
	}
}

// waitForCalls waits until the fake has served n calls of method.
func waitForCalls(t *testing.T, f *fakeNode, method string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.callCount(method) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s calls within 5s, want %d", f.callCount(method), method, n)
		}
		time.Sleep(5 * time.Millisecond) // the fake has no notification for calls
	}
}

// Issue: "Never leave work running on the node that nobody waits for". A
// stopped watcher's wait ends on the node by itself within WaitTimeout. The
// fake holds every wait as Bitcoin Core does, whether or not the client
// still waits: a getblocktemplate long poll until the tip changes (so the
// old watcher, which long-polled on Core, left one per stopped watcher on a
// quiet chain, until the node's RPC threads were gone), a waitfornewblock
// until its timeout.
func TestStoppedWatchersLeaveNoWaitOnTheNode(t *testing.T) {
	f := newFakeNode(t)
	f.noWS = true
	cw := f.serveCoreWaits(true)
	release := make(chan struct{})
	var mu sync.Mutex
	longPolls := 0
	f.handle("getblocktemplate", func(params []json.RawMessage) (any, *rpcErrorObject) {
		var req struct {
			LongPollID string `json:"longpollid"`
		}
		json.Unmarshal(params[0], &req)
		if req.LongPollID != "" {
			mu.Lock()
			longPolls++
			mu.Unlock()
			cw.started <- struct{}{}
			<-release // the client's leaving does not end it
			mu.Lock()
			longPolls--
			mu.Unlock()
		}
		return f.templateReply(), nil
	})
	t.Cleanup(func() { close(release) }) // before the fake's server closes
	c := f.client(t)
	const wait = 100 * time.Millisecond
	for i := range 8 {
		mode := []WatchMode{WatchLongPoll, WatchAuto}[i%2]
		ctx, cancel := context.WithCancel(t.Context())
		tips := make(chan Tip, 4)
		done := make(chan error, 1)
		go func() {
			done <- c.WatchTips(ctx, WatchConfig{Mode: mode, WaitTimeout: wait}, func(tip Tip) { tips <- tip })
		}()
		<-tips
		select {
		case <-cw.started: // its wait is on the node
		case <-time.After(5 * time.Second):
			t.Fatalf("watcher %d: no wait on the node within 5s", i+1)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("watcher %d: WatchTips = %v", i+1, err)
		}
	}
	stopped := time.Now()
	for {
		mu.Lock()
		n := longPolls
		mu.Unlock()
		if n == 0 && cw.waiting() == 0 {
			break
		}
		if time.Since(stopped) > wait+2*time.Second {
			t.Fatalf("%v after the last of 8 watchers stopped, the node still runs %d long polls and %d waits for them", time.Since(stopped).Round(time.Millisecond), n, cw.waiting())
		}
		time.Sleep(10 * time.Millisecond) // the fake has no notification for the end of a wait
	}
	t.Logf("the stopped watchers' waits ended on the node %v after the last stopped", time.Since(stopped).Round(time.Millisecond))
}

// A node that ends waits at once without a new block (Bitcoin Core does
// while it shuts down) is asked again after a backoff, not in a tight loop.
func TestWaitEndingEarlyBacksOff(t *testing.T) {
	f := newFakeNode(t)
	f.handle("waitfornewblock", func([]json.RawMessage) (any, *rpcErrorObject) {
		tip := f.tip()
		return map[string]any{"hash": tip.Hash.String(), "height": tip.Height}, nil
	})
	c := f.client(t)
	// Retries after 20 to 30 ms: the node answers each session's first
	// calls, so the backoff does not grow.
	cfg := WatchConfig{Mode: WatchLongPoll, WaitTimeout: time.Second, MinBackoff: 25 * time.Millisecond, MaxBackoff: 25 * time.Millisecond}
	tips := watch(t, c, cfg)
	expectTip(t, tips, f.tip())
	time.Sleep(200 * time.Millisecond) // only the clock can tell a loop from a backoff
	if n := f.callCount("waitfornewblock"); n > 12 || n < 2 {
		t.Errorf("%d waitfornewblock calls in 200ms of early answers, want at most one a backoff", n)
	}
}

// Without waitfornewblock (btcd), or where -rpcwhitelist forbids it (HTTP
// 403 on a node that answers our other calls), the watcher long-polls
// getblocktemplate, and learns that once, not each session.
func TestWatchLongPollsWithoutWaitCalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*fakeNode)
	}{
		{"method not found", func(*fakeNode) {}},
		{"forbidden", func(f *fakeNode) { f.forbid["waitfornewblock"] = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
			tc.setup(f)
			c := f.client(t)
			cfg := fastRetry
			cfg.Mode = WatchLongPoll
			tips := watch(t, c, cfg)
			expectTip(t, tips, f.tip())
			last := f.mine()
			expectTip(t, tips, last)
			f.setDown(true)
			want := f.mine()
			f.setDown(false)
			expectTipEventually(t, tips, last, want)
			expectTip(t, tips, f.mine())
			if n, m := f.callCount("waitfornewblock"), f.callCount("waitforblockheight"); n != 1 || m != 0 {
				t.Errorf("%d waitfornewblock and %d waitforblockheight calls, want 1 and 0", n, m)
			}
			if n := f.callCount("getblocktemplate"); n < 3 {
				t.Errorf("%d getblocktemplate calls, want long polls", n)
			}
		})
	}
}

func TestWaitTimeoutIsAtLeastAMillisecond(t *testing.T) {
	f := newFakeNode(t)
	f.serveCoreWaits(true)
	c := f.client(t)
	tips := watch(t, c, WatchConfig{Mode: WatchLongPoll, WaitTimeout: time.Microsecond})
	expectTip(t, tips, f.tip())
	waitForCalls(t, f, "waitfornewblock", 2)
	var ms int64
	if p := f.lastParams("waitfornewblock"); json.Unmarshal(p[0], &ms) != nil || ms != 1 {
		t.Errorf("waitfornewblock timeout %s ms, want 1 (0 is no timeout)", p[0])
	}
}
