package pgtest

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A server's databases are fresh, empty and apart; the server is gone
// after Stop.
func TestServer(t *testing.T) {
	ctx := context.Background()
	s := NewServer(t)
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases at one DSN %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	var tables int
	if err := ca.QueryRow(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("a fresh database has %d tables (%v)", tables, err)
	}
	if _, err := ca.Exec(ctx, `CREATE TABLE t (x BIGINT)`); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if err := cb.QueryRow(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("the second database has %d tables (%v)", tables, err)
	}
	if !strings.Contains(s.Log(), readyLine) {
		t.Errorf("log:\n%s", s.Log())
	}
	ca.Close(ctx)
	cb.Close(ctx)
	s.Stop()
	if _, err := pgx.Connect(ctx, a); err == nil {
		t.Error("connected after Stop")
	}
}

// A port taken between its choice and the server's start is given up for
// another.
func TestPortTakenRetried(t *testing.T) {
	bin, err := findBin()
	if err != nil {
		unavailable(t, err)
	}
	own, err := runAs()
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	tries := 0
	ports := func() (int, error) {
		if tries++; tries == 1 {
			return takenPort, nil
		}
		return freePort()
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := launch(bin, dir, own, ports)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if tries != 2 || s.port == takenPort {
		t.Errorf("%d ports tried, the server on %d (%d was taken)", tries, s.port, takenPort)
	}
	conn, err := pgx.Connect(context.Background(), s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())

	// A port that stays taken is given up after portAttempts.
	s.Stop()
	dir2, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir2)
	if _, err := launch(bin, dir2, own, func() (int, error) { return takenPort, nil }); !errors.Is(err, errPortTaken) {
		t.Errorf("a port always taken: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"16", "9.6", 1}, {"9.6", "10", -1}, {"15", "15", 0}, {"15.1", "15", 1}} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
