package monitor_test

// Hostile-peer tests of the monitoring server: what a peer (or a local user,
// or a confused app) can do to it over real TCP or through its Handler.
//
// Each TestAttack* documents a property that holds. Those marked "FIXED:"
// failed on the first version of the server (155a8bf); their comment keeps
// the symptom it showed and the fix's idea, and the test holds the fix.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stratumgo/stratum/core/accounting"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
)

// ---- helpers (named apart from monitor_test.go's, which others edit) ----

// atkStatus is a status func whose value a test swaps.
type atkStatus struct {
	mu sync.Mutex
	st monitor.Status
}

func (f *atkStatus) set(st monitor.Status) { f.mu.Lock(); f.st = st; f.mu.Unlock() }
func (f *atkStatus) get() monitor.Status   { f.mu.Lock(); defer f.mu.Unlock(); return f.st }

// atkGate is a status func that returns st, except that once armed every call
// announces itself on entered and then waits for release (or panics, when
// panicking). first is closed on the first call, which before any request
// is Run's first history sample.
type atkGate struct {
	st        monitor.Status
	armed     atomic.Bool
	panicking bool
	inside    atomic.Int32
	entered   chan int32
	release   chan struct{}
	first     chan struct{}
	firstOnce sync.Once
	relOnce   sync.Once
}

func newAtkGate() *atkGate {
	return &atkGate{entered: make(chan int32, 1024), release: make(chan struct{}), first: make(chan struct{})}
}

func (g *atkGate) status() monitor.Status {
	g.firstOnce.Do(func() { close(g.first) })
	if g.armed.Load() {
		if g.panicking {
			panic("app status exploded")
		}
		n := g.inside.Add(1)
		g.entered <- n
		<-g.release
		g.inside.Add(-1)
	}
	return g.st
}

func (g *atkGate) open() { g.relOnce.Do(func() { close(g.release) }) }

// atkServe runs a server on cfg (127.0.0.1:0 unless cfg says otherwise) and
// returns its base URL, the server, and a function that cancels its context
// and returns what Run returned (also done at cleanup).
func atkServe(t *testing.T, status func() monitor.Status, cfg monitor.Config, setup ...func(*monitor.Server)) (string, *monitor.Server, func() error) {
	t.Helper()
	if cfg.Listen == "" && cfg.Listener == nil {
		cfg.Listen = "127.0.0.1:0"
	}
	s, err := monitor.New(cfg, "pool", status)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error { once.Do(func() { cancel(); runErr = <-done }); return runErr }
	t.Cleanup(func() { stop() })
	addr, err := s.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String(), s, stop
}

// atkClient is a client of its own connections (none shared with other
// tests' pools, which would skip the accept queue).
func atkClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func atkFetch(c *http.Client, url string) (int, http.Header, []byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func atkParse(body []byte) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	_, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	return err
}

func atkHostPort(base string) string { return strings.TrimPrefix(base, "http://") }

func atkExcerpt(b []byte, n int) string {
	s := string(b)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// atkNonLoopbackIP is an IPv4 address of this host beyond loopback that one
// can listen on, or nil.
func atkNonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0"))
		if err != nil {
			continue
		}
		ln.Close()
		return n.IP
	}
	return nil
}

// atkDualListener accepts on a loopback listener and a non-loopback one, so
// that over real TCP one server sees both loopback and remote peers; Addr
// is the loopback one's.
type atkDualListener struct {
	lns   []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newAtkDualListener(t *testing.T, remote net.IP) *atkDualListener {
	t.Helper()
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	far, err := net.Listen("tcp", net.JoinHostPort(remote.String(), "0"))
	if err != nil {
		lo.Close()
		t.Fatal(err)
	}
	d := &atkDualListener{lns: []net.Listener{lo, far}, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, ln := range d.lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				select {
				case d.conns <- c:
				case <-d.done:
					c.Close()
					return
				}
			}
		}()
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func (d *atkDualListener) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case <-d.done:
		return nil, net.ErrClosed
	}
}

func (d *atkDualListener) Close() error {
	d.once.Do(func() {
		close(d.done)
		for _, ln := range d.lns {
			ln.Close()
		}
	})
	return nil
}

func (d *atkDualListener) Addr() net.Addr       { return d.lns[0].Addr() }
func (d *atkDualListener) remoteAddr() net.Addr { return d.lns[1].Addr() }

// ---- connection exhaustion ----

// FIXED: slowloris. MaxConnections (64 by default) connections that send half
// a request header and hold it occupy every slot of limitListener until
// ReadHeaderTimeout (5 s) closes them, and an attacker simply reconnects:
// honest requests, loopback ones included ("always served"), wait in the
// kernel's backlog meanwhile. Measured: an honest GET from 127.0.0.1 behind
// 64 such connections from 127.0.0.2 is answered after 5.0 s. The connection
// limit is taken before any check, so peers that would be refused the token
// take the slots as well (see TestAttackUnauthenticatedPeersStarveLoopback).
//
// Symptom: honest request fails with "context deadline exceeded
// (Client.Timeout exceeded while awaiting headers)" after 1 s.
//
// Fix: do not let connections that have not sent a request (StateNew) or are
// idle between requests (StateIdle) hold a slot against newcomers: track
// them with http.Server.ConnState and, when the limit is reached, close the
// oldest such connection instead of blocking Accept; reserve some slots
// for loopback peers (or exempt them); and shorten ReadHeaderTimeout
// (1-2 s is ample for a scraper or a dashboard on a LAN).
func TestAttackSlowlorisStarvesLoopback(t *testing.T) {
	base, _, _ := atkServe(t, (&atkStatus{st: monitor.Status{Healthy: true}}).get,
		monitor.Config{MaxConnections: monitor.DefaultMaxConnections})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range monitor.DefaultMaxConnections {
		c, err := d.Dial("tcp", atkHostPort(base))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel's accept queue is FIFO: the honest connection, made after
	// the 64 handshakes completed, is accepted only once one of them goes.
	t0 := time.Now()
	code, _, _, err := atkFetch(atkClient(time.Second), base+"/api/v1/health")
	if err != nil {
		t.Fatalf("honest loopback request not served within 1s while %d half-header connections are held (after %v): %v",
			monitor.DefaultMaxConnections, time.Since(t0).Round(time.Millisecond), err)
	}
	if code != http.StatusOK {
		t.Errorf("honest request: HTTP %d", code)
	}
}

// FIXED: with Config.Token set, a peer from beyond loopback without the token
// is answered 401 but its connection is kept alive: it holds one of the
// MaxConnections slots for IdleTimeout (60 s), and for ever by repeating a
// request a minute. MaxConnections such peers, none of which ever knew the
// token, shut out the operator on loopback.
//
// Symptom: the 401 response has no "Connection: close", the connection
// serves a second request, and an honest loopback request then times out.
//
// Fix: answer 401 (and 405) with "Connection: close" (set the header before
// http.Error), and see the slot accounting fix of
// TestAttackSlowlorisStarvesLoopback; a shorter IdleTimeout (the dashboard
// polls every 2 s, so 10 s suffices) narrows the window for honest idlers.
func TestAttackUnauthenticatedPeersStarveLoopback(t *testing.T) {
	ip := atkNonLoopbackIP()
	if ip == nil {
		t.Skip("no non-loopback IPv4 address to attack from")
	}
	ln := newAtkDualListener(t, ip)
	const slots = 4
	base, _, _ := atkServe(t, (&atkStatus{st: monitor.Status{Healthy: true}}).get,
		monitor.Config{Listener: ln, Token: "s3cret", MaxConnections: slots})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	keptAlive := 0
	for range slots {
		c, err := net.DialTimeout("tcp", ln.remoteAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		for i := range 2 {
			if _, err := io.WriteString(c, "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				break
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				break
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("remote peer without token: HTTP %d, want 401", resp.StatusCode)
			}
			if i == 1 {
				keptAlive++
			}
		}
		c.SetDeadline(time.Time{})
	}
	if keptAlive > 0 {
		t.Logf("%d of %d unauthenticated connections were kept alive after a 401 and served a second request", keptAlive, slots)
	}
	code, _, _, err := atkFetch(atkClient(time.Second), base+"/api/v1/health")
	if err != nil {
		t.Fatalf("honest loopback request not served within 1s while %d peers that never had the token hold the connections: %v", slots, err)
	}
	if code != http.StatusOK {
		t.Errorf("honest loopback request: HTTP %d", code)
	}
}

// ---- scrapes ----

// HELD: clients that request /metrics and never read the answer do not hold
// promhttp's MaxRequestsInFlight (4) slots: promhttp's TimeoutHandler buffers
// the whole response, so the slot is freed before the first byte goes out;
// a stalled reader holds only its connection (WriteTimeout, 30 s) and one
// copy of the response in memory.
func TestAttackStalledScrapersDoNotBlockScrapes(t *testing.T) {
	var cs []monitor.Counter
	for i := range 6 { // 6 MB of text: more than the socket buffers (4 MB at most) hold
		cs = append(cs, monitor.Counter{Name: fmt.Sprintf("c%d", i), Help: strings.Repeat("h", 1<<20), Value: float64(i)})
	}
	base, _, _ := atkServe(t, (&atkStatus{st: monitor.Status{Counters: cs}}).get, monitor.Config{})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 4 {
		c, err := net.DialTimeout("tcp", atkHostPort(base), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.(*net.TCPConn).SetReadBuffer(1024)
		// No Accept-Encoding: the full text, uncompressed.
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		// Read one byte, no more: the response has begun, and stalls.
		c.SetReadDeadline(time.Now().Add(9 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("stalled scraper got nothing: %v", err)
		}
	}
	code, _, body, err := atkFetch(atkClient(9*time.Second), base+"/metrics")
	if err != nil || code != http.StatusOK || len(body) < 6<<20 {
		t.Fatalf("honest scrape behind 4 stalled readers: HTTP %d %v, %d bytes %s", code, err, len(body), atkExcerpt(body, 200))
	}
}

// FIXED: monitor.go says "Scrapes at once beyond a few wait their turn", but
// promhttp's MaxRequestsInFlight does not queue: the 5th concurrent scrape
// is refused at once. Anyone who may scrape (loopback, or a token holder)
// keeps 4 slow scrapes going and Prometheus' own scrapes fail (up == 0);
// two Prometheus replicas, a curl and a slow status suffice by accident.
//
// Symptom: HTTP 503 "Limit of concurrent requests reached (4), try again
// later." while four scrapes are in the app's status.
//
// Fix: queue them as the comment says: set MaxRequestsInFlight 0 and wrap
// the promhttp handler in a semaphore acquired with
// select { case sem <- struct{}{}: case <-r.Context().Done(): return }
// (perhaps with a bound on the wait); or correct the comment.
func TestAttackConcurrentScrapesWaitTheirTurn(t *testing.T) {
	g := newAtkGate()
	defer g.open()
	base, _, _ := atkServe(t, g.status, monitor.Config{HistoryInterval: time.Hour})
	<-g.first // Run's first sample, before any request
	g.armed.Store(true)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); atkFetch(atkClient(9*time.Second), base+"/metrics") }()
	}
	// Two turns to ask the app at once: two scrapes are in it, two wait.
	for range 2 {
		<-g.entered
	}
	type result struct {
		code int
		body []byte
		err  error
	}
	fifth := make(chan result, 1)
	go func() {
		code, _, body, err := atkFetch(atkClient(9*time.Second), base+"/metrics")
		fifth <- result{code, body, err}
	}()
	var r result
	select {
	case r = <-fifth:
		t.Fatalf("the 5th scrape was answered (HTTP %d) while the app held both turns", r.code)
	case <-time.After(300 * time.Millisecond): // it waits its turn
		g.open()
		r = <-fifth
	}
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("5th concurrent scrape: HTTP %d %v %s; want it to wait its turn and get 200", r.code, r.err, atkExcerpt(r.body, 120))
	}
}

// ---- absurd figures from the app ----

// FIXED: encoding/json cannot encode NaN, ±Inf, or a time beyond year 9999,
// and writeJSON writes the 200 status line before encoding and drops the
// error: /api/v1/status answers "200 OK" with an empty body. The dashboard
// then says "Stale / unreachable" although the app runs. A zero target
// makes target.Difficulty +Inf, so an infinite hashrate is not far-fetched.
//
// Symptom: each subtest: HTTP 200 with a 0-byte body ("unexpected end of
// JSON input").
//
// Fix: marshal into a buffer before WriteHeader and answer 500 with an
// error JSON when that fails; and, so that one odd figure does not hide the
// others, make the figures finite before encoding (e.g. a float type whose
// MarshalJSON writes null for NaN/±Inf, or clamp in currentStatus), and
// clamp times to [0, 9999].
func TestAttackNonFiniteStatusJSON(t *testing.T) {
	f := &atkStatus{}
	base, _, _ := atkServe(t, f.get, monitor.Config{HistoryInterval: time.Hour})
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name string
		st   monitor.Status
	}{
		{"NaN hashrate", monitor.Status{Hashrate: nan}},
		{"+Inf hashrate", monitor.Status{Hashrate: inf}},
		{"-Inf accepted difficulty", monitor.Status{Shares: &monitor.Shares{AcceptedDifficulty: -inf}}},
		{"NaN counter", monitor.Status{Counters: []monitor.Counter{{Name: "x", Value: nan}}}},
		{"NaN template age", monitor.Status{Template: &monitor.Template{Age: nan}}},
		{"+Inf latency bucket", monitor.Status{Node: &monitor.NodeRPC{Buckets: []monitor.Bucket{{Le: inf, Count: 1}}, Timed: 1}}},
		{"start in year 10000", monitor.Status{Started: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.set(c.st)
			code, h, body, err := atkFetch(atkClient(5*time.Second), base+"/api/v1/status")
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			jerr := json.Unmarshal(body, &v)
			switch {
			case code == http.StatusOK && jerr != nil:
				t.Errorf("HTTP 200 %s, %d bytes: %s: %v", h.Get("Content-Type"), len(body), atkExcerpt(body, 80), jerr)
			case code != http.StatusOK && jerr != nil:
				t.Errorf("HTTP %d with a body that is not JSON: %s", code, atkExcerpt(body, 80))
			}
		})
	}
}

// HELD: odd but encodable figures (negative ages and counts, a template
// received in the future, strings with quotes, newlines, NUL, and invalid
// UTF-8 where it is no label) give valid JSON and a parseable scrape, and the server does not write into the app's
// (possibly shared) structures.
func TestAttackAbsurdButFiniteStatusJSON(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tmpl := &monitor.Template{ID: 1, Received: now.Add(time.Hour), Age: 42, PrevHash: "\"><script>"}
	st := monitor.Status{
		App: "po\"ol\n\x00", State: "</script>\xfe", Hashrate: -1, Started: now.Add(time.Hour),
		Connections: atkPtr(-5), Users: atkPtr(math.MaxInt),
		Shares:   &monitor.Shares{Accepted: math.MaxUint64, AcceptedDifficulty: math.MaxFloat64, Rejected: map[string]uint64{"a\"b": 3, "": 1}},
		Blocks:   &monitor.Blocks{Pending: -1, Recent: []monitor.Block{{Hash: "\xff", Finder: "\n", State: "weird"}}},
		Template: tmpl,
	}
	base, _, _ := atkServe(t, func() monitor.Status { return st }, monitor.Config{Now: func() time.Time { return now }})
	var got monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &got)
	if got.Template == nil || got.Template.Age != -3600 {
		t.Errorf("template received an hour ahead: age %+v, want -3600", got.Template)
	}
	if tmpl.Age != 42 {
		t.Errorf("the server wrote the app's shared template: age %g", tmpl.Age)
	}
	if err := atkParse(atkScrape(t, base)); err != nil {
		t.Errorf("metrics: %v", err)
	}
}

func atkPtr[T any](v T) *T { return &v }

func atkScrape(t *testing.T, base string) []byte {
	t.Helper()
	code, _, body, err := atkFetch(atkClient(9*time.Second), base+"/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("scrape: HTTP %d %v %s", code, err, atkExcerpt(body, 300))
	}
	return body
}

// FIXED: the history keeps each sample's hashrate as is, so one NaN or ±Inf
// sample makes /api/v1/history unencodable (see TestAttackNonFiniteStatusJSON)
// until it leaves the ring: HistoryPoints × HistoryInterval, an hour by
// default, although the app's hashrate is finite again at once.
//
// Symptom: HTTP 200 with an empty body from /api/v1/history after the app's
// hashrate was NaN for one sample.
//
// Fix: in sample, store a non-finite hashrate as 0 (or skip the point), in
// addition to the writeJSON fix.
func TestAttackNonFiniteSamplePoisonsHistory(t *testing.T) {
	var calls atomic.Int32
	sampled := make(chan struct{})
	status := func() monitor.Status {
		if calls.Add(1) == 1 { // Run's first sample
			defer close(sampled)
			return monitor.Status{Hashrate: math.NaN()}
		}
		return monitor.Status{Hashrate: 1e12}
	}
	base, _, _ := atkServe(t, status, monitor.Config{HistoryInterval: time.Hour})
	<-sampled
	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st) // the app is fine now
	code, _, body, err := atkFetch(atkClient(5*time.Second), base+"/api/v1/history")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(body) {
		t.Errorf("history after one NaN sample: HTTP %d, %d bytes %s: not JSON, and stays so for HistoryPoints samples",
			code, len(body), atkExcerpt(body, 80))
	}
}

// FIXED: per-user and per-channel hashrates come from the accounting, where a
// share of infinite difficulty (target.Difficulty of a zero target) makes
// the hashrate +Inf: /api/v1/users and /api/v1/channels then answer 200
// with an empty body, for every user, until that user is pruned.
//
// Symptom: HTTP 200, 0 bytes, from /api/v1/users and /api/v1/channels.
//
// Fix: the writeJSON and finite-float fixes of TestAttackNonFiniteStatusJSON
// (and the accounting should refuse a non-finite difficulty).
func TestAttackInfiniteShareDifficultyBreaksUserLists(t *testing.T) {
	acc := accounting.New(accounting.Config{})
	now := time.Unix(1_800_000_000, 0)
	for i, d := range []float64{1, math.Inf(1)} {
		k := accounting.ChannelKey{Client: 1, Channel: uint32(i)}
		acc.OpenChannel(k, fmt.Sprintf("user-%d", i), now)
		acc.Share(k, "rig", now, true, d, "", false)
	}
	base, _, _ := atkServe(t, (&atkStatus{}).get, monitor.Config{Now: func() time.Time { return now }},
		func(s *monitor.Server) { s.ServeAccounts(acc) })
	for _, p := range []string{"/api/v1/users", "/api/v1/channels", "/api/v1/workers"} {
		code, _, body, err := atkFetch(atkClient(5*time.Second), base+p)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(body) {
			t.Errorf("%s with one share of infinite difficulty: HTTP %d, %d bytes: not JSON", p, code, len(body))
		}
	}
	// Prometheus takes +Inf: the scrape is fine.
	if err := atkParse(atkScrape(t, base)); err != nil {
		t.Errorf("metrics: %v", err)
	}
}

// HELD: NaN and ±Inf figures, and label values with quotes, backslashes and
// newlines, give a scrape Prometheus' parser takes, the labels intact and
// the non-finite figures 0, as in the JSON (so that the two agree).
func TestAttackNonFiniteAndEscapedMetrics(t *testing.T) {
	weird := "a\"b\\c\nd{e}=f,g"
	st := monitor.Status{
		Hashrate: math.NaN(), Started: time.Unix(-1, 0),
		Shares:   &monitor.Shares{AcceptedDifficulty: math.Inf(1), Rejected: map[string]uint64{weird: 7, "": 1, "other": 2}},
		Upstream: &monitor.Upstream{Address: weird, Fallback: "\n"},
		Template: &monitor.Template{Age: math.Inf(-1)},
		Node:     &monitor.NodeRPC{Seconds: math.NaN(), Buckets: []monitor.Bucket{{Le: 0.1, Count: 1}, {Le: math.Inf(1), Count: 2}}, Timed: 2},
		Counters: []monitor.Counter{{Name: "odd", Help: "line\nbreak \\ and \"quotes\"", Value: math.Inf(-1)}},
	}
	acc := accounting.New(accounting.Config{})
	acc.OpenChannel(accounting.ChannelKey{Client: 1, Channel: 1}, weird, time.Now())
	base, _, _ := atkServe(t, func() monitor.Status { return st }, monitor.Config{}, func(s *monitor.Server) { s.ServeAccounts(acc) })
	m := monitortest.Scrape(t, base)
	if v := m.Must(t, "sv2_hashrate_hashes_per_second"); v != 0 {
		t.Errorf("hashrate %g, want NaN made 0", v)
	}
	if v := m.Must(t, "sv2_shares_rejected_total", "code", weird); v != 7 {
		t.Errorf("escaped code: %g", v)
	}
	if _, ok := m.Value("sv2_upstream_info", "address", weird, "fallback", "\n"); !ok {
		t.Error("escaped upstream address lost")
	}
	if _, ok := m.Value("sv2_user_hashrate_hashes_per_second", "user", weird); !ok {
		t.Error("escaped user lost")
	}
	if v := m.Must(t, "sv2_pool_odd"); v != 0 {
		t.Errorf("counter %g, want -Inf made 0", v)
	}
}

// FIXED: label values must be UTF-8 and MustNewConstMetric panics on any that
// is not. client_golang recovers the collector's panic, but the whole scrape
// then fails with 500. A peer picks such a value: SV2's
// OpenStandard/ExtendedMiningChannel user_identity is a STR0_255 the decoder
// does not check for UTF-8 and the pool (not solo) accepts as the user, so
// one miner connection naming itself "\xff" takes every metric of the pool
// away from Prometheus (and the 500's body hands the scraper full stack
// traces with source paths). Rejection codes, an upstream's address and the
// app name go the same way.
//
// Symptom: HTTP 500 "prometheus collector panic recovered:
// type=*monitor.userCollector: error=label value \"bad\\xffuser\" is not
// valid UTF-8 ..." (statusCollector for the others).
//
// Fix: pass every label value through strings.ToValidUTF8(v, "\uFFFD") (as
// encoding/json does for the JSON), use NewConstMetric and skip a series it
// refuses rather than MustNewConstMetric; and set promhttp's ErrorHandling
// to ContinueOnError so that one bad series never blanks the scrape (and no
// stack trace is served).
func TestAttackInvalidUTF8LabelBreaksScrape(t *testing.T) {
	for _, c := range []struct {
		name string
		st   monitor.Status
		user string
	}{
		{"user chosen by a miner", monitor.Status{}, "bad\xffuser"},
		{"rejection code", monitor.Status{Shares: &monitor.Shares{Rejected: map[string]uint64{"bad\xffcode": 1}}}, ""},
		{"refusal code", monitor.Status{Declaration: &monitor.Declaration{Refused: map[string]uint64{"\xc3": 1}}}, ""},
		{"upstream address", monitor.Status{Upstream: &monitor.Upstream{Address: "host\xfe:1"}}, ""},
		{"app name", monitor.Status{App: "po\xffol"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			acc := accounting.New(accounting.Config{})
			if c.user != "" {
				k := accounting.ChannelKey{Client: 1, Channel: 1}
				acc.OpenChannel(k, c.user, time.Now())
				acc.Share(k, "", time.Now(), true, 1, "", false)
			}
			acc.OpenChannel(accounting.ChannelKey{Client: 2, Channel: 1}, "honest", time.Now())
			base, _, _ := atkServe(t, func() monitor.Status { return c.st }, monitor.Config{}, func(s *monitor.Server) { s.ServeAccounts(acc) })
			code, _, body, err := atkFetch(atkClient(9*time.Second), base+"/metrics")
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusOK {
				first, _, _ := strings.Cut(string(body), "\nstack trace")
				t.Fatalf("one invalid UTF-8 label value: HTTP %d, every metric lost: %q", code, first)
			}
			if err := atkParse(body); err != nil {
				t.Fatalf("unparseable: %v", err)
			}
			if !strings.Contains(string(body), `sv2_user_shares_accepted_total{user="honest"}`) {
				t.Error("the other users' series are gone")
			}
		})
	}
}

// FIXED (app-controlled, low): an app's Counter names are not checked. With
// the default "underscores" escaping of the text format, "a-b" is written
// as sv2_pool_a_b, so counters "a-b" and "a_b" give two families of one
// name: Prometheus' parser refuses the whole scrape. (Two counters of the
// same name give a 500 instead.)
//
// Symptom: parser error "second TYPE line for metric name
// \"sv2_pool_a_b\", or TYPE reported after samples".
//
// Fix: check counter names in Collect against model.LegacyValidation
// ([a-zA-Z_:][a-zA-Z0-9_:]*) and drop (and log once) any that is not, or
// that repeats an earlier one.
func TestAttackCounterNamesCollideAfterEscaping(t *testing.T) {
	st := monitor.Status{Counters: []monitor.Counter{{Name: "a-b", Value: 1}, {Name: "a_b", Value: 2}}}
	base, _, _ := atkServe(t, func() monitor.Status { return st }, monitor.Config{})
	if err := atkParse(atkScrape(t, base)); err != nil {
		t.Errorf("counters a-b and a_b: the scrape is unparseable: %v", err)
	}
}

// HELD: peers inventing names are bounded: 20 000 users give MaxUserSeries
// series per per-user family, 5 000 rejection codes give 32 + "other", and
// ?limit is capped at MaxListLimit.
func TestAttackManyUsersAndCodesBounded(t *testing.T) {
	acc := accounting.New(accounting.Config{})
	now := time.Unix(1_800_000_000, 0)
	for i := range 20000 {
		k := accounting.ChannelKey{Client: 1, Channel: uint32(i)}
		acc.OpenChannel(k, fmt.Sprintf("user-%05d", i), now)
		acc.Share(k, "", now, true, float64(i%97+1), "", false)
	}
	codes := map[string]uint64{}
	for i := range 5000 {
		codes[fmt.Sprintf("code-%04d", i)] = uint64(i%13 + 1)
	}
	st := monitor.Status{Shares: &monitor.Shares{Rejected: codes}}
	base, _, _ := atkServe(t, func() monitor.Status { return st }, monitor.Config{Now: func() time.Time { return now }},
		func(s *monitor.Server) { s.ServeAccounts(acc) })
	m := monitortest.Scrape(t, base)
	for _, name := range []string{"sv2_user_shares_accepted_total", "sv2_user_hashrate_hashes_per_second", "sv2_user_blocks_found_total"} {
		if n := len(m[name].GetMetric()); n != monitor.MaxUserSeries {
			t.Errorf("%s: %d series, want %d", name, n, monitor.MaxUserSeries)
		}
	}
	if n := len(m["sv2_shares_rejected_total"].GetMetric()); n != 33 {
		t.Errorf("%d rejection series, want 33", n)
	}
	for _, q := range []string{"100001", "99999999999999999999", "1e5", "0x10", "-0"} {
		code, _, _, err := atkFetch(atkClient(5*time.Second), base+"/api/v1/users?limit="+q)
		if err != nil || code != http.StatusBadRequest {
			t.Errorf("limit=%s: HTTP %d %v, want 400", q, code, err)
		}
	}
	// Repeated parameters: the first counts.
	var users []monitor.User
	monitortest.GetJSON(t, base, "/api/v1/users?limit=2&limit=100001&limit=x", &users)
	if len(users) != 2 {
		t.Errorf("limit=2&limit=100001: %d users", len(users))
	}
	// The error echoes the query, but as JSON, not sniffable.
	code, h, body, _ := atkFetch(atkClient(5*time.Second), base+"/api/v1/users?limit=%3Cscript%3Ealert(1)%3C/script%3E")
	if code != http.StatusBadRequest || h.Get("Content-Type") != "application/json" || h.Get("X-Content-Type-Options") != "nosniff" || !json.Valid(body) {
		t.Errorf("bad limit: HTTP %d %q %q %s", code, h.Get("Content-Type"), h.Get("X-Content-Type-Options"), atkExcerpt(body, 80))
	}
}

// ---- concurrency and resources ----

// FIXED: the JSON endpoints have no bound on concurrent requests (unlike
// /metrics' 4): each calls the app's status, or copies the whole accounting
// under its lock (Users/Workers/Channels, O(users) even with ?limit=1), once
// per request, up to MaxConnections (64) at once. The app's status and
// share path queue behind every one of these copies. Measured with 100 000
// users (2 CPUs): one copy holds the accounting's lock ~95 ms; 8 clients
// looping on /api/v1/users?limit=1 from loopback stall accounting.Share for
// up to 3.5 s (32 clients: 9.4 s) -- "no lock the share path waits on for
// longer than a copy of the counters" does not hold once copies queue.
//
// Symptom: 16 concurrent /api/v1/status requests make 16 concurrent calls
// of the app's status (this test waits for the 5th).
//
// Fix: one semaphore (a handful, queueing as for /metrics) around every
// handler that calls status or the accounting; better, share one status
// among concurrent requests (singleflight, or cache it ~1 s) and do the
// same for the accounting copies.
func TestAttackConcurrentStatusCallsBounded(t *testing.T) {
	g := newAtkGate()
	defer g.open()
	base, _, _ := atkServe(t, g.status, monitor.Config{HistoryInterval: time.Hour})
	<-g.first
	g.armed.Store(true)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer g.open()
	for range 16 {
		wg.Add(1)
		go func() { defer wg.Done(); atkFetch(atkClient(9*time.Second), base+"/api/v1/status") }()
	}
	// Two turns: two calls come in at once, and no third while they hold
	// them (an absence can only be waited for a while).
	for range 2 {
		select {
		case <-g.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the status was not asked for twice at once")
		}
	}
	select {
	case n := <-g.entered:
		t.Fatalf("16 concurrent status requests: a call of the app's status with %d inside, past the 2 turns", n)
	case <-time.After(300 * time.Millisecond):
	}
}

// FIXED: a stalled reader of a list endpoint holds, for up to WriteTimeout
// (30 s), its copy of the accounting and the whole JSON answer
// (json.Encoder encodes all of it before the first write), and nothing bounds
// how many do so: measured with 100 000 users, 60 loopback connections
// asking /api/v1/users?limit=10000 and reading nothing grow the heap from
// 95 MB to 1.38 GB. Anyone who may read the API (any local user: loopback
// is always served) exhausts the app's memory.
//
// Symptom: 12 such readers of a 4.5 MB answer hold 139 MB of heap, more
// than 16 answers' worth (71 MB).
//
// Fix: the concurrency bound of TestAttackConcurrentStatusCallsBounded,
// and stream list answers (encode element by element into a bufio.Writer)
// rather than build them whole.
func TestAttackStalledListReadersHoldMemory(t *testing.T) {
	acc := accounting.New(accounting.Config{})
	now := time.Unix(1_800_000_000, 0)
	// Long names make a big answer (4.6 MB, beyond the ~3.9 MB the socket
	// buffers take) cheap to build, even under -race; 20 000 real users
	// make one as big.
	pad := strings.Repeat("u", 100<<10)
	for i := range 46 {
		k := accounting.ChannelKey{Client: 1, Channel: uint32(i)}
		acc.OpenChannel(k, fmt.Sprintf("%s-%05d", pad, i), now)
	}
	base, _, _ := atkServe(t, (&atkStatus{}).get, monitor.Config{Now: func() time.Time { return now }},
		func(s *monitor.Server) { s.ServeAccounts(acc) })
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapInuse)
	}
	_, _, answer, err := atkFetch(atkClient(9*time.Second), base+"/api/v1/users?limit=10000")
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(answer))
	answer = nil
	before := heap()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	const readers = 12
	for range readers {
		c, err := net.DialTimeout("tcp", atkHostPort(base), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.(*net.TCPConn).SetReadBuffer(1024)
		if _, err := io.WriteString(c, "GET /api/v1/users?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Each reader takes one byte, no more: json.Encoder writes nothing
	// before the whole answer is built, so then its handler is at its peak,
	// blocked in the write. Readers a bounded server makes wait get nothing
	// before the deadline.
	got := make(chan bool, len(held))
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range held {
		go func() {
			c.SetReadDeadline(deadline)
			_, err := io.ReadFull(c, make([]byte, 1))
			got <- err == nil
		}()
	}
	answered := 0
	for range held {
		if <-got {
			answered++
		}
	}
	// An answer costs two to three times its size while it is written (the
	// encoding, then the indented copy); a handful at once is fine.
	bound := 16 * size
	if grown := heap() - before; grown > bound {
		t.Fatalf("%d stalled readers of a %.1f MB /api/v1/users answer (%d answering) hold %d MB of heap (bound %d MB): memory linear in the readers",
			readers, float64(size)/(1<<20), answered, grown>>20, bound>>20)
	} else {
		t.Logf("%d stalled readers (%d answering) hold %d MB", readers, answered, grown>>20)
	}
}

// HELD, under -race: many concurrent requests of every endpoint, with a
// status of shared pointers, race with nothing and all succeed.
func TestAttackConcurrentMixedRequests(t *testing.T) {
	tmpl := &monitor.Template{ID: 1, Received: time.Now().Add(-time.Second)}
	shares := &monitor.Shares{Accepted: 1, Rejected: map[string]uint64{"a": 1}}
	st := monitor.Status{Healthy: true, Template: tmpl, Shares: shares, Connections: atkPtr(1)}
	acc := accounting.New(accounting.Config{})
	acc.OpenChannel(accounting.ChannelKey{Client: 1, Channel: 1}, "u", time.Now())
	base, _, _ := atkServe(t, func() monitor.Status { return st }, monitor.Config{HistoryInterval: 5 * time.Millisecond},
		func(s *monitor.Server) { s.ServeAccounts(acc) })
	stop := make(chan struct{})
	var shareWG sync.WaitGroup
	shareWG.Add(1)
	go func() { // the share path, meanwhile
		defer shareWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				acc.Share(accounting.ChannelKey{Client: 1, Channel: 1}, "w", time.Now(), i%3 != 0, 1, "x", false)
			}
		}
	}()
	paths := []string{"/api/v1/status", "/api/v1/health", "/api/v1/history", "/metrics", "/api/v1/users", "/api/v1/workers", "/api/v1/channels", "/", "/app.js"}
	c := &http.Client{Timeout: 9 * time.Second}
	var wg sync.WaitGroup
	var failures, refusedScrapes atomic.Int32
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 3 {
				p := paths[(i+j)%len(paths)]
				code, _, _, err := atkFetch(c, base+p)
				switch {
				case err == nil && code == http.StatusServiceUnavailable && p == "/metrics":
					refusedScrapes.Add(1) // TestAttackConcurrentScrapesWaitTheirTurn
				case err != nil || code != http.StatusOK:
					if failures.Add(1) <= 5 {
						t.Errorf("%s: HTTP %d %v", p, code, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	shareWG.Wait()
	if n := refusedScrapes.Load(); n > 0 {
		t.Logf("%d honest concurrent scrapes refused with 503", n)
	}
}

// ---- a status that blocks or panics; shutdown ----

// FIXED: Run calls the app's status from its own loop (the history sample) with
// nothing to bound it, so while status blocks Run cannot see its context end:
// shutdown hangs for as long as the app's status does (for ever on a
// deadlock), instead of the 2 s shutdownTimeout. (Every request that calls
// status also holds its connection slot meanwhile: MaxConnections of them
// and even the static dashboard is unreachable.)
//
// Symptom: Run has not returned 3 s after its context was cancelled.
//
// Fix: sample in a goroutine of its own (skipping a tick while the previous
// sample is still out), so that Run's select always sees ctx.Done; and bound
// each request's wait for status (e.g. a context-aware wrapper that gives up
// with 503 after a few seconds).
func TestAttackBlockedStatusHangsShutdown(t *testing.T) {
	g := newAtkGate()
	g.armed.Store(true) // the first sample blocks
	defer g.open()
	_, _, stop := atkServe(t, g.status, monitor.Config{HistoryInterval: time.Hour})
	<-g.entered
	returned := make(chan error, 1)
	go func() { returned <- stop() }()
	select {
	case <-returned:
	case <-time.After(3 * time.Second):
		g.open()
		<-returned
		t.Fatal("Run did not return 3s after its context was cancelled, while the app's status blocked in the history sample")
	}
}

// HELD: shutdown while a request is in flight (stuck in the app's status):
// Run returns after shutdownTimeout (2 s), closing the connection, and nil.
func TestAttackShutdownWithRequestInFlight(t *testing.T) {
	g := newAtkGate()
	defer g.open()
	base, _, stop := atkServe(t, g.status, monitor.Config{HistoryInterval: time.Hour})
	<-g.first
	g.armed.Store(true)
	clientErr := make(chan error, 1)
	go func() { _, _, _, err := atkFetch(atkClient(9*time.Second), base+"/api/v1/status"); clientErr <- err }()
	<-g.entered
	t0 := time.Now()
	returned := make(chan error, 1)
	go func() { returned <- stop() }()
	select {
	case err := <-returned:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		t.Logf("Run returned %v after cancel", time.Since(t0).Round(10*time.Millisecond))
	case <-time.After(5 * time.Second):
		g.open()
		<-returned
		t.Fatal("Run did not return within 5s of cancel with a request in flight")
	}
	if err := <-clientErr; err == nil {
		t.Log("the in-flight request was answered") // not expected, not wrong
	}
}

// HELD: a status that panics in a request does not bring the server down:
// net/http recovers it for JSON (the connection is dropped), client_golang
// for /metrics (served without the status's series, and without a stack
// trace), and the rest is served on.
func TestAttackPanickingStatusInRequests(t *testing.T) {
	g := newAtkGate()
	g.panicking = true
	base, _, _ := atkServe(t, g.status, monitor.Config{HistoryInterval: time.Hour})
	<-g.first // the sample got through before panics begin
	g.armed.Store(true)
	c := atkClient(5 * time.Second)
	if code, _, _, err := atkFetch(c, base+"/api/v1/status"); err == nil && code == http.StatusOK {
		t.Errorf("status with a panicking app: HTTP %d", code)
	}
	code, _, body, err := atkFetch(c, base+"/metrics")
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), "go_goroutines") || strings.Contains(string(body), "sv2_app_info") || strings.Contains(string(body), "goroutine ") {
		t.Errorf("metrics with a panicking app: HTTP %d %v, want the other series and no trace: %s", code, err, atkExcerpt(body, 200))
	}
	for _, p := range []string{"/api/v1/history", "/app.js", "/"} {
		if code, _, _, err := atkFetch(c, base+p); err != nil || code != http.StatusOK {
			t.Errorf("%s after panics: HTTP %d %v", p, code, err)
		}
	}
}

// FIXED (low): a status that panics in the history sample -- Run's own
// goroutine, the app's -- kills the process, whereas the same panic in a
// request is recovered (TestAttackPanickingStatusInRequests). One bad figure
// in an app's status kills the app through its monitoring.
//
// Symptom: the child process dies: "panic: app status exploded" from
// monitor.(*Server).sample, exit status 2.
//
// Fix: recover in sample (log it, skip the point), as net/http does for the
// handlers.
func TestAttackPanickingStatusInSampleKillsProcess(t *testing.T) {
	if os.Getenv("MONITOR_ATTACK_CHILD") == "sample-panic" {
		called := make(chan struct{}, 1)
		status := func() monitor.Status {
			select {
			case called <- struct{}{}:
			default:
			}
			panic("app status exploded")
		}
		s, err := monitor.New(monitor.Config{Listen: "127.0.0.1:0"}, "pool", status)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		<-called // Run's first sample, which panics
		cancel()
		<-done // never, when the panic kills the process
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAttackPanickingStatusInSampleKillsProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MONITOR_ATTACK_CHILD=sample-panic")
	out, err := cmd.CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(string(out), "\n\ngoroutine")
		t.Fatalf("a status that panics in the history sample killed the process (%v):\n%s", err, first)
	}
}

// ---- authorization ----

// HELD: the token cannot be bypassed: not by spoofed forwarding headers,
// other schemes, a wrong token in the header with the right one in the query
// (the header wins), IPv4-mapped or zoned addresses beyond loopback, or path
// tricks -- the check runs before the mux, so no redirect, 404 or file
// leaks to a peer without the token. And it is found where it should be.
func TestAttackTokenBypass(t *testing.T) {
	s, err := monitor.New(monitor.Config{Listen: "127.0.0.1:0", Token: "s3cret"}, "pool", func() monitor.Status { return monitor.Status{Healthy: true} })
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	do := func(method, target, remote string, hdr map[string][]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://mon"+target, nil)
		r.RemoteAddr = remote
		for k, vs := range hdr {
			r.Header[k] = vs
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const far = "192.0.2.7:5000"
	for _, c := range []struct {
		name, remote, target string
		hdr                  map[string][]string
		want                 int
	}{
		{"X-Forwarded-For loopback", far, "/api/v1/status", map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Real-Ip": {"127.0.0.1"}, "Forwarded": {"for=127.0.0.1"}}, 401},
		{"empty bearer", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer "}}, 401},
		{"bearer without space", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearers3cret"}}, 401},
		{"double space (1*SP, RFC 7235)", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer  s3cret"}}, 200},
		{"tab", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer\ts3cret"}}, 401},
		{"prefix of token", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer s3cre"}}, 401},
		{"token plus more", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer s3cretX"}}, 401},
		{"token plus NUL", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer s3cret\x00"}}, 401},
		{"token in other header", far, "/api/v1/status", map[string][]string{"X-Token": {"s3cret"}, "Cookie": {"token=s3cret"}}, 401},
		{"Basic", far, "/api/v1/status", map[string][]string{"Authorization": {"Basic czNjcmV0"}}, 401},
		{"wrong header, right query", far, "/api/v1/status?token=s3cret", map[string][]string{"Authorization": {"Bearer nope"}}, 401},
		{"second header right", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer nope", "Bearer s3cret"}}, 401},
		{"first query wrong", far, "/api/v1/status?token=nope&token=s3cret", nil, 401},
		{"query case", far, "/api/v1/status?TOKEN=s3cret", nil, 401},
		{"IPv4-mapped far", "[::ffff:192.0.2.7]:5000", "/api/v1/status", nil, 401},
		{"zoned link-local", "[fe80::1%lo]:5000", "/api/v1/status", nil, 401},
		{"unspecified", "0.0.0.0:5000", "/api/v1/status", nil, 401},
		{"no address", "", "/api/v1/status", nil, 401},
		{"hostname", "localhost:5000", "/api/v1/status", nil, 401},
		{"dot-dot", far, "/../api/v1/status", nil, 401},
		{"double slash", far, "//api/v1/status", nil, 401},
		{"encoded", far, "/api/v1/%73tatus", nil, 401},
		{"unknown API", far, "/api/v1/nothing", nil, 401},
		{"file", far, "/app.js", nil, 401},
		{"redirect bait", far, "/index.html", nil, 401},
		// What should pass does.
		{"right bearer", far, "/api/v1/status", map[string][]string{"Authorization": {"Bearer s3cret"}}, 200},
		{"right query", far, "/metrics?token=s3cret", nil, 200},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:5000", "/api/v1/status", nil, 200},
		{"127/8", "127.9.8.7:5000", "/api/v1/status", nil, 200},
		{"::1", "[::1]:5000", "/api/v1/status", nil, 200},
	} {
		if w := do("GET", c.target, c.remote, c.hdr); w.Code != c.want {
			t.Errorf("%s (%s from %q): %d, want %d; Location %q", c.name, c.target, c.remote, w.Code, c.want, w.Header().Get("Location"))
		} else if c.want == 401 && (w.Header().Get("Location") != "" || strings.Contains(w.Body.String(), "\"")) {
			t.Errorf("%s: the 401 leaks %q %q", c.name, w.Header().Get("Location"), w.Body.String())
		}
	}
}

// FIXED (low, interoperability): the auth-scheme is case-insensitive (RFC 7235
// §2.1, RFC 6750 uses "Bearer" but clients send "bearer"), but only
// "Bearer " is recognised.
//
// Symptom: "Authorization: bearer s3cret" from beyond loopback: 401.
//
// Fix: split the header at the first space and compare the scheme with
// strings.EqualFold(scheme, "Bearer"), trimming spaces around the token.
func TestAttackBearerSchemeCase(t *testing.T) {
	s, err := monitor.New(monitor.Config{Listen: "127.0.0.1:0", Token: "s3cret"}, "pool", func() monitor.Status { return monitor.Status{Healthy: true} })
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"bearer s3cret", "BEARER s3cret"} {
		r := httptest.NewRequest("GET", "/api/v1/health", nil)
		r.RemoteAddr = "192.0.2.7:5000"
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("%q: %d, want 200", auth, w.Code)
		}
	}
}

// FIXED (low, configuration): New takes a Token with leading or trailing
// white space, which no client can ever send in a header: net/http trims
// header values. Such a token only works in ?token=, percent-encoded.
//
// Symptom: Token "s3cret " and "Authorization: Bearer s3cret " over TCP
// from beyond loopback: 401.
//
// Fix: have New refuse (ErrConfig) a token with white space or control
// characters, or trim it.
func TestAttackTokenWithWhitespace(t *testing.T) {
	const token = "s3cret "
	healthy := func() monitor.Status { return monitor.Status{Healthy: true} }
	if _, err := monitor.New(monitor.Config{Listen: "127.0.0.1:0", Token: token}, "pool", healthy); errors.Is(err, monitor.ErrConfig) {
		return // refused: fine
	}
	ip := atkNonLoopbackIP()
	if ip == nil {
		t.Skip("no non-loopback IPv4 address to attack from")
	}
	ln := newAtkDualListener(t, ip)
	atkServe(t, healthy, monitor.Config{Listener: ln, Token: token})
	c, err := net.DialTimeout("tcp", ln.remoteAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token %q accepted by New, sent exactly in the header from beyond loopback: HTTP %d; no client can use it", token, resp.StatusCode)
	}
}

// ---- the HTTP surface ----

// HELD: only GET and HEAD reach the handlers (405 with Allow otherwise,
// whatever the case of the method); requests beyond MaxHeaderBytes are
// refused with 431. Noted: net/http answers "OPTIONS *" itself (200, empty,
// none of the handler's headers), and MaxHeaderBytes has net/http's 4 KB of
// slack: a 12 000-byte header is still read.
func TestAttackMethodsAndSizes(t *testing.T) {
	base, _, _ := atkServe(t, (&atkStatus{st: monitor.Status{Healthy: true}}).get, monitor.Config{})
	raw := func(req string) string {
		c, err := net.DialTimeout("tcp", atkHostPort(base), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			return "write: " + err.Error()
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return "read: " + err.Error()
		}
		return strings.TrimSpace(line)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "PROPFIND", "get", "Head", "PRI"} {
		if got := raw(m + " /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 405") {
			t.Errorf("%s: %q, want 405", m, got)
		}
	}
	if got := raw("CONNECT mon:80 HTTP/1.1\r\nHost: mon:80\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 405") {
		t.Errorf("CONNECT: %q", got)
	}
	if got := raw("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("HEAD /metrics: %q", got)
	}
	for name, req := range map[string]string{
		"20 KB URL":       "GET /api/v1/status?x=" + strings.Repeat("a", 20000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"16 KB header":    "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16000) + "\r\n\r\n",
		"2000 headers":    "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 2000) + "\r\n",
		"folded, endless": "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-A: b\r\n" + strings.Repeat(" c\r\n", 5000) + "\r\n",
	} {
		if got := raw(req); !strings.HasPrefix(got, "HTTP/1.1 431") && !strings.HasPrefix(got, "HTTP/1.1 400") && !strings.HasPrefix(got, "read:") && !strings.HasPrefix(got, "write:") {
			t.Errorf("%s: %q, want it refused", name, got)
		}
	}
}

// HELD: path tricks from loopback reach only what exists: cleaned paths are
// redirected to a path on this host (never "//host", no open redirect), and
// nothing but the embedded dashboard files is served.
func TestAttackPathTricks(t *testing.T) {
	base, _, _ := atkServe(t, (&atkStatus{st: monitor.Status{Healthy: true}}).get, monitor.Config{})
	c := atkClient(5 * time.Second)
	for _, p := range []string{
		"//evil.example/", "//evil.example/%2e%2e", "/\\evil.example/", "/.//evil.example", "/..//evil.example",
		"/../api/v1/status", "//api/v1/status", "/./metrics", "/api/v1/../../metrics", "/index.html", "/app.js/",
	} {
		code, h, _, err := atkFetch(c, base+p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if loc := h.Get("Location"); loc != "" && (strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") || strings.Contains(loc, "://")) {
			t.Errorf("%s: HTTP %d redirects off the host: %q", p, code, loc)
		}
	}
	for _, p := range []string{"/monitor.go", "/web/app.js", "/..%2fmonitor.go", "/%2e%2e/monitor.go", "/web", "/.git/config", "/app.js%00", "/API/v1/status", "/metrics/"} {
		if code, _, body, err := atkFetch(c, base+p); err != nil || code == http.StatusOK {
			t.Errorf("%s: HTTP %d %v %s", p, code, err, atkExcerpt(body, 60))
		}
	}
}
