package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
)

// sv2-pool ledger blocks and balances read a ledger file.
func TestLedgerCommand(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := ledger.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	if _, err := s.AddBlock(ctx, ledger.Block{Hash: "00cafe", Height: 812, Reward: 1000, Found: now, Finder: "dave"},
		[]ledger.Work{{Bucket: now, User: "dave", Accepted: 1, Difficulty: 1}}, ledger.Rules{Window: 10, FeeBasisPoints: 100, Pool: "pool"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBlockState(ctx, "00cafe", ledger.Confirmed); err != nil {
		t.Fatal(err)
	}
	s.Close()
	run := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		app := newApp()
		app.Writer = &out
		if err := app.Run(append([]string{"sv2-pool", "ledger"}, args...)); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if out := run("blocks", "--ledger", path); !strings.Contains(out, "812") || !strings.Contains(out, "00cafe") || !strings.Contains(out, "confirmed") || !strings.Contains(out, "dave=990 pool=10") {
		t.Errorf("ledger blocks:\n%s", out)
	}
	if out := run("balances", "--ledger", path); !strings.Contains(out, "dave") || !strings.Contains(out, "990") || !strings.Contains(out, "pool") {
		t.Errorf("ledger balances:\n%s", out)
	}
	app := newApp()
	if err := app.Run([]string{"sv2-pool", "ledger", "blocks"}); err == nil {
		t.Error("ledger blocks without --ledger ran")
	}
}
