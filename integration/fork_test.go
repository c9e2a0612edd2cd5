package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file tests scripts/fork-app: every app forked into a temp dir must
// build and pass its own tests there as a module of its own, with only the
// module cache, against this checkout's core.

const (
	forkCorePath = "github.com/stratumgo/stratum/core"
	forkAppsPath = "github.com/stratumgo/stratum/apps/"
	// forkParallel bounds how many forks build and test at once.
	forkParallel = 2
)

// forkTools returns the paths of go and bash and this checkout's root, or
// skips the test if go or bash is not on PATH.
func forkTools(t *testing.T) (goBin, bashBin, root string) {
	t.Helper()
	var err error
	if goBin, err = exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	if bashBin, err = exec.LookPath("bash"); err != nil {
		t.Skip("bash is not on PATH")
	}
	// The test runs in integration/; the script prints physical paths.
	if root, err = filepath.Abs(".."); err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		t.Fatal(err)
	}
	return goBin, bashBin, root
}

// forkOfflineEnv is the environment a fork is built and tested in: no
// workspace, no proxy (the module cache only), and go.mod may be updated.
func forkOfflineEnv(t *testing.T, goBin string) []string {
	t.Helper()
	out, err := exec.Command(goBin, "env", "GOFLAGS").Output()
	if err != nil {
		t.Fatalf("go env GOFLAGS: %v", err)
	}
	flags := strings.TrimSpace(string(out) + " -mod=mod")
	return append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS="+flags)
}

// forkRun runs a command in dir and returns its combined output, failing the
// test with that output if it does not succeed.
func forkRun(t *testing.T, ctx context.Context, env []string, dir, name string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	line := filepath.Base(name) + " " + strings.Join(args, " ")
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		t.Fatalf("in %s: %s: %v\n%s", dir, line, err, out)
	}
	t.Logf("%s (%.1fs)", line, time.Since(start).Seconds())
	return string(out)
}

// forkAppNames lists the directories under apps/ (each is a module).
func forkAppNames(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "apps"))
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, e := range entries {
		if e.IsDir() {
			apps = append(apps, e.Name())
		}
	}
	if len(apps) == 0 {
		t.Fatal("no apps under apps/")
	}
	return apps
}

// TestForkApp forks every app with scripts/fork-app into a temp dir and runs
// go build ./... and go test ./... in the fork with GOWORK=off, GOPROXY=off
// and -mod=mod. The forks' tests run without -race: the originals already
// run with it.
func TestForkApp(t *testing.T) {
	t.Parallel()
	goBin, bashBin, root := forkTools(t)
	env := forkOfflineEnv(t, goBin)
	script := filepath.Join(root, "scripts", "fork-app")
	sem := make(chan struct{}, forkParallel)
	for _, app := range forkAppNames(t, root) {
		t.Run(app, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx := testContext(t, 15*time.Minute)
			src := filepath.Join(root, "apps", app)

			// What the app's own tests need in the tree, fetched the way
			// the tree's build fetches it (usually already in the cache,
			// and a no-op offline); from here on, the module cache only.
			forkRun(t, ctx, os.Environ(), src, goBin, "list", "-e", "-deps", "-test", "./...")

			dest := filepath.Join(t.TempDir(), "fork") // made by the script
			module := "example.com/fork/" + app
			out := forkRun(t, ctx, env, root, bashBin, script, app, dest, module)
			if !strings.Contains(out, "Forked apps/"+app) || !strings.Contains(out, "go build ./...") {
				t.Errorf("fork-app printed no summary and next steps:\n%s", out)
			}

			checkForkGoMod(t, ctx, goBin, env, dest, module, filepath.Join(root, "core"))
			checkForkFiles(t, src, dest)

			forkRun(t, ctx, env, dest, goBin, "build", "./...")
			forkRun(t, ctx, env, dest, goBin, "test", "-count=1", "-timeout", "10m", "./...")
		})
	}
}

// checkForkGoMod checks that the fork's go.mod names the new module,
// requires core and replaces it by this checkout's core, and names no other
// module of this tree.
func checkForkGoMod(t *testing.T, ctx context.Context, goBin string, env []string, dest, module, core string) {
	t.Helper()
	var mod struct {
		Module  struct{ Path string }
		Require []struct{ Path string }
		Replace []struct{ Old, New struct{ Path string } }
	}
	out := forkRun(t, ctx, env, dest, goBin, "mod", "edit", "-json")
	if err := json.Unmarshal([]byte(out), &mod); err != nil {
		t.Fatalf("go mod edit -json: %v\n%s", err, out)
	}
	if mod.Module.Path != module {
		t.Errorf("the fork's go.mod names module %q, want %q", mod.Module.Path, module)
	}
	if !slices.ContainsFunc(mod.Require, func(r struct{ Path string }) bool { return r.Path == forkCorePath }) {
		t.Errorf("the fork's go.mod does not require %s", forkCorePath)
	}
	for _, r := range mod.Require {
		if strings.HasPrefix(r.Path, "github.com/stratumgo/stratum/") && r.Path != forkCorePath {
			t.Errorf("the fork's go.mod requires %s; only core may come from this tree", r.Path)
		}
	}
	replaced := false
	for _, r := range mod.Replace {
		if r.Old.Path == forkCorePath {
			replaced = true
			if r.New.Path != core {
				t.Errorf("the fork's go.mod replaces core by %q, want this checkout's core %q", r.New.Path, core)
			}
		} else if strings.HasPrefix(r.Old.Path, "github.com/stratumgo/stratum/") {
			t.Errorf("the fork's go.mod replaces %s; only core may come from this tree", r.Old.Path)
		}
	}
	if !replaced {
		t.Errorf("the fork's go.mod has no replace for %s", forkCorePath)
	}
}

// forkSkips reports whether fork-app leaves out a file or directory of an
// app: build outputs (bin/, *.test, *.out, *.exe, a binary built in its
// cmd/NAME directory).
func forkSkips(rel string, d fs.DirEntry) bool {
	if d.IsDir() {
		return rel == "bin" || rel == ".git"
	}
	name := d.Name()
	if strings.HasSuffix(name, ".test") || strings.HasSuffix(name, ".out") || strings.HasSuffix(name, ".exe") {
		return true
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	return len(parts) == 3 && parts[0] == "cmd" && parts[1] == parts[2]
}

// checkForkFiles checks that the fork holds every file of the app but build
// outputs (the example configuration and go.sum among them), and that none
// of its Go files imports a package under apps/ of this tree.
func checkForkFiles(t *testing.T, src, dest string) {
	t.Helper()
	var want []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return nil
		}
		if forkSkips(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			want = append(want, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range want {
		if _, err := os.Lstat(filepath.Join(dest, rel)); err != nil {
			t.Errorf("the fork lacks %s: %v", rel, err)
		}
	}

	fset := token.NewFileSet()
	err = filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, forkAppsPath) {
				t.Errorf("%s still imports %s", fset.Position(imp.Pos()), p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestForkAppErrors checks that fork-app refuses bad arguments with a
// non-zero exit status and a message that says what is wrong, and leaves no
// fork behind.
func TestForkAppErrors(t *testing.T) {
	t.Parallel()
	_, bashBin, root := forkTools(t)
	script := filepath.Join(root, "scripts", "fork-app")
	apps := forkAppNames(t, root)

	tmp := t.TempDir()
	notEmpty := filepath.Join(tmp, "not-empty")
	if err := os.MkdirAll(notEmpty, 0o755); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(notEmpty, "file")
	if err := os.WriteFile(aFile, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	newDest := filepath.Join(tmp, "new")

	// A tree whose app imports the integration module: only core may be
	// required by a fork, so the script must refuse it before copying.
	fake := t.TempDir()
	for name, body := range map[string]string{
		"scripts/fork-app":      forkReadFile(t, script),
		"core/go.mod":           "module " + forkCorePath + "\n\ngo 1.26.0\n",
		"apps/bad/go.mod":       "module " + forkAppsPath + "bad\n\ngo 1.26.0\n\nrequire " + forkCorePath + " v0.0.0\n\nreplace " + forkCorePath + " => ../../core\n",
		"apps/bad/bad.go":       "package bad\n",
		"apps/bad/bad_test.go":  "package bad\n\nimport _ \"github.com/stratumgo/stratum/integration/harness\"\n",
		"apps/other/go.mod":     "module " + forkAppsPath + "other\n\ngo 1.26.0\n\nreplace example.com/lib => ../lib\n",
		"apps/other/other.go":   "package other\n",
		"apps/other/cmd/x/x.go": "package main\n\nfunc main() {}\n",
	} {
		path := filepath.Join(fake, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fakeScript := filepath.Join(fake, "scripts", "fork-app")

	for _, tc := range []struct {
		name   string
		script string
		args   []string
		want   []string // in the error output
		status int      // 0: any non-zero status
	}{
		{"no arguments", script, nil, []string{"usage: scripts/fork-app APP DEST MODULE"}, 2},
		{"too many arguments", script, []string{"pool", newDest, "example.com/x", "extra"}, []string{"usage:"}, 2},
		{"unknown app", script, []string{"nosuchapp", newDest, "example.com/x"}, append([]string{`unknown app "nosuchapp"`}, apps...), 1},
		{"app outside apps/", script, []string{"../core", newDest, "example.com/x"}, []string{`unknown app "../core"`}, 1},
		{"DEST not empty", script, []string{apps[0], notEmpty, "example.com/x"}, []string{"exists and is not empty"}, 1},
		{"DEST a file", script, []string{apps[0], aFile, "example.com/x"}, []string{"exists and is not a directory"}, 1},
		{"DEST inside the checkout", script, []string{apps[0], filepath.Join(root, "apps", "forked"), "example.com/x"}, []string{"is inside this checkout"}, 1},
		{"module path with a space", script, []string{apps[0], newDest, "example.com/my pool"}, []string{`bad module path "example.com/my pool"`, "invalid char"}, 1},
		{"module path with a trailing slash", script, []string{apps[0], newDest, "example.com/x/"}, []string{"bad module path", "trailing slash"}, 1},
		{"empty module path", script, []string{apps[0], newDest, ""}, []string{"the module path is empty"}, 1},
		{"module path under core", script, []string{apps[0], newDest, forkCorePath + "/x"}, []string{"bad module path", "framework's own module"}, 1},
		{"module path of the app", script, []string{apps[0], newDest, forkAppsPath + apps[0]}, []string{"bad module path", "app's own path"}, 1},
		{"app importing the integration module", fakeScript, []string{"bad", newDest, "example.com/x"},
			[]string{"other than core", "apps/bad/bad_test.go", "github.com/stratumgo/stratum/integration/harness"}, 1},
		{"app replacing a module by a relative directory", fakeScript, []string{"other", newDest, "example.com/x"},
			[]string{"relative directories", "example.com/lib => ../lib"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bashBin, append([]string{tc.script}, tc.args...)...)
			cmd.Dir = tmp
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("fork-app %q: %v, want a non-zero exit status\nstdout:\n%s\nstderr:\n%s", tc.args, err, stdout.String(), stderr.String())
			}
			if tc.status != 0 && exit.ExitCode() != tc.status {
				t.Errorf("exit status %d, want %d", exit.ExitCode(), tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("the error output lacks %q:\n%s", w, stderr.String())
				}
			}
			if _, err := os.Stat(newDest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("fork-app left %s behind (%v)", newDest, err)
			}
			if _, err := os.Stat(filepath.Join(root, "apps", "forked")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("fork-app made apps/forked in the checkout (%v)", err)
			}
		})
	}
}

func forkReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
