package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// Exit statuses of sv2 probe besides 0, which scripts rely on. Command-line
// mistakes get a code of their own so that they cannot pass for a server's answer.
const (
	probeRefused     = 1   // the server sent SetupConnection.Error
	probeFailed      = 2   // connection, handshake, certificate, timeout or protocol failure
	probeUsage       = 64  // invalid command line (EX_USAGE of sysexits.h)
	probeInterrupted = 130 // SIGINT, as a shell reports a process it killed
)

// probeVendor is sent as SetupConnection.vendor so that server logs show who connected.
const probeVendor = "stratumgo sv2 probe"

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "connect to an Sv2 server as a client would and print what it says",
		ArgsUsage: "HOST:PORT",
		Description: `Connects to HOST:PORT, runs the Noise handshake (unless --plain), sends SetupConnection
(endpoint_host and endpoint_port from HOST:PORT, vendor "` + probeVendor + `") and prints one
JSON object per line on standard output. First the handshake:
  {"handshake":{"encrypted":true,"authenticated":BOOL,"certificate":{"version":N,"valid_from":N,
  "not_valid_after":N},"server_static_key":"<hex of the 32-byte x-only key>"}}
or {"handshake":{"encrypted":false}} with --plain. Then the SetupConnection reply and the
--count messages after it, each exactly as "sv2 decode" prints a frame.
On template-distribution, CoinbaseOutputConstraints is sent right after SetupConnection.Success,
as a real client does, so that the server starts sending templates.
Without --authority-pubkey the channel is encrypted but the server is not authenticated,
and a warning says so on standard error.

--timeout bounds the whole probe: connecting, the handshake, the setup reply and the --count
messages. Running out of time is a failure at any step, so status 0 means every requested
message arrived.

Exit status:
  0    SetupConnection.Success and --count further messages received
  1    SetupConnection.Error received (printed like any message)
  2    connection, handshake or certificate failure, timeout, the connection closing early,
       or a malformed or unexpected reply; one line on standard error says which
  64   invalid command line
  130  interrupted (SIGINT)`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "protocol", Value: "mining", Usage: "subprotocol to set up: `NAME` is mining, job-declaration or template-distribution"},
			&cli.StringFlag{Name: "authority-pubkey", Usage: "verify the server's certificate against the pool's authority public `KEY` (base58check, as printed by sv2 keygen)"},
			&cli.BoolFlag{Name: "plain", Usage: "skip the Noise handshake and talk unencrypted, as on a trusted local network"},
			&cli.Uint64Flag{Name: "flags", Usage: "SetupConnection.flags `N` (decimal or 0x-hex; the bits' meaning depends on --protocol, spec §3.6.1)"},
			&cli.Uint64Flag{Name: "min-version", Value: 2, Usage: "SetupConnection.min_version `N`, sent as given"},
			&cli.Uint64Flag{Name: "max-version", Value: 2, Usage: "SetupConnection.max_version `N`, sent as given"},
			&cli.Uint64Flag{Name: "coinbase-output-max-additional-size", Usage: "CoinbaseOutputConstraints.coinbase_output_max_additional_size in `BYTES` (template-distribution only; 0: the probe adds nothing to the coinbase)"},
			&cli.Uint64Flag{Name: "coinbase-output-max-additional-sigops", Usage: "CoinbaseOutputConstraints.coinbase_output_max_additional_sigops `N` (template-distribution only; 0: the probe adds nothing to the coinbase)"},
			&cli.Uint64Flag{Name: "count", Usage: "read `N` messages after the SetupConnection reply, then stop", DefaultText: "2 with template-distribution (a NewTemplate and its SetNewPrevHash), else 0"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "give up after `D` (e.g. 500ms, 1m) for the whole probe, the handshake included"},
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("sv2 probe: "+err.Error(), probeUsage)
		},
		Action: runProbe,
	}
}

// probeConfig is a checked command line.
type probeConfig struct {
	addr        string
	setup       sv2.SetupConnection
	constraints sv2.CoinbaseOutputConstraints // sent on template-distribution only
	authority   *noise.PublicKey              // nil: encrypt without authenticating
	plain       bool
	count       uint64
	timeout     time.Duration
}

func runProbe(c *cli.Context) error {
	cfg, err := parseProbe(c)
	if err != nil {
		return cli.Exit("sv2 probe: "+err.Error(), probeUsage)
	}
	sigCtx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeoutCause(sigCtx, cfg.timeout, fmt.Errorf("timed out after %v", cfg.timeout))
	defer cancel()

	err = probe(ctx, cfg, c.App.Writer, c.App.ErrWriter)
	var refused *refusedError
	switch {
	case err == nil:
		return nil
	case sigCtx.Err() != nil:
		// Whatever failed did so because the interrupt closed the connection.
		return cli.Exit("sv2 probe: interrupted", probeInterrupted)
	case errors.As(err, &refused):
		return cli.Exit("sv2 probe: "+err.Error(), probeRefused)
	default:
		return cli.Exit("sv2 probe: "+err.Error(), probeFailed)
	}
}

func parseProbe(c *cli.Context) (probeConfig, error) {
	if c.NArg() != 1 {
		for _, a := range c.Args().Slice()[min(1, c.NArg()):] {
			if strings.HasPrefix(a, "-") {
				// urfave/cli stops reading flags at the first argument.
				return probeConfig{}, fmt.Errorf("flag %s after HOST:PORT: put the flags first (sv2 probe [flags] HOST:PORT)", a)
			}
		}
		return probeConfig{}, fmt.Errorf("want exactly one HOST:PORT argument, got %d", c.NArg())
	}
	cfg := probeConfig{addr: c.Args().First(), plain: c.Bool("plain"), timeout: c.Duration("timeout")}
	host, port, err := splitAddress(cfg.addr)
	if err != nil {
		return probeConfig{}, err
	}
	protocol, err := parseProtocol(c.String("protocol"))
	if err != nil {
		return probeConfig{}, err
	}
	if cfg.timeout <= 0 {
		return probeConfig{}, fmt.Errorf("--timeout %v: must be positive", cfg.timeout)
	}
	if cfg.authority, err = authorityFlag(c, cfg.plain); err != nil {
		return probeConfig{}, err
	}

	// Flags are typed uint64 by the cli; each must fit its wire field.
	var tooBig error
	field := func(name string, bits int) uint64 {
		v := c.Uint64(name)
		if v>>bits != 0 && tooBig == nil {
			tooBig = fmt.Errorf("--%s %d: over the field's maximum %d", name, v, uint64(1)<<bits-1)
		}
		return v
	}
	cfg.setup = sv2.SetupConnection{
		Protocol:     protocol,
		MinVersion:   uint16(field("min-version", 16)),
		MaxVersion:   uint16(field("max-version", 16)),
		Flags:        uint32(field("flags", 32)),
		EndpointHost: host,
		EndpointPort: port,
		Vendor:       probeVendor,
	}
	cfg.constraints = sv2.CoinbaseOutputConstraints{
		CoinbaseOutputMaxAdditionalSize:   uint32(field("coinbase-output-max-additional-size", 32)),
		CoinbaseOutputMaxAdditionalSigops: uint16(field("coinbase-output-max-additional-sigops", 16)),
	}
	if tooBig != nil {
		return probeConfig{}, tooBig
	}
	cfg.count = c.Uint64("count")
	if !c.IsSet("count") && protocol == sv2.ProtocolTemplateDistribution {
		// A template provider answers CoinbaseOutputConstraints with a
		// NewTemplate and its SetNewPrevHash: the least worth seeing.
		cfg.count = 2
	}
	return cfg, nil
}

// splitAddress splits a HOST:PORT argument, naming what is wrong with it.
func splitAddress(addr string) (host string, port uint16, err error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address: %w", err)
	}
	p, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: port must be a number from 0 to 65535", addr)
	}
	return host, uint16(p), nil
}

// authorityFlag parses --authority-pubkey, which needs the Noise handshake;
// nil when it is not given.
func authorityFlag(c *cli.Context, plain bool) (*noise.PublicKey, error) {
	s := c.String("authority-pubkey")
	if s == "" {
		return nil, nil
	}
	if plain {
		return nil, errors.New("--authority-pubkey needs the Noise handshake; drop --plain")
	}
	k, err := noise.ParsePublicKey(s)
	if err != nil {
		return nil, fmt.Errorf("--authority-pubkey: %w", err)
	}
	return &k, nil
}

func parseProtocol(name string) (sv2.Protocol, error) {
	for _, p := range []sv2.Protocol{sv2.ProtocolMining, sv2.ProtocolJobDeclaration, sv2.ProtocolTemplateDistribution} {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("--protocol %q: want mining, job-declaration or template-distribution", name)
}

// refusedError is the server's SetupConnection.Error: the probe itself worked.
type refusedError struct {
	addr string
	msg  *sv2.SetupConnectionError
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s refused SetupConnection: error_code %q, flags 0x%08x", e.addr, e.msg.ErrorCode, e.msg.Flags)
}

// probe runs the whole exchange, printing as it goes so that a slow server
// still shows what it sent before the timeout.
func probe(ctx context.Context, cfg probeConfig, stdout, stderr io.Writer) error {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Reads and writes take no context; closing the connection is what ends
	// them on timeout or interrupt.
	stopClosing := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopClosing()

	hs := conn.Handshake()
	if err := writeLine(stdout, renderHandshake(hs)); err != nil {
		return err
	}
	if hs.Encrypted && !hs.Authenticated {
		fmt.Fprintf(stderr, "sv2 probe: warning: no --authority-pubkey given, so the channel to %s is encrypted but the server is not authenticated\n", cfg.addr)
	}

	if err := conn.WriteMessage(&cfg.setup); err != nil {
		return stepErr(ctx, "sending SetupConnection to "+cfg.addr, err)
	}
	h, m, err := conn.ReadMessage()
	if err != nil {
		return stepErr(ctx, "reading the SetupConnection reply from "+cfg.addr, err)
	}
	if err := writeLine(stdout, render(decoded{h, m})); err != nil {
		return err
	}
	switch m := m.(type) {
	case *sv2.SetupConnectionSuccess:
	case *sv2.SetupConnectionError:
		return &refusedError{cfg.addr, m}
	default:
		return fmt.Errorf("%s answered SetupConnection with %s", cfg.addr, sv2.Info(m).Name)
	}

	if cfg.setup.Protocol == sv2.ProtocolTemplateDistribution {
		if err := conn.WriteMessage(&cfg.constraints); err != nil {
			return stepErr(ctx, "sending CoinbaseOutputConstraints to "+cfg.addr, err)
		}
	}
	for i := uint64(1); i <= cfg.count; i++ {
		h, m, err := conn.ReadMessage()
		if err != nil {
			return stepErr(ctx, fmt.Sprintf("reading message %d of %d from %s", i, cfg.count, cfg.addr), err)
		}
		if err := writeLine(stdout, render(decoded{h, m})); err != nil {
			return err
		}
	}
	return nil
}

// connect dials cfg.addr and secures the connection as configured.
func connect(ctx context.Context, cfg probeConfig) (*transport.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", cfg.addr)
	if err != nil {
		return nil, stepErr(ctx, "connecting to "+cfg.addr, err)
	}
	if cfg.plain {
		return transport.NewPlain(nc, transport.Config{}), nil
	}
	conn, err := transport.Client(ctx, nc, transport.ClientConfig{
		Config: transport.Config{HandshakeTimeout: cfg.timeout},
		Noise:  noise.InitiatorConfig{AuthorityKey: cfg.authority},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, stepErr(ctx, "handshake with "+cfg.addr, err)
		}
		// The transport's error already names the handshake and the peer.
		return nil, err
	}
	return conn, nil
}

// stepErr says which step failed. Once ctx has ended, err is only a
// consequence of that (a closed connection, a cancelled dial), so the reason
// ctx ended is reported instead.
func stepErr(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	return fmt.Errorf("%s: %w", step, err)
}

func writeLine(w io.Writer, b []byte) error {
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// renderHandshake describes the secured channel as probe's first output line.
func renderHandshake(hs transport.Handshake) []byte {
	if !hs.Encrypted {
		return []byte(`{"handshake":{"encrypted":false}}`)
	}
	cert := hs.Certificate
	b := []byte(`{"handshake":{"encrypted":true,"authenticated":`)
	b = strconv.AppendBool(b, hs.Authenticated)
	b = append(b, `,"certificate":{"version":`...)
	b = strconv.AppendUint(b, uint64(cert.Version), 10)
	b = append(b, `,"valid_from":`...)
	b = strconv.AppendUint(b, uint64(cert.ValidFrom), 10)
	b = append(b, `,"not_valid_after":`...)
	b = strconv.AppendUint(b, uint64(cert.NotValidAfter), 10)
	b = append(b, `},"server_static_key":"`...)
	if k := hs.ServerStaticKey; k != nil { // always set on a client; guard anyway
		b = hex.AppendEncode(b, k[:])
	}
	return append(b, `"}}`...)
}
