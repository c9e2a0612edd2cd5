package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/sv2"
)

func forBoth(t *testing.T, f func(t *testing.T, plain bool)) {
	for _, plain := range []bool{false, true} {
		name := "noise"
		if plain {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) { f(t, plain) })
	}
}

func TestSetupSuccess(t *testing.T) {
	forBoth(t, func(t *testing.T, plain bool) {
		noGoroutineLeak(t)
		k := newKeys(t)
		h := newMiningServer()
		h.success = 0b01 // REQUIRES_FIXED_VERSION
		srv, r := startServer(t, serverConfig(k, plain), h, nil, nil)

		ch := newMiningClient()
		up := miningUpstream(r.addr, &k, plain)
		up.Flags = 0b100 // REQUIRES_VERSION_ROLLING
		cli, err := NewClientService(ClientConfig{Mining: up, Vendor: "v", DeviceID: "d"}, ch, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		startService(t, cli)

		info := recv(t, ch.connected, "Connected")
		if info.Version != 2 || info.Flags != 0b01 || info.Handshake.Encrypted == plain || info.Handshake.Authenticated == plain {
			t.Errorf("client side: %+v", info)
		}
		if got, ok := cli.Server(sv2.ProtocolMining); !ok || got.Version != 2 || got.Flags != 0b01 {
			t.Errorf("ClientService.Server = %+v, %t", got, ok)
		}
		added := recv(t, h.added, "ClientAdded")
		if added.Version != 2 || added.Flags != 0b01 || added.Setup.Flags != 0b100 || added.Setup.Vendor != "v" || added.Setup.DeviceID != "d" {
			t.Errorf("server side: %+v", added)
		}
		if got, ok := srv.Client(added.ID); !ok || got.Version != 2 || got.Setup.Protocol != sv2.ProtocolMining {
			t.Errorf("ServerService.Client = %+v, %t", got, ok)
		}
	})
}

func TestConcurrentClients(t *testing.T) {
	for _, n := range []int{2, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			noGoroutineLeak(t)
			k := newKeys(t)
			h := newMiningServer()
			srv, r := startServer(t, serverConfig(k, false), h, nil, nil)
			clients := make([]*miningClient, n)
			for i := range clients {
				clients[i] = newMiningClient()
				clients[i].onConnected = func(ServerInfo) []ClientEvent {
					return []ClientEvent{SendToServer{sv2.ProtocolMining, &sv2.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: "u"}}}
				}
				cli, err := NewClientService(ClientConfig{Mining: miningUpstream(r.addr, &k, false)}, clients[i], nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				startService(t, cli)
			}
			seen := map[uint32]bool{}
			for i, c := range clients {
				m := recv(t, c.messages, "OpenStandardMiningChannel.Success").(*sv2.OpenStandardMiningChannelSuccess)
				if m.RequestID != uint32(i) || seen[m.ChannelID] {
					t.Errorf("client %d: %+v", i, m)
				}
				seen[m.ChannelID] = true
			}
			if got := len(srv.Clients()); got != n {
				t.Errorf("%d clients tracked, want %d", got, n)
			}
		})
	}
}

func TestSetupRefusals(t *testing.T) {
	forBoth(t, func(t *testing.T, plain bool) {
		k := newKeys(t)
		h := newMiningServer()
		h.supported = 0b011
		_, r := startServer(t, serverConfig(k, plain), h, nil, nil)
		tests := []struct {
			name  string
			setup *sv2.SetupConnection
			code  string
			flags uint32
		}{
			{"template distribution on a mining server", setupMsg(sv2.ProtocolTemplateDistribution, 2, 2, 0), CodeUnsupportedProtocol, 0},
			{"job declaration on a mining server", setupMsg(sv2.ProtocolJobDeclaration, 2, 2, 0), CodeUnsupportedProtocol, 0},
			{"unknown protocol 7", setupMsg(7, 2, 2, 0), CodeUnsupportedProtocol, 0},
			{"versions 3..3", setupMsg(sv2.ProtocolMining, 3, 3, 0), CodeProtocolVersionMismatch, 0},
			{"versions 1..1", setupMsg(sv2.ProtocolMining, 1, 1, 0), CodeProtocolVersionMismatch, 0},
			{"unsupported flags", setupMsg(sv2.ProtocolMining, 2, 2, 0b1110), CodeUnsupportedFeatureFlags, 0b1100},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := rawClient(t, r.addr, &k, plain)
				if err := c.WriteMessage(tt.setup); err != nil {
					t.Fatal(err)
				}
				_, m, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				e, ok := m.(*sv2.SetupConnectionError)
				if !ok || e.ErrorCode != tt.code || e.Flags != tt.flags {
					t.Fatalf("got %#v, want SetupConnection.Error %s flags %b", m, tt.code, tt.flags)
				}
				expectClosed(t, c)
			})
		}
		// Versions 1..3 overlap 2..2 and succeed with 2.
		c := rawClient(t, r.addr, &k, plain)
		c.WriteMessage(setupMsg(sv2.ProtocolMining, 1, 3, 0b011))
		if _, m, err := c.ReadMessage(); err != nil || m.(*sv2.SetupConnectionSuccess).UsedVersion != 2 {
			t.Errorf("1..3: %#v, %v", m, err)
		}
	})
}

func TestClientSeesSetupError(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	h.supported = 0
	_, r := startServer(t, serverConfig(k, false), h, nil, nil)
	ch := newMiningClient()
	up := miningUpstream(r.addr, &k, false)
	up.Flags = 0b10
	cli, _ := NewClientService(ClientConfig{Mining: up}, ch, nil, nil)
	startService(t, cli)
	err := recv(t, ch.disconnected, "Disconnected")
	var se *SetupError
	if !errors.As(err, &se) || se.Code != CodeUnsupportedFeatureFlags || se.Flags != 0b10 || se.Protocol != sv2.ProtocolMining {
		t.Fatalf("Disconnected(%v), want a SetupError with the code and flags", err)
	}
	if _, ok := cli.Server(sv2.ProtocolMining); ok {
		t.Errorf("refused connection still reported as connected")
	}
}

func TestProtocolViolations(t *testing.T) {
	forBoth(t, func(t *testing.T, plain bool) {
		k := newKeys(t)
		h := newMiningServer()
		_, r := startServer(t, serverConfig(k, plain), h, nil, nil)

		t.Run("first message not SetupConnection", func(t *testing.T) {
			c := rawClient(t, r.addr, &k, plain)
			c.WriteMessage(&sv2.OpenStandardMiningChannel{RequestID: 1})
			expectClosed(t, c)
			select {
			case m := <-h.messages:
				t.Errorf("handler got %s from an unset-up connection", sv2.Info(m).Name)
			default:
			}
		})
		for _, tt := range []struct {
			name string
			msg  sv2.Message
		}{
			{"second SetupConnection", setupMsg(sv2.ProtocolMining, 2, 2, 0)},
			{"template distribution message on a mining connection", &sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 1}},
			{"server-to-client message from a client", &sv2.SetTarget{ChannelID: 1}},
			{"SetupConnection.Success from a client", &sv2.SetupConnectionSuccess{UsedVersion: 2}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := rawClient(t, r.addr, &k, plain)
				c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
				if _, m, err := c.ReadMessage(); err != nil || sv2.Info(m).Name != "SetupConnection.Success" {
					t.Fatalf("setup: %v %v", m, err)
				}
				recv(t, h.added, "ClientAdded")
				c.WriteMessage(tt.msg)
				expectClosed(t, c)
				rm := recv(t, h.removed, "ClientRemoved")
				if !errors.Is(rm.reason, ErrProtocol) {
					t.Errorf("removed because %v, want ErrProtocol", rm.reason)
				}
			})
		}
		t.Run("malformed payload", func(t *testing.T) {
			c := rawClient(t, r.addr, &k, plain)
			c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
			c.ReadMessage()
			recv(t, h.added, "ClientAdded")
			c.WriteFrame(sv2.Header{ExtensionType: sv2.ChannelMsgBit, MsgType: sv2.MsgTypeSubmitSharesStandard}, []byte{1, 2})
			expectClosed(t, c)
			if rm := recv(t, h.removed, "ClientRemoved"); !errors.Is(rm.reason, ErrProtocol) || !errors.Is(rm.reason, sv2.ErrTruncated) {
				t.Errorf("removed because %v", rm.reason)
			}
		})
		t.Run("unknown extension message is ignored", func(t *testing.T) {
			c := rawClient(t, r.addr, &k, plain)
			c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
			c.ReadMessage()
			recv(t, h.added, "ClientAdded")
			c.WriteFrame(sv2.Header{ExtensionType: 0x4001, MsgType: 1}, []byte{1})
			c.WriteMessage(&sv2.OpenStandardMiningChannel{RequestID: 5})
			if _, m, err := c.ReadMessage(); err != nil || m.(*sv2.OpenStandardMiningChannelSuccess).RequestID != 5 {
				t.Errorf("after an unknown message: %v, %v", m, err)
			}
		})
	})
}

func TestInactivityRemoval(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	cfg := serverConfig(k, false)
	cfg.InactivityTimeout = 300 * time.Millisecond
	_, r := startServer(t, cfg, h, nil, nil)

	silent := rawClient(t, r.addr, &k, false)
	silent.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	silent.ReadMessage()
	silentID := recv(t, h.added, "ClientAdded").ID

	active := rawClient(t, r.addr, &k, false)
	active.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	active.ReadMessage()
	activeID := recv(t, h.added, "ClientAdded").ID
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond) // the activity under test
		defer tick.Stop()
		for seq := uint32(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				if active.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: seq}) != nil {
					return
				}
			}
		}
	}()
	rm := recv(t, h.removed, "ClientRemoved")
	if rm.info.ID != silentID || !errors.Is(rm.reason, ErrInactive) {
		t.Fatalf("removed %d (%v), want %d for inactivity", rm.info.ID, rm.reason, silentID)
	}
	expectClosed(t, silent)
	// The active client stays well past the limit, and the silent one is reported once.
	deadline := time.After(3 * cfg.InactivityTimeout)
	for {
		select {
		case rm := <-h.removed:
			t.Fatalf("also removed %d (%v); active client is %d", rm.info.ID, rm.reason, activeID)
		case <-deadline:
			return
		case <-h.messages:
		}
	}
}

func TestShutdown(t *testing.T) {
	for _, n := range []int{0, 3} {
		t.Run(fmt.Sprintf("%d clients", n), func(t *testing.T) {
			noGoroutineLeak(t)
			k := newKeys(t)
			h := newMiningServer()
			_, r := startServer(t, serverConfig(k, false), h, nil, nil)
			for range n {
				c := rawClient(t, r.addr, &k, false)
				c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
				c.ReadMessage()
				recv(t, h.added, "ClientAdded")
			}
			// A connection still in its handshake when shutdown begins.
			half, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer half.Close()
			if err := r.stop(); err != nil {
				t.Fatalf("Start returned %v", err)
			}
			for range n {
				if rm := recv(t, h.removed, "ClientRemoved"); !errors.Is(rm.reason, ErrStopped) {
					t.Errorf("removed because %v, want ErrStopped", rm.reason)
				}
			}
			select {
			case rm := <-h.removed:
				t.Errorf("extra ClientRemoved for %d", rm.info.ID)
			default:
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	cfg := serverConfig(k, true)
	cfg.MaxConnections = 1
	_, r := startServer(t, cfg, h, nil, nil)
	first := rawClient(t, r.addr, &k, true)
	first.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	first.ReadMessage()
	recv(t, h.added, "ClientAdded")
	second := rawClient(t, r.addr, &k, true)
	second.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	expectClosed(t, second)
}

func TestConstructorErrors(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	tests := []struct {
		name string
		err  error
	}{
		{"server: Null handler with config", func() error {
			_, err := NewServerService(serverConfig(k, false), NullMiningServerHandler{}, nil, nil)
			return err
		}()},
		{"server: nil handler with config", func() error {
			_, err := NewServerService(serverConfig(k, false), nil, nil, nil)
			return err
		}()},
		{"server: real handler without config", func() error {
			cfg := serverConfig(k, false)
			cfg.Mining = nil
			cfg.TemplateDistribution = &ProtocolConfig{}
			_, err := NewServerService(cfg, h, nil, NullTemplateDistributionServerHandler{})
			return err
		}()},
		{"server: no listen address", func() error {
			_, err := NewServerService(ServerConfig{Mining: &ProtocolConfig{}, Plain: true}, h, nil, nil)
			return err
		}()},
		{"server: encrypted without authority key", func() error {
			_, err := NewServerService(ServerConfig{ListenAddress: ":0", Mining: &ProtocolConfig{}}, h, nil, nil)
			return err
		}()},
		{"client: Null handler with upstream", func() error {
			_, err := NewClientService(ClientConfig{Mining: miningUpstream("127.0.0.1:1", nil, true)}, NullMiningClientHandler{}, nil, nil)
			return err
		}()},
		{"client: real handler without upstream", func() error {
			_, err := NewClientService(ClientConfig{}, newMiningClient(), nil, nil)
			return err
		}()},
		{"client: bad address", func() error {
			_, err := NewClientService(ClientConfig{Mining: miningUpstream("nowhere", nil, true)}, newMiningClient(), nil, nil)
			return err
		}()},
		{"client: no sibling IO", func() error {
			_, err := NewClientServiceFromSibling(ClientConfig{Mining: miningUpstream("127.0.0.1:1", nil, true)}, newMiningClient(), nil, nil, nil)
			return err
		}()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tt.name, tt.err)
		}
	}
	// The Null handlers are usable values that never panic.
	ctx := context.Background()
	var ns NullMiningServerHandler
	ns.Start(ctx)
	ns.SubmitSharesStandard(ctx, 1, &sv2.SubmitSharesStandard{})
	var nc NullTemplateDistributionClientHandler
	nc.NewTemplate(ctx, &sv2.NewTemplate{})
	nc.Disconnected(ctx, nil)
}

func TestServerVanishes(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	_, r := startServer(t, serverConfig(k, false), h, nil, nil)
	ch := newMiningClient()
	cli, _ := NewClientService(ClientConfig{Mining: miningUpstream(r.addr, &k, false)}, ch, nil, nil)
	startService(t, cli)
	recv(t, ch.connected, "Connected")
	r.stop()
	if err := recv(t, ch.disconnected, "Disconnected"); err == nil {
		t.Fatal("Disconnected(nil)")
	}
	if _, ok := cli.Server(sv2.ProtocolMining); ok {
		t.Error("still reported as connected")
	}
	// The app decides what follows: here, a retry that fails while the server is gone.
	if err := cli.HandleEvent(context.Background(), Connect{Protocol: sv2.ProtocolMining}); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, ch.disconnected, "Disconnected after retry"); err == nil {
		t.Fatal("retry against a stopped server succeeded")
	}
}

// A message a handler builds wrong is dropped with a log line; the client stays.
func TestUnencodableMessageDropped(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	srv, r := startServer(t, serverConfig(k, false), h, nil, nil)
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	id := recv(t, h.added, "ClientAdded").ID
	bad := &sv2.SetExtranoncePrefix{ChannelID: 1, ExtranoncePrefix: make([]byte, 33)}
	good := &sv2.SetTarget{ChannelID: 2}
	if err := srv.HandleEvent(context.Background(), SendToClient{id, bad}); err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleEvent(context.Background(), SendToClient{id, good}); err != nil {
		t.Fatal(err)
	}
	_, m, err := c.ReadMessage()
	if err != nil || m.(*sv2.SetTarget).ChannelID != 2 {
		t.Fatalf("got %v, %v; want the SetTarget after the dropped message", m, err)
	}
	if _, ok := srv.Client(id); !ok {
		t.Error("client removed over a message the server could not encode")
	}
}

// failingStart is a mining handler whose Start fails.
type failingStart struct{ *miningServer }

func (failingStart) Start(context.Context) ([]ServerEvent, error) {
	return nil, errors.New("no database")
}

func TestStartFailureReleasesAddrAndListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverConfig(newKeys(t), true)
	cfg.Listener = ln
	s, err := NewServerService(cfg, failingStart{newMiningServer()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := s.Addr(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Addr after a failed Start: %v, want ErrNotRunning", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open: %v", err)
	}
}

// A follow-up that fails (here: no sibling) is logged, and the client stays.
func TestFailedFollowUpKeepsClient(t *testing.T) {
	k := newKeys(t)
	h := &siblingSender{newMiningServer()}
	srv, r := startServer(t, serverConfig(k, false), h, nil, nil)
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	id := recv(t, h.added, "ClientAdded").ID
	c.WriteMessage(&sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: 1})
	if _, m, err := c.ReadMessage(); err != nil || m.(*sv2.SubmitSharesSuccess).LastSequenceNumber != 1 {
		t.Fatalf("ack: %v, %v", m, err)
	}
	if _, ok := srv.Client(id); !ok {
		t.Error("client removed because a follow-up failed")
	}
}

// siblingSender acknowledges a share, then asks for a sibling it does not have.
type siblingSender struct{ *miningServer }

func (h *siblingSender) SubmitSharesStandard(ctx context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	events, err := h.miningServer.SubmitSharesStandard(ctx, c, m)
	return append(events, SendEventToSiblingClientService{Notify{sv2.ProtocolMining, m}}), err
}

// A client that sends many requests without reading the answers in between
// is paced, not dropped: each answer it queues is bounded by the send queue.
func TestPipeliningClientIsPaced(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	cfg := serverConfig(k, false)
	cfg.SendQueue = 16
	_, r := startServer(t, cfg, h, nil, nil)
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	recv(t, h.added, "ClientAdded")
	const n = 500
	go func() {
		for i := range n {
			if c.BufferMessage(&sv2.OpenStandardMiningChannel{RequestID: uint32(i), MaxTarget: sv2.U256{31: 1}}) != nil {
				return
			}
		}
		c.Flush()
	}()
	for i := range n {
		_, m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if s, ok := m.(*sv2.OpenStandardMiningChannelSuccess); !ok || s.RequestID != uint32(i) {
			t.Fatalf("answer %d: %#v", i, m)
		}
	}
	select {
	case rm := <-h.removed:
		t.Fatalf("client removed: %v", rm.reason)
	default:
	}
}

// slowOpen blocks in OpenStandardMiningChannel until released.
type slowOpen struct {
	*miningServer
	entered, release chan struct{}
}

func (h slowOpen) OpenStandardMiningChannel(ctx context.Context, c ClientID, m *sv2.OpenStandardMiningChannel) ([]ServerEvent, error) {
	close(h.entered)
	<-h.release
	return h.miningServer.OpenStandardMiningChannel(ctx, c, m)
}

// ClientRemoved waits for the client's handler call in progress, whoever
// started the removal.
func TestClientRemovedAfterHandlerCalls(t *testing.T) {
	k := newKeys(t)
	h := slowOpen{newMiningServer(), make(chan struct{}), make(chan struct{})}
	srv, r := startServer(t, serverConfig(k, false), h, nil, nil)
	c := rawClient(t, r.addr, &k, false)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	id := recv(t, h.added, "ClientAdded").ID
	c.WriteMessage(&sv2.OpenStandardMiningChannel{RequestID: 1})
	recv(t, h.entered, "the handler call")
	if err := srv.HandleEvent(context.Background(), DisconnectClient{Client: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	select {
	case rm := <-h.removed:
		t.Fatalf("ClientRemoved (%v) while the client's handler call was running", rm.reason)
	case <-time.After(100 * time.Millisecond):
	}
	close(h.release)
	if rm := recv(t, h.removed, "ClientRemoved"); !errors.Is(rm.reason, ErrDisconnected) {
		t.Errorf("removed because %v", rm.reason)
	}
}
