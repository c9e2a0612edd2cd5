package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/btcsuite/websocket"
)

// fakeNode is a JSON-RPC server with a chain of headers, enough of btcd to
// exercise the client. Handlers can be replaced per method.
type fakeNode struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	headers  []wire.BlockHeader // index = height
	methods  map[string]func(params []json.RawMessage) (any, *rpcErrorObject)
	down     bool // hijack and drop every connection
	noWS     bool // answer /ws like Bitcoin Core: 405
	wsConns  []*wsPeer
	wsNotify chan struct{}                // signalled when a websocket client subscribes
	changed  chan struct{}                // closed and replaced by every mine
	calls    map[string]int               // JSON-RPC calls by method, "/ws" for upgrades
	params   map[string][]json.RawMessage // the latest params, by method
	forbid   map[string]bool              // methods answered with HTTP 403, as -rpcwhitelist does
	busy     int                          // answer this many more requests with Bitcoin Core's HTTP 503
}

func (f *fakeNode) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	f := &fakeNode{t: t, methods: map[string]func([]json.RawMessage) (any, *rpcErrorObject){}, wsNotify: make(chan struct{}, 16), changed: make(chan struct{}), calls: map[string]int{},
		params: map[string][]json.RawMessage{}, forbid: map[string]bool{}}
	f.headers = []wire.BlockHeader{{Version: 1, Bits: 0x207fffff, Timestamp: time.Unix(1296688602, 0)}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.mu.Lock()
		for _, c := range f.wsConns {
			c.conn.Close()
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeNode) client(t *testing.T, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: f.srv.URL, User: "user", Password: "pass", RequestTimeout: 5 * time.Second, Logger: testLogger(t)}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testLogger writes through t.Log, so logs show with the failing test only.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// templateReply is a getblocktemplate answer on the current tip.
func (f *fakeNode) templateReply() map[string]any {
	tip := f.tip()
	return map[string]any{
		"version": 0x20000000, "previousblockhash": tip.Hash.String(), "height": tip.Height + 1,
		"coinbasevalue": 5000000000, "bits": "207fffff", "target": "7fffff" + strings.Repeat("0", 58),
		"curtime": 1795704551, "mintime": 1795704551, "longpollid": tip.Hash.String(), "transactions": []any{},
	}
}

func (f *fakeNode) tip() Tip {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.headers[len(f.headers)-1]
	return Tip{Hash: h.BlockHash(), Height: int64(len(f.headers) - 1)}
}

// mine appends a block and notifies websocket subscribers the way btcd
// does: blockconnected, then filteredblockconnected.
func (f *fakeNode) mine() Tip {
	f.mu.Lock()
	prev := f.headers[len(f.headers)-1]
	h := wire.BlockHeader{Version: 0x20000000, PrevBlock: prev.BlockHash(), Bits: prev.Bits, Timestamp: prev.Timestamp.Add(time.Second)}
	f.headers = append(f.headers, h)
	height := len(f.headers) - 1
	conns := append([]*wsPeer(nil), f.wsConns...)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()

	var buf bytes.Buffer
	h.Serialize(&buf)
	for _, c := range conns {
		c.write(map[string]any{"jsonrpc": "1.0", "id": nil, "method": "blockconnected", "params": []any{h.BlockHash().String(), height, h.Timestamp.Unix()}})
		c.write(map[string]any{"jsonrpc": "1.0", "id": nil, "method": "filteredblockconnected", "params": []any{height, hex.EncodeToString(buf.Bytes()), nil}})
	}
	return Tip{Hash: h.BlockHash(), Height: int64(height)}
}

func (f *fakeNode) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	conns := f.wsConns
	if down {
		f.wsConns = nil
	}
	f.mu.Unlock()
	if down {
		for _, c := range conns {
			c.conn.Close()
		}
	}
}

// wsPeer serialises writes to one websocket client: replies and
// notifications come from different goroutines.
type wsPeer struct {
	conn *websocket.Conn
	mu   sync.Mutex
}

func (p *wsPeer) write(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn.WriteJSON(v)
}

func (f *fakeNode) handle(method string, h func(params []json.RawMessage) (any, *rpcErrorObject)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.methods[method] = h
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down, noWS := f.down, f.noWS
	f.mu.Unlock()
	if down {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	f.mu.Lock()
	busy := f.busy > 0
	if busy {
		f.busy--
	}
	f.mu.Unlock()
	if busy {
		// As Bitcoin Core's HTTP server answers when its work queue is full.
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("Work queue depth exceeded"))
		return
	}
	if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("user:pass")) {
		http.Error(w, "401 Unauthorized.", http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/ws" {
		f.mu.Lock()
		f.calls["/ws"]++
		f.mu.Unlock()
		if noWS {
			http.Error(w, "JSONRPC server handles only POST requests", http.StatusMethodNotAllowed)
			return
		}
		f.serveWS(w, r)
		return
	}
	type request struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// A JSON-RPC batch is an array of requests, answered, as btcd and
	// Bitcoin Core do, by an array of replies in the same order.
	batch := bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))
	var reqs []request
	if batch {
		err = json.Unmarshal(body, &reqs)
	} else {
		reqs = make([]request, 1)
		err = json.Unmarshal(body, &reqs[0])
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	if batch {
		f.calls["(batch)"]++
	}
	forbidden := false
	for _, req := range reqs {
		f.calls[req.Method]++
		f.params[req.Method] = req.Params
		forbidden = forbidden || f.forbid[req.Method]
	}
	f.mu.Unlock()
	if forbidden {
		http.Error(w, "", http.StatusForbidden)
		return
	}
	replies := make([]map[string]any, len(reqs))
	for i, req := range reqs {
		result, rpcErr := f.dispatch(r.Context(), req.Method, req.Params)
		replies[i] = map[string]any{"result": result, "error": rpcErr, "id": req.ID}
	}
	w.Header().Set("Content-Type", "application/json")
	if batch {
		json.NewEncoder(w).Encode(replies)
		return
	}
	json.NewEncoder(w).Encode(replies[0])
}

func (f *fakeNode) dispatch(ctx context.Context, method string, params []json.RawMessage) (any, *rpcErrorObject) {
	f.mu.Lock()
	h := f.methods[method]
	f.mu.Unlock()
	if h != nil {
		return h(params)
	}
	switch method {
	case "getblocktemplate":
		// Long poll: hold the request until the tip moves (or a while passes,
		// as real nodes do when only the mempool changed).
		var req struct {
			LongPollID string `json:"longpollid"`
		}
		json.Unmarshal(params[0], &req)
		f.mu.Lock()
		changed := f.changed
		f.mu.Unlock()
		if req.LongPollID == f.tip().Hash.String() {
			select {
			case <-changed:
			case <-ctx.Done():
				return nil, nil
			case <-time.After(5 * time.Second):
			}
		}
		return f.templateReply(), nil
	case "getbestblockhash":
		return f.tip().Hash.String(), nil
	case "getblockcount":
		return f.tip().Height, nil
	case "getblockheader":
		var s string
		json.Unmarshal(params[0], &s)
		hash, _ := chainhash.NewHashFromStr(s)
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, h := range f.headers {
			if h.BlockHash() == *hash {
				return map[string]any{"hash": s, "height": i, "previousblockhash": h.PrevBlock.String()}, nil
			}
		}
		return nil, &rpcErrorObject{Code: CodeInvalidAddrKey, Message: "Block not found"}
	}
	return nil, &rpcErrorObject{Code: CodeMethodNotFound, Message: "Method not found"}
}

func (f *fakeNode) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	// Answer requests until the client goes; only notifyblocks is known.
	// The connection is hijacked, so blocking this handler holds up nothing.
	p := &wsPeer{conn: conn}
	defer conn.Close()
	for {
		var req struct {
			ID     uint64 `json:"id"`
			Method string `json:"method"`
		}
		if err := conn.ReadJSON(&req); err != nil {
			return
		}
		if req.Method != "notifyblocks" {
			p.write(map[string]any{"id": req.ID, "result": nil, "error": rpcErrorObject{Code: CodeMethodNotFound, Message: "Method not found"}})
			continue
		}
		// Register before replying, as btcd does, so no block is missed.
		f.mu.Lock()
		f.wsConns = append(f.wsConns, p)
		f.mu.Unlock()
		p.write(map[string]any{"id": req.ID, "result": nil, "error": nil})
		select {
		case f.wsNotify <- struct{}{}:
		default:
		}
	}
}

func (f *fakeNode) lastParams(method string) []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.params[method]
}

// coreWaits serves Bitcoin Core's waitfornewblock and waitforblockheight:
// as v30 does (waitfornewblock takes our tip), or as earlier versions do
// (waitfornewblock takes a timeout only, and an extra argument is answered
// with error -1 and the help text). Like Core, a wait goes on when its
// client leaves, until its condition holds or its timeout passes. waits
// counts the waits under way.
type coreWaits struct {
	f       *fakeNode
	mu      sync.Mutex
	running int
	started chan struct{} // signalled as each wait begins
}

func (f *fakeNode) serveCoreWaits(v30 bool) *coreWaits {
	cw := &coreWaits{f: f, started: make(chan struct{}, 64)}
	f.handle("waitfornewblock", func(p []json.RawMessage) (any, *rpcErrorObject) {
		if !v30 && len(p) > 1 {
			return nil, &rpcErrorObject{Code: CodeMisc, Message: "waitfornewblock ( timeout )\n\nWaits for a specific new block..."}
		}
		var ms int64
		json.Unmarshal(p[0], &ms)
		tip := f.tip().Hash.String()
		if len(p) > 1 {
			json.Unmarshal(p[1], &tip)
		}
		return cw.wait(ms, func(t Tip) bool { return t.Hash.String() != tip }), nil
	})
	f.handle("waitforblockheight", func(p []json.RawMessage) (any, *rpcErrorObject) {
		var height, ms int64
		json.Unmarshal(p[0], &height)
		json.Unmarshal(p[1], &ms)
		return cw.wait(ms, func(t Tip) bool { return t.Height >= height }), nil
	})
	return cw
}

func (cw *coreWaits) wait(ms int64, done func(Tip) bool) any {
	cw.mu.Lock()
	cw.running++
	cw.mu.Unlock()
	defer func() {
		cw.mu.Lock()
		cw.running--
		cw.mu.Unlock()
	}()
	select {
	case cw.started <- struct{}{}:
	default:
	}
	var deadline <-chan time.Time
	if ms > 0 {
		deadline = time.After(time.Duration(ms) * time.Millisecond)
	}
	for {
		cw.f.mu.Lock()
		changed := cw.f.changed
		cw.f.mu.Unlock()
		tip := cw.f.tip()
		if done(tip) {
			return map[string]any{"hash": tip.Hash.String(), "height": tip.Height}
		}
		select {
		case <-changed:
		case <-deadline:
			tip := cw.f.tip()
			return map[string]any{"hash": tip.Hash.String(), "height": tip.Height}
		}
	}
}

func (cw *coreWaits) waiting() int {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.running
}
