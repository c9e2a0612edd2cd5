package main

// sv2-pool ledger against what an operator's typo or a hostile environment
// hands it: a missing path, a file that is no database, a database of a
// newer or older schema, a PostgreSQL URL that leads nowhere or to a peer
// that never answers. Clear errors, no panics, no hangs, and a read
// changes nothing.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
)

// ledgerCommands are sv2-pool ledger's subcommands, each with the flags it
// needs besides --ledger.
var ledgerCommands = [][]string{
	{"balances"}, {"blocks"}, {"payouts"},
	{"pay", "--user", "dave", "--amount", "1", "--txid", "aa"},
}

// runLedger runs sv2-pool ledger cmd --ledger spec and returns its error.
func runLedger(cmd []string, spec string) error {
	args := append([]string{"sv2-pool", "ledger", cmd[0], "--ledger", spec}, cmd[1:]...)
	app := newApp()
	app.Writer = &strings.Builder{}
	app.ErrWriter = &strings.Builder{}
	return app.Run(args)
}

// What holds: a missing path, a directory, a file that is no SQLite
// database and a database of a newer schema are each an error naming the
// problem, with no panic, no file made and the file left as it was.
func TestAttackLedgerCommandBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	junk := bytes.Repeat([]byte("not a database, not at all. "), 300)
	if err := os.WriteFile(garbage, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	s, err := ledger.OpenSQLite(context.Background(), newer)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_version (version) VALUES (9999)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, cmd := range ledgerCommands {
		missing := filepath.Join(dir, "typo-"+cmd[0]+".db")
		if err := runLedger(cmd, missing); err == nil || !strings.Contains(err.Error(), "no ledger at") {
			t.Errorf("ledger %s of a missing file: %v, want \"no ledger at\"", cmd[0], err)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("ledger %s of a missing file made it", cmd[0])
		}
		if err := runLedger(cmd, dir); err == nil {
			t.Errorf("ledger %s of a directory: no error", cmd[0])
		}
		if err := runLedger(cmd, garbage); err == nil {
			t.Errorf("ledger %s of a file that is no database: no error", cmd[0])
		}
		if got, _ := os.ReadFile(garbage); !bytes.Equal(got, junk) {
			t.Errorf("ledger %s changed a file that is no database", cmd[0])
		}
		if err := runLedger(cmd, newer); !errors.Is(err, ledger.ErrNewerSchema) {
			t.Errorf("ledger %s of a newer schema: %v, want ErrNewerSchema", cmd[0], err)
		}
	}
}

// SYMPTOM (fails now): the read commands open the ledger as the pool does,
// migrations and all, so `sv2-pool ledger balances` of a newer binary,
// pointed at the ledger of a running older pool (to look, before an
// upgrade), upgrades its schema in passing; the older pool, restarted,
// then refuses it (ErrNewerSchema) and does not start. A read must not
// write: open read-only, without migrating (an older schema read as it
// is, or refused with an error that says to upgrade the pool).
func TestAttackLedgerReadCommandDoesNotMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// Version 1's tables, as a pool of version 1 left them.
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (1)`,
		`CREATE TABLE work (bucket INTEGER NOT NULL, user TEXT NOT NULL, worker TEXT NOT NULL, accepted INTEGER NOT NULL, difficulty REAL NOT NULL, PRIMARY KEY (bucket, user, worker))`,
		`CREATE TABLE rejects (bucket INTEGER NOT NULL, user TEXT NOT NULL, worker TEXT NOT NULL, code TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (bucket, user, worker, code))`,
		`CREATE TABLE blocks (hash TEXT PRIMARY KEY, height INTEGER NOT NULL, reward INTEGER NOT NULL, fees INTEGER NOT NULL, found INTEGER NOT NULL, finder TEXT NOT NULL, state TEXT NOT NULL)`,
		`CREATE TABLE splits (block TEXT NOT NULL REFERENCES blocks (hash), user TEXT NOT NULL, amount INTEGER NOT NULL, PRIMARY KEY (block, user))`,
		`CREATE TABLE payouts (id INTEGER PRIMARY KEY, user TEXT NOT NULL, amount INTEGER NOT NULL, at INTEGER NOT NULL, txid TEXT NOT NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	version := func() int {
		var v int
		if err := db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, cmd := range [][]string{{"balances"}, {"blocks"}, {"payouts"}} {
		err := runLedger(cmd, path)
		if v := version(); v != 1 {
			t.Errorf("ledger %s (error %v) of a version 1 ledger left it at version %d: a read command upgraded the schema under the pool that owns it", cmd[0], err, v)
			break
		}
	}
	db.Close()
}

// blackHole is a TCP peer that accepts connections and never says a word:
// a PostgreSQL behind a dead NAT entry, a firewall that drops, a stuck
// server.
type blackHole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newBlackHole(t *testing.T) *blackHole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	return b
}

// close ends it: its connections are closed, which ends what waits on them.
func (b *blackHole) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}

// A PostgreSQL URL that leads nowhere is an error soon (what holds); one
// whose server accepts and never answers must be one too.
//
// SYMPTOM (fails now): with a peer that never answers, `sv2-pool ledger
// balances --ledger postgres://...` waits for ever: OpenPostgres sets no
// connect timeout (pgx has none unless the URL says connect_timeout), and
// the command's context has no deadline. `sv2-pool --ledger` at start
// waits the same way. A connect timeout of 5 s would do.
func TestAttackLedgerCommandPostgresNowhere(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "postgres://postgres@" + closed.Addr().String() + "/ledger?sslmode=disable"
	closed.Close()
	start := time.Now()
	if err := runLedger([]string{"balances"}, nowhere); err == nil {
		t.Error("ledger balances of a PostgreSQL URL where nothing listens: no error")
	} else if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ledger balances of a PostgreSQL URL where nothing listens took %v to fail", d)
	}

	hole := newBlackHole(t)
	defer hole.close()
	done := make(chan error, 1)
	go func() {
		done <- runLedger([]string{"balances"}, "postgres://postgres@"+hole.ln.Addr().String()+"/ledger?sslmode=disable")
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("ledger balances of a PostgreSQL peer that never answers: no error")
		}
	case <-time.After(6 * time.Second):
		t.Error("ledger balances of a PostgreSQL peer that never answers: still waiting after 6 s (no connect timeout)")
		hole.close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("and it did not return when the peer closed the connection")
		}
	}
}
