package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/noise"
)

const example = "../../sv2-jdc.example.toml"

// The example's upstreams, as the file gives them.
var exampleUpstreams = []string{
	"pool.example.com:3333,9cT8C3eFHBML8qr3CC6iyyLNNq6ne13PCJ6ioZ2Kx56YEc7p773,pool.example.com:34264,9atg92bJPxC9doeT41QrPeDmjNHurCZeWGUic4HrSubTKZAbNKd",
	"backup.example.com:3333,,backup.example.com:34264,",
}

// The example configuration parses, a config file's values reach the flags,
// and flags override the file.
func TestExampleConfig(t *testing.T) {
	keys := []string{"listen", "cert-validity", "tp-address", "tp-authority-pubkey", "mode", "user", "coinbase-tag",
		"network", "solo-payout", "shares-per-minute", "vardiff-interval", "max-connections", "authority-key-file"}
	app := newApp()
	got := map[string]string{}
	var upstreams []string
	app.Action = func(c *cli.Context) error {
		for _, k := range keys {
			got[k] = c.String(k)
		}
		upstreams = c.StringSlice("upstream")
		return nil
	}
	if err := app.Run([]string{"sv2-jdc", "--config", example, "--listen", "127.0.0.1:9", "--mode", "coinbase-only"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listen": "127.0.0.1:9", "mode": "coinbase-only", // flags override the file
		"cert-validity": "1h0m0s", "tp-address": "127.0.0.1:8442",
		"tp-authority-pubkey": "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh",
		"user":                "my-farm", "coinbase-tag": "/my farm/", "network": "regtest",
		"solo-payout":       "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
		"shares-per-minute": "6", "vardiff-interval": "30s", "max-connections": "10000",
		"authority-key-file": "jdc-key.json",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// A TOML array's strings keep their commas.
	if !slices.Equal(upstreams, exampleUpstreams) {
		t.Errorf("upstream = %q, want %q", upstreams, exampleUpstreams)
	}
	// The example's values are good ones.
	chain, err := network.Params(got["network"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.OutputScript(got["solo-payout"], chain); err != nil {
		t.Errorf("example solo-payout: %v", err)
	}
	if _, err := noise.ParsePublicKey(got["tp-authority-pubkey"]); err != nil {
		t.Errorf("example tp-authority-pubkey: %v", err)
	}
	for _, s := range upstreams {
		if _, err := parseUpstream(s); err != nil {
			t.Errorf("example upstream: %v", err)
		}
	}
}

// An --upstream on the command line replaces the file's, whole: its commas
// are no separators.
func TestUpstreamFlagOverridesFile(t *testing.T) {
	app := newApp()
	var upstreams []string
	app.Action = func(c *cli.Context) error { upstreams = c.StringSlice("upstream"); return nil }
	one := "127.0.0.1:3333,,127.0.0.1:34264,"
	if err := app.Run([]string{"sv2-jdc", "--config", example, "--upstream", one}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(upstreams, []string{one}) {
		t.Errorf("upstream = %q, want [%q]", upstreams, one)
	}
}

// An SV2_JDC_* environment variable sets its flag over the file; several
// upstreams in one variable are separated by ';'.
func TestEnvironment(t *testing.T) {
	t.Setenv("SV2_JDC_USER", "other-farm")
	t.Setenv("SV2_JDC_UPSTREAM", strings.Join(exampleUpstreams[:], ";"))
	app := newApp()
	var user string
	var upstreams []string
	app.Action = func(c *cli.Context) error {
		user, upstreams = c.String("user"), c.StringSlice("upstream")
		return nil
	}
	if err := app.Run([]string{"sv2-jdc", "--config", example}); err != nil {
		t.Fatal(err)
	}
	if user != "other-farm" {
		t.Errorf("user = %q, want other-farm from SV2_JDC_USER over the file", user)
	}
	if !slices.Equal(upstreams, exampleUpstreams) {
		t.Errorf("upstream = %q, want %q from SV2_JDC_UPSTREAM", upstreams, exampleUpstreams)
	}
}

// parseUpstream reads both keys, or none, and trims blanks around the parts.
func TestParseUpstream(t *testing.T) {
	up, err := parseUpstream(exampleUpstreams[0])
	if err != nil {
		t.Fatal(err)
	}
	if up.Pool.Address != "pool.example.com:3333" || up.JDS.Address != "pool.example.com:34264" ||
		up.Pool.AuthorityKey == nil || up.JDS.AuthorityKey == nil || up.Pool.Plain || up.JDS.Plain {
		t.Errorf("upstream %+v", up)
	} else if up.Pool.AuthorityKey.String() != "9cT8C3eFHBML8qr3CC6iyyLNNq6ne13PCJ6ioZ2Kx56YEc7p773" ||
		up.JDS.AuthorityKey.String() != "9atg92bJPxC9doeT41QrPeDmjNHurCZeWGUic4HrSubTKZAbNKd" {
		t.Errorf("keys %s, %s", up.Pool.AuthorityKey, up.JDS.AuthorityKey)
	}
	up, err = parseUpstream(" 10.0.0.1:3333 , , [::1]:34264 , ")
	if err != nil {
		t.Fatal(err)
	}
	if up.Pool.Address != "10.0.0.1:3333" || up.JDS.Address != "[::1]:34264" || up.Pool.AuthorityKey != nil || up.JDS.AuthorityKey != nil {
		t.Errorf("upstream %+v", up)
	}
}

// keygen writes a new key file with mode 0600 and returns its path.
func keygen(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.json")
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-jdc", "keygen", "--out", path}); err != nil {
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
	if err := newApp().Run([]string{"sv2-jdc", "keygen", "--out", path}); err == nil {
		t.Error("keygen replaced an existing key file without --force")
	}
}

// Bad or missing settings are one-line errors naming the flag, before the
// JDC starts.
func TestBadFlags(t *testing.T) {
	key := keygen(t)
	base := []string{"sv2-jdc", "--authority-key-file", key, "--network", "regtest", "--user", "farm", "--listen", "127.0.0.1:0"}
	up := []string{"--upstream", "127.0.0.1:1,,127.0.0.1:2,"}
	with := func(args ...string) []string { return append(append([]string{}, up...), args...) }
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"missing upstream", nil, "--upstream"},
		{"upstream of three parts", []string{"--upstream", "127.0.0.1:1,,127.0.0.1:2"}, "--upstream"},
		{"upstream of five parts", []string{"--upstream", "127.0.0.1:1,,127.0.0.1:2,,x"}, "--upstream"},
		{"bad pool key", []string{"--upstream", "127.0.0.1:1,xyz,127.0.0.1:2,"}, "--upstream"},
		{"bad JDS key", []string{"--upstream", "127.0.0.1:1,,127.0.0.1:2,xyz"}, "--upstream"},
		{"pool address without port", []string{"--upstream", "127.0.0.1,,127.0.0.1:2,"}, "--upstream"},
		{"no JDS address", []string{"--upstream", "127.0.0.1:1,,,"}, "--upstream"},
		{"bad second upstream", with("--upstream", "127.0.0.1:3"), "--upstream"},
		{"missing user", with("--user", ""), "--user"},
		{"long coinbase tag", with("--coinbase-tag", strings.Repeat("x", 33)), "--coinbase-tag"},
		{"bad mode", with("--mode", "partial"), "--mode"},
		{"bad solo payout", with("--solo-payout", "not-an-address"), "--solo-payout"},
		{"solo payout of another network", with("--solo-payout", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"), "--solo-payout"},
		{"bad network", with("--network", "moonnet"), "--network"},
		{"bad tp key", with("--tp-authority-pubkey", "xyz"), "--tp-authority-pubkey"},
		{"no authority key", with("--authority-key-file", ""), "--authority-key-file"},
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
	if err := app.Run([]string{"sv2-jdc", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}
