package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/network"
)

// Defaults for zero Config fields.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxReplySize   = 64 << 20
)

// Config describes how to reach a node. The zero value of every optional
// field selects the documented default.
type Config struct {
	// URL is the JSON-RPC endpoint, "http://host:port" or
	// "https://host:port". Credentials in the URL's user info are used when
	// User is empty. Required.
	URL string

	// User and Password authenticate with HTTP basic auth.
	User     string
	Password string

	// CookieFile, when set, names a Bitcoin Core ".cookie" file
	// ("user:password"). It is read before every request because the node
	// writes a new one each time it starts; it takes precedence over User
	// and Password.
	CookieFile string

	// TLSConfig is used for https URLs (and wss for notifications). Nil uses
	// the system roots.
	TLSConfig *tls.Config

	// RequestTimeout bounds every call whose context has no earlier
	// deadline (default DefaultRequestTimeout). Long-poll requests are not
	// bounded by it: their context is.
	RequestTimeout time.Duration

	// MaxReplySize bounds the size of one reply body in bytes (default
	// DefaultMaxReplySize), so a broken or hostile endpoint cannot make us
	// allocate without limit.
	MaxReplySize int64

	// Network names the chain the node is on, as core/network names it
	// (mainnet, testnet, testnet4, signet, regtest), where the chain changes
	// what a call must ask for: on signet, getblocktemplate asks for the
	// signet rule, without which Bitcoin Core refuses it (RPC error -8).
	// Empty is any chain but signet.
	Network string

	// Logger receives connection-level logs. Nil discards them.
	Logger *slog.Logger
}

// Validate reports whether the configuration can be used.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("node: config: URL is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("node: config: URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("node: config: URL %q: scheme must be http or https", redact(u))
	}
	if u.Host == "" {
		return fmt.Errorf("node: config: URL %q: no host", redact(u))
	}
	if c.RequestTimeout < 0 || c.MaxReplySize < 0 {
		return errors.New("node: config: RequestTimeout and MaxReplySize must not be negative")
	}
	if c.Network != "" {
		if _, err := network.Lookup(c.Network); err != nil {
			return fmt.Errorf("node: config: Network: %w", err)
		}
	}
	return nil
}

// Client calls a node's JSON-RPC methods. It is safe for concurrent use.
type Client struct {
	cfg    Config
	url    *url.URL // without user info
	user   string
	pass   string
	http   *http.Client
	log    *slog.Logger
	rules  []string // getblocktemplate's rules, for cfg.Network
	nextID atomic.Uint64
	stats  rpcCounters
}

// New returns a Client for cfg. It does not contact the node; use Tip or
// WaitReady to check that it is reachable.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxReplySize == 0 {
		cfg.MaxReplySize = DefaultMaxReplySize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, _ := url.Parse(cfg.URL) // checked by Validate
	user, pass := cfg.User, cfg.Password
	if user == "" && u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	u.User = nil

	// Our own transport, so that Close releases our idle connections and
	// nothing is shared with http.DefaultTransport.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLSConfig
	tr.MaxIdleConnsPerHost = 4

	return &Client{
		cfg:   cfg,
		url:   u,
		user:  user,
		pass:  pass,
		http:  &http.Client{Transport: tr},
		log:   log.With("node", u.Host),
		rules: templateRules(cfg.Network),
	}, nil
}

// Close releases idle connections. Calls in flight are not interrupted;
// cancel their contexts for that.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// Host returns the node's host:port, for logs and error messages.
func (c *Client) Host() string { return c.url.Host }

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcErrorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  *rpcErrorObject `json:"error"`
}

// Call invokes method with params and decodes the result into result (a
// pointer, or nil to discard it). Errors wrap ErrConnection (ErrBusy too
// for an HTTP 503), ErrUnauthorized or ErrMalformedReply, or are a
// *RPCError; when ctx ends first, the error wraps ctx.Err().
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	return c.call(ctx, callCtx, method, params, result)
}

// callNoTimeout is Call without RequestTimeout, for long polls that are
// meant to block until the node has news. It is counted but not timed: how
// long a long poll lasts is how long the node had no news, not its latency.
func (c *Client) callNoTimeout(ctx context.Context, method string, params []any, result any) error {
	c.stats.begin()
	err := c.roundTrip(ctx, ctx, method, params, result)
	c.stats.done(ctx, err)
	return err
}

// call makes one request on ctx, derived from the caller's parent with a
// deadline of the call's own, and counts and times it.
func (c *Client) call(parent, ctx context.Context, method string, params []any, result any) error {
	start := c.stats.begin()
	err := c.roundTrip(parent, ctx, method, params, result)
	c.stats.timedDone(parent, err, start)
	return err
}

// roundTrip is call without the counting, so that each way of calling
// counts a call once.
func (c *Client) roundTrip(parent, ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: c.nextID.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("node: %s: encode request: %w", method, err)
	}
	resp, err := c.post(parent, ctx, method, body)
	if err != nil {
		return err
	}
	// Bitcoin Core answers RPC errors with HTTP 404/500 and a JSON body, so
	// the body decides, not the status, whenever it is a JSON-RPC reply.
	var reply rpcReply
	if err := json.Unmarshal(resp.body, &reply); err != nil {
		return fmt.Errorf("%w: %s: HTTP %s: %q", ErrMalformedReply, method, resp.status, snippet(resp.body))
	}
	if reply.Error != nil {
		return &RPCError{Method: method, Code: reply.Error.Code, Message: reply.Error.Message}
	}
	if resp.code != http.StatusOK {
		return fmt.Errorf("%w: %s: HTTP %s without an error object", ErrMalformedReply, method, resp.status)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(reply.Result, result); err != nil {
		return fmt.Errorf("%w: %s: result: %w", ErrMalformedReply, method, err)
	}
	return nil
}

// httpReply is the body of an HTTP answer that may hold a JSON-RPC reply.
type httpReply struct {
	status string
	code   int
	body   []byte
}

// post sends one JSON-RPC request body (a single request or a batch) and
// returns the answer's body. HTTP answers that never carry a JSON-RPC
// reply (401, 403, 503) and bodies over MaxReplySize are errors here;
// method names the call in them.
func (c *Client) post(parent, ctx context.Context, method string, body []byte) (httpReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url.String(), bytes.NewReader(body))
	if err != nil {
		return httpReply{}, fmt.Errorf("node: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	user, pass, err := c.credentials()
	if err != nil {
		return httpReply{}, fmt.Errorf("node: %s: %w", method, err)
	}
	req.SetBasicAuth(user, pass)

	resp, err := c.http.Do(req)
	if err != nil {
		return httpReply{}, c.transportError(parent, method, err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return httpReply{}, fmt.Errorf("%w: %s to %s: HTTP %s", ErrUnauthorized, method, c.url.Host, resp.Status)
	case http.StatusForbidden:
		// Bitcoin Core's -rpcwhitelist refuses a method the user may not
		// call this way too.
		return httpReply{}, fmt.Errorf("%w: %w: %s to %s: HTTP %s", ErrUnauthorized, errForbidden, method, c.url.Host, resp.Status)
	case http.StatusServiceUnavailable:
		// Bitcoin Core's full work queue or its shutdown: a plain-text body,
		// never a JSON-RPC reply, and a node worth asking again.
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return httpReply{}, fmt.Errorf("%w: %s to %s: HTTP %s: %q", ErrBusy, method, c.url.Host, resp.Status, snippet(bytes.TrimSpace(raw)))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxReplySize+1))
	if err != nil {
		return httpReply{}, c.transportError(parent, method, err)
	}
	if int64(len(raw)) > c.cfg.MaxReplySize {
		return httpReply{}, fmt.Errorf("%w: %w: %s: reply larger than %d bytes", ErrMalformedReply, errReplyTooLarge, method, c.cfg.MaxReplySize)
	}
	return httpReply{status: resp.Status, code: resp.StatusCode, body: raw}, nil
}

// batchReply is one call's answer in a batch: its result, or the node's
// error object for it.
type batchReply struct {
	Result json.RawMessage
	Err    *RPCError
}

// batchReplyJSON is one element of a batch answer.
type batchReplyJSON struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpcErrorObject `json:"error"`
}

// callBatch calls method once per element of params in one HTTP request, a
// JSON-RPC batch (an array of requests), which btcd (since v0.21) and
// Bitcoin Core both serve, one call after the other. It returns the
// answers in the order of params; an error object answered for one call is
// that call's Err, not an error of the batch. The batch fails as a whole,
// with the errors Call returns, when the request does, or when the answer is
// not one reply per request. The batch counts as one call in RPCStats, and
// as failed only when it fails as a whole.
func (c *Client) callBatch(ctx context.Context, method string, params [][]any) ([]batchReply, error) {
	if len(params) == 0 {
		return nil, nil // nothing is sent, so nothing is counted
	}
	start := c.stats.begin()
	out, err := c.batchRoundTrip(ctx, method, params)
	c.stats.timedDone(ctx, err, start)
	return out, err
}

// batchRoundTrip is callBatch without the counting.
func (c *Client) batchRoundTrip(ctx context.Context, method string, params [][]any) ([]batchReply, error) {
	name := fmt.Sprintf("%s (batch of %d)", method, len(params))
	reqs := make([]rpcRequest, len(params))
	index := make(map[uint64]int, len(params)) // request id -> position
	for i, p := range params {
		if p == nil {
			p = []any{}
		}
		reqs[i] = rpcRequest{JSONRPC: "1.0", ID: c.nextID.Add(1), Method: method, Params: p}
		index[reqs[i].ID] = i
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return nil, fmt.Errorf("node: %s: encode request: %w", name, err)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.post(ctx, callCtx, name, body)
	if err != nil {
		return nil, err
	}
	// A batch the node could not read at all is answered with one error
	// object, not an array.
	if trimmed := bytes.TrimSpace(resp.body); len(trimmed) > 0 && trimmed[0] == '{' {
		var reply rpcReply
		if err := json.Unmarshal(trimmed, &reply); err == nil && reply.Error != nil {
			return nil, &RPCError{Method: method, Code: reply.Error.Code, Message: reply.Error.Message}
		}
	}
	var replies []batchReplyJSON
	if err := json.Unmarshal(resp.body, &replies); err != nil {
		return nil, fmt.Errorf("%w: %s: HTTP %s: %q", ErrMalformedReply, name, resp.status, snippet(resp.body))
	}
	if len(replies) != len(params) {
		return nil, fmt.Errorf("%w: %s: %d replies", ErrMalformedReply, name, len(replies))
	}
	out := make([]batchReply, len(params))
	seen := make([]bool, len(params))
	for _, r := range replies {
		var id uint64
		if err := json.Unmarshal(r.ID, &id); err != nil {
			return nil, fmt.Errorf("%w: %s: reply id %q", ErrMalformedReply, name, snippet(r.ID))
		}
		i, ok := index[id]
		if !ok || seen[i] {
			return nil, fmt.Errorf("%w: %s: reply id %d unknown or repeated", ErrMalformedReply, name, id)
		}
		seen[i] = true
		if r.Error != nil {
			out[i].Err = &RPCError{Method: method, Code: r.Error.Code, Message: r.Error.Message}
			continue
		}
		out[i].Result = r.Result
	}
	return out, nil
}

// transportError classifies a failed round trip: the caller's own
// cancellation stays a context error; everything else, our RequestTimeout
// included, is a connection failure worth retrying.
func (c *Client) transportError(parent context.Context, method string, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // drop the repeated method and URL
	}
	if parent.Err() != nil {
		return fmt.Errorf("node: %s to %s: %w", method, c.url.Host, parent.Err())
	}
	return fmt.Errorf("%w: %s to %s: %w", ErrConnection, method, c.url.Host, err)
}

func (c *Client) credentials() (user, pass string, err error) {
	if c.cfg.CookieFile == "" {
		return c.user, c.pass, nil
	}
	b, err := os.ReadFile(c.cfg.CookieFile)
	if err != nil {
		return "", "", fmt.Errorf("read cookie file: %w", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		return "", "", fmt.Errorf("cookie file %s: want user:password", c.cfg.CookieFile)
	}
	return user, pass, nil
}

func snippet(b []byte) string {
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}
