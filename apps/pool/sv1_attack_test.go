package pool

// Hostile-device tests of the Stratum V1 gateway (core/sv1) as the pool
// serves it: what a device on loopback can do to the gateway and to the
// service's limits, each measured against an honest device (sv1.Dial,
// SuggestDifficulty 1e-7, Mine, barrier) that must keep being served
// promptly. Those that say they were found attacking the gateway failed
// on its first version; every one is now a regression test.

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv1"
)

const (
	// sv1HonestShares is what the honest device mines in each test.
	sv1HonestShares = 25
	// sv1HonestLimit bounds the honest device's dial, shares and barrier
	// while an attack runs (a few hundred milliseconds unloaded, -race).
	sv1HonestLimit = 5 * time.Second
	// sv1Slack is what a timeout may overrun before it counts as missed.
	sv1Slack = 3 * time.Second
	// sv1Setup is the service's SetupTimeout, which the pool leaves at the default.
	sv1Setup = service.DefaultSetupTimeout
)

// sv1Msg is one line from the pool: an answer or a notification.
type sv1Msg struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
	Error  []json.RawMessage `json:"error"`
	raw    string
}

// code is the answer's error code, 0 for none.
func (m sv1Msg) code() int {
	if len(m.Error) == 0 {
		return 0
	}
	var c int
	if json.Unmarshal(m.Error[0], &c) != nil {
		return -1
	}
	return c
}

// sv1Peer is a hostile device on a bare connection: it writes whatever it
// likes and reads the pool's lines itself.
type sv1Peer struct {
	t      testing.TB
	nc     net.Conn
	r      *bufio.Reader
	nextID int
	notes  []sv1Msg // notifications read while waiting for answers
}

// dialSv1From connects to addr from the loopback address from ("" for the default).
func dialSv1From(addr, from string) (net.Conn, error) {
	d := net.Dialer{Timeout: waitLimit}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return d.Dial("tcp", addr)
}

func dialSv1Peer(t testing.TB, addr, from string) *sv1Peer {
	t.Helper()
	nc, err := dialSv1From(addr, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &sv1Peer{t: t, nc: nc, r: bufio.NewReaderSize(nc, 1<<16)}
}

func (p *sv1Peer) write(s string) error {
	p.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	_, err := io.WriteString(p.nc, s)
	return err
}

// next reads the pool's next line within d; a line that is not JSON fails the test.
func (p *sv1Peer) next(d time.Duration) (sv1Msg, error) {
	p.nc.SetReadDeadline(time.Now().Add(d))
	line, err := p.r.ReadString('\n')
	if err != nil {
		return sv1Msg{}, err
	}
	var m sv1Msg
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		p.t.Errorf("the pool sent a line that is not JSON: %q: %v", line, err)
		return sv1Msg{}, err
	}
	m.raw = strings.TrimSpace(line)
	return m, nil
}

// answer reads lines until an answer, keeping the notifications.
func (p *sv1Peer) answer() (sv1Msg, error) {
	for {
		m, err := p.next(waitLimit)
		if err != nil || m.Method == "" {
			return m, err
		}
		p.notes = append(p.notes, m)
	}
}

// tryCall sends a request with a fresh numeric id and returns its answer.
func (p *sv1Peer) tryCall(method string, params ...any) (sv1Msg, error) {
	p.nextID++
	if params == nil {
		params = []any{}
	}
	line, err := json.Marshal(map[string]any{"id": p.nextID, "method": method, "params": params})
	if err != nil {
		return sv1Msg{}, err
	}
	if err := p.write(string(line) + "\n"); err != nil {
		return sv1Msg{}, err
	}
	m, err := p.answer()
	if err == nil && string(m.ID) != strconv.Itoa(p.nextID) {
		err = fmt.Errorf("answer %s to request %d", m.raw, p.nextID)
	}
	return m, err
}

func (p *sv1Peer) call(method string, params ...any) sv1Msg {
	p.t.Helper()
	m, err := p.tryCall(method, params...)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	return m
}

// expectCode calls method and fails the test unless the answer's error code is code (0: a result).
func (p *sv1Peer) expectCode(code int, method string, params ...any) sv1Msg {
	p.t.Helper()
	m := p.call(method, params...)
	if m.code() != code {
		p.t.Errorf("%s %v: answered %s, want error code %d", method, params, m.raw, code)
	}
	return m
}

// subscribe subscribes and returns the session id, extranonce1 and extranonce2 size.
func (p *sv1Peer) subscribe(session string) (string, []byte, int) {
	p.t.Helper()
	params := []any{"hostile/1"}
	if session != "" {
		params = append(params, session)
	}
	m := p.call("mining.subscribe", params...)
	var res []json.RawMessage
	var subs [][]string
	var en1 string
	var size int
	if m.code() != 0 || json.Unmarshal(m.Result, &res) != nil || len(res) != 3 ||
		json.Unmarshal(res[0], &subs) != nil || len(subs) == 0 || len(subs[0]) != 2 ||
		json.Unmarshal(res[1], &en1) != nil || json.Unmarshal(res[2], &size) != nil {
		p.t.Fatalf("mining.subscribe answered %s", m.raw)
	}
	b, err := hex.DecodeString(en1)
	if err != nil {
		p.t.Fatalf("extranonce1 %q", en1)
	}
	return subs[0][1], b, size
}

// note returns the first notification of method, read or to be read.
func (p *sv1Peer) note(method string) sv1Msg {
	p.t.Helper()
	for i, m := range p.notes {
		if m.Method == method {
			p.notes = append(p.notes[:i:i], p.notes[i+1:]...)
			return m
		}
	}
	for {
		m, err := p.next(waitLimit)
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", method, err)
		}
		if m.Method == method {
			return m
		}
		p.notes = append(p.notes, m)
	}
}

// closedWithin discards what the pool sends until it closes the
// connection, and returns how long that took; false if still open after d.
func (p *sv1Peer) closedWithin(d time.Duration) (time.Duration, bool) {
	return sv1ClosedWithin(p.nc, p.r, d)
}

func sv1ClosedWithin(nc net.Conn, r io.Reader, d time.Duration) (time.Duration, bool) {
	start := time.Now()
	nc.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, r)
	return time.Since(start), !errors.Is(err, os.ErrDeadlineExceeded)
}

// sv1Honest runs an honest device for user: it must dial, mine
// sv1HonestShares accepted shares and pass the barrier within
// sv1HonestLimit. It returns how long it took.
func sv1Honest(t *testing.T, p *testPool, addr, user string) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: user, Password: "x", SuggestDifficulty: 1e-7})
	if err != nil {
		t.Fatalf("the honest device could not connect: %v", err)
	}
	defer c.Close()
	if err := c.Mine(ctx, sv1HonestShares); err != nil {
		t.Fatalf("the honest device could not mine: %v", err)
	}
	sv1Barrier(t, c)
	d := time.Since(start)
	if a, r := c.Accepted.Load(), c.Rejected.Load(); a != sv1HonestShares || r != 0 {
		t.Fatalf("the honest device: %d accepted, %d rejected; want %d and 0", a, r, sv1HonestShares)
	}
	if got := p.Stats().Users[user].Accepted; got != sv1HonestShares {
		t.Errorf("the pool credits %q with %d shares, want %d", user, got, sv1HonestShares)
	}
	if d > sv1HonestLimit {
		t.Errorf("the honest device took %v to connect and mine %d shares, want under %v", d, sv1HonestShares, sv1HonestLimit)
	}
	t.Logf("honest device %q: %v", user, d)
	return d
}

// sv1Clients counts the pool's Sv1 clients (set up), from source from or all.
func sv1Clients(p *testPool, from string) int {
	n := 0
	for _, c := range p.server.Clients() {
		if c.Gateway == sv1.Name && (from == "" || c.Source() == from) {
			n++
		}
	}
	return n
}

// sv1Until polls a counter until cond holds, for up to d.
func sv1Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// randomSession is a session id no device was given.
func randomSession() string {
	var b [8]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return hex.EncodeToString(b[:])
}

// Silent connections, half lines and trickles of a byte every 200 ms from
// one address, up to its per-source limit, and silent ones from eight more: the next one from that address is
// refused at once, another address and the honest device are served
// meanwhile, every one of them is dropped within SetupTimeout, and their
// slots come back.
func TestSv1AttackSilentAndHalfLines(t *testing.T) {
	t.Parallel()
	const perSource = 48
	p, addr := startSv1Pool(t, 4, func(c *Config) { c.MaxConnectionsPerSource = perSource })

	type victim struct {
		nc net.Conn
		at time.Time
	}
	stop := make(chan struct{})
	defer close(stop)
	var victims []victim
	for i := range perSource {
		nc, err := dialSv1From(addr, "127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		victims = append(victims, victim{nc, time.Now()})
		switch i % 3 {
		case 1: // half a request, never finished
			io.WriteString(nc, `{"id":1,"method":"mining.subscribe","params":["half`)
		case 2: // a byte every 200 ms: never a whole line
			go func() {
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-tick.C:
						if _, err := nc.Write([]byte{' '}); err != nil {
							return
						}
					case <-stop:
						return
					}
				}
			}()
		}
	}

	// Many more silent ones, from other addresses.
	for src := 10; src < 18; src++ {
		for range perSource {
			nc, err := dialSv1From(addr, fmt.Sprintf("127.0.0.%d", src))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			victims = append(victims, victim{nc, time.Now()})
		}
	}
	// One more from the first address is refused at once.
	extra, err := dialSv1From(addr, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if d, closed := sv1ClosedWithin(extra, extra, 2*time.Second); !closed {
		t.Errorf("connection %d from one address was not refused (MaxConnectionsPerSource %d)", perSource+1, perSource)
	} else {
		t.Logf("connection over the per-source limit closed after %v", d)
	}
	// Another address is served.
	other := dialSv1Peer(t, addr, "127.0.0.3")
	other.subscribe("")
	sv1Honest(t, p, addr, "honest-silent")

	// Every one is dropped within SetupTimeout of its connection.
	late := make(chan string, len(victims))
	var wg sync.WaitGroup
	for i, v := range victims {
		wg.Go(func() {
			v.nc.SetReadDeadline(v.at.Add(sv1Setup + sv1Slack))
			io.Copy(io.Discard, v.nc)
			if d := time.Since(v.at); d > sv1Setup+sv1Slack {
				late <- fmt.Sprintf("connection %d still open after %v", i, d)
			}
		})
	}
	wg.Wait()
	close(late)
	for s := range late {
		t.Error(s)
	}
	// Their slots are released: the address is served again.
	sv1Until(t, waitLimit, "the address's connections to be released", func() bool {
		nc, err := dialSv1From(addr, "127.0.0.2")
		if err != nil {
			return false
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(nc, `{"id":1,"method":"mining.subscribe","params":[]}`+"\n")
		line, err := bufio.NewReader(nc).ReadString('\n')
		return err == nil && strings.Contains(line, `"result":[[`)
	})
}

// MaxConnections counts the gateway's connections with the Sv2 ones:
// silent Sv1 connections at the limit refuse the next, Sv1 or Sv2, at
// once; they are dropped within SetupTimeout and the honest device then
// connects and mines.
func TestSv1AttackMaxConnections(t *testing.T) {
	t.Parallel()
	const max = 16
	p, addr := startSv1Pool(t, 4, func(c *Config) { c.MaxConnections = max })
	var victims []net.Conn
	start := time.Now()
	for range max {
		nc, err := dialSv1From(addr, "127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		victims = append(victims, nc)
	}
	for _, a := range []string{addr, p.addr} {
		nc, err := dialSv1From(a, "127.0.0.3")
		if err != nil {
			t.Fatal(err)
		}
		if _, closed := sv1ClosedWithin(nc, nc, 2*time.Second); !closed {
			t.Errorf("a connection to %s over MaxConnections (%d silent Sv1 ones) was not refused", a, max)
		}
		nc.Close()
	}
	for i, nc := range victims {
		if _, closed := sv1ClosedWithin(nc, nc, start.Add(sv1Setup+sv1Slack).Sub(time.Now())); !closed {
			t.Errorf("silent connection %d still open after %v", i, time.Since(start))
		}
	}
	sv1Until(t, waitLimit, "the connections to be released", func() bool {
		nc, err := dialSv1From(addr, "")
		if err != nil {
			return false
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(nc, `{"id":1,"method":"mining.subscribe","params":[]}`+"\n")
		line, err := bufio.NewReader(nc).ReadString('\n')
		return err == nil && strings.Contains(line, `"result":[[`)
	})
	sv1Honest(t, p, addr, "honest-max")
}

// After setup (a subscribe), a device that goes silent, sends half a line,
// trickles bytes or sends only empty lines and answers that do no work
// (stale submits) is dropped within the InactivityLimit.
func TestSv1AttackIdleAfterSetup(t *testing.T) {
	t.Parallel()
	const limit = time.Second
	p, addr := startSv1Pool(t, 4, func(c *Config) { c.InactivityLimit = limit })

	kinds := []string{"silent", "half line", "trickle", "empty lines", "stale submits"}
	peers := make([]*sv1Peer, len(kinds))
	stop := make(chan struct{})
	defer close(stop)
	for i, kind := range kinds {
		q := dialSv1Peer(t, addr, "127.0.0.2")
		q.subscribe("")
		if kind == "stale submits" {
			q.expectCode(0, "mining.authorize", "idle", "x")
		}
		peers[i] = q
		w := q.nc
		pace := func(s string) {
			go func() {
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for n := 0; ; n++ {
					select {
					case <-tick.C:
						if _, err := io.WriteString(w, strings.ReplaceAll(s, "N", strconv.Itoa(n))); err != nil {
							return
						}
					case <-stop:
						return
					}
				}
			}()
		}
		switch kind {
		case "half line":
			io.WriteString(w, `{"id":1,"method":"mining.suggest_difficulty","params":[`)
		case "trickle":
			pace("1")
		case "empty lines":
			pace("\n \n")
		case "stale submits":
			pace(`{"id":N,"method":"mining.submit","params":["idle","nojob","00000000","00000000","00000000"]}` + "\n")
		}
	}
	sv1Honest(t, p, addr, "honest-idle")
	var wg sync.WaitGroup
	for i, q := range peers {
		wg.Go(func() {
			if d, closed := q.closedWithin(limit + sv1Slack); !closed {
				t.Errorf("%s: still open %v after the setup, InactivityLimit %v", kinds[i], d, limit)
			}
		})
	}
	wg.Wait()
}

// A line longer than MaxLineSize closes the connection at once, before or
// after setup, and an endless line is not buffered: the pool stops reading
// it. A line just under the limit is served.
func TestSv1AttackLongLines(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	long := `{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("a", sv1.DefaultMaxLineSize) + `"]}`

	t.Run("no newline", func(t *testing.T) {
		q := dialSv1Peer(t, addr, "")
		q.write(long[:len(long)-2])
		if d, closed := q.closedWithin(2 * time.Second); !closed {
			t.Errorf("a %d-byte line without newline: still open after %v", len(long)-2, d)
		}
	})
	t.Run("with newline after setup", func(t *testing.T) {
		q := dialSv1Peer(t, addr, "")
		q.subscribe("")
		q.write(long + "\n")
		if d, closed := q.closedWithin(2 * time.Second); !closed {
			t.Errorf("a %d-byte line: still open after %v", len(long), d)
		}
	})
	t.Run("endless", func(t *testing.T) {
		nc, err := dialSv1From(addr, "")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		const total = 256 << 20
		chunk := []byte(strings.Repeat("x", 64<<10))
		sent := 0
		nc.SetWriteDeadline(time.Now().Add(waitLimit))
		for sent < total {
			n, err := nc.Write(chunk)
			sent += n
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("the pool neither read nor refused an endless line: %d bytes taken", sent)
				}
				break
			}
		}
		if sent >= total {
			t.Errorf("the pool took a %d-byte line", sent)
		}
		t.Logf("an endless line: %d bytes taken before the pool hung up", sent)
	})
	t.Run("just under the limit", func(t *testing.T) {
		q := dialSv1Peer(t, addr, "")
		prefix := `{"id":7,"method":"mining.subscribe","params":["`
		suffix := `"]}`
		line := prefix + strings.Repeat("b", sv1.DefaultMaxLineSize-1-len(prefix)-len(suffix)) + suffix
		q.write(line + "\n")
		if m, err := q.answer(); err != nil || m.code() != 0 {
			t.Errorf("a %d-byte line: %s %v", len(line)+1, m.raw, err)
		}
	})
	sv1Honest(t, p, addr, "honest-long")
}

// Lines that are no request, or requests with unusable ids or parameters:
// each is answered with an error (code 20) or closes the connection;
// nothing panics or hangs, and the answers are valid JSON.
func TestSv1AttackMalformedRequests(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	many := "[" + strings.Repeat(`"p",`, 999) + `"p"]`
	cases := []struct {
		name, line string
		want       string // "close", "error" (code 20) or "result"
		nullID     bool   // the error answers id null
	}{
		{"not JSON", `hello world`, "close", false},
		{"binary", "\x00\x01\x02\xff\xfe", "close", false},
		{"array", `[{"id":1,"method":"mining.subscribe"}]`, "close", false},
		{"string", `"mining.subscribe"`, "close", false},
		{"number", `42`, "close", false},
		{"null", `null`, "close", false},
		{"empty object", `{}`, "close", false},
		{"no method", `{"id":1,"params":[]}`, "close", false},
		{"null method", `{"id":1,"method":null,"params":[]}`, "close", false},
		{"number method", `{"id":1,"method":5,"params":[]}`, "close", false},
		{"trailing data", `{"id":1,"method":"mining.subscribe","params":[]} {"id":2}`, "close", false},
		{"truncated", `{"id":1,"method":"mining.subscribe","params":[`, "close", false},
		{"huge exponent id", `{"id":1e999999,"method":"mining.subscribe","params":[]}`, "result", false},
		{"negative id", `{"id":-12345678901234567890,"method":"mining.subscribe","params":[]}`, "result", false},
		{"long number id", `{"id":` + strings.Repeat("9", 100) + `,"method":"mining.subscribe","params":[]}`, "error", true},
		{"long string id", `{"id":"` + strings.Repeat("z", 100) + `","method":"mining.subscribe","params":[]}`, "error", true},
		{"object id", `{"id":{"a":1},"method":"mining.subscribe","params":[]}`, "error", true},
		{"array id", `{"id":[1,2],"method":"mining.subscribe","params":[]}`, "error", true},
		{"bool id", `{"id":true,"method":"mining.subscribe","params":[]}`, "error", true},
		{"nested id", `{"id":` + deep(1500) + `,"method":"mining.subscribe","params":[]}`, "error", true},
		{"escaped string id", `{"id":"a\"\\\u0000\n","method":"mining.ping","params":[]}`, "error", false},
		{"params object", `{"id":1,"method":"mining.subscribe","params":{"a":1}}`, "error", false},
		{"params string", `{"id":1,"method":"mining.subscribe","params":"x"}`, "error", false},
		{"params number", `{"id":1,"method":"mining.subscribe","params":5}`, "error", false},
		{"params true", `{"id":1,"method":"mining.subscribe","params":true}`, "error", false},
		{"1000 params", `{"id":1,"method":"mining.subscribe","params":` + many + `}`, "error", false},
		{"deep params", `{"id":1,"method":"mining.authorize","params":` + deep(1800) + `}`, "error", false},
		{"deep params object", `{"id":1,"method":"mining.authorize","params":[` + strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500) + `]}`, "error", false},
		{"long method", `{"id":1,"method":"` + strings.Repeat("m", 3000) + `","params":[]}`, "error", false},
		{"invalid UTF-8 method", "{\"id\":1,\"method\":\"mining.\xff\xfe\",\"params\":[]}", "error", false},
		{"submit no params", `{"id":1,"method":"mining.submit"}`, "error", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := dialSv1Peer(t, addr, "")
			if err := q.write(c.line + "\n"); err != nil {
				t.Fatal(err)
			}
			m, err := q.answer()
			switch {
			case c.want == "close":
				if err == nil {
					t.Errorf("answered %s, want the connection closed", m.raw)
				} else if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("neither answered nor closed within %v", waitLimit)
				}
			case err != nil:
				t.Errorf("closed (%v), want an answer", err)
			case c.want == "result" && m.code() != 0:
				t.Errorf("answered %s, want a result", m.raw)
			case c.want == "error" && m.code() == 0:
				t.Errorf("answered %s, want an error", m.raw)
			case c.want == "error" && m.code() != 0 && m.code() != sv1.CodeOther && m.code() != sv1.CodeNotSubscribed:
				t.Errorf("answered %s, want code %d", m.raw, sv1.CodeOther)
			case c.nullID && string(m.ID) != "null":
				t.Errorf("answered %s, want id null", m.raw)
			}
			if err == nil && len(m.raw) > 2*sv1.DefaultMaxLineSize {
				t.Errorf("a %d-byte answer to a %d-byte line", len(m.raw), len(c.line))
			}
		})
	}
	sv1Honest(t, p, addr, "honest-malformed")
}

// Invalid requests close a connection after MaxBad (32) of them, each
// answered; a flood of them is cut off there.
func TestSv1AttackUnknownMethodFlood(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	t.Run("MaxBad", func(t *testing.T) {
		q := dialSv1Peer(t, addr, "")
		for i := range sv1.DefaultMaxBad {
			if m, err := q.tryCall("mining.nothing"); err != nil || m.code() != sv1.CodeOther {
				t.Fatalf("invalid request %d: %s %v", i+1, m.raw, err)
			}
		}
		if m, err := q.tryCall("mining.nothing"); err != nil || m.code() != sv1.CodeOther {
			t.Fatalf("invalid request %d: %s %v, want it answered", sv1.DefaultMaxBad+1, m.raw, err)
		}
		if _, closed := q.closedWithin(2 * time.Second); !closed {
			t.Errorf("still open after %d invalid requests", sv1.DefaultMaxBad+1)
		}
	})
	t.Run("flood", func(t *testing.T) {
		q := dialSv1Peer(t, addr, "")
		go func() {
			bw := bufio.NewWriter(q.nc)
			for i := range 100000 {
				if _, err := fmt.Fprintf(bw, `{"id":%d,"method":"mining.x%d","params":[]}`+"\n", i, i); err != nil {
					return
				}
			}
			bw.Flush()
		}()
		answers := 0
		for {
			m, err := q.next(waitLimit)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("a flood of unknown methods: still open after %d answers", answers)
				}
				break
			}
			if m.Method == "" {
				answers++
			}
		}
		if answers > sv1.DefaultMaxBad+1 {
			t.Errorf("%d invalid requests answered before the close, want at most %d", answers, sv1.DefaultMaxBad+1)
		}
	})
	sv1Honest(t, p, addr, "honest-flood")
}

// grindSv1 finds a nonce of j whose hash meets (or, with meets false,
// misses) difficulty diff.
func grindSv1(t *testing.T, j *sv1.ClientJob, en1, en2 []byte, diff float64, meets bool) uint32 {
	t.Helper()
	share, err := target.FromDifficulty(diff)
	if err != nil {
		t.Fatal(err)
	}
	for nonce := uint32(0); nonce < 1<<24; nonce++ {
		h := j.Header(en1, en2, j.NTime, nonce, j.Version)
		hash := h.Hash()
		if target.Meets(&hash, &share) == meets {
			return nonce
		}
	}
	t.Fatalf("no nonce found at difficulty %v", diff)
	return 0
}

// mining.submit's error codes: 25 before subscribe, 24 before authorize or
// for another worker, 21 for an unknown job, 20 for malformed fields, 22
// for a duplicate, 23 for a share under the difficulty.
func TestSv1AttackSubmitCodes(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	submit := []any{"carol", "1", "00000000", "6553f100", "00000000"}

	q := dialSv1Peer(t, addr, "")
	q.expectCode(sv1.CodeNotSubscribed, "mining.submit", submit...)
	q.subscribe("")
	q.expectCode(sv1.CodeUnauthorized, "mining.submit", submit...)

	// Authorized but never subscribed.
	r := dialSv1Peer(t, addr, "")
	r.expectCode(0, "mining.authorize", "carol", "x")
	r.expectCode(sv1.CodeNotSubscribed, "mining.submit", submit...)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "carol", Password: "x", SuggestDifficulty: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j, _, err := c.Job(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	en1, size := c.Extranonce()
	en2 := make([]byte, size)
	en2[0] = 0x5a
	e2 := hex.EncodeToString(en2)
	ntime := sv1.Uint32Hex(j.NTime)
	expect := func(code int, params ...any) {
		t.Helper()
		r, err := c.Call(ctx, "mining.submit", params...)
		switch {
		case err != nil:
			t.Fatalf("submit %v: %v", params, err)
		case code == 0 && (r.Error != nil || string(r.Result) != "true"):
			t.Errorf("submit %v: %s %v, want true", params, r.Result, r.Error)
		case code != 0 && (r.Error == nil || r.Error.Code != code):
			t.Errorf("submit %v: %s %v, want error %d", params, r.Result, r.Error, code)
		}
	}
	good := sv1.Uint32Hex(grindSv1(t, j, en1, en2, c.Difficulty(), true))
	low := sv1.Uint32Hex(grindSv1(t, j, en1, en2, c.Difficulty(), false))

	expect(sv1.CodeUnauthorized, "mallory", j.ID, e2, ntime, good)
	expect(sv1.CodeJobNotFound, "carol", "ffffffff", e2, ntime, good)
	expect(sv1.CodeJobNotFound, "carol", "", e2, ntime, good)
	expect(sv1.CodeOther, "carol", j.ID, e2[2:], ntime, good)
	expect(sv1.CodeOther, "carol", j.ID, e2+"00", ntime, good)
	expect(sv1.CodeOther, "carol", j.ID, strings.Repeat("zz", size), ntime, good)
	expect(sv1.CodeOther, "carol", j.ID, e2, "xyz", good)
	expect(sv1.CodeOther, "carol", j.ID, e2, "123456789", good)
	expect(sv1.CodeOther, "carol", j.ID, e2, ntime, "")
	expect(sv1.CodeOther, "carol", j.ID, e2, ntime, "-1")
	expect(sv1.CodeOther, "carol", j.ID, e2, ntime, good, "ffffffff") // version bits without rolling
	expect(sv1.CodeOther, 5, j.ID, e2, ntime, good)
	expect(sv1.CodeOther, "carol", j.ID, e2)
	expect(sv1.CodeOther, "carol", 7, e2, ntime, good)
	expect(0, "carol", j.ID, e2, ntime, good)
	expect(sv1.CodeDuplicate, "carol", j.ID, e2, ntime, good)
	expect(sv1.CodeLowDifficulty, "carol", j.ID, e2, ntime, low)
	sv1Barrier(t, c)
	if got := p.Stats().Users["carol"].Accepted; got != 1 {
		t.Errorf("carol credited with %d shares, want 1", got)
	}
	sv1Honest(t, p, addr, "honest-codes")
}

// sv1Logs collects a pool's log lines.
type sv1Logs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *sv1Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// removal returns the reason the service logged for removing client id.
func (l *sv1Logs) removal(id service.ClientID) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, `msg="client removed"`) && strings.Contains(line, fmt.Sprintf(" client=%d ", id)) {
			_, reason, _ := strings.Cut(line, "reason=")
			return strings.TrimSpace(reason), true
		}
	}
	return "", false
}

func sv1InfoLogs(c *Config) *sv1Logs {
	l := &sv1Logs{}
	c.Logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return l
}

// sv1Hostile subscribes and authorizes user from address from, and returns
// the device, its client id, its first job's id and ntime, and its
// extranonce2 size.
func sv1Hostile(t *testing.T, p *testPool, addr, from, user string) (q *sv1Peer, id service.ClientID, job, ntime string, size int) {
	t.Helper()
	q = dialSv1Peer(t, addr, from)
	_, _, size = q.subscribe("")
	q.expectCode(0, "mining.authorize", user, "x")
	n := q.note("mining.notify")
	json.Unmarshal(n.Params[0], &job)
	json.Unmarshal(n.Params[7], &ntime)
	for _, c := range p.server.Clients() {
		if c.Gateway == sv1.Name && c.Source() == from {
			id = c.ID
		}
	}
	return q, id, job, ntime, size
}

// sv1Pipeline writes n submits of job (stale ones for job "nojob") without
// reading, in the background; the channel gets the writer's end.
func sv1Pipeline(q *sv1Peer, user, job, ntime string, size, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		q.nc.SetWriteDeadline(time.Now().Add(4 * waitLimit))
		bw := bufio.NewWriterSize(q.nc, 1<<16)
		for i := range n {
			if _, err := fmt.Fprintf(bw, `{"id":%d,"method":"mining.submit","params":["%s","%s","%0*x","%s","%08x"]}`+"\n", i, user, job, 2*size, i, ntime, i); err != nil {
				done <- err
				return
			}
		}
		done <- bw.Flush()
	}()
	return done
}

// A device that pipelines 100000 submits and never reads an answer is
// closed: real shares, which wait for the handler, by MaxPending; stale
// ones, which the gateway answers itself, by the write timeout once the
// socket is full. The pool's memory stays bounded and the honest device
// mines meanwhile.
func TestSv1AttackNeverReads(t *testing.T) {
	const writeTimeout = 2 * time.Second
	p, addr := startSv1Pool(t, 4, func(c *Config) { c.Sv1.WriteTimeout = writeTimeout })
	for _, kind := range []string{"shares", "stale submits"} {
		t.Run(kind, func(t *testing.T) {
			user := strings.ReplaceAll(kind, " ", "-")
			q, _, job, ntime, size := sv1Hostile(t, p, addr, "127.0.0.2", user)
			if kind == "stale submits" {
				job = "nojob"
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			var peak atomic.Uint64
			stopSampling, sampled := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(sampled)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-tick.C:
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > peak.Load() {
							peak.Store(ms.HeapInuse)
						}
					case <-stopSampling:
						return
					}
				}
			}()
			start := time.Now()
			written := sv1Pipeline(q, user, job, ntime, size, 100000)
			sv1Honest(t, p, addr, "honest-never-reads-"+user)
			sv1Until(t, 4*waitLimit, "the pool to close the device that does not read", func() bool { return sv1Clients(p, "127.0.0.2") == 0 })
			closedAfter := time.Since(start)
			err := <-written
			close(stopSampling)
			<-sampled
			grew := int64(peak.Load()) - int64(base)
			t.Logf("closed after %v; the writer: %v; heap at most %d MB over the start", closedAfter, err, grew>>20)
			if grew > 64<<20 {
				t.Errorf("the pool's heap grew by %d MB under a device that does not read", grew>>20)
			}
			sv1Honest(t, p, addr, "honest-after-never-reads-"+user)
		})
	}
}

// Found attacking the gateway (fixed): a device that reads every answer but pipelines its submits
// faster than the pool answers them (a burst, here of 5000, as firmware
// flushing the shares it queued during a stall, or a proxy for a farm,
// sends) is closed as "64 requests unanswered: the device does not read":
// wire.go handleLine counts the shares the handler has not answered yet
// (w.replies) against MaxPending and closes, though the device reads.
func TestSv1AttackPipelinedReaderClosed(t *testing.T) {
	logs := &sv1Logs{}
	p, addr := startSv1Pool(t, 4, func(c *Config) { logs = sv1InfoLogs(c) })
	q, id, job, ntime, size := sv1Hostile(t, p, addr, "127.0.0.2", "pipeline")
	const burst = 5000
	answered := make(chan int, 1)
	go func() {
		n := 0
		for n < burst {
			m, err := q.next(waitLimit)
			if err != nil {
				break
			}
			if m.Method == "" {
				n++
			}
		}
		answered <- n
	}()
	written := sv1Pipeline(q, "pipeline", job, ntime, size, burst)
	if n := recv(t, answered, "the answers"); n < burst {
		sv1Until(t, waitLimit, "the removal", func() bool { _, ok := logs.removal(id); return ok })
		reason, _ := logs.removal(id)
		t.Errorf("a device reading every answer was closed after %d answers to a burst of %d submits: %s", n, burst, reason)
	}
	<-written
	sv1Honest(t, p, addr, "honest-pipeline")
}

// Found attacking the gateway (fixed): a device closed for not reading, by the gateway's write
// timeout, is removed as inactive ("no message doing work for 5m0s", the
// service's ErrInactive, also given to the handler's ClientRemoved):
// wire.go flush wraps the write deadline's os.ErrDeadlineExceeded, which
// readLoop (service/server.go, errors.Is(err, os.ErrDeadlineExceeded))
// takes for its own read deadline.
func TestSv1AttackWriteTimeoutReportedAsInactivity(t *testing.T) {
	t.Parallel()
	logs := &sv1Logs{}
	p, addr := startSv1Pool(t, 4, func(c *Config) {
		c.Sv1.WriteTimeout = time.Second
		logs = sv1InfoLogs(c)
	})
	q, id, _, ntime, size := sv1Hostile(t, p, addr, "127.0.0.2", "slow")
	written := sv1Pipeline(q, "slow", "nojob", ntime, size, 200000)
	sv1Until(t, 4*waitLimit, "the pool to close the device that does not read", func() bool { return sv1Clients(p, "127.0.0.2") == 0 })
	<-written
	reason, ok := logs.removal(id)
	switch {
	case !ok:
		t.Fatalf("no removal logged for client %d", id)
	case !strings.Contains(reason, sv1.ErrWrite.Error()):
		t.Errorf("a device whose answers could not be written within the write timeout was removed for %q, want %q", reason, sv1.ErrWrite)
	}
}

// Thousands of sessions connect, subscribe with random session ids and
// leave, while the honest device mines: the resumption store keeps the
// Sessions newest and forgets the rest.
func TestSv1AttackSessionChurn(t *testing.T) {
	const keep = 32
	p, addr := startSv1Pool(t, 4, func(c *Config) { c.Sv1.Sessions = keep })
	goroutines := runtime.NumGoroutine()

	// The keepers stay connected through the churn: theirs are the newest sessions.
	keepers := make([]*sv1Peer, keep)
	kept := make([]string, keep)
	for i := range keepers {
		keepers[i] = dialSv1Peer(t, addr, fmt.Sprintf("127.0.0.%d", 3+i%4)) // a quarter of the store per address
		kept[i], _, _ = keepers[i].subscribe(randomSession())
	}

	const churn, workers = 2000, 8
	var mu sync.Mutex
	var churned []string
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < churn; i += workers {
				nc, err := dialSv1From(addr, "127.0.0.2")
				if err != nil {
					failed.Add(1)
					continue
				}
				nc.SetDeadline(time.Now().Add(waitLimit))
				fmt.Fprintf(nc, `{"id":1,"method":"mining.subscribe","params":["churn","%s"]}`+"\n", randomSession())
				line, err := bufio.NewReader(nc).ReadString('\n')
				nc.Close()
				var m sv1Msg
				var res []json.RawMessage
				var subs [][]string
				if err != nil || json.Unmarshal([]byte(line), &m) != nil || json.Unmarshal(m.Result, &res) != nil ||
					len(res) != 3 || json.Unmarshal(res[0], &subs) != nil || len(subs) == 0 || len(subs[0]) != 2 {
					failed.Add(1)
					continue
				}
				mu.Lock()
				churned = append(churned, subs[0][1])
				mu.Unlock()
			}
		})
	}
	sv1Honest(t, p, addr, "honest-churn")
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d churned sessions failed", n, churn)
	}
	sv1Until(t, waitLimit, "the churned sessions to be gone", func() bool { return sv1Clients(p, "") == keep })
	for _, k := range keepers {
		k.nc.Close()
	}
	sv1Until(t, waitLimit, "the keepers to be gone", func() bool { return sv1Clients(p, "") == 0 })

	for i, id := range kept {
		q := dialSv1Peer(t, addr, "")
		if got, _, _ := q.subscribe(id); got != id {
			t.Errorf("keeper %d: session %s not resumed (got %s)", i, id, got)
		}
		q.nc.Close()
	}
	resumed := 0
	for _, id := range churned[:200] {
		q := dialSv1Peer(t, addr, "")
		if got, _, _ := q.subscribe(id); got == id {
			resumed++
		}
		q.nc.Close()
	}
	if resumed > 0 {
		t.Errorf("%d of 200 churned sessions still resumable with Sessions %d", resumed, keep)
	}
	sv1Until(t, waitLimit, "the checks to be gone", func() bool { return sv1Clients(p, "") == 0 })
	sv1Until(t, waitLimit, "the goroutines to be back", func() bool { return runtime.NumGoroutine() < goroutines+64 })
}

// One address churning subscribes cannot evict another's resumable
// session: each address holds at most a quarter of the store (found
// attacking the gateway: the store was first-in first-out for all, and
// gateway connections have no per-source rate, the service's
// HandshakeRatePerSource being for Noise handshakes).
func TestSv1AttackSessionEvictionByOneAddress(t *testing.T) {
	const keep = 64
	p, addr := startSv1Pool(t, 4, func(c *Config) { c.Sv1.Sessions = keep })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "resumer", Password: "x", SuggestDifficulty: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	session := c.Session()
	if err := c.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	sv1Barrier(t, c)
	c.Close()
	sv1Until(t, waitLimit, "the device to be gone", func() bool { return sv1Clients(p, "") == 0 })
	start := time.Now()
	for range 2 * keep {
		q := dialSv1Peer(t, addr, "127.0.0.2")
		q.subscribe(randomSession())
		q.nc.Close()
	}
	sv1Until(t, waitLimit, "the churn to be gone", func() bool { return sv1Clients(p, "") == 0 })
	churn := time.Since(start)
	c, err = sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "resumer", Password: "x", Session: session})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Session(); got != session {
		t.Errorf("%d subscribes from one address (%v) evicted the session of a device on another: %s resumed as %s", 2*keep, churn, session, got)
	}
}

// One user per connection: a second, different user is refused with 24,
// as are names over 255 bytes and empty ones; the first user keeps mining.
func TestSv1AttackAuthorize(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "alice", Password: "x", SuggestDifficulty: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(code int, params ...any) {
		t.Helper()
		r, err := c.Call(ctx, "mining.authorize", params...)
		switch {
		case err != nil:
			t.Fatal(err)
		case code == 0 && (r.Error != nil || string(r.Result) != "true"):
			t.Errorf("authorize %.40v: %s %v, want true", params, r.Result, r.Error)
		case code != 0 && (r.Error == nil || r.Error.Code != code):
			t.Errorf("authorize %.40v: %s %v, want error %d", params, r.Result, r.Error, code)
		}
	}
	call(sv1.CodeUnauthorized, "mallory", "x")
	call(0, "alice", "x")
	call(sv1.CodeUnauthorized, strings.Repeat("m", 300), "x")
	call(sv1.CodeUnauthorized, "", "x")
	call(sv1.CodeOther, 12, "x")
	call(sv1.CodeOther)
	if err := c.Mine(ctx, 5); err != nil {
		t.Fatal(err)
	}
	sv1Barrier(t, c)
	s := p.Stats()
	if s.Users["alice"].Accepted != 5 || s.Users["mallory"].Accepted != 0 {
		t.Errorf("alice credited with %d, mallory with %d; want 5 and 0", s.Users["alice"].Accepted, s.Users["mallory"].Accepted)
	}

	q := dialSv1Peer(t, addr, "")
	q.subscribe("")
	q.expectCode(sv1.CodeUnauthorized, "mining.authorize", strings.Repeat("n", 256), "x")
	q.expectCode(0, "mining.authorize", strings.Repeat("n", 255), "x")
	sv1Honest(t, p, addr, "honest-authorize")
}

// Found attacking the gateway (fixed): a user name that is not UTF-8 is authorized. The gateway means
// to refuse it (wire.go authorize: !utf8.ValidString(user), code 24), but
// Request.String (json.go) decodes the parameter with encoding/json, which
// replaces invalid UTF-8 (and lone \ud800 surrogates) with U+FFFD: the check
// never fires, the device mines as "\ufffd" and distinct raw names
// ("\xff", "\xfe") share one account.
func TestSv1AttackAuthorizeInvalidUTF8(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	for _, name := range []string{"bad\xff\xfename", `bad\ud800name`} {
		q := dialSv1Peer(t, addr, "")
		q.subscribe("")
		q.write(`{"id":9,"method":"mining.authorize","params":["` + name + `","x"]}` + "\n")
		m, err := q.answer()
		if err != nil {
			t.Fatal(err)
		}
		if m.code() != sv1.CodeUnauthorized {
			t.Errorf("mining.authorize with the user %q (not UTF-8) answered %s, want error %d", name, m.raw, sv1.CodeUnauthorized)
		}
	}
	for user := range p.Stats().Users {
		if strings.ContainsRune(user, '\ufffd') {
			t.Logf("the pool's accounting has the user %q", user)
		}
	}
}

// mining.configure with absurd parameters is answered (an error or the
// extension refused), never a close or a panic; version rolling is limited
// to BIP 320's bits.
func TestSv1AttackConfigure(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	q := dialSv1Peer(t, addr, "")
	vr := []string{"version-rolling"}
	md := []string{"minimum-difficulty"}
	q.expectCode(sv1.CodeOther, "mining.configure", vr, map[string]any{"version-rolling.mask": "ffffffffff"})
	q.expectCode(sv1.CodeOther, "mining.configure", vr, map[string]any{"version-rolling.mask": "zz"})
	q.expectCode(sv1.CodeOther, "mining.configure", vr, map[string]any{"version-rolling.mask": ""})
	q.expectCode(sv1.CodeOther, "mining.configure", vr, map[string]any{"version-rolling.mask": 536862720})
	q.expectCode(sv1.CodeOther, "mining.configure", vr, "not an object")
	q.expectCode(sv1.CodeOther, "mining.configure", "not a list")
	q.expectCode(sv1.CodeOther, "mining.configure")
	q.expectCode(sv1.CodeOther, "mining.configure", strings.Split(strings.Repeat("x,", 16)+"x", ","))

	res := func(m sv1Msg) map[string]any {
		var r map[string]any
		if err := json.Unmarshal(m.Result, &r); err != nil {
			t.Errorf("configure result %s: %v", m.raw, err)
		}
		return r
	}
	r := res(q.expectCode(0, "mining.configure", vr, map[string]any{"version-rolling.mask": "ffffffff"}))
	if r["version-rolling"] != true || r["version-rolling.mask"] != "1fffe000" {
		t.Errorf("mask ffffffff: %v, want BIP 320's 1fffe000", r)
	}
	r = res(q.expectCode(0, "mining.configure", vr, map[string]any{"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 1e308}))
	if r["version-rolling"] != false {
		t.Errorf("min-bit-count 1e308: %v, want version rolling refused", r)
	}
	q.expectCode(0, "mining.configure", vr, map[string]any{"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": "NaN"})
	q.expectCode(0, "mining.configure", vr, map[string]any{"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": -5})
	// BIP 310: 0 takes the minimum away.
	if r := res(q.expectCode(0, "mining.configure", md, map[string]any{"minimum-difficulty.value": 0})); r["minimum-difficulty"] != true {
		t.Errorf("minimum-difficulty 0: %v, want accepted (no minimum)", r)
	}
	for _, v := range []any{-1, "NaN", "Infinity", "1e400", nil, []int{1}, -1e308} {
		r := res(q.expectCode(0, "mining.configure", md, map[string]any{"minimum-difficulty.value": v}))
		if r["minimum-difficulty"] != false {
			t.Errorf("minimum-difficulty %v: %v, want refused", v, r)
		}
	}
	r = res(q.expectCode(0, "mining.configure", []string{strings.Repeat("e", 1000), "\x01\x02"}, nil))
	if len(r) != 2 {
		t.Errorf("two unknown extensions answered %v", r)
	}
	for _, d := range []any{0, -1, -1e308, "NaN", "1", nil} {
		q.expectCode(sv1.CodeOther, "mining.suggest_difficulty", d)
	}
	sv1Honest(t, p, addr, "honest-configure")
}

// Found attacking the gateway (fixed): mining.configure's minimum-difficulty of 1e308 (any value whose
// target rounds to zero, from about 3e67) is answered true and then
// ignored: wire.go configure stores target.FromDifficulty's zero target as
// maxTarget, which authorize reads as "no minimum" (target.Max()), so the
// device is sent a difficulty far below the minimum it was promised.
func TestSv1AttackMinimumDifficultyOverflow(t *testing.T) {
	_, addr := startSv1Pool(t, 4, nil)
	for _, min := range []float64{1e308, 1e70} {
		q := dialSv1Peer(t, addr, "")
		m := q.expectCode(0, "mining.configure", []string{"minimum-difficulty"}, map[string]any{"minimum-difficulty.value": min})
		var r map[string]any
		json.Unmarshal(m.Result, &r)
		q.subscribe("")
		if a := q.call("mining.authorize", "minimum", "x"); a.code() != 0 {
			if r["minimum-difficulty"] == true {
				t.Errorf("minimum-difficulty %g accepted, then authorize refused: %s", min, a.raw)
			}
			continue
		}
		var diff float64
		json.Unmarshal(q.note("mining.set_difficulty").Params[0], &diff)
		if r["minimum-difficulty"] == true && diff < min {
			t.Errorf("minimum-difficulty %g answered true, then mining.set_difficulty %g", min, diff)
		}
	}
}

// Found attacking the gateway (fixed): mining.suggest_difficulty of 1e308 (anything from about 8e29,
// where the hashrate it means overflows a float32) is answered true, but
// the session's nominal hashrate becomes +Inf (wire.go suggestDifficulty:
// float32(target.Hashrate(...)), whose range check only covers the
// target), so the next mining.authorize is refused by the pool
// (invalid-nominal-hash-rate, code 24) and, on an open channel, the
// UpdateChannel is refused unseen.
func TestSv1AttackSuggestDifficultyOverflow(t *testing.T) {
	_, addr := startSv1Pool(t, 4, nil)
	for _, d := range []float64{1e308, 1e30} {
		q := dialSv1Peer(t, addr, "")
		q.subscribe("")
		s := q.call("mining.suggest_difficulty", d)
		a := q.call("mining.authorize", "suggest", "x")
		if s.code() == 0 && a.code() != 0 {
			t.Errorf("suggest_difficulty %g answered %s, then authorize refused: %s", d, s.raw, a.raw)
		}
	}
}

// When the pool stops, an authorized device gets client.reconnect before
// its connection closes.
func TestSv1AttackStopReconnectsAuthorized(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "stopping", Password: "x", SuggestDifficulty: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	sv1Barrier(t, c)
	raw := dialSv1Peer(t, addr, "")
	raw.subscribe("")
	raw.expectCode(0, "mining.authorize", "stopping-raw", "x")
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	recv(t, c.Done(), "the device's connection to close")
	if n := c.Reconnects.Load(); n != 1 {
		t.Errorf("the device got %d client.reconnect before the close, want 1", n)
	}
	raw.note("client.reconnect")
}

// Found attacking the gateway (fixed): when the pool stops, a device that subscribed but has no channel
// yet (not authorized, or its authorization still pending) is cut off with
// no client.reconnect: the only one is made from the CloseChannel that the
// pool's ClientStopping (apps/pool miner.go) sends for each open channel,
// and wire.go sends nothing for a session without one.
func TestSv1AttackStopReconnectsSubscribed(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	q := dialSv1Peer(t, addr, "")
	q.subscribe("")
	q.expectCode(sv1.CodeOther, "mining.ping") // set up, in order
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	got := false
	for _, m := range q.notes {
		got = got || m.Method == "client.reconnect"
	}
	for !got {
		m, err := q.next(waitLimit)
		if err != nil {
			break
		}
		got = m.Method == "client.reconnect"
	}
	if !got {
		t.Error("a subscribed device was disconnected by the pool's stop without client.reconnect")
	}
}

// Pool.CloseChannel on an idle device: it gets client.reconnect before the close.
func TestSv1AttackCloseChannelReconnects(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := sv1.Dial(ctx, sv1.ClientConfig{Address: addr, User: "closed", Password: "x", SuggestDifficulty: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	sv1Barrier(t, c)
	ch := p.Stats().Channels
	if len(ch) != 1 {
		t.Fatalf("%d channels", len(ch))
	}
	if err := p.CloseChannel(ctx, ch[0].Client, ch[0].Channel, "maintenance"); err != nil {
		t.Fatal(err)
	}
	recv(t, c.Done(), "the device's connection to close")
	if n := c.Reconnects.Load(); n != 1 {
		t.Errorf("the device got %d client.reconnect before the close, want 1", n)
	}
	sv1Honest(t, p, addr, "honest-close")
}

// Found attacking the gateway (fixed): Pool.CloseChannel on a device that keeps sending (here stale
// submits, as firmware sends right after a new tip) loses the
// client.reconnect in a few closes in a hundred: wire.go reconnect buffers
// it and sets w.ending, and if the reader takes a line before the writer's
// Flush, handleLine returns an error for the ending session (wire.go
// "the server ended the session"), readLoop removes the client, and
// wire.Close sets w.err, so flush drops the buffered client.reconnect.
// Under -race the window is hit within a hundred closes; without it, rarely.
func TestSv1AttackCloseChannelWhileSending(t *testing.T) {
	p, addr := startSv1Pool(t, 4, nil)
	const rounds = 300
	lost, i := 0, 0
	for ; i < rounds && lost < 3; i++ { // enough to show it, on a broken build
		user := fmt.Sprintf("sending%d", i)
		q, id, _, ntime, size := sv1Hostile(t, p, addr, "127.0.0.2", user)
		var channel uint32
		for _, ch := range p.Stats().Channels {
			if ch.Client == id {
				channel = ch.Channel
			}
		}
		got := make(chan bool, 1)
		go func() {
			saw := false
			for {
				m, err := q.next(waitLimit)
				if err != nil {
					break
				}
				saw = saw || m.Method == "client.reconnect"
			}
			got <- saw
		}()
		written := sv1Pipeline(q, user, "nojob", ntime, size, 1<<30)
		if err := p.CloseChannel(context.Background(), id, channel, "maintenance"); err != nil {
			t.Fatal(err)
		}
		if !recv(t, got, "the device's connection to close") {
			lost++
		}
		q.nc.Close()
		<-written
	}
	if lost > 0 {
		t.Errorf("%d of %d devices sending while the pool closed their channel got no client.reconnect", lost, i)
	}
	sv1Honest(t, p, addr, "honest-close-sending")
}
