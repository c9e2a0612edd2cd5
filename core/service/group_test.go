package service

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunAllStopsTogetherOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 3)
	loop := RunnerFunc(func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		return stopped(ctx)
	})
	done := make(chan error, 1)
	go func() {
		done <- RunAll(ctx, loop, loop, RunnerFunc(func(ctx context.Context) error { started <- struct{}{}; <-ctx.Done(); return ctx.Err() }))
	}()
	for range 3 {
		recv(t, started, "a runner to start")
	}
	cancel()
	if err := recv(t, done, "RunAll to return"); err != nil {
		t.Fatalf("RunAll after cancel = %v, want nil", err)
	}
}

func TestRunAllFirstFailureCancelsTheRest(t *testing.T) {
	boom := errors.New("boom")
	var sawCause error
	err := RunAll(context.Background(),
		RunnerFunc(func(ctx context.Context) error { <-ctx.Done(); sawCause = context.Cause(ctx); return stopped(ctx) }),
		RunnerFunc(func(context.Context) error { return boom }),
		RunnerFunc(func(context.Context) error { return nil }), // finishing early is not a failure
	)
	if !errors.Is(err, boom) {
		t.Fatalf("RunAll = %v, want %v", err, boom)
	}
	if !errors.Is(sawCause, boom) {
		t.Fatalf("the other runner's context ended with %v, want the failure", sawCause)
	}
}

func TestRunAllReturnsFirstFailureOnly(t *testing.T) {
	first := errors.New("first")
	gate := make(chan struct{})
	err := RunAll(context.Background(),
		RunnerFunc(func(context.Context) error { defer close(gate); return first }),
		RunnerFunc(func(ctx context.Context) error { <-gate; <-ctx.Done(); return errors.New("second, after the cancel") }),
	)
	if !errors.Is(err, first) {
		t.Fatalf("RunAll = %v, want the first failure", err)
	}
}

// RunWhenReady starts its runner only once ready is closed, and not at all
// when the context ends first.
func TestRunWhenReady(t *testing.T) {
	ready := make(chan struct{})
	started := make(chan struct{})
	r := RunWhenReady(ready, RunnerFunc(func(ctx context.Context) error { close(started); <-ctx.Done(); return nil }))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-started:
		t.Fatal("started before ready")
	case <-time.After(20 * time.Millisecond):
	}
	close(ready)
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	never := RunWhenReady(make(chan struct{}), RunnerFunc(func(context.Context) error { t.Error("ran without being ready"); return nil }))
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := never.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
