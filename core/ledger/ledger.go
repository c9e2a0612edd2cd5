// Package ledger keeps a pool's accounting durably: accepted work per user
// and worker in short time buckets, found blocks and their reward split
// (PPLNS, Split), balances and payouts, behind one interface (Store) with
// two engines of one schema: an embedded SQLite (OpenSQLite) that needs
// nothing installed, and PostgreSQL (OpenPostgres), which several pool
// frontends share, so that their work makes one PPLNS window.
//
// The share path never waits on the database: a Recorder adds shares to
// buckets in memory and writes them every flush interval, so a crash loses
// at most that much accepted work; a found block is written at once, with
// the work before it and its split, in one transaction.
package ledger

import (
	"context"
	"errors"
	"time"
)

// Block states.
const (
	Pending   = "pending"   // found; not yet 100 blocks deep
	Confirmed = "confirmed" // 100 blocks deep: its reward can be spent, and paid
	Orphaned  = "orphaned"  // not on the chain
)

// Maturity is how deep a block must be before its reward can be spent.
const Maturity = 100

// Work is accepted (and rejected) work of one worker of one user in one
// time bucket, as the ledger sums it.
type Work struct {
	Bucket     time.Time // the bucket's start
	User       string
	Worker     string // "" for a user's channel that names none
	Accepted   uint64
	Difficulty float64           // sum of the accepted shares' difficulty
	Rejected   map[string]uint64 // by error code
}

// Block is a found block as the ledger keeps it.
type Block struct {
	Hash   string // display order hex
	Height uint32
	Reward uint64 // the coinbase's value, in satoshis: subsidy and fees
	Fees   uint64 // of that, the transactions' fees
	Found  time.Time
	Finder string
	State  string

	// Split, when set, is the block's split as its coinbase was built
	// (a coinbase that pays the window's miners): AddBlock records it as
	// given instead of computing one from the window at the block.
	Split []Payout
	// InCoinbase is the part of Split the coinbase paid users directly.
	// It is owed to nobody: when the block is confirmed each amount is
	// recorded as a payout of CoinbaseTxid, in the same transaction.
	InCoinbase   []Payout
	CoinbaseTxid string // display order hex
}

// Payout is an amount for a user: a block's share of it, or a payment.
type Payout struct {
	User   string
	Amount uint64 // satoshis
}

// Paid is a payment the ledger recorded.
type Paid struct {
	User   string
	Amount uint64 // satoshis
	At     time.Time
	Txid   string
}

// Weight is a user's difficulty in a PPLNS window.
type Weight struct {
	User       string
	Difficulty float64
}

// Store is where the ledger lives. Its methods are safe for concurrent use.
type Store interface {
	// AddWork adds work to the buckets it names (summing with what they hold).
	AddWork(ctx context.Context, work []Work) error
	// AddBlock records a found block with the work before it and its
	// split, in one transaction, and returns the split: b.Split if given
	// (checked to sum to b.Reward), else computed from the window ending
	// with that work.
	AddBlock(ctx context.Context, b Block, work []Work, rules Rules) ([]Payout, error)
	// SetBlockState records a block's new state.
	SetBlockState(ctx context.Context, hash, state string) error
	// Window returns each user's difficulty in the last n units of
	// difficulty of accepted work, the oldest bucket taken in part.
	Window(ctx context.Context, n float64) ([]Weight, error)
	// Blocks returns the latest blocks found, newest first.
	Blocks(ctx context.Context, limit int) ([]Block, error)
	// Split returns a block's split.
	Split(ctx context.Context, hash string) ([]Payout, error)
	// AddPayout records a payment to a user of what it is owed, refused
	// with ErrOverpaid when it is more than its balance.
	AddPayout(ctx context.Context, p Payout, at time.Time, txid string) error
	// Payouts returns the latest payments, newest first: user's, or
	// everybody's when user is "".
	Payouts(ctx context.Context, user string, limit int) ([]Paid, error)
	// ClaimServerID claims a frontend's server id for holder until ttl
	// from now by the database's clock, or renews its claim; it fails with
	// ErrServerIDTaken while another holder's claim has not expired.
	ClaimServerID(ctx context.Context, id int, holder string, ttl time.Duration) error
	// ReleaseServerID gives holder's claim of id up.
	ReleaseServerID(ctx context.Context, id int, holder string) error
	// Balances returns what each user is owed: the splits of confirmed
	// blocks less the payouts.
	Balances(ctx context.Context) ([]Payout, error)
	Close() error
}

// ErrUnknownBlock is SetBlockState's and Split's error for a block the
// ledger does not hold.
var ErrUnknownBlock = errors.New("ledger: unknown block")

// ErrServerIDTaken is ClaimServerID's error for a server id another
// running frontend holds.
var ErrServerIDTaken = errors.New("ledger: server id in use by another frontend")

// ErrOverpaid is AddPayout's error for a payment of more than a user's
// balance, and Balances' when payouts exceed what a user was owed (a
// block confirmed, its coinbase's payouts recorded, then orphaned).
var ErrOverpaid = errors.New("ledger: paid more than owed")
