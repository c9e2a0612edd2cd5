package tpclient

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

const waitLimit = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// provider answers constraints with a template and its prev hash, and
// every RequestTransactionData with one transaction naming the template.
type provider struct {
	service.NullTemplateDistributionServerHandler
	constraints chan *sv2.CoinbaseOutputConstraints
	next        uint64
}

func (p *provider) CoinbaseOutputConstraints(_ context.Context, c service.ClientID, m *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	p.constraints <- m
	var events []service.ServerEvent
	for range 3 { // a few templates, so that only the newest are kept
		p.next++
		events = append(events, service.SendToClient{Client: c, Message: &sv2.NewTemplate{TemplateID: p.next, FutureTemplate: true, CoinbaseTxValueRemaining: 50}})
	}
	events = append(events, service.SendToClient{Client: c, Message: &sv2.TemplateSetNewPrevHash{TemplateID: p.next, PrevHash: sv2.U256{0: byte(p.next)}}})
	return events, nil
}

func (p *provider) RequestTransactionData(_ context.Context, c service.ClientID, m *sv2.RequestTransactionData) ([]service.ServerEvent, error) {
	return []service.ServerEvent{service.SendToClient{Client: c, Message: &sv2.RequestTransactionDataSuccess{TemplateID: m.TemplateID, TransactionList: [][]byte{{byte(m.TemplateID)}}}}}, nil
}

func runProvider(t *testing.T, ln net.Listener) (*provider, context.CancelFunc, <-chan error) {
	t.Helper()
	p := &provider{constraints: make(chan *sv2.CoinbaseOutputConstraints, 10)}
	srv, err := service.NewServerService(service.ServerConfig{Listener: ln, Plain: true, TemplateDistribution: &service.ProtocolConfig{}}, nil, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return p, cancel, done
}

// The handler states the constraints on each connection, hands templates
// and tips to the app in order, keeps the newest templates' transactions
// only, and reconnects after the provider restarts.
func TestHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	p, stopProvider, stopped := runProvider(t, ln)

	got := make(chan string, 100)
	connected := make(chan service.ServerInfo, 10)
	h := New(Config{
		Constraints:       sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 43, CoinbaseOutputMaxAdditionalSigops: 1},
		FetchTransactions: true, KeepTemplates: 2,
		Backoff: backoff.Backoff{Base: time.Millisecond, Cap: 10 * time.Millisecond},
		OnConnected: func(_ context.Context, s service.ServerInfo) []service.ClientEvent {
			connected <- s
			return nil
		},
		OnTemplate: func(_ context.Context, m *sv2.NewTemplate) []service.ClientEvent {
			got <- "template"
			return nil
		},
		OnPrevHash: func(_ context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
			got <- "prevhash"
			return nil
		},
		OnTransactions: func(_ context.Context, id uint64, txs [][]byte) []service.ClientEvent {
			got <- "txs"
			return nil
		},
	})
	cli, err := service.NewClientService(service.ClientConfig{TemplateDistribution: &service.UpstreamConfig{Address: addr, Plain: true}}, nil, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	defer func() {
		cancel()
		if err := recv(t, done, "the client to stop"); !errors.Is(err, service.ErrStopped) {
			t.Errorf("client: %v", err)
		}
	}()

	recv(t, connected, "Connected")
	if c := recv(t, p.constraints, "the constraints"); c.CoinbaseOutputMaxAdditionalSize != 43 || c.CoinbaseOutputMaxAdditionalSigops != 1 {
		t.Fatalf("constraints %+v", c)
	}
	var seq []string
	for range 7 { // 3 templates, the prev hash, 3 transaction lists
		seq = append(seq, recv(t, got, "a hook"))
	}
	templates := 0
	for _, hook := range seq {
		if hook == "template" {
			templates++
		}
		if hook == "prevhash" && templates != 3 {
			t.Fatalf("the prev hash before its templates: %v", seq)
		}
	}
	// The prev hash named the last future template: read here, off the
	// client's goroutine.
	if cur, ok := h.Current(); !ok || cur.TemplateID != 3 || cur.PrevHash != (sv2.U256{0: 3}) || cur.Value != 50 {
		t.Errorf("Current() = %+v, %v; want template 3 on prev hash 03", cur, ok)
	}
	if _, ok := h.Transactions(1); ok {
		t.Error("the oldest template's transactions kept beyond KeepTemplates")
	}
	for _, id := range []uint64{2, 3} {
		if txs, ok := h.Transactions(id); !ok || txs[0][0] != byte(id) {
			t.Errorf("template %d: %v %v", id, txs, ok)
		}
	}

	// The provider goes away and comes back on the same address.
	stopProvider()
	recv(t, stopped, "the provider to stop")
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	p2, stop2, stopped2 := runProvider(t, ln2)
	defer func() { stop2(); <-stopped2 }()
	recv(t, connected, "Connected again")
	recv(t, p2.constraints, "the constraints again")
}

// testClock is a clock the test moves by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func newCurrentHandler(t *testing.T) (*Handler, *testClock) {
	t.Helper()
	c := &testClock{t: time.Unix(1_700_000_000, 0)}
	return New(Config{Now: c.now}), c
}

func sendTemplate(t *testing.T, h *Handler, id uint64, future bool, value uint64) {
	t.Helper()
	if _, err := h.NewTemplate(t.Context(), &sv2.NewTemplate{TemplateID: id, FutureTemplate: future, CoinbaseTxValueRemaining: value}); err != nil {
		t.Fatal(err)
	}
}

func sendPrevHash(t *testing.T, h *Handler, id uint64, prev sv2.U256) {
	t.Helper()
	if _, err := h.SetNewPrevHash(t.Context(), &sv2.TemplateSetNewPrevHash{TemplateID: id, PrevHash: prev}); err != nil {
		t.Fatal(err)
	}
}

func expectCurrent(t *testing.T, h *Handler, want Current) {
	t.Helper()
	got, ok := h.Current()
	if !ok || got != want {
		t.Fatalf("Current() = %+v, %v; want %+v, true", got, ok, want)
	}
}

// A template that is not a future one is current at once, on the latest
// prev hash.
func TestCurrentNonFuture(t *testing.T) {
	h, clock := newCurrentHandler(t)
	if cur, ok := h.Current(); ok {
		t.Fatalf("Current() before any template = %+v, true", cur)
	}
	sendTemplate(t, h, 1, false, 100)
	expectCurrent(t, h, Current{TemplateID: 1, Value: 100, Height: -1, Since: clock.t}) // no prev hash yet

	sendPrevHash(t, h, 1, sv2.U256{0xaa})
	clock.t = clock.t.Add(time.Minute)
	sendTemplate(t, h, 2, false, 200)
	expectCurrent(t, h, Current{TemplateID: 2, PrevHash: sv2.U256{0xaa}, Value: 200, Height: -1, Since: clock.t})
}

// A future template waits for the prev hash that names it.
func TestCurrentFutureThenPrevHash(t *testing.T) {
	h, clock := newCurrentHandler(t)
	start := clock.t
	sendTemplate(t, h, 1, false, 100)
	clock.t = clock.t.Add(time.Second)
	sendTemplate(t, h, 2, true, 200)
	sendTemplate(t, h, 3, true, 300)
	expectCurrent(t, h, Current{TemplateID: 1, Value: 100, Height: -1, Since: start}) // future templates are not current yet

	clock.t = clock.t.Add(time.Second)
	sendPrevHash(t, h, 2, sv2.U256{0xbb})
	expectCurrent(t, h, Current{TemplateID: 2, PrevHash: sv2.U256{0xbb}, Value: 200, Height: -1, Since: clock.t})

	// A disconnect leaves it current, growing old.
	if _, err := h.Disconnected(t.Context(), errors.New("gone")); err != nil {
		t.Fatal(err)
	}
	expectCurrent(t, h, Current{TemplateID: 2, PrevHash: sv2.U256{0xbb}, Value: 200, Height: -1, Since: clock.t})
}

// A prev hash naming a template not remembered keeps the template but
// moves it to the new prev hash; before any template, there is still none.
func TestCurrentPrevHashUnknownTemplate(t *testing.T) {
	h, clock := newCurrentHandler(t)
	sendPrevHash(t, h, 9, sv2.U256{0x01})
	if cur, ok := h.Current(); ok {
		t.Fatalf("Current() after a prev hash alone = %+v, true", cur)
	}
	sendTemplate(t, h, 1, false, 100)
	expectCurrent(t, h, Current{TemplateID: 1, PrevHash: sv2.U256{0x01}, Value: 100, Height: -1, Since: clock.t})

	clock.t = clock.t.Add(time.Minute)
	sendPrevHash(t, h, 42, sv2.U256{0x02})
	expectCurrent(t, h, Current{TemplateID: 1, PrevHash: sv2.U256{0x02}, Value: 100, Height: -1, Since: clock.t})
}

// Only the latest future templates are remembered, and only those of the
// current connection.
func TestCurrentFutureBound(t *testing.T) {
	h, clock := newCurrentHandler(t)
	for id := uint64(1); id <= keepFuture+1; id++ {
		sendTemplate(t, h, id, true, id*10)
	}
	if n := len(h.future); n != keepFuture {
		t.Fatalf("%d future templates remembered, want %d", n, keepFuture)
	}
	sendPrevHash(t, h, 1, sv2.U256{0x01}) // the oldest, forgotten
	if cur, ok := h.Current(); ok {
		t.Fatalf("a forgotten future template became current: %+v", cur)
	}
	sendPrevHash(t, h, 2, sv2.U256{0x02}) // the oldest remembered
	expectCurrent(t, h, Current{TemplateID: 2, PrevHash: sv2.U256{0x02}, Value: 20, Height: -1, Since: clock.t})

	// A new connection numbers its templates again: the earlier one's
	// future templates answer none of its prev hashes.
	if _, err := h.Connected(t.Context(), service.ServerInfo{}); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(time.Second)
	sendPrevHash(t, h, 5, sv2.U256{0x05})
	expectCurrent(t, h, Current{TemplateID: 2, PrevHash: sv2.U256{0x05}, Value: 20, Height: -1, Since: clock.t})
}

// The current template's height is its coinbase's BIP34 push.
func TestCurrentHeight(t *testing.T) {
	h, clock := newCurrentHandler(t)
	prefix := []byte{0x03, 0x40, 0xd1, 0x0c} // push of 840,000, little-endian
	if _, err := h.NewTemplate(context.Background(), &sv2.NewTemplate{TemplateID: 9, CoinbasePrefix: prefix, CoinbaseTxValueRemaining: 7}); err != nil {
		t.Fatal(err)
	}
	expectCurrent(t, h, Current{TemplateID: 9, Value: 7, Height: 840_000, Since: clock.t})
}
