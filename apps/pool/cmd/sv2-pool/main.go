// Command sv2-pool runs a Stratum V2 mining pool: miners connect to it, it
// takes templates from a template provider, and it gets found blocks to the
// network.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/appkit"
	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

const app = "POOL"

func main() { appkit.Main(newApp()) }

func newApp() *cli.App {
	env := func(flag string) []string { return appkit.Env(app, flag) }
	flags := []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: pool.DefaultListen, Usage: "accept miners on `ADDRESS`", EnvVars: env("listen")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "cert-validity", Value: noise.DefaultCertValidity, Usage: "how long each Noise certificate lasts (`DURATION`)", EnvVars: env("cert-validity")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "plain", Usage: "serve miners without Noise encryption (trusted LAN only)", EnvVars: env("plain")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tp-address", Value: "127.0.0.1:8442", Usage: "the template provider's `ADDRESS`", EnvVars: env("tp-address")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tp-authority-pubkey", Usage: "pin the template provider's authority public `KEY` (without it the link is encrypted but not authenticated)", EnvVars: env("tp-authority-pubkey")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "tp-plain", Usage: "talk to the template provider without Noise (same machine only)", EnvVars: env("tp-plain")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "network", Value: "mainnet", Usage: "`NET` for payout addresses: mainnet, testnet, testnet4, signet or regtest", EnvVars: env("network")}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "payout", Usage: "pay a share of each block to `ADDRESS_OR_SCRIPT[:WEIGHT]` (an address of --network or a hex output script; weight 1 if omitted); repeat for several", EnvVars: env("payout")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "pool-tag", Usage: "`TAG` pushed in every coinbase scriptSig, e.g. /my pool/", EnvVars: env("pool-tag")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "solo", Usage: "solo mining: each miner's user identity is <address>[.<worker>] and its blocks pay that address in full", EnvVars: env("solo")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "shares-per-minute", Value: pool.DefaultSharesPerMinute, Usage: "vardiff aims each channel at `RATE` shares per minute", EnvVars: env("shares-per-minute")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "vardiff-interval", Value: pool.DefaultVardiffInterval, Usage: "retarget channels every `DURATION`", EnvVars: env("vardiff-interval")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "fixed-version", Usage: "forbid version rolling (REQUIRES_FIXED_VERSION)", EnvVars: env("fixed-version")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "min-share-difficulty", Value: mining.DefaultMinShareDifficulty, Usage: "take no share easier than `D` (difficulty 1 = 2^32 hashes), whatever a channel declares", EnvVars: env("min-share-difficulty")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "share-batch-size", Value: 10, Usage: "acknowledge accepted shares `N` at a time", EnvVars: env("share-batch-size")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "jds-listen", Usage: "run a job declarator server in the pool on `ADDRESS`, so that miners' JDCs mine templates of their own (needs --node-rpc-url; tokens are signed with the pool's authority key)", EnvVars: env("jds-listen")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "jds-authority-pubkey", Usage: "accept custom jobs with tokens of the standalone sv2-jds whose authority public `KEY` this is", EnvVars: env("jds-authority-pubkey")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "jds-mode", Value: string(jdserver.ModeBoth), Usage: "job declaration `MODE`: both, full-template or coinbase-only (the in-process JDS serves it; with --jds-authority-pubkey, full-template refuses coinbase-only tokens)", EnvVars: env("jds-mode")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "jds-token-lifetime", Value: jdserver.DefaultTokenLifetime, Usage: "the in-process JDS's tokens expire after `DURATION`", EnvVars: env("jds-token-lifetime")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "inactivity-limit", Value: pool.DefaultInactivityLimit, Usage: "drop miners that send no share or other work for `DURATION` (negative: never)", EnvVars: env("inactivity-limit")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "stats-interval", Value: pool.DefaultStatsInterval, Usage: "log each user's accounting every `DURATION`", EnvVars: env("stats-interval")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-channels", Value: pool.DefaultMaxChannels, Usage: "accept at most `N` channels open on all connections together", EnvVars: env("max-channels")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-channels-per-connection", Value: pool.DefaultMaxChannelsPerConnection, Usage: "accept at most `N` channels on one connection", EnvVars: env("max-channels-per-connection")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-connections", Value: service.DefaultMaxConnections, Usage: "accept at most `N` miner connections", EnvVars: env("max-connections")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-connections-per-source", Value: service.DefaultMaxConnectionsPerSource, Usage: "accept at most `N` connections from one IP address (a farm behind one address: raise it, or use a proxy)", EnvVars: env("max-connections-per-source")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "server-id", Value: 0, Usage: "`ID` (0 to 255) put first in every extranonce prefix, so that several sv2-pool frontends on one ledger and template provider never hand out the same one: every frontend sharing a ledger needs a distinct id", EnvVars: env("server-id")}),
	}
	flags = append(flags, ledgerFlags(env)...)
	flags = append(flags, appkit.Sv1Flags(app)...)
	flags = append(flags, appkit.MonitorFlags(app, appkit.MonitorPool)...)
	flags = append(flags, appkit.NodeFlags(app, "also submit found blocks straight to the node at `URL` (http:// or https://)")...)
	flags = append(flags, appkit.AuthorityFlags(app)...)
	flags = append(flags, appkit.CommonFlags(app)...)
	return &cli.App{
		Name:  "sv2-pool",
		Usage: "a Stratum V2 mining pool",
		Description: `Miners connect over Stratum V2 (Noise-encrypted unless --plain) and open standard,
extended or group channels; the pool takes templates from a Stratum V2 template provider,
hands out jobs, validates every share, adjusts each channel's difficulty, and sends found
blocks to the template provider (and, with --node-rpc-url, straight to the node as well).
With --jds-listen (a job declarator server inside the pool) or --jds-authority-pubkey (a
standalone sv2-jds), miners' job declarator clients mine templates of their own: the pool
checks each custom job's token on its own and keeps the accounts.
Every flag can also be set through its SV2_POOL_* environment variable or a --config TOML
file (see sv2-pool.example.toml). The authority public key miners pin is logged at start.`,
		Flags:    flags,
		Before:   appkit.LoadConfigFile(flags),
		Commands: []*cli.Command{appkit.KeygenCommand(), ledgerCommand()},
		Action:   run,
	}
}

func run(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("unexpected argument %q", c.Args().First())
	}
	id, err := serverID(c)
	if err != nil {
		return err
	}
	log, err := appkit.Logger(c, os.Stderr)
	if err != nil {
		return err
	}
	net, err := network.Params(c.String("network"))
	if err != nil {
		return err
	}
	cfg := pool.Config{
		Listen: c.String("listen"), CertValidity: c.Duration("cert-validity"), Plain: c.Bool("plain"),
		TemplateProvider: pool.TemplateProvider{Address: c.String("tp-address"), Plain: c.Bool("tp-plain")},
		Network:          c.String("network"), Tag: c.String("pool-tag"), Solo: c.Bool("solo"),
		SharesPerMinute: c.Float64("shares-per-minute"), ShareBatchSize: c.Int("share-batch-size"),
		VardiffInterval: c.Duration("vardiff-interval"), FixedVersion: c.Bool("fixed-version"),
		InactivityLimit: c.Duration("inactivity-limit"), MaxConnections: c.Int("max-connections"),
		MaxConnectionsPerSource: c.Int("max-connections-per-source"), MinShareDifficulty: c.Float64("min-share-difficulty"),
		MaxChannels: c.Int("max-channels"), StatsInterval: c.Duration("stats-interval"),
		MaxChannelsPerConnection: c.Int("max-channels-per-connection"),
		ServerID:                 id,
		Logger:                   log,
		Sv1:                      appkit.Sv1Config(c),
		Monitor:                  appkit.MonitorConfig(c, c.String("network"), log),
	}
	for _, s := range c.StringSlice("payout") {
		po, err := pool.ParsePayout(s, net)
		if err != nil {
			return err
		}
		cfg.Payouts = append(cfg.Payouts, po)
	}
	if k := c.String("tp-authority-pubkey"); k != "" {
		pk, err := noise.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("--tp-authority-pubkey: %w", err)
		}
		cfg.TemplateProvider.AuthorityKey = &pk
	}
	if cfg.Node, err = appkit.NodeConfig(c, log); err != nil {
		return err
	}

	if !cfg.Plain || (cfg.JobDeclaration != nil && cfg.JobDeclaration.Listen != "") {
		if cfg.AuthorityKey, err = appkit.AuthorityKey(c); err != nil {
			return err
		}
		log.Info("authority public key (miners pin this)", "authority_pubkey", cfg.AuthorityKey.PublicKey().String())
	}
	ctx, stop := appkit.SignalContext()
	defer stop()
	if cfg.Ledger, err = ledgerConfig(ctx, c); err != nil {
		return err
	}
	return pool.Run(ctx, cfg)
}

// serverID is --server-id, checked.
func serverID(c *cli.Context) (int, error) {
	id := c.Int("server-id")
	if id < 0 || id > 255 {
		return 0, fmt.Errorf("--server-id %d: want 0 to 255", id)
	}
	return id, nil
}
