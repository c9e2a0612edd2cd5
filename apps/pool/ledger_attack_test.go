package pool

// Attacks on the pool's ledger as a hostile miner, a hostile environment or
// a curious operator would make them: names PostgreSQL cannot store, fresh
// worker names on accepted shares, the database going away or holding a
// lock, monitoring requests piling up on a slow database, odd queries, a
// large ledger, two frontends with one server id.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/ledger/pgtest"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// within polls cond for at most d: false if it never held.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// windowOf is user's difficulty in the ledger's window (0 if absent).
func windowOf(t testing.TB, store ledger.Store, user string) float64 {
	t.Helper()
	w, err := store.Window(context.Background(), 1e12)
	if err != nil {
		return 0
	}
	for _, x := range w {
		if x.User == user {
			return x.Difficulty
		}
	}
	return 0
}

// mineShares sends n accepted shares on a standard channel and waits for
// each answer, returning the slowest answer's time.
func mineShares(t *testing.T, m *testMiner, ch uint32, seq0 uint32, n int) time.Duration {
	t.Helper()
	w := m.currentWork(t, ch)
	nonces := grind(w, seq0<<12, 1<<12)
	if len(nonces) < n {
		t.Fatalf("%d nonces found, want %d", len(nonces), n)
	}
	var worst time.Duration
	for i, nonce := range nonces[:n] {
		start := time.Now()
		m.send(t, share(w, seq0+uint32(i), nonce))
		acked(t, m)
		worst = max(worst, time.Since(start))
	}
	return worst
}

// SYMPTOM (fails now): a miner whose user_identity holds a NUL byte (or is
// not UTF-8: a STR0_255 is any bytes, and the pool takes it as it comes)
// has one accepted share, and with the ledger in PostgreSQL nobody's work
// is written again: every flush is one transaction, PostgreSQL refuses the
// name ("invalid byte sequence for encoding UTF8: 0x00"), the Recorder puts
// the batch back, and the next flush fails the same way. A block found
// after it is never recorded either (AddBlock writes the pending work, bad
// name and all), however often recordBlock retries. One share of one
// channel stops the ledger of every frontend's miners.
func TestAttackNULIdentityPoisonsThePostgresLedger(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenPostgres(ctx, pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Logger = slog.New(slog.DiscardHandler) // it says the same error every flush
		c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e12}}
	})
	mallory := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	mallory.nextReq++
	mallory.send(t, &sv2.OpenStandardMiningChannel{RequestID: mallory.nextReq, UserIdentity: "mallory\x00", NominalHashRate: 1, MaxTarget: target.Max()})
	switch r := mallory.next(t).(type) {
	case *sv2.OpenMiningChannelError: // refusing the name at the door is a fix
		t.Logf("mallory's channel refused: %s", r.ErrorCode)
	case *sv2.OpenStandardMiningChannelSuccess:
		expect[*sv2.NewMiningJob](t, mallory)
		expect[*sv2.SetNewPrevHash](t, mallory)
		mineShares(t, mallory, r.ChannelID, 1, 1)
	default:
		t.Fatalf("mallory's channel request answered with %s", sv2.Info(r).Name)
	}

	alice := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ach := alice.openStandard(t, "alice", 1)
	mineShares(t, alice, ach, 1, 3)
	if !within(2*time.Second, func() bool { return windowOf(t, store, "alice") > 0 }) {
		t.Errorf("alice's accepted work is not in the PostgreSQL ledger 2 s (200 flushes) after mallory's one share under a user_identity with a NUL byte")
	}

	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	w := alice.workOn(t, ach, prev.PrevHash)
	nonce, _ := grindBlock(w, prev.Target)
	alice.send(t, share(w, 99, nonce))
	acked(t, alice)
	if !within(3*time.Second, func() bool {
		b, err := store.Blocks(ctx, 1)
		return err == nil && len(b) == 1
	}) {
		t.Errorf("alice's block is not in the PostgreSQL ledger 3 s after it was found: the poisoned batch goes with it")
		return
	}
	// It may get in between a failed flush's take and its putBack, with
	// none of the work since the poisoning: then its split is wrong.
	b, _ := store.Blocks(ctx, 1)
	split, err := store.Split(ctx, b[0].Hash)
	if err != nil || len(split) == 0 || split[0].User != "alice" {
		t.Errorf("alice's block is in the ledger with the split %v (%v): none of her work since the poisoning counted", split, err)
	}
}

// SYMPTOM (fails now): the accounting keeps at most MaxWorkersPerUser
// workers per user (shares naming others count for the user alone), but
// the ledger takes every worker name an accepted share carries in its
// Worker-Specific Hashrate Tracking TLV: one row per name per bucket, in
// memory until the flush and in the database for ever, and in every
// window walk. At the default minimum share difficulty (2^-24) an
// accepted share costs a few hundred hashes: a hostile miner fills the
// work table at the pool's validation rate.
func TestAttackFreshWorkerNamesOnAcceptedShares(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	store, err := ledger.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	const maxWorkers, names = 8, 100
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.MaxWorkersPerUser = maxWorkers
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e12}}
	})
	m := dialMiner(t, p, 0, sv2.ExtensionWorkerHashrate)
	ch := m.openExtended(t, "mallory")
	w := m.currentWork(t, ch)
	for i := range names {
		m.send(t, extendedShare(t, w, uint32(i), []byte{byte(i), byte(i >> 8), 0, 0, 0, 0, 0, 1}, []sv2.TLV{sv2.WorkerIdentityTLV(fmt.Sprintf("w%d", i))}))
		expect[*sv2.SubmitSharesSuccess](t, m)
	}
	if got := len(p.Stats().Workers); got > maxWorkers {
		t.Fatalf("the accounting keeps %d workers, over its bound %d: this test's premise is wrong", got, maxWorkers)
	}
	if err := p.ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRow(`SELECT COUNT(DISTINCT worker) FROM work WHERE user = 'mallory'`).Scan(&rows); err != nil { // the shares may span two buckets
		t.Fatal(err)
	}
	if rows > maxWorkers+1 {
		t.Errorf("one user's %d accepted shares naming fresh workers made %d workers in the ledger; the accounting keeps %d workers per user, the ledger must not keep more (+1 for the user's own)", names, rows, maxWorkers)
	}
}

// What must hold, with the ledger in PostgreSQL and the server gone
// mid-run: shares are answered without delay, a block found is retried and
// said loudly, monitoring answers 503 for the ledger and keeps serving the
// rest, and the pool stops in bounded time without panicking, saying which
// block it could not record.
func TestAttackPostgresGoesAwayMidRun(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.NewServer(t)
	store, err := ledger.OpenPostgres(ctx, srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e12}}
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	monAddr, err := p.MonitorAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "alice", 1)
	mineShares(t, m, ch, 1, 3)
	if !within(3*time.Second, func() bool { return windowOf(t, store, "alice") > 0 }) {
		t.Fatal("alice's work is not in the ledger while the database is up")
	}

	srv.Stop() // the database goes away
	if worst := mineShares(t, m, ch, 2, 10); worst > 500*time.Millisecond {
		t.Errorf("with the database gone a share took %v to be answered", worst)
	}
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	w := m.workOn(t, ch, prev.PrevHash)
	nonce, _ := grindBlock(w, prev.Target)
	start := time.Now()
	m.send(t, share(w, 99, nonce))
	acked(t, m)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a block share took %v to be answered with the database gone", d)
	}
	if !within(3*time.Second, func() bool { return logs.has("cannot write a found block to the ledger; retrying") }) {
		t.Error("the pool did not say it cannot write the found block")
	}
	for path, want := range map[string]int{"/api/v1/ledger": http.StatusServiceUnavailable, "/metrics": http.StatusOK, "/api/v1/status": http.StatusOK} {
		client := &http.Client{Timeout: 5 * time.Second}
		start := time.Now()
		resp, err := client.Get("http://" + monAddr.String() + path)
		if err != nil {
			t.Errorf("GET %s with the database gone: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != want || time.Since(start) > 4*time.Second {
			t.Errorf("GET %s with the database gone: %d in %v, want %d within the ledger's query timeout", path, resp.StatusCode, time.Since(start), want)
		}
	}
	start = time.Now()
	if err := p.stop(); err != nil {
		t.Errorf("the pool's Run: %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the pool took %v to stop with the database gone", d)
	}
	if !logs.has("BLOCK NOT IN THE LEDGER") {
		t.Error("the pool stopped without saying the found block is not in the ledger")
	}
	if logs.has("panic") {
		t.Error("a panic was logged")
	}
}

// What must hold: another session holding the work table locked (LOCK
// TABLE in an open transaction: a migration, a backup, an operator's
// query) delays no share answer, not even a block's; monitoring's ledger
// request gives up within its timeout; and once the lock goes the block is
// recorded with the work before it.
func TestAttackLockedWorkTableDoesNotDelayTheSharePath(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	store, err := ledger.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Logger = slog.New(slog.DiscardHandler) // it retries the block loudly
		c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e12}}
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	monAddr, err := p.MonitorAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "alice", 1)

	locker, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // released below, or at the end
	if _, err := tx.ExecContext(ctx, `LOCK TABLE work IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	if worst := mineShares(t, m, ch, 1, 10); worst > 300*time.Millisecond {
		t.Errorf("with the work table locked a share took %v to be answered", worst)
	}
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	w := m.workOn(t, ch, prev.PrevHash)
	nonce, _ := grindBlock(w, prev.Target)
	start := time.Now()
	m.send(t, share(w, 99, nonce))
	acked(t, m)
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("with the work table locked a block share took %v to be answered", d)
	}
	start = time.Now()
	resp, err := (&http.Client{Timeout: 6 * time.Second}).Get("http://" + monAddr.String() + "/api/v1/ledger")
	if err != nil {
		t.Fatalf("/api/v1/ledger with the work table locked: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > 4*time.Second {
		t.Errorf("/api/v1/ledger with the work table locked: %d after %v, want 503 within the 3 s query timeout", resp.StatusCode, time.Since(start))
	}
	if err := tx.Rollback(); err != nil { // the lock goes
		t.Fatal(err)
	}
	if !within(6*time.Second, func() bool {
		b, err := store.Blocks(ctx, 1)
		return err == nil && len(b) == 1
	}) {
		t.Fatal("the block is not in the ledger 6 s after the lock went")
	}
	b, _ := store.Blocks(ctx, 1)
	split, err := store.Split(ctx, b[0].Hash)
	if err != nil || len(split) == 0 || split[0].User != "alice" {
		t.Errorf("the block's split %v (%v), want alice's", split, err)
	}
}

// slowStore is a ledger whose reads take until their context ends: a
// database that hangs (a lock, a saturated server, a network that drops
// packets).
type slowStore struct {
	ledger.Store
	reads chan struct{} // a read has started
}

func (s slowStore) wait(ctx context.Context) error {
	select {
	case s.reads <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}
func (s slowStore) Window(ctx context.Context, _ float64) ([]ledger.Weight, error) {
	return nil, s.wait(ctx)
}
func (s slowStore) Balances(ctx context.Context) ([]ledger.Payout, error) { return nil, s.wait(ctx) }
func (s slowStore) Blocks(ctx context.Context, _ int) ([]ledger.Block, error) {
	return nil, s.wait(ctx)
}
func (slowStore) Close() error { return nil }

// SYMPTOM (fails now): /api/v1/ledger reads the database inside one of
// monitoring's two turns, for up to its 3 s timeout. A few ledger requests
// at once on a slow database (a dashboard left open in a few tabs, or
// anyone who can reach the port on loopback or with the token) hold both
// turns and queue behind each other, and a Prometheus scrape waits its
// turn behind all of them: here 4 requests make /metrics wait about 6 s
// (N/2 × 3 s in general), past a usual 5 s scrape timeout. The ledger
// must hold at most one turn (or none) while it waits on the database, so
// that a scrape waits at most one query timeout. The share path is not
// affected (checked too).
func TestAttackLedgerRequestsOnASlowDatabaseDoNotStarveMetrics(t *testing.T) {
	real, err := ledger.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	store := slowStore{Store: real, reads: make(chan struct{}, 16)}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e12}}
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	monAddr, err := p.MonitorAddr(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + monAddr.String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	const ledgerRequests = 4
	for range ledgerRequests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/ledger", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body) //nolint:errcheck // only its time matters
				resp.Body.Close()
			}
		}()
	}
	recv(t, (<-chan struct{})(store.reads), "a ledger request reading the database")
	time.Sleep(100 * time.Millisecond) // the others queue for a turn

	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "alice", 1)
	if worst := mineShares(t, m, ch, 1, 5); worst > 300*time.Millisecond {
		t.Errorf("with ledger requests waiting on the database a share took %v to be answered", worst)
	}

	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	client := &http.Client{Timeout: 4 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("/metrics with %d ledger requests waiting on a slow database: no answer within %v (%v): the ledger holds monitoring's turns", ledgerRequests, time.Since(start).Round(time.Millisecond), err)
		return
	}
	resp.Body.Close()
	t.Logf("/metrics answered in %v", time.Since(start))
}

// What must hold: ?limit over the bound is refused, ?user of any bytes is
// taken as a name (nothing is interpolated into SQL) and answered as valid
// JSON, empty when nobody has that name.
func TestAttackLedgerAPIOddQueries(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	if _, err := store.AddBlock(ctx, ledger.Block{Hash: "00aa", Height: 1, Reward: 1000, Found: now, Finder: "bob"},
		[]ledger.Work{{Bucket: now, User: "bob", Accepted: 1, Difficulty: 1}}, ledger.Rules{Window: 10, Pool: "pool"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetBlockState(ctx, "00aa", ledger.Confirmed); err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.Ledger = &Ledger{Store: store, Flush: time.Hour, Rules: ledger.Rules{Window: 1e12}}
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	monAddr, err := p.MonitorAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + monAddr.String() + "/api/v1/ledger"
	for q, want := range map[string]int{
		"?limit=1000000000": http.StatusBadRequest, "?limit=-1": http.StatusBadRequest, "?limit=0x10": http.StatusBadRequest,
		"?limit=99999999999999999999999": http.StatusBadRequest,
		"?user=%00":                      http.StatusOK, "?user=%ff%fe": http.StatusOK, "?user=bob%27%20OR%201=1--": http.StatusOK,
		"?user=" + strings.Repeat("x", 6000): http.StatusOK, "?user=bob&user=pool": http.StatusOK, "?user=bob": http.StatusOK,
	} {
		resp, err := http.Get(base + q)
		if err != nil {
			t.Errorf("GET %.60s: %v", q, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %.60s: %d, want %d", q, resp.StatusCode, want)
			continue
		}
		if want != http.StatusOK {
			continue
		}
		var v LedgerView
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("GET %.60s: not JSON: %v", q, err)
			continue
		}
		bobs := strings.HasPrefix(q, "?user=bob&") || q == "?user=bob"
		if bobs != (len(v.Balances) == 1) || (bobs && v.Balances[0].User != "bob") {
			t.Errorf("GET %.60s: balances %v", q, v.Balances)
		}
	}
}

// What must hold: the ledger view of a large ledger (100,000 users owed a
// balance, 20 blocks each split among 5,000 users, a window of 20,000
// users) is answered well within its 3 s query timeout, in which it holds
// one of monitoring's two turns. It reads every balance and every split
// row of the 20 blocks whatever ?limit and ?user say, so its cost grows
// with the ledger; a twentieth of the sizes under the race detector.
func TestAttackLedgerViewOfALargeLedger(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	users, blocks, perBlock, windowUsers := 100_000, 20, 5_000, 20_000
	bound := time.Second
	if attackRace { // a twentieth of it, and the whole timeout: it catches a blow-up
		users, perBlock, windowUsers, bound = users/20, perBlock/20, windowUsers/20, ledgerQueryTimeout
	}
	split := func(n, off int) []ledger.Payout {
		out := make([]ledger.Payout, n)
		for i := range out {
			out[i] = ledger.Payout{User: fmt.Sprintf("user-%06d", (i+off)%users), Amount: 1000}
		}
		return out
	}
	if _, err := store.AddBlock(ctx, ledger.Block{Hash: "big", Height: 1, Reward: uint64(users) * 1000, Found: now, Split: split(users, 0)}, nil, ledger.Rules{Pool: "pool"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetBlockState(ctx, "big", ledger.Confirmed); err != nil {
		t.Fatal(err)
	}
	for b := range blocks {
		if _, err := store.AddBlock(ctx, ledger.Block{Hash: fmt.Sprintf("b%02d", b), Height: uint32(2 + b), Reward: uint64(perBlock) * 1000, Found: now.Add(time.Duration(b+1) * time.Minute),
			Split: split(perBlock, b*perBlock)}, nil, ledger.Rules{Pool: "pool"}); err != nil {
			t.Fatal(err)
		}
	}
	var work []ledger.Work
	for i := range windowUsers {
		work = append(work, ledger.Work{Bucket: now, User: fmt.Sprintf("user-%06d", i), Accepted: 1, Difficulty: 1})
	}
	if err := store.AddWork(ctx, work); err != nil {
		t.Fatal(err)
	}
	p := &Pool{cfg: Config{Ledger: &Ledger{Store: store}}, ledger: ledger.NewRecorder(ledger.RecorderConfig{Store: store}),
		rules: ledger.Rules{Window: 1e12, Pool: "pool"}, log: slog.New(slog.DiscardHandler)}
	for _, user := range []string{"", "user-000042"} {
		start := time.Now()
		v, err := p.LedgerView(ctx, user, monitor.MaxListLimit)
		d := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("LedgerView(user %q): %v; %d balances, %d blocks, %d in the window", user, d, len(v.Balances), len(v.Blocks), len(v.Window.Users))
		if d > bound {
			t.Errorf("LedgerView(user %q) of a large ledger (%d balances) took %v, over %v (its query timeout is %v, in one of monitoring's turns)", user, users, d, bound, ledgerQueryTimeout)
		}
	}
}

// startFrontend starts a pool like startPoolOn, but returns New's or Run's
// error rather than failing the test: for a pool expected to refuse.
func startFrontend(t *testing.T, tp *fakeTP, mod func(*Config)) (*testPool, error) {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listener: ln, AuthorityKey: &sk, Network: "regtest",
		TemplateProvider:        TemplateProvider{Address: tp.addr, Plain: true},
		Payouts:                 []Payout{{Script: []byte{0x51}, Weight: 1}},
		Tag:                     "/test pool/",
		Logger:                  slog.New(slog.DiscardHandler),
		MaxConnectionsPerSource: 1 << 20, MaxHandshakesPerSource: 1 << 20, HandshakeRatePerSource: 1e9,
	}
	mod(&cfg)
	p, err := New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := func() error { cancel(); return <-done }
	select {
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("Run: %w", err)
	case <-time.After(2 * time.Second): // it runs
	}
	t.Cleanup(func() { stop() }) //nolint:errcheck // it ran
	return &testPool{Pool: p, tp: tp, addr: ln.Addr().String(), key: pk, stop: stop}, nil
}

// What holds (since the server id registry, ClaimServerID): two frontends
// with the same --server-id on one PostgreSQL ledger, the second refuses
// to start. Should it ever run again, the test shows what it costs: they
// hand out the same extranonce prefixes, so on one template their channels
// hash the same headers, and one share submitted to both frontends is
// accepted and credited by both in the shared ledger.
func TestAttackServerIDRegistryRefusesADuplicate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	tp := startFakeTP(t)
	frontend := func() (*testPool, ledger.Store, error) {
		store, err := ledger.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		p, err := startFrontend(t, tp, func(c *Config) {
			c.ServerID = 7
			c.ShareBatchSize = 1
			c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e12}}
		})
		return p, store, err
	}
	a, store, err := frontend()
	if err != nil {
		t.Fatalf("the first frontend: %v", err)
	}
	b, _, err := frontend()
	if err != nil {
		t.Logf("the second frontend with server id 7 refused: %v", err)
		return
	}
	// It runs: show what it costs. One template for both, as a provider
	// serving both would send it.
	recv(t, tp.ready, "the frontends to reach the provider")
	tmpl := tp.template(true)
	ma, mb := dialMiner(t, a, 0), dialMiner(t, b, 0)
	pa, _, cha := ma.openedPrefix(t, "mallory", true)
	pb, _, chb := mb.openedPrefix(t, "mallory", true)
	tp.send(t, tmpl)
	tp.send(t, tp.prevHash(tmpl.TemplateID))
	var wa, wb *mining.Work
	until(t, "both on the new template's job", func() bool {
		var oka, okb bool
		wa, oka = ma.work.Work(cha)
		wb, okb = mb.work.Work(chb)
		return oka && okb && wa.PrevHash == tp.prevHash(tmpl.TemplateID).PrevHash && wb.PrevHash == wa.PrevHash
	})
	s := extendedShare(t, wa, 1, []byte{1}, nil)
	ma.send(t, s)
	sb := *s
	sb.ChannelID, sb.JobID = wb.ChannelID, wb.JobID
	mb.send(t, &sb)
	accepted := 0
	for _, m := range []*testMiner{ma, mb} {
		for {
			msg := m.next(t)
			if _, ok := msg.(*sv2.SubmitSharesSuccess); ok {
				accepted++
				break
			}
			if _, ok := msg.(*sv2.SubmitSharesError); ok {
				break
			}
		}
	}
	within(2*time.Second, func() bool { return windowOf(t, store, "mallory") >= 2*target.Difficulty(wa.Target) })
	t.Errorf("the second frontend with server id 7 runs: prefixes %x and %x, one share accepted by %d frontends, mallory's window %v",
		pa, pb, accepted, windowOf(t, store, "mallory"))
}

// claimDownStore is a ledger that cannot be reached the first time the
// frontend claims its server id (the database restarting, a network blip
// at start), and works afterwards.
type claimDownStore struct {
	ledger.Store
	mu     sync.Mutex
	failed bool
}

func (s *claimDownStore) ClaimServerID(ctx context.Context, id int, holder string, ttl time.Duration) error {
	s.mu.Lock()
	first := !s.failed
	s.failed = true
	s.mu.Unlock()
	if first {
		return fmt.Errorf("dial tcp: connection refused")
	}
	return s.Store.ClaimServerID(ctx, id, holder, ttl)
}

// serveSameID starts two frontends on one PostgreSQL ledger with server id
// 7, the first as first(cfg) makes it, the second as second(cfg) does, and
// returns what each start returned (nil: it serves).
func serveSameID(t *testing.T, first, second func(*Config, ledger.Store)) (firstErr, secondErr error) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	tp := startFakeTP(t)
	frontend := func(mod func(*Config, ledger.Store)) error {
		store, err := ledger.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		_, err = startFrontend(t, tp, func(c *Config) {
			c.ServerID = 7
			c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e12}}
			if mod != nil {
				mod(c, store)
			}
		})
		return err
	}
	return frontend(first), frontend(second)
}

// SYMPTOM (fails now): a frontend's claim names it by host name and
// configured listen address (claimHolder), which two running frontends can
// share: two hosts or containers with one host name (cloned images, a
// compose service scaled out) listening on the same "0.0.0.0:3333", or,
// as here, two frontends on one host configured with port 0. The second
// then "renews" the first's claim and both serve with one server id. The
// holder must be unique to the process (a random instance id; a frontend
// stopped cleanly releases its claim, so a restart still claims at once).
func TestAttackServerIDHolderIsNotUnique(t *testing.T) {
	listenAnywhere := func(c *Config, _ ledger.Store) {
		c.Listener.Close()
		c.Listener, c.Listen = nil, "127.0.0.1:0"
	}
	first, second := serveSameID(t, listenAnywhere, listenAnywhere)
	if first != nil {
		t.Fatalf("the first frontend: %v", first)
	}
	if second == nil {
		t.Error("two frontends with server id 7, both configured to listen on 127.0.0.1:0, both serve: their claims have one holder name")
	} else {
		t.Logf("refused: %v", second)
	}
}

// SYMPTOM (fails now): a frontend that cannot reach the ledger when it
// starts serves anyway ("tried again with each renewal"); a second one
// started while the first's claim is missing claims the id and serves too,
// and when the first's renewal then finds the id taken it only logs
// ("ANOTHER FRONTEND HAS THIS SERVER ID") and goes on serving: both hand
// out the same extranonce prefixes for as long as they run. A frontend
// whose id is not (or no longer) its own must stop handing out prefixes,
// and one whose first claim failed must claim it again before a second
// frontend can (at once, not at the next 10 s renewal).
func TestAttackServerIDUnclaimedWhileTheLedgerWasDown(t *testing.T) {
	down := func(c *Config, s ledger.Store) { c.Ledger.Store = &claimDownStore{Store: s} }
	first, second := serveSameID(t, down, nil)
	switch {
	case first != nil:
		t.Logf("the first frontend refused to serve without its claim: %v", first)
	case second == nil:
		t.Error("the first frontend serves with server id 7 without having claimed it (the ledger was unreachable at its first claim, 2 s before), and a second with id 7 claims it and serves too")
	default:
		t.Logf("refused: %v", second)
	}
}

// SYMPTOM (fails now): claims expire by the frontends' own clocks
// (ClaimServerID's now is the claimant's p.now()): a frontend whose clock
// is ahead by more than the claim's 30 s sees every running frontend's
// claim as expired and takes its id while it runs. The database's clock
// (now() in the claim's statement) must be the only one.
func TestAttackServerIDClockSkewTakesARunningFrontendsID(t *testing.T) {
	ahead := func(c *Config, _ ledger.Store) { c.Now = func() time.Time { return time.Now().Add(time.Minute) } }
	first, second := serveSameID(t, nil, ahead)
	if first != nil {
		t.Fatalf("the first frontend: %v", first)
	}
	if second == nil {
		t.Error("a frontend whose clock is a minute ahead takes server id 7 from the running frontend that holds it")
	} else {
		t.Logf("refused: %v", second)
	}
}

// tcpProxy forwards connections to a server, and can cut them all and
// refuse new ones for a while, then listen again on the same address: a
// database that goes away and comes back.
type tcpProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target}
	if err := p.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }() //nolint:errcheck // either side closing ends both
			go func() { io.Copy(c, s); c.Close() }() //nolint:errcheck
		}
	}()
	return nil
}

// cut closes the listener and every connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// What must hold: the database going away for a while (every connection
// cut, new ones refused) and coming back loses nothing: the shares
// accepted meanwhile, answered without delay, are written once it is
// back, and the block found meanwhile is recorded with a split that
// counts them.
func TestAttackPostgresOutageAndReturn(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	u := strings.TrimPrefix(dsn, "postgres://postgres@")
	hostport, rest, _ := strings.Cut(u, "/")
	proxy := newTCPProxy(t, hostport)
	store, err := ledger.OpenPostgres(ctx, "postgres://postgres@"+proxy.addr+"/"+rest)
	if err != nil {
		t.Fatal(err)
	}
	p := startPool(t, func(c *Config) {
		c.ShareBatchSize = 1
		c.Logger = slog.New(slog.DiscardHandler) // it retries loudly
		c.Ledger = &Ledger{Store: store, Flush: 10 * time.Millisecond, Rules: ledger.Rules{Window: 1e12}}
	})
	m := dialMiner(t, p, mining.FlagRequiresStandardJobs)
	ch := m.openStandard(t, "alice", 1)
	mineShares(t, m, ch, 1, 3)
	if !within(3*time.Second, func() bool { return windowOf(t, store, "alice") > 0 }) {
		t.Fatal("alice's work is not in the ledger while the database is up")
	}
	before := windowOf(t, store, "alice")
	diff := before / 3

	proxy.cut()
	if worst := mineShares(t, m, ch, 2, 5); worst > 500*time.Millisecond {
		t.Errorf("with the database away a share took %v to be answered", worst)
	}
	tmpl, prev := p.tp.easyTip()
	p.tp.send(t, tmpl)
	p.tp.send(t, prev)
	w := m.workOn(t, ch, prev.PrevHash)
	nonce, _ := grindBlock(w, prev.Target)
	m.send(t, share(w, 99, nonce))
	acked(t, m)
	time.Sleep(time.Second)
	if err := proxy.listen(proxy.addr); err != nil {
		t.Fatalf("the database cannot come back on its address: %v", err)
	}
	if !within(6*time.Second, func() bool {
		b, err := store.Blocks(ctx, 1)
		return err == nil && len(b) == 1
	}) {
		t.Fatal("the block found while the database was away is not in the ledger 6 s after it came back")
	}
	if !within(3*time.Second, func() bool { return windowOf(t, store, "alice") >= before+5*diff }) {
		t.Errorf("alice's work after the database came back: %v, want at least %v (the 5 shares accepted while it was away)", windowOf(t, store, "alice"), before+5*diff)
	}
	b, _ := store.Blocks(ctx, 1)
	split, err := store.Split(ctx, b[0].Hash)
	if err != nil || len(split) != 1 || split[0].User != "alice" {
		t.Errorf("the block's split %v (%v), want alice's alone", split, err)
	}
}
