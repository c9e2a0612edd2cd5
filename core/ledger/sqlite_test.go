package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Version 1 of SQLite's schema is released: files of it exist, and it
// must not change.
func TestSQLiteVersion1Unchanged(t *testing.T) {
	const want = "10177b335706fc0d3e80d6244c08c4fe7a8f0e44a9f0d2b2daec780e5577a7d3"
	if got := fmt.Sprintf("%x", sha256.Sum256([]byte(sqliteMigrations[0]))); got != want {
		t.Errorf("SQLite's schema version 1 changed (sha256 %s): add a version instead", got)
	}
}

// A file of version 1 is brought up to date at open, its blocks and
// splits kept: no coinbase payments, no txid.
func TestSQLiteUpgradesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		sqliteMigrations[0],
		`INSERT INTO schema_version (version) VALUES (1)`,
		`INSERT INTO blocks (hash, height, reward, fees, found, finder, state) VALUES ('00aa', 7, 1000, 0, 0, 'bob', 'confirmed')`,
		`INSERT INTO splits (block, user, amount) VALUES ('00aa', 'bob', 990), ('00aa', 'pool', 10)`,
		`INSERT INTO payouts (user, amount, at, txid) VALUES ('bob', 90, 0, 'tx')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := openTest(t, path)
	var version int
	if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&version); err != nil || version != len(sqliteMigrations) {
		t.Fatalf("version %d after opening (%v), want %d", version, err, len(sqliteMigrations))
	}
	bal, err := s.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Payout{{"bob", 900}, {"pool", 10}}, bal); diff != "" {
		t.Errorf("balances (-want +got)\n%s", diff)
	}
	var inCoinbase int
	var txid string
	if err := s.db.QueryRow(`SELECT SUM(s.in_coinbase), MAX(b.coinbase_txid) FROM splits s JOIN blocks b ON b.hash = s.block`).Scan(&inCoinbase, &txid); err != nil || inCoinbase != 0 || txid != "" {
		t.Errorf("a version 1 block: in coinbase %d, txid %q (%v)", inCoinbase, txid, err)
	}
	// Confirmed again, it pays nothing: its coinbase paid nobody.
	if err := s.SetBlockState(ctx, "00aa", Confirmed); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Payouts(ctx, "", 10); err != nil || len(p) != 1 {
		t.Errorf("payouts %v %v", p, err)
	}
}
