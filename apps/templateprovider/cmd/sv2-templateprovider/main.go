// Command sv2-templateprovider serves the Stratum V2 Template Distribution
// Protocol from a node's getblocktemplate/submitblock (btcd or Bitcoin Core).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/templateprovider"
	"github.com/stratumgo/stratum/core/appkit"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

const app = "TP"

func main() { appkit.Main(newApp()) }

func newApp() *cli.App {
	env := func(flag string) []string { return appkit.Env(app, flag) }
	flags := []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: templateprovider.DefaultListen, Usage: "serve Template Distribution on `ADDRESS`", EnvVars: env("listen")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "rpc-url", Value: "http://127.0.0.1:8332", Usage: "the node's JSON-RPC `URL` (http:// or https://)", EnvVars: env("rpc-url")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "rpc-user", Usage: "JSON-RPC `USER`", EnvVars: env("rpc-user")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "rpc-pass", Usage: "JSON-RPC `PASSWORD`", EnvVars: env("rpc-pass")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "rpc-cookie", Usage: "read JSON-RPC credentials from Bitcoin Core's cookie `FILE` instead", EnvVars: env("rpc-cookie")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "rpc-cert", Usage: "trust the node's TLS certificate in `FILE` (btcd's rpc.cert) for https URLs", EnvVars: env("rpc-cert")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "network", Value: "mainnet", Usage: "the chain the node must be on: `NET` is mainnet, testnet, testnet4, signet or regtest", EnvVars: env("network")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "plain", Usage: "serve without Noise encryption (only for a client on this machine or a trusted LAN)", EnvVars: env("plain")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "cert-validity", Value: noise.DefaultCertValidity, Usage: "how long each Noise certificate lasts (`DURATION`)", EnvVars: env("cert-validity")}),
		altsrc.NewInt64Flag(&cli.Int64Flag{Name: "fee-delta", Value: templateprovider.DefaultFeeDelta, Usage: "send a new template when fees rise by at least `SATS`", EnvVars: env("fee-delta")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "template-interval", Value: templateprovider.DefaultTemplateInterval, Usage: "check the node's template for higher fees every `DURATION` (also the least time between such templates)", EnvVars: env("template-interval")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-connections", Value: service.DefaultMaxConnections, Usage: "at most `N` client connections", EnvVars: env("max-connections")}),
	}
	flags = append(flags, appkit.AuthorityFlags(app)...)
	flags = append(flags, appkit.MonitorFlags(app, appkit.MonitorTemplateProvider)...)
	flags = append(flags, appkit.CommonFlags(app)...)
	return &cli.App{
		Name:  "sv2-templateprovider",
		Usage: "serve Stratum V2 templates from a node's getblocktemplate",
		Description: `Connects to a node's JSON-RPC (btcd or Bitcoin Core), turns its block templates into
Template Distribution messages (NewTemplate, SetNewPrevHash) for pools and job declarator
clients, and submits the blocks they find. New blocks are noticed through btcd's websocket
notifications, or by long-polling getblocktemplate. Every flag can also be set through its
SV2_TP_* environment variable or a --config TOML file. Start-up fails with one line if the
node cannot be reached, refuses the credentials or is on another network.`,
		Flags:    flags,
		Before:   appkit.LoadConfigFile(flags),
		Commands: []*cli.Command{appkit.KeygenCommand()},
		Action:   run,
	}
}

func run(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("unexpected argument %q", c.Args().First())
	}
	log, err := appkit.Logger(c, os.Stderr)
	if err != nil {
		return err
	}
	cfg := templateprovider.Config{
		Listen:           c.String("listen"),
		Plain:            c.Bool("plain"),
		CertValidity:     c.Duration("cert-validity"),
		Network:          c.String("network"),
		FeeDelta:         c.Int64("fee-delta"),
		TemplateInterval: c.Duration("template-interval"),
		MaxConnections:   c.Int("max-connections"),
		Node: node.Config{
			URL: c.String("rpc-url"), User: c.String("rpc-user"), Password: c.String("rpc-pass"),
			CookieFile: c.String("rpc-cookie"), Logger: log.With("component", "node"),
		},
		Logger:  log,
		Monitor: appkit.MonitorConfig(c, c.String("network"), log),
	}
	if path := c.String("rpc-cert"); path != "" {
		if cfg.Node.TLSConfig, err = appkit.TrustCert(path); err != nil {
			return fmt.Errorf("--rpc-cert: %w", err)
		}
	}
	if !cfg.Plain {
		if cfg.AuthorityKey, err = appkit.AuthorityKey(c); err != nil {
			return err
		}
	}
	ctx, stop := appkit.SignalContext()
	defer stop()
	return templateprovider.Run(ctx, cfg)
}
