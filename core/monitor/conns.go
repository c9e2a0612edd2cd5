package monitor

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// connTable keeps at most max connections: past it, a new connection
// takes the place of one not being answered (one that sent nothing, half a
// request, or waits idle between requests): the oldest of the source
// address holding the most, so that one host's flood evicts its own; and is
// closed itself only when every other is being answered. So connections
// that send nothing or send slowly cannot keep a scraper or the operator
// out.
type connTable struct {
	mu    sync.Mutex
	max   int
	seq   uint64
	conns map[net.Conn]*connEntry
}

type connEntry struct {
	seq     uint64 // the order of arrival
	source  string // the peer's address without the port
	serving int    // requests being answered on it
}

type connKey struct{}

func newConnTable(max int) *connTable {
	return &connTable{max: max, conns: map[net.Conn]*connEntry{}}
}

// connContext puts the connection in its requests' contexts (http.Server.ConnContext).
func (t *connTable) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// state follows the connections (http.Server.ConnState).
func (t *connTable) state(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		if victim := t.add(c); victim != nil {
			victim.Close()
		}
	case http.StateClosed, http.StateHijacked:
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}
}

// add records c and returns the connection to close for it, if any.
func (t *connTable) add(c net.Conn) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	t.conns[c] = &connEntry{seq: t.seq, source: sourceOf(c)}
	if len(t.conns) <= t.max {
		return nil
	}
	perSource := map[string]int{}
	for _, e := range t.conns {
		perSource[e.source]++
	}
	var victim net.Conn
	var best *connEntry
	for other, e := range t.conns {
		if other == c || e.serving > 0 {
			continue
		}
		if best == nil || perSource[e.source] > perSource[best.source] ||
			perSource[e.source] == perSource[best.source] && e.seq < best.seq {
			victim, best = other, e
		}
	}
	if victim == nil {
		victim = c // every other connection is being answered
	}
	delete(t.conns, victim)
	return victim
}

// serving marks the request's connection as being answered until the
// returned func is called.
func (t *connTable) serving(ctx context.Context) func() {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if c == nil { // a handler mounted elsewhere, or a test's
		return func() {}
	}
	t.mu.Lock()
	if e := t.conns[c]; e != nil {
		e.serving++
	}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		if e := t.conns[c]; e != nil {
			e.serving--
		}
		t.mu.Unlock()
	}
}

// recorder is a ResponseWriter that keeps the answer in memory.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, code: http.StatusOK} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }

func (r *recorder) copyTo(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.code)
	_, _ = w.Write(r.body) // the client went away: nothing to do
}

func sourceOf(c net.Conn) string {
	addr := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
