// Package jdtoken is the mining_job_token a job declarator server (JDS)
// grants and a pool checks on its own, sharing no memory with the JDS: each
// token is signed by the JDS's authority key and says what it may be used
// for, by whom, until when and, once a job is declared, for which job
// (spec §6.4.5 allows such a commitment in new_mining_job_token).
//
// A token is, in bytes:
//
//	version (1) ‖ kind (1) ‖ id (8) ‖ expires (8, Unix seconds) ‖ user (16)
//	‖ job commitment (32, Declared tokens only) ‖ BIP340 signature (64)
//
// The signature covers everything before it, tagged "stratumgo/jd-token/v1"
// (see noise.Sign), so no other signature of the same key passes for one.
// A token is at most 130 bytes, within B0_255.
//
// The kinds follow the protocol's two modes (§6.3): in full-template mode
// AllocateMiningJobToken.Success grants a Declare token, good for one
// DeclareMiningJob at the JDS, whose DeclareMiningJob.Success grants a
// Declared token for one SetCustomMiningJob of exactly that job; in
// coinbase-only mode it grants a CoinbaseOnly token, good for one
// SetCustomMiningJob that the pool judges by its coinbase.
package jdtoken

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stratumgo/stratum/core/noise"
)

// Kind says what a token may be used for.
type Kind uint8

// The kinds of token.
const (
	// Declare is good for one DeclareMiningJob (full-template mode).
	Declare Kind = 1
	// CoinbaseOnly is good for one SetCustomMiningJob, judged by its coinbase.
	CoinbaseOnly Kind = 2
	// Declared is good for one SetCustomMiningJob of the job it commits to.
	Declared Kind = 3
)

func (k Kind) String() string {
	switch k {
	case Declare:
		return "declare"
	case CoinbaseOnly:
		return "coinbase-only"
	case Declared:
		return "declared"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	version    = 1
	signTag    = "stratumgo/jd-token/v1"
	headerSize = 1 + 1 + 8 + 8 + 16
	sigSize    = 64
	// MaxSize is the length of the longest token, a Declared one.
	MaxSize = headerSize + 32 + sigSize
)

// Errors of Parse and of the checks; errors.Is tells them apart.
var (
	ErrMalformed = errors.New("jdtoken: malformed token")
	// ErrSignature: the token was forged, altered or signed by another JDS.
	ErrSignature = errors.New("jdtoken: not signed by this job declarator")
	ErrExpired   = errors.New("jdtoken: token expired")
	ErrUsed      = errors.New("jdtoken: token already used")
	ErrKind      = errors.New("jdtoken: token of the wrong kind")
	ErrUser      = errors.New("jdtoken: token granted to another user")
	ErrJob       = errors.New("jdtoken: job differs from its declaration")
	// ErrFull: a Ledger remembers as many unexpired tokens as it may; it
	// refuses more rather than forget one and let it be used twice.
	ErrFull = errors.New("jdtoken: too many unexpired tokens remembered")
)

// Token is a decoded mining_job_token.
type Token struct {
	Kind    Kind
	ID      uint64    // unique per token: what single use remembers
	Expires time.Time // whole seconds
	User    [16]byte  // UserHash of the user it was granted to
	Job     [32]byte  // Declared tokens: Job.Commit of the declared job
}

// UserHash is how a token names its user: the first 16 bytes of the SHA-256
// of the user identifier (AllocateMiningJobToken.user_identifier, which is
// also the user_identity of the channel the job is set on).
func UserHash(user string) [16]byte {
	h := sha256.Sum256([]byte(user))
	return [16]byte(h[:16])
}

// body encodes t without its signature.
func (t *Token) body() []byte {
	b := make([]byte, headerSize, MaxSize)
	b[0], b[1] = version, byte(t.Kind)
	binary.LittleEndian.PutUint64(b[2:], t.ID)
	binary.LittleEndian.PutUint64(b[10:], uint64(t.Expires.Unix()))
	copy(b[18:], t.User[:])
	if t.Kind == Declared {
		b = append(b, t.Job[:]...)
	}
	return b
}

// Sign encodes t signed by the JDS's authority key; rand (crypto/rand if
// nil) feeds BIP340's auxiliary randomness.
func (t Token) Sign(key noise.SecretKey, rand io.Reader) ([]byte, error) {
	switch t.Kind {
	case Declare, CoinbaseOnly, Declared:
	default:
		return nil, fmt.Errorf("%w: %v", ErrKind, t.Kind)
	}
	b := t.body()
	sig, err := noise.Sign(key, signTag, b, rand)
	if err != nil {
		return nil, fmt.Errorf("jdtoken: sign: %w", err)
	}
	return append(b, sig[:]...), nil
}

// Parse decodes a token without checking its signature (see Verify).
func Parse(b []byte) (Token, error) {
	if len(b) < headerSize+sigSize {
		return Token{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(b), headerSize+sigSize)
	}
	if b[0] != version {
		return Token{}, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[0], version)
	}
	t := Token{Kind: Kind(b[1]), ID: binary.LittleEndian.Uint64(b[2:]), User: [16]byte(b[18:34])}
	exp := binary.LittleEndian.Uint64(b[10:])
	if exp > 1<<40 { // far beyond any real expiry; keeps time.Unix in range
		return Token{}, fmt.Errorf("%w: expiry %d", ErrMalformed, exp)
	}
	t.Expires = time.Unix(int64(exp), 0)
	want := headerSize + sigSize
	switch t.Kind {
	case Declare, CoinbaseOnly:
	case Declared:
		want += 32
	default:
		return Token{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, b[1])
	}
	if len(b) != want {
		return Token{}, fmt.Errorf("%w: %d bytes for a %v token, want %d", ErrMalformed, len(b), t.Kind, want)
	}
	if t.Kind == Declared {
		t.Job = [32]byte(b[headerSize : headerSize+32])
	}
	return t, nil
}

// Verify decodes a token and checks that the JDS whose authority key is jds
// signed it.
func Verify(b []byte, jds noise.PublicKey) (Token, error) {
	t, err := Parse(b)
	if err != nil {
		return Token{}, err
	}
	n := len(b) - sigSize
	if !noise.VerifySignature(jds, signTag, b[:n], (*[64]byte)(b[n:])) {
		return Token{}, ErrSignature
	}
	return t, nil
}
