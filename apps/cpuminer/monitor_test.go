package cpuminer

import (
	"context"
	"net"
	"testing"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
)

// A miner whose pool does not answer serves its monitoring all the same,
// unhealthy, saying what it waits for.
func TestMonitorWithoutPool(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pool := dead.Addr().String()
	dead.Close()
	m, err := New(Config{Pool: pool, Plain: true, User: "u", Threads: 1, NominalHashrate: 1, Monitor: &monitor.Config{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	addr, err := m.MonitorAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	s := monitortest.Scrape(t, base)
	if got := s.Must(t, "sv2_healthy"); got != 0 {
		t.Errorf("healthy %g without a pool", got)
	}
	if got := s.Must(t, "sv2_cpuminer_threads"); got != 1 {
		t.Errorf("threads %g", got)
	}
	if got := s.Must(t, "sv2_upstream_connected"); got != 0 || s.Must(t, "sv2_upstream_info", "address", pool) != 1 {
		t.Errorf("connected %g to a closed port", got)
	}
	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.App != "cpuminer" || st.Healthy || st.State != "connecting to the pool" {
		t.Errorf("status %+v", st)
	}
}
