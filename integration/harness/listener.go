package harness

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Socket is one listening socket that outlives the apps served on it, so a
// test can stop an app and start another on the same address without
// giving the port back: between the two, another test's connection could
// take it. While no app holds it, it closes every connection at once, as
// a stopped server's port refuses them.
type Socket struct {
	ln *net.TCPListener

	mu      sync.Mutex
	refuser chan struct{} // closed to stop the refusing loop; nil while an app holds the socket
	stopped chan struct{} // closed once that loop has ended
}

// ListenSocket opens a Socket on a free loopback port, closed at the end of
// the test.
func ListenSocket(t testing.TB) *Socket {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &Socket{ln: ln}
	t.Cleanup(func() { s.stopRefusing(); ln.Close() })
	return s
}

// Addr is the socket's address.
func (s *Socket) Addr() string { return s.ln.Addr().String() }

// Listener hands the socket to one app. Closing it ends that app's Accept
// and leaves the socket open, refusing connections; call Listener again
// only after the previous app has stopped.
func (s *Socket) Listener() net.Listener {
	s.stopRefusing()
	s.ln.SetDeadline(time.Time{}) // undo the previous holder's Close
	return &lease{TCPListener: s.ln, s: s}
}

// refuse closes every connection until the socket is handed out again.
func (s *Socket) refuse() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuser != nil {
		return
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	s.refuser, s.stopped = stop, stopped
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.ln.SetDeadline(time.Now().Add(50 * time.Millisecond)) // to look at stop now and then
			c, err := s.ln.Accept()
			if c != nil {
				c.Close()
			}
			if err != nil && errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}()
}

func (s *Socket) stopRefusing() {
	s.mu.Lock()
	stop, stopped := s.refuser, s.stopped
	s.refuser, s.stopped = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
}

type lease struct {
	*net.TCPListener
	s      *Socket
	closed atomic.Bool
}

func (l *lease) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if l.closed.Load() {
		if c != nil {
			c.Close() // a connection for the next holder: its peer redials
		}
		return nil, net.ErrClosed
	}
	return c, err
}

func (l *lease) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	err := l.TCPListener.SetDeadline(time.Now()) // wakes a blocked Accept
	l.s.refuse()
	return err
}
