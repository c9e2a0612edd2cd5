package sv1

import (
	"fmt"
	"testing"
	"time"
)

// One address's churn cannot push every other's sessions out, and the
// store stays bounded however many sessions and addresses come.
func TestSessionStoreBounds(t *testing.T) {
	cfg := Config{ListenAddress: "x", Sessions: 4096, Now: func() time.Time { return testNow }}
	cfg.setDefaults()
	g := &gateway{cfg: cfg, sessions: map[string]*session{}}
	g.remember(&session{id: "honest", source: "10.0.0.1", at: testNow})
	for i := range 100_000 {
		g.remember(&session{id: fmt.Sprint("churn", i), source: "10.0.0.66", at: testNow})
	}
	if _, ok := g.resume("honest"); !ok {
		t.Fatal("one address's churn evicted another address's session")
	}
	if n := len(g.sessions); n != 1+g.sourceQuota() {
		t.Fatalf("%d sessions, want the honest one and the churner's quota %d", n, g.sourceQuota())
	}
	for i := range 100_000 {
		g.remember(&session{id: fmt.Sprint("many", i), source: fmt.Sprintf("10.1.%d.%d", i/256%256, i%256), at: testNow})
	}
	if len(g.sessions) > cfg.Sessions || len(g.order) > 2*cfg.Sessions+17 || len(g.bySource) > cfg.Sessions {
		t.Fatalf("%d sessions, %d order entries, %d sources: want at most %d, %d, %d", len(g.sessions), len(g.order), len(g.bySource), cfg.Sessions, 2*cfg.Sessions+17, cfg.Sessions)
	}
	// A resumed session is remembered again as the newest.
	g.remember(&session{id: "many0", source: "10.1.0.0", at: testNow})
	g.remember(&session{id: "many0", source: "10.1.0.0", at: testNow})
	if _, ok := g.resume("many0"); !ok {
		t.Fatal("a session remembered again was forgotten")
	}
}
