package service

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// plainGateway is a gateway whose wire is Sv2's own plain frames: a second
// way in, on a listener of its own, with none of Noise.
func plainGateway(t *testing.T, name string) Gateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Gateway{Name: name, Listener: ln, AckEachShare: true,
		Wrap: func(nc net.Conn) Wire { return transport.NewPlain(nc, transport.Config{}) }}
}

func TestGatewayConfig(t *testing.T) {
	wrap := func(nc net.Conn) Wire { return transport.NewPlain(nc, transport.Config{}) }
	for name, gws := range map[string][]Gateway{
		"no name":      {{ListenAddress: ":0", Wrap: wrap}},
		"no Wrap":      {{Name: "x", ListenAddress: ":0"}},
		"no address":   {{Name: "x", Wrap: wrap}},
		"a name twice": {{Name: "x", ListenAddress: ":0", Wrap: wrap}, {Name: "x", ListenAddress: ":0", Wrap: wrap}},
	} {
		cfg := serverConfig(newKeys(t), true)
		cfg.ListenAddress, cfg.Gateways = ":0", gws
		if _, err := NewServerService(cfg, newMiningServer(), nil, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// A gateway's clients are clients of the server like any other, and say
// which gateway they came through.
func TestGatewayClients(t *testing.T) {
	h := newMiningServer()
	cfg := serverConfig(newKeys(t), false) // the server's own listener is Noise only
	gw := plainGateway(t, "plain")
	cfg.Gateways = []Gateway{gw}
	s, _ := startServer(t, cfg, h, nil, nil)
	addr, err := s.GatewayAddr(context.Background(), "plain")
	if err != nil || addr.String() != gw.Listener.Addr().String() {
		t.Fatalf("GatewayAddr %v %v, want %v", addr, err, gw.Listener.Addr())
	}
	if _, err := s.GatewayAddr(context.Background(), "other"); err == nil {
		t.Error("GatewayAddr of no gateway answered")
	}
	c := rawClient(t, addr.String(), nil, true)
	if err := c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*sv2.SetupConnectionSuccess); !ok {
		t.Fatalf("got %s", sv2.Info(m).Name)
	}
	info := recv(t, h.added, "the gateway's client")
	if info.Gateway != "plain" || !info.AckEachShare {
		t.Fatalf("ClientInfo %+v: want gateway plain and AckEachShare", info)
	}
}

// A gateway's listener failing ends Run with its error, and Run closes
// every listener, the gateways' too.
func TestGatewayListenerFailure(t *testing.T) {
	cfg := serverConfig(newKeys(t), true)
	gw := plainGateway(t, "failing")
	bad := &failingListener{Listener: gw.Listener, fail: make(chan struct{})}
	gw.Listener = bad
	cfg.Gateways = []Gateway{gw}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	s, err := NewServerService(cfg, newMiningServer(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	close(bad.fail)
	if err := recv(t, done, "Run to end"); !errors.Is(err, errAcceptBroken) {
		t.Fatalf("Run: %v, want the gateway's accept error", err)
	}
	for name, l := range map[string]net.Listener{"the server's": ln, "the gateway's": bad.Listener} {
		if _, err := l.Accept(); err == nil {
			t.Errorf("%s listener is still open", name)
		}
	}
}

var errAcceptBroken = errors.New("accept broken")

// failingListener fails its Accept for good once fail is closed.
type failingListener struct {
	net.Listener
	fail chan struct{}
}

func (l *failingListener) Accept() (net.Conn, error) {
	<-l.fail
	return nil, errAcceptBroken
}
