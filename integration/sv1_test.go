package integration

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stratumgo/stratum/apps/jdc"
	"github.com/stratumgo/stratum/apps/pool"
	"github.com/stratumgo/stratum/apps/proxy"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/integration/harness"
)

// sv1Listener is a listener for a Stratum V1 gateway, with its address.
func sv1Listener(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().String()
}

// startSv1Miner runs our Stratum V1 client as cfg says against addr until
// the test ends, dialling again if the server hangs up (as firmware does).
func startSv1Miner(t *testing.T, addr string, cfg sv1.ClientConfig) {
	t.Helper()
	cfg.Address = addr
	if cfg.Password == "" {
		cfg.Password = "x"
	}
	// The difficulty a CPU miner can meet; regtest blocks go in whatever it is.
	cfg.SuggestDifficulty = 1e-6
	harness.Go(t, "sv1 miner "+cfg.User, func(ctx context.Context) error {
		sv1.Run(ctx, cfg, nil, func(err error) { t.Logf("sv1 miner %s: %v; dialling again", cfg.User, err) })
		return nil
	})
}

// Sv1 devices mine through sv2-pool --sv1-listen on btcd regtest: with one
// reused request id or not, with version rolling or not, extranonce2 of 4
// bytes. The node accepts their blocks, made on the pool's jobs, and the
// pool credits each device's own user, blocks included.
func TestSv1Pool(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	height, _ := n.Client().GetBlockCount(ctx)
	ln, addr := sv1Listener(t)
	pl := startPool(t, startTP(t, n, nil), func(c *pool.Config) {
		c.Payouts = []pool.Payout{{Script: []byte{0x51}, Weight: 1}}
		c.Sv1 = &sv1.Config{Listener: ln, Extranonce2Size: 4}
	})
	users := map[string]sv1.ClientConfig{
		"antminer": {ReuseID: true, VersionRolling: true},
		"bitaxe":   {VersionRolling: true},
		"cgminer":  {ReuseID: true},
	}
	for user, cfg := range users {
		cfg.User = user
		startSv1Miner(t, addr, cfg)
	}
	for h := height + 1; h <= height+3; h++ {
		if b := blockAt(t, ctx, n.Client(), h); !coinbaseHas(b, "/stratumgo test/") {
			t.Errorf("block %d was not made on the pool's job", h)
		}
	}
	eventually(t, time.Minute, "the pool crediting every Sv1 device", func() bool {
		st := pl.pool.Stats()
		blocks := uint64(0)
		for user := range users {
			if st.Users[user].Accepted == 0 {
				return false
			}
			blocks += st.Users[user].Blocks
		}
		return blocks >= 3
	})
}

// Sv1 devices → sv2-proxy --sv1-listen (extranonce2 of 8 bytes) → pool:
// the proxy is a Sv1 to Sv2 translator; the node accepts the blocks and
// the pool credits the proxy's user.
func TestSv1Proxy(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	height, _ := n.Client().GetBlockCount(ctx)
	pl, _ := startPaidPool(t, n)
	ln, addr := sv1Listener(t)
	startProxy(t, "farm", []proxy.Upstream{poolUpstream(pl)}, func(c *proxy.Config) {
		c.Sv1 = &sv1.Config{Listener: ln, Extranonce2Size: 8}
	})
	startSv1Miner(t, addr, sv1.ClientConfig{User: "rig1", ReuseID: true, VersionRolling: true})
	startSv1Miner(t, addr, sv1.ClientConfig{User: "rig2"})
	for h := height + 1; h <= height+3; h++ {
		if b := blockAt(t, ctx, n.Client(), h); !coinbaseHas(b, "/stratumgo test/") {
			t.Errorf("block %d was not made on the pool's job", h)
		}
	}
	credited(t, pl.pool, "farm")
	for _, u := range []string{"rig1", "rig2"} {
		if _, ok := pl.pool.Stats().Users[u]; ok {
			t.Errorf("the pool saw the device user %q behind an aggregating proxy", u)
		}
	}
}

// Sv1 devices → sv2-jdc --sv1-listen → pool with JDS: the devices mine the
// JDC's own templates; the node accepts the blocks and the pool credits the
// JDC's user.
func TestSv1JDC(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	n, _ := setupJDNode(t, ctx, harness.NodeOptions{}, 0)
	height, _ := n.Client().GetBlockCount(ctx)
	pl := startJDPool(t, n, nil)
	ln, addr := sv1Listener(t)
	startJDC(t, startTP(t, n, nil), pl, func(c *jdc.Config) {
		c.Sv1 = &sv1.Config{Listener: ln}
	})
	startSv1Miner(t, addr, sv1.ClientConfig{User: "rig", ReuseID: true, VersionRolling: true})
	for h := height + 1; h <= height+2; h++ {
		if b := blockAt(t, ctx, n.Client(), h); !coinbaseHas(b, "/jdc test/") {
			t.Errorf("block %d was not made on the JDC's template", h)
		}
	}
	credited(t, pl.pool, "miner")
}
