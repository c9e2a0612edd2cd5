package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// TestSiblings runs the example against a template provider on loopback and
// checks that the template reaches the mining handler through the sibling
// link, and that the mining server takes miners meanwhile.
func TestSiblings(t *testing.T) {
	authority, pub, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := &templateProvider{
		template: &sv2.NewTemplate{TemplateID: 7, CoinbaseTxValueRemaining: 312_500_000},
		prevHash: &sv2.TemplateSetNewPrevHash{TemplateID: 7},
	}
	tpAddr := startProvider(t, authority, tp)

	lines := startRun(t, config{listen: "127.0.0.1:0", tp: tpAddr, tpAuthorityPubkey: pub.String()})
	key, err := noise.ParsePublicKey(waitLine(t, lines, "authority public key: "))
	if err != nil {
		t.Fatal(err)
	}
	miningAddr := waitLine(t, lines, "listening on ")

	waitLine(t, lines, "template provider: connected to "+tpAddr)
	if got, want := waitLine(t, lines, "mining: "), "template 7 (future false) from the sibling"; got != want {
		t.Errorf("mining handler printed %q, want %q", got, want)
	}
	if got, want := waitLine(t, lines, "mining: "), "new previous block for template 7 from the sibling"; got != want {
		t.Errorf("mining handler printed %q, want %q", got, want)
	}

	m := &miner{connected: make(chan service.ServerInfo, 1)}
	cli, err := service.NewClientService(service.ClientConfig{Mining: &service.UpstreamConfig{Address: miningAddr, AuthorityKey: &key}}, m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopWhenDone(t, cli.Start)
	if info := recv(t, m.connected, "a miner connected"); !info.Handshake.Authenticated {
		t.Errorf("miner's connection %+v, want authenticated", info.Handshake)
	}
}

// miner reports when it is connected.
type miner struct {
	service.NullMiningClientHandler

	connected chan service.ServerInfo
}

func (m *miner) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	m.connected <- s
	return nil, nil
}

// templateProvider answers CoinbaseOutputConstraints with one template and
// its previous block hash, as a template provider does on a new connection.
type templateProvider struct {
	service.NullTemplateDistributionServerHandler

	template *sv2.NewTemplate
	prevHash *sv2.TemplateSetNewPrevHash
}

func (p *templateProvider) CoinbaseOutputConstraints(_ context.Context, c service.ClientID, _ *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	return []service.ServerEvent{
		service.SendToClient{Client: c, Message: p.template},
		service.SendToClient{Client: c, Message: p.prevHash},
	}, nil
}

// startProvider serves tp on a loopback port until the test ends and returns its address.
func startProvider(t *testing.T, authority noise.SecretKey, tp service.TemplateDistributionServerHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := service.ServerConfig{Listener: ln, AuthorityKey: &authority, TemplateDistribution: &service.ProtocolConfig{}}
	svc, err := service.NewServerService(cfg, nil, nil, tp)
	if err != nil {
		t.Fatal(err)
	}
	stopWhenDone(t, svc.Start)
	return ln.Addr().String()
}

const waitLimit = 10 * time.Second

// lineWriter hands each line the example prints to the test.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		w <- line
	}
	return len(p), nil
}

// startRun runs the example until the test ends, then checks that it stops
// cleanly. It returns the lines the example prints.
func startRun(t *testing.T, cfg config) <-chan string {
	t.Helper()
	lines := make(lineWriter, 100)
	stopWhenDone(t, func(ctx context.Context) error { return run(ctx, cfg, lines) })
	return lines
}

func stopWhenDone(t *testing.T, start func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, done, "return after cancel"); err != nil {
			t.Errorf("returned %v after cancel, want nil", err)
		}
	})
}

// waitLine skips printed lines until one starts with prefix, and returns the rest of it.
func waitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case line := <-lines:
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return rest
			}
		case <-timeout:
			t.Fatalf("no line starting %q printed", prefix)
		}
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
