package main

import (
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
