package transport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stratumgo/stratum/core/sv2"
)

// BenchmarkEncryptedRoundTrip encrypts a frame on one Conn and decrypts it on
// another, both in this goroutine over an in-memory buffer: the per-frame
// cost of the transport without the socket.
func BenchmarkEncryptedRoundTrip(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			send, recv, _ := encryptedLoop(Config{})
			payload := make([]byte, size)
			h := sv2.Header{ExtensionType: sv2.ChannelMsgBit, MsgType: sv2.MsgTypeSubmitSharesStandard}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := send.WriteFrame(h, payload); err != nil {
					b.Fatal(err)
				}
				if _, _, err := recv.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubmitSharesRoundTrip sends a SubmitSharesStandard through
// WriteMessage and ReadMessage: encode, encrypt, decrypt, decode.
func BenchmarkSubmitSharesRoundTrip(b *testing.B) {
	send, recv, _ := encryptedLoop(Config{})
	m := &sv2.SubmitSharesStandard{ChannelID: 1, SequenceNumber: 2, JobID: 3, Nonce: 4, NTime: 5, Version: 6}
	b.ReportAllocs()
	for b.Loop() {
		if err := send.WriteMessage(m); err != nil {
			b.Fatal(err)
		}
		if _, _, err := recv.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshakeOverPipe runs the full handshake, both sides, over net.Pipe.
func BenchmarkHandshakeOverPipe(b *testing.B) {
	ccfg, scfg := clientConfig(b, 10), serverConfig(b, 20)
	ccfg.Noise.Rand, scfg.Noise.Rand = nil, nil
	b.ReportAllocs()
	for b.Loop() {
		a, z := net.Pipe()
		c, s := connect(b, a, z, ccfg, scfg)
		if c.err != nil || s.err != nil {
			b.Fatal(c.err, s.err)
		}
		c.conn.Close()
		s.conn.Close()
	}
}

func byteSize(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
