// Package monitor serves an app's figures over HTTP, for operators and their
// tools: a JSON API under /api/v1/, Prometheus metrics at /metrics and a
// dashboard page at /, embedded in the binary so that it works with no
// internet. Every long-running app of the project serves one behind
// --monitor-listen.
//
// An app gives the [Server] a function returning its [Status], made from the
// same counters its logs use; the server calls it for each request and each
// scrape, so no figure is older than the request. A scrape costs what the
// status costs (the apps keep it O(users) at most) and takes no lock the
// share path waits on for longer than a copy of the counters. The standard
// metrics (sv2_*) are made of the Status; an app adds its own with
// [Server.Register], and more JSON with [Server.Handle].
//
// Requests from loopback are always served. When Config.Token is set, any
// other request must carry it as "Authorization: Bearer TOKEN" (or, for the
// page and its fetches from a browser, a token query parameter).
package monitor

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults for zero Config fields.
const (
	DefaultHistoryInterval = 10 * time.Second
	DefaultHistoryPoints   = 360 // an hour at DefaultHistoryInterval
	// DefaultMaxConnections bounds the HTTP connections kept at once: a
	// dashboard or two and a scraper need a handful. Past it, a new
	// connection takes the place of the oldest one that is not being
	// answered (silent, half a request sent, or idle between requests).
	DefaultMaxConnections = 64
)

// Limits of the HTTP server: a client that sends its request slowly, or
// reads the answer slowly, holds a connection no longer than these.
const (
	readHeaderTimeout = 3 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 15 * time.Second // the dashboard polls every 2 s
	maxHeaderBytes    = 8 << 10
	shutdownTimeout   = 2 * time.Second
	// working bounds the requests that ask the app or copy its accounting
	// at once; the others wait their turn (or their client's patience).
	working = 2
)

// Config configures a monitoring server.
type Config struct {
	// Listen is the address to serve on (Listener instead, when set). Keep
	// it on loopback unless Token is set.
	Listen   string
	Listener net.Listener
	// Token, when set, is the bearer token every request from beyond
	// loopback must carry.
	Token string
	// Explorer is the URL a block hash is appended to for the dashboard's
	// links (ExplorerFor gives one per network); empty: no links.
	Explorer string
	// HistoryInterval and HistoryPoints shape the hashrate history the
	// chart shows (DefaultHistoryInterval, DefaultHistoryPoints).
	HistoryInterval time.Duration
	HistoryPoints   int
	// MaxConnections bounds the connections kept at once
	// (DefaultMaxConnections); see DefaultMaxConnections.
	MaxConnections int
	Logger         *slog.Logger
	Now            func() time.Time // time.Now
}

// ErrConfig wraps configuration errors.
var ErrConfig = errors.New("monitor: invalid configuration")

// ExplorerFor returns a block explorer's URL prefix for a network name
// (mainnet, testnet, testnet4, signet), or "" (regtest, unknown).
func ExplorerFor(network string) string {
	switch network {
	case "mainnet", "":
		return "https://mempool.space/block/"
	case "testnet", "testnet3":
		return "https://mempool.space/testnet/block/"
	case "testnet4":
		return "https://mempool.space/testnet4/block/"
	case "signet":
		return "https://mempool.space/signet/block/"
	}
	return ""
}

//go:embed web
var web embed.FS

// Server serves one app's figures; Run serves it.
type Server struct {
	cfg    Config
	app    string
	log    *slog.Logger
	status func() Status
	reg    *prometheus.Registry
	mux    *http.ServeMux
	hist   *history
	conns  *connTable
	work   chan struct{} // a slot per request asking the app at once (working)

	mu        sync.Mutex
	endpoints map[string]bool
	addr      net.Addr
	listening chan struct{}
	failed    error
}

// New returns a server for the app named app (the dashboard's title and
// the sv2_app_info label), whose figures status returns; status is called
// from the server's goroutines, for requests, scrapes and history points,
// at most a few at once.
func New(cfg Config, app string, status func() Status) (*Server, error) {
	switch {
	case cfg.Listen == "" && cfg.Listener == nil:
		return nil, fmt.Errorf("%w: no listen address", ErrConfig)
	case status == nil:
		return nil, fmt.Errorf("%w: no status", ErrConfig)
	case cfg.Explorer != "" && !strings.HasPrefix(cfg.Explorer, "https://") && !strings.HasPrefix(cfg.Explorer, "http://"):
		return nil, fmt.Errorf("%w: explorer %q is not an http(s) URL", ErrConfig, cfg.Explorer)
	case !validToken(cfg.Token):
		return nil, fmt.Errorf("%w: the token must be printable ASCII without spaces, as an HTTP header carries it", ErrConfig)
	}
	if cfg.HistoryInterval <= 0 {
		cfg.HistoryInterval = DefaultHistoryInterval
	}
	if cfg.HistoryPoints <= 0 {
		cfg.HistoryPoints = DefaultHistoryPoints
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg: cfg, app: app, log: cfg.Logger, status: status,
		reg: prometheus.NewRegistry(), mux: http.NewServeMux(),
		hist: newHistory(cfg.HistoryPoints), conns: newConnTable(cfg.MaxConnections),
		work:      make(chan struct{}, working),
		endpoints: map[string]bool{}, listening: make(chan struct{}),
	}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&statusCollector{app: app, status: s.currentStatus},
	)
	s.routes()
	return s, nil
}

// validToken: printable ASCII, no spaces (net/http trims a header's spaces,
// so a token with them could never match).
func validToken(t string) bool {
	for i := range len(t) {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

// ErrOff is the error of a nil Server's Addr: the app has no monitoring
// configured.
var ErrOff = errors.New("monitor: no monitoring configured")

// ErrUnavailable, wrapped by a Handle function's error, answers 503: the
// request was right, but what it needs (a database, say) cannot be had now.
var ErrUnavailable = errors.New("unavailable")

// NewFor is New for an app that monitors when cfg is set: nil, nil when cfg
// is nil (a nil *Server's Run returns at once and its Addr says ErrOff); a
// zero Logger or Now in cfg takes log and now.
func NewFor(cfg *Config, app string, log *slog.Logger, now func() time.Time, status func() Status) (*Server, error) {
	if cfg == nil {
		return nil, nil
	}
	c := *cfg
	if c.Logger == nil && log != nil {
		c.Logger = log.With("side", "monitor")
	}
	if c.Now == nil {
		c.Now = now
	}
	return New(c, app, status)
}

// Register adds an app's own metrics to /metrics.
func (s *Server) Register(c prometheus.Collector) error { return s.reg.Register(c) }

// Handle serves get's value as JSON at /api/v1/NAME; get is called for
// each request, from the server's goroutines, a few at once at most. Its
// error is answered 400 (the request was wrong), or 503 when it wraps
// ErrUnavailable (what the answer needs cannot be had now). NAME must not
// be health, status or history. Call it before Run.
func (s *Server) Handle(name string, get func(r *http.Request) (any, error)) {
	s.mu.Lock()
	s.endpoints[name] = true
	s.mu.Unlock()
	s.mux.Handle("GET /api/v1/"+name, s.jsonHandler(get))
}

func (s *Server) routes() {
	s.mux.Handle("GET /api/v1/health", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st Status
		if !s.turn(w, r, func() { st = s.currentStatus() }) {
			return
		}
		body, err := encodeJSON(map[string]any{"app": st.App, "healthy": st.Healthy, "state": st.State})
		code := http.StatusOK
		if !st.Healthy {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, body, err)
	}))
	s.mux.Handle("GET /api/v1/status", s.jsonHandler(func(*http.Request) (any, error) { return s.currentStatus(), nil }))
	s.mux.Handle("GET /api/v1/history", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := encodeJSON(historyReply{Interval: s.cfg.HistoryInterval.Seconds(), Points: s.hist.points()})
		writeJSON(w, http.StatusOK, body, err)
	}))
	s.mux.Handle("GET /api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := encodeJSON(map[string]any{"error": "no such endpoint", "endpoints": s.endpointNames()})
		writeJSON(w, http.StatusNotFound, body, err)
	}))
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		// A collector's error drops its series, not the scrape; and a
		// scrape never answers with stack traces.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{s.log},
	})
	s.mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Scrapes wait their turn for the app; the answer is made in
		// memory, so a scraper that reads slowly holds no turn.
		rec := newRecorder()
		if s.turn(w, r, func() { metrics.ServeHTTP(rec, r) }) {
			rec.copyTo(w)
		}
	}))
	sub, _ := fs.Sub(web, "web") // the directory is embedded above
	s.mux.Handle("GET /", http.FileServerFS(sub))
}

// turn runs f in a turn to ask the app, waiting for one unless the
// client gives up first (then false, the request answered 503). The turn
// ends with f, even if f panics.
func (s *Server) turn(w http.ResponseWriter, r *http.Request, f func()) bool {
	select {
	case s.work <- struct{}{}:
	case <-r.Context().Done():
		http.Error(w, "gave up waiting for a turn", http.StatusServiceUnavailable)
		return false
	}
	defer func() { <-s.work }()
	f()
	return true
}

func (s *Server) endpointNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := []string{"health", "status", "history"}
	for n := range s.endpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// currentStatus is the app's status with what the server adds, its figures
// made fit to encode: a non-finite number is 0 and a time out of JSON's
// range is the zero time, so that one odd figure does not hide the others.
func (s *Server) currentStatus() Status {
	st := s.status()
	if st.App == "" {
		st.App = s.app
	}
	if st.Template != nil {
		t := *st.Template // the app's, perhaps shared
		if !t.Received.IsZero() {
			t.Age = s.cfg.Now().Sub(t.Received).Seconds()
		}
		st.Template = &t
	}
	st.Explorer = s.cfg.Explorer
	return sanitize(st)
}

// jsonHandler serves get's value as JSON, get called in a turn.
func (s *Server) jsonHandler(get func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		var body []byte
		var err error
		// Encoded in the turn too: the value may hold the app's maps.
		if !s.turn(w, r, func() {
			var v any
			if v, err = get(r); err != nil {
				code = http.StatusBadRequest
				if errors.Is(err, ErrUnavailable) {
					code = http.StatusServiceUnavailable
				}
				v = map[string]string{"error": err.Error()}
			}
			body, err = encodeJSON(v)
		}) {
			return
		}
		writeJSON(w, code, body, err)
	})
}

// encodeJSON encodes v whole before anything is written, so that a value
// that cannot be encoded is answered with an error, not a cut body.
func encodeJSON(v any) ([]byte, error) { return json.Marshal(v) }

// writeJSON writes body with code, or a 500 naming err.
func writeJSON(w http.ResponseWriter, code int, body []byte, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(map[string]string{"error": "cannot encode the answer: " + err.Error()})
	}
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n')) // the client went away: nothing to do
}

// Handler is the server's HTTP handler, with its checks: for tests, or to
// mount it in a server of one's own.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.conns.serving(r.Context())()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			h.Set("Connection", "close") // a peer that errs keeps no connection
			http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		if !s.authorized(r) {
			h.Set("WWW-Authenticate", `Bearer realm="sv2 monitor"`)
			h.Set("Connection", "close")
			http.Error(w, "a bearer token is required from beyond loopback", http.StatusUnauthorized)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// authorized: loopback always; beyond it, the token when one is set, as
// "Authorization: Bearer TOKEN" (the scheme in any case) or ?token=.
func (s *Server) authorized(r *http.Request) bool {
	if isLoopback(r.RemoteAddr) || s.cfg.Token == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(token)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run serves until ctx ends, sampling the hashrate history meanwhile; it
// returns nil when ctx ended (at once for a nil Server), or why it could
// not listen.
func (s *Server) Run(ctx context.Context) error {
	if s == nil {
		return nil
	}
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen); err != nil {
			err = fmt.Errorf("monitor: %w", err)
			s.fail(err)
			return err
		}
	}
	if s.cfg.Token == "" && !isLoopback(ln.Addr().String()) {
		s.log.Warn("monitoring served beyond loopback without a token: anyone who reaches it reads the figures", "address", ln.Addr().String())
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	close(s.listening)
	s.mu.Unlock()
	s.log.Info("monitoring listening", "address", ln.Addr().String())

	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:    func(net.Listener) context.Context { return ctx },
		ConnContext:    s.conns.connContext,
		ConnState:      s.conns.state,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// The history is sampled on a goroutine of its own, one sample at a
	// time, so that an app whose status blocks delays no stop.
	sampling := make(chan struct{}, 1)
	sample := func() {
		select {
		case sampling <- struct{}{}:
			go func() {
				defer func() { <-sampling }()
				s.sample()
			}()
		default: // the last one is still out: skip this tick
		}
	}
	tick := time.NewTicker(s.cfg.HistoryInterval)
	defer tick.Stop()
	sample()
	for {
		select {
		case <-tick.C:
			sample()
		case err := <-served:
			return fmt.Errorf("monitor: %w", err)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
			<-served
			return nil
		}
	}
}

func (s *Server) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil && s.addr == nil {
		s.failed = err
		close(s.listening)
	}
}

// Addr waits until the server listens and returns its address.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	if s == nil {
		return nil, ErrOff
	}
	select {
	case <-s.listening:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	return s.addr, nil
}

// sample adds the status now to the history; an app's status that panics
// costs the point, not the process.
func (s *Server) sample() {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("the app's status panicked; no history point", "panic", fmt.Sprint(r))
		}
	}()
	st := func() Status {
		s.work <- struct{}{}
		defer func() { <-s.work }()
		return s.currentStatus()
	}()
	p := Point{T: s.cfg.Now(), Hashrate: st.Hashrate}
	if sh := st.Shares; sh != nil {
		p.Accepted = sh.Accepted
		for _, n := range sh.Rejected {
			p.Rejected += n
		}
	}
	s.hist.add(p)
}

// promLogger passes promhttp's errors to the log.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics", "error", fmt.Sprint(v...)) }
