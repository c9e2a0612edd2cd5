package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name, url string
	}{
		{"empty", ""},
		{"scheme", "ftp://127.0.0.1:1"},
		{"no host", "http://"},
		{"unparsable", "http://[::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Config{URL: tc.url}); err == nil {
				t.Fatalf("New(%q) succeeded, want an error", tc.url)
			}
		})
	}
}

func TestCallErrors(t *testing.T) {
	f := newFakeNode(t)
	ctx := t.Context()

	t.Run("bad credentials", func(t *testing.T) {
		c := f.client(t, func(c *Config) { c.Password = "wrong" })
		_, err := c.GetBlockCount(ctx)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if !strings.Contains(err.Error(), "authentication failed") {
			t.Errorf("message %q does not say what went wrong", err)
		}
	})
	t.Run("credentials in URL", func(t *testing.T) {
		c := f.client(t, func(c *Config) {
			c.User, c.Password = "", ""
			c.URL = strings.Replace(f.srv.URL, "http://", "http://user:pass@", 1)
		})
		if _, err := c.GetBlockCount(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		c := f.client(t, func(c *Config) { c.URL = "http://nohost.invalid:18443" })
		_, err := c.GetBlockCount(ctx)
		if !errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want ErrConnection", err)
		}
		if !strings.Contains(err.Error(), "nohost.invalid") {
			t.Errorf("message %q does not name the host", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := f.client(t, func(c *Config) { c.URL = "http://" + addr })
		if _, err := c.GetBlockCount(ctx); !errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want ErrConnection", err)
		}
	})
	t.Run("rpc error", func(t *testing.T) {
		c := f.client(t)
		err := c.Call(ctx, "nosuchmethod", nil, nil)
		var rpcErr *RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Code != CodeMethodNotFound || rpcErr.Method != "nosuchmethod" {
			t.Fatalf("err = %#v, want *RPCError with code %d", err, CodeMethodNotFound)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c := f.client(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.GetBlockCount(cctx)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want context.Canceled and not ErrConnection", err)
		}
	})
	t.Run("request timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		f.handle("getblockcount", func([]json.RawMessage) (any, *rpcErrorObject) {
			<-release
			return 1, nil
		})
		defer f.handle("getblockcount", nil)
		c := f.client(t, func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })
		if _, err := c.GetBlockCount(ctx); !errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want ErrConnection", err)
		}
	})
}

func TestMalformedReplies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		call   func(context.Context, *Client) error
	}{
		{"html error page", 502, "<html>Bad Gateway</html>", countCall},
		{"empty body", 200, "", countCall},
		{"wrong result type", 200, `{"result":"abc","error":null,"id":1}`, countCall},
		{"short hash", 200, `{"result":"00ff","error":null,"id":1}`, hashCall},
		{"non-hex hash", 200, `{"result":"` + strings.Repeat("zz", 32) + `","error":null,"id":1}`, hashCall},
		{"non-hex block", 200, `{"result":"xyz","error":null,"id":1}`, func(ctx context.Context, c *Client) error {
			_, err := c.GetBlock(ctx, chainhash.Hash{})
			return err
		}},
		{"truncated block", 200, `{"result":"0100","error":null,"id":1}`, func(ctx context.Context, c *Client) error {
			_, err := c.GetBlock(ctx, chainhash.Hash{})
			return err
		}},
		{"500 without error", 500, `{"result":1,"error":null,"id":1}`, countCall},
		{"too large", 200, `{"result":1,"error":null,"id":1}` + strings.Repeat(" ", 2000), countCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := New(Config{URL: srv.URL, MaxReplySize: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.call(t.Context(), c); !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("err = %v, want ErrMalformedReply", err)
			}
		})
	}
}

func countCall(ctx context.Context, c *Client) error {
	_, err := c.GetBlockCount(ctx)
	return err
}

func hashCall(ctx context.Context, c *Client) error {
	_, err := c.GetBestBlockHash(ctx)
	return err
}

func TestCookieFile(t *testing.T) {
	f := newFakeNode(t)
	cookie := filepath.Join(t.TempDir(), ".cookie")
	c := f.client(t, func(c *Config) { c.User, c.Password, c.CookieFile = "", "", cookie })

	if _, err := c.GetBlockCount(t.Context()); err == nil || !strings.Contains(err.Error(), "cookie") {
		t.Fatalf("missing cookie file: err = %v, want it named", err)
	}
	// The node writes a new cookie on every start; the client rereads it.
	for _, content := range []string{"user:wrong\n", "user:pass\n"} {
		if err := os.WriteFile(cookie, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetBlockCount(t.Context())
		if want := content == "user:pass\n"; (err == nil) != want {
			t.Fatalf("cookie %q: err = %v", content, err)
		}
	}
}

func TestTipAndLookups(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t)
	ctx := t.Context()
	f.mine()
	want := f.mine()

	tip, err := c.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tip != want {
		t.Errorf("Tip = %v, want %v", tip, want)
	}
	if n, err := c.GetBlockCount(ctx); err != nil || n != 2 {
		t.Errorf("GetBlockCount = %d, %v; want 2", n, err)
	}

	tx := segwitTx(7)
	var buf bytes.Buffer
	tx.Serialize(&buf)
	f.handle("getrawmempool", func([]json.RawMessage) (any, *rpcErrorObject) {
		return []string{tx.TxHash().String()}, nil
	})
	f.handle("getrawtransaction", func(p []json.RawMessage) (any, *rpcErrorObject) {
		var id string
		json.Unmarshal(p[0], &id)
		if id != tx.TxHash().String() {
			return nil, &rpcErrorObject{Code: CodeInvalidAddrKey, Message: "No information available about transaction"}
		}
		return hex.EncodeToString(buf.Bytes()), nil
	})
	pool, err := c.GetRawMempool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]chainhash.Hash{tx.TxHash()}, pool); diff != "" {
		t.Errorf("GetRawMempool (-want +got):\n%s", diff)
	}
	got, err := c.GetRawTransaction(ctx, tx.TxHash())
	if err != nil {
		t.Fatal(err)
	}
	if got.WitnessHash() != tx.WitnessHash() {
		t.Errorf("GetRawTransaction returned wtxid %v, want %v", got.WitnessHash(), tx.WitnessHash())
	}
	_, err = c.GetRawTransaction(ctx, chainhash.Hash{1})
	var rpcErr *RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Code != CodeInvalidAddrKey {
		t.Errorf("unknown txid: err = %v, want *RPCError %d", err, CodeInvalidAddrKey)
	}
}

// segwitTx returns a one-input P2WPKH-shaped transaction with a witness.
func segwitTx(seed byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{seed}, Index: 0},
		Witness:          wire.TxWitness{bytes.Repeat([]byte{seed}, 71), bytes.Repeat([]byte{2}, 33)},
		Sequence:         wire.MaxTxInSequenceNum,
	})
	tx.AddTxOut(&wire.TxOut{Value: 1000, PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{seed}, 20)...)})
	return tx
}

func TestSubmitBlock(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t)
	block := wire.NewMsgBlock(&wire.BlockHeader{Version: 4, Bits: 0x207fffff})
	block.AddTransaction(segwitTx(1))

	var sent []byte
	reply := func(result any, rpcErr *rpcErrorObject) {
		f.handle("submitblock", func(p []json.RawMessage) (any, *rpcErrorObject) {
			var s string
			json.Unmarshal(p[0], &s)
			sent, _ = hex.DecodeString(s)
			return result, rpcErr
		})
	}

	reply(nil, nil)
	if err := c.SubmitBlock(t.Context(), block); err != nil {
		t.Fatalf("accepted block: err = %v", err)
	}
	var decoded wire.MsgBlock
	if err := decoded.Deserialize(bytes.NewReader(sent)); err != nil {
		t.Fatalf("node received an undecodable block: %v", err)
	}
	if decoded.Transactions[0].WitnessHash() != block.Transactions[0].WitnessHash() {
		t.Error("witness lost on the way to the node")
	}

	reply("high-hash", nil)
	err := c.SubmitBlock(t.Context(), block)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Reason != "high-hash" {
		t.Fatalf("rejected block: err = %v, want *RejectedError{high-hash}", err)
	}

	// An RPC error about the block is a rejection too: the same bytes get
	// the same answer. Errors that are the node's state are not.
	for _, tc := range []struct {
		code     int
		message  string
		rejected bool
	}{
		{CodeDeserialization, "Block decode failed", true},                       // Bitcoin Core
		{CodeDeserialization, "Block decode failed: unexpected EOF", true},       // btcd
		{CodeDeserialization, "Block does not start with a coinbase", true},      // older Core
		{CodeMisc, "submitblock \"hexdata\" ( \"dummy\" )\n\nAttempts...", true}, // Core's help text for bad arguments
		{CodeInWarmup, "Loading block index…", false},
		{CodeMethodNotFound, "Method not found", false},
		{-32603, "Internal error", false},
	} {
		reply(nil, &rpcErrorObject{Code: tc.code, Message: tc.message})
		err := c.SubmitRawBlock(t.Context(), []byte{0})
		var rpcErr *RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Code != tc.code {
			t.Errorf("rpc error %d: err = %v, want it to wrap the *RPCError", tc.code, err)
		}
		if errors.As(err, &rej) != tc.rejected {
			t.Errorf("rpc error %d %q: err = %#v, rejection %v, want %v", tc.code, tc.message, err, !tc.rejected, tc.rejected)
			continue
		}
		if tc.rejected && (rej.Reason != tc.message || rej.RPC == nil || rej.RPC.Code != tc.code || rej.Duplicate() || rej.Inconclusive() ||
			!strings.Contains(err.Error(), tc.message)) {
			t.Errorf("rpc error %d: rejection %#v (%q), want the node's message and code, neither duplicate nor inconclusive", tc.code, rej, err)
		}
	}
}

// Bitcoin Core answers HTTP 503 "Work queue depth exceeded" when its RPC
// work queue is full: a busy node, worth asking again, not a malformed reply.
func TestBusyNode(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t)
	f.mu.Lock()
	f.busy = 1
	f.mu.Unlock()
	_, err := c.GetBlockCount(t.Context())
	if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrConnection) || errors.Is(err, ErrMalformedReply) {
		t.Fatalf("HTTP 503: err = %v, want ErrBusy, an ErrConnection", err)
	}
	if !strings.Contains(err.Error(), "Work queue depth exceeded") || !strings.Contains(err.Error(), "getblockcount") {
		t.Errorf("message %q does not give the call and the node's words", err)
	}

	// WaitReady retries it.
	f.mu.Lock()
	f.busy = 3
	f.mu.Unlock()
	tip, err := c.WaitReady(t.Context(), 5*time.Millisecond)
	if err != nil || tip != f.tip() {
		t.Fatalf("WaitReady on a busy node = %v, %v; want %v once it has room", tip, err, f.tip())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy != 0 {
		t.Errorf("%d busy answers left: WaitReady did not ask until the node had room", f.busy)
	}
}

func TestWaitReady(t *testing.T) {
	f := newFakeNode(t)
	c := f.client(t)
	f.setDown(true)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.WaitReady(ctx, 10*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrConnection) {
		t.Fatalf("node down: err = %v, want the deadline and the last connection error", err)
	}
	f.setDown(false)
	if tip, err := c.WaitReady(t.Context(), 10*time.Millisecond); err != nil || tip != f.tip() {
		t.Fatalf("node up: WaitReady = %v, %v; want %v", tip, err, f.tip())
	}
	bad := f.client(t, func(c *Config) { c.Password = "wrong" })
	if _, err := bad.WaitReady(t.Context(), 10*time.Millisecond); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad credentials: err = %v, want ErrUnauthorized at once", err)
	}
}
