// Package appkit holds what the applications' command lines share: logging
// flags, authority keys and key files, the keygen subcommand, TOML config
// files and the one-line error exit. It keeps each app's main small.
package appkit

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv1"
)

// Flag names shared by every app.
const (
	FlagConfig             = "config"
	FlagLogLevel           = "log-level"
	FlagLogFormat          = "log-format"
	FlagAuthoritySecretKey = "authority-secret-key"
	FlagAuthorityKeyFile   = "authority-key-file"
)

// Env returns the environment variable of a flag: SV2_<APP>_<FLAG>, e.g.
// Env("TP", "rpc-url") = "SV2_TP_RPC_URL".
func Env(app, flag string) []string {
	return []string{"SV2_" + app + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// CommonFlags returns --config, --log-level and --log-format for app (the
// env prefix, e.g. "TP"), as TOML-loadable flags.
func CommonFlags(app string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: FlagConfig, Usage: "read settings from the TOML `FILE` (keys are the flag names); flags and environment variables take precedence", EnvVars: Env(app, FlagConfig)},
		altsrc.NewStringFlag(&cli.StringFlag{Name: FlagLogLevel, Value: "info", Usage: "log `LEVEL`: debug, info, warn or error", EnvVars: Env(app, FlagLogLevel)}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: FlagLogFormat, Value: "text", Usage: "log `FORMAT`: text or json", EnvVars: Env(app, FlagLogFormat)}),
	}
}

// AuthorityFlags returns --authority-secret-key and --authority-key-file.
func AuthorityFlags(app string) []cli.Flag {
	return []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: FlagAuthoritySecretKey, Usage: "the authority secret `KEY` that signs this server's certificates (base58check, as keygen prints)", EnvVars: Env(app, FlagAuthoritySecretKey)}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: FlagAuthorityKeyFile, Usage: "read the authority key pair from `FILE`, as written by the keygen subcommand", EnvVars: Env(app, FlagAuthorityKeyFile)}),
	}
}

// LoadConfigFile is a cli.BeforeFunc that fills unset flags from the TOML
// file named by --config, if any.
func LoadConfigFile(flags []cli.Flag) cli.BeforeFunc {
	load := altsrc.InitInputSourceWithContext(flags, altsrc.NewTomlSourceFromFlagFunc(FlagConfig))
	return func(c *cli.Context) error {
		if c.String(FlagConfig) == "" {
			return nil
		}
		if err := load(c); err != nil {
			return fmt.Errorf("config file %s: %w", c.String(FlagConfig), err)
		}
		return nil
	}
}

// Logger builds the logger the log flags ask for, writing to w.
func Logger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String(FlagLogLevel))); err != nil {
		return nil, fmt.Errorf("--%s %q: want debug, info, warn or error", FlagLogLevel, c.String(FlagLogLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String(FlagLogFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--%s %q: want text or json", FlagLogFormat, c.String(FlagLogFormat))
}

// ErrNoAuthorityKey means neither authority flag was given.
var ErrNoAuthorityKey = errors.New("no authority key: give --authority-secret-key or --authority-key-file (make one with the keygen subcommand)")

// AuthorityKey reads the authority secret key from the flags; ErrNoAuthorityKey if none.
func AuthorityKey(c *cli.Context) (*noise.SecretKey, error) {
	secret, file := c.String(FlagAuthoritySecretKey), c.String(FlagAuthorityKeyFile)
	switch {
	case secret != "" && file != "":
		return nil, fmt.Errorf("give only one of --%s and --%s", FlagAuthoritySecretKey, FlagAuthorityKeyFile)
	case secret != "":
		k, err := noise.ParseSecretKey(secret)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", FlagAuthoritySecretKey, err)
		}
		return &k, nil
	case file != "":
		k, err := ReadKeyFile(file)
		if err != nil {
			return nil, err
		}
		return &k, nil
	}
	return nil, ErrNoAuthorityKey
}

// KeyFile is the JSON form of an authority key pair on disk, the same object
// `sv2 keygen --json` prints.
type KeyFile struct {
	SecretKey string `json:"secret_key"`
	PublicKey string `json:"public_key"`
}

// ReadKeyFile reads a key file and checks that its two keys belong together.
func ReadKeyFile(path string) (noise.SecretKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return noise.SecretKey{}, fmt.Errorf("key file: %w", err)
	}
	var kf KeyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return noise.SecretKey{}, fmt.Errorf("key file %s: %w", path, err)
	}
	sk, err := noise.ParseSecretKey(kf.SecretKey)
	if err != nil {
		return noise.SecretKey{}, fmt.Errorf("key file %s: secret_key: %w", path, err)
	}
	if kf.PublicKey != "" {
		pk, err := noise.ParsePublicKey(kf.PublicKey)
		if err != nil {
			return noise.SecretKey{}, fmt.Errorf("key file %s: public_key: %w", path, err)
		}
		if pk != sk.PublicKey() {
			return noise.SecretKey{}, fmt.Errorf("key file %s: public_key does not belong to secret_key", path)
		}
	}
	return sk, nil
}

// WriteKeyFile writes a new authority key pair to path (mode 0600, its
// directory made with mode 0700 if missing), refusing to replace an existing
// file unless force.
func WriteKeyFile(path string, force bool) (noise.PublicKey, error) {
	sk, pk, err := noise.GenerateAuthorityKeyPair(rand.Reader)
	if err != nil {
		return noise.PublicKey{}, err
	}
	raw, _ := json.MarshalIndent(KeyFile{SecretKey: noise.FormatSecretKey(sk), PublicKey: pk.String()}, "", "  ")
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return noise.PublicKey{}, fmt.Errorf("key file: %w", err)
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return noise.PublicKey{}, fmt.Errorf("key file: %w", err)
	}
	// A replaced file keeps its mode: make it the secret's.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return noise.PublicKey{}, fmt.Errorf("key file: %w", err)
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		return noise.PublicKey{}, fmt.Errorf("key file: %w", err)
	}
	return pk, f.Close()
}

// KeygenCommand writes a new authority key pair to --out (or prints it as JSON).
func KeygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "make a new authority key pair",
		Description: `With --out, writes the pair to FILE as JSON (mode 0600) for --authority-key-file and
prints the public key that clients pin; without it, prints the JSON object.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "write the key pair to `FILE`"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing --out file"},
		},
		Action: func(c *cli.Context) error {
			if out := c.String("out"); out != "" {
				pk, err := WriteKeyFile(out, c.Bool("force"))
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "authority public key: %s\nkey pair written to %s\n", pk, out)
				return nil
			}
			sk, pk, err := noise.GenerateAuthorityKeyPair(rand.Reader)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(KeyFile{SecretKey: noise.FormatSecretKey(sk), PublicKey: pk.String()})
			_, err = fmt.Fprintf(c.App.Writer, "%s\n", raw)
			return err
		},
	}
}

// SignalContext is cancelled by SIGINT or SIGTERM, for a graceful shutdown.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Main runs app and exits: status 0, or 1 with one line "<name>: <error>" on
// standard error.
func Main(app *cli.App) {
	app.ExitErrHandler = func(*cli.Context, error) {} // errors are printed once, below
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Name, err)
		code := 1
		var ec cli.ExitCoder
		if errors.As(err, &ec) && ec.ExitCode() != 0 {
			code = ec.ExitCode()
		}
		os.Exit(code)
	}
}

// TrustCert returns a TLS configuration that trusts the certificate in path,
// as a node with a self-signed certificate (btcd's rpc.cert) needs.
func TrustCert(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NodeFlags are --node-rpc-url, --node-rpc-user, --node-rpc-pass and
// --node-rpc-cert, for an app that talks to a node's JSON-RPC; urlUsage
// says what the app needs the node for.
func NodeFlags(app, urlUsage string) []cli.Flag {
	return []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "node-rpc-url", Usage: urlUsage, EnvVars: Env(app, "node-rpc-url")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "node-rpc-user", Usage: "node RPC `USER`", EnvVars: Env(app, "node-rpc-user")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "node-rpc-pass", Usage: "node RPC `PASSWORD`", EnvVars: Env(app, "node-rpc-pass")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "node-rpc-cert", Usage: "trust the node's TLS certificate in `FILE` (btcd's rpc.cert) for https URLs", EnvVars: Env(app, "node-rpc-cert")}),
	}
}

// NodeConfig reads NodeFlags: nil when --node-rpc-url is not set.
func NodeConfig(c *cli.Context, log *slog.Logger) (*node.Config, error) {
	url := c.String("node-rpc-url")
	if url == "" {
		return nil, nil
	}
	cfg := &node.Config{URL: url, User: c.String("node-rpc-user"), Password: c.String("node-rpc-pass"), Logger: log.With("component", "node")}
	if path := c.String("node-rpc-cert"); path != "" {
		var err error
		if cfg.TLSConfig, err = TrustCert(path); err != nil {
			return nil, fmt.Errorf("--node-rpc-cert: %w", err)
		}
	}
	return cfg, nil
}

// Sv1Flags are the flags of a Stratum V1 gateway (core/sv1) in front of an
// app's mining server: --sv1-listen and --sv1-extranonce2-size.
func Sv1Flags(app string) []cli.Flag {
	return []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "sv1-listen", Usage: "also accept Stratum V1 devices on `ADDRESS` (plain TCP), each on an extended channel of its own", EnvVars: Env(app, "sv1-listen")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "sv1-extranonce2-size", Value: sv1.DefaultExtranonce2Size, Usage: fmt.Sprintf("`BYTES` of extranonce2 each Stratum V1 device rolls (1 to %d)", sv1.MaxExtranonce2Size), EnvVars: Env(app, "sv1-extranonce2-size")}),
	}
}

// Sv1Config reads Sv1Flags: nil when --sv1-listen is not set.
func Sv1Config(c *cli.Context) *sv1.Config {
	addr := c.String("sv1-listen")
	if addr == "" {
		return nil
	}
	return &sv1.Config{ListenAddress: addr, Extranonce2Size: c.Int("sv1-extranonce2-size")}
}

// Default monitoring addresses (--monitor-listen), one port per app so that
// the whole stack runs on one machine with its defaults; loopback only.
const (
	MonitorPool             = "127.0.0.1:9333"
	MonitorProxy            = "127.0.0.1:9334"
	MonitorJDC              = "127.0.0.1:9335"
	MonitorJDS              = "127.0.0.1:9336"
	MonitorTemplateProvider = "127.0.0.1:9337"
	MonitorCPUMiner         = "127.0.0.1:9338"
)

// MonitorFlags are the flags of an app's monitoring server (core/monitor):
// --monitor-listen (defaultAddr; empty turns it off), --monitor-token and
// --monitor-explorer.
func MonitorFlags(app, defaultAddr string) []cli.Flag {
	return []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "monitor-listen", Value: defaultAddr, Usage: "serve the dashboard, the JSON API (/api/v1/) and Prometheus metrics (/metrics) on `ADDRESS`; empty: off", EnvVars: Env(app, "monitor-listen")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "monitor-token", Usage: "bearer `TOKEN` required of monitoring requests from beyond loopback", EnvVars: Env(app, "monitor-token")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "monitor-explorer", Usage: "block explorer `URL` the dashboard links each block hash to (appended); default: mempool.space for the network, none on regtest", EnvVars: Env(app, "monitor-explorer")}),
	}
}

// MonitorConfig reads MonitorFlags for an app on network: nil when
// --monitor-listen is empty.
func MonitorConfig(c *cli.Context, network string, log *slog.Logger) *monitor.Config {
	addr := c.String("monitor-listen")
	if addr == "" {
		return nil
	}
	explorer := c.String("monitor-explorer")
	if explorer == "" {
		explorer = monitor.ExplorerFor(network)
	}
	return &monitor.Config{Listen: addr, Token: c.String("monitor-token"), Explorer: explorer, Logger: log}
}
