package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// statsServer answers JSON-RPC by method name: "ok" with a result, "fail"
// with an RPC error, "plain500" with an HTTP 500 that is not JSON, "badhex"
// with a result that is no hex, "hang" not at all until the client goes
// away (it says on entered when a request arrives). A batch is answered
// element by element: a result, or an error object when the element's
// first param is "err".
func statsServer(t *testing.T) (srv *httptest.Server, entered <-chan struct{}) {
	t.Helper()
	in := make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var batch []rpcRequest
		if json.Unmarshal(body, &batch) == nil {
			out := make([]map[string]any, len(batch))
			for i, req := range batch {
				out[i] = map[string]any{"id": req.ID, "result": "x", "error": nil}
				if len(req.Params) > 0 && req.Params[0] == "err" {
					out[i] = map[string]any{"id": req.ID, "result": nil, "error": rpcErrorObject{Code: CodeInvalidAddrKey, Message: "no such tx"}}
				}
			}
			json.NewEncoder(w).Encode(out)
			return
		}
		var req rpcRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch req.Method {
		case "ok":
			json.NewEncoder(w).Encode(map[string]any{"id": req.ID, "result": 1, "error": nil})
		case "badhex":
			json.NewEncoder(w).Encode(map[string]any{"id": req.ID, "result": "not hex", "error": nil})
		case "fail":
			w.WriteHeader(http.StatusInternalServerError) // as Bitcoin Core answers RPC errors
			json.NewEncoder(w).Encode(map[string]any{"id": req.ID, "result": nil, "error": rpcErrorObject{Code: CodeMisc, Message: "boom"}})
		case "plain500":
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		case "hang":
			in <- struct{}{}
			<-r.Context().Done()
		default:
			t.Errorf("statsServer: unexpected method %q", req.Method)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, in
}

func statsClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(Config{URL: url, User: "u", Password: "p", RequestTimeout: 5 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// checkStats fails unless s has the wanted counts and its buckets are
// cumulative, as many as the bounds, and end at Timed (every call in these
// tests takes far less than the last bound).
func checkStats(t *testing.T, s RPCStats, requests, errs, timed uint64) {
	t.Helper()
	if s.Requests != requests || s.Errors != errs || s.Timed != timed {
		t.Fatalf("RPCStats = %d requests, %d errors, %d timed; want %d, %d, %d", s.Requests, s.Errors, s.Timed, requests, errs, timed)
	}
	if len(s.Buckets) != len(LatencyBounds()) {
		t.Fatalf("%d buckets for %d bounds", len(s.Buckets), len(LatencyBounds()))
	}
	if !slices.IsSorted(s.Buckets) {
		t.Fatalf("buckets %v not cumulative", s.Buckets)
	}
	if last := s.Buckets[len(s.Buckets)-1]; last != s.Timed {
		t.Fatalf("last bucket %d, want Timed %d", last, s.Timed)
	}
	if (s.Timed == 0) != (s.Seconds == 0) || s.Seconds < 0 {
		t.Fatalf("Seconds %v for %d timed calls", s.Seconds, s.Timed)
	}
}

func TestRPCStatsCalls(t *testing.T) {
	srv, _ := statsServer(t)
	c := statsClient(t, srv.URL)
	ctx := t.Context()
	checkStats(t, c.RPCStats(), 0, 0, 0)

	for range 3 {
		if err := c.Call(ctx, "ok", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkStats(t, c.RPCStats(), 3, 0, 3)

	var rpcErr *RPCError
	if err := c.Call(ctx, "fail", nil, nil); !errors.As(err, &rpcErr) {
		t.Fatalf("fail: %v, want an *RPCError", err)
	}
	checkStats(t, c.RPCStats(), 4, 1, 4)

	if err := c.Call(ctx, "plain500", nil, nil); !errors.Is(err, ErrMalformedReply) {
		t.Fatalf("plain500: %v, want ErrMalformedReply", err)
	}
	checkStats(t, c.RPCStats(), 5, 2, 5)

	// A reply that decodes as JSON but not as what the method returns is
	// a failed call too, counted once.
	if _, err := c.callHex(ctx, "badhex", nil); !errors.Is(err, ErrMalformedReply) {
		t.Fatalf("badhex: %v, want ErrMalformedReply", err)
	}
	checkStats(t, c.RPCStats(), 6, 3, 6)
}

func TestRPCStatsTransportError(t *testing.T) {
	srv, _ := statsServer(t)
	c := statsClient(t, srv.URL)
	srv.Close()
	if err := c.Call(t.Context(), "ok", nil, nil); !errors.Is(err, ErrConnection) {
		t.Fatalf("closed server: %v, want ErrConnection", err)
	}
	checkStats(t, c.RPCStats(), 1, 1, 1)
}

// A call the caller cancels is no failure of the node; one whose deadline
// passes is.
func TestRPCStatsContext(t *testing.T) {
	srv, entered := statsServer(t)
	c := statsClient(t, srv.URL)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, "hang", nil, nil) }()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	checkStats(t, c.RPCStats(), 1, 0, 1)

	// The same for a long poll, which is not timed.
	ctx, cancel = context.WithCancel(t.Context())
	go func() { errc <- c.callNoTimeout(ctx, "hang", nil, nil) }()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled long poll: %v, want context.Canceled", err)
	}
	checkStats(t, c.RPCStats(), 2, 0, 1)

	ctx, cancel = context.WithDeadline(t.Context(), time.Now()) // passed already
	defer cancel()
	if err := c.Call(ctx, "ok", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v, want context.DeadlineExceeded", err)
	}
	checkStats(t, c.RPCStats(), 3, 1, 2)
}

// Long polls count as calls and failures, but not in the latencies.
func TestRPCStatsLongPoll(t *testing.T) {
	srv, _ := statsServer(t)
	c := statsClient(t, srv.URL)
	if err := c.callNoTimeout(t.Context(), "ok", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.callNoTimeout(t.Context(), "fail", nil, nil); err == nil {
		t.Fatal("fail: no error")
	}
	s := c.RPCStats()
	checkStats(t, s, 2, 1, 0)
	if s.Buckets[len(s.Buckets)-1] != 0 {
		t.Fatalf("long polls in the buckets: %v", s.Buckets)
	}
}

// A batch is one call; an error object for one of its elements is no
// failure of the batch, a reply of the wrong shape is.
func TestRPCStatsBatch(t *testing.T) {
	srv, _ := statsServer(t)
	c := statsClient(t, srv.URL)
	if _, err := c.callBatch(t.Context(), "getrawtransaction", nil); err != nil {
		t.Fatal(err)
	}
	checkStats(t, c.RPCStats(), 0, 0, 0) // an empty batch sends nothing

	replies, err := c.callBatch(t.Context(), "getrawtransaction", [][]any{{"a"}, {"err"}, {"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 3 || replies[1].Err == nil {
		t.Fatalf("replies %+v, want 3 with an error for the second", replies)
	}
	checkStats(t, c.RPCStats(), 1, 0, 1)

	// "ok" answers an object where the batch wants an array.
	shape := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"result":1,"error":null,"id":1}`))
	}))
	t.Cleanup(shape.Close)
	c2 := statsClient(t, shape.URL)
	if _, err := c2.callBatch(t.Context(), "getrawtransaction", [][]any{{"a"}, {"b"}}); !errors.Is(err, ErrMalformedReply) {
		t.Fatalf("batch answered with an object: %v, want ErrMalformedReply", err)
	}
	checkStats(t, c2.RPCStats(), 1, 1, 1)
}

// Each latency lands in the first bucket whose bound it does not exceed,
// and every later one; one above every bound in Timed alone.
func TestRPCStatsBuckets(t *testing.T) {
	var s rpcCounters
	for _, d := range []time.Duration{
		500 * time.Microsecond, // <= 0.001
		time.Millisecond,       // <= 0.001: the bounds are inclusive
		3 * time.Millisecond,   // <= 0.005
		700 * time.Millisecond, // <= 1
		20 * time.Second,       // above 10
	} {
		s.observe(d)
	}
	got := s.snapshot()
	want := []uint64{2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4}
	if !slices.Equal(got.Buckets, want) {
		t.Fatalf("buckets %v, want %v (bounds %v)", got.Buckets, want, LatencyBounds())
	}
	if got.Timed != 5 {
		t.Fatalf("Timed %d, want 5", got.Timed)
	}
	if wantSecs := 20.7045; got.Seconds < wantSecs-1e-9 || got.Seconds > wantSecs+1e-9 {
		t.Fatalf("Seconds %v, want %v", got.Seconds, wantSecs)
	}
}

func TestLatencyBounds(t *testing.T) {
	b := LatencyBounds()
	if len(b) != numBuckets || !slices.IsSorted(b) || b[0] != 0.001 || b[len(b)-1] != 10 {
		t.Fatalf("LatencyBounds() = %v", b)
	}
	b[0] = 99
	if LatencyBounds()[0] != 0.001 {
		t.Fatal("changing the returned bounds changed the package's")
	}
}

// RPCStats may be read while calls run, and what it reads is consistent.
func TestRPCStatsConcurrent(t *testing.T) {
	srv, _ := statsServer(t)
	c := statsClient(t, srv.URL)
	const callers, calls = 8, 20
	var wg sync.WaitGroup
	for i := range callers {
		method := "ok"
		if i%2 == 1 {
			method = "fail"
		}
		wg.Go(func() {
			for range calls {
				c.Call(t.Context(), method, nil, nil)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for running := true; running; {
		select {
		case <-finished:
			running = false
		default:
		}
		s := c.RPCStats()
		if s.Buckets[len(s.Buckets)-1] > s.Timed || s.Timed > s.Requests || s.Errors > s.Requests {
			t.Fatalf("inconsistent snapshot %+v", s)
		}
	}
	checkStats(t, c.RPCStats(), callers*calls, callers/2*calls, callers*calls)
}
