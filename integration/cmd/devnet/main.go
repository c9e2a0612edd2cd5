// Command devnet runs the whole stack on regtest on this machine: btcd (built
// from the module cache), the template provider, the pool and a CPU miner, on
// loopback with Noise on every link and keys made on the fly. With --jd the
// miner mines templates of its own: the pool runs its job declarator server,
// and a job declarator client with the miner's own template provider stands
// between the pool and the CPU miner. With --proxy a mining proxy stands in
// front of the CPU miner (before the JDC with --jd). With --sv1 the miner is a
// Stratum V1 one (core/sv1's client, behaving as firmware does) on the
// --sv1-listen gateway of whichever app it would reach. It prints where each listens, a line
// per block found, and the hashrate; Ctrl-C stops everything and removes its
// temporary directory. scripts/devnet runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/apps/cpuminer"
	"github.com/stratumgo/stratum/apps/jdc"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/apps/proxy"
	"github.com/stratumgo/stratum/apps/templateprovider"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/integration/harness"
)

func main() {
	threads := flag.Int("threads", 1, "CPU miner threads")
	txEvery := flag.Duration("tx-interval", 20*time.Second, "send a few SegWit transactions this often, so blocks carry some (0: never)")
	jd := flag.Bool("jd", false, "job declaration: the miner's own templates through a JDC, the pool's JDS judging them")
	px := flag.Bool("proxy", false, "a mining proxy between the CPU miner and the pool (or the JDC with --jd)")
	mon := flag.String("monitor", "127.0.0.1:0", "serve the pool's dashboard, JSON API and metrics on `ADDRESS` (its URL is printed; port 0 picks a free one)")
	sv := flag.Bool("sv1", false, "mine over Stratum V1: a Sv1 miner on the Sv1 gateway of the pool (the JDC with --jd, the proxy with --proxy) instead of the CPU miner")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, options{threads: *threads, txEvery: *txEvery, jd: *jd, proxy: *px, sv1: *sv, monitor: *mon}, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "devnet:", err)
		os.Exit(1)
	}
}

// options are devnet's flags.
type options struct {
	threads int
	txEvery time.Duration
	jd      bool
	proxy   bool
	sv1     bool
	monitor string // the pool's monitoring address
}

// jdcTag marks the coinbases of the JDC's templates.
const jdcTag = "/stratumgo jdc/"

func run(ctx context.Context, opts options, out io.Writer) error {
	threads, txEvery := opts.threads, opts.txEvery
	dir, err := os.MkdirTemp("", "stratumgo-devnet-")
	if err != nil {
		return err
	}
	defer func() {
		os.RemoveAll(dir)
		fmt.Fprintf(out, "devnet: stopped; removed %s\n", dir)
	}()
	fmt.Fprintf(out, "devnet: working in %s (logs in %s)\n", dir, filepath.Join(dir, "devnet.log"))
	logFile, err := os.Create(filepath.Join(dir, "devnet.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	fmt.Fprintln(out, "devnet: building and starting btcd (the first run builds it, about a minute)")
	n, err := harness.LaunchNode(harness.NodeOptions{Logger: logger.With("app", "node")}, filepath.Join(dir, "btcd"))
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(out, "btcd (regtest) RPC listening on %s\n", n.RPCURL())
	if _, err := n.Generate(ctx, 120); err != nil { // mature coinbases for the transactions we send
		return err
	}

	payout, err := newAddress()
	if err != nil {
		return err
	}
	payoutScript, _ := txscript.PayToAddrScript(payout)
	tpKey, tpPub, _ := noise.GenerateAuthorityKeyPair(nil)
	poolKey, poolPub, _ := noise.GenerateAuthorityKeyPair(nil)
	tpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	poolLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var sv1Cfg *sv1.Config // for whichever app the miner reaches
	if opts.sv1 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		sv1Cfg = &sv1.Config{Listener: ln}
	}
	frontSv1 := func(front bool) *sv1.Config {
		if front {
			return sv1Cfg
		}
		return nil
	}
	fmt.Fprintf(out, "template provider listening on %s (authority key %s)\n", tpLn.Addr(), tpPub)
	fmt.Fprintf(out, "pool listening on %s (authority key %s), paying %s\n", poolLn.Addr(), poolPub, payout)
	monLn, err := net.Listen("tcp", opts.monitor)
	if err != nil {
		return fmt.Errorf("--monitor: %w", err)
	}
	fmt.Fprintf(out, "pool dashboard at http://%s/ (metrics at /metrics, JSON at /api/v1/status)\n", monLn.Addr())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8) // one per app at most
	goRun := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
			cancel()
		})
	}
	goRun("template provider", func(ctx context.Context) error {
		return templateprovider.Run(ctx, templateprovider.Config{Listener: tpLn, AuthorityKey: &tpKey, Node: n.ClientConfig(),
			Network: "regtest", TemplateInterval: 5 * time.Second, Logger: logger.With("app", "templateprovider")})
	})
	poolCfg := pool.Config{Listener: poolLn, AuthorityKey: &poolKey, Network: "regtest", Tag: "/stratumgo devnet/",
		TemplateProvider: pool.TemplateProvider{Address: tpLn.Addr().String(), AuthorityKey: &tpPub},
		Payouts:          []pool.Payout{{Script: payoutScript, Weight: 1}}, Logger: logger.With("app", "pool"),
		Sv1:     frontSv1(!opts.jd && !opts.proxy),
		Monitor: &monitor.Config{Listener: monLn, HistoryInterval: 2 * time.Second}}
	minerAddr, minerKey := poolLn.Addr().String(), poolPub
	if opts.jd {
		nc := n.ClientConfig()
		jdsLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		poolCfg.Node = &nc
		poolCfg.JobDeclaration = &pool.JobDeclaration{Listener: jdsLn}
		fmt.Fprintf(out, "job declarator server (in the pool) listening on %s (authority key %s)\n", jdsLn.Addr(), poolPub)
		minerTPKey, minerTPPub, _ := noise.GenerateAuthorityKeyPair(nil)
		minerTPLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "miner's template provider listening on %s (authority key %s)\n", minerTPLn.Addr(), minerTPPub)
		goRun("miner's template provider", func(ctx context.Context) error {
			return templateprovider.Run(ctx, templateprovider.Config{Listener: minerTPLn, AuthorityKey: &minerTPKey, Node: n.ClientConfig(),
				Network: "regtest", TemplateInterval: 5 * time.Second, Logger: logger.With("app", "miner-templateprovider")})
		})
		jdcKey, jdcPub, _ := noise.GenerateAuthorityKeyPair(nil)
		jdcLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		j, err := jdc.New(jdc.Config{Listener: jdcLn, AuthorityKey: &jdcKey, User: "devnet", CoinbaseTag: jdcTag,
			TemplateProvider: jdc.Server{Address: minerTPLn.Addr().String(), AuthorityKey: &minerTPPub},
			Upstreams: []jdc.Upstream{{
				Pool: jdc.Server{Address: poolLn.Addr().String(), AuthorityKey: &poolPub},
				JDS:  jdc.Server{Address: jdsLn.Addr().String(), AuthorityKey: &poolPub},
			}},
			Logger: logger.With("app", "jdc"), Sv1: frontSv1(!opts.proxy)})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "job declarator client listening on %s (authority key %s), declaring the miner's templates\n", jdcLn.Addr(), jdcPub)
		goRun("jdc", j.Run)
		minerAddr, minerKey = jdcLn.Addr().String(), jdcPub
	}
	goRun("pool", func(ctx context.Context) error { return pool.Run(ctx, poolCfg) })
	via := "the pool"
	if opts.jd {
		via = "the job declarator client"
	}
	if opts.proxy {
		proxyKey, proxyPub, _ := noise.GenerateAuthorityKeyPair(nil)
		proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		upKey := minerKey // minerKey becomes the proxy's below
		up := proxy.Upstream{Address: minerAddr, AuthorityKey: &upKey}
		p, err := proxy.New(proxy.Config{Listener: proxyLn, AuthorityKey: &proxyKey, User: "devnet-proxy",
			Upstreams: []proxy.Upstream{up}, Logger: logger.With("app", "proxy"), Sv1: frontSv1(true)})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "mining proxy listening on %s (authority key %s), in front of %s\n", proxyLn.Addr(), proxyPub, via)
		goRun("proxy", p.Run)
		select { // it serves devices once its upstream channel is open
		case <-p.Ready():
		case <-ctx.Done(): // stopped, or an app failed, before
			wg.Wait()
			close(errs)
			return errors.Join(append(collect(errs), ctx.Err())...)
		}
		minerAddr, minerKey, via = proxyLn.Addr().String(), proxyPub, "the mining proxy"
	}
	if opts.sv1 {
		addr := sv1Cfg.Listener.Addr().String()
		fmt.Fprintf(out, "stratum v1 miner: connecting to %s's Stratum V1 gateway on %s\n", via, addr)
		var current atomic.Pointer[sv1.Client]
		goRun("stratum v1 miner", func(ctx context.Context) error {
			sv1.Run(ctx, sv1.ClientConfig{Address: addr, User: "devnet-sv1", Password: "x", VersionRolling: true, ReuseID: true, SuggestDifficulty: 1e-6},
				current.Store, func(err error) { logger.Warn("stratum v1 miner: dialling again", "error", err) })
			return nil
		})
		wg.Go(func() { reportSv1(ctx, &current, out) })
	} else {
		miner, err := cpuminer.New(cpuminer.Config{Pool: minerAddr, AuthorityKey: &minerKey, User: "devnet",
			ChannelKind: cpuminer.Extended, Threads: threads, Logger: logger.With("app", "cpuminer")})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "cpu miner: %d thread(s), extended channel, connecting to %s\n", threads, via)
		goRun("cpu miner", miner.Run)
		wg.Go(func() { report(ctx, miner, out) })
	}
	wg.Go(func() { watchBlocks(ctx, n.Client(), payoutScript, payout, opts.jd, out) })
	if txEvery > 0 {
		wg.Go(func() { sendTransactions(ctx, n, txEvery, logger) })
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return all
}

func newAddress() (address.Address, error) {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	return address.NewAddressWitnessPubKeyHash(address.Hash160(k.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
}

// watchBlocks prints a line for every block that pays the pool's address;
// with job declaration, whose template it was too.
func watchBlocks(ctx context.Context, c *node.Client, script []byte, payout address.Address, jd bool, out io.Writer) {
	c.WatchTips(ctx, node.WatchConfig{}, func(tip node.Tip) {
		b, err := c.GetBlock(ctx, tip.Hash)
		if err != nil || len(b.Transactions) == 0 {
			return
		}
		for _, o := range b.Transactions[0].TxOut {
			if string(o.PkScript) != string(script) {
				continue
			}
			if jd {
				template := "pool"
				if bytes.Contains(b.Transactions[0].TxIn[0].SignatureScript, []byte(jdcTag)) {
					template = "jdc"
				}
				fmt.Fprintf(out, "block found height=%d hash=%s template=%s payout=%s:%d transactions=%d\n",
					tip.Height, tip.Hash, template, payout, o.Value, len(b.Transactions))
			} else {
				fmt.Fprintf(out, "block found height=%d hash=%s payout=%s:%d transactions=%d\n",
					tip.Height, tip.Hash, payout, o.Value, len(b.Transactions))
			}
			return
		}
	})
}

// report prints the miner's hashrate every ten seconds.
func report(ctx context.Context, m *cpuminer.Miner, out io.Writer) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	last, at := m.Stats().Hashes, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s := m.Stats()
			fmt.Fprintf(out, "hashrate hashrate_hs=%.0f accepted=%d blocks=%d\n", float64(s.Hashes-last)/now.Sub(at).Seconds(), s.Accepted, s.Blocks)
			last, at = s.Hashes, now
		}
	}
}

// reportSv1 prints the Stratum V1 miner's counts every ten seconds.
func reportSv1(ctx context.Context, current *atomic.Pointer[sv1.Client], out io.Writer) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if c := current.Load(); c != nil {
				fmt.Fprintf(out, "stratum v1 miner accepted=%d rejected=%d blocks=%d\n", c.Accepted.Load(), c.Rejected.Load(), c.Blocks.Load())
			}
		}
	}
}

// sendTransactions puts a few SegWit transactions in the mempool now and then.
func sendTransactions(ctx context.Context, n *harness.Node, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := n.SendSegWitTxs(ctx, 3); err != nil && ctx.Err() == nil {
				log.Warn("sending transactions", "error", err)
			}
		}
	}
}
