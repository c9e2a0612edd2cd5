package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/noise"
)

const example = "../../sv2-jds.example.toml"

// The example configuration parses, a config file's values reach the flags,
// and flags override the file.
func TestExampleConfig(t *testing.T) {
	keys := []string{"listen", "network", "node-rpc-url", "tp-address", "tp-authority-pubkey", "payout", "mode",
		"token-lifetime", "max-tokens-per-connection", "keep-jobs", "missing-timeout", "mempool-refresh", "max-connections", "authority-key-file"}
	app := newApp()
	got := map[string]string{}
	app.Action = func(c *cli.Context) error {
		for _, k := range keys {
			got[k] = c.String(k)
		}
		return nil
	}
	if err := app.Run([]string{"sv2-jds", "--config", example, "--listen", "127.0.0.1:9", "--mode", "coinbase-only"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listen": "127.0.0.1:9", "mode": "coinbase-only", // flags override the file
		"network": "regtest", "node-rpc-url": "https://127.0.0.1:18334", "tp-address": "127.0.0.1:8442",
		"tp-authority-pubkey": "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh",
		"payout":              "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
		"token-lifetime":      "10m0s", "max-tokens-per-connection": "32", "keep-jobs": "4",
		"missing-timeout": "30s", "mempool-refresh": "2s", "max-connections": "10000",
		"authority-key-file": "jds-key.json",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// The example's values are good ones.
	net, err := network.Params(got["network"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.OutputScript(got["payout"], net); err != nil {
		t.Errorf("example payout: %v", err)
	}
	if _, err := noise.ParsePublicKey(got["tp-authority-pubkey"]); err != nil {
		t.Errorf("example tp-authority-pubkey: %v", err)
	}
}

// An SV2_JDS_* environment variable sets its flag.
func TestEnvironment(t *testing.T) {
	t.Setenv("SV2_JDS_KEEP_JOBS", "7")
	app := newApp()
	var keep int
	app.Action = func(c *cli.Context) error { keep = c.Int("keep-jobs"); return nil }
	if err := app.Run([]string{"sv2-jds", "--config", example}); err != nil {
		t.Fatal(err)
	}
	if keep != 7 {
		t.Errorf("keep-jobs = %d, want 7 from SV2_JDS_KEEP_JOBS over the file", keep)
	}
}

// keygen writes a new key file with mode 0600 and returns its path.
func keygen(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.json")
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-jds", "keygen", "--out", path}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "authority public key: ") {
		t.Errorf("output %q", out.String())
	}
	return path
}

func TestKeygenWritesAKeyFile(t *testing.T) {
	path := keygen(t)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if err := newApp().Run([]string{"sv2-jds", "keygen", "--out", path}); err == nil {
		t.Error("keygen replaced an existing key file without --force")
	}
}

// Bad or missing settings are one-line errors naming the flag, before the
// JDS starts.
func TestBadFlags(t *testing.T) {
	key := keygen(t)
	base := []string{"sv2-jds", "--authority-key-file", key, "--network", "regtest", "--node-rpc-url", "http://127.0.0.1:1", "--listen", "127.0.0.1:0"}
	payout := []string{"--payout", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"}
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"missing payout", nil, "--payout"},
		{"bad payout", []string{"--payout", "not-an-address"}, "--payout"},
		{"payout of another network", []string{"--payout", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}, "--payout"},
		{"bad mode", append([]string{"--mode", "partial"}, payout...), "--mode"},
		{"missing node", append([]string{"--node-rpc-url", ""}, payout...), "--node-rpc-url"},
		{"bad tp key", append([]string{"--tp-authority-pubkey", "xyz"}, payout...), "--tp-authority-pubkey"},
		{"bad network", append([]string{"--network", "moonnet"}, payout...), "--network"},
		{"no authority key", append([]string{"--authority-key-file", "", "--plain"}, payout...), "--authority-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.ExitErrHandler = func(*cli.Context, error) {}
			err := app.Run(append(append([]string{}, base...), tc.args...))
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.flag) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s", msg, tc.flag)
			}
		})
	}
}

// --help names each flag's default once (a Value and a "(default ...)" in
// the usage text used to contradict each other).
func TestHelpNamesEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-jds", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}
