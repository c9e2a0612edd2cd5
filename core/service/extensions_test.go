package service

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// tlvServer records the TLVs of each extended share and whether the
// connection negotiated worker tracking.
type tlvServer struct {
	*miningServer
	shares chan tlvShare
}

type tlvShare struct {
	tlvs       []sv2.TLV
	negotiated bool
}

func (h *tlvServer) SubmitSharesExtended(ctx context.Context, c ClientID, m *sv2.SubmitSharesExtended) ([]ServerEvent, error) {
	h.shares <- tlvShare{m.TLVs, Negotiated(ctx, sv2.ExtensionWorkerHashrate)}
	return nil, nil
}

func newTLVServer() *tlvServer { return &tlvServer{newMiningServer(), make(chan tlvShare, 10)} }

func startMiningClient(t *testing.T, u *UpstreamConfig) (*ClientService, *miningClient) {
	t.Helper()
	h := newMiningClient()
	cli, err := NewClientService(ClientConfig{Mining: u}, h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	startService(t, cli)
	return cli, h
}

func workerShare(worker string) *sv2.SubmitSharesExtended {
	return &sv2.SubmitSharesExtended{ChannelID: 1, Extranonce: []byte{1}, TLVs: []sv2.TLV{sv2.WorkerIdentityTLV(worker)}}
}

// A client service that asks for worker tracking from a server that
// supports it gets it; its shares keep their worker TLV; the server's
// handler sees it and knows it was negotiated.
func TestExtensionNegotiated(t *testing.T) {
	noGoroutineLeak(t)
	k := newKeys(t)
	h := newTLVServer()
	cfg := serverConfig(k, true)
	cfg.SupportedExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	_, r := startServer(t, cfg, h, nil, nil)
	u := miningUpstream(r.addr, nil, true)
	u.Extensions = []uint16{sv2.ExtensionWorkerHashrate, 0x0777}
	cli, mc := startMiningClient(t, u)
	info := recv(t, mc.connected, "Connected")
	if !slices.Equal(info.Extensions, []uint16{sv2.ExtensionWorkerHashrate}) {
		t.Fatalf("negotiated %#04x, want only 0x0002", info.Extensions)
	}
	if err := cli.HandleEvent(context.Background(), SendToServer{sv2.ProtocolMining, workerShare("rig-1")}); err != nil {
		t.Fatal(err)
	}
	got := recv(t, h.shares, "the share")
	if w, ok := sv2.WorkerIdentity(got.tlvs); !ok || w != "rig-1" || !got.negotiated {
		t.Fatalf("server saw %+v", got)
	}
}

// A client that did not negotiate is unaffected: its service drops a TLV of
// an extension the server did not confirm before sending, and a server that
// receives one anyway from a raw peer drops it before its handler.
func TestExtensionNotNegotiated(t *testing.T) {
	k := newKeys(t)
	h := newTLVServer()
	_, r := startServer(t, serverConfig(k, true), h, nil, nil) // supports no extension
	u := miningUpstream(r.addr, nil, true)
	u.Extensions = []uint16{sv2.ExtensionWorkerHashrate}
	cli, mc := startMiningClient(t, u)
	if info := recv(t, mc.connected, "Connected"); len(info.Extensions) != 0 {
		t.Fatalf("negotiated %#04x with a server supporting none", info.Extensions)
	}
	share := workerShare("rig-1")
	if err := cli.HandleEvent(context.Background(), SendToServer{sv2.ProtocolMining, share}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, h.shares, "the share"); len(got.tlvs) != 0 || got.negotiated {
		t.Fatalf("server saw %+v", got)
	}
	if len(share.TLVs) != 1 {
		t.Error("the service changed the caller's message")
	}

	c := rawClient(t, r.addr, nil, true)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	c.WriteMessage(workerShare("rig-2"))
	if got := recv(t, h.shares, "the raw share"); len(got.tlvs) != 0 {
		t.Fatalf("server kept an un-negotiated TLV: %+v", got)
	}
}

// The server answers RequestExtensions as extension 0x0001 says: an error
// naming the unsupported ones when it supports none of them, and its
// required extensions when they were not asked for; a client that then goes
// on without them is closed.
func TestExtensionErrorsAndRequired(t *testing.T) {
	k := newKeys(t)
	h := newTLVServer()
	cfg := serverConfig(k, true)
	cfg.SupportedExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	_, r := startServer(t, cfg, h, nil, nil)
	c := rawClient(t, r.addr, nil, true)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	c.WriteMessage(&sv2.RequestExtensions{RequestID: 3, RequestedExtensions: []uint16{0x0777}})
	_, m, err := c.ReadMessage()
	if e, ok := m.(*sv2.RequestExtensionsError); err != nil || !ok || e.RequestID != 3 || !slices.Equal(e.UnsupportedExtensions, []uint16{0x0777}) || len(e.RequiredExtensions) != 0 {
		t.Fatalf("answer %#v, %v", m, err)
	}

	h2 := newTLVServer()
	cfg.RequiredExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	_, r2 := startServer(t, cfg, h2, nil, nil)
	c2 := rawClient(t, r2.addr, nil, true)
	c2.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c2.ReadMessage()
	c2.WriteMessage(&sv2.RequestExtensions{RequestID: 4})
	_, m, err = c2.ReadMessage()
	if e, ok := m.(*sv2.RequestExtensionsError); err != nil || !ok || !slices.Equal(e.RequiredExtensions, []uint16{sv2.ExtensionWorkerHashrate}) {
		t.Fatalf("answer %#v, %v", m, err)
	}
	c2.WriteMessage(workerShare("rig"))
	expectClosed(t, c2)
	if rm := recv(t, h2.removed, "ClientRemoved"); !errors.Is(rm.reason, ErrProtocol) {
		t.Errorf("removed because %v, want ErrProtocol", rm.reason)
	}

	// A client service that does not support what the server requires fails
	// to connect, saying why.
	u := miningUpstream(r2.addr, nil, true)
	u.Extensions = []uint16{0x0777}
	_, mc := startMiningClient(t, u)
	err = recv(t, mc.disconnected, "Disconnected")
	var ee *ExtensionsError
	if !errors.As(err, &ee) || !slices.Equal(ee.Required, []uint16{sv2.ExtensionWorkerHashrate}) {
		t.Fatalf("Disconnected(%v), want an ExtensionsError naming 0x0002", err)
	}
}

// A server that ignores RequestExtensions (it predates the extension) costs
// one connection: the client service then connects without extensions.
func TestExtensionIgnoredByServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c := transport.NewPlain(nc, transport.Config{})
				defer c.Close()
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				c.WriteMessage(&sv2.SetupConnectionSuccess{UsedVersion: 2})
				for { // ignores everything, RequestExtensions included
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}
	}()
	u := miningUpstream(ln.Addr().String(), nil, true)
	u.Extensions = []uint16{sv2.ExtensionWorkerHashrate}
	h := newMiningClient()
	h.onConnected = nil
	cli, err := NewClientService(ClientConfig{Mining: u, SetupTimeout: 5 * time.Second}, &reconnecting{h}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	startService(t, cli)
	if err := recv(t, h.disconnected, "the first connection to fail"); !errors.Is(err, ErrExtensionsTimeout) {
		t.Fatalf("first connection: %v, want ErrExtensionsTimeout", err)
	}
	if info := recv(t, h.connected, "the second connection"); len(info.Extensions) != 0 {
		t.Fatalf("negotiated %#04x", info.Extensions)
	}
}

// reconnecting reconnects at once after each disconnection.
type reconnecting struct{ *miningClient }

func (h *reconnecting) Disconnected(ctx context.Context, err error) ([]ClientEvent, error) {
	h.miningClient.Disconnected(ctx, err)
	return []ClientEvent{Connect{Protocol: sv2.ProtocolMining}}, nil
}

// Extension lists that cannot work are configuration errors.
func TestExtensionConfig(t *testing.T) {
	k := newKeys(t)
	cfg := serverConfig(k, true)
	cfg.Listener = nil
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.RequiredExtensions = []uint16{2}
	if _, err := NewServerService(cfg, newMiningServer(), nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("required but not supported: %v", err)
	}
	cfg.SupportedExtensions, cfg.RequiredExtensions = []uint16{sv2.ExtensionNegotiation}, nil
	if _, err := NewServerService(cfg, newMiningServer(), nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("0x0001 listed: %v", err)
	}
	u := miningUpstream("127.0.0.1:1", nil, true)
	u.RequiredExtensions = []uint16{2}
	if _, err := NewClientService(ClientConfig{Mining: u}, newMiningClient(), nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("client requires what it does not request: %v", err)
	}
}

// A request listing every possible extension id, many twice, is answered
// at once and briefly: the supported one, or a bounded list of the others.
func TestExtensionRequestFlood(t *testing.T) {
	k := newKeys(t)
	cfg := serverConfig(k, true)
	cfg.SupportedExtensions = []uint16{sv2.ExtensionWorkerHashrate}
	_, r := startServer(t, cfg, newTLVServer(), nil, nil)
	c := rawClient(t, r.addr, nil, true)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	all := make([]uint16, 0, 65535)
	for id := range 65535 {
		all = append(all, uint16(65535-id)) // 0x0002 included, descending
	}
	c.WriteMessage(&sv2.RequestExtensions{RequestID: 1, RequestedExtensions: all})
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, m, err := c.ReadMessage(); err != nil || !slices.Equal(m.(*sv2.RequestExtensionsSuccess).SupportedExtensions, []uint16{2}) {
		t.Fatalf("answer %#v, %v", m, err)
	}
	c.WriteMessage(&sv2.RequestExtensions{RequestID: 2, RequestedExtensions: slices.DeleteFunc(all, func(id uint16) bool { return id == 2 })})
	_, m, err := c.ReadMessage()
	e, ok := m.(*sv2.RequestExtensionsError)
	if err != nil || !ok || len(e.UnsupportedExtensions) != maxUnsupportedEcho {
		t.Fatalf("answer %#v, %v", m, err)
	}
}
