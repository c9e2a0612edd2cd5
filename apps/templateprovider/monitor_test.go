package templateprovider

import (
	"net"
	"testing"

	"github.com/stratumgo/stratum/core/monitor"
	"github.com/stratumgo/stratum/core/monitor/monitortest"
	"github.com/stratumgo/stratum/core/node"
)

// The provider's /metrics and JSON tell its clients, the current template
// and its height, the templates sent and the solutions and their blocks.
func TestMonitorCountsTemplatesAndSolutions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	tmpl := fakeTemplate(400, 3, []node.TemplateTx{fakeTx(t, 1, true, 500, 0)}...)
	h := startTPWith(t, tmpl, 1000, func(c *Config) { c.Monitor = &monitor.Config{Listener: ln} })
	c := h.connect(t, 0, 0)
	nt, snph := nextTemplate(t, c)
	sol, _ := solution(t, nt, snph, true, 0)
	h.submit(t, sol)
	recv(t, h.node.submitted, "submitted block")

	m := monitortest.Scrape(t, base)
	m.Expect(t,
		monitortest.Want{Name: "sv2_healthy", Value: 1},
		monitortest.Want{Name: "sv2_connections", Value: 2}, // the client and the one h.submit sends on
		monitortest.Want{Name: "sv2_template_height", Value: float64(tmpl.Height)},
		monitortest.Want{Name: "sv2_templateprovider_templates_sent_total", Value: 1},
		monitortest.Want{Name: "sv2_templateprovider_solutions_total", Value: 1},
		monitortest.Want{Name: "sv2_blocks_found_total", Value: 1},
	)
	if age := m.Must(t, "sv2_template_age_seconds"); age < 0 || age > 600 {
		t.Errorf("template age %g s", age)
	}
	var st monitor.Status
	monitortest.GetJSON(t, base, "/api/v1/status", &st)
	if st.App != "templateprovider" || st.Template == nil || st.Template.PrevHash != tmpl.PrevHash.String() || st.Template.Height != uint32(tmpl.Height) || *st.Connections != 2 {
		t.Errorf("status %+v template %+v", st, st.Template)
	}
	var conns []monitor.Connection
	monitortest.GetJSON(t, base, "/api/v1/connections", &conns)
	if len(conns) != 2 || conns[0].Protocol != "template-distribution" {
		t.Errorf("connections %+v", conns)
	}
}
