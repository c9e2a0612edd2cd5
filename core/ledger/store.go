package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of the SQL engines.
var (
	// ErrNewerSchema is the error of opening a database whose schema is of
	// a later version than this program knows: it is refused, not used.
	ErrNewerSchema = errors.New("ledger: the database's schema is newer than this program")
	// ErrOlderSchema is OpenExisting's error for a database whose schema
	// is of an earlier version than this program's: Open upgrades it.
	ErrOlderSchema = errors.New("ledger: the database's schema is older than this program")
	// ErrInvalidSplit is AddBlock's error for a block whose given split or
	// coinbase payments cannot be right. It is not retryable: the same
	// block fails the same way however often it is tried, so a caller
	// that retries failed writes must stop on it (and record the block
	// otherwise, e.g. with the split computed from the window).
	ErrInvalidSplit = errors.New("ledger: invalid split")
	// ErrConfirmed is SetBlockState's error for a confirmed block given
	// another state: confirmed is final.
	ErrConfirmed = errors.New("ledger: a confirmed block stays confirmed")
	// ErrBadData wraps AddWork's and AddBlock's error when the database
	// refused the values themselves (PostgreSQL's data exceptions, a name
	// too long for its index): written again as they are they fail again,
	// unlike a write that failed for the connection or a lock. Recorder
	// writes the rows of such a batch apart and sets the refused ones
	// aside, so that one bad row cannot block every later write.
	ErrBadData = errors.New("ledger: the database refused the data")
)

// IsURL is whether a ledger spec names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func IsURL(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// Open opens the ledger spec names: a postgres:// or postgresql:// URL is
// a PostgreSQL database (OpenPostgres), anything else the path of a SQLite
// file (OpenSQLite).
func Open(ctx context.Context, spec string) (Store, error) {
	if IsURL(spec) {
		s, err := OpenPostgres(ctx, spec)
		if err != nil {
			return nil, err // not a nil *Postgres in a non-nil Store
		}
		return s, nil
	}
	s, err := OpenSQLite(ctx, spec)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenExisting opens the ledger spec names, as Open does, but changes
// nothing to open it: a SQLite file must exist, and the schema is not
// migrated. A schema of another version than this program's is refused
// (ErrOlderSchema, ErrNewerSchema): a tool that reads or pays must not
// upgrade the schema under the pool that owns the ledger, which would then
// refuse it, and it cannot read a schema it does not know.
func OpenExisting(ctx context.Context, spec string) (Store, error) {
	var (
		st  Store
		s   *sqlStore
		err error
	)
	if IsURL(spec) {
		var p *Postgres
		if p, err = openPostgres(spec); err == nil {
			st, s = p, &p.sqlStore
		}
	} else {
		var l *SQLite
		if l, err = openSQLite(spec, false); err == nil {
			st, s = l, &l.sqlStore
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.ready(ctx, s.checkVersion); err != nil {
		return nil, err
	}
	return st, nil
}

// ready connects and runs schema (a migration or a version check), within
// openTimeout if ctx has no deadline; on failure the store is closed.
func (s *sqlStore) ready(ctx context.Context, schema func(context.Context) error) error {
	ctx, cancel := withOpenTimeout(ctx)
	defer cancel()
	err := s.connect(ctx)
	if err == nil {
		err = schema(ctx)
	}
	if err != nil {
		s.Close()
	}
	return err
}

// openTimeout bounds opening a ledger (connecting, migrating) when the
// caller's context has no deadline: a database that never answers is an
// error, not a program that waits for ever. It leaves room for a
// migration waiting on another process's.
const openTimeout = time.Minute

// withOpenTimeout is ctx, with openTimeout as its deadline if it has none.
func withOpenTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, openTimeout)
}

// dialect is what differs between the SQL engines behind sqlStore; every
// query is written once, with ? placeholders and "user" quoted (a reserved
// word in PostgreSQL).
type dialect struct {
	driver string
	// migrations are the schema's versions, applied in order at open:
	// migrations[v-1] makes version v, the same tables in every engine. A
	// version once released is never changed, only followed.
	migrations []string
	// migrationLock, if set, is run first in the migration transaction: it
	// holds other processes' migrations of the same database off until
	// the transaction ends.
	migrationLock string
	// dollar is whether placeholders are $1, $2, … rather than ?.
	dollar bool
	// userLock, if set, takes a lock on a user ($1) until the transaction
	// ends, for checks of a balance that must hold when the write is made.
	userLock string
	// retry is whether a transaction that failed with err may succeed if
	// run again (a deadlock or serialization failure); nil: never.
	retry func(err error) bool
	// badData is whether err is the database refusing a statement's
	// values, which no retry can fix (ErrBadData); nil: never.
	badData func(err error) bool
	// now is an SQL expression of the database's clock in Unix
	// nanoseconds: the one clock of every process sharing the database.
	now string
}

// sqlStore is the Store over database/sql that each engine's type embeds.
type sqlStore struct {
	db *sql.DB
	d  *dialect
	// windowPage is how many work rows the window walk reads at a time.
	windowPage int
}

// defaultWindowPage is sqlStore.windowPage: a window of a few hundred
// buckets of a few workers is a page or two.
const defaultWindowPage = 1000

// txAttempts bounds the runs of a transaction that keeps failing in a way
// dialect.retry allows.
const txAttempts = 5

func newSQLStore(db *sql.DB, d *dialect) sqlStore {
	return sqlStore{db: db, d: d, windowPage: defaultWindowPage}
}

// Close closes the database.
func (s *sqlStore) Close() error { return s.db.Close() }

// q rewrites query's ? placeholders for the dialect. The queries hold no ?
// in a string literal.
func (s *sqlStore) q(query string) string {
	if !s.d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// migrate brings the schema up to date in one transaction, under the
// dialect's migration lock: several processes starting on one database at
// once apply each version once.
func (s *sqlStore) migrate(ctx context.Context) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.migrationLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.migrationLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
			return err
		}
		if have > len(s.d.migrations) {
			return fmt.Errorf("%w: version %d, this program's is %d", ErrNewerSchema, have, len(s.d.migrations))
		}
		for v := have + 1; v <= len(s.d.migrations); v++ {
			if _, err := tx.ExecContext(ctx, s.d.migrations[v-1]); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_version (version) VALUES (?)`), v); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
		}
		return nil
	})
	if errors.Is(err, ErrNewerSchema) {
		return err
	}
	if err != nil {
		return fmt.Errorf("ledger: schema: %w", err)
	}
	return nil
}

// connect makes a connection now, so that a database out of reach is
// reported as such rather than as its first statement's failure.
func (s *sqlStore) connect(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ledger: cannot open the database: %w", err)
	}
	return nil
}

// checkVersion fails unless the schema is this program's version.
func (s *sqlStore) checkVersion(ctx context.Context) error {
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("ledger: no schema version (is it a ledger?): %w", err)
	}
	switch want := len(s.d.migrations); {
	case have > want:
		return fmt.Errorf("%w: version %d, this program's is %d", ErrNewerSchema, have, want)
	case have < want:
		return fmt.Errorf("%w: version %d, this program's is %d", ErrOlderSchema, have, want)
	}
	return nil
}

// badData marks err with ErrBadData if the database refused the data.
func (s *sqlStore) badData(err error) error {
	if s.d.badData != nil && s.d.badData(err) {
		return fmt.Errorf("%w: %w", ErrBadData, err)
	}
	return err
}

// tx runs f in a transaction, again if it fails in a way the dialect says
// a new run may not.
func (s *sqlStore) tx(ctx context.Context, f func(*sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, f)
		if err == nil || s.d.retry == nil || !s.d.retry(err) || attempt == txAttempts || ctx.Err() != nil {
			return err
		}
	}
}

func (s *sqlStore) tx1(ctx context.Context, f func(*sql.Tx) error) error {
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
func (s *sqlStore) AddWork(ctx context.Context, work []Work) error {
	if len(work) == 0 {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.addWork(ctx, tx, work) }); err != nil {
		return fmt.Errorf("ledger: add work: %w", s.badData(err))
	}
	return nil
}

// addWork writes work in the order of its rows' keys, so that two
// processes adding to the same buckets lock the rows in the same order and
// cannot deadlock.
func (s *sqlStore) addWork(ctx context.Context, tx *sql.Tx, work []Work) error {
	work = slices.Clone(work)
	slices.SortFunc(work, func(a, b Work) int {
		return cmp.Or(a.Bucket.Compare(b.Bucket), cmp.Compare(a.User, b.User), cmp.Compare(a.Worker, b.Worker))
	})
	// Rows of one key once (an upsert of many rows may not touch a row
	// twice), in key order, so that writers lock rows in one order.
	type rejectRow struct {
		bucket       int64
		user, worker string
		code         string
		count        uint64
	}
	var rows []Work
	var rejects []rejectRow
	for _, w := range work {
		if n := len(rows); n > 0 && rows[n-1].Bucket.Equal(w.Bucket) && rows[n-1].User == w.User && rows[n-1].Worker == w.Worker {
			rows[n-1].Accepted += w.Accepted
			rows[n-1].Difficulty += w.Difficulty
		} else {
			rows = append(rows, Work{Bucket: w.Bucket, User: w.User, Worker: w.Worker, Accepted: w.Accepted, Difficulty: w.Difficulty})
		}
		for _, code := range slices.Sorted(maps.Keys(w.Rejected)) {
			r := rejectRow{w.Bucket.Unix(), w.User, w.Worker, code, w.Rejected[code]}
			if n := len(rejects); n > 0 && rejects[n-1].bucket == r.bucket && rejects[n-1].user == r.user && rejects[n-1].worker == r.worker && rejects[n-1].code == r.code {
				rejects[n-1].count += r.count
			} else {
				rejects = append(rejects, r)
			}
		}
	}
	rows = slices.DeleteFunc(rows, func(w Work) bool { return w.Accepted == 0 && w.Difficulty <= 0 })
	slices.SortFunc(rejects, func(a, b rejectRow) int {
		return cmp.Or(cmp.Compare(a.bucket, b.bucket), cmp.Compare(a.user, b.user), cmp.Compare(a.worker, b.worker), cmp.Compare(a.code, b.code))
	})
	// Many rows a statement: one round trip, one statement to compile, per
	// upsertRows rows (a flush of 1000 workers was 1000 round trips).
	for chunk := range slices.Chunk(rows, upsertRows) {
		args := make([]any, 0, 5*len(chunk))
		for _, w := range chunk {
			args = append(args, w.Bucket.Unix(), w.User, w.Worker, int64(w.Accepted), w.Difficulty)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO work (bucket, "user", worker, accepted, difficulty) VALUES `+values(len(chunk), 5)+`
			ON CONFLICT (bucket, "user", worker) DO UPDATE SET accepted = work.accepted + excluded.accepted, difficulty = work.difficulty + excluded.difficulty`), args...); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(rejects, upsertRows) {
		args := make([]any, 0, 5*len(chunk))
		for _, r := range chunk {
			args = append(args, r.bucket, r.user, r.worker, r.code, int64(r.count))
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO rejects (bucket, "user", worker, code, count) VALUES `+values(len(chunk), 5)+`
			ON CONFLICT (bucket, "user", worker, code) DO UPDATE SET count = rejects.count + excluded.count`), args...); err != nil {
			return err
		}
	}
	return nil
}

// upsertRows is how many rows one upsert statement writes: 500
// parameters, well under either engine's limit.
const upsertRows = 100

// values is the VALUES list of n rows of k placeholders: (?, ?), (?, ?).
func values(n, k int) string {
	row := "(" + strings.Repeat("?, ", k-1) + "?)"
	return strings.Repeat(row+", ", n-1) + row
}

// AddBlock records b, the work before it and its split (b.Split, or one
// computed from the window), at once.
func (s *sqlStore) AddBlock(ctx context.Context, b Block, work []Work, rules Rules) ([]Payout, error) {
	var given []Payout
	if b.Split != nil {
		var err error
		if given, err = checkSplit(b); err != nil {
			return nil, err
		}
	}
	var split []Payout
	existed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`INSERT INTO blocks (hash, height, reward, fees, found, finder, state, coinbase_txid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO NOTHING`),
			b.Hash, int64(b.Height), int64(b.Reward), int64(b.Fees), b.Found.UnixNano(), b.Finder, cmp.Or(b.State, Pending), b.CoinbaseTxid)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// Recorded already: a try whose commit went through though its
			// caller saw an error (a timeout at COMMIT). Its work is kept
			// for the next flush; the split is the one recorded.
			existed = true
			return nil
		}
		if err := s.addWork(ctx, tx, work); err != nil {
			return err
		}
		split = given
		if split == nil {
			window, _, err := s.windowOf(ctx, tx, rules.Window)
			if err != nil {
				return err
			}
			if split, err = Split(b.Reward, window, rules); err != nil {
				return err
			}
		}
		inCoinbase, err := checkInCoinbase(b, split)
		if err != nil {
			return err
		}
		for _, p := range split {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO splits (block, "user", amount, in_coinbase) VALUES (?, ?, ?, ?)`),
				b.Hash, p.User, int64(p.Amount), int64(inCoinbase[p.User])); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrInvalidSplit) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: add block %s: %w", b.Hash, s.badData(err))
	}
	if existed {
		if err := s.AddWork(ctx, work); err != nil {
			return nil, err
		}
		return s.Split(ctx, b.Hash)
	}
	return split, nil
}

// checkSplit returns b.Split ordered by user, as Split orders its split,
// or ErrInvalidSplit if it does not sum to b.Reward or names a user twice.
func checkSplit(b Block) ([]Payout, error) {
	split := slices.Clone(b.Split)
	slices.SortFunc(split, func(a, b Payout) int { return cmp.Compare(a.User, b.User) })
	var sum, carry uint64
	for i, p := range split {
		if i > 0 && split[i-1].User == p.User {
			return nil, fmt.Errorf("%w of block %s: user %q is in it twice", ErrInvalidSplit, b.Hash, p.User)
		}
		sum, carry = bits.Add64(sum, p.Amount, carry)
	}
	if carry != 0 {
		return nil, fmt.Errorf("%w of block %s: it sums to more than 2^64 sat, the reward is %d", ErrInvalidSplit, b.Hash, b.Reward)
	}
	if sum != b.Reward {
		return nil, fmt.Errorf("%w of block %s: it sums to %d sat, the reward is %d", ErrInvalidSplit, b.Hash, sum, b.Reward)
	}
	return split, nil
}

// checkInCoinbase returns b.InCoinbase by user, or ErrInvalidSplit if it
// names a user twice, pays a user more than the split does, or pays
// without naming the coinbase's transaction.
func checkInCoinbase(b Block, split []Payout) (map[string]uint64, error) {
	owed := map[string]uint64{}
	for _, p := range split {
		owed[p.User] = p.Amount
	}
	paid := map[string]uint64{}
	for _, p := range b.InCoinbase {
		if _, dup := paid[p.User]; dup {
			return nil, fmt.Errorf("%w of block %s: user %q is paid twice in its coinbase", ErrInvalidSplit, b.Hash, p.User)
		}
		if p.Amount > owed[p.User] {
			return nil, fmt.Errorf("%w of block %s: its coinbase pays %q %d sat, over the user's split amount %d", ErrInvalidSplit, b.Hash, p.User, p.Amount, owed[p.User])
		}
		if p.Amount > 0 && b.CoinbaseTxid == "" {
			return nil, fmt.Errorf("%w of block %s: its coinbase pays users but the block names no CoinbaseTxid", ErrInvalidSplit, b.Hash)
		}
		paid[p.User] = p.Amount
	}
	return paid, nil
}

// SetBlockState records a block's new state. A block confirmed records its
// coinbase's payments to users as payouts, in the same transaction and
// once: the index on payouts (block, user) keeps a block confirmed again
// (or by another process at the same time) from paying twice.
func (s *sqlStore) SetBlockState(ctx context.Context, hash, state string) error {
	if state != Pending && state != Confirmed && state != Orphaned {
		return fmt.Errorf("ledger: block %s: no state %q (want %s, %s or %s)", hash, state, Pending, Confirmed, Orphaned)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// A confirmed block stays so: its coinbase's payouts are recorded,
		// and a reorganization 100 deep is not the ledger's to follow.
		r, err := tx.ExecContext(ctx, s.q(`UPDATE blocks SET state = ? WHERE hash = ? AND (state != ? OR state = ?)`), state, hash, Confirmed, state)
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var was string
			if err := tx.QueryRowContext(ctx, s.q(`SELECT state FROM blocks WHERE hash = ?`), hash).Scan(&was); err != nil {
				return ErrUnknownBlock
			}
			return fmt.Errorf("%w: it is %s", ErrConfirmed, was)
		}
		if state != Confirmed {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO payouts ("user", amount, at, txid, block)
			SELECT s."user", s.in_coinbase, ?, b.coinbase_txid, b.hash FROM splits s JOIN blocks b ON b.hash = s.block
			WHERE s.block = ? AND s.in_coinbase > 0 ORDER BY s."user"
			ON CONFLICT DO NOTHING`), time.Now().UnixNano(), hash)
		return err
	})
	if errors.Is(err, ErrUnknownBlock) {
		return fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	}
	if err != nil {
		return fmt.Errorf("ledger: block %s: %w", hash, err)
	}
	return nil
}

// Window returns the users' difficulty in the last n units of work.
func (s *sqlStore) Window(ctx context.Context, n float64) ([]Weight, error) {
	var out []Weight
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, _, err = s.windowOf(ctx, tx, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: window: %w", err)
	}
	return out, nil
}

// windowOf walks the buckets newest first until n units of difficulty;
// the bucket that crosses n counts in proportion, each of its users by the
// same fraction. It reads the work rows newest first in pages along the
// work table's primary key (bucket, user, worker), so it costs about the
// window, not the history; it returns the window and how many rows it
// read.
//
// Each page is a statement of its own: under PostgreSQL's READ COMMITTED
// a later page may see work committed after the first, in older buckets
// only, which is as good a window.
func (s *sqlStore) windowOf(ctx context.Context, tx *sql.Tx, n float64) ([]Weight, int, error) {
	if n <= 0 {
		return nil, 0, nil
	}
	var (
		read   int
		byUser = map[string]float64{}
		taken  float64
		bucket = map[string]float64{} // the bucket being read, by user
		cur    int64
		done   bool
	)
	take := func() {
		if taken >= n {
			done = true
			return
		}
		var sum float64
		for _, u := range slices.Sorted(maps.Keys(bucket)) {
			sum += bucket[u]
		}
		f := 1.0
		if taken+sum > n {
			f, done = (n-taken)/sum, true
		}
		for u, d := range bucket {
			byUser[u] += d * f
		}
		taken += sum * f
		clear(bucket)
	}
	first := s.q(`SELECT bucket, "user", worker, difficulty FROM work
		ORDER BY bucket DESC, "user" DESC, worker DESC LIMIT ?`)
	next := s.q(`SELECT bucket, "user", worker, difficulty FROM work WHERE (bucket, "user", worker) < (?, ?, ?)
		ORDER BY bucket DESC, "user" DESC, worker DESC LIMIT ?`)
	var last struct { // the last row read: the next page starts below it
		bucket       int64
		user, worker string
	}
	query, args := first, []any{s.windowPage}
	for !done {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, read, err
		}
		got := 0
		for rows.Next() {
			var d float64
			if err := rows.Scan(&last.bucket, &last.user, &last.worker, &d); err != nil {
				rows.Close()
				return nil, read, err
			}
			got++
			if len(bucket) > 0 && last.bucket != cur {
				if take(); done {
					break
				}
			}
			cur = last.bucket
			bucket[last.user] += d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, read, err
		}
		read += got
		if got < s.windowPage && !done { // no more rows: the bucket read last is the oldest
			if len(bucket) > 0 {
				take()
			}
			break
		}
		query, args = next, []any{last.bucket, last.user, last.worker, s.windowPage}
	}
	out := make([]Weight, 0, len(byUser))
	for u, d := range byUser {
		if d > 0 {
			out = append(out, Weight{User: u, Difficulty: d})
		}
	}
	slices.SortFunc(out, func(a, b Weight) int { return cmp.Compare(a.User, b.User) })
	return out, read, nil
}

// Blocks returns the latest blocks, newest first.
func (s *sqlStore) Blocks(ctx context.Context, limit int) ([]Block, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT hash, height, reward, fees, found, finder, state FROM blocks ORDER BY found DESC LIMIT ?`), limit)
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
func (s *sqlStore) Split(ctx context.Context, hash string) ([]Payout, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM blocks WHERE hash = ?`), hash).Scan(&n); err != nil {
		return nil, fmt.Errorf("ledger: split: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	}
	return s.payouts(ctx, `SELECT "user", amount FROM splits WHERE block = ? ORDER BY "user"`, hash)
}

// AddPayout records a payment of what p.User is owed, refused with
// ErrOverpaid when it is more than the user's balance, checked in the same
// transaction (in PostgreSQL under a lock per user, so that two payments
// made at once cannot both spend one balance).
func (s *sqlStore) AddPayout(ctx context.Context, p Payout, at time.Time, txid string) error {
	if p.Amount == 0 || p.Amount > math.MaxInt64 {
		return fmt.Errorf("ledger: payout of %d sat to %s", p.Amount, p.User)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.userLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.userLock, p.User); err != nil {
				return err
			}
		}
		var owed int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(amount), 0) FROM (
				SELECT s.amount AS amount FROM splits s JOIN blocks b ON b.hash = s.block WHERE b.state = ? AND s."user" = ?
				UNION ALL SELECT -amount FROM payouts WHERE "user" = ?
			) owed`), Confirmed, p.User, p.User).Scan(&owed); err != nil {
			return err
		}
		if owed < int64(p.Amount) {
			return fmt.Errorf("%w: %s is owed %d sat, not %d", ErrOverpaid, p.User, max(owed, 0), p.Amount)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO payouts ("user", amount, at, txid) VALUES (?, ?, ?, ?)`), p.User, int64(p.Amount), at.UnixNano(), txid)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: payout: %w", err)
	}
	return nil
}

// Payouts returns the latest payments, newest first (the last recorded
// first among those of one time).
func (s *sqlStore) Payouts(ctx context.Context, user string, limit int) ([]Paid, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT "user", amount, at, txid FROM payouts WHERE ? = '' OR "user" = ? ORDER BY at DESC, id DESC LIMIT ?`), user, user, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger: payouts: %w", err)
	}
	defer rows.Close()
	var out []Paid
	for rows.Next() {
		var p Paid
		var amount, at int64
		if err := rows.Scan(&p.User, &amount, &at, &p.Txid); err != nil {
			return nil, fmt.Errorf("ledger: payouts: %w", err)
		}
		p.Amount, p.At = uint64(amount), time.Unix(0, at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Balances returns what each user is owed, by user.
func (s *sqlStore) Balances(ctx context.Context) ([]Payout, error) {
	return s.payouts(ctx, `SELECT "user", CAST(SUM(amount) AS BIGINT) FROM (
			SELECT s."user" AS "user", s.amount AS amount FROM splits s JOIN blocks b ON b.hash = s.block WHERE b.state = ?
			UNION ALL SELECT "user", -amount FROM payouts
		) AS owed GROUP BY "user" HAVING SUM(amount) != 0 ORDER BY "user"`, Confirmed)
}

func (s *sqlStore) payouts(ctx context.Context, query string, args ...any) ([]Payout, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
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

// ClaimServerID claims id for holder, or renews its claim: a claim not
// renewed within ttl is taken over, so a frontend killed without releasing
// its id holds it up for ttl at most. Claims are stamped and expire by the
// database's clock, so that a frontend whose own clock is off cannot take
// the id of one that runs.
func (s *sqlStore) ClaimServerID(ctx context.Context, id int, holder string, ttl time.Duration) error {
	r, err := s.db.ExecContext(ctx, s.q(`INSERT INTO frontends (server_id, holder, seen) VALUES (?, ?, `+s.d.now+`)
		ON CONFLICT (server_id) DO UPDATE SET holder = excluded.holder, seen = excluded.seen
		WHERE frontends.holder = excluded.holder OR frontends.seen < excluded.seen - ?`), id, holder, ttl.Nanoseconds())
	if err != nil {
		return fmt.Errorf("ledger: claim server id %d: %w", id, err)
	}
	if n, err := r.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var other string
	var ago int64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT holder, `+s.d.now+` - seen FROM frontends WHERE server_id = ?`), id).Scan(&other, &ago); err != nil {
		return fmt.Errorf("%w: %d", ErrServerIDTaken, id)
	}
	return fmt.Errorf("%w: %d is %s's, last renewed %s ago", ErrServerIDTaken, id, other, time.Duration(ago).Round(time.Millisecond))
}

// ReleaseServerID gives holder's claim of id up; another holder's claim
// stays.
func (s *sqlStore) ReleaseServerID(ctx context.Context, id int, holder string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM frontends WHERE server_id = ? AND holder = ?`), id, holder); err != nil {
		return fmt.Errorf("ledger: release server id %d: %w", id, err)
	}
	return nil
}
