package noise

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestCertificateIssuerReusesAndRenews(t *testing.T) {
	srv := newTestServer(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	iss := NewCertificateIssuer(srv.authority, srv.static, time.Hour, seeded(3), func() time.Time { return now })
	first, err := iss.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Verify(srv.authorityPub, srv.static.PublicKey(), now, 0); err != nil {
		t.Fatalf("first certificate: %v", err)
	}
	now = now.Add(29 * time.Minute)
	if again, _ := iss.Certificate(); again != first {
		t.Errorf("certificate re-signed before half its validity passed")
	}
	now = now.Add(2 * time.Minute)
	renewed, _ := iss.Certificate()
	if renewed == first {
		t.Fatalf("certificate not renewed after half its validity")
	}
	if err := renewed.Verify(srv.authorityPub, srv.static.PublicKey(), now.Add(59*time.Minute), 0); err != nil {
		t.Errorf("renewed certificate: %v", err)
	}
	// A clock set back before the certificate's start gets a new one too.
	now = now.Add(-3 * time.Hour)
	if back, _ := iss.Certificate(); back == renewed || back.Verify(srv.authorityPub, srv.static.PublicKey(), now, 0) != nil {
		t.Errorf("clock moved back: certificate not reissued for the new time")
	}
}

func TestCertificateIssuerHandshakesAndConcurrency(t *testing.T) {
	srv := newTestServer(t)
	iss := NewCertificateIssuer(srv.authority, srv.static, 0, nil, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			tr := runHandshake(t, InitiatorConfig{AuthorityKey: &srv.authorityPub}, ResponderConfig{Issuer: iss})
			if tr.initiatorErr != nil || !tr.initiator.Authenticated {
				t.Errorf("handshake with an issuer: %v", tr.initiatorErr)
			}
		})
	}
	wg.Wait()
	other, _ := GenerateStaticKey(seeded(4))
	if _, err := NewResponder(ResponderConfig{Issuer: iss, StaticKey: other}); !errors.Is(err, ErrNoStaticKey) {
		t.Errorf("issuer for another static key: %v", err)
	}
	if _, err := NewResponder(ResponderConfig{Issuer: iss, AuthorityKey: &srv.authority}); !errors.Is(err, ErrNoAuthority) {
		t.Errorf("issuer and authority key: %v", err)
	}
}
