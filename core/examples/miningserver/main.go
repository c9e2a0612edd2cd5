// Command miningserver is a minimal Stratum V2 mining server. It opens a
// standard channel for every miner that asks, with a fixed easy target and
// an extranonce prefix of its own, and acknowledges every share. It sends no
// jobs and checks no shares: it shows how a ServerService and a
// MiningServerHandler fit together, and is a starting point, not a pool.
//
//	go run ./examples/miningserver -listen 127.0.0.1:34254
//
// Unless -plain is set, it prints the authority public key that miners pin.
// The key is new at every start unless -authority-secret gives one.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// config is what the command line sets.
type config struct {
	listen          string // host:port to accept miners on
	plain           bool   // serve without Noise encryption (local networks only)
	authoritySecret string // base58 authority secret key; empty means a new one
	logger          *slog.Logger
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:34254", "`address` to accept miners on")
	flag.BoolVar(&cfg.plain, "plain", false, "serve without Noise encryption (local networks only)")
	flag.StringVar(&cfg.authoritySecret, "authority-secret", "", "authority secret `key` in base58, as SRI's authority_secret_key; a new one if empty")
	flag.Parse()
	cfg.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "miningserver:", err)
		os.Exit(1)
	}
}

// run serves miners until ctx ends, printing what happens to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	// log.Logger serializes its writes: handlers print from many goroutines.
	printer := log.New(out, "", 0)
	scfg := service.ServerConfig{Mining: &service.ProtocolConfig{}, Plain: cfg.plain, Logger: cfg.logger}
	if !cfg.plain {
		key, err := authorityKey(cfg.authoritySecret)
		if err != nil {
			return err
		}
		scfg.AuthorityKey = &key
		printer.Printf("authority public key: %s", key.PublicKey())
	}
	// Listening here rather than in the service lets us print the address
	// (port 0 picks a free one) before serving.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	scfg.Listener = ln
	h := &miningHandler{out: printer, target: target.Diff1()}
	svc, err := service.NewServerService(scfg, h, nil, nil)
	if err != nil {
		ln.Close()
		return err
	}
	printer.Printf("listening on %s", ln.Addr())
	return service.RunAll(ctx, svc) // nil once ctx ends
}

// authorityKey parses secret, or makes a new key when it is empty.
func authorityKey(secret string) (noise.SecretKey, error) {
	if secret != "" {
		return noise.ParseSecretKey(secret)
	}
	key, _, err := noise.GenerateAuthorityKeyPair(nil)
	return key, err
}

// miningHandler answers OpenStandardMiningChannel and SubmitSharesStandard.
// The mining messages it does not override are ignored, as the embedded
// Null handler does; a pool would answer them too.
type miningHandler struct {
	service.NullMiningServerHandler

	out    *log.Logger
	target sv2.U256 // the target of every channel, unless the miner wants a harder one
	// lastChannel is atomic because the service calls the handler from one
	// goroutine per client.
	lastChannel atomic.Uint32
}

func (h *miningHandler) ClientAdded(_ context.Context, c service.ClientInfo) ([]service.ServerEvent, error) {
	h.out.Printf("client %d connected from %s (%s)", c.ID, c.Remote, c.Setup.Vendor)
	return nil, nil
}

func (h *miningHandler) ClientRemoved(_ context.Context, c service.ClientInfo, reason error) ([]service.ServerEvent, error) {
	h.out.Printf("client %d gone: %v", c.ID, reason)
	return nil, nil
}

func (h *miningHandler) OpenStandardMiningChannel(_ context.Context, c service.ClientID, m *sv2.OpenStandardMiningChannel) ([]service.ServerEvent, error) {
	id := h.lastChannel.Add(1)
	// A channel's target must not be easier than the miner's max_target.
	t := h.target
	if target.Less(m.MaxTarget, t) {
		t = m.MaxTarget
	}
	// Channel ids are unique on this server, so they make unique prefixes:
	// no two channels search the same extranonce space.
	prefix := binary.BigEndian.AppendUint32(nil, id)
	h.out.Printf("client %d: channel %d opened for %q, extranonce prefix %x", c, id, m.UserIdentity, prefix)
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.OpenStandardMiningChannelSuccess{
		RequestID: m.RequestID, ChannelID: id, Target: t, ExtranoncePrefix: prefix,
	}}}, nil
}

func (h *miningHandler) SubmitSharesStandard(_ context.Context, c service.ClientID, m *sv2.SubmitSharesStandard) ([]service.ServerEvent, error) {
	h.out.Printf("client %d: share %d on channel %d acknowledged", c, m.SequenceNumber, m.ChannelID)
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.SubmitSharesSuccess{
		ChannelID: m.ChannelID, LastSequenceNumber: m.SequenceNumber, NewSubmitsAcceptedCount: 1, NewSharesSum: 1,
	}}}, nil
}
