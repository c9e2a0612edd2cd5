package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultStopTimeout is how long Stop waits after asking a process to end
// before it kills it.
const DefaultStopTimeout = 15 * time.Second

// maxOutput bounds the output kept per process; the tail is what matters
// when a test fails.
const maxOutput = 4 << 20

// Process is a child process started by a test, with its output captured.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *outputBuffer

	exited chan struct{} // closed when Wait has returned
	err    error         // Wait's result, valid after exited is closed
}

// StartProcess starts bin with args. Its standard output and error are
// captured (see Output) and copied into the test log if the test fails; the
// process is stopped when the test ends.
func StartProcess(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	p, err := startProcess(name, bin, args, nil)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(DefaultStopTimeout); err != nil {
			t.Errorf("harness: stopping %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("harness: output of %s (%s):\n%s", name, p.cmd.Path, p.Output())
		}
	})
	return p
}

func startProcess(name, bin string, args []string, onLine func(string)) (*Process, error) {
	cmd := exec.Command(bin, args...)
	out := &outputBuffer{onLine: onLine}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	// No WaitDelay races with output copying: the writer is ours, not a pipe.
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	// One goroutine per process, ending when the process does; Stop waits
	// for it, and every Process is stopped by its test's cleanup.
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process has written so far (its last 4 MiB).
func (p *Process) Output() string { return p.out.String() }

// Exited returns a channel closed when the process has ended and been
// reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Wait waits for the process to end by itself, at most until ctx ends, and
// returns its exit error (nil for exit status 0).
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("harness: waiting for %s to exit: %w", p.name, ctx.Err())
	}
}

// Stop asks the process to end (SIGTERM; a kill where signals do not exist)
// and kills it if it is still running after timeout. It returns once the
// process has been reaped. Stopping an ended process does nothing. The exit
// status of a process that ended because it was asked to is not an error.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := terminate(p.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return p.Kill()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		if err := p.Kill(); err != nil {
			return err
		}
		return fmt.Errorf("%s did not stop within %v and was killed", p.name, timeout)
	}
}

// Kill ends the process at once (SIGKILL) and waits until it is reaped.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s survived SIGKILL for 10s", p.name)
	}
}

// outputBuffer keeps the tail of a process's output and hands complete lines
// to onLine, so a caller can wait for a line without a pipe of its own.
type outputBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - maxOutput; over > 0 {
		b.buf.Next(over)
	}
	if b.onLine != nil {
		b.partial = append(b.partial, p...)
		for {
			i := bytes.IndexByte(b.partial, '\n')
			if i < 0 {
				break
			}
			b.onLine(strings.TrimRight(string(b.partial[:i]), "\r"))
			b.partial = b.partial[i+1:]
		}
	}
	return len(p), nil
}

func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
