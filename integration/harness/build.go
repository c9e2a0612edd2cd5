package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BuildTimeout bounds building btcd or one of our binaries. A first build
// of btcd on a cold cache takes a minute or two on a small CI machine.
const BuildTimeout = 10 * time.Minute

// BtcdPath returns the path of a btcd binary built from the module cache at
// the version the integration module pins with its "tool
// github.com/btcsuite/btcd" line. dir is a directory inside that module
// ("" for the working directory, which is where go test runs a test).
//
// It runs "go tool -n btcd": the go command builds the tool once and keeps
// the executable in the Go build cache, keyed by the exact module versions
// and toolchain, so later calls (and later test runs) take a fraction of a
// second and a version bump rebuilds by itself.
func BtcdPath(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, BuildTimeout)
	defer cancel()
	out, err := goCommand(ctx, dir, "tool", "-n", "btcd")
	if err != nil {
		return "", fmt.Errorf("harness: building btcd: %w", err)
	}
	// The last line is the command go tool would run: the cached binary.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	path := strings.TrimSpace(lines[len(lines)-1])
	if path == "" || !filepath.IsAbs(path) {
		return "", fmt.Errorf("harness: go tool -n btcd printed %q, want the path of the binary", out)
	}
	return path, nil
}

// Build compiles a main package into the test's temp dir and returns the
// binary's path. pkg is either a directory (starting with "." or "/", such
// as "../apps/templateprovider/cmd/sv2-templateprovider"), built inside its
// own module so that it also works with GOWORK=off, or an import path
// resolvable from the working directory's module.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Clean(pkg)))
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	dir, target := "", pkg
	if strings.HasPrefix(pkg, ".") || filepath.IsAbs(pkg) {
		dir, target = pkg, "."
	}
	if _, err := goCommand(ctx, dir, "build", "-o", bin, target); err != nil {
		t.Fatalf("harness: building %s: %v", pkg, err)
	}
	return bin
}

func goCommand(ctx context.Context, dir string, args ...string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build test binaries: %w", err)
	}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
