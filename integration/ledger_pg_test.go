package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/core/ledger/pgtest"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/integration/harness"
)

// TestStackLedgerPostgres is TestStackWithBinaries' kill -9 of the pool
// with the ledger in PostgreSQL (pgtest; skipped without it unless
// SV2_REQUIRE_POSTGRES=1), on btcd with one miner: the database holds all
// the accepted difficulty and blocks the pool reported before the kill,
// and the pool restarts on it.
func TestStackLedgerPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)
	ctx := testContext(t, 3*time.Minute)
	n := harness.StartNode(t, harness.NodeOptions{Kind: harness.Btcd})
	c := n.Client()
	if _, err := n.Generate(ctx, 101); err != nil {
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
	tpAddr, poolAddr, poolMon := freeAddr(t), freeAddr(t), freeAddr(t)

	tpConf := writeFile(t, dir, "tp.toml", fmt.Sprintf(`listen = %q
rpc-url = %q
rpc-user = %q
rpc-pass = %q
network = "regtest"
authority-secret-key = %q
template-interval = "2s"
`, tpAddr, n.RPCURL(), n.RPCUser(), n.RPCPass(), noise.FormatSecretKey(tpSK)))
	poolConf := writeFile(t, dir, "pool.toml", fmt.Sprintf(`listen = %q
authority-secret-key = %q
tp-address = %q
tp-authority-pubkey = %q
network = "regtest"
payout = [%q]
monitor-listen = %q
ledger = %q
ledger-flush = "200ms"
pool-fee = 1.5
`, poolAddr, noise.FormatSecretKey(poolSK), tpAddr, tpPK, payout.EncodeAddress()+":1", poolMon, dsn))
	minerConf := writeFile(t, dir, "miner.toml", fmt.Sprintf(`pool = %q
authority-pubkey = %q
user = "pg-miner"
channel-kind = "extended"
threads = 1
`, poolAddr, poolPK))
	harness.StartProcess(t, "sv2-templateprovider", tpBin, "--config", tpConf)
	poolProc := harness.StartProcess(t, "sv2-pool", poolBin, "--config", poolConf)
	harness.StartProcess(t, "sv2-cpuminer", minerBin, "--config", minerConf)

	waitBlocks(t, ctx, c, start, payoutScript, 2)
	before := checkLedgerBeforeKill(t, "http://"+poolMon, dsn)
	if err := poolProc.Kill(); err != nil {
		t.Fatal(err)
	}
	checkLedgerAfterKill(t, dsn, before)
	height, _ := c.GetBlockCount(ctx)
	harness.StartProcess(t, "sv2-pool (restarted)", poolBin, "--config", poolConf)
	waitBlocks(t, ctx, c, height, payoutScript, 1)
}
