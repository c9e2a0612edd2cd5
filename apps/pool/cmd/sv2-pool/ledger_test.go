package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
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
	// Payments: recorded up to the balance, listed newest first.
	if out := run("pay", "--ledger", path, "--user", "dave", "--amount", "500", "--txid", "aa11"); !strings.Contains(out, "recorded") {
		t.Errorf("ledger pay:\n%s", out)
	}
	if out := run("balances", "--ledger", path); !strings.Contains(out, "490") {
		t.Errorf("ledger balances after paying 500 of 990:\n%s", out)
	}
	if err := newApp().Run([]string{"sv2-pool", "ledger", "pay", "--ledger", path, "--user", "dave", "--amount", "491", "--txid", "bb22"}); !errors.Is(err, ledger.ErrOverpaid) {
		t.Errorf("paying dave 491 of his 490: %v, want ErrOverpaid", err)
	}
	if out := run("payouts", "--ledger", path, "--user", "dave"); !strings.Contains(out, "aa11") || !strings.Contains(out, "500") || strings.Contains(out, "bb22") {
		t.Errorf("ledger payouts:\n%s", out)
	}

	app := newApp()
	if err := app.Run([]string{"sv2-pool", "ledger", "blocks"}); err == nil {
		t.Error("ledger blocks without --ledger ran")
	}
	missing := filepath.Join(t.TempDir(), "typo.db")
	if err := newApp().Run([]string{"sv2-pool", "ledger", "balances", "--ledger", missing}); err == nil || !strings.Contains(err.Error(), "no ledger at") {
		t.Errorf("balances of a missing file: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("reading a missing ledger made a file")
	}
}

// sv2-pool ledger of a ledger an older pool left says to upgrade it with
// the pool, and leaves it as it is.
func TestLedgerCommandOlderSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := ledger.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM schema_version WHERE version > 1`); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range ledgerCommands {
		err := runLedger(cmd, path)
		if !errors.Is(err, ledger.ErrOlderSchema) || !strings.Contains(err.Error(), "run sv2-pool --ledger") {
			t.Errorf("ledger %s of an older schema: %v, want ErrOlderSchema saying to run the pool on it", cmd[0], err)
		}
	}
	var v int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil || v != 1 {
		t.Errorf("the schema is at version %d (%v) after the commands, want 1", v, err)
	}
}
