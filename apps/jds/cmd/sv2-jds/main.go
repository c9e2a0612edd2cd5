// Command sv2-jds runs a Stratum V2 Job Declarator Server: job declarator
// clients (JDCs) that build their own templates get signed mining job tokens
// from it and declare their jobs to it, and a pool that pins its authority
// key accepts those jobs on the strength of the tokens.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/jds"
	"github.com/stratumgo/stratum/core/appkit"
	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

const app = "JDS"

func main() { appkit.Main(newApp()) }

func newApp() *cli.App {
	env := func(flag string) []string { return appkit.Env(app, flag) }
	flags := []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: jdserver.DefaultListen, Usage: "accept job declarator clients on `ADDRESS`", EnvVars: env("listen")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "cert-validity", Value: noise.DefaultCertValidity, Usage: "how long each Noise certificate lasts (`DURATION`)", EnvVars: env("cert-validity")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "plain", Usage: "serve JDCs without Noise encryption (trusted LAN only; tokens are signed all the same)", EnvVars: env("plain")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "network", Value: "mainnet", Usage: "the chain the node must be on, and of the --payout address: `NET` is mainnet, testnet, testnet4, signet or regtest", EnvVars: env("network")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tp-address", Value: "127.0.0.1:8442", Usage: "the template provider's `ADDRESS`, which the chain tip is taken from", EnvVars: env("tp-address")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tp-authority-pubkey", Usage: "pin the template provider's authority public `KEY` (without it the link is encrypted but not authenticated)", EnvVars: env("tp-authority-pubkey")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "tp-plain", Usage: "talk to the template provider without Noise (same machine only)", EnvVars: env("tp-plain")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "payout", Usage: "the pool's payout output, first in every coinbase a JDC builds: `ADDRESS_OR_SCRIPT` is an address of --network or a hex output script (required)", EnvVars: env("payout")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "mode", Value: string(jdserver.ModeBoth), Usage: "serve job declaration `MODE`: both, full-template (JDCs declare every transaction) or coinbase-only (JDCs declare only their coinbase, to the pool)", EnvVars: env("mode")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "token-lifetime", Value: jdserver.DefaultTokenLifetime, Usage: "a mining job token is good for `DURATION` after it is granted", EnvVars: env("token-lifetime")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-tokens-per-connection", Value: jdserver.DefaultMaxTokensPerConnection, Usage: "a connection holds at most `N` unused tokens; allocating more forgets its oldest", EnvVars: env("max-tokens-per-connection")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "keep-jobs", Value: jdserver.DefaultKeepJobs, Usage: "keep each connection's last `N` accepted declarations for PushSolution", EnvVars: env("keep-jobs")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "missing-timeout", Value: jdserver.DefaultMissingTimeout, Usage: "a declaration waits at most `DURATION` for the transactions the JDS asked the JDC for", EnvVars: env("missing-timeout")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "mempool-refresh", Value: jdserver.DefaultMempoolRefresh, Usage: "follow the node's mempool every `DURATION`", EnvVars: env("mempool-refresh")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-connections", Value: service.DefaultMaxConnections, Usage: "accept at most `N` JDC connections", EnvVars: env("max-connections")}),
	}
	flags = append(flags, appkit.MonitorFlags(app, appkit.MonitorJDS)...)
	flags = append(flags, appkit.NodeFlags(app, "the node's JSON-RPC `URL` (http:// or https://), for mempool look-ups, block proposals and submitblock (required)")...)
	flags = append(flags, appkit.AuthorityFlags(app)...)
	flags = append(flags, appkit.CommonFlags(app)...)
	return &cli.App{
		Name:  "sv2-jds",
		Usage: "a Stratum V2 job declarator server",
		Description: `Job declarator clients (JDCs) connect over Stratum V2 (Noise-encrypted unless --plain),
allocate mining job tokens and declare the jobs they build from their own templates. In
full-template mode a JDC declares every transaction, which the JDS checks against the node
(asking the JDC for those the node's mempool lacks) before it grants the job; in coinbase-only
mode a JDC declares only its coinbase to the pool; --mode both serves either. Every token is
signed with the authority key, so a pool that pins its public key (sv2-pool
--jds-authority-pubkey) checks each SetCustomMiningJob on its own. The JDS follows the chain
tip through a template provider and runs on btcd or an unpatched Bitcoin Core through RPC
(--node-rpc-url). The authority key is required even with --plain. Every flag can also be set
through its SV2_JDS_* environment variable or a --config TOML file (see sv2-jds.example.toml).
The authority public key pools and JDCs pin is logged at start.`,
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
	net, err := network.Params(c.String("network"))
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	mode, err := jdserver.ParseMode(c.String("mode"))
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	cfg := jds.Config{
		Listen: c.String("listen"), CertValidity: c.Duration("cert-validity"), Plain: c.Bool("plain"),
		Network: c.String("network"), Mode: mode,
		TemplateProvider:       jdserver.TemplateProvider{Address: c.String("tp-address"), Plain: c.Bool("tp-plain")},
		TokenLifetime:          c.Duration("token-lifetime"),
		MaxTokensPerConnection: c.Int("max-tokens-per-connection"),
		KeepJobs:               c.Int("keep-jobs"), MissingTimeout: c.Duration("missing-timeout"),
		MempoolRefresh: c.Duration("mempool-refresh"), MaxConnections: c.Int("max-connections"),
		Logger: log, Monitor: appkit.MonitorConfig(c, c.String("network"), log),
	}
	payout := c.String("payout")
	if payout == "" {
		return errors.New("--payout is required: the pool payout output's address or hex script")
	}
	if cfg.PayoutScript, err = network.OutputScript(payout, net); err != nil {
		return fmt.Errorf("--payout: %w", err)
	}
	nc, err := appkit.NodeConfig(c, log)
	if err != nil {
		return err
	}
	if nc == nil {
		return errors.New("--node-rpc-url is required: the JDS checks declarations and submits blocks through the node")
	}
	nc.Network = cfg.Network
	cfg.Node = *nc
	if k := c.String("tp-authority-pubkey"); k != "" {
		pk, err := noise.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("--tp-authority-pubkey: %w", err)
		}
		cfg.TemplateProvider.AuthorityKey = &pk
	}
	// The key is needed with --plain too: it signs every token.
	if cfg.AuthorityKey, err = appkit.AuthorityKey(c); err != nil {
		return err
	}
	log.Info("authority public key (pools and JDCs pin this)", "authority_pubkey", cfg.AuthorityKey.PublicKey().String())
	ctx, stop := appkit.SignalContext()
	defer stop()
	return jds.Run(ctx, cfg)
}
