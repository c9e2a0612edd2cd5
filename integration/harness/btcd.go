package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/btcsuite/btcd/address/v2"

	"github.com/stratumgo/stratum/core/node"
)

// btcd runs btcd: the kernel picks its RPC port (it logs the address it
// listens on), and it mines with "generate" to its --miningaddr.
type btcd struct {
	path string
}

var (
	btcdListeningRE = regexp.MustCompile(`RPC server listening on (\S+)`)
	btcdP2PRE       = regexp.MustCompile(`CMGR: Server listening on (\S+)`)
)

func (d btcd) launch(n *Node, rpcAddr string) (*Process, string, error) {
	listen := rpcAddr
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
		"--nolisten", // no P2P unless asked: nothing connects, nothing to relay
		"--nodnsseed",
		"--miningaddr=" + n.addr.EncodeAddress(),
		"--txindex",             // getrawtransaction for confirmed transactions
		"--utxocachemaxsize=10", // MiB; the default 250 per node adds up in parallel tests
		"--debuglevel=info",
	}
	if n.opts.P2P {
		p2p := n.p2pAddr
		if p2p == "" {
			p2p = "127.0.0.1:0"
		}
		args[slices.Index(args, "--nolisten")] = "--listen=" + p2p
	}
	args = append(args, n.opts.ExtraArgs...)
	if err := os.WriteFile(filepath.Join(n.dir, "btcd.conf"), nil, 0o600); err != nil {
		return nil, "", err
	}

	listening, p2pListening := make(chan string, 1), make(chan string, 1)
	proc, err := startProcess("btcd", d.path, args, func(line string) {
		for re, ch := range map[*regexp.Regexp]chan string{btcdListeningRE: listening, btcdP2PRE: p2pListening} {
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case ch <- m[1]:
				default:
				}
			}
		}
	})
	if err != nil {
		return nil, "", err
	}
	timeout := time.NewTimer(n.opts.StartTimeout)
	defer timeout.Stop()
	var addr string
	for addr == "" || n.opts.P2P && n.p2pAddr == "" {
		select {
		case addr = <-listening:
			continue
		case a := <-p2pListening:
			n.p2pAddr = a // n.mu is held by start
			continue
		case <-proc.Exited():
			return nil, "", fmt.Errorf("btcd exited during start-up: %v\n%s", proc.err, proc.Output())
		case <-timeout.C:
			proc.Kill()
			return nil, "", fmt.Errorf("btcd did not open its ports within %v\n%s", n.opts.StartTimeout, proc.Output())
		}
	}
	return proc, addr, nil
}

// stop sends SIGTERM, which btcd takes as a shutdown request.
func (btcd) stop(_ *Node, p *Process, timeout time.Duration) error { return p.Stop(timeout) }

// generate uses btcd's "generate", which pays --miningaddr (addr). btcd has
// no generatetoaddress.
func (btcd) generate(ctx context.Context, c *node.Client, _ address.Address, count int) ([]string, error) {
	var hexes []string
	err := c.Call(ctx, "generate", []any{count}, &hexes)
	return hexes, err
}
