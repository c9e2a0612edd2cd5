package harness

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestNodeStartsAndStops(t *testing.T) {
	t.Parallel()
	n := StartNode(t, NodeOptions{})
	p := n.Process()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := n.Client().GetBlockCount(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before btcd was reaped")
	}
	if !p.cmd.ProcessState.Exited() || !p.cmd.ProcessState.Success() {
		t.Errorf("btcd ended with %v, want a clean exit after SIGTERM", p.cmd.ProcessState)
	}
	assertGone(t, p.Pid())
}

func TestBuildAndRunBinary(t *testing.T) {
	t.Parallel()
	bin := Build(t, "../../core/cmd/sv2")
	p := StartProcess(t, "sv2", bin, "--help")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("sv2 --help: %v\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), "USAGE") {
		t.Errorf("sv2 --help printed no usage:\n%s", p.Output())
	}
}

func TestGoStopsInProcessApp(t *testing.T) {
	t.Parallel()
	app := Go(t, "app", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err := app.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop = %v, want nil for an app that returns its context's error", err)
	}
	select {
	case <-app.Done():
	default:
		t.Fatal("Stop returned before the app did")
	}
}
