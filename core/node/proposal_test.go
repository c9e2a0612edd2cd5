package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

func TestProposeBlock(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t)
	block := wire.NewMsgBlock(&wire.BlockHeader{Version: 4, Bits: 0x207fffff})
	block.AddTransaction(segwitTx(1))
	var want bytes.Buffer
	if err := block.Serialize(&want); err != nil {
		t.Fatal(err)
	}

	var request struct {
		Mode string `json:"mode"`
		Data string `json:"data"`
	}
	var nParams int
	reply := func(result any, rpcErr *rpcErrorObject) {
		f.handle("getblocktemplate", func(p []json.RawMessage) (any, *rpcErrorObject) {
			nParams = len(p)
			request.Mode, request.Data = "", ""
			json.Unmarshal(p[0], &request)
			return result, rpcErr
		})
	}

	reply(nil, nil)
	if err := c.ProposeMsgBlock(t.Context(), block); err != nil {
		t.Fatalf("valid block: err = %v, want nil", err)
	}
	if nParams != 1 || request.Mode != "proposal" || request.Data != hex.EncodeToString(want.Bytes()) {
		t.Fatalf("node was asked mode %q with %d params and data %.40q..., want one proposal of the block with its witness", request.Mode, nParams, request.Data)
	}

	for _, tc := range []struct {
		reason string
		stale  bool
	}{
		{"bad-txns-inputs-missingorspent", false}, // Bitcoin Core
		{"bad-txns-missinginput", false},          // btcd
		{"bad-txnmrklroot", false},
		{"duplicate", false},
		{"rejected: transaction abc has no inputs", false},
		{"bad-prevblk", true},                   // btcd: not on its tip
		{"inconclusive-not-best-prvblk", true},  // btcd: the tip moved during the check
		{"inconclusive-not-best-prevblk", true}, // Bitcoin Core
	} {
		reply(tc.reason, nil)
		err := c.ProposeBlock(t.Context(), want.Bytes())
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Reason != tc.reason || rej.RPC != nil {
			t.Errorf("reason %q: err = %#v, want *RejectedError with the node's reason verbatim", tc.reason, err)
			continue
		}
		if rej.StaleTip() != tc.stale {
			t.Errorf("reason %q: StaleTip = %v, want %v", tc.reason, rej.StaleTip(), tc.stale)
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("reason %q: message %q does not give it", tc.reason, err)
		}
	}

	// RPC errors about the block are refusals; those about the node are
	// worth asking again, never refusals.
	for _, tc := range []struct {
		code     int
		message  string
		rejected bool
	}{
		{CodeDeserialization, "Block decode failed", true},                                                 // Bitcoin Core
		{CodeDeserialization, "Block decode failed: unexpected EOF", true},                                 // btcd
		{codeTypeError, "Data must contain the hex-encoded serialized block that is being proposed", true}, // btcd, empty data
		{CodeInWarmup, "Loading block index…", false},
		{CodeInInitialDownload, "Bitcoin Core is in initial sync and waiting for blocks...", false},
		{codeVerifyError, "Failed to process block proposal: database is closed", false}, // btcd's non-rule error
		{CodeMethodNotFound, "Method not found", false},
	} {
		reply(nil, &rpcErrorObject{Code: tc.code, Message: tc.message})
		err := c.ProposeBlock(t.Context(), want.Bytes())
		var rpcErr *RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Code != tc.code || rpcErr.Method != "getblocktemplate" {
			t.Errorf("rpc error %d: err = %v, want it to wrap the node's *RPCError", tc.code, err)
		}
		var rej *RejectedError
		if errors.As(err, &rej) != tc.rejected {
			t.Errorf("rpc error %d %q: err = %#v, rejected %v, want %v", tc.code, tc.message, err, !tc.rejected, tc.rejected)
			continue
		}
		if tc.rejected && (rej.Reason != tc.message || rej.RPC == nil || rej.RPC.Code != tc.code || rej.StaleTip()) {
			t.Errorf("rpc error %d: rejection %#v, want the node's message and code, not a stale tip", tc.code, rej)
		}
	}

	t.Run("malformed reply", func(t *testing.T) {
		for _, result := range []any{42, true, map[string]any{"reason": "x"}} {
			reply(result, nil)
			err := c.ProposeBlock(t.Context(), want.Bytes())
			var rej *RejectedError
			if !errors.Is(err, ErrMalformedReply) || errors.As(err, &rej) {
				t.Errorf("result %v: err = %v, want ErrMalformedReply and no rejection", result, err)
			}
		}
	})

	t.Run("node down", func(t *testing.T) {
		reply(nil, nil)
		f.setDown(true)
		defer f.setDown(false)
		err := c.ProposeBlock(t.Context(), want.Bytes())
		var rej *RejectedError
		if !errors.Is(err, ErrConnection) || errors.As(err, &rej) {
			t.Fatalf("err = %v, want ErrConnection and no rejection", err)
		}
		if !strings.Contains(err.Error(), "propose block") {
			t.Errorf("message %q does not name the call", err)
		}
	})
}

func TestStaleTipNeedsAReason(t *testing.T) {
	// The words in an RPC error's message are not a BIP 22 reason.
	rej := &RejectedError{Reason: "bad-prevblk", RPC: &RPCError{Method: "getblocktemplate", Code: CodeMisc, Message: "bad-prevblk"}}
	if rej.StaleTip() {
		t.Error("an RPC error reads as a stale tip")
	}
}
