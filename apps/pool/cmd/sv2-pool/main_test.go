package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// The example configuration parses and its values reach the flags.
func TestExampleConfig(t *testing.T) {
	app := newApp()
	var payouts []string
	var network string
	app.Action = func(c *cli.Context) error {
		payouts, network = c.StringSlice("payout"), c.String("network")
		return nil
	}
	if err := app.Run([]string{"sv2-pool", "--config", "../../sv2-pool.example.toml"}); err != nil {
		t.Fatal(err)
	}
	if len(payouts) != 2 || network != "regtest" {
		t.Errorf("payouts %q, network %q", payouts, network)
	}
}

// --help names each flag's default once (a Value and a "(default ...)" in
// the usage text used to contradict each other).
func TestHelpNamesEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-pool", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}

// --server-id reaches the pool from the command line, the environment and
// the TOML file; it defaults to 0 and refuses ids outside 0 to 255, naming
// the flag, before anything starts.
func TestServerIDFlag(t *testing.T) {
	toml := filepath.Join(t.TempDir(), "pool.toml")
	if err := os.WriteFile(toml, []byte("server-id = 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		env  string
		want int
	}{
		{nil, "", 0},
		{[]string{"--server-id", "7"}, "", 7},
		{[]string{"--server-id", "255"}, "", 255},
		{nil, "3", 3},
		{[]string{"--config", toml}, "", 9},
		{[]string{"--config", toml, "--server-id", "1"}, "", 1},
	} {
		t.Setenv("SV2_POOL_SERVER_ID", c.env)
		if c.env == "" {
			os.Unsetenv("SV2_POOL_SERVER_ID")
		}
		app := newApp()
		got := -1
		app.Action = func(ctx *cli.Context) error {
			var err error
			got, err = serverID(ctx)
			return err
		}
		if err := app.Run(append([]string{"sv2-pool"}, c.args...)); err != nil || got != c.want {
			t.Errorf("%q, env %q: server id %d, %v; want %d", c.args, c.env, got, err, c.want)
		}
	}
	os.Unsetenv("SV2_POOL_SERVER_ID")

	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("server-id = 300\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--server-id", "256"}, {"--server-id", "-1"}, {"--config", bad}} {
		// The real action: it must stop at the flag (and without a payout
		// would fail later anyway, rather than serve).
		app := newApp()
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		err := app.Run(append([]string{"sv2-pool", "--plain", "--network", "regtest", "--listen", "127.0.0.1:0"}, args...))
		if err == nil || !strings.Contains(err.Error(), "--server-id") || !strings.Contains(err.Error(), "0 to 255") {
			t.Errorf("%q: %v, want an error naming --server-id and 0 to 255", args, err)
		}
	}
}
