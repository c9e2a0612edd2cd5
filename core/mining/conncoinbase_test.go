package mining

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// A connection with its own coinbase (a solo miner) gets jobs paying its
// script, while the server's other connections keep the pool's outputs.
func TestConnWithOwnCoinbase(t *testing.T) {
	srv := testServer(t, nil)
	solo := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{9}, 20)...)
	own, err := srv.NewConnWithCoinbase(0, &coinbase.Config{Outputs: []*wire.TxOut{wire.NewTxOut(0, solo)}})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := srv.NewConn(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.NewTemplate(testTemplate(1, true, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SetNewPrevHash(prevHash(1, 0x207fffff)); err != nil {
		t.Fatal(err)
	}
	suffix := func(c *Conn) []byte {
		msgs, err := c.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{RequestID: 1, MaxTarget: target.Max(), MinExtranonceSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if j, ok := m.(*sv2.NewExtendedMiningJob); ok {
				return j.CoinbaseTxSuffix
			}
		}
		t.Fatal("no job on opening")
		return nil
	}
	if s := suffix(own); !bytes.Contains(s, solo) {
		t.Errorf("solo connection's coinbase does not pay its script: %x", s)
	}
	if s := suffix(pool); bytes.Contains(s, solo) {
		t.Errorf("the pool's connection pays the solo script")
	}
	// New templates build each connection's own coinbase.
	out, err := srv.NewTemplate(testTemplate(2, false, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		for _, m := range o.Messages {
			if j, ok := m.(*sv2.NewExtendedMiningJob); ok && bytes.Contains(j.CoinbaseTxSuffix, solo) != (o.Conn == own) {
				t.Errorf("template 2: connection %p got the wrong outputs", o.Conn)
			}
		}
	}
	if _, err := srv.NewConnWithCoinbase(0, &coinbase.Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("a coinbase without outputs: %v", err)
	}
}
