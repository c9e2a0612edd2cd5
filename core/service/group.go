package service

import (
	"context"
	"errors"
	"sync"
)

// Runner is what runs until its context ends: both services, and the loops
// an application runs beside them.
type Runner interface {
	Run(ctx context.Context) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context) error

// Run calls f(ctx).
func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }

// RunWhenReady runs r once ready is closed, or returns nil if ctx ends
// first: a server whose work waits on an upstream (a proxy's devices wait
// for its upstream channel, say) listens only once it has something to
// give.
func RunWhenReady(ready <-chan struct{}, r Runner) Runner {
	return RunnerFunc(func(ctx context.Context) error {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
		return r.Run(ctx)
	})
}

// RunAll runs every runner on a goroutine of its own, with one context
// derived from ctx. The first runner to fail (an error that does not wrap
// ErrStopped or ctx's cause) cancels the others; a runner that returns nil
// leaves them running. RunAll returns once every runner has returned: the
// first failure, or nil when they stopped because ctx ended. A server and
// its sibling client run together this way, so they stop together.
func RunAll(ctx context.Context, runners ...Runner) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, r := range runners {
		wg.Go(func() {
			err := r.Run(ctx)
			if err == nil || errors.Is(err, ErrStopped) && ctx.Err() != nil || errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return
			}
			once.Do(func() {
				first = err
				cancel(err)
			})
		})
	}
	wg.Wait()
	return first
}
