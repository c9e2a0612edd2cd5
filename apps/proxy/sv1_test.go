package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/sv1"
)

// startSv1Proxy is startProxy with a Stratum V1 gateway; it returns the
// proxy and the gateway's address.
func startSv1Proxy(t *testing.T, mod func(*Config), addrs ...string) (*Proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startProxy(t, func(c *Config) {
		c.Sv1 = &sv1.Config{Listener: ln}
		if mod != nil {
			mod(c)
		}
	}, addrs...)
	return p, ln.Addr().String()
}

// Sv1 devices through the proxy, in both modes: every share they send is
// accepted by the proxy and by the pool, which credits the proxy's user
// (aggregation) or the device's own (passthrough, its channel opened with
// the device's user identity).
func TestSv1DevicesThroughTheProxy(t *testing.T) {
	for _, mode := range []Mode{ModeAggregate, ModePassthrough} {
		t.Run(string(mode), func(t *testing.T) {
			pool := startMiniPool(t, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
			pool.newTip(t, 1, 9)
			// The easiest upstream target: every device share goes up too.
			_, addr := startSv1Proxy(t, func(c *Config) { c.Mode, c.UpstreamHashrate = mode, 1e-3 }, pool.addr)
			want := "farm"
			if mode == ModePassthrough {
				want = "worker-a"
			}
			ctx := context.Background()
			c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "worker-a", VersionRolling: true, ReuseID: true, SuggestDifficulty: 1e-9})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if open := <-pool.opens; open.UserIdentity != want {
				t.Fatalf("the pool's channel is %q's, want %q's", open.UserIdentity, want)
			}
			const shares = 8
			if err := c.Mine(ctx, shares); err != nil {
				t.Fatal(err)
			}
			if err := c.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if a, rj := c.Accepted.Load(), c.Rejected.Load(); a != shares || rj != 0 {
				t.Fatalf("%d accepted, %d rejected at the proxy; want %d and 0", a, rj, shares)
			}
			for i := range shares {
				if _, res := pool.result(t); res.Status != mining.ShareAccepted {
					t.Fatalf("share %d refused by the pool: %q", i, res.Code)
				}
			}
		})
	}
}
