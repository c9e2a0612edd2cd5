// Command sv2-cpuminer mines on the CPU for a Stratum V2 pool.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/core/appkit"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/noise"
)

const app = "MINER"

func main() { appkit.Main(newApp()) }

func newApp() *cli.App {
	env := func(flag string) []string { return appkit.Env(app, flag) }
	threads := altsrc.NewIntFlag(&cli.IntFlag{Name: "threads", Value: runtime.NumCPU(), Usage: "hash on `N` threads", EnvVars: env("threads")})
	flags := []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "pool", Value: "127.0.0.1:3333", Usage: "the pool's `ADDRESS`", EnvVars: env("pool")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "authority-pubkey", Usage: "pin the pool's authority public `KEY` (without it the link is encrypted but the pool not authenticated)", EnvVars: env("authority-pubkey")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "plain", Usage: "connect without Noise (trusted LAN only)", EnvVars: env("plain")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "user", Value: "cpuminer", Usage: "user `IDENTITY` sent when opening channels (a pool account, or <address>[.<worker>] for a solo pool)", EnvVars: env("user")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "channel-kind", Value: cpuminer.Standard, Usage: "open `KIND` channels: standard (the pool builds each merkle root) or extended (the miner rolls its own extranonce)", EnvVars: env("channel-kind")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "channels", Value: 1, Usage: "open `N` channels", EnvVars: env("channels")}),
		threads,
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "nominal-hashrate", DefaultText: "measured at start", Usage: "announce `H/S` to the pool", EnvVars: env("nominal-hashrate")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "report-interval", Value: cpuminer.DefaultReportInterval, Usage: "log the hashrate every `DURATION`", EnvVars: env("report-interval")}),
	}
	flags = append(flags, appkit.MonitorFlags(app, appkit.MonitorCPUMiner)...)
	flags = append(flags, appkit.CommonFlags(app)...)
	return &cli.App{
		Name:  "sv2-cpuminer",
		Usage: "mine on the CPU for a Stratum V2 pool",
		Description: `Opens --channels standard or extended channels on the pool, follows its jobs and targets,
and hashes on --threads threads (one per core by default) with a SHA-256 midstate, using the
CPU's SHA extensions where it has them (` + sha256d.Implementation() + ` here). Shares count as
accepted only when the pool acknowledges them; a lost connection is retried with backoff.
Every flag can also be set through its SV2_MINER_* environment variable or a --config TOML file.`,
		Flags:  flags,
		Before: appkit.LoadConfigFile(flags),
		Commands: []*cli.Command{{
			Name:  "bench",
			Usage: "hash without a pool and print the hashrate",
			Description: `Hashes for --seconds on --threads threads and prints one final line:
hashrate_hs=<float> threads=<n>`,
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "seconds", Value: 10, Usage: "hash for `N` seconds"},
				&cli.IntFlag{Name: "threads", Value: runtime.NumCPU(), Usage: "hash on `N` threads"},
			},
			Action: func(c *cli.Context) error {
				n := c.Int("threads")
				if n <= 0 || c.Int("seconds") <= 0 {
					return fmt.Errorf("--threads and --seconds must be positive")
				}
				rate := cpuminer.Measure(n, time.Duration(c.Int("seconds"))*time.Second)
				_, err := fmt.Fprintf(c.App.Writer, "hashrate_hs=%.0f threads=%d\n", rate, n)
				return err
			},
		}},
		Action: run,
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
	cfg := cpuminer.Config{
		Pool: c.String("pool"), Plain: c.Bool("plain"), User: c.String("user"),
		ChannelKind: c.String("channel-kind"), Channels: c.Int("channels"), Threads: c.Int("threads"),
		NominalHashrate: c.Float64("nominal-hashrate"), ReportInterval: c.Duration("report-interval"), Logger: log,
		Monitor: appkit.MonitorConfig(c, "mainnet", log),
	}
	if k := c.String("authority-pubkey"); k != "" {
		pk, err := noise.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("--authority-pubkey: %w", err)
		}
		cfg.AuthorityKey = &pk
	}
	ctx, stop := appkit.SignalContext()
	defer stop()
	return cpuminer.Run(ctx, cfg)
}
