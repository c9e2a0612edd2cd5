package jdtoken

import (
	"fmt"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// DefaultMaxRemembered bounds a Ledger when zero is given: tokens are
// granted at a rate-limited pace and live minutes, so a pool meets it only
// under attack, and refuses tokens then rather than forget spent ones.
const DefaultMaxRemembered = 1 << 20

// Ledger remembers spent tokens until they expire, so that each is used at
// most once. It is safe for concurrent use.
type Ledger struct {
	max int

	mu        sync.Mutex
	spent     map[uint64]time.Time // by id, its expiry
	lastSweep time.Time
}

// NewLedger returns a Ledger remembering at most max unexpired tokens
// (DefaultMaxRemembered if max <= 0).
func NewLedger(max int) *Ledger {
	if max <= 0 {
		max = DefaultMaxRemembered
	}
	return &Ledger{max: max, spent: map[uint64]time.Time{}}
}

// Spend marks t used at now. It fails with ErrExpired past t's expiry, ErrUsed
// if t was spent before, and ErrFull when the ledger is full of unexpired
// tokens.
func (l *Ledger) Spend(t Token, now time.Time) error {
	if now.After(t.Expires) {
		return fmt.Errorf("%w at %s", ErrExpired, t.Expires.UTC().Format(time.RFC3339))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.spent[t.ID]; ok {
		return ErrUsed
	}
	if len(l.spent) >= l.max || (len(l.spent) > 1024 && now.Sub(l.lastSweep) > time.Minute) {
		l.sweep(now)
		if len(l.spent) >= l.max {
			return ErrFull
		}
	}
	l.spent[t.ID] = t.Expires
	return nil
}

// Len is how many spent tokens are remembered.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.spent)
}

// sweep forgets expired tokens: past its expiry a token is refused anyway.
func (l *Ledger) sweep(now time.Time) {
	for id, exp := range l.spent {
		if now.After(exp) {
			delete(l.spent, id)
		}
	}
	l.lastSweep = now
}

// Verifier is a pool's check of custom jobs against one JDS's tokens.
type Verifier struct {
	JDS    noise.PublicKey  // the JDS's authority key
	Ledger *Ledger          // spent tokens; required
	Now    func() time.Time // time.Now if nil
	// FullTemplateOnly refuses CoinbaseOnly tokens: every custom job must
	// have been declared to, and judged by, the JDS.
	FullTemplateOnly bool
}

// CheckCustomJob checks the token of a SetCustomMiningJob set on a channel
// of user: signed by the JDS, of a kind a custom job may use, granted to
// user, unexpired, unused, and for a Declared token, for exactly this job.
// On success the token is spent.
func (v *Verifier) CheckCustomJob(m *sv2.SetCustomMiningJob, user string) error {
	t, err := Verify(m.MiningJobToken, v.JDS)
	if err != nil {
		return err
	}
	switch t.Kind {
	case CoinbaseOnly:
		if v.FullTemplateOnly {
			return fmt.Errorf("%w: a coinbase-only token; this pool takes declared jobs only", ErrKind)
		}
	case Declared:
		j := JobOf(m)
		if j.Commit() != t.Job {
			return ErrJob
		}
	default:
		return fmt.Errorf("%w: a %v token; declare the job to the JDS first", ErrKind, t.Kind)
	}
	if t.User != UserHash(user) {
		return fmt.Errorf("%w: the channel's user is %q", ErrUser, user)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return v.Ledger.Spend(t, now())
}
