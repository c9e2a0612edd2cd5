package noise

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"
)

// testServer is a responder setup shared by the handshake tests: an
// authority, a static key certified by it, and a fixed clock.
type testServer struct {
	authority    SecretKey
	authorityPub PublicKey
	static       *StaticKey
}

func newTestServer(t testing.TB) testServer {
	t.Helper()
	rng := seeded(30)
	sk, pub, err := GenerateAuthorityKeyPair(rng)
	if err != nil {
		t.Fatal(err)
	}
	static, err := GenerateStaticKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	return testServer{authority: sk, authorityPub: pub, static: static}
}

func (s testServer) responderConfig(seed byte) ResponderConfig {
	return ResponderConfig{
		AuthorityKey: &s.authority,
		StaticKey:    s.static,
		Rand:         seeded(seed),
		Now:          func() time.Time { return testNow },
	}
}

func (s testServer) initiatorConfig(seed byte) InitiatorConfig {
	return InitiatorConfig{
		AuthorityKey: &s.authorityPub,
		Rand:         seeded(seed),
		Now:          func() time.Time { return testNow },
	}
}

type transcript struct {
	msg1, msg2                 []byte
	initiator, responder       *Result
	initiatorErr, responderErr error
}

func runHandshake(t testing.TB, icfg InitiatorConfig, rcfg ResponderConfig) transcript {
	t.Helper()
	i, err := NewInitiator(icfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResponder(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if tr.msg1, err = i.Start(); err != nil {
		t.Fatal(err)
	}
	tr.msg2, tr.responder, tr.responderErr = r.Respond(tr.msg1)
	if tr.responderErr != nil {
		return tr
	}
	tr.initiator, tr.initiatorErr = i.Finish(tr.msg2)
	return tr
}

func TestProtocolName(t *testing.T) {
	if got := string(cipherSuite(true).Name()); "Noise_NX_"+got != ProtocolName {
		t.Errorf("cipher suite name %q does not give %q", got, ProtocolName)
	}
	// SRI hard-codes SHA-256 of the protocol name as the initial chaining key.
	const sri = "2eb47881208e9eee1f669f67c66ee70ea9ea88090d503fe830dc4bc83e29bf10"
	if h := sha256.Sum256([]byte(ProtocolName)); hex.EncodeToString(h[:]) != sri {
		t.Errorf("SHA-256(protocol name) = %x, want %s", h, sri)
	}
}

func TestHandshake(t *testing.T) {
	srv := newTestServer(t)
	tr := runHandshake(t, srv.initiatorConfig(1), srv.responderConfig(2))
	if tr.responderErr != nil || tr.initiatorErr != nil {
		t.Fatalf("handshake failed: responder %v, initiator %v", tr.responderErr, tr.initiatorErr)
	}
	if len(tr.msg1) != 64 || len(tr.msg2) != 234 {
		t.Errorf("message sizes %d and %d, want 64 and 234", len(tr.msg1), len(tr.msg2))
	}
	in, re := tr.initiator, tr.responder
	if !in.Authenticated || re.Authenticated {
		t.Errorf("Authenticated: initiator %v, responder %v; want true, false", in.Authenticated, re.Authenticated)
	}
	if in.HandshakeHash != re.HandshakeHash {
		t.Error("handshake hashes differ")
	}
	if in.RemoteStatic == nil || *in.RemoteStatic != srv.static.PublicKey() {
		t.Errorf("initiator saw static key %v, want %v", in.RemoteStatic, srv.static.PublicKey())
	}
	if re.RemoteStatic != nil {
		t.Errorf("responder has a remote static key %v", re.RemoteStatic)
	}
	if in.Certificate != re.Certificate {
		t.Error("certificates differ")
	}
	if got, want := in.Certificate.ValidFrom, uint32(testNow.Add(-time.Minute).Unix()); got != want {
		t.Errorf("valid_from = %d, want %d (one minute before now)", got, want)
	}
	if got, want := in.Certificate.NotValidAfter, uint32(testNow.Add(DefaultCertValidity).Unix()); got != want {
		t.Errorf("not_valid_after = %d, want %d", got, want)
	}
	// The static key travels encrypted: its encoding must not appear in clear.
	enc := srv.static.EllSwift()
	if bytes.Contains(tr.msg2, enc[:]) {
		t.Error("static key sent in the clear")
	}
	assertTransport(t, in, re)
}

// assertTransport checks that each side decrypts what the other encrypts,
// for several messages in both directions, and rejects a forgery.
func assertTransport(t *testing.T, initiator, responder *Result) {
	t.Helper()
	for n := range 3 {
		for _, dir := range []struct {
			name     string
			from, to *Result
		}{{"initiator->responder", initiator, responder}, {"responder->initiator", responder, initiator}} {
			msg := []byte(fmt.Sprintf("%s message %d", dir.name, n))
			ct, err := dir.from.Send.Encrypt(nil, nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(ct, msg) {
				t.Fatalf("%s: plaintext visible in ciphertext", dir.name)
			}
			pt, err := dir.to.Receive.Decrypt(nil, nil, ct)
			if err != nil {
				t.Fatalf("%s message %d: %v", dir.name, n, err)
			}
			if !bytes.Equal(pt, msg) {
				t.Fatalf("%s: got %q, want %q", dir.name, pt, msg)
			}
		}
	}
	ct, err := initiator.Send.Encrypt(nil, nil, []byte("tampered"))
	if err != nil {
		t.Fatal(err)
	}
	ct[0] ^= 1
	if _, err := responder.Receive.Decrypt(nil, nil, ct); err == nil {
		t.Error("tampered transport message decrypted")
	}
}

func TestHandshakeReplay(t *testing.T) {
	srv := newTestServer(t)
	a := runHandshake(t, srv.initiatorConfig(1), srv.responderConfig(2))
	b := runHandshake(t, srv.initiatorConfig(1), srv.responderConfig(2))
	if a.initiatorErr != nil || b.initiatorErr != nil {
		t.Fatal(a.initiatorErr, b.initiatorErr)
	}
	if !bytes.Equal(a.msg1, b.msg1) || !bytes.Equal(a.msg2, b.msg2) {
		t.Error("same seeds gave different handshake messages")
	}
	if a.initiator.HandshakeHash != b.initiator.HandshakeHash ||
		a.initiator.Send.UnsafeKey() != b.initiator.Send.UnsafeKey() ||
		a.initiator.Receive.UnsafeKey() != b.initiator.Receive.UnsafeKey() {
		t.Error("same seeds gave different sessions")
	}

	c := runHandshake(t, srv.initiatorConfig(3), srv.responderConfig(4))
	if bytes.Equal(a.msg1, c.msg1) || bytes.Equal(a.msg2[:64], c.msg2[:64]) {
		t.Error("different seeds gave the same ephemeral keys")
	}
	if a.initiator.HandshakeHash == c.initiator.HandshakeHash {
		t.Error("different seeds gave the same session")
	}
}

func TestHandshakeUnauthenticated(t *testing.T) {
	srv := newTestServer(t)
	icfg := srv.initiatorConfig(1)
	icfg.AuthorityKey = nil
	tr := runHandshake(t, icfg, srv.responderConfig(2))
	if tr.initiatorErr != nil {
		t.Fatal(tr.initiatorErr)
	}
	if tr.initiator.Authenticated {
		t.Error("session without an authority key reported as authenticated")
	}
	assertTransport(t, tr.initiator, tr.responder)

	// Without an authority key even a bogus certificate is accepted: the
	// caller has opted out of authentication.
	bogus := Certificate{Version: 7}
	rcfg := srv.responderConfig(2)
	rcfg.AuthorityKey, rcfg.Certificate = nil, &bogus
	tr = runHandshake(t, icfg, rcfg)
	if tr.initiatorErr != nil || tr.initiator.Authenticated {
		t.Errorf("unauthenticated handshake with a bogus certificate: err %v, authenticated %v", tr.initiatorErr, tr.initiator != nil && tr.initiator.Authenticated)
	}
}

func TestHandshakeCertificate(t *testing.T) {
	srv := newTestServer(t)
	other := newTestServer(t)
	otherSK, otherPub, err := GenerateAuthorityKeyPair(seeded(40))
	if err != nil {
		t.Fatal(err)
	}
	other.authority, other.authorityPub = otherSK, otherPub

	ready, err := IssueCertificate(srv.authority, srv.static.PublicKey(), testNow, testNow.Add(time.Hour), seeded(41))
	if err != nil {
		t.Fatal(err)
	}
	forged := ready
	forged.Signature[5] ^= 0x80
	otherStatic, err := GenerateStaticKey(seeded(42))
	if err != nil {
		t.Fatal(err)
	}
	forOtherKey, err := IssueCertificate(srv.authority, otherStatic.PublicKey(), testNow, testNow.Add(time.Hour), seeded(43))
	if err != nil {
		t.Fatal(err)
	}

	validFrom := testNow.Add(-time.Minute) // the responder backdates by a minute
	until := testNow.Add(DefaultCertValidity)
	for _, tc := range []struct {
		name  string
		now   time.Time     // initiator's clock
		skew  time.Duration // InitiatorConfig.ClockSkew
		trust PublicKey
		cert  *Certificate // ResponderConfig.Certificate
		want  error
	}{
		{name: "valid", now: testNow, trust: srv.authorityPub},
		{name: "clock behind within backdate", now: validFrom, trust: srv.authorityPub},
		{name: "not yet valid within tolerance", now: validFrom.Add(-DefaultClockSkew), trust: srv.authorityPub},
		{name: "not yet valid", now: validFrom.Add(-DefaultClockSkew - time.Second), trust: srv.authorityPub, want: ErrCertificateNotYetValid},
		{name: "expired within tolerance", now: until.Add(DefaultClockSkew), trust: srv.authorityPub},
		{name: "expired", now: until.Add(DefaultClockSkew + time.Second), trust: srv.authorityPub, want: ErrCertificateExpired},
		{name: "custom tolerance", now: until.Add(2 * time.Second), skew: time.Second, trust: srv.authorityPub, want: ErrCertificateExpired},
		{name: "no tolerance", now: until.Add(time.Second), skew: -1, trust: srv.authorityPub, want: ErrCertificateExpired},
		{name: "wrong authority", now: testNow, trust: other.authorityPub, want: ErrCertificateSignature},
		{name: "ready certificate", now: testNow, trust: srv.authorityPub, cert: &ready},
		{name: "tampered signature", now: testNow, trust: srv.authorityPub, cert: &forged, want: ErrCertificateSignature},
		{name: "certificate for another key", now: testNow, trust: srv.authorityPub, cert: &forOtherKey, want: ErrCertificateSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			icfg := srv.initiatorConfig(1)
			icfg.AuthorityKey = &tc.trust
			icfg.Now = func() time.Time { return tc.now }
			icfg.ClockSkew = tc.skew
			rcfg := srv.responderConfig(2)
			if tc.cert != nil {
				rcfg.AuthorityKey, rcfg.Certificate = nil, tc.cert
			}
			tr := runHandshake(t, icfg, rcfg)
			if tr.responderErr != nil {
				t.Fatal(tr.responderErr)
			}
			if tc.want == nil {
				if tr.initiatorErr != nil || !tr.initiator.Authenticated {
					t.Fatalf("err = %v, want an authenticated session", tr.initiatorErr)
				}
				return
			}
			if !errors.Is(tr.initiatorErr, tc.want) || tr.initiator != nil {
				t.Fatalf("err = %v, result %v; want %v and no session", tr.initiatorErr, tr.initiator, tc.want)
			}
			var te *CertificateTimeError
			if errors.As(tr.initiatorErr, &te) && !te.Now.Equal(tc.now) {
				t.Errorf("error reports now = %v, want %v", te.Now, tc.now)
			}
		})
	}
}

func TestResponderConfigErrors(t *testing.T) {
	srv := newTestServer(t)
	cert := Certificate{}
	for _, tc := range []struct {
		name string
		cfg  ResponderConfig
		want error
	}{
		{"no authority", ResponderConfig{StaticKey: srv.static}, ErrNoAuthority},
		{"authority and certificate", ResponderConfig{AuthorityKey: &srv.authority, Certificate: &cert, StaticKey: srv.static}, ErrNoAuthority},
		{"certificate without static key", ResponderConfig{Certificate: &cert}, ErrNoStaticKey},
	} {
		if _, err := NewResponder(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Without a configured static key each Responder makes its own.
	cfg := srv.responderConfig(2)
	cfg.StaticKey = nil
	a, b := runHandshake(t, srv.initiatorConfig(1), cfg), runHandshake(t, srv.initiatorConfig(1), srv.responderConfig(2))
	if a.initiatorErr != nil {
		t.Fatal(a.initiatorErr)
	}
	if *a.initiator.RemoteStatic == *b.initiator.RemoteStatic {
		t.Error("responder without a static key used the configured one")
	}
}

func TestHandshakeOutOfOrder(t *testing.T) {
	srv := newTestServer(t)
	i, err := NewInitiator(srv.initiatorConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i.Finish(make([]byte, Message2Size)); !errors.Is(err, ErrHandshakeState) {
		t.Errorf("Finish before Start: err = %v, want %v", err, ErrHandshakeState)
	}
	msg1, err := i.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i.Start(); !errors.Is(err, ErrHandshakeState) {
		t.Errorf("second Start: err = %v, want %v", err, ErrHandshakeState)
	}
	r, err := NewResponder(srv.responderConfig(2))
	if err != nil {
		t.Fatal(err)
	}
	msg2, _, err := r.Respond(msg1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Respond(msg1); !errors.Is(err, ErrHandshakeState) {
		t.Errorf("second Respond: err = %v, want %v", err, ErrHandshakeState)
	}
	// A failed Finish ends the handshake: the genuine reply is refused too.
	if _, err := i.Finish(msg2[:100]); !errors.Is(err, ErrMessageSize) {
		t.Errorf("short message 2: err = %v, want %v", err, ErrMessageSize)
	}
	if _, err := i.Finish(msg2); !errors.Is(err, ErrHandshakeState) {
		t.Errorf("Finish after failure: err = %v, want %v", err, ErrHandshakeState)
	}
}

func TestMalformedMessage1(t *testing.T) {
	srv := newTestServer(t)
	valid, err := func() ([]byte, error) {
		i, err := NewInitiator(srv.initiatorConfig(1))
		if err != nil {
			return nil, err
		}
		return i.Start()
	}()
	if err != nil {
		t.Fatal(err)
	}
	respond := func(msg []byte) ([]byte, error) {
		r, err := NewResponder(srv.responderConfig(2))
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := r.Respond(msg)
		return out, err
	}
	for n := range Message1Size {
		if _, err := respond(valid[:n]); !errors.Is(err, ErrMessageSize) {
			t.Errorf("%d bytes: err = %v, want %v", n, err, ErrMessageSize)
		}
	}
	for _, n := range []int{Message1Size + 1, Message2Size, 4096} {
		if _, err := respond(append(valid, make([]byte, n-Message1Size)...)); !errors.Is(err, ErrMessageSize) {
			t.Errorf("%d bytes: err = %v, want %v", n, err, ErrMessageSize)
		}
	}
	// Every 64-byte string is a valid ElligatorSwift encoding, so message 1
	// cannot be rejected on content; the edge encodings must still work.
	for _, msg := range [][]byte{make([]byte, 64), bytes.Repeat([]byte{0xff}, 64)} {
		out, err := respond(msg)
		if err != nil || len(out) != Message2Size {
			t.Errorf("message 1 %x…: %d bytes, err %v", msg[:4], len(out), err)
		}
	}
}

func TestMalformedMessage2(t *testing.T) {
	srv := newTestServer(t)
	good := runHandshake(t, srv.initiatorConfig(1), srv.responderConfig(2))
	if good.initiatorErr != nil {
		t.Fatal(good.initiatorErr)
	}
	// Replaying the initiator's seed recreates its ephemeral key, so each
	// fresh initiator would accept good.msg2 unchanged.
	finish := func(msg []byte) error {
		i, err := NewInitiator(srv.initiatorConfig(1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := i.Start(); err != nil {
			t.Fatal(err)
		}
		_, err = i.Finish(msg)
		return err
	}
	if err := finish(good.msg2); err != nil {
		t.Fatalf("replayed initiator rejects the genuine message: %v", err)
	}
	for n := range Message2Size {
		if err := finish(good.msg2[:n]); !errors.Is(err, ErrMessageSize) {
			t.Errorf("%d bytes: err = %v, want %v", n, err, ErrMessageSize)
		}
	}
	if err := finish(append(bytes.Clone(good.msg2), 0)); !errors.Is(err, ErrMessageSize) {
		t.Errorf("235 bytes: err = %v, want %v", err, ErrMessageSize)
	}
	// Flip one bit in every byte, cycling through the bit positions: the
	// ephemeral key feeds the DH, and the rest is AEAD ciphertext or tag.
	for pos := range Message2Size {
		msg := bytes.Clone(good.msg2)
		msg[pos] ^= 1 << (pos % 8)
		if err := finish(msg); !errors.Is(err, ErrDecrypt) {
			t.Errorf("bit flipped at byte %d: err = %v, want %v", pos, err, ErrDecrypt)
		}
	}
}
