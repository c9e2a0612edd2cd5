package transport

import (
	"bytes"
	"net"
	"time"
)

// memConn is a net.Conn over an in-memory buffer, for fuzzing and benchmarks
// that run both ends in one goroutine: reads consume what writes appended.
type memConn struct{ buf bytes.Buffer }

func (m *memConn) Read(p []byte) (int, error)         { return m.buf.Read(p) }
func (m *memConn) Write(p []byte) (int, error)        { return m.buf.Write(p) }
func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (m *memConn) RemoteAddr() net.Addr               { return memAddr{} }
func (m *memConn) SetDeadline(time.Time) error        { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// encryptedLoop returns a sender and a receiver sharing one memConn and one
// key, as the two ends of one direction of an encrypted connection.
func encryptedLoop(cfg Config) (send, recv *Conn, wire *memConn) {
	key := [32]byte{1, 2, 3}
	wire = new(memConn)
	s, _ := newCipherState(key, 0)
	r, _ := newCipherState(key, 0)
	return newConn(wire, cfg, Handshake{Encrypted: true}, s, nil), newConn(wire, cfg, Handshake{Encrypted: true}, nil, r), wire
}
