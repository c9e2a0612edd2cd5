//go:build unix

package pool

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/ledger/pgtest"
)

// BenchmarkShareLedger is BenchmarkLoad's load (1000 standard channels over
// 100 Noise connections) with the share ledger off, on a SQLite file and on
// a PostgreSQL server (pgtest: skipped without one), side by side: paced at
// 100,000 shares/s, where the ledger's cost is latency, and as fast as the
// pool acknowledges, where it is throughput. The channels are 100 users of
// 10 workers each ("user07.rig3": one ledger row per channel and bucket, as
// the pool keys standard channels' work by user_identity), and the ledger
// flushes every ledger.DefaultFlush. At the end the pool stops (its last
// flush) and the stored work must be every accepted share, or the benchmark
// fails: it cannot pass with the ledger silently off.
//
// cpu-µs/share is the process's CPU time (pool and clients) per share
// accepted, less noisy than shares/s on a shared machine; pg-cpu-µs/share
// is the PostgreSQL server's (its processes' in /proc, on Linux; here it
// shares the cores with the pool). flush-ms and flush-max-ms are the
// writes' duration (Store.AddWork), rows/flush their size.
//
//	go test ./apps/pool -run '^$' -bench ShareLedger -benchtime 1000000x -count 5
func BenchmarkShareLedger(b *testing.B) {
	for _, tt := range []struct {
		batch int
		rate  float64
	}{{1, 100_000}, {10, 0}, {1, 0}} {
		name := fmt.Sprintf("batch=%d/rate=max", tt.batch)
		if tt.rate > 0 {
			name = fmt.Sprintf("batch=%d/rate=%g", tt.batch, tt.rate)
		}
		for _, engine := range []string{"off", "sqlite", "postgres"} {
			b.Run(name+"/ledger="+engine, func(b *testing.B) { benchmarkShareLedger(b, tt.batch, tt.rate, engine) })
		}
	}
}

func benchmarkShareLedger(b *testing.B, batch int, rate float64, engine string) {
	var cpu, serverCPU time.Duration
	var server *pgCPU // the PostgreSQL server's processes, if measured
	lc := loadCase{batch: batch, rate: rate, identity: func(conn, ch int) string { return fmt.Sprintf("user%02d.rig%d", conn, ch) }}
	lc.measure = func() func() {
		start := cpuTime(b)
		var serverStart time.Duration
		if server != nil {
			serverStart = server.time(b)
		}
		return func() {
			cpu = cpuTime(b) - start
			if server != nil {
				serverCPU = server.time(b) - serverStart
			}
		}
	}
	reportCPU := func(accepted uint64) {
		b.ReportMetric(float64(cpu.Microseconds())/float64(accepted), "cpu-µs/share")
		if server != nil {
			b.ReportMetric(float64(serverCPU.Microseconds())/float64(accepted), "pg-cpu-µs/share")
		}
	}
	if engine == "off" {
		lc.after = func(_ *testPool, accepted uint64) { reportCPU(accepted) }
		runLoad(b, lc)
		return
	}
	var driver, spec string
	switch engine {
	case "sqlite":
		driver, spec = "sqlite", filepath.Join(b.TempDir(), "ledger.db")
	case "postgres":
		driver, spec = "pgx", pgtest.Start(b) // skips, saying so, without PostgreSQL
	}
	ctx := context.Background()
	s, err := ledger.Open(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	store := &timedStore{Store: s}
	if engine == "postgres" && runtime.GOOS == "linux" {
		db, err := sql.Open(driver, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		server = &pgCPU{db: db}
	}
	lc.config = func(c *Config) {
		c.Ledger = &Ledger{Store: store, Flush: ledger.DefaultFlush, Rules: ledger.Rules{Window: 1e12}}
	}
	lc.after = func(p *testPool, accepted uint64) {
		reportCPU(accepted)
		if p.ledger == nil {
			b.Fatal("the pool runs without its ledger")
		}
		want := p.accounts.Totals(p.now())
		if err := p.stop(); err != nil { // its last flush, then Store.Close
			b.Fatal(err)
		}
		db, err := sql.Open(driver, spec)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var rows, users, shares int64
		var difficulty float64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT "user"), COALESCE(SUM(accepted), 0), COALESCE(SUM(difficulty), 0) FROM work`).
			Scan(&rows, &users, &shares, &difficulty); err != nil {
			b.Fatal(err)
		}
		if uint64(shares) != accepted || want.Accepted != accepted ||
			math.Abs(difficulty-want.AcceptedDifficulty) > 1e-9*want.AcceptedDifficulty || users != loadConns*loadChannels {
			b.Fatalf("the ledger holds %d shares of difficulty %g over %d users (%d rows); the pool accepted %d (%d by its accounting) of difficulty %g from %d users",
				shares, difficulty, users, rows, accepted, want.Accepted, want.AcceptedDifficulty, loadConns*loadChannels)
		}
		mean, most, perFlush := store.stats()
		b.ReportMetric(mean.Seconds()*1e3, "flush-ms")
		b.ReportMetric(most.Seconds()*1e3, "flush-max-ms")
		b.ReportMetric(perFlush, "rows/flush")
	}
	runLoad(b, lc)
}

// timedStore times the ledger's writes of work.
type timedStore struct {
	ledger.Store
	mu      sync.Mutex
	flushes []time.Duration // of the writes that had work
	rows    int
}

func (s *timedStore) AddWork(ctx context.Context, work []ledger.Work) error {
	start := time.Now()
	err := s.Store.AddWork(ctx, work)
	d := time.Since(start)
	if len(work) > 0 {
		s.mu.Lock()
		s.flushes = append(s.flushes, d)
		s.rows += len(work)
		s.mu.Unlock()
	}
	return err
}

// stats returns the writes' mean and longest duration and mean size.
func (s *timedStore) stats() (mean, most time.Duration, rows float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.flushes) == 0 {
		return 0, 0, 0
	}
	var sum time.Duration
	for _, d := range s.flushes {
		sum += d
	}
	n := len(s.flushes)
	return sum / time.Duration(n), slices.Max(s.flushes), float64(s.rows) / float64(n)
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgCPU reads the CPU time of a PostgreSQL server on this machine from
// /proc: its backends' and background processes' (pg_stat_activity), and
// what its postmaster collected of children that exited.
type pgCPU struct{ db *sql.DB }

func (p *pgCPU) time(b *testing.B) time.Duration {
	rows, err := p.db.Query(`SELECT pid FROM pg_stat_activity`)
	if err != nil {
		b.Fatal(err)
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	var ticks, postmaster int
	for _, pid := range pids {
		f := procStat(b, pid)
		ticks += f[11] + f[12] // utime, stime
		postmaster = f[1]      // ppid
	}
	if postmaster > 0 {
		f := procStat(b, postmaster)
		ticks += f[11] + f[12] + f[13] + f[14] // and cutime, cstime
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// procStat returns the numeric fields of /proc/pid/stat after the command
// name: f[0] is field 3 (state, 0), f[1] field 4 (ppid), f[11] field 14.
func procStat(b *testing.B, pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	f := make([]int, len(fields))
	for i, x := range fields {
		f[i], _ = strconv.Atoi(x)
	}
	return f
}
