package mining

import (
	"errors"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
)

// FuzzSetCustomMiningJob feeds arbitrary SetCustomMiningJob payloads, with
// tokens checked as a pool checks them (core/jdtoken), to a connection:
// each is accepted or refused with a code, never a panic; a token is
// spent at most once.
func FuzzSetCustomMiningJob(f *testing.F) {
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	valid := validCustomJob(1, hardBits)
	seed := func(kind jdtoken.Kind, m *sv2.SetCustomMiningJob) {
		tok := jdtoken.Token{Kind: kind, ID: uint64(kind), Expires: now.Add(time.Hour), User: jdtoken.UserHash("u"), Job: jdtoken.JobOf(m).Commit()}
		b, err := tok.Sign(sk, nil)
		if err != nil {
			f.Fatal(err)
		}
		c := *m
		c.MiningJobToken = b
		p, err := sv2.Encode(&c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	seed(jdtoken.Declared, valid)
	seed(jdtoken.CoinbaseOnly, valid)
	seed(jdtoken.Declare, valid)
	f.Add([]byte{})
	codes := map[string]bool{
		CodeJDNotSupported: true, CodeCustomJobInvalidChannelID: true, CodeInvalidMiningJobToken: true, CodeStaleChainTip: true,
		CodeInvalidMinNTime: true, CodeInvalidNBits: true, CodeInvalidVersion: true, CodeInvalidCoinbasePrefix: true,
		CodeInvalidCoinbaseTxOutputs: true, CodeInvalidCoinbaseTxLocktime: true, CodeInvalidMerklePath: true,
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var m sv2.SetCustomMiningJob
		if err := m.DecodePayload(payload); err != nil {
			return
		}
		v := &jdtoken.Verifier{JDS: pk, Ledger: jdtoken.NewLedger(0), Now: func() time.Time { return now }}
		e, ch := customEnv(t, hardBits, func(c *ServerConfig) {
			c.CustomJobs.VerifyToken = func(_ *Conn, m *sv2.SetCustomMiningJob) error { return v.CheckCustomJob(m, "u") }
		})
		m.ChannelID = ch
		for i := range 2 {
			_, err := e.conn.SetCustomMiningJob(&m)
			var ce *CustomJobError
			switch {
			case err == nil && i == 1:
				t.Fatal("one token set two jobs")
			case err != nil && !errors.As(err, &ce):
				t.Fatalf("not a CustomJobError: %v", err)
			case ce != nil && !codes[ce.Code]:
				t.Fatalf("unknown code %q", ce.Code)
			}
		}
	})
}
