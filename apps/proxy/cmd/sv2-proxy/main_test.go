package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stratumgo/stratum/apps/proxy"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

// parseUpstream reads ADDR, ADDR,KEY and ADDR,plain, trimming blanks, and
// refuses a missing or malformed address and a bad key.
func TestParseUpstream(t *testing.T) {
	_, pub, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := pub.String()
	for _, tc := range []struct {
		in, addr string
		plain    bool
		key      string
	}{
		{in: "pool.example.com:3333", addr: "pool.example.com:3333"},
		{in: " 10.0.0.1:3333 , plain ", addr: "10.0.0.1:3333", plain: true},
		{in: "[::1]:3333," + key, addr: "[::1]:3333", key: key},
		{in: "pool.example.com:3333, ", addr: "pool.example.com:3333"},
	} {
		up, err := parseUpstream(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		gotKey := ""
		if up.AuthorityKey != nil {
			gotKey = up.AuthorityKey.String()
		}
		if up.Address != tc.addr || up.Plain != tc.plain || gotKey != tc.key {
			t.Errorf("%q: %+v (key %q), want %s plain %v key %q", tc.in, up, gotKey, tc.addr, tc.plain, tc.key)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "no address"},
		{" ,plain", "no address"},
		{"pool.example.com", "want host:port"},
		{"pool.example.com:3333:1", "want host:port"},
		{"pool.example.com:3333,notakey", `key "notakey"`},
		{"pool.example.com:3333," + key[:len(key)-1], "key"},
	} {
		if up, err := parseUpstream(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %+v, %v, want an error with %q", tc.in, up, err, tc.want)
		}
	}
}

// --help names each default once: on a line of its own flag, and never
// twice on one line.
func TestHelpNamesEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sv2-proxy", "--help"}); err != nil {
		t.Fatal(err)
	}
	help := strings.Split(out.String(), "\n")
	for _, line := range help {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
	_, options, ok := strings.Cut(out.String(), "GLOBAL OPTIONS:")
	if !ok {
		t.Fatalf("no options in the help:\n%s", out.String())
	}
	lines := strings.Split(options, "\n")
	for flag, def := range map[string]any{
		"listen": fmt.Sprintf("%q", proxy.DefaultListen), "cert-validity": noise.DefaultCertValidity,
		"mode": fmt.Sprintf("%q", proxy.ModeAggregate), "upstream-channels": proxy.DefaultUpstreamChannels,
		"channel-index-size": proxy.DefaultChannelIndexSize, "shares-per-minute": proxy.DefaultSharesPerMinute,
		"vardiff-interval": proxy.DefaultVardiffInterval, "primary-probe": proxy.DefaultPrimaryProbe,
		"max-connections": service.DefaultMaxConnections, "max-channels-per-connection": proxy.DefaultMaxChannelsPerConnection,
		"max-channels-per-source": proxy.DefaultMaxChannelsPerSource,
	} {
		want := fmt.Sprintf("(default: %v)", def)
		found := 0
		for _, line := range lines {
			if strings.HasPrefix(strings.TrimSpace(line), "--"+flag+" ") {
				found++
				if !strings.Contains(line, want) {
					t.Errorf("--%s: %s, want %s", flag, strings.TrimSpace(line), want)
				}
			}
		}
		if found != 1 {
			t.Errorf("--%s is on %d lines of the help", flag, found)
		}
	}
}

// The command refuses what it cannot start with before starting anything.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plain", "--upstream", "127.0.0.1:1,plain"}, "--user is required"},
		{[]string{"--plain", "--user", "farm"}, "--upstream is required"},
		{[]string{"--plain", "--user", "farm", "--upstream", "127.0.0.1"}, "want host:port"},
		{[]string{"--plain", "--user", "farm", "--mode", "relay", "--upstream", "127.0.0.1:1"}, "--mode"},
		{[]string{"--plain", "--user", "farm", "--upstream", "127.0.0.1:1", "extra"}, `unexpected argument "extra"`},
	} {
		app := newApp()
		app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
		err := app.Run(append([]string{"sv2-proxy", "--log-level", "error", "--listen", "127.0.0.1:0"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
