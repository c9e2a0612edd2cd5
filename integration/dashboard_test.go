package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/chromedp/chromedp"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/integration/harness"
)

// browser finds a Chromium to drive: $SV2_CHROMIUM, or Debian's chromium
// (or another Chrome) on the PATH. Without one the test says so loudly and
// skips, unless $SV2_REQUIRE_BROWSER is set (as .ci/run sets it): then it
// fails, so that CI never passes without the browser test.
func browser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SV2_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "NO BROWSER: the dashboard's browser test needs Chromium (Debian: apt-get install chromium, or set SV2_CHROMIUM)"
	if os.Getenv("SV2_REQUIRE_BROWSER") != "" {
		t.Fatal(msg + "; SV2_REQUIRE_BROWSER is set")
	}
	t.Log("\n\n*** " + msg + ": SKIPPING ***\n")
	t.Skip(msg)
	return ""
}

// artifactDir is where tests leave files for people to look at:
// $SV2_ARTIFACTS, or integration/artifacts (ignored by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SV2_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// TestDashboardInBrowser loads the pool's dashboard in headless Chromium
// while a CPU miner finds blocks on btcd regtest: it waits for the chart to
// draw the hashrate and the block list to show the pool's found block by its
// hash, checks the page threw no error, and saves a screenshot.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	chromium := browser(t)
	ctx := testContext(t, 3*time.Minute)
	n := harness.StartNode(t, harness.NodeOptions{})
	if _, err := n.Generate(ctx, 101); err != nil {
		t.Fatal(err)
	}
	if _, err := n.SendSegWitTxs(ctx, 4); err != nil {
		t.Fatal(err)
	}
	tp := startTP(t, n, nil)
	payout := newAddress(t)
	script, _ := txscript.PayToAddrScript(payout)
	monLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, tp, func(c *pool.Config) {
		c.Payouts = []pool.Payout{{Script: script, Weight: 1}}
		nc := n.ClientConfig()
		c.Node = &nc
		c.Monitor = &monitor.Config{Listener: monLn, HistoryInterval: 500 * time.Millisecond}
	})
	miner := harness.Go(t, "cpuminer", func(ctx context.Context) error {
		return cpuminer.Run(ctx, cpuminer.Config{Pool: p.addr, AuthorityKey: &p.key, User: "alice.rig1", ChannelKind: cpuminer.Extended,
			Threads: 1, NominalHashrate: 1e6, Logger: testLogger(t, "cpuminer")})
	})

	// A block, confirmed: the provider built on it.
	var hash string
	for {
		if st := p.pool.Status(); st.Blocks != nil && st.Blocks.Confirmed > 0 {
			for _, b := range st.Blocks.Recent {
				if b.State == "confirmed" {
					hash = b.Hash
					break
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no block confirmed: %+v", p.pool.Status().Blocks)
		case <-time.After(100 * time.Millisecond): // the pool has no event for it
		}
	}
	t.Logf("block %s found and confirmed", hash)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// Every console error and uncaught exception of the page, read as
	// they come (the subscription starts here, before the page loads).
	pageErrors := make(chan string, 64)
	messages := chromedp.Console(bctx)
	go func() {
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.Type == chromedp.ConsoleError || msg.Type == chromedp.ConsoleException {
				select {
				case pageErrors <- string(msg.Type) + ": " + msg.Text:
				default:
				}
			}
		}
	}()

	url := "http://" + monLn.Addr().String() + "/"
	waitJS := func(what, expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))(ctx, tg)
			if err != nil {
				return fmt.Errorf("waiting for %s (%s): %w", what, expr, err)
			}
			return nil
		})
	}
	err = chromedp.Do(bctx,
		chromedp.Navigate(url),
		waitJS("the first refresh", `document.body.dataset.ready === "1"`),
		// A line through two points at least, from history samples of a
		// hashrate above 0: the chart drew what the pool measured.
		waitJS("the chart's line", `(() => {
			const line = document.querySelector("#chart path.line");
			const points = line ? (line.getAttribute("d").match(/[ML]/g) || []).length : 0;
			return points >= 2 && fetch("api/v1/history").then(r => r.json()).then(h => h.points.filter(p => p.hashrate_hs > 0).length >= 2);
		})()`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The miner stops, so that the confirmed block shown stays among the
	// latest the pool lists (regtest makes blocks faster than a loaded
	// machine draws the chart): the newest confirmed one now.
	if err := miner.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, b := range p.pool.Status().Blocks.Recent { // newest first
		if b.State == "confirmed" {
			hash = b.Hash
			break
		}
	}
	t.Logf("waiting for block %s in the list", hash)
	if err := chromedp.Do(bctx, waitJS("the found block in the list", fmt.Sprintf(
		`Array.from(document.querySelectorAll("#blocks li.block .hash")).some(e => e.textContent.includes(%q))`, hash))); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	app, state, blockText := text("#app"), text("#state"), text("#blocks")
	points, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelector("#chart path.line").getAttribute("d").split(/[ML]/).length - 1`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(app), "pool") {
		t.Errorf("the page names the app %q", app)
	}
	if !strings.Contains(state, "running") {
		t.Errorf("the page shows state %q", state)
	}
	if !strings.Contains(blockText, "alice.rig1") {
		t.Errorf("the block list does not credit the finder: %q", blockText)
	}
	if points < 2 {
		t.Errorf("the chart's line has %d points", points)
	}
	for drained := false; !drained; {
		select {
		case e := <-pageErrors:
			t.Errorf("the page reported an error: %s", e)
		default:
			drained = true
		}
	}
	path := filepath.Join(artifactDir(t), "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the dashboard saved: %s (%d bytes)", path, len(png))
	if len(png) < 10_000 {
		t.Errorf("the screenshot is %d bytes: a blank page?", len(png))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
