package transport

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
)

// seeded returns a deterministic randomness source.
func seeded(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// authority is a fixed authority key pair for tests.
func authority(t testing.TB) (noise.SecretKey, noise.PublicKey) {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	return sk, pk
}

func serverConfig(t testing.TB, seed byte) ServerConfig {
	t.Helper()
	sk, _ := authority(t)
	static, err := noise.GenerateStaticKey(seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return ServerConfig{Noise: noise.ResponderConfig{AuthorityKey: &sk, StaticKey: static, Rand: seeded(seed + 1), Now: fixedNow}}
}

func clientConfig(t testing.TB, seed byte) ClientConfig {
	t.Helper()
	_, pk := authority(t)
	return ClientConfig{Noise: noise.InitiatorConfig{AuthorityKey: &pk, Rand: seeded(seed), Now: fixedNow}}
}

type handshakeResult struct {
	conn *Conn
	err  error
}

// connect runs both sides of a handshake over the given pair of net.Conns.
func connect(t testing.TB, cnc, snc net.Conn, ccfg ClientConfig, scfg ServerConfig) (client, server handshakeResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan handshakeResult, 1)
	go func() {
		c, err := Server(ctx, snc, scfg)
		done <- handshakeResult{c, err}
	}()
	c, err := Client(ctx, cnc, ccfg)
	client = handshakeResult{c, err}
	if err != nil {
		cnc.Close() // unblock a server still waiting on us
	}
	server = <-done
	return client, server
}

// pipePair returns an encrypted client and server connected by net.Pipe.
func pipePair(t testing.TB) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	c, s := connect(t, a, b, clientConfig(t, 10), serverConfig(t, 20))
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", c.err, s.err)
	}
	t.Cleanup(func() { c.conn.Close(); s.conn.Close() })
	return c.conn, s.conn
}

// tamper sits between two net.Pipes and passes bytes through, calling flip on
// each byte with its offset in the stream of that direction.
type tamper struct {
	flipUp, flipDown func(off int, b byte) byte
}

func (tp tamper) pipe(t testing.TB) (client, server net.Conn) {
	c1, c2 := net.Pipe()
	s1, s2 := net.Pipe()
	relay := func(dst, src net.Conn, flip func(int, byte) byte) {
		buf := make([]byte, 4096)
		off := 0
		for {
			n, err := src.Read(buf)
			for i := range n {
				if flip != nil {
					buf[i] = flip(off, buf[i])
				}
				off++
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					src.Close()
					return
				}
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	go relay(s1, c2, tp.flipUp)
	go relay(c2, s1, tp.flipDown)
	t.Cleanup(func() { c1.Close(); c2.Close(); s1.Close(); s2.Close() })
	return c1, s2
}

// flipAt returns a flip function that inverts bit of the byte at offset at.
func flipAt(at int, bit uint) func(int, byte) byte {
	return func(off int, b byte) byte {
		if off == at {
			return b ^ 1<<bit
		}
		return b
	}
}
