package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver: nothing to install
)

// migrations are the schema's versions, applied in order at open; a
// version once released is never changed, only followed.
var migrations = []string{
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
}

// SQLite is the embedded Store: one file, written through one connection.
type SQLite struct{ db *sql.DB }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if need be) the ledger in the file at path
// and brings its schema up to date. The file is in WAL mode: a committed
// write survives the process being killed.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; one connection keeps it so
	s := &SQLite{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("ledger: schema: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("ledger: schema: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("ledger: the database's schema is version %d, newer than this program's %d", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("ledger: schema version %d: %w", v, err)
		}
	}
	return nil
}

func (s *SQLite) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// AddWork adds work to its buckets.
func (s *SQLite) AddWork(ctx context.Context, work []Work) error {
	if len(work) == 0 {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return addWork(ctx, tx, work) }); err != nil {
		return fmt.Errorf("ledger: add work: %w", err)
	}
	return nil
}

func addWork(ctx context.Context, tx *sql.Tx, work []Work) error {
	for _, w := range work {
		b := w.Bucket.Unix()
		if w.Accepted > 0 || w.Difficulty > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO work (bucket, user, worker, accepted, difficulty) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (bucket, user, worker) DO UPDATE SET accepted = accepted + excluded.accepted, difficulty = difficulty + excluded.difficulty`,
				b, w.User, w.Worker, int64(w.Accepted), w.Difficulty); err != nil {
				return err
			}
		}
		for code, n := range w.Rejected {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rejects (bucket, user, worker, code, count) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (bucket, user, worker, code) DO UPDATE SET count = count + excluded.count`,
				b, w.User, w.Worker, code, int64(n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddBlock records b, the work before it and its split, at once.
func (s *SQLite) AddBlock(ctx context.Context, b Block, work []Work, rules Rules) ([]Payout, error) {
	var split []Payout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blocks (hash, height, reward, fees, found, finder, state) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.Hash, b.Height, int64(b.Reward), int64(b.Fees), b.Found.UnixNano(), b.Finder, cmp.Or(b.State, Pending)); err != nil {
			return err
		}
		if err := addWork(ctx, tx, work); err != nil {
			return err
		}
		window, err := windowOf(ctx, tx, rules.Window)
		if err != nil {
			return err
		}
		if split, err = Split(b.Reward, window, rules); err != nil {
			return err
		}
		for _, p := range split {
			if _, err := tx.ExecContext(ctx, `INSERT INTO splits (block, user, amount) VALUES (?, ?, ?)`, b.Hash, p.User, int64(p.Amount)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: add block %s: %w", b.Hash, err)
	}
	return split, nil
}

// SetBlockState records a block's new state.
func (s *SQLite) SetBlockState(ctx context.Context, hash, state string) error {
	r, err := s.db.ExecContext(ctx, `UPDATE blocks SET state = ? WHERE hash = ?`, state, hash)
	if err != nil {
		return fmt.Errorf("ledger: block %s: %w", hash, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	}
	return nil
}

// Window returns the users' difficulty in the last n units of work.
func (s *SQLite) Window(ctx context.Context, n float64) ([]Weight, error) {
	var out []Weight
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = windowOf(ctx, tx, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: window: %w", err)
	}
	return out, nil
}

// querier is what windowOf needs of a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// windowOf walks the buckets newest first until n units of difficulty;
// the bucket that crosses n counts in proportion, each of its users by the
// same fraction.
func windowOf(ctx context.Context, q querier, n float64) ([]Weight, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT bucket, user, SUM(difficulty) FROM work GROUP BY bucket, user ORDER BY bucket DESC, user`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byUser := map[string]float64{}
	var taken float64
	var bucket []Weight
	cur := int64(-1)
	done := false
	take := func() {
		if taken >= n {
			done = true
			return
		}
		var sum float64
		for _, w := range bucket {
			sum += w.Difficulty
		}
		f := 1.0
		if taken+sum > n {
			f, done = (n-taken)/sum, true
		}
		for _, w := range bucket {
			byUser[w.User] += w.Difficulty * f
		}
		taken += sum * f
		bucket = bucket[:0]
	}
	for rows.Next() && !done {
		var b int64
		var w Weight
		if err := rows.Scan(&b, &w.User, &w.Difficulty); err != nil {
			return nil, err
		}
		if b != cur && len(bucket) > 0 {
			take()
			if done {
				break
			}
		}
		cur = b
		bucket = append(bucket, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !done && len(bucket) > 0 {
		take()
	}
	out := make([]Weight, 0, len(byUser))
	for u, d := range byUser {
		if d > 0 {
			out = append(out, Weight{User: u, Difficulty: d})
		}
	}
	slices.SortFunc(out, func(a, b Weight) int { return cmp.Compare(a.User, b.User) })
	return out, nil
}

// Blocks returns the latest blocks, newest first.
func (s *SQLite) Blocks(ctx context.Context, limit int) ([]Block, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash, height, reward, fees, found, finder, state FROM blocks ORDER BY found DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger: blocks: %w", err)
	}
	defer rows.Close()
	var out []Block
	for rows.Next() {
		var b Block
		var reward, fees, found int64
		if err := rows.Scan(&b.Hash, &b.Height, &reward, &fees, &found, &b.Finder, &b.State); err != nil {
			return nil, fmt.Errorf("ledger: blocks: %w", err)
		}
		b.Reward, b.Fees, b.Found = uint64(reward), uint64(fees), time.Unix(0, found)
		out = append(out, b)
	}
	return out, rows.Err()
}

// Split returns a block's split, by user.
func (s *SQLite) Split(ctx context.Context, hash string) ([]Payout, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blocks WHERE hash = ?`, hash).Scan(&n); err != nil {
		return nil, fmt.Errorf("ledger: split: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	}
	return s.payouts(ctx, `SELECT user, amount FROM splits WHERE block = ? ORDER BY user`, hash)
}

// AddPayout records a payment.
func (s *SQLite) AddPayout(ctx context.Context, p Payout, at time.Time, txid string) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO payouts (user, amount, at, txid) VALUES (?, ?, ?, ?)`, p.User, int64(p.Amount), at.UnixNano(), txid); err != nil {
		return fmt.Errorf("ledger: payout: %w", err)
	}
	return nil
}

// Balances returns what each user is owed, by user.
func (s *SQLite) Balances(ctx context.Context) ([]Payout, error) {
	return s.payouts(ctx, `SELECT user, SUM(amount) FROM (
			SELECT s.user AS user, s.amount AS amount FROM splits s JOIN blocks b ON b.hash = s.block WHERE b.state = ?
			UNION ALL SELECT user, -amount FROM payouts
		) GROUP BY user HAVING SUM(amount) != 0 ORDER BY user`, Confirmed)
}

func (s *SQLite) payouts(ctx context.Context, query string, args ...any) ([]Payout, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	var out []Payout
	for rows.Next() {
		var p Payout
		var amount int64
		if err := rows.Scan(&p.User, &amount); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		if amount < 0 {
			return nil, fmt.Errorf("%w: %s, by %d sat", ErrOverpaid, p.User, -amount)
		}
		p.Amount = uint64(amount)
		out = append(out, p)
	}
	return out, rows.Err()
}
