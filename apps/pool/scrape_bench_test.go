package pool

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/sv2"
)

var scrapeClient = &http.Client{Timeout: 30 * time.Second}

// scrape gets base's /metrics and reads it whole.
func scrape(base string) error {
	resp, err := scrapeClient.Get(base + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape: HTTP %s", resp.Status)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func monitorBase(b testing.TB, p *testPool) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := p.MonitorAddr(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + addr.String()
}

// BenchmarkScrape times one whole scrape of a pool's monitoring over
// loopback HTTP, request to last byte read, with 1000 standard channels
// open over 100 connections and users=N users among them, each channel
// with an accepted share (so every user has series): /metrics, and the
// JSON of /api/v1/status and /api/v1/users.
//
//	go test ./apps/pool -run '^$' -bench Scrape -count 5
func BenchmarkScrape(b *testing.B) {
	for _, users := range []int{10, 1000} {
		p := startPool(b, func(c *Config) {
			c.ShareBatchSize = 1
			c.MinShareDifficulty = -1
			c.VardiffInterval = time.Hour
			c.Logger = nil
			c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
		})
		openScrapeChannels(b, p, users)
		base := monitorBase(b, p)
		if got := len(p.Stats().Channels); got != loadConns*loadChannels {
			b.Fatalf("%d channels open", got)
		}
		for _, path := range []string{"/metrics", "/api/v1/status", "/api/v1/users"} {
			b.Run(fmt.Sprintf("channels=1000/users=%d/path=%s", users, path), func(b *testing.B) {
				var bytes int64
				for b.Loop() {
					resp, err := scrapeClient.Get(base + path)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Fatalf("%s: %s %v", path, resp.Status, err)
					}
					bytes = n
				}
				b.ReportMetric(float64(bytes), "bytes")
			})
		}
	}
}

// openScrapeChannels opens 1000 standard channels over 100 connections,
// named for users users, and gets one share accepted on each.
func openScrapeChannels(b *testing.B, p *testPool, users int) {
	b.Helper()
	for c := range loadConns {
		r := dialRaw(b, p)
		r.setup(b, mining.FlagRequiresStandardJobs)
		client := mining.NewClient()
		for i := range loadChannels {
			n := c*loadChannels + i
			r.write(b, &sv2.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: fmt.Sprintf("user-%d.rig", n%users), NominalHashRate: 0.01, MaxTarget: target.Max()})
			ok, is := r.read(b).(*sv2.OpenStandardMiningChannelSuccess)
			if !is {
				b.Fatal("channel not opened")
			}
			for _, m := range []sv2.Message{ok, r.read(b), r.read(b)} {
				if err := client.Handle(m); err != nil {
					b.Fatal(err)
				}
			}
			w, _ := client.Work(ok.ChannelID)
			r.write(b, share(w, 1, 0))
			if _, is := r.read(b).(*sv2.SubmitSharesSuccess); !is {
				b.Fatal("share not accepted")
			}
		}
	}
}
