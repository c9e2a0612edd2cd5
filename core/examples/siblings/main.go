// Command siblings shows the sibling link between two services in one
// program, the shape of a pool: a mining server for miners and a
// template-distribution client towards a template provider. The client's
// handler hands each template and new previous block hash to the server's
// mining handler with SendEventToSiblingServerService; the mining handler
// announces it, where a pool would build a job from it for every channel.
//
//	go run ./examples/siblings -listen 127.0.0.1:34254 -tp 127.0.0.1:8442 -tp-authority-pubkey 9bXiEd8b...
//
// Opening channels is left out to keep the link in view; see the
// miningserver example for that.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// config is what the command line sets.
type config struct {
	listen            string // host:port to accept miners on
	plain             bool   // serve miners without Noise encryption
	tp                string // the template provider's host:port
	tpAuthorityPubkey string // its authority public key; empty means unauthenticated
	tpPlain           bool   // connect to it without Noise encryption
	logger            *slog.Logger
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:34254", "`address` to accept miners on")
	flag.BoolVar(&cfg.plain, "plain", false, "serve miners without Noise encryption (local networks only)")
	flag.StringVar(&cfg.tp, "tp", "127.0.0.1:8442", "template provider `address`")
	flag.StringVar(&cfg.tpAuthorityPubkey, "tp-authority-pubkey", "", "the template provider's authority public `key` (base58); empty skips authentication")
	flag.BoolVar(&cfg.tpPlain, "tp-plain", false, "connect to the template provider without Noise encryption")
	flag.Parse()
	cfg.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "siblings:", err)
		os.Exit(1)
	}
}

// run runs both services until ctx ends or one of them fails, printing what
// the handlers see to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	// log.Logger serializes its writes: the handlers print from several goroutines.
	printer := log.New(out, "", 0)

	scfg := service.ServerConfig{Mining: &service.ProtocolConfig{}, Plain: cfg.plain, Logger: cfg.logger}
	if !cfg.plain {
		key, pub, err := noise.GenerateAuthorityKeyPair(nil)
		if err != nil {
			return err
		}
		scfg.AuthorityKey = &key
		printer.Printf("authority public key: %s", pub)
	}
	up := &service.UpstreamConfig{Address: cfg.tp, Plain: cfg.tpPlain}
	if cfg.tpAuthorityPubkey != "" {
		key, err := noise.ParsePublicKey(cfg.tpAuthorityPubkey)
		if err != nil {
			return err
		}
		up.AuthorityKey = &key
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	scfg.Listener = ln

	// The server makes the link; the client takes it.
	server, link, err := service.NewServerServiceWithSibling(scfg, &miningHandler{out: printer}, nil, nil)
	if err != nil {
		ln.Close()
		return err
	}
	client, err := service.NewClientServiceFromSibling(service.ClientConfig{TemplateDistribution: up, Logger: cfg.logger}, nil, nil, &templateHandler{out: printer}, link)
	if err != nil {
		ln.Close()
		return err
	}
	printer.Printf("listening on %s", ln.Addr())

	// The two stop together: when one fails, the other is cancelled.
	return service.RunAll(ctx, server, client)
}

// templateHandler passes what the template provider sends to the mining
// server. It runs on the client service's goroutine.
type templateHandler struct {
	service.NullTemplateDistributionClientHandler

	out *log.Logger
}

// The topics the template handler hands its sibling: shared by sender and
// receiver, so a payload of the wrong type does not compile. (Apps use
// core/tpclient, which has these two.)
var (
	templates  = service.NewTopic[*sv2.NewTemplate]("template")
	prevHashes = service.NewTopic[*sv2.TemplateSetNewPrevHash]("prev hash")
)

// toMining is the event that hands v, of topic, to the sibling's mining handler.
func toMining[T any](topic *service.Topic[T], v T) []service.ClientEvent {
	return []service.ClientEvent{service.SendEventToSiblingServerService{Event: topic.Notify(sv2.ProtocolMining, v)}}
}

func (h *templateHandler) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	h.out.Printf("template provider: connected to %s", s.Address)
	// Room for one pay-to-taproot output (43 bytes), no signature operations.
	return []service.ClientEvent{service.SendToServer{
		Protocol: sv2.ProtocolTemplateDistribution,
		Message:  &sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 43},
	}}, nil
}

func (h *templateHandler) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	h.out.Printf("template provider: disconnected: %v; retrying", err)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolTemplateDistribution, Delay: 5 * time.Second}}, nil
}

func (h *templateHandler) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	return toMining(templates, m), nil
}

func (h *templateHandler) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	return toMining(prevHashes, m), nil
}

// miningHandler serves miners and receives the templates its sibling passes on.
type miningHandler struct {
	service.NullMiningServerHandler

	out *log.Logger
}

// HandleEvent receives the payloads of Notify events for the mining
// protocol, here the sibling's templates, on the server's sibling goroutine.
func (h *miningHandler) HandleEvent(_ context.Context, payload any) ([]service.ServerEvent, error) {
	if m, ok := templates.Of(payload); ok {
		h.out.Printf("mining: template %d (future %t) from the sibling", m.TemplateID, m.FutureTemplate)
		// A pool would now build a job for each open channel from m and
		// return SendMessagesToClient events carrying them.
		return nil, nil
	}
	if m, ok := prevHashes.Of(payload); ok {
		h.out.Printf("mining: new previous block for template %d from the sibling", m.TemplateID)
		// A pool would now send SetNewPrevHash to each channel.
		return nil, nil
	}
	return nil, fmt.Errorf("mining: unexpected event payload %s", service.PayloadName(payload))
}
