package pool

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/ledger"
	"github.com/stratumgo/stratum/core/monitor"
)

// downStore is a ledger whose database cannot be reached.
type downStore struct{ ledger.Store }

var errDown = errors.New("connection refused")

func (downStore) Window(context.Context, float64) ([]ledger.Weight, error) { return nil, errDown }
func (downStore) Balances(context.Context) ([]ledger.Payout, error)        { return nil, errDown }
func (downStore) AddWork(context.Context, []ledger.Work) error             { return errDown }
func (downStore) Close() error                                             { return nil }
func (downStore) ClaimServerID(context.Context, int, string, time.Duration) error {
	return errDown
}
func (downStore) ReleaseServerID(context.Context, int, string) error { return errDown }

// A ledger that cannot be read answers 503 naming why, and a bad limit
// 400; the pool keeps serving.
func TestLedgerAPIWhenTheDatabaseIsDown(t *testing.T) {
	p := startPool(t, func(c *Config) {
		c.Ledger = &Ledger{Store: downStore{}, Flush: time.Hour, Rules: ledger.Rules{Window: 1e9}}
		c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"}
	})
	addr, err := p.MonitorAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/api/v1/ledger": http.StatusServiceUnavailable, "/api/v1/ledger?limit=0": http.StatusBadRequest, "/api/v1/status": http.StatusOK} {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
