package harness

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// App is an app started in-process by Go.
type App struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Go runs run (an app's Run, typically) on its own goroutine with a context
// that is cancelled by Stop or when the test ends. A run that returns an
// error other than the cancellation fails the test.
func Go(t testing.TB, name string, run func(ctx context.Context) error) *App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &App{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = run(ctx)
	}()
	t.Cleanup(func() {
		if err := a.Stop(DefaultStopTimeout); err != nil {
			t.Errorf("harness: %v", err)
		}
		<-a.done
	})
	return a
}

// Done returns a channel closed when run has returned.
func (a *App) Done() <-chan struct{} { return a.done }

// Err returns what run returned; valid after Done is closed.
func (a *App) Err() error { return a.err }

// Stop cancels the app's context and waits up to timeout for run to return.
// It returns run's error unless that is the cancellation.
func (a *App) Stop(timeout time.Duration) error {
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(timeout):
		return fmt.Errorf("%s did not return within %v of cancellation", a.name, timeout)
	}
	if a.err != nil && !errors.Is(a.err, context.Canceled) {
		return fmt.Errorf("%s: %w", a.name, a.err)
	}
	return nil
}
