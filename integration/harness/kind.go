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

// Kind names a node implementation the harness can run in regtest.
type Kind string

const (
	// Btcd is btcd, built from the module cache (BtcdPath): always there.
	Btcd Kind = "btcd"
	// Bitcoind is Bitcoin Core's bitcoind, run when the BitcoindEnv
	// environment variable names its binary. Nothing is downloaded or built:
	// without it, tests for this kind are skipped.
	Bitcoind Kind = "bitcoind"
)

// BitcoindEnv is the environment variable that names the bitcoind binary
// (a path, or a name looked up in PATH). A build without a wallet is enough.
const BitcoindEnv = "SV2_BITCOIND"

// ErrNoBitcoind means BitcoindEnv is not set: tests against bitcoind skip.
var ErrNoBitcoind = errors.New(BitcoindEnv + " not set: skipping the run against Bitcoin Core (set it to a bitcoind binary to run it; nothing is downloaded)")

// Kinds returns every kind of node, btcd first.
func Kinds() []Kind { return []Kind{Btcd, Bitcoind} }

func (k Kind) orDefault() Kind {
	if k == "" {
		return Btcd
	}
	return k
}

// String returns the kind's name ("btcd" for the zero Kind).
func (k Kind) String() string { return string(k.orDefault()) }

// Available reports whether nodes of this kind can be started here. For
// Bitcoind it wraps ErrNoBitcoind when BitcoindEnv is not set, and is
// another error when it is set but names no runnable bitcoind. Btcd is
// always available (it is built on first use).
func (k Kind) Available() error {
	switch k.orDefault() {
	case Btcd:
		return nil
	case Bitcoind:
		_, err := BitcoindPath()
		return err
	}
	return fmt.Errorf("harness: unknown node kind %q", string(k))
}

// EachNode runs f in a parallel subtest per kind of node, named after it
// ("btcd", "bitcoind"). The bitcoind subtest is skipped, saying so, when
// BitcoindEnv is not set, and fails when it is set to something that is not
// a runnable bitcoind.
func EachNode(t *testing.T, f func(t *testing.T, kind Kind)) {
	t.Helper()
	for _, k := range Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			t.Helper()
			t.Parallel()
			SkipUnavailable(t, k)
			f(t, k)
		})
	}
}

// SkipUnavailable skips the test when kind's binary was not given (bitcoind
// without BitcoindEnv), saying so, and fails it when the binary given does
// not run.
func SkipUnavailable(t testing.TB, kind Kind) {
	t.Helper()
	if err := kind.Available(); err != nil {
		if errors.Is(err, ErrNoBitcoind) {
			t.Skip(err.Error())
		}
		t.Fatal(err)
	}
}

// BitcoindPath returns the bitcoind binary BitcoindEnv names, once it has
// checked that it runs and is Bitcoin Core ("bitcoind -version"). It wraps
// ErrNoBitcoind when the variable is not set.
func BitcoindPath() (string, error) {
	b := bitcoindInfo()
	return b.path, b.err
}

// BitcoindVersion returns the first line of "bitcoind -version" of the
// binary BitcoindEnv names, for logs.
func BitcoindVersion() (string, error) {
	b := bitcoindInfo()
	return b.version, b.err
}

// bitcoindInfo checks the binary once per test binary: the environment does
// not change while the tests run.
var bitcoindInfo = sync.OnceValue(func() bitcoindBinary {
	path, version, err := checkBitcoind(os.Getenv(BitcoindEnv))
	return bitcoindBinary{path, version, err}
})

type bitcoindBinary struct {
	path, version string
	err           error
}

func checkBitcoind(name string) (path, version string, err error) {
	if name == "" {
		return "", "", ErrNoBitcoind
	}
	path, err = exec.LookPath(name)
	if err != nil {
		return "", "", fmt.Errorf("harness: %s=%q: %w", BitcoindEnv, name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-version").CombinedOutput()
	first, _, _ := strings.Cut(string(bytes.TrimSpace(out)), "\n")
	if err != nil {
		return "", "", fmt.Errorf("harness: %s=%q: %s -version: %w: %s", BitcoindEnv, name, path, err, first)
	}
	if !strings.Contains(first, "Bitcoin Core") {
		return "", "", fmt.Errorf("harness: %s=%q: %s -version printed %q, want Bitcoin Core's bitcoind", BitcoindEnv, name, path, first)
	}
	return path, first, nil
}
