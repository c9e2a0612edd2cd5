// Package accounting keeps the counters of mining work per user, per worker
// and per channel, for every app that validates shares (the pool, the proxy
// and the JDC for their devices): what their logs, Stats and monitoring
// report. Everything a peer can make it keep is bounded: users without
// channels and work are forgotten, idle ones after Prune's idle time, and
// workers by Config's limits.
package accounting

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/service"
)

// hashrateWindow is the time constant of the hashrate estimate.
const hashrateWindow = 10 * time.Minute

// Counters are the accounting of a user or a channel.
type Counters struct {
	Accepted           uint64            `json:"accepted"`            // shares accepted
	AcceptedDifficulty float64           `json:"accepted_difficulty"` // sum of the accepted shares' difficulty
	Rejected           map[string]uint64 `json:"rejected,omitempty"`  // shares rejected, by error code
	LastShare          time.Time         `json:"last_share"`          // when the last share (accepted or not) came
	Blocks             uint64            `json:"blocks"`              // blocks found
	// Hashrate is the estimated hashrate in H/s: accepted difficulty per
	// second, times 2^32, decayed over a 10-minute window.
	Hashrate float64 `json:"hashrate_hs"`

	decayed float64 // decayed difficulty sum behind Hashrate
	at      time.Time
	active  time.Time // last channel opened or share, for pruning idle users
}

func (c *Counters) share(now time.Time, accepted bool, difficulty float64, code string, block bool) {
	if math.IsNaN(difficulty) || math.IsInf(difficulty, 0) || difficulty < 0 {
		difficulty = 0 // no share has it; a sum that became NaN or Inf would stay so
	}
	c.LastShare, c.active = now, now
	if !accepted {
		if c.Rejected == nil {
			c.Rejected = map[string]uint64{}
		}
		c.Rejected[code]++
		return
	}
	c.Accepted++
	c.AcceptedDifficulty += difficulty
	if block {
		c.Blocks++
	}
	c.decay(now)
	c.decayed += difficulty
	c.Hashrate = c.decayed * math.Exp2(32) / hashrateWindow.Seconds()
}

func (c *Counters) decay(now time.Time) {
	if !c.at.IsZero() {
		c.decayed *= math.Exp(-now.Sub(c.at).Seconds() / hashrateWindow.Seconds())
	}
	c.at = now
}

// hashrate is the decayed hashrate at now, without moving c.
func (c *Counters) hashrate(now time.Time) float64 {
	d := c.decayed
	if !c.at.IsZero() {
		d *= math.Exp(-now.Sub(c.at).Seconds() / hashrateWindow.Seconds())
	}
	return d * math.Exp2(32) / hashrateWindow.Seconds()
}

func (c Counters) snapshot(now time.Time) Counters {
	c.Rejected = maps.Clone(c.Rejected)
	c.decay(now)
	c.Hashrate = c.decayed * math.Exp2(32) / hashrateWindow.Seconds()
	return c
}

// ChannelKey names a channel across the app.
type ChannelKey struct {
	Client  service.ClientID `json:"client"`
	Channel uint32           `json:"channel"`
}

// ChannelStats are one channel's counters and the user it belongs to.
type ChannelStats struct {
	ChannelKey
	User string `json:"user"`
	// Worker is the worker the channel's shares count for when they name
	// none (OpenWorkerChannel), "" for none.
	Worker string `json:"worker,omitempty"`
	Counters
}

// WorkerKey names a worker: the user_identity a device sends with each share
// through Worker-Specific Hashrate Tracking (extension 0x0002), within the
// user of the channel it mines on (a proxy's one extended channel carries
// many workers).
type WorkerKey struct {
	User   string `json:"user"`
	Worker string `json:"worker"`
}

// Stats is a snapshot of the accounting.
type Stats struct {
	Users    map[string]Counters    // by user_identity
	Workers  map[WorkerKey]Counters // by worker, for shares that name one (extension 0x0002)
	Channels []ChannelStats         // open channels
	Blocks   uint64                 // blocks found
	// UntrackedWorkerShares counts shares naming a worker beyond the
	// accounting's bounds (Config): they count for
	// their user and channel only.
	UntrackedWorkerShares uint64
}

// Bounds on the workers the accounting keeps, since a peer can name as many
// as it likes: per user, and in all.
const (
	DefaultMaxWorkersPerUser = 4096
	DefaultMaxWorkers        = 1 << 16
)

// Config bounds an Accounts; zero fields take the defaults.
type Config struct {
	MaxWorkersPerUser int // DefaultMaxWorkersPerUser
	MaxWorkers        int // DefaultMaxWorkers
}

// Accounts keeps the counters; handlers update it concurrently.
type Accounts struct {
	mu         sync.Mutex
	users      map[string]*Counters
	workers    map[WorkerKey]*Counters
	perUser    map[string]int // workers kept per user
	channels   map[ChannelKey]*ChannelStats
	byClient   map[service.ClientID]map[uint32]struct{} // each connection's open channels
	userOpen   map[string]int                           // each user's open channels
	blocks     uint64
	untracked  uint64
	total      Counters // every share recorded, never pruned: the app's totals
	perUserMax int
	workersMax int
}

// New returns empty Accounts bounded by cfg.
func New(cfg Config) *Accounts {
	if cfg.MaxWorkersPerUser <= 0 {
		cfg.MaxWorkersPerUser = DefaultMaxWorkersPerUser
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = DefaultMaxWorkers
	}
	return &Accounts{
		users: map[string]*Counters{}, workers: map[WorkerKey]*Counters{}, perUser: map[string]int{},
		channels: map[ChannelKey]*ChannelStats{}, byClient: map[service.ClientID]map[uint32]struct{}{}, userOpen: map[string]int{},
		perUserMax: cfg.MaxWorkersPerUser, workersMax: cfg.MaxWorkers,
	}
}

// OpenChannel records a channel opened for user; one already open under k
// is forgotten first.
func (a *Accounts) OpenChannel(k ChannelKey, user string, now time.Time) {
	a.OpenWorkerChannel(k, user, "", now)
}

// OpenWorkerChannel is OpenChannel for one worker of user, whom the
// channel's shares count for when they name no worker themselves: a
// device's channel, in the proxy and the JDC.
func (a *Accounts) OpenWorkerChannel(k ChannelKey, user, worker string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.channels[k]; old != nil {
		a.drop(k, old)
	}
	a.channels[k] = &ChannelStats{ChannelKey: k, User: user, Worker: worker}
	if a.byClient[k.Client] == nil {
		a.byClient[k.Client] = map[uint32]struct{}{}
	}
	a.byClient[k.Client][k.Channel] = struct{}{}
	a.userOpen[user]++
	if a.users[user] == nil {
		a.users[user] = &Counters{}
	}
	a.users[user].active = now
}

// drop forgets an open channel; a.mu is held. A user left without channels
// and without a single accepted share is forgotten at once: names a client
// invents while opening and closing channels cost it nothing, so they must
// cost the pool nothing either (only work keeps a user for userIdle).
func (a *Accounts) drop(k ChannelKey, ch *ChannelStats) {
	delete(a.channels, k)
	if m := a.byClient[k.Client]; m != nil {
		delete(m, k.Channel)
		if len(m) == 0 {
			delete(a.byClient, k.Client)
		}
	}
	if a.userOpen[ch.User]--; a.userOpen[ch.User] > 0 {
		return
	}
	delete(a.userOpen, ch.User)
	if u := a.users[ch.User]; u != nil && u.Accepted == 0 {
		delete(a.users, ch.User)
	}
}

// Prune forgets users with no open channel and nothing done for idle, so a
// client inventing names cannot grow the accounting without bound.
func (a *Accounts) Prune(now time.Time, idle time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for user, c := range a.users {
		if a.userOpen[user] == 0 && now.Sub(c.active) > idle {
			delete(a.users, user)
		}
	}
	for k, c := range a.workers {
		if now.Sub(c.active) > idle {
			delete(a.workers, k)
			if a.perUser[k.User]--; a.perUser[k.User] <= 0 {
				delete(a.perUser, k.User)
			}
		}
	}
}

// CloseChannel forgets a closed channel.
func (a *Accounts) CloseChannel(k ChannelKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch := a.channels[k]; ch != nil {
		a.drop(k, ch)
	}
}

// CloseClient forgets a connection's channels: as many steps as it had, not
// as the pool has.
func (a *Accounts) CloseClient(id service.ClientID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for channel := range a.byClient[id] {
		k := ChannelKey{id, channel}
		a.drop(k, a.channels[k])
	}
}

// Share records one share on channel k, for the worker it names too (""
// for none): accepted or refused with code, of difficulty, completing a
// block or not. It returns the channel's user ("" if unknown: the share
// then counts in the totals only) and the worker it was counted for (""
// when none, or when the bounds on workers left it out), so that what
// else keeps per-worker records (a ledger) is bounded the same way.
func (a *Accounts) Share(k ChannelKey, worker string, now time.Time, accepted bool, difficulty float64, code string, block bool) (user, counted string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total.share(now, accepted, difficulty, code, block)
	ch := a.channels[k]
	if ch == nil {
		return "", ""
	}
	ch.share(now, accepted, difficulty, code, block)
	a.users[ch.User].share(now, accepted, difficulty, code, block)
	if worker == "" {
		worker = ch.Worker
	}
	if worker != "" {
		// Only accepted work makes a worker known: names on rejected shares
		// cost nothing to invent and must not fill the table.
		k := WorkerKey{ch.User, worker}
		w := a.workers[k]
		if w == nil && accepted {
			w = a.worker(k)
		}
		switch {
		case w != nil:
			w.share(now, accepted, difficulty, code, block)
			counted = worker
		case accepted:
			a.untracked++
		}
	}
	if block {
		a.blocks++
	}
	return ch.User, counted
}

// worker returns the counters of k, made if the bounds allow; a.mu is held.
func (a *Accounts) worker(k WorkerKey) *Counters {
	if w := a.workers[k]; w != nil {
		return w
	}
	if len(a.workers) >= a.workersMax || a.perUser[k.User] >= a.perUserMax {
		return nil
	}
	w := &Counters{}
	a.workers[k] = w
	a.perUser[k.User]++
	return w
}

// Snapshot copies the accounting: O(users + workers + channels).
func (a *Accounts) Snapshot(now time.Time) Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{
		Users: make(map[string]Counters, len(a.users)), Workers: make(map[WorkerKey]Counters, len(a.workers)),
		Blocks: a.blocks, UntrackedWorkerShares: a.untracked,
	}
	for u, c := range a.users {
		s.Users[u] = c.snapshot(now)
	}
	for k, c := range a.workers {
		s.Workers[k] = c.snapshot(now)
	}
	for _, ch := range a.channels {
		cs := *ch
		cs.Counters = ch.snapshot(now)
		s.Channels = append(s.Channels, cs)
	}
	return s
}

// UsersOf returns the user of a connection's channel or, when channel is
// none of its channels (a group channel), the users of all of them.
func (a *Accounts) UsersOf(id service.ClientID, channel uint32) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch := a.channels[ChannelKey{id, channel}]; ch != nil {
		return []string{ch.User}
	}
	var users []string
	for c := range a.byClient[id] {
		if ch := a.channels[ChannelKey{id, c}]; ch != nil && !slices.Contains(users, ch.User) {
			users = append(users, ch.User)
		}
	}
	return users
}

// Totals are the accounting summed: every share recorded since the start,
// whether its channel, user or worker is still kept or not, so each count
// only grows.
type Totals struct {
	Users, Workers, Channels int // kept now
	Counters                     // every share
}

// Totals returns the totals at now; it copies no per-user state.
func (a *Accounts) Totals(now time.Time) Totals {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Totals{Users: len(a.users), Workers: len(a.workers), Channels: len(a.channels), Counters: a.total.snapshot(now)}
}

// User is one user's counters, for lists.
type User struct {
	User string `json:"user"`
	Counters
}

// Worker is one worker's counters, for lists.
type Worker struct {
	WorkerKey
	Counters
}

// busiest ranks m's entries by hashrate at now, busiest first (then by
// compare), and copies the first limit with wrap. The lock is held for a
// pass over the keys and hashrates and for copying the ones kept, not for
// sorting, so that a short list of many costs the share path little. keep
// (nil: all) picks the entries to rank.
func busiest[K comparable, V, T any](a *Accounts, m map[K]*V, now time.Time, limit int,
	keep func(K) bool, counters func(*V) *Counters, compare func(x, y K) int, wrap func(K, *V) T) []T {
	type ranked struct {
		k K
		h float64
	}
	a.mu.Lock()
	all := make([]ranked, 0, len(m))
	for k, v := range m {
		if keep == nil || keep(k) {
			all = append(all, ranked{k, counters(v).hashrate(now)})
		}
	}
	a.mu.Unlock()
	slices.SortFunc(all, func(x, y ranked) int { return cmp.Or(cmp.Compare(y.h, x.h), compare(x.k, y.k)) })
	all = all[:min(len(all), limit)]
	out := make([]T, 0, len(all))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range all {
		if v := m[r.k]; v != nil { // not forgotten meanwhile
			out = append(out, wrap(r.k, v))
		}
	}
	return out
}

// BusiestUsers copies the limit users of the highest hashrate, busiest
// first, then by name.
func (a *Accounts) BusiestUsers(now time.Time, limit int) []User {
	return busiest(a, a.users, now, limit, nil, func(c *Counters) *Counters { return c }, cmp.Compare[string],
		func(u string, c *Counters) User { return User{u, c.snapshot(now)} })
}

// BusiestWorkers is BusiestUsers for workers, of one user when user is not "".
func (a *Accounts) BusiestWorkers(now time.Time, limit int, user string) []Worker {
	var keep func(WorkerKey) bool
	if user != "" {
		keep = func(k WorkerKey) bool { return k.User == user }
	}
	return busiest(a, a.workers, now, limit, keep, func(c *Counters) *Counters { return c },
		func(x, y WorkerKey) int { return cmp.Or(cmp.Compare(x.User, y.User), cmp.Compare(x.Worker, y.Worker)) },
		func(k WorkerKey, c *Counters) Worker { return Worker{k, c.snapshot(now)} })
}

// BusiestChannels is BusiestUsers for the open channels.
func (a *Accounts) BusiestChannels(now time.Time, limit int) []ChannelStats {
	return busiest(a, a.channels, now, limit, nil, func(ch *ChannelStats) *Counters { return &ch.Counters },
		func(x, y ChannelKey) int {
			return cmp.Or(cmp.Compare(x.Client, y.Client), cmp.Compare(x.Channel, y.Channel))
		},
		func(_ ChannelKey, ch *ChannelStats) ChannelStats {
			cs := *ch
			cs.Counters = ch.snapshot(now)
			return cs
		})
}

// OpenDevice is OpenWorkerChannel for the user and worker of a device's
// identity ("user.worker", SplitIdentity), so that a farm's devices count
// as one user's workers.
func (a *Accounts) OpenDevice(k ChannelKey, identity string, now time.Time) {
	user, worker := SplitIdentity(identity)
	a.OpenWorkerChannel(k, user, worker, now)
}

// SplitIdentity splits a user_identity as miners write it, "user.worker",
// at the first dot: ("alice", "rig1") for "alice.rig1", and (id, "") for an
// identity without one.
func SplitIdentity(id string) (user, worker string) {
	user, worker, _ = strings.Cut(id, ".")
	return user, worker
}
