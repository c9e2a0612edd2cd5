package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/sv1"
)

// maxSv1Connections bounds sv2 sv1-mine's connections (and its memory).
const maxSv1Connections = 10_000

func sv1MineCommand() *cli.Command {
	return &cli.Command{
		Name:      "sv1-mine",
		Usage:     "mine on the CPU as Stratum V1 devices do, against a Stratum V1 server (such as --sv1-listen)",
		ArgsUsage: "HOST:PORT",
		Description: `Opens --connections Stratum V1 connections to HOST:PORT and mines on each as common firmware
does: mining.configure (with --version-rolling), mining.subscribe, mining.suggest_difficulty (with
--suggest-difficulty), mining.authorize, then mining.notify's jobs hashed on the CPU (one goroutine
per connection), every share that meets mining.set_difficulty submitted, and every hash that meets
the network target too. With --reuse-id every request carries id 1, as some firmware sends.
It runs for --duration (or until interrupted) and prints one JSON object: shares accepted and
rejected (by Sv1 error code), blocks found, jobs received and client.reconnect requests.
Exit status: 0 when the run ended with every connection up and no share rejected, 1 otherwise.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Value: "sv1-miner", Usage: "the `USER` to authorize (a worker name after a dot, as pools expect)"},
			&cli.StringFlag{Name: "password", Value: "x", Usage: "mining.authorize's `PASSWORD`"},
			&cli.IntFlag{Name: "connections", Value: 1, Usage: fmt.Sprintf("`N` connections (at most %d), users USER.0, USER.1... when N > 1", maxSv1Connections)},
			&cli.BoolFlag{Name: "version-rolling", Usage: "negotiate BIP 310 version rolling and roll the version bits"},
			&cli.BoolFlag{Name: "reuse-id", Usage: "send every request with id 1"},
			&cli.Float64Flag{Name: "suggest-difficulty", Usage: "send mining.suggest_difficulty `D` first (a CPU meets about 1e-6 a second)"},
			&cli.DurationFlag{Name: "duration", Value: 30 * time.Second, Usage: "mine for `DURATION`"},
		},
		Action: runSv1Mine,
	}
}

// sv1Report is what sv2 sv1-mine prints.
type sv1Report struct {
	Connections int           `json:"connections"`
	Failed      int           `json:"failed"` // connections that could not be set up or ended early
	Accepted    int64         `json:"accepted"`
	Rejected    int64         `json:"rejected"`
	Codes       map[int]int64 `json:"rejected_by_code,omitempty"`
	Blocks      int64         `json:"blocks"`
	Jobs        int64         `json:"jobs"`
	Reconnects  int64         `json:"reconnects"`
	Errors      []string      `json:"errors,omitempty"`
}

func runSv1Mine(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("sv2 sv1-mine: want HOST:PORT", 1)
	}
	n := c.Int("connections")
	if n < 1 || n > maxSv1Connections {
		return cli.Exit(fmt.Sprintf("sv2 sv1-mine: --connections %d, want 1 to %d", n, maxSv1Connections), 1)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Duration("duration"))
	defer cancel()
	rep := sv1Report{Connections: n, Codes: map[int]int64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		user := c.String("user")
		if n > 1 {
			user = fmt.Sprintf("%s.%d", user, i)
		}
		wg.Go(func() {
			cl, err := sv1.Dial(ctx, sv1.ClientConfig{
				Address: c.Args().First(), User: user, Password: c.String("password"), Agent: "stratumgo sv2 sv1-mine",
				ReuseID: c.Bool("reuse-id"), VersionRolling: c.Bool("version-rolling"), SuggestDifficulty: c.Float64("suggest-difficulty"),
			})
			if err == nil {
				err = cl.Mine(ctx, 0)
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					err = nil
					cl.Sync(context.Background()) //nolint:errcheck // the answers to the shares are in, or the server is gone
				}
				cl.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed++
				if len(rep.Errors) < 10 {
					rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", user, err))
				}
			}
			if cl != nil {
				rep.Accepted += cl.Accepted.Load()
				rep.Rejected += cl.Rejected.Load()
				rep.Blocks += cl.Blocks.Load()
				rep.Jobs += cl.Notifies.Load()
				rep.Reconnects += cl.Reconnects.Load()
				for code, v := range cl.RejectionCodes() {
					rep.Codes[code] += v
				}
			}
		})
	}
	wg.Wait()
	out, _ := json.Marshal(rep)
	fmt.Fprintln(c.App.Writer, string(out))
	if rep.Failed > 0 || rep.Rejected > 0 {
		return cli.Exit("", 1)
	}
	return nil
}
