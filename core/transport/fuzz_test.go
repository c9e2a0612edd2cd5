package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// scriptConn feeds a fixed input to a server and discards what it writes.
type scriptConn struct {
	memConn
	in []byte
}

func (s *scriptConn) Read(p []byte) (int, error) {
	if len(s.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.in)
	s.in = s.in[n:]
	return n, nil
}

func (s *scriptConn) Write(p []byte) (int, error) { return len(p), nil }

// FuzzServer plays an arbitrary client against the responder: the first 64
// bytes are handshake message 1 (any 64 bytes are a valid ElligatorSwift
// key), the rest the first encrypted frames. Nothing may panic; every error
// is a clean transport error.
func FuzzServer(f *testing.F) {
	cfg := serverConfig(f, 20)
	cfg.MaxFrameSize = 1 << 16
	cfg.Noise.Rand = nil
	issuer := noise.NewCertificateIssuer(*cfg.Noise.AuthorityKey, cfg.Noise.StaticKey, 0, nil, cfg.Noise.Now)
	cfg.Noise.AuthorityKey, cfg.Noise.StaticKey, cfg.Noise.Issuer = nil, nil, issuer
	f.Add(make([]byte, 64))
	f.Add(append(make([]byte, 64), make([]byte, EncryptedHeaderSize+17)...))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		conn, err := Server(context.Background(), &scriptConn{in: in}, cfg)
		if err != nil {
			if len(in) >= noise.Message1Size {
				t.Fatalf("handshake failed on %d bytes: %v", len(in), err)
			}
			return
		}
		for range 4 {
			if _, _, err = conn.ReadFrame(); err != nil {
				break
			}
		}
		if err == nil || !(errors.Is(err, ErrDecrypt) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Fatalf("forged frames: err = %v", err)
		}
	})
}

// FuzzEncryptedFrames gets past the MAC: the input is split into chunks that a
// peer holding the key encrypts as the frame stream, so header fields
// (lengths over the limit, lengths that lie about what follows) reach the
// framing code.
func FuzzEncryptedFrames(f *testing.F) {
	f.Add([]byte{0, 0, 0x99, 3, 0, 0, 1, 2, 3}, uint8(9))
	f.Add([]byte{0, 0x80, 0x1a, 0xff, 0xff, 0xff}, uint8(6))
	f.Add([]byte{0, 0, 0x99, 0, 0, 1, 7}, uint8(6))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		send, recv, wire := encryptedLoop(Config{MaxFrameSize: 1 << 16})
		// Seal the stream in chunks: headers and payload blocks as the peer cut them.
		size := max(int(chunk), 1)
		for len(stream) > 0 {
			n := min(size, len(stream))
			ct, err := send.send.seal(nil, stream[:n])
			if err != nil {
				t.Fatal(err)
			}
			wire.Write(ct)
			stream = stream[n:]
		}
		for {
			h, p, err := recv.ReadFrame()
			if err != nil {
				if !(errors.Is(err, ErrDecrypt) || errors.Is(err, ErrFrameTooLarge) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if int(h.Length) != len(p) || len(p) > 1<<16 {
				t.Fatalf("frame header %+v with %d payload bytes", h, len(p))
			}
		}
	})
}

// FuzzPlainFrames reads arbitrary bytes as a plain frame stream.
func FuzzPlainFrames(f *testing.F) {
	frame, _ := sv2.AppendFrame(nil, &sv2.SetupConnectionSuccess{UsedVersion: 2})
	f.Add(frame)
	f.Add([]byte{0, 0, 0x99, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewPlain(&scriptConn{in: in}, Config{MaxFrameSize: 1 << 16, ReadTimeout: time.Second})
		for {
			h, p, err := c.ReadFrame()
			if err != nil {
				if !(errors.Is(err, ErrFrameTooLarge) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if int(h.Length) != len(p) {
				t.Fatalf("header %+v, payload %d bytes", h, len(p))
			}
		}
	})
}

var _ net.Conn = (*scriptConn)(nil)
