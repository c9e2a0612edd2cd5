package main

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/apps/proxy"
)

const example = "../../sv2-proxy.example.toml"

// The example configuration parses, its values reach the flags and are
// good ones, and flags override the file.
func TestExampleConfig(t *testing.T) {
	keys := []string{"listen", "cert-validity", "primary-probe", "mode", "user", "upstream-channels", "channel-index-size",
		"extranonce-size", "shares-per-minute", "vardiff-interval", "max-connections", "max-channels-per-connection",
		"max-channels-per-source", "authority-key-file"}
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
	if err := app.Run([]string{"sv2-proxy", "--config", example, "--listen", "127.0.0.1:9", "--mode", "passthrough"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listen": "127.0.0.1:9", "mode": "passthrough", // flags override the file
		"cert-validity": "1h0m0s", "primary-probe": "5s", "user": "my-farm", "upstream-channels": "1",
		"channel-index-size": "2", "extranonce-size": "0", "shares-per-minute": "6", "vardiff-interval": "30s",
		"max-connections": "10000", "max-channels-per-connection": "1024", "max-channels-per-source": "8192",
		"authority-key-file": "proxy-key.json",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	wantUp := []string{"pool.example.com:3333,9cT8C3eFHBML8qr3CC6iyyLNNq6ne13PCJ6ioZ2Kx56YEc7p773", "backup.example.com:3333"}
	if !slices.Equal(upstreams, wantUp) {
		t.Errorf("upstream = %q, want %q", upstreams, wantUp)
	}
	for _, s := range upstreams {
		if _, err := parseUpstream(s); err != nil {
			t.Errorf("example upstream: %v", err)
		}
	}
	if _, err := proxy.ParseMode("aggregate"); err != nil {
		t.Error(err)
	}
}
