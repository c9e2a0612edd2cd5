package service

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// handshakeFrom runs a Noise client handshake and SetupConnection from ip.
func handshakeFrom(t *testing.T, ip, addr string, k keys) error {
	t.Helper()
	nc := dialFrom(t, ip, addr)
	c, err := transport.Client(t.Context(), nc, transport.ClientConfig{Noise: noise.InitiatorConfig{AuthorityKey: &k.public}})
	if err != nil {
		return err
	}
	if err := c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, _, err = c.ReadMessage()
	return err
}

// limited is a server configuration with small per-source limits.
func limited(k keys) ServerConfig {
	cfg := serverConfig(k, false)
	cfg.MaxHandshakes = 8
	cfg.MaxHandshakesPerSource = 2
	cfg.HandshakeTimeout = time.Minute // longer than the test: a slot is never freed by a timeout
	cfg.HandshakeRatePerSource = 1000
	return cfg
}

// Issue 12, item 1: silent connections from one address hold at most its
// share of the handshake slots, so a client from another address sets up
// at once, while they are all still waiting (on the old code it waited for
// a slot until the silent ones timed out).
func TestSilentConnectionsLeaveSlotsForOthers(t *testing.T) {
	k := newKeys(t)
	h := newMiningServer()
	_, r := startServer(t, limited(k), h, nil, nil)
	for range 40 {
		dialFrom(t, "127.0.0.2", r.addr)
	}
	if err := handshakeFrom(t, "127.0.0.1", r.addr, k); err != nil {
		t.Fatalf("a client from another address: %v", err)
	}
	recv(t, h.added, "ClientAdded")
}

// Waiting for a handshake slot counts against HandshakeTimeout, from accept:
// a connection that gets no slot in time is closed then, not after waiting
// and then being given the whole timeout again.
func TestHandshakeDeadlineRunsFromAccept(t *testing.T) {
	k := newKeys(t)
	cfg := limited(k)
	cfg.MaxHandshakes, cfg.MaxHandshakesPerSource = 1, 1
	cfg.HandshakeTimeout = time.Second
	_, r := startServer(t, cfg, newMiningServer(), nil, nil)
	holder := dialFrom(t, "127.0.0.2", r.addr) // takes the only slot
	// Half the holder's time passes (nothing to wait on but the clock);
	// the next connection then waits half a second for the slot.
	time.Sleep(500 * time.Millisecond)
	waiter := dialFrom(t, "127.0.0.3", r.addr)
	start := time.Now()
	waiter.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := waiter.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("the waiting connection: %v, want it closed", err)
	}
	// Closed at its own deadline, 1s from its accept; the old code gave it
	// the whole second again once it had the slot, closing it at 1.5s.
	if took := time.Since(start); took > 1300*time.Millisecond {
		t.Errorf("closed %v after accept; its deadline was %v", took, cfg.HandshakeTimeout)
	}
	holder.Close()
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// Issue 12, item 12: a flood of handshakes from one address is refused
// beyond its rate before any cryptography; another address is unaffected.
func TestHandshakeRatePerSource(t *testing.T) {
	k := newKeys(t)
	cfg := limited(k)
	cfg.MaxHandshakesPerSource = 100
	cfg.HandshakeRatePerSource = 2 // a burst of 4, then 2 a second
	_, r := startServer(t, cfg, newMiningServer(), nil, nil)
	refused := 0
	for range 10 {
		if handshakeFrom(t, "127.0.0.2", r.addr, k) != nil {
			refused++
		}
	}
	if refused < 5 {
		t.Errorf("%d of 10 rapid handshakes from one address refused; want all beyond the burst of 4", refused)
	}
	if err := handshakeFrom(t, "127.0.0.3", r.addr, k); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// Issue 12, item 2: one address cannot fill MaxConnections.
func TestConnectionsPerSource(t *testing.T) {
	k := newKeys(t)
	cfg := serverConfig(k, true)
	cfg.MaxConnectionsPerSource = 3
	h := newMiningServer()
	_, r := startServer(t, cfg, h, nil, nil)
	for range 3 {
		c := transport.NewPlain(dialFrom(t, "127.0.0.2", r.addr), transport.Config{})
		c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
		recv(t, h.added, "ClientAdded")
	}
	fourth := dialFrom(t, "127.0.0.2", r.addr)
	fourth.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := fourth.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a fourth connection from one address: %v, want it closed", err)
	}
	c := transport.NewPlain(dialFrom(t, "127.0.0.3", r.addr), transport.Config{})
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	recv(t, h.added, "ClientAdded from another address")
}

// Issue 12, item 2: frames of unknown types do not keep a connection alive
// past the inactivity limit (on the old code every frame reset it).
func TestUnknownFramesAreNotActivity(t *testing.T) {
	k := newKeys(t)
	cfg := serverConfig(k, true)
	cfg.InactivityTimeout = 300 * time.Millisecond
	h := newMiningServer()
	_, r := startServer(t, cfg, h, nil, nil)
	c := rawClient(t, r.addr, nil, true)
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	recv(t, h.added, "ClientAdded")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if c.WriteFrame(sv2.Header{MsgType: 0xfe, ExtensionType: 0x7fff}, []byte{1}) != nil {
					return
				}
			}
		}
	}()
	if rm := recv(t, h.removed, "the keep-alive peer to be removed"); !errors.Is(rm.reason, ErrInactive) {
		t.Fatalf("removed because %v, want ErrInactive", rm.reason)
	}
}

// Issue 12, item 2: half a frame does not hold a connection past the limit.
func TestHalfAFrameIsNotActivity(t *testing.T) {
	k := newKeys(t)
	cfg := serverConfig(k, true)
	cfg.InactivityTimeout = 300 * time.Millisecond
	h := newMiningServer()
	_, r := startServer(t, cfg, h, nil, nil)
	nc := dialFrom(t, "127.0.0.1", r.addr)
	c := transport.NewPlain(nc, transport.Config{})
	c.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0))
	c.ReadMessage()
	recv(t, h.added, "ClientAdded")
	nc.Write([]byte{0, 0, 0x1a, 100, 0, 0, 1}) // a header announcing 100 bytes, then one
	if rm := recv(t, h.removed, "the half-frame peer to be removed"); !errors.Is(rm.reason, ErrInactive) {
		t.Fatalf("removed because %v, want ErrInactive", rm.reason)
	}
}
