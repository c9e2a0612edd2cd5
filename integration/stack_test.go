package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/integration/harness"
)

// freeAddr returns a loopback address nothing listens on, for a binary that
// must be restarted on the same port (it cannot be handed a listener).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// poolBlocks counts the blocks above from whose coinbase pays script.
func poolBlocks(t *testing.T, ctx context.Context, c *node.Client, from int64, script []byte) (n int, blocks []*wire.MsgBlock) {
	tip, err := c.GetBlockCount(ctx)
	if err != nil {
		return 0, nil
	}
	for h := from + 1; h <= tip; h++ {
		hash, err := c.GetBlockHash(ctx, h)
		if err != nil {
			return n, blocks
		}
		b, err := c.GetBlock(ctx, hash)
		if err != nil {
			return n, blocks
		}
		for _, o := range b.Transactions[0].TxOut {
			if string(o.PkScript) == string(script) {
				n++
				blocks = append(blocks, b)
				break
			}
		}
	}
	return n, blocks
}

// waitBlocks polls the chain until want blocks pay script (blocks come from
// other processes: there is nothing to wait on but the node).
func waitBlocks(t *testing.T, ctx context.Context, c *node.Client, from int64, script []byte, want int) []*wire.MsgBlock {
	t.Helper()
	for {
		if n, blocks := poolBlocks(t, ctx, c, from, script); n >= want {
			return blocks
		}
		select {
		case <-ctx.Done():
			n, _ := poolBlocks(t, context.Background(), c, from, script)
			t.Fatalf("%d of %d blocks paying the pool before the deadline", n, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var userStatsRE = regexp.MustCompile(`msg="user stats".* user=(\S+) accepted=(\d+)`)

// TestStackWithBinaries runs a node (each kind), sv2-templateprovider, sv2-pool and two
// sv2-cpuminers (standard and extended channels) as built binaries with
// config files, Noise and pinned keys on every link; then kills the pool and
// starts it again.
func TestStackWithBinaries(t *testing.T) {
	t.Parallel()
	harness.EachNode(t, func(t *testing.T, kind harness.Kind) {
		ctx := testContext(t, 5*time.Minute)
		n := harness.StartNode(t, harness.NodeOptions{Kind: kind})
		c := n.Client()
		if _, err := n.Generate(ctx, 101); err != nil {
			t.Fatal(err)
		}
		sent, err := n.SendSegWitTxs(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		start, err := c.GetBlockCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		tpBin := harness.Build(t, "../apps/templateprovider/cmd/sv2-templateprovider")
		poolBin := harness.Build(t, "../apps/pool/cmd/sv2-pool")
		minerBin := harness.Build(t, "../apps/cpuminer/cmd/sv2-cpuminer")

		tpSK, tpPK, _ := noise.GenerateAuthorityKeyPair(nil)
		poolSK, poolPK, _ := noise.GenerateAuthorityKeyPair(nil)
		payout := newAddress(t)
		payoutScript, _ := txscript.PayToAddrScript(payout)
		tpAddr, poolAddr := freeAddr(t), freeAddr(t)
		tpMon, poolMon, minerMon := freeAddr(t), freeAddr(t), freeAddr(t)
		ledgerPath := filepath.Join(dir, "ledger.db")

		tpConf := writeFile(t, dir, "tp.toml", fmt.Sprintf(`listen = %q
	rpc-url = %q
	rpc-user = %q
	rpc-pass = %q
	network = "regtest"
	authority-secret-key = %q
	template-interval = "2s"
	monitor-listen = %q
	`, tpAddr, n.RPCURL(), n.RPCUser(), n.RPCPass(), noise.FormatSecretKey(tpSK), tpMon))
		poolConf := writeFile(t, dir, "pool.toml", fmt.Sprintf(`listen = %q
	authority-secret-key = %q
	tp-address = %q
	tp-authority-pubkey = %q
	network = "regtest"
	payout = [%q]
	pool-tag = "/stack test/"
	stats-interval = "2s"
	monitor-listen = %q
	ledger = %q
	ledger-flush = "200ms"
	pool-fee = 1.5
	`, poolAddr, noise.FormatSecretKey(poolSK), tpAddr, tpPK, payout.EncodeAddress()+":1", poolMon, ledgerPath))
		// One miner serves its monitoring, the other has it off.
		minerConf := func(name, kind, monitor string) string {
			return writeFile(t, dir, name+".toml", fmt.Sprintf(`pool = %q
	authority-pubkey = %q
	user = %q
	channel-kind = %q
	threads = 1
	report-interval = "2s"
	monitor-listen = %q
	`, poolAddr, poolPK, name, kind, monitor))
		}
		harness.StartProcess(t, "sv2-templateprovider", tpBin, "--config", tpConf)
		poolProc := harness.StartProcess(t, "sv2-pool", poolBin, "--config", poolConf)
		harness.StartProcess(t, "sv2-cpuminer standard", minerBin, "--config", minerConf("std-miner", "standard", minerMon))
		harness.StartProcess(t, "sv2-cpuminer extended", minerBin, "--config", minerConf("ext-miner", "extended", ""))

		blocks := waitBlocks(t, ctx, c, start, payoutScript, 5)
		t.Logf("%d blocks paying the pool", len(blocks))
		for _, tx := range sent {
			if !containsTx(blocks[0], tx.TxHash()) {
				t.Errorf("first pool block lacks mempool transaction %s", tx.TxHash())
			}
		}
		// Both miners are credited in the pool's accounting.
		credited := func(out string) map[string]int {
			got := map[string]int{}
			for _, m := range userStatsRE.FindAllStringSubmatch(out, -1) {
				v, _ := strconv.Atoi(m[2])
				got[m[1]] = max(got[m[1]], v)
			}
			return got
		}
		deadline := time.Now().Add(time.Minute)
		for {
			got := credited(poolProc.Output())
			if got["std-miner"] > 0 && got["ext-miner"] > 0 {
				t.Logf("pool accounting: %v accepted shares", got)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pool accounting %v: both miners should have accepted shares", got)
			}
			time.Sleep(200 * time.Millisecond) // the pool logs its accounting every 2s
		}

		// Each binary's monitoring tells the same story: the pool's blocks
		// and both miners' shares, the provider's solutions, the miner's.
		checkStackMonitoring(t, "http://"+poolMon, "http://"+tpMon, "http://"+minerMon)

		// Kill the pool (SIGKILL) mid-load and start it again: the miners
		// come back by themselves, and the ledger holds the work and blocks
		// written before the kill, their splits unchanged.
		before := checkLedgerBeforeKill(t, "http://"+poolMon, ledgerPath)
		if err := poolProc.Kill(); err != nil {
			t.Fatal(err)
		}
		checkLedgerAfterKill(t, ledgerPath, before)
		height, _ := c.GetBlockCount(ctx)
		harness.StartProcess(t, "sv2-pool (restarted)", poolBin, "--config", poolConf)
		waitBlocks(t, ctx, c, height, payoutScript, 2)
	})
}

// TestDevnet runs the README's first command for up to a minute: it must
// find blocks, stop cleanly on SIGINT and leave nothing behind.
func TestDevnet(t *testing.T) {
	t.Parallel()
	testDevnet(t, regexp.MustCompile(`^block found height=(\d+) hash=([0-9a-f]{64}) `))
}

// TestDevnetJD is the same with job declaration (scripts/devnet --jd):
// three blocks on the JDC's templates.
func TestDevnetJD(t *testing.T) {
	t.Parallel()
	testDevnet(t, regexp.MustCompile(`^block found height=(\d+) hash=([0-9a-f]{64}) template=jdc `), "--jd")
}

// TestDevnetProxy is the same with a mining proxy in front of the CPU
// miner (scripts/devnet --proxy).
func TestDevnetProxy(t *testing.T) {
	t.Parallel()
	testDevnet(t, regexp.MustCompile(`^block found height=(\d+) hash=([0-9a-f]{64}) `), "--proxy")
}

// TestDevnetSv1 is the same with a Stratum V1 miner on the pool's Sv1
// gateway instead of the CPU miner (scripts/devnet --sv1).
func TestDevnetSv1(t *testing.T) {
	t.Parallel()
	testDevnet(t, regexp.MustCompile(`^block found height=(\d+) hash=([0-9a-f]{64}) `), "--sv1")
}

// testDevnet runs scripts/devnet with args until three lines match blockRE
// (height and hash captured), then stops it as Ctrl-C would and checks it
// ended cleanly.
func testDevnet(t *testing.T, blockRE *regexp.Regexp, args ...string) {
	cmd := exec.Command("../scripts/devnet", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the whole group
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var dir string
	var blocks []chainhash.Hash
	deadline := time.After(3 * time.Minute) // a cold machine builds btcd first
	for len(blocks) < 3 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("devnet ended early:\n%s", stderr.String())
			}
			t.Log(line)
			if rest, found := strings.CutPrefix(line, "devnet: working in "); found {
				dir, _, _ = strings.Cut(rest, " ")
			}
			if m := blockRE.FindStringSubmatch(line); m != nil {
				h, _ := chainhash.NewHashFromStr(m[2])
				blocks = append(blocks, *h)
			}
		case <-deadline:
			t.Fatalf("%d blocks before the deadline:\n%s", len(blocks), stderr.String())
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("devnet exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("devnet did not stop within a minute of SIGINT")
	}
	if dir == "" {
		t.Fatal("devnet did not say where it works")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there (%v)", dir, err)
	}
	// No btcd of this devnet is left running.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) {
			t.Errorf("process %s still runs with the devnet's dir: %q", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}
