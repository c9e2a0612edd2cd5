package main

import (
	"context"
	"io"
	"testing"

	"github.com/stratumgo/stratum/core/examples/internal/exampletest"
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
	tpAddr := exampletest.ServeTemplates(t, authority, tp)

	lines := exampletest.Output(t, func(ctx context.Context, out io.Writer) error {
		return run(ctx, config{listen: "127.0.0.1:0", tp: tpAddr, tpAuthorityPubkey: pub.String()}, out)
	})
	key, err := noise.ParsePublicKey(exampletest.WaitLine(t, lines, "authority public key: "))
	if err != nil {
		t.Fatal(err)
	}
	miningAddr := exampletest.WaitLine(t, lines, "listening on ")

	exampletest.WaitLine(t, lines, "template provider: connected to "+tpAddr)
	if got, want := exampletest.WaitLine(t, lines, "mining: "), "template 7 (future false) from the sibling"; got != want {
		t.Errorf("mining handler printed %q, want %q", got, want)
	}
	if got, want := exampletest.WaitLine(t, lines, "mining: "), "new previous block for template 7 from the sibling"; got != want {
		t.Errorf("mining handler printed %q, want %q", got, want)
	}

	m := &miner{connected: make(chan service.ServerInfo, 1)}
	cli, err := service.NewClientService(service.ClientConfig{Mining: &service.UpstreamConfig{Address: miningAddr, AuthorityKey: &key}}, m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	exampletest.Run(t, cli.Run)
	if info := exampletest.Recv(t, m.connected, "a miner connected"); !info.Handshake.Authenticated {
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
