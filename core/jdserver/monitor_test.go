package jdserver

import (
	"testing"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
)

// The JDS's /metrics and JSON count declarations by result and tokens, and
// tell its provider and node.
func TestMonitorCountsDeclarations(t *testing.T) {
	e := startJDS(t, func(c *Config) { c.Monitor = &monitor.Config{Listen: "127.0.0.1:0"} })
	addr, err := e.jds.MonitorAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	txs := newTxs(2)
	e.node.add(txs...)
	j := e.dial(t, FlagDeclareTxData)
	tok := j.allocate("alice")
	j.req++
	d := build(t, e.spec(txs...), tok.MiningJobToken, j.req)
	d.user = "alice"
	expectSuccessOf(t, j.declare(d), d.msg.RequestID)
	j.req++
	again := build(t, e.spec(txs...), tok.MiningJobToken, j.req) // the token is spent
	j.declare(again)

	m := monitortest.Scrape(t, base)
	s := e.jds.Stats()
	m.Expect(t,
		monitortest.Want{Name: "sv2_app_info", Labels: []string{"app", "jds"}, Value: 1},
		monitortest.Want{Name: "sv2_healthy", Value: 1},
		monitortest.Want{Name: "sv2_connections", Value: 1},
		monitortest.Want{Name: "sv2_declarations_total", Value: 2},
		monitortest.Want{Name: "sv2_declarations_accepted_total", Value: 1},
		monitortest.Want{Name: "sv2_jds_tokens_total", Value: float64(s.Tokens)},
		monitortest.Want{Name: "sv2_upstream_connected", Value: 1},
	)
	var refused float64
	for code, n := range s.Refused {
		if got := m.Must(t, "sv2_declarations_refused_total", "code", code); got != float64(n) {
			t.Errorf("refused %s: %g, Stats says %d", code, got, n)
		}
		refused += float64(n)
	}
	if refused != 1 {
		t.Errorf("%g declarations refused, want the spent token's", refused)
	}
	if got := m.Must(t, "sv2_node_rpc_requests_total"); got < 1 {
		t.Errorf("%g node requests: the JDS asks its node at start", got)
	}
	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.App != "jds" || st.Declaration.Declared != 2 || st.Declaration.Accepted != 1 || st.Template == nil || st.Node == nil || st.Node.Requests == 0 {
		t.Errorf("status %+v declarations %+v", st, st.Declaration)
	}
}
