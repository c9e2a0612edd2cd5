// Command sv2-jdc runs a Stratum V2 Job Declarator Client: the miner's own
// devices connect to it, it builds their work from the miner's own template
// provider, declares it to a pool's job declarator server (JDS) and mines it
// through the pool, which keeps the accounts.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/jdc"
	"github.com/stratumgo/stratum/core/appkit"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

const app = "JDC"

func main() { appkit.Main(newApp()) }

func newApp() *cli.App {
	env := func(flag string) []string { return appkit.Env(app, flag) }
	flags := []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: jdc.DefaultListen, Usage: "accept the miner's devices on `ADDRESS`", EnvVars: env("listen")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "cert-validity", Value: noise.DefaultCertValidity, Usage: "how long each Noise certificate lasts (`DURATION`)", EnvVars: env("cert-validity")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "plain", Usage: "serve devices without Noise encryption (trusted LAN only; no authority key needed then)", EnvVars: env("plain")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tp-address", Value: "127.0.0.1:8442", Usage: "the miner's own template provider's `ADDRESS`: the templates mined are its", EnvVars: env("tp-address")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tp-authority-pubkey", Usage: "pin the template provider's authority public `KEY` (without it the link is encrypted but not authenticated)", EnvVars: env("tp-authority-pubkey")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "tp-plain", Usage: "talk to the template provider without Noise (same machine only)", EnvVars: env("tp-plain")}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "upstream", Usage: "mine through the pool and JDS of `UPSTREAM`, POOL_ADDR,POOL_KEY,JDS_ADDR,JDS_KEY: each address host:port, each KEY the authority public key it logs, to pin (empty: encrypted but not authenticated); repeat, or separate with ';', in order of preference (required)", EnvVars: env("upstream")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "mode", Value: string(jdc.ModeFullTemplate), Usage: "job declaration `MODE`: full-template (declare every template's transactions to the JDS) or coinbase-only (show the pool the coinbase alone)", EnvVars: env("mode")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "user", Usage: "the user `IDENTITY` declared to the JDS and the pool, which accounts the shares to it (required)", EnvVars: env("user")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "coinbase-tag", Usage: "`TAG` pushed in every coinbase scriptSig, e.g. /my farm/ (at most 32 bytes)", EnvVars: env("coinbase-tag")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "network", Value: "mainnet", Usage: "`NET` of the --solo-payout address: mainnet, testnet, testnet4, signet or regtest", EnvVars: env("network")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "solo-payout", Usage: "mine solo, the whole reward to `ADDRESS_OR_SCRIPT` (an address of --network or a hex output script), when no upstream can be reached", EnvVars: env("solo-payout")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "shares-per-minute", Value: jdc.DefaultSharesPerMinute, Usage: "vardiff aims each device channel at `RATE` shares per minute", EnvVars: env("shares-per-minute")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "vardiff-interval", Value: jdc.DefaultVardiffInterval, Usage: "retarget device channels every `DURATION`", EnvVars: env("vardiff-interval")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-connections", Value: service.DefaultMaxConnections, Usage: "accept at most `N` device connections", EnvVars: env("max-connections")}),
	}
	flags = append(flags, appkit.AuthorityFlags(app)...)
	flags = append(flags, appkit.Sv1Flags(app)...)
	flags = append(flags, appkit.MonitorFlags(app, appkit.MonitorJDC)...)
	flags = append(flags, appkit.CommonFlags(app)...)
	return &cli.App{
		Name:  "sv2-jdc",
		Usage: "a Stratum V2 job declarator client",
		Description: `A job declarator client (JDC) mines the miner's own templates through a pool that keeps
the accounts. It takes templates from the miner's template provider (--tp-address), gets
mining job tokens from the pool's job declarator server and declares each job to the pool,
which checks the token and credits the shares to --user. In full-template mode the JDC
declares every template's transactions to the JDS; in coinbase-only mode the pool sees the
coinbase alone. --upstream names the pool and JDS pairs, in order of preference. The miner's
devices connect here over Stratum V2 (Noise-encrypted unless --plain) and open standard,
extended or group channels, each with its own difficulty; one channel to the pool carries
them all. Found blocks go to the template provider, the JDS and the pool. Every flag can
also be set through its SV2_JDC_* environment variable or a --config TOML file (see
sv2-jdc.example.toml). The authority public key devices pin is logged at start.`,
		Flags:              flags,
		Before:             appkit.LoadConfigFile(flags),
		Commands:           []*cli.Command{appkit.KeygenCommand()},
		Action:             run,
		SliceFlagSeparator: ";", // an --upstream holds commas
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
	chain, err := network.Params(c.String("network"))
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	mode, err := jdc.ParseMode(c.String("mode"))
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	cfg := jdc.Config{
		Listen: c.String("listen"), CertValidity: c.Duration("cert-validity"), Plain: c.Bool("plain"),
		TemplateProvider: jdc.Server{Address: c.String("tp-address"), Plain: c.Bool("tp-plain")},
		Mode:             mode, User: c.String("user"), CoinbaseTag: c.String("coinbase-tag"),
		SharesPerMinute: c.Float64("shares-per-minute"), VardiffInterval: c.Duration("vardiff-interval"),
		MaxConnections: c.Int("max-connections"),
		Logger:         log,
		Sv1:            appkit.Sv1Config(c),
		Monitor:        appkit.MonitorConfig(c, c.String("network"), log),
	}
	if cfg.User == "" {
		return errors.New("--user is required: the identity the pool credits the shares to")
	}
	if n := len(cfg.CoinbaseTag); n > jdc.MaxCoinbaseTag {
		return fmt.Errorf("--coinbase-tag: %d bytes, at most %d", n, jdc.MaxCoinbaseTag)
	}
	var ups []jdc.Upstream
	for _, s := range c.StringSlice("upstream") {
		up, err := parseUpstream(s)
		if err != nil {
			return err
		}
		ups = append(ups, up)
	}
	if len(ups) == 0 {
		return errors.New("--upstream is required: the pool and JDS to mine through, as POOL_ADDR,POOL_KEY,JDS_ADDR,JDS_KEY")
	}
	cfg.Upstreams = ups
	if s := c.String("solo-payout"); s != "" {
		if cfg.SoloPayout, err = network.OutputScript(s, chain); err != nil {
			return fmt.Errorf("--solo-payout: %w", err)
		}
	}
	if k := c.String("tp-authority-pubkey"); k != "" {
		pk, err := noise.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("--tp-authority-pubkey: %w", err)
		}
		cfg.TemplateProvider.AuthorityKey = &pk
	}
	if !cfg.Plain {
		if cfg.AuthorityKey, err = appkit.AuthorityKey(c); err != nil {
			return err
		}
		log.Info("authority public key (devices pin this)", "authority_pubkey", cfg.AuthorityKey.PublicKey().String())
	}
	ctx, stop := appkit.SignalContext()
	defer stop()
	return jdc.Run(ctx, cfg)
}

// parseUpstream reads one --upstream: POOL_ADDR,POOL_KEY,JDS_ADDR,JDS_KEY,
// each key empty or an authority public key.
func parseUpstream(s string) (jdc.Upstream, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return jdc.Upstream{}, fmt.Errorf("--upstream %q: %d comma-separated parts, want 4: POOL_ADDR,POOL_KEY,JDS_ADDR,JDS_KEY (a KEY may be empty)", s, len(parts))
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	pool, err := parseServer(parts[0], parts[1])
	if err != nil {
		return jdc.Upstream{}, fmt.Errorf("--upstream %q: pool %w", s, err)
	}
	jds, err := parseServer(parts[2], parts[3])
	if err != nil {
		return jdc.Upstream{}, fmt.Errorf("--upstream %q: JDS %w", s, err)
	}
	return jdc.Upstream{Pool: pool, JDS: jds}, nil
}

// parseServer reads an address and an optional authority public key; its
// errors start with "address" or "key".
func parseServer(addr, key string) (jdc.Server, error) {
	if addr == "" {
		return jdc.Server{}, errors.New("address: empty, want host:port")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return jdc.Server{}, fmt.Errorf("address %q: want host:port", addr)
	}
	srv := jdc.Server{Address: addr}
	if key != "" {
		pk, err := noise.ParsePublicKey(key)
		if err != nil {
			return jdc.Server{}, fmt.Errorf("key %q: %w", key, err)
		}
		srv.AuthorityKey = &pk
	}
	return srv, nil
}
