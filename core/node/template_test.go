package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/google/go-cmp/cmp"
)

// btcdTemplate is a getblocktemplate reply shaped like btcd v0.26's.
func btcdTemplate(t *testing.T) (map[string]any, []TemplateTx) {
	t.Helper()
	var txs []TemplateTx
	var js []any
	for i := range 2 {
		tx := segwitTx(byte(i + 1))
		var buf bytes.Buffer
		tx.Serialize(&buf)
		tt := TemplateTx{Data: buf.Bytes(), TxID: tx.TxHash(), WTxID: tx.WitnessHash(), Fee: int64(1000 * (i + 1)), SigOps: 1, Weight: 437}
		if i == 1 {
			tt.Depends = []int{1}
		}
		txs = append(txs, tt)
		js = append(js, map[string]any{
			"data": hex.EncodeToString(tt.Data), "txid": tt.TxID.String(), "hash": tt.WTxID.String(),
			"depends": tt.Depends, "fee": tt.Fee, "sigops": tt.SigOps, "weight": tt.Weight,
		})
	}
	return map[string]any{
		"bits": "207fffff", "curtime": 1795704551, "height": 3,
		"previousblockhash": "2b8f7a61e442d5035899f92be8670e3c2b686b5df116901c410c1bc67d5f037a",
		"sigoplimit":        80000, "sizelimit": 4000000, "weightlimit": 4000000,
		"transactions":               js,
		"version":                    536870912,
		"coinbaseaux":                map[string]any{"flags": "0b2f503253482f627463642f"},
		"coinbasevalue":              5000003000,
		"longpollid":                 "2b8f7a61e442d5035899f92be8670e3c2b686b5df116901c410c1bc67d5f037a-1795704550",
		"target":                     "7fffff0000000000000000000000000000000000000000000000000000000000",
		"maxtime":                    1795711750,
		"mintime":                    1795704551,
		"mutable":                    []string{"time", "transactions/add", "prevblock", "coinbase/append"},
		"noncerange":                 "00000000ffffffff",
		"capabilities":               []string{"proposal"},
		"default_witness_commitment": "6a24aa21a9ed" + strings.Repeat("11", 32),
	}, txs
}

func TestGetBlockTemplate(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t)
	reply, txs := btcdTemplate(t)
	var request map[string]any
	f.handle("getblocktemplate", func(p []json.RawMessage) (any, *rpcErrorObject) {
		json.Unmarshal(p[0], &request)
		return reply, nil
	})

	got, err := c.GetBlockTemplate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"segwit"}, request["rules"]); diff != "" {
		t.Errorf("request rules (-want +got):\n%s", diff)
	}
	prev, _ := chainhash.NewHashFromStr("2b8f7a61e442d5035899f92be8670e3c2b686b5df116901c410c1bc67d5f037a")
	target, _ := new(big.Int).SetString("7fffff0000000000000000000000000000000000000000000000000000000000", 16)
	commitment, _ := hex.DecodeString("6a24aa21a9ed" + strings.Repeat("11", 32))
	want := &Template{
		Version: 0x20000000, PrevHash: *prev, Transactions: txs, CoinbaseValue: 5000003000,
		Bits: 0x207fffff, Target: target, Height: 3, CurTime: 1795704551, MinTime: 1795704551,
		DefaultWitnessCommitment: commitment,
		LongPollID:               "2b8f7a61e442d5035899f92be8670e3c2b686b5df116901c410c1bc67d5f037a-1795704550",
		WeightLimit:              4000000, SigOpLimit: 80000, SizeLimit: 4000000,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("template (-want +got):\n%s", diff)
	}
}

func TestWitnessCommitmentForms(t *testing.T) {
	script := "6a24aa21a9ed" + strings.Repeat("ab", 32)
	want, _ := hex.DecodeString(script)
	for _, in := range []string{script, strings.Repeat("ab", 32)} {
		got, err := witnessCommitmentScript(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("witnessCommitmentScript(%s) = %x, %v; want %x", in, got, err, want)
		}
	}
}

func TestGetBlockTemplateMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		value any
	}{
		{"no coinbase value", "coinbasevalue", nil},
		{"bits", "bits", "zz"},
		{"target", "target", "7fff"},
		{"prev hash", "previousblockhash", "abcd"},
		{"commitment hex", "default_witness_commitment", "6a2"},
		{"commitment length", "default_witness_commitment", "6a24aa21a9ed11"},
		{"commitment prefix", "default_witness_commitment", "6a24aa21a9ee" + strings.Repeat("11", 32)},
		{"tx data", "transactions", []any{map[string]any{"data": "0g", "txid": strings.Repeat("00", 32)}}},
		{"empty tx", "transactions", []any{map[string]any{"data": "", "txid": strings.Repeat("00", 32)}}},
		{"tx depends", "transactions", []any{map[string]any{"data": "00", "txid": strings.Repeat("00", 32), "depends": []int{1}}}},
		{"tx wtxid", "transactions", []any{map[string]any{"data": "00", "txid": strings.Repeat("00", 32), "hash": "12"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
			c := f.client(t)
			reply, _ := btcdTemplate(t)
			reply[tc.field] = tc.value
			f.handle("getblocktemplate", func([]json.RawMessage) (any, *rpcErrorObject) { return reply, nil })
			_, err := c.GetBlockTemplate(t.Context())
			if !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("err = %v, want ErrMalformedReply", err)
			}
		})
	}
}

// coreSignetTemplate answers getblocktemplate as Bitcoin Core does on
// signet: RPC error -8 unless the rules include "signet", and otherwise a
// template carrying the signet challenge. It records the rules asked for.
func coreSignetTemplate(t *testing.T, f *fakeNode, challenge string) *[][]string {
	t.Helper()
	var asked [][]string
	reply, _ := btcdTemplate(t)
	reply["signet_challenge"] = challenge
	reply["rules"] = []string{"csv", "!segwit", "!signet", "taproot"}
	f.handle("getblocktemplate", func(p []json.RawMessage) (any, *rpcErrorObject) {
		var req struct {
			Rules []string `json:"rules"`
		}
		json.Unmarshal(p[0], &req)
		asked = append(asked, req.Rules)
		if !slices.Contains(req.Rules, "signet") {
			return nil, &rpcErrorObject{Code: -8, Message: `getblocktemplate must be called with the signet rule set (call with {"rules": ["segwit", "signet"]})`}
		}
		return reply, nil
	})
	return &asked
}

// On signet, getblocktemplate (plain and long-poll) asks for the signet rule
// that Bitcoin Core requires there, and the challenge is parsed; elsewhere
// the request is what btcd has always been sent.
func TestGetBlockTemplateSignet(t *testing.T) {
	f := newFakeNode(t)
	asked := coreSignetTemplate(t, f, "51") // a custom signet: OP_TRUE
	c := f.client(t, func(c *Config) { c.Network = "signet" })
	got, err := c.GetBlockTemplate(t.Context())
	if err != nil {
		t.Fatalf("GetBlockTemplate on signet: %v", err)
	}
	if !bytes.Equal(got.SignetChallenge, []byte{0x51}) {
		t.Errorf("signet challenge %x, want 51", got.SignetChallenge)
	}
	if _, err := c.GetBlockTemplateLongPoll(t.Context(), "x"); err != nil {
		t.Fatalf("long poll on signet: %v", err)
	}
	want := [][]string{{"segwit", "signet"}, {"segwit", "signet"}}
	if diff := cmp.Diff(want, *asked); diff != "" {
		t.Errorf("rules asked (-want +got):\n%s", diff)
	}

	// Without the network, the node's refusal is the caller's error.
	plain := f.client(t)
	var rpcErr *RPCError
	if _, err := plain.GetBlockTemplate(t.Context()); !errors.As(err, &rpcErr) || rpcErr.Code != -8 {
		t.Errorf("signet node asked without the signet rule: %v, want its RPC error -8", err)
	}
	if last := (*asked)[len(*asked)-1]; !slices.Equal(last, []string{"segwit"}) {
		t.Errorf("rules without a network: %v, want [segwit]", last)
	}

	// A malformed challenge is a malformed reply, not an empty challenge.
	f2 := newFakeNode(t)
	coreSignetTemplate(t, f2, "5g")
	if _, err := f2.client(t, func(c *Config) { c.Network = "signet" }).GetBlockTemplate(t.Context()); !errors.Is(err, ErrMalformedReply) {
		t.Errorf("bad signet_challenge: %v, want ErrMalformedReply", err)
	}
}

func TestConfigNetwork(t *testing.T) {
	for _, name := range []string{"", "mainnet", "signet", "regtest"} {
		if _, err := New(Config{URL: "http://127.0.0.1:1", Network: name}); err != nil {
			t.Errorf("Network %q: %v", name, err)
		}
	}
	if _, err := New(Config{URL: "http://127.0.0.1:1", Network: "signett"}); err == nil || !strings.Contains(err.Error(), "signett") {
		t.Errorf("unknown Network: %v, want an error naming it", err)
	}
}
