package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/accounting"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
)

// app is a fake app whose status a test sets.
type app struct {
	mu sync.Mutex
	st monitor.Status
}

func (a *app) set(f func(*monitor.Status)) { a.mu.Lock(); f(&a.st); a.mu.Unlock() }
func (a *app) status() monitor.Status      { a.mu.Lock(); defer a.mu.Unlock(); return a.st }

func ptr[T any](v T) *T { return &v }

// start runs a server for a on loopback port 0 and returns its base URL.
func start(t *testing.T, a *app, cfg monitor.Config, setup ...func(*monitor.Server)) (string, *monitor.Server) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := monitor.New(cfg, "pool", a.status)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr, err := s.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String(), s
}

func TestMetricsAndJSONAgree(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := &app{st: monitor.Status{
		State: "running", Healthy: true, Started: now.Add(-time.Hour), Hashrate: 1.5e12,
		Connections: ptr(3), Channels: ptr(5), Users: ptr(2),
		Shares:   &monitor.Shares{Accepted: 120, AcceptedDifficulty: 3400.5, Rejected: map[string]uint64{"stale-share": 2, "invalid-job-id": 1}},
		Blocks:   &monitor.Blocks{Found: 3, Pending: 1, Confirmed: 2, Recent: []monitor.Block{{Height: 105, Hash: strings.Repeat("ab", 32), State: "pending"}}},
		Template: &monitor.Template{ID: 7, Height: 105, Received: now.Add(-12 * time.Second)},
		Upstream: &monitor.Upstream{Address: "tp:8442", Connected: true, Switches: 4},
		Node: &monitor.NodeRPC{Requests: 10, Errors: 1, Timed: 9, Seconds: 0.05,
			Buckets: []monitor.Bucket{{Le: 0.001, Count: 3}, {Le: 0.01, Count: 9}}},
		Declaration: &monitor.Declaration{Declared: 5, Accepted: 4, Refused: map[string]uint64{"invalid-job": 1}},
		Counters:    []monitor.Counter{{Name: "shares_up", Help: "shares passed upstream", Value: 99, Total: true}, {Name: "devices", Help: "devices now", Value: 4}},
	}}
	base, _ := start(t, a, monitor.Config{Now: func() time.Time { return now }, Explorer: "https://mempool.space/block/"})

	m := monitortest.Scrape(t, base)
	m.Expect(t,
		monitortest.Want{Name: "sv2_app_info", Labels: []string{"app", "pool"}, Value: 1},
		monitortest.Want{Name: "sv2_healthy", Value: 1},
		monitortest.Want{Name: "sv2_hashrate_hashes_per_second", Value: 1.5e12},
		monitortest.Want{Name: "sv2_connections", Value: 3},
		monitortest.Want{Name: "sv2_channels", Value: 5},
		monitortest.Want{Name: "sv2_users", Value: 2},
		monitortest.Want{Name: "sv2_shares_accepted_total", Value: 120},
		monitortest.Want{Name: "sv2_shares_accepted_difficulty_total", Value: 3400.5},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", "stale-share"}, Value: 2},
		monitortest.Want{Name: "sv2_shares_rejected_total", Labels: []string{"code", "invalid-job-id"}, Value: 1},
		monitortest.Want{Name: "sv2_blocks_found_total", Value: 3},
		monitortest.Want{Name: "sv2_blocks_pending", Value: 1},
		monitortest.Want{Name: "sv2_blocks_confirmed_total", Value: 2},
		monitortest.Want{Name: "sv2_blocks_lost_total", Value: 0},
		monitortest.Want{Name: "sv2_template_age_seconds", Value: 12},
		monitortest.Want{Name: "sv2_template_height", Value: 105},
		monitortest.Want{Name: "sv2_upstream_connected", Value: 1},
		monitortest.Want{Name: "sv2_upstream_info", Labels: []string{"address", "tp:8442", "fallback", "none"}, Value: 1},
		monitortest.Want{Name: "sv2_upstream_switches_total", Value: 4},
		monitortest.Want{Name: "sv2_node_rpc_requests_total", Value: 10},
		monitortest.Want{Name: "sv2_node_rpc_errors_total", Value: 1},
		monitortest.Want{Name: "sv2_node_rpc_duration_seconds", Value: 9},
		monitortest.Want{Name: "sv2_declarations_total", Value: 5},
		monitortest.Want{Name: "sv2_declarations_refused_total", Labels: []string{"code", "invalid-job"}, Value: 1},
		monitortest.Want{Name: "sv2_pool_shares_up_total", Value: 99},
		monitortest.Want{Name: "sv2_pool_devices", Value: 4},
	)
	if m["go_goroutines"] == nil || m["process_cpu_seconds_total"] == nil {
		t.Error("no Go or process metrics")
	}

	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.App != "pool" || st.Shares.Accepted != 120 || st.Shares.Rejected["stale-share"] != 2 || st.Template.Age != 12 ||
		st.Blocks.Recent[0].Height != 105 || st.Explorer != "https://mempool.space/block/" || *st.Connections != 3 {
		t.Errorf("status %+v", st)
	}
	var health struct{ Healthy bool }
	monitortest.GetJSON(t, base, "/api/v1/health", &health)
	if !health.Healthy {
		t.Error("healthy app reported unhealthy")
	}
	a.set(func(s *monitor.Status) {
		sh := *s.Shares
		sh.Accepted = 121
		s.Healthy, s.Shares = false, &sh
	})
	resp, err := http.Get(base + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unhealthy: HTTP %s, want 503", resp.Status)
	}
	// Every scrape asks the app: no cached figure.
	if got := monitortest.Scrape(t, base).Must(t, "sv2_shares_accepted_total"); got != 121 {
		t.Errorf("after a share: %g accepted, want 121", got)
	}
}

// Codes come from peers: the rejection metric keeps a bounded label set.
func TestRejectionCodesBounded(t *testing.T) {
	rejected := map[string]uint64{}
	for i := range 100 {
		rejected[fmt.Sprintf("code-%03d", i)] = uint64(i + 1)
	}
	a := &app{st: monitor.Status{Shares: &monitor.Shares{Rejected: rejected}}}
	base, _ := start(t, a, monitor.Config{})
	f := monitortest.Scrape(t, base)["sv2_shares_rejected_total"]
	if n := len(f.GetMetric()); n != 33 {
		t.Errorf("%d series, want the 32 most frequent and other", n)
	}
	m := monitortest.Scrape(t, base)
	if got := m.Must(t, "sv2_shares_rejected_total", "code", "code-099"); got != 100 {
		t.Errorf("busiest code %g", got)
	}
	var other float64
	for i := range 68 {
		other += float64(i + 1)
	}
	if got := m.Must(t, "sv2_shares_rejected_total", "code", "other"); got != other {
		t.Errorf("other = %g, want %g", got, other)
	}
}

func TestTokenBeyondLoopback(t *testing.T) {
	a := &app{st: monitor.Status{Healthy: true}}
	s, err := monitor.New(monitor.Config{Listen: "127.0.0.1:0", Token: "s3cret"}, "pool", a.status)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, c := range []struct {
		remote, auth, query string
		want                int
	}{
		{"127.0.0.1:5000", "", "", 200},
		{"[::1]:5000", "", "", 200},
		{"192.0.2.7:5000", "", "", 401},
		{"192.0.2.7:5000", "Bearer wrong", "", 401},
		{"192.0.2.7:5000", "Bearer s3cret", "", 200},
		{"192.0.2.7:5000", "", "?token=s3cret", 200},
		{"192.0.2.7:5000", "", "?token=s3cre", 401},
		{"192.0.2.7:5000", "Basic s3cret", "", 401},
	} {
		for _, path := range []string{"/api/v1/status", "/metrics", "/"} {
			r := httptest.NewRequest("GET", path+c.query, nil)
			r.RemoteAddr = c.remote
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("%s from %s with %q%s: %d, want %d", path, c.remote, c.auth, c.query, w.Code, c.want)
			}
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/status", strings.NewReader("{}")))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

func TestDashboardIsEmbedded(t *testing.T) {
	base, _ := start(t, &app{}, monitor.Config{})
	for path, want := range map[string]string{"/": "text/html", "/app.js": "javascript", "/style.css": "text/css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), want) || len(body) == 0 {
			t.Errorf("%s: %s %q, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	resp, err := http.Get(base + "/api/v1/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown endpoint: %s", resp.Status)
	}
}

func TestHistory(t *testing.T) {
	a := &app{st: monitor.Status{Hashrate: 1, Shares: &monitor.Shares{Accepted: 1, Rejected: map[string]uint64{"x": 2}}}}
	base, _ := start(t, a, monitor.Config{HistoryInterval: time.Millisecond, HistoryPoints: 5})
	var h struct {
		Interval float64         `json:"interval_seconds"`
		Points   []monitor.Point `json:"points"`
	}
	// The ring fills within a few milliseconds; await it rather than sleep.
	deadline := time.Now().Add(10 * time.Second)
	for {
		monitortest.GetJSON(t, base, "/api/v1/history", &h)
		if len(h.Points) == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if len(h.Points) != 5 || h.Interval != 0.001 {
		t.Fatalf("%d points every %gs, want 5 (the bound) every 0.001s", len(h.Points), h.Interval)
	}
	for i, p := range h.Points {
		if p.Accepted != 1 || p.Rejected != 2 || p.Hashrate != 1 || (i > 0 && p.T.Before(h.Points[i-1].T)) {
			t.Errorf("point %d: %+v", i, p)
		}
	}
}

func TestAccountsEndpoints(t *testing.T) {
	acc := accounting.New(accounting.Config{})
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		k := accounting.ChannelKey{Client: 1, Channel: uint32(i)}
		acc.OpenChannel(k, fmt.Sprintf("user-%d", i), now)
		for range i + 1 {
			acc.Share(k, "rig", now, true, 1, "", false)
		}
	}
	acc.Share(accounting.ChannelKey{Client: 1, Channel: 0}, "rig", now, false, 0, "stale-share", false)
	base, _ := start(t, &app{}, monitor.Config{Now: func() time.Time { return now }}, func(s *monitor.Server) { s.ServeAccounts(acc) })

	var users []monitor.User
	monitortest.GetJSON(t, base, "/api/v1/users", &users)
	if len(users) != 3 || users[0].User != "user-2" || users[0].Accepted != 3 || users[2].Rejected["stale-share"] != 1 {
		t.Errorf("users %+v", users)
	}
	monitortest.GetJSON(t, base, "/api/v1/users?limit=1", &users)
	if len(users) != 1 {
		t.Errorf("limit=1: %d users", len(users))
	}
	var workers []monitor.Worker
	monitortest.GetJSON(t, base, "/api/v1/workers?user=user-1", &workers)
	if len(workers) != 1 || workers[0].User != "user-1" || workers[0].Worker != "rig" || workers[0].Accepted != 2 {
		t.Errorf("workers %+v", workers)
	}
	var channels []accounting.ChannelStats
	monitortest.GetJSON(t, base, "/api/v1/channels", &channels)
	if len(channels) != 3 || channels[0].User != "user-2" {
		t.Errorf("channels %+v", channels)
	}
	for _, bad := range []string{"0", "-1", "x", "100001"} {
		resp, err := http.Get(base + "/api/v1/users?limit=" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("limit=%s: %s", bad, resp.Status)
		}
	}
	m := monitortest.Scrape(t, base)
	if got := m.Must(t, "sv2_user_shares_accepted_total", "user", "user-1"); got != 2 {
		t.Errorf("user-1 accepted %g", got)
	}
	if got := m.Must(t, "sv2_user_shares_rejected_total", "user", "user-0"); got != 1 {
		t.Errorf("user-0 rejected %g", got)
	}
}

func TestConfigErrors(t *testing.T) {
	st := func() monitor.Status { return monitor.Status{} }
	for _, cfg := range []monitor.Config{{}, {Listen: "127.0.0.1:0", Explorer: "javascript:alert(1)//"}} {
		if _, err := monitor.New(cfg, "pool", st); !errors.Is(err, monitor.ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	if _, err := monitor.New(monitor.Config{Listen: "127.0.0.1:0"}, "pool", nil); !errors.Is(err, monitor.ErrConfig) {
		t.Errorf("no status: %v", err)
	}
	// A port taken: Run and Addr both say so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := monitor.New(monitor.Config{Listen: ln.Addr().String()}, "pool", st)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("Run on a taken port returned nil")
	}
	if _, err := s.Addr(context.Background()); err == nil {
		t.Error("Addr after a failed listen returned no error")
	}
}

// A connection that sends nothing holds one of MaxConnections; the others
// are served meanwhile, and once it is closed its slot serves again.
func TestConnectionLimit(t *testing.T) {
	base, _ := start(t, &app{}, monitor.Config{MaxConnections: 2})
	silent, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // sequential requests, each on a new connection
		tr := &http.Transport{DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(base + "/api/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	silent.Close()
}
