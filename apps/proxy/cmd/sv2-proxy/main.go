// Command sv2-proxy runs a Stratum V2 mining proxy: a farm's devices
// connect to it, and it mines for them through one upstream channel (or a
// few) of a pool, failing over to the next upstream of a list.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/proxy"
	"github.com/stratumgo/stratum/core/appkit"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
)

const app = "PROXY"

func main() { appkit.Main(newApp()) }

func newApp() *cli.App {
	env := func(flag string) []string { return appkit.Env(app, flag) }
	flags := []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: proxy.DefaultListen, Usage: "accept devices on `ADDRESS`", EnvVars: env("listen")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "cert-validity", Value: noise.DefaultCertValidity, Usage: "how long each Noise certificate lasts (`DURATION`)", EnvVars: env("cert-validity")}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "plain", Usage: "serve devices without Noise encryption (trusted LAN only; no authority key needed then)", EnvVars: env("plain")}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "upstream", Usage: "mine through `ADDR[,KEY]`: a pool, proxy or JDC at host:port, with the authority public KEY it logs to pin (none: encrypted but not authenticated; \"plain\": no Noise, trusted links only); repeat, or separate with ';', in order of preference (required)", EnvVars: env("upstream")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "user", Usage: "the user `IDENTITY` of the upstream channels, which the pool credits the devices' shares to (required in aggregate mode)", EnvVars: env("user")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "mode", Value: string(proxy.ModeAggregate), Usage: "`MODE`: aggregate (every device channel rides a few upstream channels of --user) or passthrough (each device channel rides an upstream channel of its own, with the device's user identity, for pools that account per worker)", EnvVars: env("mode")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "upstream-channels", Value: proxy.DefaultUpstreamChannels, Usage: "carry the devices on `N` upstream channels", EnvVars: env("upstream-channels")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "channel-index-size", Value: proxy.DefaultChannelIndexSize, Usage: "number the device channels of each upstream channel with `N` bytes of its extranonce (1 to 3: 256, 65,536 or 16 M channels)", EnvVars: env("channel-index-size")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "extranonce-size", Usage: "give each device channel a full extranonce of `N` bytes, of which --channel-index-size number the channel (0: what the first upstream channel rolls; every upstream must roll at least N)", EnvVars: env("extranonce-size")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "shares-per-minute", Value: proxy.DefaultSharesPerMinute, Usage: "vardiff aims each device channel at `RATE` shares per minute", EnvVars: env("shares-per-minute")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "vardiff-interval", Value: proxy.DefaultVardiffInterval, Usage: "retarget device channels every `DURATION`", EnvVars: env("vardiff-interval")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "min-share-difficulty", Usage: "take no device share easier than difficulty `D` (0: 2^-24; negative: no minimum)", EnvVars: env("min-share-difficulty")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "primary-probe", Value: proxy.DefaultPrimaryProbe, Usage: "while mining through another upstream, probe the first every `DURATION` and go back once it answers", EnvVars: env("primary-probe")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "passthrough-open-rate", Value: proxy.DefaultPassthroughOpenRate, Usage: "in passthrough mode, ask the upstream for at most `RATE` channels a second per device address, beyond a burst of --max-channels-per-connection", EnvVars: env("passthrough-open-rate")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-connections", Value: service.DefaultMaxConnections, Usage: "accept at most `N` device connections", EnvVars: env("max-connections")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-channels-per-connection", Value: proxy.DefaultMaxChannelsPerConnection, Usage: "let one device connection open at most `N` channels", EnvVars: env("max-channels-per-connection")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-channels-per-source", Value: proxy.DefaultMaxChannelsPerSource, Usage: "let the connections of one IP address open at most `N` channels", EnvVars: env("max-channels-per-source")}),
	}
	flags = append(flags, appkit.Sv1Flags(app)...)
	flags = append(flags, appkit.MonitorFlags(app, appkit.MonitorProxy)...)
	flags = append(flags, appkit.AuthorityFlags(app)...)
	flags = append(flags, appkit.CommonFlags(app)...)
	return &cli.App{
		Name:  "sv2-proxy",
		Usage: "a Stratum V2 mining proxy",
		Description: `A mining proxy stands between a farm's devices and a pool: the devices connect here over
Stratum V2 (Noise-encrypted unless --plain) and open standard, extended or group channels,
each with its own difficulty, and the pool sees one connection and one extended channel (or
--upstream-channels of them) of --user. Each device channel mines its own sub-range of the
upstream channel's extranonce, so proxies can be chained. Device shares are checked and
acknowledged here; those that meet the pool's target go up. --upstream names the pools in
order of preference: when one fails the next is used, the devices staying connected, and the
first is used again once it answers. Every flag can also be set through its SV2_PROXY_*
environment variable or a --config TOML file (see sv2-proxy.example.toml). The authority
public key devices pin is logged at start.`,
		Flags:              flags,
		Before:             appkit.LoadConfigFile(flags),
		Commands:           []*cli.Command{appkit.KeygenCommand()},
		Action:             run,
		SliceFlagSeparator: ";", // an --upstream holds a comma
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
	mode, err := proxy.ParseMode(c.String("mode"))
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	cfg := proxy.Config{
		Listen: c.String("listen"), CertValidity: c.Duration("cert-validity"), Plain: c.Bool("plain"),
		Mode: mode, User: c.String("user"), UpstreamChannels: c.Int("upstream-channels"), ExtranonceSize: c.Int("extranonce-size"),
		ChannelIndexSize: c.Int("channel-index-size"),
		SharesPerMinute:  c.Float64("shares-per-minute"), VardiffInterval: c.Duration("vardiff-interval"),
		MinShareDifficulty: c.Float64("min-share-difficulty"), PrimaryProbe: c.Duration("primary-probe"),
		MaxConnections: c.Int("max-connections"), MaxChannelsPerConnection: c.Int("max-channels-per-connection"),
		MaxChannelsPerSource: c.Int("max-channels-per-source"), PassthroughOpenRate: c.Float64("passthrough-open-rate"),
		Logger: log, Sv1: appkit.Sv1Config(c), Monitor: appkit.MonitorConfig(c, "mainnet", log),
	}
	if cfg.User == "" && mode == proxy.ModeAggregate {
		return errors.New("--user is required: the identity the pool credits the devices' shares to")
	}
	for _, s := range c.StringSlice("upstream") {
		up, err := parseUpstream(s)
		if err != nil {
			return err
		}
		cfg.Upstreams = append(cfg.Upstreams, up)
	}
	if len(cfg.Upstreams) == 0 {
		return errors.New("--upstream is required: the pool to mine through, as ADDR[,KEY]")
	}
	if !cfg.Plain {
		if cfg.AuthorityKey, err = appkit.AuthorityKey(c); err != nil {
			return err
		}
		log.Info("authority public key (devices pin this)", "authority_pubkey", cfg.AuthorityKey.PublicKey().String())
	}
	ctx, stop := appkit.SignalContext()
	defer stop()
	return proxy.Run(ctx, cfg)
}

// parseUpstream reads one --upstream: ADDR, ADDR,KEY or ADDR,plain.
func parseUpstream(s string) (proxy.Upstream, error) {
	addr, key, _ := strings.Cut(s, ",")
	addr, key = strings.TrimSpace(addr), strings.TrimSpace(key)
	if addr == "" {
		return proxy.Upstream{}, fmt.Errorf("--upstream %q: no address, want host:port[,KEY]", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return proxy.Upstream{}, fmt.Errorf("--upstream %q: address %q: want host:port", s, addr)
	}
	up := proxy.Upstream{Address: addr}
	switch key {
	case "":
	case "plain":
		up.Plain = true
	default:
		pk, err := noise.ParsePublicKey(key)
		if err != nil {
			return proxy.Upstream{}, fmt.Errorf("--upstream %q: key %q: %w", s, key, err)
		}
		up.AuthorityKey = &pk
	}
	return up, nil
}
