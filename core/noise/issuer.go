package noise

import (
	"io"
	"sync"
	"time"
)

// CertificateIssuer signs certificates for one static key and reuses each
// until half of its validity has passed. A server shares one issuer among all
// its handshakes, which then cost no signature each. It is safe for
// concurrent use.
type CertificateIssuer struct {
	authority SecretKey
	static    *StaticKey
	validity  time.Duration
	rand      io.Reader
	now       func() time.Time

	mu      sync.Mutex
	cert    Certificate
	renewAt time.Time // zero until the first certificate
}

// NewCertificateIssuer returns an issuer of certificates for static signed by
// authority, each valid for validity (DefaultCertValidity if zero) from a
// little before its issue. rand (crypto/rand if nil) must be safe for
// concurrent use if the issuer is; now (time.Now if nil) is the clock.
func NewCertificateIssuer(authority SecretKey, static *StaticKey, validity time.Duration, rand io.Reader, now func() time.Time) *CertificateIssuer {
	if validity <= 0 {
		validity = DefaultCertValidity
	}
	if now == nil {
		now = time.Now
	}
	return &CertificateIssuer{authority: authority, static: static, validity: validity, rand: orCryptoRand(rand), now: now}
}

// StaticKey returns the key the certificates vouch for.
func (i *CertificateIssuer) StaticKey() *StaticKey { return i.static }

// Certificate returns a certificate valid now, signing a new one when none
// was issued yet or the last one is past half its validity.
func (i *CertificateIssuer) Certificate() (Certificate, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	now := i.now()
	if !i.renewAt.IsZero() && now.Before(i.renewAt) && !now.Before(time.Unix(int64(i.cert.ValidFrom), 0)) {
		return i.cert, nil
	}
	c, err := IssueCertificate(i.authority, i.static.PublicKey(), now.Add(-certBackdate), now.Add(i.validity), i.rand)
	if err != nil {
		return Certificate{}, err
	}
	i.cert, i.renewAt = c, now.Add(i.validity/2)
	return c, nil
}
