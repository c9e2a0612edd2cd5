package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/node"
)

// DefaultStartTimeout bounds a node's start: process start, RPC listener,
// first answer.
const DefaultStartTimeout = 30 * time.Second

// NodeOptions configures StartNode. The zero value is ready to use.
type NodeOptions struct {
	// BtcdPath is the btcd binary; empty means BtcdPath(ctx, "").
	BtcdPath string
	// ExtraArgs are appended to the btcd command line.
	ExtraArgs []string
	// StartTimeout bounds each start and restart (default
	// DefaultStartTimeout).
	StartTimeout time.Duration
	// Logger receives the node client's logs; nil logs through t.Log
	// (StartNode) or discards them (LaunchNode).
	Logger *slog.Logger
}

// Node is a btcd in regtest owned by one test, with a P2WPKH mining address
// whose key the harness holds, so the coinbases of Generate can be spent.
// Its methods are safe for concurrent use.
type Node struct {
	t    testing.TB // nil for LaunchNode
	opts NodeOptions
	dir  string
	user string
	pass string

	key      *btcec.PrivateKey
	addr     address.Address
	pkScript []byte

	mu      sync.Mutex
	proc    *Process
	rpcAddr string       // host:port, fixed after the first start
	client  *node.Client // reaches whichever process currently serves rpcAddr
	coins   []coin       // coinbases of our generated blocks, oldest first
}

// coin is a coinbase output paying our key.
type coin struct {
	out    wire.OutPoint
	value  int64
	height int64
	spent  bool
}

var listeningRE = regexp.MustCompile(`RPC server listening on (\S+)`)

// StartNode starts a btcd in regtest in a temp dir of t, waits until its RPC
// server answers, and stops it when the test ends. It fails the test if the
// node does not come up within the start timeout.
func StartNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := newNode(opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n.t = t
	// Registered before the start so it runs after the stop (cleanups run
	// last-in first-out) and shows the shutdown too.
	t.Cleanup(func() {
		if t.Failed() {
			if p := n.Process(); p != nil {
				t.Logf("harness: btcd output (%s):\n%s", n.dir, p.Output())
			}
		}
	})
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("harness: %v", err)
		}
	})
	if err := n.start(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return n
}

// LaunchNode starts a btcd in regtest with its data in dir, for programs
// that are not tests (the devnet command); Close stops it.
func LaunchNode(opts NodeOptions, dir string) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	n, err := newNode(opts, dir)
	if err != nil {
		return nil, err
	}
	if err := n.start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func newNode(opts NodeOptions, dir string) (*Node, error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.BtcdPath == "" {
		ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
		defer cancel()
		p, err := BtcdPath(ctx, "")
		if err != nil {
			return nil, err
		}
		opts.BtcdPath = p
	}
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	addr, err := address.NewAddressWitnessPubKeyHash(address.Hash160(key.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		return nil, err
	}
	pkScript, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	return &Node{opts: opts, dir: dir, user: "harness", pass: randomHex(16), key: key, addr: addr, pkScript: pkScript}, nil
}

// Close stops btcd and releases the node's client.
func (n *Node) Close() error {
	err := n.Stop()
	n.mu.Lock()
	if n.client != nil {
		n.client.Close()
	}
	n.mu.Unlock()
	return err
}

// start runs btcd on n's data dir. The first start lets the kernel choose
// the RPC port and reads it from btcd's log; restarts reuse it, so that
// clients configured with RPCURL reach the restarted node.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		select {
		case <-n.proc.Exited():
		default:
			return errors.New("btcd is already running")
		}
	}
	listen := n.rpcAddr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := []string{
		"--regtest",
		"--datadir=" + filepath.Join(n.dir, "data"),
		"--logdir=" + filepath.Join(n.dir, "logs"),
		"--configfile=" + filepath.Join(n.dir, "btcd.conf"), // keep ~/.btcd out of it
		"--rpclisten=" + listen,
		"--notls", // allowed because the RPC server only listens on loopback
		"--rpcuser=" + n.user,
		"--rpcpass=" + n.pass,
		"--nolisten", // no P2P: nothing connects, nothing to relay
		"--nodnsseed",
		"--miningaddr=" + n.addr.EncodeAddress(),
		"--txindex",             // getrawtransaction for confirmed transactions
		"--utxocachemaxsize=10", // MiB; the default 250 per node adds up in parallel tests
		"--debuglevel=info",
	}
	args = append(args, n.opts.ExtraArgs...)
	if err := os.WriteFile(filepath.Join(n.dir, "btcd.conf"), nil, 0o600); err != nil {
		return err
	}

	listening := make(chan string, 1)
	proc, err := startProcess("btcd", n.opts.BtcdPath, args, func(line string) {
		if m := listeningRE.FindStringSubmatch(line); m != nil {
			select {
			case listening <- m[1]:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	n.proc = proc

	timeout := time.NewTimer(n.opts.StartTimeout)
	defer timeout.Stop()
	select {
	case addr := <-listening:
		n.rpcAddr = addr
	case <-proc.Exited():
		return fmt.Errorf("btcd exited during start-up: %v\n%s", proc.err, proc.Output())
	case <-timeout.C:
		proc.Kill()
		return fmt.Errorf("btcd did not open its RPC port within %v\n%s", n.opts.StartTimeout, proc.Output())
	}

	if n.client == nil {
		c, err := node.New(n.clientConfig())
		if err != nil {
			return err
		}
		n.client = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.StartTimeout)
	defer cancel()
	if _, err := n.client.WaitReady(ctx, 20*time.Millisecond); err != nil {
		return fmt.Errorf("btcd RPC not ready: %w", err)
	}
	return nil
}

func (n *Node) clientConfig() node.Config {
	return node.Config{
		URL:      "http://" + n.rpcAddr,
		User:     n.user,
		Password: n.pass,
		Logger:   n.opts.Logger.With("client", "harness"),
	}
}

// ClientConfig returns a node.Config that reaches this node (across
// restarts), for the code under test. Logger is nil: set your own.
func (n *Node) ClientConfig() node.Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	cfg := n.clientConfig()
	cfg.Logger = nil
	return cfg
}

// RPCURL returns the node's JSON-RPC URL (http://127.0.0.1:port).
func (n *Node) RPCURL() string { return n.ClientConfig().URL }

// RPCUser returns the node's RPC user name.
func (n *Node) RPCUser() string { return n.user }

// RPCPass returns the node's RPC password (random per node).
func (n *Node) RPCPass() string { return n.pass }

// Dir returns the node's directory (data and logs).
func (n *Node) Dir() string { return n.dir }

// Client returns the harness's own client of the node.
func (n *Node) Client() *node.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.client
}

// MiningAddress returns the P2WPKH address Generate pays to.
func (n *Node) MiningAddress() address.Address { return n.addr }

// Process returns the running btcd process (a new one after Restart).
func (n *Node) Process() *Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Stop shuts btcd down cleanly (SIGTERM), killing it if it takes longer than
// DefaultStopTimeout. Stopping a stopped node does nothing.
func (n *Node) Stop() error {
	p := n.Process()
	if p == nil {
		return nil
	}
	if err := p.Stop(DefaultStopTimeout); err != nil {
		return fmt.Errorf("stopping btcd: %w", err)
	}
	return nil
}

// Kill ends btcd at once, as a crash would.
func (n *Node) Kill() error {
	p := n.Process()
	if p == nil {
		return nil
	}
	return p.Kill()
}

// Restart starts btcd again on the same data dir and RPC address, after a
// Stop or Kill (or stops it first if it is running), and waits until it
// answers. The output of earlier runs stays in the test log on failure.
func (n *Node) Restart() error {
	if err := n.Stop(); err != nil {
		return err
	}
	prev := n.Process()
	if err := n.start(); err != nil {
		return fmt.Errorf("restarting btcd: %w", err)
	}
	if n.t != nil {
		n.t.Cleanup(func() {
			if n.t.Failed() {
				n.t.Logf("harness: output of an earlier btcd run:\n%s", prev.Output())
			}
		})
	}
	return nil
}

// Generate mines count blocks paying the harness's key and returns their
// hashes. btcd includes mempool transactions in them.
func (n *Node) Generate(ctx context.Context, count int) ([]chainhash.Hash, error) {
	var hexes []string
	if err := n.Client().Call(ctx, "generate", []any{count}, &hexes); err != nil {
		return nil, fmt.Errorf("generate %d: %w", count, err)
	}
	hashes := make([]chainhash.Hash, len(hexes))
	for i, s := range hexes {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		hashes[i] = *h
	}
	// Remember the coinbases, so they can be spent once mature.
	for _, h := range hashes {
		b, err := n.Client().GetBlock(ctx, h)
		if err != nil {
			return nil, err
		}
		cb := b.Transactions[0]
		height, err := blockchain.ExtractCoinbaseHeight(btcutil.NewTx(cb))
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", h, err)
		}
		n.mu.Lock()
		n.coins = append(n.coins, coin{out: wire.OutPoint{Hash: cb.TxHash(), Index: 0}, value: cb.TxOut[0].Value, height: int64(height)})
		n.mu.Unlock()
	}
	return hashes, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testWriter sends log lines to t.Log, so they show with a failing test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
