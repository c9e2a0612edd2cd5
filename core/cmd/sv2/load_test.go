package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// testMiners serves mining with core's mining.Server, as the pool does: it
// opens standard and extended channels on one fixed template, validates
// every share (so a share the load tool did not really find is refused),
// acknowledges them in batches, and flushes a channel's batch when it closes.
type testMiners struct {
	service.NullMiningServerHandler
	srv   *mining.Server
	added chan struct{} // one value per client set up, dropped when full
	users sync.Map      // the user_identity of every channel requested
}

var _ service.MiningServerHandler = (*testMiners)(nil)

func (h *testMiners) Flags(requested uint32) (success, unsupported uint32) {
	return 0, requested &^ (mining.FlagRequiresStandardJobs | mining.FlagRequiresVersionRolling)
}

func (h *testMiners) ClientAdded(ctx context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	conn, err := h.srv.NewConn(c.Setup.Flags)
	if err != nil {
		return nil, err
	}
	service.SetClientState(ctx, conn)
	select {
	case h.added <- struct{}{}:
	default:
	}
	return nil, nil
}

func (h *testMiners) ClientRemoved(ctx context.Context, _ service.ClientInfo, _ error) ([]service.ServerEvent, error) {
	h.srv.RemoveConn(minerConn(ctx))
	return nil, nil
}

func minerConn(ctx context.Context) *mining.Conn { return service.ClientState(ctx).(*mining.Conn) }

func sendTo(c service.ClientID, msgs ...sv2.Message) []service.ServerEvent {
	return []service.ServerEvent{service.SendMessagesToClient{Client: c, Messages: msgs}}
}

func (h *testMiners) opened(c service.ClientID, req uint32, msgs []sv2.Message, err error) ([]service.ServerEvent, error) {
	if oe, ok := errors.AsType[*mining.OpenError](err); ok {
		return sendTo(c, &sv2.OpenMiningChannelError{RequestID: req, ErrorCode: oe.Code}), nil
	}
	if err != nil {
		return nil, err
	}
	return sendTo(c, msgs...), nil
}

func (h *testMiners) OpenStandardMiningChannel(ctx context.Context, c service.ClientID, m *sv2.OpenStandardMiningChannel) ([]service.ServerEvent, error) {
	h.users.Store(m.UserIdentity, true)
	msgs, err := minerConn(ctx).OpenStandardChannel(m)
	return h.opened(c, m.RequestID, msgs, err)
}

func (h *testMiners) OpenExtendedMiningChannel(ctx context.Context, c service.ClientID, m *sv2.OpenExtendedMiningChannel) ([]service.ServerEvent, error) {
	h.users.Store(m.UserIdentity, true)
	msgs, err := minerConn(ctx).OpenExtendedChannel(m)
	return h.opened(c, m.RequestID, msgs, err)
}

func (h *testMiners) shareReply(c service.ClientID, channel, seq uint32, r mining.ShareResult) []service.ServerEvent {
	if reply := r.Reply(channel, seq); reply != nil {
		return sendTo(c, reply)
	}
	return nil
}

func (h *testMiners) SubmitSharesStandard(ctx context.Context, c service.ClientID, m *sv2.SubmitSharesStandard) ([]service.ServerEvent, error) {
	return h.shareReply(c, m.ChannelID, m.SequenceNumber, minerConn(ctx).SubmitStandard(m)), nil
}

func (h *testMiners) SubmitSharesExtended(ctx context.Context, c service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	return h.shareReply(c, m.ChannelID, m.SequenceNumber, minerConn(ctx).SubmitExtended(m)), nil
}

func (h *testMiners) CloseChannel(ctx context.Context, c service.ClientID, m *sv2.CloseChannel) ([]service.ServerEvent, error) {
	conn := minerConn(ctx)
	var events []service.ServerEvent
	if ack, ok := conn.FlushAck(m.ChannelID); ok {
		events = sendTo(c, ack)
	}
	conn.CloseChannel(m.ChannelID) //nolint:errcheck // an unknown channel changes nothing
	return events, nil
}

// miningServer is a running test server.
type miningServer struct {
	addr      string
	authority noise.PublicKey
	handler   *testMiners
}

// startMiningServer serves mining on a fresh port of 127.0.0.1 until the
// test ends. The shares' floor is the core default (2^-24: about 256 hashes
// a share), and a channel remembers up to a million shares per tip, so that
// a second of load at full speed is all accepted. plain serves without Noise.
func startMiningServer(t *testing.T, plain bool, mod func(*service.ServerConfig, *mining.ServerConfig)) *miningServer {
	t.Helper()
	alloc, err := extranonce.New(extranonce.Config{Prefix: []byte{0xaa}, IndexSize: 3, RollableSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	mcfg := mining.ServerConfig{
		Coinbase:        coinbase.Config{Outputs: []*wire.TxOut{{PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{7}, 20)...)}}, Tag: []byte("/load test/")},
		Extranonce:      alloc,
		ShareBatchSize:  10,
		MaxSharesPerTip: 1 << 20,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scfg := service.ServerConfig{Listener: ln, Mining: &service.ProtocolConfig{}, Plain: plain,
		HandshakeRatePerSource: 10_000, MaxHandshakes: 1024}
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !plain {
		scfg.AuthorityKey = &sk
	}
	if mod != nil {
		mod(&scfg, &mcfg)
	}
	srv, err := mining.NewServer(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	// One template on one tip, whose network target no share meets: every
	// channel gets its job and prev hash in the reply that opens it.
	outputs := append(make([]byte, 8), 2, 0x6a, 0x00)
	if _, err := srv.NewTemplate(&sv2.NewTemplate{TemplateID: 1, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x03, 0x10, 0x27, 0x00}, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 625_000_000,
		CoinbaseTxOutputsCount: 1, CoinbaseTxOutputs: outputs, MerklePath: []sv2.U256{{1}, {2}}}); err != nil {
		t.Fatal(err)
	}
	const hardBits = 0x1903a30c
	network, _ := target.FromCompact(hardBits)
	if _, err := srv.SetNewPrevHash(&sv2.TemplateSetNewPrevHash{TemplateID: 1, PrevHash: sv2.U256{0xaa, 31: 0x01},
		HeaderTimestamp: uint32(time.Now().Unix()), NBits: hardBits, Target: network}); err != nil {
		t.Fatal(err)
	}
	h := &testMiners{srv: srv, added: make(chan struct{}, 1024)}
	svc, err := service.NewServerService(scfg, h, nil, nil)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, service.ErrStopped) {
			t.Errorf("server: %v", err)
		}
	})
	return &miningServer{addr: ln.Addr().String(), authority: pk, handler: h}
}

// load runs sv2 load --json with args and returns its report.
func load(t *testing.T, args ...string) (*loadReport, result) {
	t.Helper()
	r := run(t, sv2Bin, "", append([]string{"load", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("sv2 load %q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return parseReport(t, r), r
}

func parseReport(t *testing.T, r result) *loadReport {
	t.Helper()
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("want one line of JSON, got %q", r.stdout)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	return &rep
}

func TestLoadNormal(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"standard", "extended"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := startMiningServer(t, false, nil)
			args := []string{"--authority-pubkey", s.authority.String(), "--connections", "3", "--channels", "4",
				"--channel-kind", kind, "--duration", "1s", "--drain", "1s"}
			if runtime.GOOS == "linux" {
				args = append(args, "--pool-pid", strconv.Itoa(os.Getpid()))
			}
			rep, r := load(t, append(args, s.addr)...)
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
			c := rep.Connections
			if rep.Mode != "normal" || rep.ChannelKind != kind || !rep.Encrypted || !rep.Authenticated {
				t.Errorf("report header %+v", rep)
			}
			if c.Attempted != 3 || c.Made != 3 || c.Failed != 0 || c.ClosedByServer != 0 || c.HeldToEnd != 3 {
				t.Errorf("connections %+v, want 3 made and held", c)
			}
			if rep.ConnectMs.Count != 3 || !(rep.ConnectMs.P50 > 0) || rep.ConnectMs.P99 < rep.ConnectMs.P50 {
				t.Errorf("connect time %+v", rep.ConnectMs)
			}
			if ch := rep.Channels; ch.Requested != 12 || ch.Opened != 12 || len(ch.Refused) != 0 || ch.Unanswered != 0 {
				t.Errorf("channels %+v, want 12 opened", ch)
			}
			sh := rep.Shares
			// Every share was hashed to the channel's target: the server takes them all.
			if sh.Accepted < 100 || sh.RejectedTotal != 0 || len(sh.Rejected) != 0 {
				t.Errorf("shares %+v, want many accepted, none rejected", sh)
			}
			// Closing a channel acknowledges its last partial batch.
			if sh.Unacknowledged != 0 || sh.Sent != sh.Accepted {
				t.Errorf("shares %+v: every share sent should be acknowledged", sh)
			}
			if rep.AckMs.Count != sh.Accepted || !(rep.AckMs.P50 > 0) || rep.AckMs.P99 < rep.AckMs.P50 {
				t.Errorf("ack latency %+v for %d shares", rep.AckMs, sh.Accepted)
			}
			if runtime.GOOS == "linux" {
				if m := rep.PoolRSSKB; m == nil || m.PID != os.Getpid() || m.Before == 0 || m.After == 0 || m.Max < m.After || m.Max < m.Before {
					t.Errorf("pool RSS %+v", m)
				}
			}
		})
	}
}

// The text report names every figure; --rate paces the shares.
func TestLoadTextAndRate(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, true, nil)
	r := run(t, sv2Bin, "", "load", "--plain", "--connections", "2", "--channels", "2", "--rate", "200", "--duration", "1s", s.addr)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"sv2 load: normal mode against " + s.addr, "(plain)", "connections   2 made, 0 failed",
		"connect time  p50 ", "channels      4 standard opened of 4 requested", "shares        ", "accepted", "ack latency   p50 "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	rep, _ := load(t, "--plain", "--connections", "2", "--channels", "2", "--rate", "200", "--duration", "1s", s.addr)
	// 200 a second for at most a second, less the time to connect.
	if sh := rep.Shares; sh.Sent < 60 || sh.Sent > 260 || sh.Accepted != sh.Sent {
		t.Errorf("at --rate 200 for 1s: %+v", sh)
	}
}

// Zero work against a server with a difficulty floor: most nonces miss the
// target and are refused by code; about one in 256 meets it by chance.
func TestLoadZeroWork(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, false, nil)
	rep, _ := load(t, "--authority-pubkey", s.authority.String(), "--mode", "zero-work", "--connections", "2", "--channels", "2",
		"--duration", "1s", "--drain", "1s", s.addr)
	sh := rep.Shares
	if sh.Sent < 1000 || sh.Rejected[mining.CodeDifficultyTooLow] == 0 || sh.RejectedTotal != sh.Rejected[mining.CodeDifficultyTooLow] {
		t.Fatalf("shares %+v, want many rejected as %s", sh, mining.CodeDifficultyTooLow)
	}
	if sh.Accepted*50 > sh.Sent || sh.Accepted+sh.RejectedTotal+sh.Unacknowledged != sh.Sent {
		t.Errorf("shares %+v: about 1 in 256 should be accepted, and all accounted for", sh)
	}
	if rep.Channels.Opened != 4 {
		t.Errorf("channels %+v", rep.Channels)
	}
}

// Silent connections are dropped at the server's handshake timeout, and held
// to the end by a server without one that short. Flags may follow the address.
func TestLoadSilent(t *testing.T) {
	t.Parallel()
	strict := startMiningServer(t, false, func(c *service.ServerConfig, _ *mining.ServerConfig) { c.HandshakeTimeout = 300 * time.Millisecond })
	rep, _ := load(t, strict.addr, "--mode", "silent", "--connections", "3", "--duration", "1s")
	c := rep.Connections
	if c.Made != 3 || c.ClosedByServer != 3 || c.HeldToEnd != 0 || c.ClosedAfterMs.P50 < 250 || c.ClosedAfterMs.P99 > 900 {
		t.Errorf("connections %+v, want 3 closed after about 300ms", c)
	}
	lax := startMiningServer(t, false, nil)
	rep, _ = load(t, lax.addr, "--mode", "silent", "--connections", "3", "--duration", "500ms")
	if c := rep.Connections; c.Made != 3 || c.HeldToEnd != 3 || c.ClosedByServer != 0 || rep.ConnectMs.Count != 3 {
		t.Errorf("connections %+v, want 3 held to the end", c)
	}
}

func TestLoadSlowHandshake(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, false, nil)
	// 64 bytes 5ms apart: the handshake takes about 320ms, then the connections idle.
	rep, _ := load(t, "--authority-pubkey", s.authority.String(), "--mode", "slow-handshake", "--byte-interval", "5ms",
		"--connections", "2", "--duration", "1s", s.addr)
	if c := rep.Connections; c.Made != 2 || c.HeldToEnd != 2 || rep.ConnectMs.P50 < 300 {
		t.Errorf("connections %+v, connect time %+v: want 2 made after 320ms or more", c, rep.ConnectMs)
	}
	strict := startMiningServer(t, false, func(c *service.ServerConfig, _ *mining.ServerConfig) { c.HandshakeTimeout = 200 * time.Millisecond })
	rep, _ = load(t, "--mode", "slow-handshake", "--byte-interval", "10ms", "--connections", "2", "--duration", "1s", strict.addr)
	if c := rep.Connections; c.Made != 0 || c.Failed != 2 || c.Failures["handshake"].Count != 2 || c.Failures["handshake"].Example == "" {
		t.Errorf("connections %+v, want 2 handshakes failed", c)
	}
}

func TestLoadIdle(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, true, func(c *service.ServerConfig, _ *mining.ServerConfig) { c.InactivityTimeout = 300 * time.Millisecond })
	rep, _ := load(t, "--plain", "--mode", "idle", "--connections", "3", "--duration", "1s", s.addr)
	c := rep.Connections
	if c.Made != 3 || c.ClosedByServer != 3 || c.ClosedAfterMs.P50 < 250 || c.ClosedAfterMs.P99 > 900 || rep.Channels.Requested != 0 {
		t.Errorf("connections %+v, channels %+v: want 3 set up, no channel, closed after about 300ms", c, rep.Channels)
	}
	if rep.ConnectMs.Count != 3 || rep.Encrypted {
		t.Errorf("connect time %+v, encrypted %v", rep.ConnectMs, rep.Encrypted)
	}
}

func TestLoadChurn(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, false, nil)
	rep, _ := load(t, "--authority-pubkey", s.authority.String(), "--mode", "churn", "--connections", "2", "--channels", "3",
		"--duration", "1s", s.addr)
	c := rep.Connections
	if c.ChurnCycles < 4 || c.Made < c.ChurnCycles || c.Attempted < c.Made || c.Failed != 0 {
		t.Errorf("connections %+v: want many cycles, each a connection made", c)
	}
	if ch := rep.Channels; ch.Opened < 3*c.ChurnCycles || len(ch.Refused) != 0 {
		t.Errorf("channels %+v after %d cycles", ch, c.ChurnCycles)
	}
	if rep.ConnectMs.Count != c.Made {
		t.Errorf("connect time %+v for %d connections", rep.ConnectMs, c.Made)
	}
}

// --fresh-users names every channel anew, across connections and cycles.
func TestLoadFreshUsers(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, true, nil)
	rep, _ := load(t, "--plain", "--mode", "churn", "--fresh-users", "--user", "u", "--connections", "2", "--channels", "3",
		"--duration", "500ms", s.addr)
	users := 0
	s.handler.users.Range(func(k, _ any) bool {
		users++
		if !strings.HasPrefix(k.(string), "u-") {
			t.Errorf("user_identity %q, want u-N", k)
		}
		return true
	})
	// The requests of the cycle the end of the run cut short may not have arrived.
	if ch := rep.Channels; ch.Opened < 6 || uint64(users) < ch.Opened || uint64(users) > ch.Requested {
		t.Errorf("%d distinct users for channels %+v, want one each", users, ch)
	}
}

// A flood's first messages are answered by a server that takes them, and
// closed unanswered by one whose per-source handshake rate is spent.
func TestLoadFlood(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, false, nil)
	rep, _ := load(t, "--mode", "flood", "--connections", "2", "--duration", "1s", s.addr)
	c := rep.Connections
	if c.FloodAnswered < 20 || c.Failed != 0 || c.ClosedByServer != 0 || rep.ConnectMs.Count != c.FloodAnswered || c.Attempted < c.FloodAnswered {
		t.Errorf("connections %+v, connect time %+v: want many answered, none failed", c, rep.ConnectMs)
	}
	if c.Made != 0 || rep.Channels.Requested != 0 {
		t.Errorf("connections %+v: a flood sets nothing up", c)
	}
	strict := startMiningServer(t, false, func(c *service.ServerConfig, _ *mining.ServerConfig) { c.HandshakeRatePerSource = 5 })
	rep, r := load(t, "--mode", "flood", "--connections", "2", "--duration", "1s", strict.addr)
	if c := rep.Connections; c.FloodAnswered > 30 || c.ClosedByServer == 0 {
		t.Errorf("connections %+v: want at most the burst and the rate answered, the rest closed", c)
	}
	text := run(t, sv2Bin, "", "load", "--mode", "flood", "--connections", "1", "--duration", "200ms", s.addr)
	if !strings.Contains(text.stdout, "first messages answered") || !strings.Contains(text.stdout, "TCP + the server's answer") {
		t.Errorf("text report %q (json %q)", text.stdout, r.stdout)
	}
}

// Unknown frames do not keep a connection past the server's inactivity
// limit; without a limit they are held to the end.
func TestLoadUnknownFrames(t *testing.T) {
	t.Parallel()
	strict := startMiningServer(t, true, func(c *service.ServerConfig, _ *mining.ServerConfig) { c.InactivityTimeout = 300 * time.Millisecond })
	rep, _ := load(t, "--plain", "--mode", "unknown-frames", "--frame-interval", "50ms", "--connections", "2", "--duration", "1s", strict.addr)
	c := rep.Connections
	if c.Made != 2 || c.ClosedByServer != 2 || c.ClosedAfterMs.P50 < 250 || c.ClosedAfterMs.P99 > 900 || c.UnknownFrames < 8 {
		t.Errorf("connections %+v: want 2 sending frames, closed after about 300ms", c)
	}
	lax := startMiningServer(t, false, nil)
	rep, _ = load(t, "--mode", "unknown-frames", "--frame-interval", "50ms", "--connections", "2", "--duration", "500ms", lax.addr)
	if c := rep.Connections; c.Made != 2 || c.HeldToEnd != 2 || c.UnknownFrames < 10 {
		t.Errorf("connections %+v: want 2 held to the end, sending frames", c)
	}
}

// Channels the server refuses are counted by error code.
func TestLoadChannelsRefused(t *testing.T) {
	t.Parallel()
	s := startMiningServer(t, true, func(_ *service.ServerConfig, m *mining.ServerConfig) {
		m.MaxChannelOpensPerSecond, m.ChannelOpenBurst = 0.001, 2
	})
	rep, _ := load(t, "--plain", "--connections", "1", "--channels", "5", "--duration", "500ms", s.addr)
	if ch := rep.Channels; ch.Opened != 2 || ch.Refused[mining.CodeChannelOpenRateExceeded] != 3 {
		t.Errorf("channels %+v, want 2 opened and 3 refused", ch)
	}
}

func TestLoadNothingListening(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := run(t, sv2Bin, "", "load", "--json", "--plain", "--connections", "2", "--duration", "300ms", addr)
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	rep := parseReport(t, r)
	if c := rep.Connections; c.Made != 0 || c.Failures["connect"].Count != 2 {
		t.Errorf("connections %+v, want 2 failed to connect", c)
	}
	if lines := lines(r.stderr); len(lines) != 1 || lines[0] != "sv2 load: no TCP connection to "+addr+" could be made" {
		t.Errorf("stderr %q", r.stderr)
	}
}

// SIGINT stops the run early; what ran is reported.
func TestLoadInterrupt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	t.Parallel()
	s := startMiningServer(t, true, nil)
	cmd := exec.Command(sv2Bin, "load", "--plain", "--json", "--mode", "idle", "--connections", "1", "--duration", "1m", s.addr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.handler.added:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no connection set up")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130", err)
	}
	rep := parseReport(t, result{stdout: stdout.String()})
	if c := rep.Connections; !rep.Interrupted || c.Attempted != 1 || c.Made+c.Unfinished != 1 || rep.ElapsedS > 30 {
		t.Errorf("report %+v", rep)
	}
	if stderr.String() != "sv2 load: interrupted\n" {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestLoadUsage(t *testing.T) {
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
		{[]string{"--mode", "stampede", "a:1"}, `--mode "stampede"`},
		{[]string{"--channel-kind", "group", "a:1"}, `--channel-kind "group"`},
		{[]string{"--connections", "0", "a:1"}, "--connections 0"},
		{[]string{"--connections", "100001", "a:1"}, "--connections 100001"},
		{[]string{"--channels", "5000", "a:1"}, "--channels 5000"},
		{[]string{"--connections", "1000", "--channels", "4000", "a:1"}, "channels in all"},
		{[]string{"--window", "0", "a:1"}, "--window 0"},
		{[]string{"--rate", "-1", "a:1"}, "--rate -1"},
		{[]string{"--rate", "NaN", "a:1"}, "--rate NaN"},
		{[]string{"--duration", "0s", "a:1"}, "--duration"},
		{[]string{"--duration", "soon", "a:1"}, "duration"},
		{[]string{"--timeout", "-1s", "a:1"}, "--timeout"},
		{[]string{"--hashrate", "-5", "a:1"}, "--hashrate"},
		{[]string{"--bind", "localhost", "a:1"}, `--bind "localhost"`},
		{[]string{"--authority-pubkey", "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXX", "a:1"}, "checksum"},
		{[]string{"--plain", "--authority-pubkey", pk.String(), "a:1"}, "--plain"},
		{[]string{"--plain", "--mode", "slow-handshake", "a:1"}, "slow-handshake"},
		{[]string{"--plain", "--mode", "flood", "a:1"}, "flood"},
		{[]string{"--frame-interval", "0s", "a:1"}, "--frame-interval"},
		{[]string{"--fresh-users", "--user", strings.Repeat("u", 240), "a:1"}, "--fresh-users"},
		{[]string{"--pool-pid", "-3", "a:1"}, "--pool-pid -3"},
		{[]string{"--no-such-flag", "a:1"}, "no-such-flag"},
		{[]string{"a:1", "--no-such-flag"}, "no-such-flag"},
		{[]string{"a:1", "--connections"}, "connections"},
		{[]string{"a:1", "--connections", "many"}, "many"},
	}
	if runtime.GOOS == "linux" {
		// No process has this id: above the kernel's pid_max.
		tests = append(tests, struct {
			args []string
			want string
		}{[]string{"--pool-pid", "2147483647", "a:1"}, "/proc"})
	}
	for _, tt := range tests {
		r := run(t, sv2Bin, "", append([]string{"load"}, tt.args...)...)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q; want 1 and nothing", tt.args, r.code, r.stdout)
		}
		if lines := lines(r.stderr); len(lines) != 1 || !strings.HasPrefix(lines[0], "sv2 load: ") || !strings.Contains(lines[0], tt.want) {
			t.Errorf("%q: stderr %q, want one line containing %q", tt.args, r.stderr, tt.want)
		}
	}
}

// --help explains every flag, each default named once.
func TestLoadHelp(t *testing.T) {
	t.Parallel()
	r := run(t, sv2Bin, "", "load", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if after := run(t, sv2Bin, "", "load", "127.0.0.1:1", "--help"); after.code != 0 || after.stdout != r.stdout {
		t.Errorf("load HOST:PORT --help: exit %d, stdout %q; want the same help", after.code, after.stdout)
	}
	for _, f := range loadCommand().Flags {
		name := f.Names()[0]
		if !strings.Contains(r.stdout, "--"+name+" ") {
			t.Errorf("--help does not explain --%s", name)
		}
	}
	for _, mode := range loadModes {
		if !strings.Contains(r.stdout, "\n     "+mode+" ") {
			t.Errorf("--help does not explain --mode %s", mode)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
}
