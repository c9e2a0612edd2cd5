// Package pgtest runs a real PostgreSQL server for tests, like httptest
// runs an HTTP server: the server binaries of Debian's postgresql package
// (or any initdb and postgres in PATH), a data directory of its own in a
// temp dir, trust authentication on 127.0.0.1 and a free port.
//
// Without PostgreSQL a test skips, saying so loudly, unless the
// environment has SV2_REQUIRE_POSTGRES=1, when it fails.
package pgtest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv is the environment variable that, set to 1, makes a test
// without PostgreSQL fail instead of skip (CI sets it).
const RequireEnv = "SV2_REQUIRE_POSTGRES"

// ErrNotFound is Launch's error when no PostgreSQL server is installed.
var ErrNotFound = errors.New("pgtest: no PostgreSQL server (initdb and postgres) in PATH or /usr/lib/postgresql/*/bin")

// Timeouts of a server's start and stop.
const (
	startTimeout = time.Minute
	stopTimeout  = 10 * time.Second
)

// portAttempts bounds the ports tried: one free when picked may be taken
// by the time the server binds it.
const portAttempts = 5

// readyLine is what the server logs once it accepts connections (its
// messages are in English: lc_messages is C).
const readyLine = "database system is ready to accept connections"

// Server is a PostgreSQL server run for tests. Its superuser is postgres,
// with no password.
type Server struct {
	dir    string // the temp dir: data/, the socket; removed by Stop
	port   int
	cmd    *exec.Cmd
	log    *logWriter
	exited chan struct{} // closed when the server has exited
	dbs    atomic.Int64  // databases made, for their names
	stop   sync.Once
}

// Start starts a server for t, stopped at t's cleanup (its log printed
// if t failed), and returns the DSN of a fresh, empty database on it.
func Start(t testing.TB) string {
	t.Helper()
	return NewServer(t).NewDatabase(t)
}

// NewServer starts a server for t, stopped at t's cleanup (its log printed
// if t failed). Without PostgreSQL, t skips (or fails: RequireEnv).
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := Launch()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", s.Log())
		}
		s.Stop()
	})
	return s
}

// unavailable ends t for want of a server: a skip, said loudly, or a
// failure if RequireEnv is set or PostgreSQL is there but did not start.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v; %s=1 requires it (Debian: apt-get install postgresql)", err, RequireEnv)
	}
	t.Logf("*** NO POSTGRESQL (%v): SKIPPING; %s=1 makes this a failure ***", err, RequireEnv)
	t.Skip("no PostgreSQL")
}

// Launch starts a server that lives until Stop, outside any test's
// lifetime (Shared's); ErrNotFound if PostgreSQL is not installed.
func Launch() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	own, err := runAs()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: that is root's alone (0700), and the server may run
	// as another user.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s, err := launch(bin, dir, own, freePort)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// launch makes a cluster in dir and starts its server on a port of
// ports', trying another if that one turns out to be taken.
func launch(bin, dir string, own *owner, ports func() (int, error)) (*Server, error) {
	if own != nil {
		if err := os.Chown(dir, own.uid, own.gid); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	// -N: the cluster's files are not synced at creation, which makes
	// initdb quick; the server itself syncs its commits (fsync stays on).
	initdb := command(filepath.Join(bin, "initdb"), dir, own,
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		port, err := ports()
		if err != nil {
			return nil, err
		}
		s, err := start(bin, dir, own, port)
		if errors.Is(err, errPortTaken) && attempt < portAttempts {
			continue
		}
		return s, err
	}
}

var errPortTaken = errors.New("pgtest: the server's port was taken")

// start runs the server on port and waits until it accepts connections.
func start(bin, dir string, own *owner, port int) (*Server, error) {
	s := &Server{dir: dir, port: port, log: &logWriter{ready: make(chan struct{})}, exited: make(chan struct{})}
	s.cmd = command(filepath.Join(bin, "postgres"), dir, own,
		"-D", filepath.Join(dir, "data"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-k", dir, // the unix socket: here, not in /var/run/postgresql
		"-c", "shared_buffers=32MB", // several servers may run at once
		"-c", "lc_messages=C",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	var waitErr error
	go func() {
		waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	select {
	case <-s.log.ready:
		return s, nil
	case <-s.exited:
		if strings.Contains(s.Log(), "Address already in use") {
			return nil, fmt.Errorf("%w: %d", errPortTaken, port)
		}
		return nil, fmt.Errorf("pgtest: the server exited at start (%v):\n%s", waitErr, s.Log())
	case <-timeout.C:
		s.cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("pgtest: the server did not start within %v:\n%s", startTimeout, s.Log())
	}
}

// command is an exec.Cmd of a server binary, run as own (if not nil) in
// dir, killed if the test binary dies without its cleanups.
func command(path, dir string, own *owner, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir // the test's own directory may be out of the server user's reach
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = procAttr(own)
	return cmd
}

// NewDatabase makes a fresh, empty database on the server and returns its
// DSN (a postgres:// URL).
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.DSN(name)
}

// DSN returns the postgres:// URL of the database name on the server.
func (s *Server) DSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// Log returns what the server has logged.
func (s *Server) Log() string { return s.log.String() }

// Stop stops the server at once (an immediate shutdown: no checkpoint, as
// after a crash) and removes its files.
func (s *Server) Stop() {
	s.stop.Do(func() {
		stopImmediately(s.cmd.Process)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
		}
		os.RemoveAll(s.dir)
	})
}

// Shared is one server for those tests of a binary that need not each
// have their own, started by the first NewDatabase; TestMain stops it
// after m.Run. The zero value is ready to use.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// NewDatabase makes a fresh, empty database on the shared server, starting
// it if need be, and returns its DSN; the server's log is printed if t
// fails. Without PostgreSQL, t skips (or fails: RequireEnv).
func (sh *Shared) NewDatabase(t testing.TB) string {
	t.Helper()
	sh.once.Do(func() { sh.srv, sh.err = Launch() })
	if sh.err != nil {
		unavailable(t, sh.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", sh.srv.Log())
		}
	})
	return sh.srv.NewDatabase(t)
}

// Log returns what the shared server has logged ("" if not started).
func (sh *Shared) Log() string {
	if sh.srv == nil {
		return ""
	}
	return sh.srv.Log()
}

// Stop stops the shared server, if it was started.
func (sh *Shared) Stop() {
	sh.once.Do(func() {}) // none starts after
	if sh.srv != nil {
		sh.srv.Stop()
	}
}

// findBin returns the directory of initdb and postgres: initdb's in PATH,
// or else the newest of Debian's /usr/lib/postgresql/VERSION/bin.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // the newest first: 16 before 9.6
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", ErrNotFound
}

// compareVersions compares dotted version numbers, number by number.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// owner is the user the server runs as when the test runs as root, which
// PostgreSQL refuses.
type owner struct{ uid, gid int }

// runAs returns nil when not root, or else the postgres user, or nobody.
func runAs() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &owner{uid, gid}, nil
	}
	return nil, errors.New("pgtest: PostgreSQL does not run as root, and there is no postgres or nobody user to run it as")
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// logWriter keeps the server's output and closes ready when it says it
// accepts connections.
type logWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	said  bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.said && bytes.Contains(w.buf.Bytes(), []byte(readyLine)) {
		w.said = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
