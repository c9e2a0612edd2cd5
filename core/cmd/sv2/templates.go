package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/synthtp"
)

// Exit statuses of sv2 templates besides 0 (stopped by SIGINT or SIGTERM).
const (
	templatesUsage  = 1 // invalid command line, as for decode and keygen
	templatesFailed = 2 // could not listen, or the server failed
)

func templatesCommand() *cli.Command {
	return &cli.Command{
		Name:  "templates",
		Usage: "serve synthetic templates at a chosen nBits and a new prev hash every N seconds, for load-testing a pool without a node",
		Description: `Serves Template Distribution on --listen with no node behind it. Every client that sends
CoinbaseOutputConstraints gets a future template and the SetNewPrevHash that activates it, and
every --new-tip-every all of them get the next block's: a template one height up (BIP34) and a new
prev hash. The templates carry no transactions, and every tip has nBits --bits, by default far
harder than any share a load test finds: a pool fed by it keeps shares as shares, where on
regtest every share is a block. Point the pool at it (--tp-address), then load the pool with
"sv2 load". Solutions (SubmitSolution) are counted and logged, never checked or submitted.

Noise is on, with an authority key made at start: pin it with the pool's --tp-authority-pubkey.
With --plain the link is unencrypted (the pool's --tp-plain).

Standard output, one line each:
  address: HOST:PORT              where it listens (the port chosen, with --listen HOST:0)
  authority_pubkey: KEY           the key to pin (not with --plain)
  tip: height=N template=ID prev_hash=HEX clients=K
                                  the first tip, then each new one, with the clients set up then
Logs (a client's connection, solutions) go to standard error.

It runs until SIGINT or SIGTERM.

Exit status:
  0    stopped by SIGINT or SIGTERM
  1    invalid command line
  2    could not listen on --listen, or the server failed`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8442", Usage: "serve on `HOST:PORT` (port 0: any free port, printed)"},
			&cli.Uint64Flag{Name: "bits", Value: synthtp.DefaultBits, DefaultText: fmt.Sprintf("%#08x", synthtp.DefaultBits), Usage: "every tip's nBits `N` (decimal or 0x-hex, a positive compact target; 0x207fffff is regtest's)"},
			&cli.DurationFlag{Name: "new-tip-every", Value: 30 * time.Second, Usage: "move to a new block every `D` (0: never)"},
			&cli.Int64Flag{Name: "height", Value: synthtp.DefaultHeight, Usage: "the first tip's block `HEIGHT`"},
			&cli.BoolFlag{Name: "plain", Usage: "serve without Noise, as the pool's --tp-plain expects (same machine only)"},
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("sv2 templates: "+err.Error(), templatesUsage)
		},
		Action: runTemplates,
	}
}

// templatesConfig is a checked command line.
type templatesConfig struct {
	listen   string
	every    time.Duration
	plain    bool
	provider *synthtp.Provider
	log      *slog.Logger
}

func parseTemplates(c *cli.Context) (templatesConfig, error) {
	if c.Args().Present() {
		return templatesConfig{}, fmt.Errorf("unexpected argument %q: sv2 templates takes flags only", c.Args().First())
	}
	cfg := templatesConfig{listen: c.String("listen"), every: c.Duration("new-tip-every"), plain: c.Bool("plain")}
	if _, _, err := splitAddress(cfg.listen); err != nil {
		return templatesConfig{}, fmt.Errorf("--listen: %w", err)
	}
	bits := c.Uint64("bits")
	if bits == 0 || bits>>32 != 0 {
		return templatesConfig{}, fmt.Errorf("--bits %#x: want a 32-bit compact target", bits)
	}
	if cfg.every < 0 {
		return templatesConfig{}, fmt.Errorf("--new-tip-every %v: must not be negative", cfg.every)
	}
	if h := c.Int64("height"); h < 1 || h > 1<<31 {
		return templatesConfig{}, fmt.Errorf("--height %d: want 1 to %d", h, int64(1)<<31)
	}
	cfg.log = slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	var err error
	cfg.provider, err = synthtp.New(synthtp.Config{Bits: uint32(bits), Height: c.Int64("height"), Logger: cfg.log})
	if err != nil {
		return templatesConfig{}, fmt.Errorf("--bits %#08x: %w", bits, err)
	}
	return cfg, nil
}

func runTemplates(c *cli.Context) error {
	cfg, err := parseTemplates(c)
	if err != nil {
		return cli.Exit("sv2 templates: "+err.Error(), templatesUsage)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveTemplates(ctx, cfg, c); err != nil {
		return cli.Exit("sv2 templates: "+err.Error(), templatesFailed)
	}
	return nil
}

// serveTemplates runs the provider until ctx ends.
func serveTemplates(ctx context.Context, cfg templatesConfig, c *cli.Context) error {
	out, p := c.App.Writer, cfg.provider
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	scfg := service.ServerConfig{Listener: ln, Plain: cfg.plain, TemplateDistribution: &service.ProtocolConfig{}, Logger: cfg.log}
	var pub string
	if !cfg.plain {
		sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
		if err != nil {
			ln.Close()
			return err
		}
		scfg.AuthorityKey, pub = &sk, pk.String()
	}
	srv, err := service.NewServerService(scfg, nil, nil, p)
	if err != nil {
		ln.Close()
		return err
	}
	if _, err := fmt.Fprintf(out, "address: %s\n", ln.Addr()); err != nil {
		ln.Close()
		return fmt.Errorf("writing output: %w", err)
	}
	if pub != "" {
		fmt.Fprintf(out, "authority_pubkey: %s\n", pub)
	}
	printTip := func(t synthtp.Tip, clients int) {
		fmt.Fprintf(out, "tip: height=%d template=%d prev_hash=%s clients=%d\n", t.Height, t.Template.TemplateID, chainhash.Hash(t.PrevHash.PrevHash), clients)
	}
	printTip(p.Tip(), 0)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	var tick <-chan time.Time
	if cfg.every > 0 {
		t := time.NewTicker(cfg.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil && (err == nil || errors.Is(err, service.ErrStopped)) {
				return nil // SIGINT or SIGTERM
			}
			if err == nil {
				err = errors.New("the server stopped")
			}
			return err
		case <-tick:
			tip, ev := p.NewTip()
			if err := srv.HandleEvent(runCtx, ev); err != nil && runCtx.Err() == nil {
				cancel()
				<-done
				return fmt.Errorf("sending the new tip: %w", err)
			}
			printTip(tip, len(srv.Clients()))
		}
	}
}
