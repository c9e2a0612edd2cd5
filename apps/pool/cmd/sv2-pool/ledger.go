package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/core/ledger"
)

func ledgerFlags(env func(string) []string) []cli.Flag {
	return []cli.Flag{
		altsrc.NewStringFlag(&cli.StringFlag{Name: "ledger", Usage: "keep the accounting durably in the SQLite `FILE` (made if missing) or the PostgreSQL database of a postgres://user:pass@host/db URL: work, found blocks with their PPLNS split, balances", EnvVars: env("ledger")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "ledger-flush", Value: ledger.DefaultFlush, Usage: "write accepted work to the ledger every `DURATION`: the most a crash can lose (found blocks are written at once)", EnvVars: env("ledger-flush")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "pplns-window", Usage: fmt.Sprintf("split each block's reward over the last `N` units of difficulty (0: %d times the block's network difficulty)", pool.DefaultWindowFactor), EnvVars: env("pplns-window")}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "pool-fee", Value: 0, Usage: "the pool's fee, in `PERCENT` of each block's reward, taken before the split", EnvVars: env("pool-fee")}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "payout-scheme", Value: pool.SchemePPLNS, Usage: "`SCHEME` of paying the split: " + pool.SchemePPLNS + " (the reward goes to --payout; the ledger credits each miner's balance) or " + pool.SchemeCoinbasePPLNS + " (the coinbase pays the window's miners whose identity is an address, largest first; the rest goes to --payout and stays their balance)", EnvVars: env("payout-scheme")}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "coinbase-outputs", Value: pool.DefaultCoinbaseOutputs, Usage: fmt.Sprintf("with %s, pay at most `N` miners in one coinbase (1 to %d)", pool.SchemeCoinbasePPLNS, pool.MaxCoinbaseOutputs), EnvVars: env("coinbase-outputs")}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "dust", Value: pool.DefaultDust, Usage: "with " + pool.SchemeCoinbasePPLNS + ", pay no coinbase output under `SATOSHIS` (a smaller amount stays the miner's balance)", EnvVars: env("dust")}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "coinbase-refresh", Value: pool.DefaultCoinbaseRefresh, Usage: "with " + pool.SchemeCoinbasePPLNS + ", move the coinbase with the window every `DURATION` (earlier jobs stay valid)", EnvVars: env("coinbase-refresh")}),
	}
}

// payoutScheme reads --payout-scheme and its options.
func payoutScheme(c *cli.Context) (*pool.CoinbasePayouts, error) {
	switch s := c.String("payout-scheme"); s {
	case pool.SchemePPLNS:
		return nil, nil
	case pool.SchemeCoinbasePPLNS:
		n := c.Int("coinbase-outputs")
		if n < 1 || n > pool.MaxCoinbaseOutputs {
			return nil, fmt.Errorf("--coinbase-outputs %d: want 1 to %d", n, pool.MaxCoinbaseOutputs)
		}
		if d := c.Duration("coinbase-refresh"); d < time.Second {
			return nil, fmt.Errorf("--coinbase-refresh %v: want a second or more", d)
		}
		return &pool.CoinbasePayouts{MaxOutputs: n, Dust: c.Uint64("dust"), Refresh: c.Duration("coinbase-refresh")}, nil
	default:
		return nil, fmt.Errorf("--payout-scheme %q: want %s or %s", s, pool.SchemePPLNS, pool.SchemeCoinbasePPLNS)
	}
}

// ledgerConfig opens --ledger, if set.
func ledgerConfig(ctx context.Context, c *cli.Context) (*pool.Ledger, error) {
	path := c.String("ledger")
	scheme, err := payoutScheme(c)
	if err != nil {
		return nil, err
	}
	if path == "" {
		if scheme != nil {
			return nil, fmt.Errorf("--payout-scheme %s needs the ledger's window: set --ledger", pool.SchemeCoinbasePPLNS)
		}
		return nil, nil
	}
	fee := c.Float64("pool-fee")
	if fee < 0 || fee > 100 || math.IsNaN(fee) {
		return nil, fmt.Errorf("--pool-fee %g: want 0 to 100", fee)
	}
	window := c.Float64("pplns-window")
	if window < 0 || math.IsNaN(window) || math.IsInf(window, 0) {
		return nil, fmt.Errorf("--pplns-window %g: want a positive number of difficulty units, or 0", window)
	}
	store, err := ledger.Open(ctx, path) // a SQLite file or a postgres:// URL
	if err != nil {
		return nil, fmt.Errorf("--ledger: %w", err)
	}
	return &pool.Ledger{Store: store, Flush: c.Duration("ledger-flush"), Coinbase: scheme,
		Rules: ledger.Rules{Window: window, FeeBasisPoints: uint32(math.Round(fee * 100))}}, nil
}

// ledgerCommand reads the ledger and records payments: sv2-pool ledger balances|blocks|payouts|pay --ledger FILE|URL.
func ledgerCommand() *cli.Command {
	open := func(c *cli.Context) (ledger.Store, error) {
		path := c.String("ledger")
		if path == "" {
			return nil, errors.New("give the ledger: --ledger FILE or --ledger postgres://...")
		}
		if !ledger.IsURL(path) {
			// Reading must not make an empty ledger of a mistyped path.
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("no ledger at %s: %w", path, err)
			}
		}
		// Not ledger.Open: these commands must not migrate the schema of
		// a ledger under the pool that owns it, which would then refuse it.
		s, err := ledger.OpenExisting(c.Context, path)
		if errors.Is(err, ledger.ErrOlderSchema) {
			return nil, fmt.Errorf("--ledger: %w: run sv2-pool --ledger on it to upgrade it first", err)
		}
		if err != nil {
			return nil, fmt.Errorf("--ledger: %w", err)
		}
		return s, nil
	}
	flag := &cli.StringFlag{Name: "ledger", Usage: "the pool's --ledger: its SQLite `FILE` or PostgreSQL URL"}
	return &cli.Command{
		Name:  "ledger",
		Usage: "read the pool's ledger (balances, blocks and their splits, payouts) and record payments",
		Subcommands: []*cli.Command{
			{
				Name: "payouts", Usage: "the latest payments, newest first: coinbase outputs of confirmed blocks and those recorded with pay",
				Flags: []cli.Flag{flag, &cli.IntFlag{Name: "limit", Value: 100, Usage: "at most `N` payments"}, &cli.StringFlag{Name: "user", Usage: "only `USER`'s"}},
				Action: func(c *cli.Context) error {
					if c.Int("limit") < 1 {
						return fmt.Errorf("--limit %d: want 1 or more", c.Int("limit"))
					}
					s, err := open(c)
					if err != nil {
						return err
					}
					defer s.Close()
					paid, err := s.Payouts(c.Context, c.String("user"), c.Int("limit"))
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "AT\tUSER\tSATOSHIS\tTXID")
					for _, p := range paid {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", p.At.UTC().Format(time.RFC3339), p.User, p.Amount, p.Txid)
					}
					return w.Flush()
				},
			},
			{
				Name: "pay", Usage: "record that a user was paid (by a transaction made elsewhere): refused for more than the user's balance",
				Flags: []cli.Flag{flag,
					&cli.StringFlag{Name: "user", Required: true, Usage: "the `USER` paid, as the ledger names it"},
					&cli.Uint64Flag{Name: "amount", Required: true, Usage: "`SATOSHIS` paid"},
					&cli.StringFlag{Name: "txid", Required: true, Usage: "the payment's transaction `ID`"},
				},
				Action: func(c *cli.Context) error {
					s, err := open(c)
					if err != nil {
						return err
					}
					defer s.Close()
					p := ledger.Payout{User: c.String("user"), Amount: c.Uint64("amount")}
					if err := s.AddPayout(c.Context, p, time.Now(), c.String("txid")); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "recorded: %s paid %d sat in %s\n", p.User, p.Amount, c.String("txid"))
					return nil
				},
			},
			{
				Name: "balances", Usage: "what each user is owed: the splits of confirmed blocks less payouts",
				Flags: []cli.Flag{flag},
				Action: func(c *cli.Context) error {
					s, err := open(c)
					if err != nil {
						return err
					}
					defer s.Close()
					bal, err := s.Balances(c.Context)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "USER\tSATOSHIS")
					for _, b := range bal {
						fmt.Fprintf(w, "%s\t%d\n", b.User, b.Amount)
					}
					return w.Flush()
				},
			},
			{
				Name: "blocks", Usage: "the latest blocks found, with their state and split",
				Flags: []cli.Flag{flag, &cli.IntFlag{Name: "limit", Value: 20, Usage: "at most `N` blocks"}},
				Action: func(c *cli.Context) error {
					s, err := open(c)
					if err != nil {
						return err
					}
					defer s.Close()
					blocks, err := s.Blocks(c.Context, c.Int("limit"))
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "HEIGHT\tHASH\tSTATE\tREWARD\tFEES\tFINDER\tSPLIT")
					for _, b := range blocks {
						split, err := s.Split(c.Context, b.Hash)
						if err != nil {
							return err
						}
						parts := make([]string, len(split))
						for i, p := range split {
							parts[i] = fmt.Sprintf("%s=%d", p.User, p.Amount)
						}
						fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", b.Height, b.Hash, b.State, b.Reward, b.Fees, b.Finder, strings.Join(parts, " "))
					}
					return w.Flush()
				},
			},
		},
	}
}
