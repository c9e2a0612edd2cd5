package jdtoken

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

var t0 = time.Unix(1_800_000_000, 0)

func keys(t testing.TB) (noise.SecretKey, noise.PublicKey) {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	return sk, pk
}

func sampleJob() *sv2.SetCustomMiningJob {
	return &sv2.SetCustomMiningJob{
		ChannelID: 1, RequestID: 2, Version: 0x20000000, PrevHash: sv2.U256{1, 2, 3}, MinNTime: 5, NBits: 0x207fffff,
		CoinbaseTxVersion: 2, CoinbasePrefix: []byte{0x01, 0x65}, CoinbaseTxInputNSequence: 0xffffffff,
		CoinbaseTxOutputs: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51}, CoinbaseTxLocktime: 0,
		MerklePath: []sv2.U256{{9}, {8}},
	}
}

func TestRoundTrip(t *testing.T) {
	sk, pk := keys(t)
	job := JobOf(sampleJob())
	for _, tok := range []Token{
		{Kind: Declare, ID: 1, Expires: t0, User: UserHash("alice")},
		{Kind: CoinbaseOnly, ID: 2, Expires: t0, User: UserHash("alice")},
		{Kind: Declared, ID: 3, Expires: t0, User: UserHash("bob"), Job: job.Commit()},
	} {
		b, err := tok.Sign(sk, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxSize || len(b) > 255 {
			t.Errorf("%v token of %d bytes", tok.Kind, len(b))
		}
		got, err := Verify(b, pk)
		if err != nil {
			t.Fatalf("%v: %v", tok.Kind, err)
		}
		if got != tok {
			t.Errorf("%v: got %+v, want %+v", tok.Kind, got, tok)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	sk, pk := keys(t)
	_, other := keys(t)
	good, _ := Token{Kind: CoinbaseOnly, ID: 7, Expires: t0, User: UserHash("u")}.Sign(sk, nil)
	if _, err := Verify(good, other); !errors.Is(err, ErrSignature) {
		t.Errorf("another JDS's key: %v", err)
	}
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		if _, err := Verify(b, pk); err == nil {
			t.Errorf("byte %d flipped: verifies", i)
		}
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short":          good[:40],
		"one byte more":  append(bytes.Clone(good), 0),
		"one byte less":  good[:len(good)-1],
		"bad version":    append([]byte{2}, good[1:]...),
		"unknown kind":   append([]byte{1, 9}, good[2:]...),
		"absurd expiry":  append(append(bytes.Clone(good[:10]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), good[18:]...),
		"declared short": append([]byte{1, byte(Declared)}, good[2:]...),
	} {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := (Token{Kind: 0}).Sign(sk, nil); !errors.Is(err, ErrKind) {
		t.Errorf("signing kind 0: %v", err)
	}
}

func TestCommitCoversEveryField(t *testing.T) {
	base := JobOf(sampleJob())
	want := base.Commit()
	for name, change := range map[string]func(m *sv2.SetCustomMiningJob){
		"prev hash":        func(m *sv2.SetCustomMiningJob) { m.PrevHash[31] = 1 },
		"nbits":            func(m *sv2.SetCustomMiningJob) { m.NBits++ },
		"version":          func(m *sv2.SetCustomMiningJob) { m.Version++ },
		"coinbase version": func(m *sv2.SetCustomMiningJob) { m.CoinbaseTxVersion++ },
		"prefix":           func(m *sv2.SetCustomMiningJob) { m.CoinbasePrefix = []byte{0x01, 0x66} },
		"prefix longer":    func(m *sv2.SetCustomMiningJob) { m.CoinbasePrefix = append(m.CoinbasePrefix, 0) },
		"sequence":         func(m *sv2.SetCustomMiningJob) { m.CoinbaseTxInputNSequence-- },
		"outputs":          func(m *sv2.SetCustomMiningJob) { m.CoinbaseTxOutputs[1] = 1 },
		"locktime":         func(m *sv2.SetCustomMiningJob) { m.CoinbaseTxLocktime = 1 },
		"merkle path":      func(m *sv2.SetCustomMiningJob) { m.MerklePath[1][0] = 7 },
		"path shorter":     func(m *sv2.SetCustomMiningJob) { m.MerklePath = m.MerklePath[:1] },
		// A byte moved from the prefix to the outputs: lengths keep them apart.
		"boundary": func(m *sv2.SetCustomMiningJob) {
			m.CoinbasePrefix = m.CoinbasePrefix[:1]
			m.CoinbaseTxOutputs = append([]byte{0x65}, m.CoinbaseTxOutputs...)
		},
	} {
		m := sampleJob()
		change(m)
		if j := JobOf(m); j.Commit() == want {
			t.Errorf("%s changed: same commitment", name)
		}
	}
	m := sampleJob()
	m.MinNTime, m.ChannelID, m.RequestID = 99, 98, 97
	if j := JobOf(m); j.Commit() != want {
		t.Error("min_ntime or the channel changed the commitment")
	}
}

func TestVerifier(t *testing.T) {
	sk, pk := keys(t)
	_, other := keys(t)
	now := t0.Add(-time.Minute)
	v := &Verifier{JDS: pk, Ledger: NewLedger(0), Now: func() time.Time { return now }}
	id := uint64(0)
	token := func(kind Kind, user string, exp time.Time, m *sv2.SetCustomMiningJob) []byte {
		id++
		tok := Token{Kind: kind, ID: id, Expires: exp, User: UserHash(user)}
		if kind == Declared {
			j := JobOf(m)
			tok.Job = j.Commit()
		}
		b, err := tok.Sign(sk, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(b []byte, m *sv2.SetCustomMiningJob, user string) error {
		m.MiningJobToken = b
		return v.CheckCustomJob(m, user)
	}
	m := sampleJob()
	declared := token(Declared, "alice", t0, m)
	if err := check(declared, sampleJob(), "alice"); err != nil {
		t.Fatalf("a declared job: %v", err)
	}
	if err := check(declared, sampleJob(), "alice"); !errors.Is(err, ErrUsed) {
		t.Errorf("reused: %v", err)
	}
	if err := check(token(CoinbaseOnly, "alice", t0, nil), sampleJob(), "alice"); err != nil {
		t.Errorf("coinbase-only: %v", err)
	}
	changed := sampleJob()
	changed.CoinbaseTxOutputs[1] = 1 // less to the pool than declared
	for name, tc := range map[string]struct {
		b    []byte
		m    *sv2.SetCustomMiningJob
		user string
		want error
	}{
		"fields differ": {token(Declared, "alice", t0, m), changed, "alice", ErrJob},
		"another user":  {token(Declared, "alice", t0, m), sampleJob(), "mallory", ErrUser},
		"expired":       {token(CoinbaseOnly, "alice", now.Add(-time.Second), nil), sampleJob(), "alice", ErrExpired},
		"declare kind":  {token(Declare, "alice", t0, nil), sampleJob(), "alice", ErrKind},
		"forged":        {append(token(CoinbaseOnly, "alice", t0, nil)[:34], make([]byte, 64)...), sampleJob(), "alice", ErrSignature},
		"garbage":       {[]byte("not a token"), sampleJob(), "alice", ErrMalformed},
		"empty":         {nil, sampleJob(), "alice", ErrMalformed},
	} {
		if err := check(tc.b, tc.m, tc.user); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	v.FullTemplateOnly = true
	if err := check(token(CoinbaseOnly, "alice", t0, nil), sampleJob(), "alice"); !errors.Is(err, ErrKind) {
		t.Errorf("coinbase-only with FullTemplateOnly: %v", err)
	}
	if err := check(token(Declared, "alice", t0, m), sampleJob(), "alice"); err != nil {
		t.Errorf("declared with FullTemplateOnly: %v", err)
	}
	v2 := &Verifier{JDS: other, Ledger: NewLedger(0), Now: v.Now}
	m2 := sampleJob()
	m2.MiningJobToken = token(CoinbaseOnly, "alice", t0, nil)
	if err := v2.CheckCustomJob(m2, "alice"); !errors.Is(err, ErrSignature) {
		t.Errorf("another JDS: %v", err)
	}
}

func TestLedgerBound(t *testing.T) {
	l := NewLedger(3)
	now := t0
	for i := range uint64(3) {
		if err := l.Spend(Token{ID: i, Expires: now.Add(time.Duration(i+1) * time.Second)}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Spend(Token{ID: 10, Expires: now.Add(time.Hour)}, now); !errors.Is(err, ErrFull) {
		t.Fatalf("a fourth unexpired token: %v", err)
	}
	// Once the first has expired it is forgotten, making room; it stays
	// refused, as expired.
	later := now.Add(1500 * time.Millisecond)
	if err := l.Spend(Token{ID: 10, Expires: now.Add(time.Hour)}, later); err != nil {
		t.Fatalf("after one expired: %v", err)
	}
	if l.Len() != 3 {
		t.Errorf("%d remembered, want 3", l.Len())
	}
	if err := l.Spend(Token{ID: 0, Expires: now.Add(time.Second)}, later); !errors.Is(err, ErrExpired) {
		t.Errorf("the forgotten expired token: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	sk, pk := keys(f)
	for _, tok := range []Token{
		{Kind: Declare, ID: 1, Expires: t0},
		{Kind: Declared, ID: 3, Expires: t0, Job: [32]byte{1}},
	} {
		b, _ := tok.Sign(sk, nil)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if len(b) > MaxSize {
			t.Fatalf("parsed %d bytes", len(b))
		}
		if _, err := Verify(b, pk); err == nil {
			// Only a real signature verifies: re-encoding must give the same body.
			if !bytes.Equal(tok.body(), b[:len(b)-64]) {
				t.Fatalf("verified token re-encodes differently")
			}
		}
	})
}
