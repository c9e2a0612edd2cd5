package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stratumgo/stratum/core/examples/internal/exampletest"
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
	addr := exampletest.ServeTemplates(t, authority, tp)

	lines := exampletest.Output(t, func(ctx context.Context, out io.Writer) error {
		return run(ctx, config{server: addr, authorityPubkey: pub.String()}, out)
	})

	c := exampletest.Recv(t, tp.constraints, "CoinbaseOutputConstraints")
	if c.CoinbaseOutputMaxAdditionalSize != coinbaseOutputSize || c.CoinbaseOutputMaxAdditionalSigops != coinbaseOutputSigops {
		t.Errorf("provider got %+v", c)
	}
	for _, want := range []string{
		"connected to " + addr + " (encrypted true, authenticated true)",
		"template 7: future true, coinbase value remaining 312500000 sat, merkle path of 3",
		"template 7: new previous block ff" + strings.Repeat("00", 30) + "01",
	} {
		if got := exampletest.Recv(t, lines, "a printed line"); got != want {
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
