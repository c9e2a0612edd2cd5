package appkit

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
)

func cliCtx(t *testing.T, args ...string) *cli.Context {
	t.Helper()
	set := flag.NewFlagSet("test", flag.ContinueOnError)
	for _, f := range append(CommonFlags("T"), AuthorityFlags("T")...) {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cli.NewContext(cli.NewApp(), set, nil)
}

func TestKeyFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	pk, err := WriteKeyFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ReadKeyFile(path)
	if err != nil || sk.PublicKey() != pk {
		t.Fatalf("read back %v, %v", sk.PublicKey(), err)
	}
	if _, err := WriteKeyFile(path, false); err == nil {
		t.Error("replaced an existing file without force")
	}
	if _, err := WriteKeyFile(path, true); err != nil {
		t.Errorf("force: %v", err)
	}
	// A public key that does not match the secret is refused.
	_, other, _ := noise.GenerateAuthorityKeyPair(nil)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"secret_key":"`+noise.FormatSecretKey(sk)+`","public_key":"`+other.String()+`"}`), 0o600)
	if _, err := ReadKeyFile(bad); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched pair: %v", err)
	}
}

func TestAuthorityKeyFlags(t *testing.T) {
	sk, _, _ := noise.GenerateAuthorityKeyPair(nil)
	path := filepath.Join(t.TempDir(), "k.json")
	WriteKeyFile(path, false)
	if k, err := AuthorityKey(cliCtx(t, "--authority-secret-key", noise.FormatSecretKey(sk))); err != nil || *k != sk {
		t.Errorf("secret key flag: %v", err)
	}
	if _, err := AuthorityKey(cliCtx(t, "--authority-key-file", path)); err != nil {
		t.Errorf("key file flag: %v", err)
	}
	if _, err := AuthorityKey(cliCtx(t)); !errors.Is(err, ErrNoAuthorityKey) {
		t.Errorf("no flag: %v", err)
	}
	if _, err := AuthorityKey(cliCtx(t, "--authority-secret-key", noise.FormatSecretKey(sk), "--authority-key-file", path)); err == nil {
		t.Error("both flags accepted")
	}
	if _, err := AuthorityKey(cliCtx(t, "--authority-secret-key", "nonsense")); err == nil || !strings.Contains(err.Error(), "--authority-secret-key") {
		t.Errorf("bad key: %v", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := Logger(cliCtx(t, "--log-format", "json", "--log-level", "warn"), &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Errorf("log output %q", buf.String())
	}
	for _, args := range [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}} {
		if _, err := Logger(cliCtx(t, args...), &buf); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if got := Env("POOL", "tp-address"); got[0] != "SV2_POOL_TP_ADDRESS" {
		t.Errorf("Env = %v", got)
	}
}

// Key files are the secret's: mode 0600 even when replacing a wider file,
// in a directory made 0700 when it is missing.
func TestKeyFileModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "k.json")
	if _, err := WriteKeyFile(path, false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %o", p, fi.Mode().Perm(), err, want)
		}
	}
	wide := filepath.Join(t.TempDir(), "wide.json")
	os.WriteFile(wide, []byte("{}"), 0o644)
	if _, err := WriteKeyFile(wide, true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(wide); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file has mode %o, want 600", fi.Mode().Perm())
	}
}

// NodeConfig is nil without --node-rpc-url, carries the flags with it, and
// names --node-rpc-cert when the certificate cannot be read.
func TestNodeConfig(t *testing.T) {
	run := func(args ...string) (*node.Config, error) {
		var cfg *node.Config
		var err error
		app := &cli.App{Flags: NodeFlags("TEST", "`URL`"), Action: func(c *cli.Context) error {
			cfg, err = NodeConfig(c, slog.New(slog.DiscardHandler))
			return nil
		}}
		if e := app.Run(append([]string{"x"}, args...)); e != nil {
			t.Fatal(e)
		}
		return cfg, err
	}
	if cfg, err := run(); cfg != nil || err != nil {
		t.Errorf("no URL: %+v, %v", cfg, err)
	}
	cfg, err := run("--node-rpc-url", "http://127.0.0.1:1", "--node-rpc-user", "u", "--node-rpc-pass", "p")
	if err != nil || cfg.URL != "http://127.0.0.1:1" || cfg.User != "u" || cfg.Password != "p" || cfg.Logger == nil {
		t.Errorf("flags: %+v, %v", cfg, err)
	}
	if _, err := run("--node-rpc-url", "https://127.0.0.1:1", "--node-rpc-cert", "/nonexistent"); err == nil || !strings.Contains(err.Error(), "--node-rpc-cert") {
		t.Errorf("a missing certificate: %v", err)
	}
}
