package noise

import (
	"fmt"
	"io"
	"time"

	"github.com/flynn/noise"
)

// ProtocolName is the Noise protocol name of the Sv2 handshake (spec §4.5.1).
const ProtocolName = "Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256"

// Sizes fixed by the Sv2 spec. Handshake messages are exchanged raw, without
// a length prefix, so each side must know them in advance.
const (
	// EllSwiftSize is the size of an ElligatorSwift-encoded public key.
	EllSwiftSize = 64
	// MACSize is the size of a ChaCha20-Poly1305 tag.
	MACSize = 16
	// SignatureNoiseMessageSize is the size of an encoded Certificate.
	SignatureNoiseMessageSize = 74
	// Message1Size is the size of "-> e": the initiator's ephemeral key.
	Message1Size = EllSwiftSize
	// Message2Size is the size of "<- e, ee, s, es" plus the certificate:
	// ephemeral key, encrypted static key and encrypted certificate. The
	// spec's summary line says 170, but its field table and SRI add up to 234.
	Message2Size = EllSwiftSize + EllSwiftSize + MACSize + SignatureNoiseMessageSize + MACSize
)

const (
	// DefaultClockSkew is how far an initiator's clock may disagree with a
	// certificate's window when InitiatorConfig.ClockSkew is zero.
	DefaultClockSkew = 5 * time.Minute
	// DefaultCertValidity is how long issued certificates last when
	// ResponderConfig.CertValidity is zero; SRI's example configs use an hour.
	DefaultCertValidity = time.Hour
	// certBackdate moves valid_from into the past so that initiators whose
	// clocks run slightly behind the server's still accept a fresh certificate.
	certBackdate = time.Minute
)

func cipherSuite(initiator bool) noise.CipherSuite {
	return noise.NewCipherSuite(EllSwiftDH{Initiator: initiator}, noise.CipherChaChaPoly, noise.HashSHA256)
}

// Result is what a completed handshake hands to the transport. Neither
// cipher state is safe for concurrent use.
type Result struct {
	// Send encrypts messages to the peer; Receive decrypts the peer's.
	Send, Receive *noise.CipherState
	// HandshakeHash is the final handshake hash h, equal on both sides and
	// unique to the session (a channel binding).
	HandshakeHash [32]byte
	// RemoteStatic is the responder's static key as seen by the initiator;
	// nil on the responder, since NX initiators have no static key.
	RemoteStatic *PublicKey
	// Certificate is the certificate the responder sent.
	Certificate Certificate
	// Authenticated is true only on an initiator that verified Certificate
	// against its configured authority key. Without one the session is
	// encrypted but the server could be anyone, which callers should log.
	Authenticated bool
}

// InitiatorConfig configures the client side of a handshake. The zero value
// is usable and yields an encrypted but unauthenticated session.
type InitiatorConfig struct {
	// AuthorityKey is the pool's authority public key; when set, the
	// handshake fails unless the responder presents a certificate it signed.
	AuthorityKey *PublicKey
	// ClockSkew widens the certificate's validity window on both sides;
	// zero means DefaultClockSkew and a negative value means none.
	ClockSkew time.Duration
	// Rand supplies the ephemeral key; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock certificates are checked against; nil means time.Now.
	Now func() time.Time
}

type initiatorState int

const (
	initiatorNew initiatorState = iota
	initiatorSent
	initiatorDone
)

// Initiator runs the client side of one handshake: Start, send its output,
// then pass the reply to Finish. It is single-use and not safe for
// concurrent use.
type Initiator struct {
	cfg   InitiatorConfig
	hs    *noise.HandshakeState
	state initiatorState
}

// NewInitiator prepares a handshake.
func NewInitiator(cfg InitiatorConfig) (*Initiator, error) {
	cfg.Rand = orCryptoRand(cfg.Rand)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.ClockSkew == 0:
		cfg.ClockSkew = DefaultClockSkew
	case cfg.ClockSkew < 0:
		cfg.ClockSkew = 0
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: cipherSuite(true),
		Random:      cfg.Rand,
		Pattern:     noise.HandshakeNX,
		Initiator:   true,
	})
	if err != nil {
		return nil, err
	}
	return &Initiator{cfg: cfg, hs: hs}, nil
}

// Start returns handshake message 1 (Message1Size bytes).
func (i *Initiator) Start() ([]byte, error) {
	if i.state != initiatorNew {
		return nil, ErrHandshakeState
	}
	i.state = initiatorDone
	msg, _, _, err := i.hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("noise: writing handshake message 1: %w", err)
	}
	i.state = initiatorSent
	return msg, nil
}

// Finish consumes handshake message 2, checks the certificate if an
// authority key is configured, and returns the session.
func (i *Initiator) Finish(msg []byte) (*Result, error) {
	if i.state != initiatorSent {
		return nil, ErrHandshakeState
	}
	// Whatever happens next, this handshake is over: retrying with other
	// bytes would let an attacker probe a half-updated state.
	i.state = initiatorDone
	if len(msg) != Message2Size {
		return nil, fmt.Errorf("%w: message 2 is %d bytes, want %d", ErrMessageSize, len(msg), Message2Size)
	}
	payload, cs1, cs2, err := i.hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	var cert Certificate
	if err := cert.UnmarshalBinary(payload); err != nil {
		return nil, err
	}
	x, err := ellswiftDecode((*[64]byte)(i.hs.PeerStatic()))
	if err != nil {
		return nil, err
	}
	remote := PublicKey(x.bytes())
	res := &Result{
		Send:          cs1,
		Receive:       cs2,
		HandshakeHash: [32]byte(i.hs.ChannelBinding()),
		RemoteStatic:  &remote,
		Certificate:   cert,
	}
	if i.cfg.AuthorityKey != nil {
		if err := cert.Verify(*i.cfg.AuthorityKey, remote, i.cfg.Now(), i.cfg.ClockSkew); err != nil {
			return nil, err
		}
		res.Authenticated = true
	}
	return res, nil
}

// ResponderConfig configures the server side of a handshake. Exactly one of
// AuthorityKey, Certificate and Issuer must be set. A config may be shared by many
// Responders if Rand is safe for concurrent use.
type ResponderConfig struct {
	// AuthorityKey signs a fresh certificate for StaticKey in every handshake.
	AuthorityKey *SecretKey
	// Certificate is a certificate issued in advance for StaticKey, for
	// servers that should not hold the authority key.
	Certificate *Certificate
	// Issuer signs and renews certificates for its static key, shared by all
	// of a server's handshakes; StaticKey may then be nil.
	Issuer *CertificateIssuer
	// CertValidity is how long issued certificates last; zero means
	// DefaultCertValidity.
	CertValidity time.Duration
	// StaticKey is the server's static key, typically from
	// GenerateStaticKey at server start; nil means a fresh key per Responder.
	StaticKey *StaticKey
	// Rand supplies ephemeral keys and signature randomness; nil means
	// crypto/rand.
	Rand io.Reader
	// Now stamps issued certificates; nil means time.Now.
	Now func() time.Time
}

// Responder runs the server side of one handshake: pass message 1 to
// Respond and send back its output. It is single-use and not safe for
// concurrent use.
type Responder struct {
	cfg  ResponderConfig
	hs   *noise.HandshakeState
	done bool
}

// NewResponder prepares a handshake.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	sources := 0
	for _, set := range []bool{cfg.AuthorityKey != nil, cfg.Certificate != nil, cfg.Issuer != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, ErrNoAuthority
	}
	if cfg.Issuer != nil {
		if cfg.StaticKey != nil && cfg.StaticKey != cfg.Issuer.StaticKey() {
			return nil, fmt.Errorf("%w: the issuer certifies another static key", ErrNoStaticKey)
		}
		cfg.StaticKey = cfg.Issuer.StaticKey()
	}
	if cfg.Certificate != nil && cfg.StaticKey == nil {
		return nil, ErrNoStaticKey
	}
	if cfg.StaticKey != nil && cfg.StaticKey.secret == (SecretKey{}) {
		return nil, fmt.Errorf("%w: static key is unset", ErrSecretKeyRange)
	}
	if cfg.CertValidity < 0 {
		return nil, fmt.Errorf("noise: negative certificate validity %v", cfg.CertValidity)
	}
	cfg.Rand = orCryptoRand(cfg.Rand)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CertValidity == 0 {
		cfg.CertValidity = DefaultCertValidity
	}
	if cfg.StaticKey == nil {
		k, err := GenerateStaticKey(cfg.Rand)
		if err != nil {
			return nil, err
		}
		cfg.StaticKey = k
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite(false),
		Random:        cfg.Rand,
		Pattern:       noise.HandshakeNX,
		StaticKeypair: cfg.StaticKey.dhKey(),
	})
	if err != nil {
		return nil, err
	}
	return &Responder{cfg: cfg, hs: hs}, nil
}

// Respond consumes handshake message 1 and returns message 2
// (Message2Size bytes) together with the finished session, which the
// responder may use as soon as message 2 is sent.
func (r *Responder) Respond(msg []byte) ([]byte, *Result, error) {
	if r.done {
		return nil, nil, ErrHandshakeState
	}
	r.done = true
	if len(msg) != Message1Size {
		return nil, nil, fmt.Errorf("%w: message 1 is %d bytes, want %d", ErrMessageSize, len(msg), Message1Size)
	}
	if _, _, _, err := r.hs.ReadMessage(nil, msg); err != nil {
		return nil, nil, fmt.Errorf("noise: reading handshake message 1: %w", err)
	}
	cert, err := r.certificate()
	if err != nil {
		return nil, nil, err
	}
	payload, err := cert.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	out, cs1, cs2, err := r.hs.WriteMessage(nil, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("noise: writing handshake message 2: %w", err)
	}
	return out, &Result{
		Send:          cs2,
		Receive:       cs1,
		HandshakeHash: [32]byte(r.hs.ChannelBinding()),
		Certificate:   cert,
	}, nil
}

func (r *Responder) certificate() (Certificate, error) {
	if r.cfg.Certificate != nil {
		return *r.cfg.Certificate, nil
	}
	if r.cfg.Issuer != nil {
		return r.cfg.Issuer.Certificate()
	}
	now := r.cfg.Now()
	return IssueCertificate(*r.cfg.AuthorityKey, r.cfg.StaticKey.PublicKey(),
		now.Add(-certBackdate), now.Add(r.cfg.CertValidity), r.cfg.Rand)
}
