package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite" // the pure-Go SQLite driver: nothing to install
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMigrations are SQLite's versions of the schema (dialect.migrations).
var sqliteMigrations = []string{
	// 1: work in buckets, blocks, their splits, payouts.
	`CREATE TABLE work (
		bucket     INTEGER NOT NULL, -- Unix seconds of the bucket's start
		user       TEXT    NOT NULL,
		worker     TEXT    NOT NULL,
		accepted   INTEGER NOT NULL,
		difficulty REAL    NOT NULL,
		PRIMARY KEY (bucket, user, worker)
	);
	CREATE TABLE rejects (
		bucket INTEGER NOT NULL,
		user   TEXT    NOT NULL,
		worker TEXT    NOT NULL,
		code   TEXT    NOT NULL,
		count  INTEGER NOT NULL,
		PRIMARY KEY (bucket, user, worker, code)
	);
	CREATE TABLE blocks (
		hash   TEXT    PRIMARY KEY,
		height INTEGER NOT NULL,
		reward INTEGER NOT NULL,
		fees   INTEGER NOT NULL,
		found  INTEGER NOT NULL, -- Unix nanoseconds
		finder TEXT    NOT NULL,
		state  TEXT    NOT NULL
	);
	CREATE TABLE splits (
		block  TEXT    NOT NULL REFERENCES blocks (hash),
		user   TEXT    NOT NULL,
		amount INTEGER NOT NULL,
		PRIMARY KEY (block, user)
	);
	CREATE TABLE payouts (
		id     INTEGER PRIMARY KEY,
		user   TEXT    NOT NULL,
		amount INTEGER NOT NULL,
		at     INTEGER NOT NULL, -- Unix nanoseconds
		txid   TEXT    NOT NULL
	);`,
	// 2: a block's coinbase transaction and what it paid users directly;
	// the payouts of it, one per block and user.
	`ALTER TABLE blocks ADD COLUMN coinbase_txid TEXT NOT NULL DEFAULT '';
	ALTER TABLE splits ADD COLUMN in_coinbase INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE payouts ADD COLUMN block TEXT REFERENCES blocks (hash); -- NULL: not a coinbase's
	CREATE UNIQUE INDEX payouts_block_user ON payouts (block, "user");
	CREATE INDEX payouts_at ON payouts (at, id);`,
	// 3: the pool frontends sharing the ledger, each with its server id
	// (the first byte of its extranonce prefixes), while they run.
	`CREATE TABLE frontends (
		server_id INTEGER PRIMARY KEY,
		holder    TEXT    NOT NULL,
		seen      INTEGER  NOT NULL -- Unix nanoseconds of its last claim
	);`,
}

var sqliteDialect = dialect{
	driver:     "sqlite",
	migrations: sqliteMigrations,
	badData:    sqliteBadData,
	// julianday('now') is the statement's time in days, to the
	// millisecond; 2440587.5 is the Unix epoch's.
	now: "CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER)",
}

// sqliteBadData is whether err is SQLite refusing a statement's values: a
// string or blob too big, a constraint or a type they break.
func sqliteBadData(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code, without the extended part
	case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH:
		return true
	}
	return false
}

// SQLite is the embedded Store: one file, written through one connection.
type SQLite struct{ sqlStore }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if need be) the ledger in the file at path
// and brings its schema up to date. The file is in WAL mode: a committed
// write survives the process being killed.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	s, err := openSQLite(path, true)
	if err != nil {
		return nil, err
	}
	if err := s.ready(ctx, s.migrate); err != nil {
		return nil, err
	}
	return s, nil
}

// openSQLite is OpenSQLite without the migration; unless create, it
// neither makes the file nor sets its journal mode (a write): the file of
// a pool is in WAL mode already.
func openSQLite(path string, create bool) (*SQLite, error) {
	q := url.Values{}
	if create {
		q.Add("_pragma", "journal_mode(WAL)") // kept in the file, for every later open
	} else {
		q.Add("mode", "rw") // SQLite's: a missing file is an error, not made
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Transactions take the write lock when they begin: one that reads then
	// writes (a payout checking a balance) beside another process's writer
	// would otherwise fail at once with SQLITE_BUSY rather than wait.
	q.Add("_txlock", "immediate")
	db, err := sql.Open(sqliteDialect.driver, "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; one connection keeps it so
	return &SQLite{newSQLStore(db, &sqliteDialect)}, nil
}
