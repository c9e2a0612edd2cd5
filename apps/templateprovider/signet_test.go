package templateprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/sv2"
)

// commitment returns the witness commitment output of nt, or nil without one.
func commitment(t *testing.T, nt *sv2.NewTemplate) []byte {
	t.Helper()
	if nt.CoinbaseTxOutputsCount == 0 {
		return nil
	}
	var out wire.TxOut
	r := bytes.NewReader(nt.CoinbaseTxOutputs)
	if err := wire.ReadTxOut(r, 0, 0, &out); err != nil || nt.CoinbaseTxOutputsCount != 1 || r.Len() != 0 || out.Value != 0 {
		t.Fatalf("coinbase_tx_outputs %x (count %d): %v", nt.CoinbaseTxOutputs, nt.CoinbaseTxOutputsCount, err)
	}
	return out.PkScript
}

// Every signet block carries a witness commitment (its signet solution goes
// in that output, BIP325), so signet templates have one even when no
// transaction has a witness; elsewhere such templates still have none.
func TestSignetTemplatesAlwaysCommit(t *testing.T) {
	legacy := fakeTx(t, 1, false, 500, 0)
	withLegacy := coinbase.WitnessCommitmentScript([]sv2.U256{sv2.U256(legacy.WTxID)})
	for _, tc := range []struct {
		name      string
		signet    bool
		challenge []byte
		txs       []node.TemplateTx
		want      []byte // the commitment output script, nil for none
	}{
		{"regtest, legacy transactions", false, nil, []node.TemplateTx{legacy}, nil},
		{"signet by configuration", true, nil, []node.TemplateTx{legacy}, withLegacy},
		{"signet by the template's challenge", false, []byte{0x51}, []node.TemplateTx{legacy}, withLegacy},
		{"signet, empty block", true, nil, nil, coinbase.WitnessCommitmentScript(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt := fakeTemplate(100, 1, tc.txs...)
			nt.SignetChallenge = tc.challenge
			tmpl, err := buildTemplate(nt, selectFor(nt, constraints{}), 1, true, tc.signet)
			if err != nil {
				t.Fatal(err)
			}
			if got := commitment(t, tmpl.msg); !bytes.Equal(got, tc.want) {
				t.Errorf("commitment output %x, want %x", got, tc.want)
			}
		})
	}
}

// coreOnSignet is enough of Bitcoin Core 30 on a custom signet for Run:
// getblockchaininfo says signet, getblocktemplate is refused (RPC error -8)
// unless asked with the signet rule, long polls wait for the caller to go
// away, and the tip watcher learns the tip (getbestblockhash,
// getblockheader), then long-polls, the node having no waitfornewblock.
func coreOnSignet(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     any               `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reply := func(result any, err any) {
			json.NewEncoder(w).Encode(map[string]any{"result": result, "error": err, "id": req.ID})
		}
		switch req.Method {
		case "getblockchaininfo":
			reply(map[string]any{"chain": "signet", "blocks": 99}, nil)
		case "getbestblockhash":
			reply(strings.Repeat("11", 32), nil)
		case "getblockheader":
			reply(map[string]any{"hash": strings.Repeat("11", 32), "height": 99}, nil)
		case "getblocktemplate":
			var gbt struct {
				Rules      []string `json:"rules"`
				LongPollID string   `json:"longpollid"`
			}
			json.Unmarshal(req.Params[0], &gbt)
			if !slices.Contains(gbt.Rules, "signet") {
				reply(nil, map[string]any{"code": -8, "message": `getblocktemplate must be called with the signet rule set (call with {"rules": ["segwit", "signet"]})`})
				return
			}
			if gbt.LongPollID != "" {
				<-r.Context().Done() // a quiet chain
				return
			}
			reply(map[string]any{
				"version": 0x20000000, "rules": []string{"csv", "!segwit", "!signet", "taproot"},
				"previousblockhash": strings.Repeat("11", 32), "transactions": []any{},
				"coinbasevalue": 5000000000, "bits": "1e0377ae", "target": "00000377ae" + strings.Repeat("0", 54),
				"height": 100, "curtime": 1795704551, "mintime": 1795704000, "longpollid": strings.Repeat("11", 32) + "1",
				"signet_challenge": "51", "weightlimit": 4000000, "sigoplimit": 80000,
			}, nil)
		default:
			reply(nil, map[string]any{"code": -32601, "message": "Method not found"})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Run against Bitcoin Core on signet, --network not given: it finds the
// chain from the node, asks getblocktemplate with the signet rule (Core
// refused every call without it), and serves a template with a witness
// commitment though the block has no transactions.
func TestRunServesBitcoinCoreOnSignet(t *testing.T) {
	srv := coreOnSignet(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listener: ln, Plain: true, Node: node.Config{URL: srv.URL},
			Watch: node.WatchConfig{Mode: node.WatchLongPoll}, Logger: slogTo(logs)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, done, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	c := (&harness{addr: ln.Addr().String()}).connect(t, 0, 0)
	nt, snph := nextTemplate(t, c)
	if snph == nil || snph.NBits != 0x1e0377ae {
		t.Fatalf("first template's prev hash: %+v", snph)
	}
	if got, want := commitment(t, nt), coinbase.WitnessCommitmentScript(nil); !bytes.Equal(got, want) {
		t.Errorf("signet template's coinbase outputs: commitment %x, want %x", got, want)
	}
	if line := logs.line("signet's challenge"); line != "" {
		t.Errorf("warned about an OP_TRUE challenge, which an empty solution satisfies: %s", line)
	}
}

// A signet whose challenge needs a signature (the public signet's 1-of-2
// multisig) gets blocks with an empty signet solution from this provider,
// which its node refuses: the operator is told once.
func TestSignedChallengeIsWarnedOnce(t *testing.T) {
	logs := &logBuffer{}
	p := newProvider(nil, 1000, true, slogTo(logs))
	for range 2 {
		nt := fakeTemplate(100, 1)
		nt.SignetChallenge = []byte{0x51, 0x21, 0x02} // OP_1 <pubkey...>: not OP_TRUE alone
		if _, err := p.update(nt); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.buf.String(), "signet's challenge needs a block signature"); n != 1 {
		t.Errorf("%d warnings, want 1; logs:\n%s", n, logs.buf.String())
	}
}
