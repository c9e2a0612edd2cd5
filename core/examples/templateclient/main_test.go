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

// TestTemplateClient runs the example against a template provider on loopback
// and checks what it asks for and what it prints.
func TestTemplateClient(t *testing.T) {
	authority, pub, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	var prev sv2.U256
	prev[0], prev[31] = 0x01, 0xff // displayed byte-reversed: ff...01
	tp := &templateProvider{
		constraints: make(chan *sv2.CoinbaseOutputConstraints, 1),
		template: &sv2.NewTemplate{
			TemplateID: 7, FutureTemplate: true, CoinbaseTxValueRemaining: 312_500_000,
			MerklePath: make([]sv2.U256, 3),
		},
		prevHash: &sv2.TemplateSetNewPrevHash{TemplateID: 7, PrevHash: prev},
	}
	addr := startProvider(t, authority, tp)

	lines := startRun(t, config{server: addr, authorityPubkey: pub.String()})

	c := recv(t, tp.constraints, "CoinbaseOutputConstraints")
	if c.CoinbaseOutputMaxAdditionalSize != coinbaseOutputSize || c.CoinbaseOutputMaxAdditionalSigops != coinbaseOutputSigops {
		t.Errorf("provider got %+v", c)
	}
	for _, want := range []string{
		"connected to " + addr + " (encrypted true, authenticated true)",
		"template 7: future true, coinbase value remaining 312500000 sat, merkle path of 3",
		"template 7: new previous block ff" + strings.Repeat("00", 30) + "01",
	} {
		if got := recv(t, lines, "a printed line"); got != want {
			t.Errorf("printed %q\nwant    %q", got, want)
		}
	}
}

// templateProvider answers CoinbaseOutputConstraints with one template and
// its previous block hash, as a template provider does on a new connection.
type templateProvider struct {
	service.NullTemplateDistributionServerHandler

	constraints chan *sv2.CoinbaseOutputConstraints
	template    *sv2.NewTemplate
	prevHash    *sv2.TemplateSetNewPrevHash
}

func (p *templateProvider) CoinbaseOutputConstraints(_ context.Context, c service.ClientID, m *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	p.constraints <- m
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
