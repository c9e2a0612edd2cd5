package harness

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/address/v2"

	"github.com/stratumgo/stratum/core/node"
)

// DefaultBitcoindRPCThreads is the -rpcthreads a bitcoind gets unless
// NodeOptions.RPCThreads says otherwise: what Bitcoin Core had by default
// before v29 (16 since), so that work left running on the node shows up as
// a frozen RPC server within a test.
const DefaultBitcoindRPCThreads = 4

// bitcoindPortAttempts bounds how many free ports a first start tries: a
// port picked free can be taken by another process before bitcoind binds
// it, and bitcoind cannot be told to let the kernel choose (it refuses port
// 0 and would not say which port it got).
const bitcoindPortAttempts = 5

// bitcoind runs Bitcoin Core's bitcoind: the harness picks a free loopback
// port for its RPC server (retrying with another if it is taken by the time
// bitcoind binds it), and it mines with generatetoaddress (no wallet).
type bitcoind struct {
	path     string
	threads  int
	freeAddr func() (string, error)
}

// bitcoindRPCStarted is logged once the RPC port is bound, before the node
// loads its chain (it answers "warming up", RPC error -28, until then).
const bitcoindRPCStarted = "Starting HTTP server with"

func (d bitcoind) launch(n *Node, rpcAddr string) (*Process, string, error) {
	data := filepath.Join(n.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, "", err
	}
	for attempt := 1; ; attempt++ {
		addr := rpcAddr
		if addr == "" {
			var err error
			if addr, err = d.freeAddr(); err != nil {
				return nil, "", fmt.Errorf("bitcoind: choosing an RPC port: %w", err)
			}
		}
		proc, err := d.start(n, data, addr)
		if err == nil {
			return proc, addr, nil
		}
		if err, ok := err.(portTakenError); ok && rpcAddr == "" && attempt < bitcoindPortAttempts {
			n.opts.Logger.Info("harness: bitcoind's RPC port was taken; trying another", "addr", addr, "attempt", attempt, "output", lastLines(err.output, 4))
			continue
		}
		return nil, "", err
	}
}

// portTakenError is a bitcoind that could not bind its RPC address.
type portTakenError struct {
	addr, output string
}

func (e portTakenError) Error() string {
	return fmt.Sprintf("bitcoind could not bind its RPC address %s (taken)\n%s", e.addr, e.output)
}

// start runs bitcoind once with its RPC server on addr and waits until it
// has bound it.
func (d bitcoind) start(n *Node, data, addr string) (*Process, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-regtest",
		"-datadir=" + data, // fresh: no bitcoin.conf, nothing of ~/.bitcoin
		"-printtoconsole=1",
		// Only this address: with the default endpoints (::1 and
		// 127.0.0.1) a taken 127.0.0.1 port would still start on ::1.
		"-rpcbind=" + addr,
		"-rpcallowip=" + host,
		"-rpcport=" + port,
		"-rpcauth=" + rpcAuth(n.user, n.pass),
		"-rpcthreads=" + strconv.Itoa(d.threads),
		// No P2P at all: nothing listens, nothing connects, no Tor.
		"-listen=0",
		"-listenonion=0",
		"-connect=0",
		"-dnsseed=0",
		"-fixedseeds=0",
		"-discover=0",
		"-txindex=1", // getrawtransaction for confirmed transactions
		"-dbcache=16",
		"-par=1",     // no script-checking threads: two cores are shared by many nodes
		"-debug=rpc", // every call, by thread, for a failing test's log
		"-logthreadnames=1",
	}
	args = append(args, n.opts.ExtraArgs...)

	started := make(chan struct{})
	proc, err := startProcess("bitcoind", d.path, args, func(line string) {
		if strings.Contains(line, bitcoindRPCStarted) {
			select {
			case <-started:
			default:
				close(started)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	timeout := time.NewTimer(n.opts.StartTimeout)
	defer timeout.Stop()
	select {
	case <-started:
		return proc, nil
	case <-proc.Exited():
		out := proc.Output()
		if strings.Contains(out, fmt.Sprintf("Binding RPC on address %s port %s failed", host, port)) {
			return nil, portTakenError{addr: addr, output: out}
		}
		return nil, fmt.Errorf("bitcoind exited during start-up: %v\n%s", proc.err, out)
	case <-timeout.C:
		proc.Kill()
		return nil, fmt.Errorf("bitcoind did not start its RPC server within %v\n%s", n.opts.StartTimeout, proc.Output())
	}
}

// stopRPCTimeout bounds the stop RPC: a bitcoind whose RPC threads are all
// held does not answer it, and gets SIGTERM instead.
const stopRPCTimeout = 5 * time.Second

// stop asks bitcoind to stop over RPC and waits for it to exit. Not SIGTERM
// first: bitcoind's signal handler only raises the shutdown flag, so a worker
// waiting in a getblocktemplate long poll (left there by a client that went
// away, such as a stopped template provider) is not woken and holds the
// shutdown up for as long as a minute; the stop RPC wakes it.
func (bitcoind) stop(n *Node, p *Process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopRPCTimeout)
	err := n.Client().Call(ctx, "stop", nil, nil)
	cancel()
	if err != nil {
		n.opts.Logger.Warn("harness: bitcoind's stop RPC failed; sending SIGTERM", "error", err)
		return p.Stop(timeout)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.Exited():
		return nil
	case <-t.C:
		if err := p.Kill(); err != nil {
			return err
		}
		return fmt.Errorf("bitcoind did not stop within %v of the stop RPC and was killed", timeout)
	}
}

// generate uses generatetoaddress: bitcoind has no "generate", and without
// a wallet no address of its own.
func (bitcoind) generate(ctx context.Context, c *node.Client, addr address.Address, count int) ([]string, error) {
	var hexes []string
	err := c.Call(ctx, "generatetoaddress", []any{count, addr.EncodeAddress()}, &hexes)
	return hexes, err
}

// rpcAuth returns bitcoind's -rpcauth value for user and password:
// user:salt$HMAC-SHA256(key salt, password), as share/rpcauth/rpcauth.py
// makes it, so the password is not on the command line.
func rpcAuth(user, pass string) string {
	salt := randomHex(16)
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(pass))
	return user + ":" + salt + "$" + hex.EncodeToString(m.Sum(nil))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// freeLoopbackAddr returns a 127.0.0.1 address nothing listens on right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
