package service

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

const waitLimit = 10 * time.Second

// recv waits for a value on ch, failing the test after waitLimit.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// noGoroutineLeak fails the test if, at cleanup, more goroutines run than at
// the start (after giving exiting ones a moment to finish).
func noGoroutineLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitLimit)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf)
				return
			}
			runtime.Gosched()
			time.Sleep(5 * time.Millisecond) // polling the runtime: there is no channel to wait on
		}
	})
}

type keys struct {
	secret noise.SecretKey
	public noise.PublicKey
}

func newKeys(t testing.TB) keys {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	return keys{sk, pk}
}

// running is a started service and how to stop it.
type running struct {
	addr string
	stop func() error // cancels and waits for Run to return; nil for a clean stop
}

// startService runs svc.Run in the background until the test ends or stop is called.
func startService(t testing.TB, svc Service) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
				if errors.Is(err, ErrStopped) {
					err = nil // the clean stop we asked for
				}
			case <-time.After(waitLimit):
				err = errors.New("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping %T: %v", svc, err)
		}
	})
	return stop
}

// startServer starts a server on 127.0.0.1:0, or on cfg.Listener if set.
func startServer(t testing.TB, cfg ServerConfig, m MiningServerHandler, j JobDeclarationServerHandler, td TemplateDistributionServerHandler) (*ServerService, running) {
	t.Helper()
	if cfg.Listener == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listener = ln
	}
	ln := cfg.Listener
	s, err := NewServerService(cfg, m, j, td)
	if err != nil {
		t.Fatal(err)
	}
	stop := startService(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := s.Addr(ctx); err != nil {
		t.Fatalf("server not running: %v", err)
	}
	return s, running{addr: ln.Addr().String(), stop: stop}
}

// serverConfig is a test server's configuration. Every test client comes
// from 127.0.0.1, one source, so the per-source limits are lifted; the tests
// of those limits set them and dial from other loopback addresses (dialFrom).
func serverConfig(k keys, plain bool) ServerConfig {
	cfg := ServerConfig{Mining: &ProtocolConfig{}, Plain: plain,
		MaxConnectionsPerSource: 1 << 20, MaxHandshakesPerSource: 1 << 20, HandshakeRatePerSource: 1e9}
	if !plain {
		cfg.AuthorityKey = &k.secret
	}
	return cfg
}

// dialFrom connects to addr from the loopback address ip (127.0.0.2, say),
// another source for the per-source limits.
func dialFrom(t testing.TB, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: waitLimit, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// rawClient is a hand-driven client for protocol-violation tests.
func rawClient(t testing.TB, addr string, k *keys, plain bool) *transport.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	if plain {
		c := transport.NewPlain(nc, transport.Config{})
		t.Cleanup(func() { c.Close() })
		return c
	}
	var pk *noise.PublicKey
	if k != nil {
		pk = &k.public
	}
	c, err := transport.Client(context.Background(), nc, transport.ClientConfig{Noise: noise.InitiatorConfig{AuthorityKey: pk}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func setupMsg(p sv2.Protocol, lo, hi uint16, flags uint32) *sv2.SetupConnection {
	return &sv2.SetupConnection{Protocol: p, MinVersion: lo, MaxVersion: hi, Flags: flags, EndpointHost: "127.0.0.1", EndpointPort: 1, Vendor: "test"}
}

// expectClosed reads until the server closes the connection.
func expectClosed(t testing.TB, c *transport.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatalf("connection still open: %v", err)
			}
			return
		}
		t.Logf("received %s before close", sv2.Info(m).Name)
	}
}

// miningServer records what a mining server handler sees and answers
// channel opens and shares.
type miningServer struct {
	NullMiningServerHandler // tests below exercise every method they rely on

	supported uint32 // flags it supports
	success   uint32 // flags it sends back

	mu       sync.Mutex
	channels uint32

	added    chan ClientInfo
	removed  chan removal
	messages chan sv2.Message
	events   chan any
}

type removal struct {
	info   ClientInfo
	reason error
}

func newMiningServer() *miningServer {
	return &miningServer{
		supported: 0b111,
		added:     make(chan ClientInfo, 1000),
		removed:   make(chan removal, 1000),
		messages:  make(chan sv2.Message, 10000),
		events:    make(chan any, 100),
	}
}

func (h *miningServer) Flags(requested uint32) (uint32, uint32) {
	return h.success, requested &^ h.supported
}

func (h *miningServer) ClientAdded(_ context.Context, c ClientInfo) ([]ServerEvent, error) {
	h.added <- c
	return nil, nil
}

func (h *miningServer) ClientRemoved(_ context.Context, c ClientInfo, reason error) ([]ServerEvent, error) {
	h.removed <- removal{c, reason}
	return nil, nil
}

func (h *miningServer) HandleEvent(_ context.Context, payload any) ([]ServerEvent, error) {
	h.events <- payload
	if ev, ok := payload.(ServerEvent); ok { // lets tests script follow-ups
		return []ServerEvent{ev}, nil
	}
	return nil, nil
}

func (h *miningServer) nextChannel() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.channels++
	return h.channels
}

func (h *miningServer) OpenStandardMiningChannel(_ context.Context, c ClientID, m *sv2.OpenStandardMiningChannel) ([]ServerEvent, error) {
	h.messages <- m
	return []ServerEvent{SendToClient{c, &sv2.OpenStandardMiningChannelSuccess{
		RequestID: m.RequestID, ChannelID: h.nextChannel(), Target: m.MaxTarget, ExtranoncePrefix: []byte{1, 2, 3, 4},
	}}}, nil
}

func (h *miningServer) OpenExtendedMiningChannel(_ context.Context, c ClientID, m *sv2.OpenExtendedMiningChannel) ([]ServerEvent, error) {
	h.messages <- m
	return []ServerEvent{SendToClient{c, &sv2.OpenExtendedMiningChannelSuccess{
		RequestID: m.RequestID, ChannelID: h.nextChannel(), Target: m.MaxTarget, ExtranonceSize: m.MinExtranonceSize, ExtranoncePrefix: []byte{9},
	}}}, nil
}

func (h *miningServer) SubmitSharesStandard(_ context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	h.messages <- m
	return []ServerEvent{SendToClient{c, &sv2.SubmitSharesSuccess{ChannelID: m.ChannelID, LastSequenceNumber: m.SequenceNumber, NewSubmitsAcceptedCount: 1, NewSharesSum: 1}}}, nil
}

// miningClient records what a mining client handler sees.
type miningClient struct {
	NullMiningClientHandler

	connected    chan ServerInfo
	disconnected chan error
	messages     chan sv2.Message
	events       chan any
	// onConnected, if set, gives the follow-ups of Connected.
	onConnected func(ServerInfo) []ClientEvent
}

func newMiningClient() *miningClient {
	return &miningClient{
		connected:    make(chan ServerInfo, 100),
		disconnected: make(chan error, 100),
		messages:     make(chan sv2.Message, 1000),
		events:       make(chan any, 100),
	}
}

func (h *miningClient) Connected(_ context.Context, s ServerInfo) ([]ClientEvent, error) {
	h.connected <- s
	if h.onConnected != nil {
		return h.onConnected(s), nil
	}
	return nil, nil
}

func (h *miningClient) Disconnected(_ context.Context, err error) ([]ClientEvent, error) {
	h.disconnected <- err
	return nil, nil
}

func (h *miningClient) HandleEvent(_ context.Context, payload any) ([]ClientEvent, error) {
	h.events <- payload
	if ev, ok := payload.(ClientEvent); ok {
		return []ClientEvent{ev}, nil
	}
	return nil, nil
}

func (h *miningClient) OpenStandardMiningChannelSuccess(_ context.Context, m *sv2.OpenStandardMiningChannelSuccess) ([]ClientEvent, error) {
	h.messages <- m
	return nil, nil
}

func (h *miningClient) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]ClientEvent, error) {
	h.messages <- m
	return nil, nil
}

func (h *miningClient) SubmitSharesSuccess(_ context.Context, m *sv2.SubmitSharesSuccess) ([]ClientEvent, error) {
	h.messages <- m
	return nil, nil
}

func miningUpstream(addr string, k *keys, plain bool) *UpstreamConfig {
	u := &UpstreamConfig{Address: addr, Plain: plain}
	if k != nil {
		u.AuthorityKey = &k.public
	}
	return u
}
