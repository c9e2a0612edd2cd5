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

// NodeOptions configures StartNode. The zero value is ready to use: a btcd.
type NodeOptions struct {
	// Kind is the node implementation: Btcd (the default) or Bitcoind.
	Kind Kind
	// BtcdPath is the btcd binary; empty means BtcdPath(ctx, "").
	BtcdPath string
	// BitcoindPath is the bitcoind binary; empty means the one BitcoindEnv
	// names (StartNode skips the test when there is none).
	BitcoindPath string
	// RPCThreads is bitcoind's -rpcthreads (default
	// DefaultBitcoindRPCThreads): few, so that a client that leaves work
	// running on the node (an abandoned long poll holds a thread) exhausts
	// them in a test rather than in production. btcd has no such pool.
	RPCThreads int
	// P2P makes a btcd node listen for peers on a loopback port (P2PAddr),
	// for a second node to connect to; nodes are otherwise alone.
	P2P bool
	// ExtraArgs are appended to the node's command line.
	ExtraArgs []string
	// StartTimeout bounds each start and restart (default
	// DefaultStartTimeout).
	StartTimeout time.Duration
	// Logger receives the node client's logs; nil logs through t.Log
	// (StartNode) or discards them (LaunchNode).
	Logger *slog.Logger

	// freeAddr picks bitcoind's RPC address (default freeLoopbackAddr);
	// the harness's own tests replace it to force a port collision.
	freeAddr func() (string, error)
}

// Node is a node in regtest (btcd or bitcoind, see Kind) owned by one test,
// with a P2WPKH mining address whose key the harness holds, so the coinbases
// of Generate can be spent. Its methods are safe for concurrent use.
type Node struct {
	t    testing.TB // nil for LaunchNode
	opts NodeOptions
	kind Kind
	d    daemon
	dir  string
	user string
	pass string

	key      *btcec.PrivateKey
	addr     address.Address
	pkScript []byte

	mu      sync.Mutex
	proc    *Process
	rpcAddr string       // host:port, fixed after the first start
	p2pAddr string       // with NodeOptions.P2P: host:port, fixed after the first start
	client  *node.Client // reaches whichever process currently serves rpcAddr
	coins   []coin       // coinbases of our generated blocks, oldest first
}

// daemon is what differs between node implementations: how one is started
// and how it mines. Everything else goes through the JSON-RPC both speak.
type daemon interface {
	// launch starts the node on n's directory with its RPC server on
	// rpcAddr, or, when rpcAddr is empty (the first start), on a loopback
	// port it chooses. It returns once the process listens there, with the
	// address; on failure nothing it started is left running.
	launch(n *Node, rpcAddr string) (*Process, string, error)
	// generate mines count blocks paying addr and returns their hashes.
	generate(ctx context.Context, c *node.Client, addr address.Address, count int) ([]string, error)
	// stop shuts the running process p of n down cleanly, killing it if it
	// has not ended within timeout, and returns once it is reaped.
	stop(n *Node, p *Process, timeout time.Duration) error
}

// coin is a coinbase output paying our key.
type coin struct {
	out    wire.OutPoint
	value  int64
	height int64
	block  chainhash.Hash
	spent  bool
}

// StartNode starts a node of opts.Kind in regtest in a temp dir of t, waits
// until its RPC server answers, and stops it when the test ends. It fails
// the test if the node does not come up within the start timeout, and skips
// it (saying so) for a bitcoind when no binary is given.
func StartNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	if opts.Kind.orDefault() == Bitcoind && opts.BitcoindPath == "" {
		SkipUnavailable(t, Bitcoind)
	}
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
				t.Logf("harness: %s output (%s):\n%s", n.kind, n.dir, p.Output())
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

// LaunchNode starts a node of opts.Kind in regtest with its data in dir, for
// programs that are not tests (the devnet command); Close stops it.
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
	kind := opts.Kind.orDefault()
	var d daemon
	switch kind {
	case Btcd:
		if opts.BtcdPath == "" {
			ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
			defer cancel()
			p, err := BtcdPath(ctx, "")
			if err != nil {
				return nil, err
			}
			opts.BtcdPath = p
		}
		d = btcd{path: opts.BtcdPath}
	case Bitcoind:
		if opts.P2P {
			return nil, fmt.Errorf("harness: NodeOptions.P2P is for btcd nodes")
		}
		if opts.BitcoindPath == "" {
			p, err := BitcoindPath()
			if err != nil {
				return nil, err
			}
			opts.BitcoindPath = p
		}
		if opts.RPCThreads == 0 {
			opts.RPCThreads = DefaultBitcoindRPCThreads
		}
		if opts.freeAddr == nil {
			opts.freeAddr = freeLoopbackAddr
		}
		d = bitcoind{path: opts.BitcoindPath, threads: opts.RPCThreads, freeAddr: opts.freeAddr}
	default:
		return nil, fmt.Errorf("harness: unknown node kind %q", string(opts.Kind))
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
	return &Node{opts: opts, kind: kind, d: d, dir: dir, user: "harness", pass: randomHex(16), key: key, addr: addr, pkScript: pkScript}, nil
}

// Close stops the node and releases its client.
func (n *Node) Close() error {
	err := n.Stop()
	n.mu.Lock()
	if n.client != nil {
		n.client.Close()
	}
	n.mu.Unlock()
	return err
}

// start runs the node on n's data dir. The first start lets the node (btcd)
// or the harness (bitcoind) choose the RPC port; restarts reuse it, so that
// clients configured with RPCURL reach the restarted node.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		select {
		case <-n.proc.Exited():
		default:
			return fmt.Errorf("%s is already running", n.kind)
		}
	}
	proc, addr, err := n.d.launch(n, n.rpcAddr)
	if err != nil {
		return err
	}
	n.proc, n.rpcAddr = proc, addr

	if n.client == nil {
		c, err := node.New(n.clientConfig())
		if err != nil {
			return err
		}
		n.client = c
	}
	// Ready when it answers (bitcoind answers "warming up" for a while);
	// a process that ends meanwhile ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.StartTimeout)
	defer cancel()
	go func() {
		select {
		case <-proc.Exited():
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := n.client.WaitReady(ctx, 20*time.Millisecond); err != nil {
		select {
		case <-proc.Exited():
			return fmt.Errorf("%s exited during start-up: %v\n%s", n.kind, proc.err, proc.Output())
		default:
		}
		return fmt.Errorf("%s RPC not ready: %w", n.kind, err)
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

// RPCURL returns the node's JSON-RPC URL (http://127.0.0.1:port; plain
// HTTP for both kinds: btcd runs with --notls on loopback).
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

// P2PAddr is where a node started with NodeOptions.P2P takes peers
// (btcd --connect=ADDR); empty otherwise.
func (n *Node) P2PAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p2pAddr
}

// MiningAddress returns the P2WPKH address Generate pays to.
func (n *Node) MiningAddress() address.Address { return n.addr }

// Kind returns the node's implementation.
func (n *Node) Kind() Kind { return n.kind }

// CookieFile returns the path of the RPC cookie file a bitcoind writes at
// every start (credentials that node.Config.CookieFile reads), or "" for
// btcd, which has none.
func (n *Node) CookieFile() string {
	if n.kind != Bitcoind {
		return ""
	}
	return filepath.Join(n.dir, "data", "regtest", ".cookie")
}

// Process returns the running node process (a new one after Restart).
func (n *Node) Process() *Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Stop shuts the node down cleanly (btcd: SIGTERM; bitcoind: the stop RPC,
// or SIGTERM if its RPC does not answer), killing it if it takes longer than
// DefaultStopTimeout, and returns once it is reaped. Stopping a stopped node
// does nothing.
func (n *Node) Stop() error {
	p := n.Process()
	if p == nil {
		return nil
	}
	select {
	case <-p.Exited():
		return nil
	default:
	}
	if err := n.d.stop(n, p, DefaultStopTimeout); err != nil {
		return fmt.Errorf("stopping %s: %w", n.kind, err)
	}
	return nil
}

// Kill ends the node at once, as a crash would. A killed node may come back
// behind its last tip (bitcoind flushes its block index lazily and can come
// back at genesis); Restart forgets the coinbases that went with it.
func (n *Node) Kill() error {
	p := n.Process()
	if p == nil {
		return nil
	}
	return p.Kill()
}

// Restart starts the node again on the same data dir and RPC address, after
// a Stop or Kill (or stops it first if it is running), and waits until it
// answers. Coinbases of blocks the node no longer has on its best chain are
// forgotten. The output of earlier runs stays in the test log on failure.
func (n *Node) Restart() error {
	if err := n.Stop(); err != nil {
		return err
	}
	prev := n.Process()
	if err := n.start(); err != nil {
		return fmt.Errorf("restarting %s: %w", n.kind, err)
	}
	if n.t != nil {
		n.t.Cleanup(func() {
			if n.t.Failed() {
				n.t.Logf("harness: output of an earlier %s run:\n%s", n.kind, prev.Output())
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.StartTimeout)
	defer cancel()
	return n.forgetLostCoins(ctx)
}

// forgetLostCoins drops the coinbases whose block is no longer on the best
// chain (a killed node came back behind), so that SendSegWitTxs does not
// spend coins that do not exist.
func (n *Node) forgetLostCoins(ctx context.Context) error {
	n.mu.Lock()
	coins := append([]coin(nil), n.coins...)
	n.mu.Unlock()
	lost := map[wire.OutPoint]bool{}
	for _, c := range coins {
		h, err := n.Client().GetBlockHash(ctx, c.height)
		var rpcErr *node.RPCError
		switch {
		case errors.As(err, &rpcErr): // out of range: the chain is shorter
			lost[c.out] = true
		case err != nil:
			return fmt.Errorf("after restarting %s: %w", n.kind, err)
		case h != c.block:
			lost[c.out] = true
		}
	}
	if len(lost) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	kept := n.coins[:0]
	for _, c := range n.coins {
		if !lost[c.out] {
			kept = append(kept, c)
		}
	}
	n.coins = kept
	n.opts.Logger.Info("harness: the restarted node lost blocks; forgot their coinbases", "node", n.kind.String(), "forgotten", len(lost))
	return nil
}

// Generate mines count blocks paying the harness's key and returns their
// hashes. Both nodes include mempool transactions in them (btcd's
// "generate" to its --miningaddr, bitcoind's "generatetoaddress").
func (n *Node) Generate(ctx context.Context, count int) ([]chainhash.Hash, error) {
	hexes, err := n.d.generate(ctx, n.Client(), n.addr, count)
	if err != nil {
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
		n.coins = append(n.coins, coin{out: wire.OutPoint{Hash: cb.TxHash(), Index: 0}, value: cb.TxOut[0].Value, height: int64(height), block: h})
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
