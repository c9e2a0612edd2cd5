// Command templateclient connects to a Stratum V2 template provider (such as
// Bitcoin Core's), tells it how much room the coinbase outputs need, and
// prints every template and new previous block hash it announces. It shows
// how a ClientService and a TemplateDistributionClientHandler fit together.
//
//	go run ./examples/templateclient -server 127.0.0.1:8442 -authority-pubkey 9bXiEd8b...
//
// Without -authority-pubkey the connection is encrypted but the server is not
// authenticated; -plain turns encryption off (local networks only).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// The coinbase room this client asks for: enough for one pay-to-taproot
// output (43 bytes) and no signature operations. A pool that pays several
// outputs asks for more.
const (
	coinbaseOutputSize   = 43
	coinbaseOutputSigops = 0
)

// retryDelay is how long to wait before reconnecting to a lost server.
const retryDelay = 5 * time.Second

// config is what the command line sets.
type config struct {
	server          string // the template provider's host:port
	authorityPubkey string // its authority public key, to pin; empty means unauthenticated
	plain           bool   // connect without Noise encryption
	logger          *slog.Logger
}

func main() {
	var cfg config
	flag.StringVar(&cfg.server, "server", "127.0.0.1:8442", "template provider `address`")
	flag.StringVar(&cfg.authorityPubkey, "authority-pubkey", "", "the template provider's authority public `key` (base58); empty skips authentication")
	flag.BoolVar(&cfg.plain, "plain", false, "connect without Noise encryption (local networks only)")
	flag.Parse()
	cfg.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "templateclient:", err)
		os.Exit(1)
	}
}

// run takes templates until ctx ends, printing them to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	up := &service.UpstreamConfig{Address: cfg.server, Plain: cfg.plain}
	if cfg.authorityPubkey != "" {
		key, err := noise.ParsePublicKey(cfg.authorityPubkey)
		if err != nil {
			return err
		}
		up.AuthorityKey = &key
	}
	svc, err := service.NewClientService(service.ClientConfig{TemplateDistribution: up, Logger: cfg.logger}, nil, nil, &templateHandler{out: out})
	if err != nil {
		return err
	}
	return service.RunAll(ctx, svc) // nil once ctx ends
}

// templateHandler prints what the template provider sends. A client service
// calls its handlers from one goroutine, so it writes to out without locking.
type templateHandler struct {
	service.NullTemplateDistributionClientHandler

	out io.Writer
}

func (h *templateHandler) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	fmt.Fprintf(h.out, "connected to %s (encrypted %t, authenticated %t)\n", s.Address, s.Handshake.Encrypted, s.Handshake.Authenticated)
	// The provider sends templates only once it knows the coinbase room to leave.
	return []service.ClientEvent{service.SendToServer{
		Protocol: sv2.ProtocolTemplateDistribution,
		Message:  &sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: coinbaseOutputSize, CoinbaseOutputMaxAdditionalSigops: coinbaseOutputSigops},
	}}, nil
}

func (h *templateHandler) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	fmt.Fprintf(h.out, "disconnected: %v; retrying in %v\n", err, retryDelay)
	// The service does not retry on its own; the handler decides.
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolTemplateDistribution, Delay: retryDelay}}, nil
}

func (h *templateHandler) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	fmt.Fprintf(h.out, "template %d: future %t, coinbase value remaining %d sat, merkle path of %d\n",
		m.TemplateID, m.FutureTemplate, m.CoinbaseTxValueRemaining, len(m.MerklePath))
	return nil, nil
}

func (h *templateHandler) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	fmt.Fprintf(h.out, "template %d: new previous block %x\n", m.TemplateID, displayOrder(m.PrevHash))
	return nil, nil
}

// displayOrder returns a hash byte-reversed, as block explorers and
// bitcoin-cli show it; the wire carries it little-endian.
func displayOrder(h sv2.U256) []byte {
	b := slices.Clone(h[:])
	slices.Reverse(b)
	return b
}
