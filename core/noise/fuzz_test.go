package noise

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzResponderMessage1(f *testing.F) {
	srv := newTestServer(f)
	good := runHandshake(f, srv.initiatorConfig(1), srv.responderConfig(2))
	f.Add(good.msg1)
	f.Add(make([]byte, Message1Size))
	f.Add(bytes.Repeat([]byte{0xff}, Message1Size))
	f.Add(good.msg1[:10])
	f.Add(good.msg2)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := NewResponder(srv.responderConfig(2))
		if err != nil {
			t.Fatal(err)
		}
		out, res, err := r.Respond(msg)
		if len(msg) != Message1Size {
			if !errors.Is(err, ErrMessageSize) || out != nil || res != nil {
				t.Fatalf("%d bytes: err = %v, want %v and no output", len(msg), err, ErrMessageSize)
			}
			return
		}
		// Any 64 bytes are a valid ElligatorSwift key, so any must succeed.
		if err != nil || len(out) != Message2Size || res == nil {
			t.Fatalf("64-byte message: %d bytes out, err %v", len(out), err)
		}
	})
}

func FuzzInitiatorMessage2(f *testing.F) {
	srv := newTestServer(f)
	good := runHandshake(f, srv.initiatorConfig(1), srv.responderConfig(2))
	if good.initiatorErr != nil {
		f.Fatal(good.initiatorErr)
	}
	f.Add(good.msg2)
	flipped := bytes.Clone(good.msg2)
	flipped[Message2Size-1] ^= 1
	f.Add(flipped)
	f.Add(make([]byte, Message2Size))
	f.Add(good.msg2[:Message2Size-1])
	f.Add(good.msg1)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, msg []byte) {
		i, err := NewInitiator(srv.initiatorConfig(1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := i.Start(); err != nil {
			t.Fatal(err)
		}
		res, err := i.Finish(msg)
		switch {
		case len(msg) != Message2Size:
			if !errors.Is(err, ErrMessageSize) {
				t.Fatalf("%d bytes: err = %v, want %v", len(msg), err, ErrMessageSize)
			}
		case err == nil:
			// Accepting anything but the genuine reply would mean the
			// fuzzer forged an AEAD tag or a signature.
			if !bytes.Equal(msg, good.msg2) || !res.Authenticated {
				t.Fatalf("accepted a message that is not the responder's: %x", msg)
			}
		case !errors.Is(err, ErrDecrypt):
			t.Fatalf("err = %v, want %v", err, ErrDecrypt)
		}
		if err != nil && res != nil {
			t.Fatal("result returned alongside an error")
		}
	})
}

// BenchmarkHandshake measures a full handshake, both sides in one goroutine,
// as a server runs it: one static key and a shared certificate issuer.
func BenchmarkHandshake(b *testing.B) {
	srv := newTestServer(b)
	icfg, rcfg := srv.initiatorConfig(0), srv.responderConfig(0)
	icfg.Rand = nil // crypto/rand, as in production
	rcfg = ResponderConfig{Issuer: NewCertificateIssuer(srv.authority, srv.static, 0, nil, rcfg.Now), Now: rcfg.Now}
	b.ReportAllocs()
	for b.Loop() {
		tr := runHandshake(b, icfg, rcfg)
		if tr.initiatorErr != nil || !tr.initiator.Authenticated {
			b.Fatal(tr.initiatorErr)
		}
	}
}

// BenchmarkHandshakeSigningEach signs a new certificate in every handshake.
func BenchmarkHandshakeSigningEach(b *testing.B) {
	srv := newTestServer(b)
	icfg, rcfg := srv.initiatorConfig(0), srv.responderConfig(0)
	icfg.Rand, rcfg.Rand = nil, nil
	b.ReportAllocs()
	for b.Loop() {
		tr := runHandshake(b, icfg, rcfg)
		if tr.initiatorErr != nil || !tr.initiator.Authenticated {
			b.Fatal(tr.initiatorErr)
		}
	}
}
