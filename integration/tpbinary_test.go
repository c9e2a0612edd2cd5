package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/integration/harness"
)

var listeningRE = regexp.MustCompile(`msg=listening .*address=(\S+)`)

// waitOutput polls a process's output until re matches (there is no
// notification for "a line was written"), returning the first group.
func waitOutput(t *testing.T, p *harness.Process, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m[1]
		}
		select {
		case <-p.Exited():
			t.Fatalf("process exited before printing %s:\n%s", re, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v:\n%s", re, within, p.Output())
		}
		time.Sleep(20 * time.Millisecond) // output has no notification to wait on
	}
}

// 7. sv2 probe against the built sv2-templateprovider.
func TestProbeTemplateProviderBinary(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 3*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		if _, err := n.Generate(ctx, 3); err != nil {
			t.Fatal(err)
		}
		tpBin := harness.Build(t, "../apps/templateprovider/cmd/sv2-templateprovider")
		sv2Bin := harness.Build(t, "../core/cmd/sv2")
		sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
		proc := harness.StartProcess(t, "sv2-templateprovider", tpBin,
			"--listen", "127.0.0.1:0", "--rpc-url", n.RPCURL(), "--rpc-user", n.RPCUser(), "--rpc-pass", n.RPCPass(),
			"--network", "regtest", "--authority-secret-key", noise.FormatSecretKey(sk), "--log-format", "text", "--monitor-listen", "127.0.0.1:0")
		addr := waitOutput(t, proc, listeningRE, time.Minute)
		if !strings.Contains(proc.Output(), pk.String()) {
			t.Errorf("the authority public key is not printed at start:\n%s", proc.Output())
		}

		out, err := exec.CommandContext(ctx, sv2Bin, "probe", "--protocol", "template-distribution", "--authority-pubkey", pk.String(), "--timeout", "30s", addr).Output()
		if err != nil {
			t.Fatalf("sv2 probe: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 4 {
			t.Fatalf("probe printed %d lines, want handshake, setup, template and prev hash:\n%s", len(lines), out)
		}
		var hs struct {
			Handshake struct {
				Encrypted, Authenticated bool
			} `json:"handshake"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &hs); err != nil || !hs.Handshake.Encrypted || !hs.Handshake.Authenticated {
			t.Errorf("handshake line %s (%v)", lines[0], err)
		}
		for i, want := range []string{"SetupConnection.Success", "NewTemplate", "SetNewPrevHash"} {
			var m struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(lines[i+1]), &m); err != nil || m.Message != want {
				t.Errorf("line %d: %s, want %s", i+2, lines[i+1], want)
			}
		}
	})
}

// 8. Bad start-up settings end the binary with one clear line and a non-zero status.
func TestTemplateProviderBinaryBadInput(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		tpBin := harness.Build(t, "../apps/templateprovider/cmd/sv2-templateprovider")
		sk, _, _ := noise.GenerateAuthorityKeyPair(nil)
		good := []string{"--listen", "127.0.0.1:0", "--rpc-url", n.RPCURL(), "--rpc-user", n.RPCUser(), "--rpc-pass", n.RPCPass(),
			"--network", "regtest", "--authority-secret-key", noise.FormatSecretKey(sk), "--monitor-listen", ""}
		with := func(flag, value string) []string {
			args := append([]string(nil), good...)
			for i := range args {
				if args[i] == flag {
					args[i+1] = value
				}
			}
			return args
		}
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"unknown RPC host", with("--rpc-url", "http://no-such-host.invalid:18334"), "no-such-host.invalid"},
			{"bad credentials", with("--rpc-pass", "wrong"), "authentication failed"},
			{"wrong network", with("--network", "mainnet"), `is on "regtest", not mainnet`},
			{"bad key", with("--authority-secret-key", "not-a-key"), "--authority-secret-key"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, tpBin, tt.args...)
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() == 0 {
					t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
				}
				lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "sv2-templateprovider: ") || !strings.Contains(lines[0], tt.want) {
					t.Errorf("stderr %q: want one line mentioning %q", stderr.String(), tt.want)
				}
			})
		}
	})
}
