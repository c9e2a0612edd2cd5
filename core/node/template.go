package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
)

// Template is a block template from getblocktemplate (BIP22/23/145), parsed.
// The coinbase is not part of it: the caller builds its own, paying
// CoinbaseValue.
type Template struct {
	Version       int32
	PrevHash      chainhash.Hash
	Transactions  []TemplateTx
	CoinbaseValue int64 // subsidy plus the fees of Transactions, in satoshis
	Bits          uint32
	Target        *big.Int
	Height        int64
	CurTime       int64 // unix seconds
	MinTime       int64 // unix seconds
	// DefaultWitnessCommitment is the node's witness commitment output
	// script, OP_RETURN OP_DATA_36 0xaa21a9ed <32-byte commitment> (with a
	// zero witness reserved value), or nil when the node sent none (btcd
	// omits it when no transaction has a witness). Bitcoin Core sends the
	// script; btcd sends only the 32-byte commitment, which is wrapped here
	// so callers see one form.
	DefaultWitnessCommitment []byte
	// LongPollID identifies this template for a long-poll request.
	LongPollID string
	// Limits the block must respect; zero when the node did not say.
	WeightLimit int64
	SigOpLimit  int64
	SizeLimit   int64
	Rules       []string
	// SignetChallenge is the signet's block challenge script (BIP325),
	// which Bitcoin Core sends on signet only; nil elsewhere. Every block of
	// a signet carries a witness commitment, since the block's signet
	// solution goes in that output.
	SignetChallenge []byte
}

// TemplateTx is one transaction of a Template.
type TemplateTx struct {
	// Data is the transaction serialized with its witness, if any.
	Data  []byte
	TxID  chainhash.Hash
	WTxID chainhash.Hash // equal to TxID for transactions without witness
	Fee   int64          // satoshis
	// SigOps is the sigop cost, Weight the BIP141 weight; zero when the node
	// did not say.
	SigOps int64
	Weight int64
	// Depends lists the 1-based indexes, in Transactions, of the
	// transactions this one spends from.
	Depends []int
}

type templateJSON struct {
	Version                  int32          `json:"version"`
	PreviousBlockHash        string         `json:"previousblockhash"`
	Transactions             []templateTxJS `json:"transactions"`
	CoinbaseValue            *int64         `json:"coinbasevalue"`
	Bits                     string         `json:"bits"`
	Target                   string         `json:"target"`
	Height                   int64          `json:"height"`
	CurTime                  int64          `json:"curtime"`
	MinTime                  int64          `json:"mintime"`
	DefaultWitnessCommitment string         `json:"default_witness_commitment"`
	LongPollID               string         `json:"longpollid"`
	WeightLimit              int64          `json:"weightlimit"`
	SigOpLimit               int64          `json:"sigoplimit"`
	SizeLimit                int64          `json:"sizelimit"`
	Rules                    []string       `json:"rules"`
	SignetChallenge          string         `json:"signet_challenge"`
}

type templateTxJS struct {
	Data    string `json:"data"`
	TxID    string `json:"txid"`
	Hash    string `json:"hash"`
	Fee     int64  `json:"fee"`
	SigOps  int64  `json:"sigops"`
	Weight  int64  `json:"weight"`
	Depends []int  `json:"depends"`
}

// templateRules are the rules getblocktemplate is asked with on network.
// Bitcoin Core requires segwit everywhere and signet on signet; btcd ignores
// rules, and Core ignores rules it does not need, so asking for more is safe
// but asking for less is refused.
func templateRules(network string) []string {
	if network == "signet" {
		return []string{"segwit", "signet"}
	}
	return []string{"segwit"}
}

// templateRequest asks for a template the caller completes with its own
// coinbase.
func (c *Client) templateRequest(longPollID string) map[string]any {
	req := map[string]any{
		"rules":        c.rules,
		"capabilities": []string{"coinbasevalue", "longpoll"},
	}
	if longPollID != "" {
		req["longpollid"] = longPollID
	}
	return req
}

// GetBlockTemplate returns a new block template (rules ["segwit"], and
// "signet" when Config.Network is signet).
func (c *Client) GetBlockTemplate(ctx context.Context) (*Template, error) {
	var raw templateJSON
	if err := c.Call(ctx, "getblocktemplate", []any{c.templateRequest("")}, &raw); err != nil {
		return nil, err
	}
	return raw.parse()
}

// GetBlockTemplateLongPoll blocks until the node has a template that replaces
// the one identified by longPollID (a new tip, or on most nodes a changed
// mempool after a while), then returns it. Only ctx bounds the wait.
//
// Ending ctx ends the wait here, not on every node: btcd ends a long poll
// whose client went away, but Bitcoin Core goes on with it until its tip or
// mempool changes, holding one of its few RPC threads (a quiet chain's
// node freezes once all are held). To learn of new blocks, use WatchTips,
// which waits on Bitcoin Core with calls the node bounds itself.
func (c *Client) GetBlockTemplateLongPoll(ctx context.Context, longPollID string) (*Template, error) {
	var raw templateJSON
	if err := c.callNoTimeout(ctx, "getblocktemplate", []any{c.templateRequest(longPollID)}, &raw); err != nil {
		return nil, err
	}
	return raw.parse()
}

func (j *templateJSON) parse() (*Template, error) {
	bad := func(field string, err error) error {
		return fmt.Errorf("%w: getblocktemplate: %s: %w", ErrMalformedReply, field, err)
	}
	t := &Template{
		Version:     j.Version,
		Height:      j.Height,
		CurTime:     j.CurTime,
		MinTime:     j.MinTime,
		LongPollID:  j.LongPollID,
		WeightLimit: j.WeightLimit,
		SigOpLimit:  j.SigOpLimit,
		SizeLimit:   j.SizeLimit,
		Rules:       j.Rules,
	}
	var err error
	if t.PrevHash, err = parseHash("getblocktemplate", j.PreviousBlockHash); err != nil {
		return nil, err
	}
	if j.CoinbaseValue == nil {
		return nil, bad("coinbasevalue", fmt.Errorf("missing"))
	}
	t.CoinbaseValue = *j.CoinbaseValue
	bits, err := strconv.ParseUint(j.Bits, 16, 32)
	if err != nil {
		return nil, bad("bits", err)
	}
	t.Bits = uint32(bits)
	target, ok := new(big.Int).SetString(j.Target, 16)
	if !ok || len(j.Target) != 64 {
		return nil, bad("target", fmt.Errorf("%q is not 64 hex digits", snippet([]byte(j.Target))))
	}
	t.Target = target
	if j.SignetChallenge != "" {
		if t.SignetChallenge, err = hex.DecodeString(j.SignetChallenge); err != nil {
			return nil, bad("signet_challenge", err)
		}
	}
	if j.DefaultWitnessCommitment != "" {
		if t.DefaultWitnessCommitment, err = witnessCommitmentScript(j.DefaultWitnessCommitment); err != nil {
			return nil, bad("default_witness_commitment", err)
		}
	}
	t.Transactions = make([]TemplateTx, len(j.Transactions))
	for i, jt := range j.Transactions {
		field := func(name string) string { return fmt.Sprintf("transactions[%d].%s", i, name) }
		tx := TemplateTx{Fee: jt.Fee, SigOps: jt.SigOps, Weight: jt.Weight, Depends: jt.Depends}
		if tx.Data, err = hex.DecodeString(jt.Data); err != nil {
			return nil, bad(field("data"), err)
		}
		if len(tx.Data) == 0 {
			return nil, bad(field("data"), fmt.Errorf("empty"))
		}
		if tx.TxID, err = parseHash("getblocktemplate", jt.TxID); err != nil {
			return nil, bad(field("txid"), err)
		}
		tx.WTxID = tx.TxID
		if jt.Hash != "" {
			if tx.WTxID, err = parseHash("getblocktemplate", jt.Hash); err != nil {
				return nil, bad(field("hash"), err)
			}
		}
		for _, d := range jt.Depends {
			if d < 1 || d > i {
				return nil, bad(field("depends"), fmt.Errorf("index %d does not name an earlier transaction", d))
			}
		}
		t.Transactions[i] = tx
	}
	return t, nil
}

// witnessCommitmentScript decodes a default_witness_commitment, either the
// full output script (Bitcoin Core) or the bare commitment (btcd).
func witnessCommitmentScript(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	switch {
	case len(b) == chainhash.HashSize:
		return append([]byte(coinbase.WitnessCommitmentPrefix), b...), nil
	case len(b) == len(coinbase.WitnessCommitmentPrefix)+chainhash.HashSize && bytes.HasPrefix(b, []byte(coinbase.WitnessCommitmentPrefix)):
		return b, nil
	}
	return nil, fmt.Errorf("%d bytes, want a 32-byte commitment or a 38-byte commitment output script", len(b))
}
