package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// pool is a test server identity: an authority key and a static key it
// certified, with the certificate every handshake presents.
type pool struct {
	authority noise.PublicKey
	cert      noise.Certificate
	static    noise.PublicKey
	responder noise.ResponderConfig
}

func newPool(t *testing.T) pool {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	static, err := noise.GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// An issuer hands every handshake the same certificate, so the test knows
	// which one the probe must print.
	issuer := noise.NewCertificateIssuer(sk, static, time.Hour, nil, nil)
	cert, err := issuer.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	return pool{pk, cert, static.PublicKey(), noise.ResponderConfig{Issuer: issuer}}
}

// handshakeLine is the first line the probe must print for this pool.
func (p pool) handshakeLine(authenticated bool) string {
	return fmt.Sprintf(`{"handshake":{"encrypted":true,"authenticated":%t,"certificate":{"version":%d,"valid_from":%d,"not_valid_after":%d},"server_static_key":"%x"}}`,
		authenticated, p.cert.Version, p.cert.ValidFrom, p.cert.NotValidAfter, p.static[:])
}

// serve accepts one connection on a fresh port of 127.0.0.1, secures it with
// responder (plain if nil) and runs script on it. done yields script's error
// once the probe has hung up.
func serve(t *testing.T, responder *noise.ResponderConfig, script func(*transport.Conn) error) (addr string, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() }) // ends Accept if the probe never connects
	result := make(chan error, 1)
	go func() {
		result <- func() error {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			var conn *transport.Conn
			if responder == nil {
				conn = transport.NewPlain(nc, transport.Config{})
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if conn, err = transport.Server(ctx, nc, transport.ServerConfig{Noise: *responder}); err != nil {
					return err
				}
			}
			defer conn.Close()
			if err := script(conn); err != nil {
				return err
			}
			// Closing before the probe does, with its bytes unread, would
			// reset the connection and could destroy what we sent.
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return nil
				}
			}
		}()
	}()
	return ln.Addr().String(), result
}

// readSetup reads the probe's first message, which must be SetupConnection.
func readSetup(c *transport.Conn) (*sv2.SetupConnection, error) {
	_, m, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	s, ok := m.(*sv2.SetupConnection)
	if !ok {
		return nil, fmt.Errorf("server got %s, want SetupConnection", sv2.Info(m).Name)
	}
	return s, nil
}

// answerSetup reads SetupConnection into *got and replies with reply.
func answerSetup(got **sv2.SetupConnection, reply sv2.Message) func(*transport.Conn) error {
	return func(c *transport.Conn) error {
		var err error
		if *got, err = readSetup(c); err != nil {
			return err
		}
		return c.WriteMessage(reply)
	}
}

// decodeLine is what sv2 decode prints for a frame carrying m, the form in
// which the probe must print received messages.
func decodeLine(t *testing.T, m sv2.Message) string {
	t.Helper()
	frame, err := sv2.AppendFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, sv2Bin, "", "decode", hex.EncodeToString(frame))
	if r.code != 0 {
		t.Fatalf("sv2 decode: exit %d: %s", r.code, r.stderr)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// wantSetup is the SetupConnection the probe sends to addr with default flags.
func wantSetup(t *testing.T, addr string, protocol sv2.Protocol) sv2.SetupConnection {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return sv2.SetupConnection{Protocol: protocol, MinVersion: 2, MaxVersion: 2, EndpointHost: host, EndpointPort: uint16(p), Vendor: "stratumgo sv2 probe"}
}

func TestProbeAuthenticated(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	success := &sv2.SetupConnectionSuccess{UsedVersion: 2, Flags: 0x1}
	var got *sv2.SetupConnection
	addr, done := serve(t, &p.responder, answerSetup(&got, success))

	r := run(t, sv2Bin, "", "probe", "--authority-pubkey", p.authority.String(), "--flags", "0x6", "--min-version", "2", "--max-version", "3", addr)
	if err := <-done; err != nil {
		t.Fatal("server:", err)
	}
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	want := []string{p.handshakeLine(true), decodeLine(t, success)}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	wantMsg := wantSetup(t, addr, sv2.ProtocolMining)
	wantMsg.MaxVersion, wantMsg.Flags = 3, 6
	if diff := cmp.Diff(&wantMsg, got); diff != "" {
		t.Errorf("SetupConnection (-want +got):\n%s", diff)
	}
}

func TestProbeWrongAuthority(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	_, other, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got *sv2.SetupConnection
	addr, done := serve(t, &p.responder, answerSetup(&got, &sv2.SetupConnectionSuccess{UsedVersion: 2}))

	r := run(t, sv2Bin, "", "probe", "--authority-pubkey", other.String(), addr)
	if err := <-done; err == nil || got != nil {
		t.Errorf("server got SetupConnection %+v (error %v), want none after a failed handshake", got, err)
	}
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
	}
	if lines := lines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], "handshake with") || !strings.Contains(lines[0], noise.ErrCertificateSignature.Error()) {
		t.Errorf("stderr %q, want one line naming the handshake and the certificate signature", r.stderr)
	}
}

func TestProbeUnauthenticated(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	success := &sv2.SetupConnectionSuccess{UsedVersion: 2}
	var got *sv2.SetupConnection
	addr, done := serve(t, &p.responder, answerSetup(&got, success))

	r := run(t, sv2Bin, "", "probe", addr)
	if err := <-done; err != nil {
		t.Fatal("server:", err)
	}
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q; want 0", r.code, r.stderr)
	}
	if diff := cmp.Diff([]string{p.handshakeLine(false), decodeLine(t, success)}, lines(r.stdout)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if lines := lines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], "warning") || !strings.Contains(lines[0], "not authenticated") {
		t.Errorf("stderr %q, want one warning line", r.stderr)
	}
	if want := wantSetup(t, addr, sv2.ProtocolMining); got == nil || *got != want {
		t.Errorf("server got %+v, want %+v", got, want)
	}
}

func TestProbeSetupError(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	refusal := &sv2.SetupConnectionError{Flags: 0, ErrorCode: "unsupported-protocol"}
	var got *sv2.SetupConnection
	addr, done := serve(t, &p.responder, answerSetup(&got, refusal))

	r := run(t, sv2Bin, "", "probe", "--protocol", "job-declaration", "--authority-pubkey", p.authority.String(), addr)
	if err := <-done; err != nil {
		t.Fatal("server:", err)
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if diff := cmp.Diff([]string{p.handshakeLine(true), decodeLine(t, refusal)}, lines(r.stdout)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if lines := lines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], `refused SetupConnection: error_code "unsupported-protocol"`) {
		t.Errorf("stderr %q, want one line with the error code", r.stderr)
	}
	if got == nil || got.Protocol != sv2.ProtocolJobDeclaration {
		t.Errorf("server got %+v, want protocol job-declaration", got)
	}
}

var (
	testTemplate = &sv2.NewTemplate{
		TemplateID: 7, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x03, 0x01, 0x02, 0x03}, CoinbaseTxInputSequence: 0xffffffff,
		CoinbaseTxValueRemaining: 312500000, CoinbaseTxOutputsCount: 1,
		CoinbaseTxOutputs: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x6a, 0x00}, MerklePath: []sv2.U256{{1}, {2}},
	}
	testPrevHash = &sv2.TemplateSetNewPrevHash{TemplateID: 7, PrevHash: sv2.U256{0xaa}, HeaderTimestamp: 1700000000, NBits: 0x1703a30c, Target: sv2.U256{31: 0x01}}
)

// templateProvider answers SetupConnection, expects CoinbaseOutputConstraints
// and then sends send.
func templateProvider(setup **sv2.SetupConnection, constraints **sv2.CoinbaseOutputConstraints, send ...sv2.Message) func(*transport.Conn) error {
	return func(c *transport.Conn) error {
		if err := answerSetup(setup, &sv2.SetupConnectionSuccess{UsedVersion: 2})(c); err != nil {
			return err
		}
		_, m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		var ok bool
		if *constraints, ok = m.(*sv2.CoinbaseOutputConstraints); !ok {
			return fmt.Errorf("server got %s, want CoinbaseOutputConstraints", sv2.Info(m).Name)
		}
		for _, m := range send {
			if err := c.WriteMessage(m); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestProbeTemplateDistribution(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	var setup *sv2.SetupConnection
	var constraints *sv2.CoinbaseOutputConstraints
	addr, done := serve(t, &p.responder, templateProvider(&setup, &constraints, testTemplate, testPrevHash))

	r := run(t, sv2Bin, "", "probe", "--protocol", "template-distribution", "--authority-pubkey", p.authority.String(),
		"--coinbase-output-max-additional-size", "7000", "--coinbase-output-max-additional-sigops", "400", addr)
	if err := <-done; err != nil {
		t.Fatal("server:", err)
	}
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	want := []string{p.handshakeLine(true), decodeLine(t, &sv2.SetupConnectionSuccess{UsedVersion: 2}), decodeLine(t, testTemplate), decodeLine(t, testPrevHash)}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if want := wantSetup(t, addr, sv2.ProtocolTemplateDistribution); setup == nil || *setup != want {
		t.Errorf("server got %+v, want %+v", setup, want)
	}
	if want := (sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 7000, CoinbaseOutputMaxAdditionalSigops: 400}); *constraints != want {
		t.Errorf("server got %+v, want %+v", *constraints, want)
	}
}

func TestProbeStopsAfterCount(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	var setup *sv2.SetupConnection
	var constraints *sv2.CoinbaseOutputConstraints
	addr, done := serve(t, &p.responder, templateProvider(&setup, &constraints, testTemplate, testPrevHash))

	r := run(t, sv2Bin, "", "probe", "--protocol", "template-distribution", "--count", "1", addr)
	<-done // the probe may leave before the second message arrives
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q; want 0", r.code, r.stderr)
	}
	if got := lines(r.stdout); len(got) != 3 || got[2] != decodeLine(t, testTemplate) {
		t.Errorf("want the handshake, SetupConnection.Success and the NewTemplate only, got\n%s", r.stdout)
	}
	if want := (sv2.CoinbaseOutputConstraints{}); constraints == nil || *constraints != want {
		t.Errorf("server got constraints %+v, want the defaults %+v", constraints, want)
	}
}

func TestProbePlain(t *testing.T) {
	t.Parallel()
	success := &sv2.SetupConnectionSuccess{UsedVersion: 2, Flags: 0x4}
	var got *sv2.SetupConnection
	addr, done := serve(t, nil, answerSetup(&got, success))

	r := run(t, sv2Bin, "", "probe", "--plain", "--protocol", "template-distribution", "--count", "0", addr)
	if err := <-done; err != nil {
		t.Fatal("server:", err)
	}
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	if diff := cmp.Diff([]string{`{"handshake":{"encrypted":false}}`, decodeLine(t, success)}, lines(r.stdout)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if want := wantSetup(t, addr, sv2.ProtocolTemplateDistribution); got == nil || *got != want {
		t.Errorf("server got %+v, want %+v", got, want)
	}
}

func TestProbeNothingListening(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	r := run(t, sv2Bin, "", "probe", addr)
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
	}
	if lines := lines(r.stderr); len(lines) != 1 || !strings.HasPrefix(lines[0], "sv2 probe: connecting to "+addr+": ") {
		t.Errorf("stderr %q, want one line about connecting", r.stderr)
	}
}

// A timeout is a failure while the setup reply or the --count messages are
// still missing.
func TestProbeTimeout(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	tests := []struct {
		name   string
		script func(*transport.Conn) error
		args   []string
		lines  int    // of standard output
		stderr string // part of the one line on standard error
	}{
		{
			name:   "no setup reply",
			script: func(c *transport.Conn) error { _, err := readSetup(c); return err },
			args:   []string{"--protocol", "mining"},
			lines:  1,
			stderr: "reading the SetupConnection reply from",
		},
		{
			name:   "second template missing",
			script: templateProvider(new(*sv2.SetupConnection), new(*sv2.CoinbaseOutputConstraints), testTemplate),
			args:   []string{"--protocol", "template-distribution"},
			lines:  3,
			stderr: "reading message 2 of 2 from",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, done := serve(t, &p.responder, tt.script)
			args := append([]string{"probe", "--authority-pubkey", p.authority.String(), "--timeout", "1s"}, tt.args...)
			r := run(t, sv2Bin, "", append(args, addr)...)
			if err := <-done; err != nil {
				t.Fatal("server:", err)
			}
			if r.code != 2 || len(lines(r.stdout)) != tt.lines {
				t.Errorf("exit %d, stdout\n%s\nwant 2 and %d lines", r.code, r.stdout, tt.lines)
			}
			if lines := lines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], tt.stderr) || !strings.HasSuffix(lines[0], ": timed out after 1s") {
				t.Errorf("stderr %q, want one line with %q and the timeout", r.stderr, tt.stderr)
			}
		})
	}
}

func TestProbeInterrupt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	t.Parallel()
	addr, done := serve(t, nil, answerSetup(new(*sv2.SetupConnection), &sv2.SetupConnectionSuccess{UsedVersion: 2}))
	cmd := exec.Command(sv2Bin, "probe", "--plain", "--count", "1", "--timeout", "1m", addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once SetupConnection.Success is printed the probe waits for a message
	// that never comes, with its signal handler installed.
	out := bufio.NewScanner(stdout)
	for range 2 {
		if !out.Scan() {
			cmd.Process.Kill()
			t.Fatalf("probe ended early: %v; stderr %q", out.Err(), stderr.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for out.Scan() {
		t.Errorf("unexpected output after the interrupt: %s", out.Text())
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130", err)
	}
	if stderr.String() != "sv2 probe: interrupted\n" {
		t.Errorf("stderr %q, want the interruption noted", stderr.String())
	}
	if err := <-done; err != nil {
		t.Fatal("server:", err)
	}
}

func TestProbeUsage(t *testing.T) {
	t.Parallel()
	_, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // part of the one line on standard error
	}{
		{nil, "HOST:PORT"},
		{[]string{"a:1", "b:2"}, "HOST:PORT"},
		{[]string{"localhost"}, "address"},
		{[]string{"localhost:http"}, "port must be a number"},
		{[]string{"--protocol", "pool", "a:1"}, `--protocol "pool"`},
		{[]string{"--authority-pubkey", "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXX", "a:1"}, "checksum"},
		{[]string{"--plain", "--authority-pubkey", pk.String(), "a:1"}, "--plain"},
		{[]string{"--min-version", "65536", "a:1"}, "--min-version 65536"},
		{[]string{"--flags", "0x100000000", "a:1"}, "--flags"},
		{[]string{"--coinbase-output-max-additional-sigops", "70000", "a:1"}, "--coinbase-output-max-additional-sigops"},
		{[]string{"--count", "many", "a:1"}, "count"},
		{[]string{"--timeout", "0s", "a:1"}, "--timeout"},
		{[]string{"--no-such-flag", "a:1"}, "no-such-flag"},
	}
	for _, tt := range tests {
		r := run(t, sv2Bin, "", append([]string{"probe"}, tt.args...)...)
		if r.code != 64 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q; want 64 and nothing", tt.args, r.code, r.stdout)
		}
		if lines := lines(r.stderr); len(lines) != 1 || !strings.HasPrefix(lines[0], "sv2 probe: ") || !strings.Contains(lines[0], tt.want) {
			t.Errorf("%q: stderr %q, want one line containing %q", tt.args, r.stderr, tt.want)
		}
	}
}

func TestHelpExplainsEveryFlag(t *testing.T) {
	t.Parallel()
	for _, cmd := range []*cli.Command{keygenCommand(), probeCommand()} {
		r := run(t, sv2Bin, "", cmd.Name, "--help")
		if r.code != 0 {
			t.Fatalf("%s --help: exit %d", cmd.Name, r.code)
		}
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			usage := f.(cli.DocGenerationFlag).GetUsage()
			if usage == "" || !strings.Contains(r.stdout, "--"+name) {
				t.Errorf("%s --help does not explain --%s:\n%s", cmd.Name, name, r.stdout)
			}
		}
	}
}

// Flags after HOST:PORT are not read (urfave/cli stops at the first
// argument): the error says so instead of counting arguments.
func TestProbeFlagsAfterAddress(t *testing.T) {
	t.Parallel()
	r := run(t, sv2Bin, "", "probe", "127.0.0.1:1", "--protocol", "template-distribution")
	if r.code == 0 || !strings.Contains(r.stderr, "flag --protocol after HOST:PORT: put the flags first") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
