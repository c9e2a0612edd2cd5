package pool

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/stratumgo/stratum/core/sv1"
)

// startSv1Pool runs a pool that also serves Stratum V1 devices, with
// extranonce2 of e2 bytes; it returns the pool and the Sv1 address.
func startSv1Pool(t *testing.T, e2 int, mod func(*Config)) (*testPool, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.Sv1 = &sv1.Config{Listener: ln, Extranonce2Size: e2}
		if mod != nil {
			mod(c)
		}
	})
	return p, ln.Addr().String()
}

// sv1Barrier waits until every answer to what c sent before is in: the
// gateway answers in request order.
func sv1Barrier(t *testing.T, c *sv1.Client) {
	t.Helper()
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSv1DevicesMine runs Sv1 devices as common firmware behaves (one reused
// request id or not, extranonce2 of 4 and 8 bytes, with and without version
// rolling) against the pool: every share is accepted and credited to the
// authorized user.
func TestSv1DevicesMine(t *testing.T) {
	for _, e2 := range []int{4, 8} {
		p, addr := startSv1Pool(t, e2, nil)
		for _, rolling := range []bool{false, true} {
			for _, reuse := range []bool{false, true} {
				user := fmt.Sprintf("sv1-e%d-roll%v-reuse%v", e2, rolling, reuse)
				t.Run(user, func(t *testing.T) {
					ctx := context.Background()
					c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: user, Password: "x", ReuseID: reuse, VersionRolling: rolling, SuggestDifficulty: 1e-7})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if en1, size := c.Extranonce(); len(en1) != sv1.Extranonce1Size || size != e2 {
						t.Fatalf("extranonce1 %x, extranonce2 size %d; want %d bytes and %d", en1, size, sv1.Extranonce1Size, e2)
					}
					const shares = 25
					if err := c.Mine(ctx, shares); err != nil {
						t.Fatal(err)
					}
					sv1Barrier(t, c)
					if a, r := c.Accepted.Load(), c.Rejected.Load(); a != shares || r != 0 {
						t.Fatalf("%d accepted, %d rejected; want %d and 0", a, r, shares)
					}
					if got := p.Stats().Users[user].Accepted; got != shares {
						t.Fatalf("the pool credits %q with %d shares, want %d", user, got, shares)
					}
				})
			}
		}
	}
}
