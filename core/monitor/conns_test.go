package monitor

import (
	"net"
	"testing"
)

// fakeConn is a net.Conn from a given address, for the table alone.
type fakeConn struct {
	net.Conn
	addr net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.addr }

func connFrom(ip string, port int) net.Conn {
	return fakeConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
}

// A full table makes room from the source holding the most connections,
// oldest first, never from one being answered, and refuses the newcomer
// only when every other is being answered.
func TestConnTableEvictsTheBusiestSource(t *testing.T) {
	tab := newConnTable(4)
	honest := connFrom("192.0.2.1", 1) // the oldest of all
	if v := tab.add(honest); v != nil {
		t.Fatal("evicted with room left")
	}
	flood := []net.Conn{connFrom("192.0.2.9", 1), connFrom("192.0.2.9", 2), connFrom("192.0.2.9", 3)}
	for _, c := range flood {
		if v := tab.add(c); v != nil {
			t.Fatal("evicted with room left")
		}
	}
	if v := tab.add(connFrom("192.0.2.9", 4)); v != flood[0] {
		t.Errorf("victim %v, want the flooding source's oldest %v (not the honest, older one)", v.RemoteAddr(), flood[0].RemoteAddr())
	}
	// All but the newest are being answered: the newest goes.
	for c, e := range tab.conns {
		if c != honest {
			e.serving = 1
		}
	}
	late := connFrom("192.0.2.7", 1)
	if v := tab.add(late); v != honest {
		t.Errorf("victim %v, want the one not being answered", v.RemoteAddr())
	}
	for _, e := range tab.conns {
		e.serving = 1
	}
	newest := connFrom("192.0.2.8", 1)
	if v := tab.add(newest); v != newest {
		t.Errorf("with every connection answered, victim %v, want the newcomer", v.RemoteAddr())
	}
	if len(tab.conns) != 4 {
		t.Errorf("%d connections kept, want the bound, 4", len(tab.conns))
	}
}
