package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestExampleConfig(t *testing.T) {
	app := newApp()
	var kind string
	var threads int
	app.Action = func(c *cli.Context) error {
		kind, threads = c.String("channel-kind"), c.Int("threads")
		return nil
	}
	if err := app.Run([]string{"sv2-cpuminer", "--config", "../../sv2-cpuminer.example.toml"}); err != nil {
		t.Fatal(err)
	}
	if kind != "extended" || threads != 2 {
		t.Errorf("channel-kind %q, threads %d", kind, threads)
	}
}

// bench prints exactly one final line in the documented form.
func TestBenchOutput(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-cpuminer", "bench", "--seconds", "1", "--threads", "1"}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^hashrate_hs=[0-9.]+ threads=1\n$`).MatchString(out.String()) {
		t.Errorf("bench printed %q", out.String())
	}
}

// --help names each flag's default once (a Value and a "(default ...)" in
// the usage text used to contradict each other).
func TestHelpNamesEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-cpuminer", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}
