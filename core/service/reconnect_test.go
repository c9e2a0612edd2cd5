package service

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// reconnectingServer tells every client to go to another port.
type reconnectingServer struct {
	*miningServer
	to *sv2.Reconnect
}

func (h reconnectingServer) ClientAdded(_ context.Context, c ClientInfo) ([]ServerEvent, error) {
	h.added <- c
	return []ServerEvent{SendToClient{c.ID, h.to}}, nil
}

func portOf(t *testing.T, addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

func TestReconnect(t *testing.T) {
	k := newKeys(t)
	second := newMiningServer()
	_, r2 := startServer(t, serverConfig(k, false), second, nil, nil)

	first := reconnectingServer{newMiningServer(), &sv2.Reconnect{NewPort: portOf(t, r2.addr)}}
	_, r1 := startServer(t, serverConfig(k, false), first, nil, nil)

	ch := newMiningClient()
	cli, _ := NewClientService(ClientConfig{Mining: miningUpstream(r1.addr, &k, false)}, ch, nil, nil)
	startService(t, cli)

	if s := recv(t, ch.connected, "Connected to the first server"); s.Address != r1.addr {
		t.Fatalf("connected to %s, want %s", s.Address, r1.addr)
	}
	if err := recv(t, ch.disconnected, "Disconnected"); !errors.Is(err, ErrReconnect) {
		t.Fatalf("Disconnected(%v), want ErrReconnect", err)
	}
	s := recv(t, ch.connected, "Connected to the second server")
	if s.Address != r2.addr || !s.Handshake.Authenticated {
		t.Fatalf("reconnected to %s (authenticated %t), want %s", s.Address, s.Handshake.Authenticated, r2.addr)
	}
	recv(t, second.added, "second server ClientAdded")
	if got, _ := cli.Server(sv2.ProtocolMining); got.Address != r2.addr {
		t.Errorf("Server() = %+v", got)
	}
}

// A Reconnect cannot move a client to a server of another authority (§3.6.5).
func TestReconnectRefusesOtherAuthority(t *testing.T) {
	k, other := newKeys(t), newKeys(t)
	_, r2 := startServer(t, serverConfig(other, false), newMiningServer(), nil, nil)
	first := reconnectingServer{newMiningServer(), &sv2.Reconnect{NewHost: "127.0.0.1", NewPort: portOf(t, r2.addr)}}
	_, r1 := startServer(t, serverConfig(k, false), first, nil, nil)

	ch := newMiningClient()
	cli, _ := NewClientService(ClientConfig{Mining: miningUpstream(r1.addr, &k, false)}, ch, nil, nil)
	startService(t, cli)
	recv(t, ch.connected, "Connected")
	recv(t, ch.disconnected, "Disconnected for the reconnect")
	if err := recv(t, ch.disconnected, "Disconnected: the new server's certificate"); !errors.Is(err, noise.ErrCertificateSignature) {
		t.Fatalf("Disconnected(%v), want a certificate signature error", err)
	}
}

// Connect with an Upstream fails over to a server of another authority,
// pinning its key; the connections after it go there too.
func TestConnectToAnotherUpstream(t *testing.T) {
	k, other := newKeys(t), newKeys(t)
	_, r1 := startServer(t, serverConfig(k, false), newMiningServer(), nil, nil)
	second := newMiningServer()
	_, r2 := startServer(t, serverConfig(other, false), second, nil, nil)
	ch := newMiningClient()
	cli, _ := NewClientService(ClientConfig{Mining: miningUpstream(r1.addr, &k, false)}, ch, nil, nil)
	startService(t, cli)
	recv(t, ch.connected, "Connected to the first server")
	ctx := context.Background()
	if err := cli.HandleEvent(ctx, Connect{Protocol: sv2.ProtocolMining, Upstream: &UpstreamConfig{}}); !errors.Is(err, ErrConfig) {
		t.Errorf("an upstream without an address: %v", err)
	}
	if err := cli.HandleEvent(ctx, Connect{Protocol: sv2.ProtocolMining, Upstream: miningUpstream(r2.addr, &other, false)}); err != nil {
		t.Fatal(err)
	}
	recv(t, ch.disconnected, "Disconnected from the first")
	if s := recv(t, ch.connected, "Connected to the second"); s.Address != r2.addr || !s.Handshake.Authenticated {
		t.Fatalf("connected to %s (authenticated %t), want %s", s.Address, s.Handshake.Authenticated, r2.addr)
	}
	recv(t, second.added, "the second server's ClientAdded")
	// A plain retry goes to the new upstream.
	if err := cli.HandleEvent(ctx, Connect{Protocol: sv2.ProtocolMining}); err != nil {
		t.Fatal(err)
	}
	recv(t, ch.disconnected, "Disconnected for the retry")
	if s := recv(t, ch.connected, "Connected again"); s.Address != r2.addr {
		t.Fatalf("the retry went to %s, want %s", s.Address, r2.addr)
	}
}
