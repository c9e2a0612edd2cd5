package monitor

import (
	"fmt"
	"net/http"
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
	MaxListLimit     = 10_000
	// MaxUserSeries bounds the per-user metrics: the busiest users get
	// series, so that a scrape stays small however many users invent names.
	MaxUserSeries = 500
)

// User and Worker are one user's and one worker's counters in the JSON API.
type (
	User   = accounting.User
	Worker = accounting.Worker
)

// ServeAccounts serves the accounting of the app's downstream work: users at
// /api/v1/users, workers at /api/v1/workers (?user= narrows it to one
// user's) and open channels at /api/v1/channels, busiest first, with
// ?limit=N; and per-user metrics for the MaxUserSeries busiest users. Call it
// before Run.
func (s *Server) ServeAccounts(a *accounting.Accounts) {
	s.Handle("users", func(r *http.Request) (any, error) {
		limit, err := ListLimit(r)
		if err != nil {
			return nil, err
		}
		return a.BusiestUsers(s.cfg.Now(), limit), nil
	})
	s.Handle("workers", func(r *http.Request) (any, error) {
		limit, err := ListLimit(r)
		if err != nil {
			return nil, err
		}
		return a.BusiestWorkers(s.cfg.Now(), limit, r.URL.Query().Get("user")), nil
	})
	s.Handle("channels", func(r *http.Request) (any, error) {
		limit, err := ListLimit(r)
		if err != nil {
			return nil, err
		}
		return a.BusiestChannels(s.cfg.Now(), limit), nil
	})
	s.reg.MustRegister(&userCollector{a: a, now: s.cfg.Now})
}

// ListLimit reads a list's ?limit= (DefaultListLimit if absent, at most
// MaxListLimit), for an app's own endpoints.
func ListLimit(r *http.Request) (int, error) {
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
	// The users' names are the peers' own: made UTF-8, two may come out
	// alike, and the second is left out rather than spoiling the scrape.
	seen := map[string]bool{}
	for _, u := range c.a.BusiestUsers(c.now(), MaxUserSeries) {
		name := labelValue(u.User)
		if seen[name] {
			continue
		}
		seen[name] = true
		var rejected uint64
		for _, n := range u.Rejected {
			rejected += n
		}
		constMetric(ch, descUserAccepted, prometheus.CounterValue, float64(u.Accepted), name)
		constMetric(ch, descUserDifficulty, prometheus.CounterValue, u.AcceptedDifficulty, name)
		constMetric(ch, descUserRejected, prometheus.CounterValue, float64(rejected), name)
		constMetric(ch, descUserHashrate, prometheus.GaugeValue, u.Hashrate, name)
		constMetric(ch, descUserBlocks, prometheus.CounterValue, float64(u.Blocks), name)
	}
}
