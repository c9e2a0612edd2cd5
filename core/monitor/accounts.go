package monitor

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratumgo/stratum/core/accounting"
)

// Bounds on what the accounting endpoints and metrics list.
const (
	// DefaultListLimit is how many users, workers or channels an endpoint
	// lists unless ?limit= says otherwise (at most MaxListLimit), busiest first.
	DefaultListLimit = 1000
	MaxListLimit     = 100_000
	// MaxUserSeries bounds the per-user metrics: the busiest users get
	// series, so that a scrape stays small however many users invent names.
	MaxUserSeries = 500
)

// User is one user's counters in the JSON API.
type User struct {
	User string `json:"user"`
	accounting.Counters
}

// Worker is one worker's counters in the JSON API.
type Worker struct {
	accounting.WorkerKey
	accounting.Counters
}

// ServeAccounts serves the accounting of the app's downstream work: users at
// /api/v1/users, workers at /api/v1/workers (?user= narrows it to one
// user's) and open channels at /api/v1/channels, busiest first, with
// ?limit=N; and per-user metrics for the MaxUserSeries busiest users. Call it
// before Run.
func (s *Server) ServeAccounts(a *accounting.Accounts) {
	s.Handle("users", func(r *http.Request) (any, error) {
		limit, err := listLimit(r)
		if err != nil {
			return nil, err
		}
		return busiest(a.Users(s.cfg.Now()), limit, cmp.Compare[string], func(u string, c accounting.Counters) User { return User{u, c} }), nil
	})
	s.Handle("workers", func(r *http.Request) (any, error) {
		limit, err := listLimit(r)
		if err != nil {
			return nil, err
		}
		ws := a.Workers(s.cfg.Now())
		if user := r.URL.Query().Get("user"); user != "" {
			for k := range ws {
				if k.User != user {
					delete(ws, k)
				}
			}
		}
		return busiest(ws, limit, compareWorkers, func(k accounting.WorkerKey, c accounting.Counters) Worker { return Worker{k, c} }), nil
	})
	s.Handle("channels", func(r *http.Request) (any, error) {
		limit, err := listLimit(r)
		if err != nil {
			return nil, err
		}
		chs := a.Channels(s.cfg.Now())
		slices.SortFunc(chs, func(x, y accounting.ChannelStats) int {
			return cmp.Or(cmp.Compare(y.Hashrate, x.Hashrate), cmp.Compare(x.Client, y.Client), cmp.Compare(x.Channel, y.Channel))
		})
		return chs[:min(len(chs), limit)], nil
	})
	s.reg.MustRegister(&userCollector{a: a, now: s.cfg.Now})
}

func listLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return DefaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxListLimit {
		return 0, fmt.Errorf("limit %q: want 1 to %d", v, MaxListLimit)
	}
	return n, nil
}

// busiest lists m's entries by hashrate, then by key (compare), the first
// limit of them. It sorts keys and hashrates only, not whole counters.
func busiest[K comparable, T any](m map[K]accounting.Counters, limit int, compare func(a, b K) int, wrap func(K, accounting.Counters) T) []T {
	type entry struct {
		k K
		h float64
	}
	all := make([]entry, 0, len(m))
	for k, c := range m {
		all = append(all, entry{k, c.Hashrate})
	}
	slices.SortFunc(all, func(x, y entry) int { return cmp.Or(cmp.Compare(y.h, x.h), compare(x.k, y.k)) })
	out := make([]T, 0, min(len(all), limit))
	for _, e := range all[:min(len(all), limit)] {
		out = append(out, wrap(e.k, m[e.k]))
	}
	return out
}

func compareWorkers(a, b accounting.WorkerKey) int {
	return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Worker, b.Worker))
}

var (
	descUserAccepted   = prometheus.NewDesc("sv2_user_shares_accepted_total", "Shares accepted, per user (the busiest users only).", []string{"user"}, nil)
	descUserDifficulty = prometheus.NewDesc("sv2_user_shares_accepted_difficulty_total", "Sum of the accepted shares' difficulty, per user.", []string{"user"}, nil)
	descUserRejected   = prometheus.NewDesc("sv2_user_shares_rejected_total", "Shares rejected, per user.", []string{"user"}, nil)
	descUserHashrate   = prometheus.NewDesc("sv2_user_hashrate_hashes_per_second", "Estimated hashrate, per user.", []string{"user"}, nil)
	descUserBlocks     = prometheus.NewDesc("sv2_user_blocks_found_total", "Blocks found, per user.", []string{"user"}, nil)
)

// userCollector makes the per-user metrics of the busiest users.
type userCollector struct {
	a   *accounting.Accounts
	now func() time.Time
}

func (c *userCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUserAccepted, descUserDifficulty, descUserRejected, descUserHashrate, descUserBlocks} {
		ch <- d
	}
}

func (c *userCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range busiest(c.a.Users(c.now()), MaxUserSeries, cmp.Compare[string], func(u string, c accounting.Counters) User { return User{u, c} }) {
		var rejected uint64
		for _, n := range u.Rejected {
			rejected += n
		}
		ch <- prometheus.MustNewConstMetric(descUserAccepted, prometheus.CounterValue, float64(u.Accepted), u.User)
		ch <- prometheus.MustNewConstMetric(descUserDifficulty, prometheus.CounterValue, u.AcceptedDifficulty, u.User)
		ch <- prometheus.MustNewConstMetric(descUserRejected, prometheus.CounterValue, float64(rejected), u.User)
		ch <- prometheus.MustNewConstMetric(descUserHashrate, prometheus.GaugeValue, u.Hashrate, u.User)
		ch <- prometheus.MustNewConstMetric(descUserBlocks, prometheus.CounterValue, float64(u.Blocks), u.User)
	}
}
