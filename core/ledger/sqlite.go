package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver: nothing to install
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

var sqliteDialect = dialect{driver: "sqlite", migrations: sqliteMigrations}

// SQLite is the embedded Store: one file, written through one connection.
type SQLite struct{ sqlStore }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if need be) the ledger in the file at path
// and brings its schema up to date. The file is in WAL mode: a committed
// write survives the process being killed.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
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
	s := &SQLite{newSQLStore(db, &sqliteDialect)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
