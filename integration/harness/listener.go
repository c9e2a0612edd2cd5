package harness

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Socket is one listening socket that outlives the apps served on it, so a
// test can stop an app and start another on the same address without
// giving the port back: between the two, another test's connection could
// take it, and connections that arrive meanwhile wait in the backlog.
type Socket struct {
	ln *net.TCPListener
}

// ListenSocket opens a Socket on a free loopback port, closed at the end of
// the test.
func ListenSocket(t testing.TB) *Socket {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &Socket{ln: ln}
}

// Addr is the socket's address.
func (s *Socket) Addr() string { return s.ln.Addr().String() }

// Listener hands the socket to one app. Closing it ends that app's Accept
// and leaves the socket open; call Listener again only after the previous
// app has stopped.
func (s *Socket) Listener() net.Listener {
	s.ln.SetDeadline(time.Time{}) // undo the previous holder's Close
	return &lease{TCPListener: s.ln}
}

type lease struct {
	*net.TCPListener
	closed atomic.Bool
}

func (l *lease) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if l.closed.Load() {
		if c != nil {
			c.Close() // the next holder's peer: it redials
		}
		return nil, net.ErrClosed
	}
	return c, err
}

func (l *lease) Close() error {
	l.closed.Store(true)
	return l.TCPListener.SetDeadline(time.Now()) // wakes a blocked Accept
}
