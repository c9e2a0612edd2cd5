package integration

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stratumgo/stratum/integration/harness"
)

// TestMain builds btcd once before the tests run in parallel, so that on a
// cold cache they do not all build it at the same time. Later runs find it
// in the Go build cache. With -v it also says which bitcoind the tests
// against Bitcoin Core use (harness.BitcoindEnv), or that they skip.
func TestMain(m *testing.M) {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), harness.BuildTimeout)
	start := time.Now()
	path, err := harness.BtcdPath(ctx, "")
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if testing.Verbose() {
		fmt.Printf("btcd at %s (%.1fs)\n", path, time.Since(start).Seconds())
		if bitcoind, err := harness.BitcoindPath(); err != nil {
			fmt.Println(err)
		} else {
			v, _ := harness.BitcoindVersion()
			fmt.Printf("bitcoind at %s (%s)\n", bitcoind, v)
		}
	}
	os.Exit(m.Run())
}
