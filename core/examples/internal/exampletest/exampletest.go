// Package exampletest holds what the examples' tests share: running an
// example or a service until the test ends, reading what an example prints,
// and a loopback template provider. It keeps the examples' own tests about
// their examples.
package exampletest

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

// WaitLimit is how long a test waits for anything it expects.
const WaitLimit = 10 * time.Second

// Run runs start until the test ends, then checks that it stops cleanly
// once its context is cancelled: nil, or a service's ErrStopped.
func Run(t testing.TB, start func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := Recv(t, done, "return after cancel"); err != nil && !errors.Is(err, service.ErrStopped) {
			t.Errorf("returned %v after cancel, want nil", err)
		}
	})
}

// Output runs an example's run function until the test ends (see Run) and
// returns the lines it prints.
func Output(t testing.TB, run func(ctx context.Context, out io.Writer) error) <-chan string {
	t.Helper()
	lines := make(lineWriter, 100)
	Run(t, func(ctx context.Context) error { return run(ctx, lines) })
	return lines
}

// lineWriter hands each line written to it to the test.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		w <- line
	}
	return len(p), nil
}

// Recv returns the next value from ch, failing the test if none comes within
// WaitLimit; what names the value in that failure.
func Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(WaitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// WaitLine skips printed lines until one starts with prefix, and returns the
// rest of it.
func WaitLine(t testing.TB, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(WaitLimit)
	for {
		select {
		case line := <-lines:
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return rest
			}
		case <-timeout:
			t.Fatalf("no line starting %q printed", prefix)
		}
	}
}

// ServeTemplates serves tp on a loopback port with authority's key until the
// test ends, and returns its address.
func ServeTemplates(t testing.TB, authority noise.SecretKey, tp service.TemplateDistributionServerHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := service.ServerConfig{Listener: ln, AuthorityKey: &authority, TemplateDistribution: &service.ProtocolConfig{}}
	svc, err := service.NewServerService(cfg, nil, nil, tp)
	if err != nil {
		t.Fatal(err)
	}
	Run(t, svc.Run)
	return ln.Addr().String()
}
