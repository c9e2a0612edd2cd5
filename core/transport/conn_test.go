package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

func TestEncryptedLen(t *testing.T) {
	for pt, want := range map[int]int{0: 0, 1: 17, 65519: 65535, 65520: 65535 + 17, 200000: 3*65535 + (200000 - 3*65519) + 16} {
		if got := EncryptedLen(pt); got != want {
			t.Errorf("EncryptedLen(%d) = %d, want %d", pt, got, want)
		}
	}
}

var frameSizes = []int{0, 1, 65519, 65520, 200000}

func payloadOf(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31) + seed
	}
	return p
}

// exchange sends one frame of every size from a to b and from b to a at the same time.
func exchange(t *testing.T, a, b *Conn) {
	t.Helper()
	errs := make(chan error, 4)
	send := func(c *Conn, seed byte) {
		for i, n := range frameSizes {
			if err := c.WriteFrame(sv2.Header{ExtensionType: 0x8000, MsgType: byte(i)}, payloadOf(n, seed)); err != nil {
				errs <- fmt.Errorf("write %d bytes: %w", n, err)
				return
			}
		}
		errs <- nil
	}
	recv := func(c *Conn, seed byte) {
		for i, n := range frameSizes {
			h, p, err := c.ReadFrame()
			if err != nil {
				errs <- fmt.Errorf("read %d bytes: %w", n, err)
				return
			}
			if h.MsgType != byte(i) || !h.ChannelMsg() || int(h.Length) != n || !bytes.Equal(p, payloadOf(n, seed)) {
				errs <- fmt.Errorf("frame %d: header %+v, payload of %d bytes differs", i, h, len(p))
				return
			}
		}
		errs <- nil
	}
	go send(a, 1)
	go send(b, 2)
	go recv(b, 1)
	go recv(a, 2)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestEncryptedFrames(t *testing.T) {
	client, server := pipePair(t)
	if !client.Handshake().Encrypted || !client.Handshake().Authenticated || server.Handshake().Authenticated {
		t.Errorf("handshake info: client %+v, server %+v", client.Handshake(), server.Handshake())
	}
	if client.Handshake().Hash != server.Handshake().Hash {
		t.Errorf("handshake hashes differ")
	}
	exchange(t, client, server)
}

func TestPlainFrames(t *testing.T) {
	a, b := net.Pipe()
	client, server := NewPlain(a, Config{}), NewPlain(b, Config{})
	defer client.Close()
	defer server.Close()
	exchange(t, client, server)
}

func TestMessages(t *testing.T) {
	client, server := pipePair(t)
	want := &sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Vendor: "test"}
	go client.WriteMessage(want)
	h, got, err := server.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if h.MsgType != sv2.MsgTypeSetupConnection || !cmp.Equal(want, got) {
		t.Errorf("got %+v, %+v", h, got)
	}
	// A frame that does not decode is an error for that frame only.
	go client.WriteFrame(sv2.Header{MsgType: sv2.MsgTypeSetupConnectionSuccess}, []byte{1})
	if _, _, err := server.ReadMessage(); !errors.Is(err, sv2.ErrTruncated) {
		t.Errorf("truncated message: %v", err)
	}
	go client.WriteMessage(&sv2.SetupConnectionSuccess{UsedVersion: 2})
	if _, m, err := server.ReadMessage(); err != nil || m.(*sv2.SetupConnectionSuccess).UsedVersion != 2 {
		t.Errorf("after a bad frame: %v, %v", m, err)
	}
	// Encoding errors are reported before anything is sent.
	if err := client.WriteMessage(&sv2.SetupConnectionError{ErrorCode: string(make([]byte, 300))}); !errors.Is(err, sv2.ErrTooLong) {
		t.Errorf("oversized string: %v", err)
	}
}

// handshakeLen is the number of bytes each direction carries during the handshake.
var handshakeLen = map[string]int{"client→server": noise.Message1Size, "server→client": noise.Message2Size}

// Every byte of both handshake messages, with one bit flipped, makes the
// handshake fail on the client and leaves the server with a dead connection.
func TestHandshakeBitFlips(t *testing.T) {
	for _, dir := range []string{"client→server", "server→client"} {
		for off := range handshakeLen[dir] {
			var tp tamper
			if dir == "client→server" {
				tp.flipUp = flipAt(off, uint(off%8))
			} else {
				tp.flipDown = flipAt(off, uint(off%8))
			}
			cnc, snc := tp.pipe(t)
			c, s := connect(t, cnc, snc, clientConfig(t, 10), serverConfig(t, 20))
			if c.err == nil {
				t.Fatalf("%s byte %d flipped: client handshake succeeded", dir, off)
			}
			if !errors.Is(c.err, noise.ErrDecrypt) {
				t.Fatalf("%s byte %d flipped: client error %v, want noise.ErrDecrypt", dir, off, c.err)
			}
			if s.err == nil {
				if _, _, err := s.conn.ReadFrame(); err == nil {
					t.Fatalf("%s byte %d flipped: server connection still alive", dir, off)
				}
			}
		}
	}
}

// A flipped bit anywhere in an encrypted frame, header or any Noise block,
// fails authentication and closes the connection.
func TestFrameBitFlips(t *testing.T) {
	const small = 10
	big := 2*MaxBlockPlaintext + 100 // three Noise blocks
	smallWire := EncryptedHeaderSize + EncryptedLen(small)
	var offsets []int
	for i := range smallWire {
		offsets = append(offsets, i) // every byte of a small frame
	}
	for _, o := range []int{0, EncryptedHeaderSize, EncryptedHeaderSize + MaxNoiseMessage - 1, EncryptedHeaderSize + MaxNoiseMessage,
		EncryptedHeaderSize + 2*MaxNoiseMessage + 50, EncryptedHeaderSize + EncryptedLen(big) - 1} {
		offsets = append(offsets, smallWire+o) // block edges of a large frame sent second
	}
	for _, off := range offsets {
		tp := tamper{flipUp: flipAt(noise.Message1Size+off, uint(off%8))}
		cnc, snc := tp.pipe(t)
		c, s := connect(t, cnc, snc, clientConfig(t, 10), serverConfig(t, 20))
		if c.err != nil || s.err != nil {
			t.Fatalf("handshake: %v, %v", c.err, s.err)
		}
		go func() {
			c.conn.WriteFrame(sv2.Header{MsgType: 0x99}, payloadOf(small, 0))
			c.conn.WriteFrame(sv2.Header{MsgType: 0x99}, payloadOf(big, 0))
		}()
		var err error
		for range 2 {
			if _, _, err = s.conn.ReadFrame(); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("bit flipped at frame byte %d: read error %v, want ErrDecrypt", off, err)
		}
		// The connection is closed: the next read fails at once with the same error.
		if _, _, err2 := s.conn.ReadFrame(); !errors.Is(err2, ErrDecrypt) {
			t.Fatalf("after a decryption failure: %v", err2)
		}
		if err := s.conn.WriteMessage(&sv2.SetupConnectionSuccess{}); err == nil {
			t.Fatalf("write succeeded on a closed connection")
		}
		c.conn.Close()
	}
}

func TestCertificateFailures(t *testing.T) {
	_, otherKey, _ := noise.GenerateAuthorityKeyPair(seeded(99))
	authSK, authPK := authority(t)
	static, _ := noise.GenerateStaticKey(seeded(5))
	v1 := noise.Certificate{Version: 1, ValidFrom: uint32(testNow.Unix()) - 60, NotValidAfter: uint32(testNow.Unix()) + 3600}

	tests := []struct {
		name   string
		client func(*ClientConfig)
		server func(*ServerConfig)
		want   error // nil: success
	}{
		{"valid", nil, nil, nil},
		{"wrong authority key", func(c *ClientConfig) { c.Noise.AuthorityKey = &otherKey }, nil, noise.ErrCertificateSignature},
		{"expired", nil, func(s *ServerConfig) { s.Noise.Now = func() time.Time { return testNow.Add(-2 * time.Hour) } }, noise.ErrCertificateExpired},
		{"expired within tolerance", nil, func(s *ServerConfig) {
			s.Noise.Now = func() time.Time { return testNow.Add(-time.Hour - 2*time.Minute) }
		}, nil},
		{"not yet valid", nil, func(s *ServerConfig) { s.Noise.Now = func() time.Time { return testNow.Add(10 * time.Minute) } }, noise.ErrCertificateNotYetValid},
		{"server clock 3 minutes ahead", nil, func(s *ServerConfig) { s.Noise.Now = func() time.Time { return testNow.Add(3 * time.Minute) } }, nil},
		{"version 1", nil, func(s *ServerConfig) {
			s.Noise.AuthorityKey, s.Noise.Certificate, s.Noise.StaticKey = nil, &v1, static
		}, noise.ErrCertificateVersion},
		{"no authority key pinned", func(c *ClientConfig) { c.Noise.AuthorityKey = nil }, nil, nil},
	}
	sentinels := []error{noise.ErrCertificateSignature, noise.ErrCertificateExpired, noise.ErrCertificateNotYetValid, noise.ErrCertificateVersion}
	_ = authSK
	_ = authPK
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ccfg, scfg := clientConfig(t, 10), serverConfig(t, 20)
			if tt.client != nil {
				tt.client(&ccfg)
			}
			if tt.server != nil {
				tt.server(&scfg)
			}
			a, b := net.Pipe()
			c, s := connect(t, a, b, ccfg, scfg)
			if tt.want == nil {
				if c.err != nil || s.err != nil {
					t.Fatalf("client %v, server %v", c.err, s.err)
				}
				if got, want := c.conn.Handshake().Authenticated, ccfg.Noise.AuthorityKey != nil; got != want {
					t.Errorf("Authenticated = %t, want %t", got, want)
				}
				c.conn.Close()
				s.conn.Close()
				return
			}
			for _, e := range sentinels {
				if errors.Is(c.err, e) != (e == tt.want) {
					t.Errorf("client error %v: errors.Is(%v) = %t", c.err, e, errors.Is(c.err, e))
				}
			}
			if s.err == nil {
				if _, _, err := s.conn.ReadFrame(); err == nil {
					t.Errorf("server connection still alive after the client refused the certificate")
				}
			}
		})
	}
}

func TestCertificateTimeErrorNamesTimes(t *testing.T) {
	ccfg, scfg := clientConfig(t, 10), serverConfig(t, 20)
	scfg.Noise.Now = func() time.Time { return testNow.Add(-3 * time.Hour) }
	a, b := net.Pipe()
	c, _ := connect(t, a, b, ccfg, scfg)
	var te *noise.CertificateTimeError
	if !errors.As(c.err, &te) {
		t.Fatalf("error %v is not a CertificateTimeError", c.err)
	}
	for _, s := range []string{"2026-11-26T08:59:00Z", "2026-11-26T10:00:00Z", "2026-11-26T12:00:00Z", "5m0s"} {
		if !bytes.Contains([]byte(c.err.Error()), []byte(s)) {
			t.Errorf("error %q does not name %s", c.err, s)
		}
	}
}

// A peer that stops mid-handshake is cut off at the deadline, on either side.
func TestHandshakeDeadline(t *testing.T) {
	ctx := context.Background()
	t.Run("server", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		go a.Write(make([]byte, 10)) // 10 of the 64 bytes, then silence
		cfg := serverConfig(t, 20)
		cfg.HandshakeTimeout = 50 * time.Millisecond
		_, err := Server(ctx, b, cfg)
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("err = %v, want ErrHandshakeTimeout", err)
		}
		if _, err := b.Write([]byte{1}); !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("connection not closed after the timeout: %v", err)
		}
	})
	t.Run("client", func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		go io.ReadFull(b, make([]byte, noise.Message1Size)) // read message 1, never answer
		cfg := clientConfig(t, 10)
		cfg.HandshakeTimeout = 50 * time.Millisecond
		if _, err := Client(ctx, a, cfg); !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("err = %v, want ErrHandshakeTimeout", err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := Server(ctx, b, serverConfig(t, 20))
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestMaxFrameSize(t *testing.T) {
	a, b := net.Pipe()
	ccfg, scfg := clientConfig(t, 10), serverConfig(t, 20)
	scfg.MaxFrameSize = 1000
	c, s := connect(t, a, b, ccfg, scfg)
	if c.err != nil || s.err != nil {
		t.Fatal(c.err, s.err)
	}
	defer c.conn.Close()
	go c.conn.WriteFrame(sv2.Header{MsgType: 0x99}, make([]byte, 1000))
	if _, p, err := s.conn.ReadFrame(); err != nil || len(p) != 1000 {
		t.Fatalf("frame at the limit: %d bytes, %v", len(p), err)
	}
	go c.conn.WriteFrame(sv2.Header{MsgType: 0x99}, make([]byte, 1001))
	if _, _, err := s.conn.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame over the limit: %v, want ErrFrameTooLarge", err)
	}
}

func TestPeerLeavesMidFrame(t *testing.T) {
	a, b := net.Pipe()
	client, server := NewPlain(a, Config{}), NewPlain(b, Config{})
	go func() {
		a.Write([]byte{0, 0, 0x99, 10, 0, 0, 1, 2, 3})
		a.Close()
	}()
	if _, _, err := server.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	client.Close()
}

func TestReadTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	server := NewPlain(b, Config{ReadTimeout: 20 * time.Millisecond})
	if _, _, err := server.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
}

func TestUnauthenticatedClientWarns(t *testing.T) {
	var logs bytes.Buffer
	ccfg := clientConfig(t, 10)
	ccfg.Noise.AuthorityKey = nil
	ccfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a, b := net.Pipe()
	c, s := connect(t, a, b, ccfg, serverConfig(t, 20))
	if c.err != nil || s.err != nil {
		t.Fatal(c.err, s.err)
	}
	defer c.conn.Close()
	defer s.conn.Close()
	if c.conn.Handshake().Authenticated || !bytes.Contains(logs.Bytes(), []byte("not authenticated")) {
		t.Errorf("authenticated %t, logs %q", c.conn.Handshake().Authenticated, logs.String())
	}
}

func TestBufferedMessagesOneWrite(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		send, recv, wire := encryptedLoop(Config{})
		if !encrypted {
			wire = new(memConn)
			send, recv = NewPlain(wire, Config{}), NewPlain(wire, Config{})
		}
		for i := range 3 {
			if err := send.BufferMessage(&sv2.SetTarget{ChannelID: uint32(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if wire.buf.Len() != 0 {
			t.Fatalf("encrypted=%t: %d bytes written before Flush", encrypted, wire.buf.Len())
		}
		// An encoding error drops only that message.
		if err := send.BufferMessage(&sv2.SetupConnectionError{ErrorCode: string(make([]byte, 256))}); !errors.Is(err, sv2.ErrTooLong) {
			t.Fatalf("oversized message: %v", err)
		}
		if err := send.Flush(); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			_, m, err := recv.ReadMessage()
			if err != nil || m.(*sv2.SetTarget).ChannelID != uint32(i) {
				t.Fatalf("encrypted=%t frame %d: %v, %v", encrypted, i, m, err)
			}
		}
		if wire.buf.Len() != 0 {
			t.Errorf("encrypted=%t: %d bytes left over", encrypted, wire.buf.Len())
		}
	}
}

// CloseRead ends a blocked read, and every later one, with ErrReadClosed,
// while the connection still writes: a server's last messages go out.
func TestCloseReadKeepsWriting(t *testing.T) {
	client, server := pipePair(t)
	read := make(chan error, 1)
	go func() {
		_, _, err := server.ReadMessage()
		read <- err
	}()
	if err := server.CloseRead(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-read:
		if !errors.Is(err, ErrReadClosed) {
			t.Fatalf("blocked read: %v, want ErrReadClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CloseRead did not end a blocked read")
	}
	if _, _, err := server.ReadMessage(); !errors.Is(err, ErrReadClosed) {
		t.Fatalf("later read: %v, want ErrReadClosed", err)
	}
	go server.WriteMessage(&sv2.SetupConnectionSuccess{UsedVersion: 2})
	if _, m, err := client.ReadMessage(); err != nil || m.(*sv2.SetupConnectionSuccess).UsedVersion != 2 {
		t.Fatalf("write after CloseRead: %v, %v", m, err)
	}
}
