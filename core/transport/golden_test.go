package transport

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stratumgo/stratum/core/sv2"
)

var update = flag.Bool("update", false, "rewrite testdata/handshake_golden.json")

// recorder keeps a copy of everything written through a net.Conn.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.out.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.out.Bytes())
}

type golden struct {
	Comment        string `json:"comment"`
	ClientToServer string `json:"client_to_server"`
	ServerToClient string `json:"server_to_client"`
	HandshakeHash  string `json:"handshake_hash"`
}

// TestGoldenTranscript replays a handshake and one message each way with fixed
// randomness and clock; the bytes on the wire must not change unless the
// handshake or framing is meant to change (then run with -update and review).
func TestGoldenTranscript(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := &recorder{Conn: a}, &recorder{Conn: b}
	c, s := connect(t, ca, cb, clientConfig(t, 10), serverConfig(t, 20))
	if c.err != nil || s.err != nil {
		t.Fatal(c.err, s.err)
	}
	done := make(chan error, 1)
	go func() {
		if _, _, err := s.conn.ReadMessage(); err != nil {
			done <- err
			return
		}
		done <- s.conn.WriteMessage(&sv2.SetupConnectionSuccess{UsedVersion: 2, Flags: 0})
	}()
	if err := c.conn.WriteMessage(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Vendor: "golden"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.conn.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hash := c.conn.Handshake().Hash
	got := golden{
		Comment:        "Sv2 Noise handshake (64 + 234 bytes), then SetupConnection and SetupConnection.Success encrypted; seeds and clock fixed in helpers_test.go",
		ClientToServer: hex.EncodeToString(ca.bytes()),
		ServerToClient: hex.EncodeToString(cb.bytes()),
		HandshakeHash:  hex.EncodeToString(hash[:]),
	}
	const path = "testdata/handshake_golden.json"
	if *update {
		raw, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenTranscript -update to create it)", err)
	}
	var want golden
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transcript changed (-golden +now):\n%s", diff)
	}
	if n := len(got.ClientToServer) / 2; n < 64 {
		t.Errorf("client sent %d bytes", n)
	}
}
