package service

import (
	"net"
	"testing"
)

// A client's source is its IP address, as the per-source limits count it.
func TestClientInfoSource(t *testing.T) {
	for _, c := range []struct {
		remote net.Addr
		want   string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 4000}, "127.0.0.2"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, "::1"},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, "/tmp/x"},
		{nil, ""},
	} {
		if got := (ClientInfo{Remote: c.remote}).Source(); got != c.want {
			t.Errorf("Source of %v = %q, want %q", c.remote, got, c.want)
		}
	}
}
