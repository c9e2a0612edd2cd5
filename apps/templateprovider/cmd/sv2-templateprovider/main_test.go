package main

import (
	"github.com/urfave/cli/v2"

	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example configuration parses, and a config file's values reach the flags.
func TestExampleConfig(t *testing.T) {
	app := newApp()
	var got map[string]string
	app.Action = func(c *cli.Context) error {
		got = map[string]string{"listen": c.String("listen"), "network": c.String("network"), "rpc-url": c.String("rpc-url"), "fee-delta": c.String("fee-delta")}
		return nil
	}
	if err := app.Run([]string{"sv2-templateprovider", "--config", "../../sv2-templateprovider.example.toml", "--listen", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"listen": "127.0.0.1:9", "network": "regtest", "rpc-url": "https://127.0.0.1:18334", "fee-delta": "1000"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (flags override the file)", k, got[k], v)
		}
	}
}

func TestKeygenWritesAKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.json")
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-templateprovider", "keygen", "--out", path}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "authority public key: ") {
		t.Errorf("output %q", out.String())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if err := app.Run([]string{"sv2-templateprovider", "keygen", "--out", path}); err == nil {
		t.Error("keygen replaced an existing key file without --force")
	}
}

// --help names each flag's default once (a Value and a "(default ...)" in
// the usage text used to contradict each other).
func TestHelpNamesEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-templateprovider", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}
