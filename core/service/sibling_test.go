package service

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stratumgo/stratum/core/sv2"
)

// siblingPair starts a mining server and a mining client tied as siblings
// (the client connected to an unrelated upstream mining server).
func siblingPair(t *testing.T, queue int, startClient bool) (*ServerService, *miningServer, *ClientService, *miningClient, func() error) {
	t.Helper()
	k := newKeys(t)
	upstreamHandler := newMiningServer()
	_, upstream := startServer(t, serverConfig(k, false), upstreamHandler, nil, nil)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scfg := serverConfig(k, false)
	scfg.Listener, scfg.SiblingQueue = ln, queue
	sh := newMiningServer()
	srv, io, err := NewServerServiceWithSibling(scfg, sh, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := newMiningClient()
	cli, err := NewClientServiceFromSibling(ClientConfig{Mining: miningUpstream(upstream.addr, &k, false), SiblingQueue: queue}, ch, nil, nil, io)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewClientServiceFromSibling(ClientConfig{Mining: miningUpstream(upstream.addr, &k, false)}, newMiningClient(), nil, nil, io); !errors.Is(err, ErrConfig) {
		t.Errorf("second client on one SiblingIO: %v", err)
	}
	startService(t, srv)
	stopClient := func() error { return nil }
	if startClient {
		stopClient = startService(t, cli)
		recv(t, ch.connected, "client Connected")
	}
	if _, err := srv.Addr(context.Background()); err != nil {
		t.Fatal(err)
	}
	return srv, sh, cli, ch, stopClient
}

func TestSiblingEventsBothWays(t *testing.T) {
	noGoroutineLeak(t)
	srv, sh, cli, ch, _ := siblingPair(t, 8, true)
	ctx := context.Background()

	// Server side → client's mining handler.
	if err := srv.HandleEvent(ctx, SendEventToSiblingClientService{Notify{sv2.ProtocolMining, "template 1"}}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch.events, "client HandleEvent"); got != "template 1" {
		t.Errorf("client got %v", got)
	}
	// Client side → server's mining handler, in order.
	for _, p := range []string{"share 1", "share 2", "share 3"} {
		if err := cli.HandleEvent(ctx, SendEventToSiblingServerService{Notify{sv2.ProtocolMining, p}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"share 1", "share 2", "share 3"} {
		if got := recv(t, sh.events, "server HandleEvent"); got != want {
			t.Errorf("server got %v, want %v", got, want)
		}
	}
	// A handler's outcome can go on to the sibling: the server handler's
	// HandleEvent returns the payload as its follow-up.
	if err := srv.HandleEvent(ctx, Notify{sv2.ProtocolMining, SendEventToSiblingClientService{Notify{sv2.ProtocolMining, "relayed"}}}); err != nil {
		t.Fatal(err)
	}
	recv(t, sh.events, "server HandleEvent")
	if got := recv(t, ch.events, "client HandleEvent"); got != "relayed" {
		t.Errorf("client got %v", got)
	}
	// Events of the wrong side are refused.
	if err := srv.HandleEvent(ctx, SendToServer{sv2.ProtocolMining, &sv2.SetTarget{}}); !errors.Is(err, ErrWrongSide) {
		t.Errorf("client event on the server: %v", err)
	}
	if err := cli.HandleEvent(ctx, SendToClient{1, &sv2.SetTarget{}}); !errors.Is(err, ErrWrongSide) {
		t.Errorf("server event on the client: %v", err)
	}
	if err := cli.HandleEvent(ctx, Notify{sv2.ProtocolTemplateDistribution, 1}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Notify for an unsupported subprotocol: %v", err)
	}
}

func TestSiblingQueueFullAndClosed(t *testing.T) {
	srv, _, _, _, _ := siblingPair(t, 2, false) // client not started: nobody drains its queue
	ctx := context.Background()
	send := func() error {
		return srv.HandleEvent(ctx, SendEventToSiblingClientService{Notify{sv2.ProtocolMining, "x"}})
	}
	for i := range 2 {
		if err := send(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := send(); !errors.Is(err, ErrSiblingFull) {
		t.Fatalf("third event into a queue of 2: %v, want ErrSiblingFull", err)
	}

	srv2, _, cli2, _, stopClient := siblingPair(t, 2, true)
	if err := stopClient(); err != nil {
		t.Fatal(err)
	}
	if err := srv2.HandleEvent(ctx, SendEventToSiblingClientService{Notify{sv2.ProtocolMining, "x"}}); !errors.Is(err, ErrSiblingClosed) {
		t.Fatalf("event to a stopped sibling: %v, want ErrSiblingClosed", err)
	}
	if err := cli2.HandleEvent(ctx, Notify{sv2.ProtocolMining, "x"}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("event to a stopped client: %v, want ErrNotRunning", err)
	}
}

func TestNoSibling(t *testing.T) {
	k := newKeys(t)
	srv, r := startServer(t, serverConfig(k, false), newMiningServer(), nil, nil)
	if err := srv.HandleEvent(context.Background(), SendEventToSiblingClientService{Notify{sv2.ProtocolMining, 1}}); !errors.Is(err, ErrNoSibling) {
		t.Errorf("server without sibling: %v", err)
	}
	ch := newMiningClient()
	cli, _ := NewClientService(ClientConfig{Mining: miningUpstream(r.addr, &k, false)}, ch, nil, nil)
	startService(t, cli)
	recv(t, ch.connected, "Connected")
	if err := cli.HandleEvent(context.Background(), SendEventToSiblingServerService{Notify{sv2.ProtocolMining, 1}}); !errors.Is(err, ErrNoSibling) {
		t.Errorf("client without sibling: %v", err)
	}
}
