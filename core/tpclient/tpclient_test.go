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
