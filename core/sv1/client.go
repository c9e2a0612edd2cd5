package sv1

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// ClientConfig configures a Client, a Stratum V1 miner that behaves as the
// common firmware does; tests, benchmarks and load tools use it.
type ClientConfig struct {
	Address        string
	User, Password string
	Agent          string // mining.subscribe's user agent
	Session        string // a session id to resume
	// ReuseID sends every request with id 1, as some firmware does; the
	// answers are then matched by their order.
	ReuseID bool
	// VersionRolling negotiates BIP 310 version rolling (mask 1fffe000) and
	// rolls the version bits of every share.
	VersionRolling bool
	// ExtranonceSubscribe asks for mining.set_extranonce.
	ExtranonceSubscribe bool
	// MinDifficulty and SuggestDifficulty, when set, are sent.
	MinDifficulty, SuggestDifficulty float64
	// Timeout bounds each call and the dial (10 s if zero).
	Timeout time.Duration
}

// Client is one Stratum V1 connection. Dial sets it up (configure,
// subscribe, authorize); Mine hashes its jobs on the CPU and submits the
// shares; Call sends any request.
type Client struct {
	cfg ClientConfig
	nc  net.Conn

	wmu    sync.Mutex // writes
	nextID int

	mu       sync.Mutex
	pending  []pending // answers awaited, in request order
	err      error     // the connection's end
	job      *ClientJob
	gen      uint64 // bumped on every job
	jobReady chan struct{}
	en1      []byte
	en2Size  int
	diff     float64
	mask     uint32
	session  string
	done     chan struct{}

	// Counters.
	Accepted, Rejected, Blocks, Notifies, Reconnects atomic.Int64
	// Codes counts the rejections by Sv1 error code.
	codes sync.Map // int -> *atomic.Int64
}

// ClientJob is a mining.notify as the client keeps it.
type ClientJob struct {
	ID             string
	PrevHash       sv2.U256
	Coinb1, Coinb2 []byte
	Branch         []sv2.U256
	Version, NBits uint32
	NTime          uint32
	Clean          bool
}

// pending is a request awaiting its answer: a call's, delivered on ch, or a
// share's, counted as it comes (so that a call made after shares returns
// after they are counted).
type pending struct {
	ch    chan Response
	share bool
	block bool
}

// Response is an answer to a request.
type Response struct {
	Result json.RawMessage
	Error  *RequestError
}

// Dial connects, configures, subscribes and authorizes.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", cfg.Address)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, nc: nc, jobReady: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) handshake(ctx context.Context) error {
	if c.cfg.VersionRolling || c.cfg.MinDifficulty > 0 || c.cfg.ExtranonceSubscribe {
		var exts []string
		params := map[string]any{}
		if c.cfg.VersionRolling {
			exts = append(exts, "version-rolling")
			params["version-rolling.mask"] = "1fffe000"
			params["version-rolling.min-bit-count"] = 2
		}
		if c.cfg.MinDifficulty > 0 {
			exts = append(exts, "minimum-difficulty")
			params["minimum-difficulty.value"] = c.cfg.MinDifficulty
		}
		if c.cfg.ExtranonceSubscribe {
			exts = append(exts, "subscribe-extranonce")
		}
		r, err := c.Call(ctx, "mining.configure", exts, params)
		if err != nil {
			return err
		}
		var res map[string]any
		if err := json.Unmarshal(r.Result, &res); err != nil {
			return fmt.Errorf("sv1 client: configure result %s: %w", r.Result, err)
		}
		if c.cfg.VersionRolling {
			s, _ := res["version-rolling.mask"].(string)
			if res["version-rolling"] != true || s == "" {
				return fmt.Errorf("sv1 client: version rolling refused: %s", r.Result)
			}
			m, err := ParseUint32Hex(s)
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.mask = m
			c.mu.Unlock()
		}
	}
	agent := c.cfg.Agent
	if agent == "" {
		agent = "stratumgo-sv1/1"
	}
	params := []any{agent}
	if c.cfg.Session != "" {
		params = append(params, c.cfg.Session)
	}
	r, err := c.Call(ctx, "mining.subscribe", params...)
	if err != nil {
		return err
	}
	if r.Error != nil {
		return fmt.Errorf("sv1 client: subscribe: %w", r.Error)
	}
	var res []json.RawMessage
	if err := json.Unmarshal(r.Result, &res); err != nil || len(res) != 3 {
		return fmt.Errorf("sv1 client: subscribe result %s", r.Result)
	}
	var subs [][]string
	var en1 string
	var size int
	if json.Unmarshal(res[0], &subs) != nil || json.Unmarshal(res[1], &en1) != nil || json.Unmarshal(res[2], &size) != nil || len(subs) == 0 || len(subs[0]) != 2 {
		return fmt.Errorf("sv1 client: subscribe result %s", r.Result)
	}
	b, err := hex.DecodeString(en1)
	if err != nil {
		return fmt.Errorf("sv1 client: extranonce1 %q: %w", en1, err)
	}
	if size < 1 || size > MaxExtranonce2Size {
		return fmt.Errorf("sv1 client: extranonce2 of %d bytes, want 1 to %d", size, MaxExtranonce2Size)
	}
	c.mu.Lock()
	c.en1, c.en2Size, c.session = b, size, subs[0][1]
	c.mu.Unlock()
	if c.cfg.SuggestDifficulty > 0 {
		if _, err := c.Call(ctx, "mining.suggest_difficulty", c.cfg.SuggestDifficulty); err != nil {
			return err
		}
	}
	r, err = c.Call(ctx, "mining.authorize", c.cfg.User, c.cfg.Password)
	if err != nil {
		return err
	}
	if r.Error != nil || string(r.Result) != "true" {
		return fmt.Errorf("sv1 client: authorize %q refused: %s %v", c.cfg.User, r.Result, r.Error)
	}
	return nil
}

// Session is the id mining.subscribe answered, to resume with.
func (c *Client) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Extranonce returns extranonce1 and the extranonce2 size.
func (c *Client) Extranonce() ([]byte, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.en1, c.en2Size
}

// Difficulty is the last mining.set_difficulty.
func (c *Client) Difficulty() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.diff
}

// Job waits for a job (a later one than after, by generation) and returns it.
func (c *Client) Job(ctx context.Context, after uint64) (*ClientJob, uint64, error) {
	for {
		c.mu.Lock()
		j, gen, ready, err := c.job, c.gen, c.jobReady, c.err
		c.mu.Unlock()
		if j != nil && gen > after {
			return j, gen, nil
		}
		if err != nil {
			return nil, 0, err
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// Sync returns once every request sent before it is answered (and every
// share counted): it asks for a method no server has, whose answer comes in
// order after theirs.
func (c *Client) Sync(ctx context.Context) error {
	r, err := c.Call(ctx, "mining.sync-barrier")
	if err != nil {
		return err
	}
	if r.Error == nil {
		return fmt.Errorf("sv1 client: the barrier was answered %s", r.Result)
	}
	return nil
}

// RejectionCodes returns the shares refused, by Sv1 error code.
func (c *Client) RejectionCodes() map[int]int64 {
	m := map[int]int64{}
	c.codes.Range(func(k, v any) bool {
		m[k.(int)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close hangs up.
func (c *Client) Close() error { return c.nc.Close() }

// Call sends a request and waits for its answer.
func (c *Client) Call(ctx context.Context, method string, params ...any) (Response, error) {
	ch := make(chan Response, 1)
	err := c.send(pending{ch: ch}, method, params...)
	if err != nil {
		return Response{}, err
	}
	t := time.NewTimer(c.cfg.Timeout)
	defer t.Stop()
	select {
	case r, ok := <-ch:
		if !ok {
			return Response{}, c.failure()
		}
		return r, nil
	case <-t.C:
		return Response{}, fmt.Errorf("sv1 client: no answer to %s within %v", method, c.cfg.Timeout)
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
}

func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return errClosed
	}
	return c.err
}

// send writes a request whose answer p awaits.
func (c *Client) send(p pending, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nextID++
	id := c.nextID
	if c.cfg.ReuseID {
		id = 1
	}
	line, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.pending = append(c.pending, p)
	c.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	_, err = c.nc.Write(append(line, '\n'))
	return err
}

// readLoop reads answers (matched to requests by order: the server answers
// in order, which is what lets firmware reuse one id) and notifications.
func (c *Client) readLoop() {
	r := bufio.NewReaderSize(c.nc, 1<<16)
	var err error
	defer func() {
		c.mu.Lock()
		c.err = fmt.Errorf("sv1 client: %w", err)
		for _, p := range c.pending {
			if p.ch != nil {
				close(p.ch)
			}
		}
		c.pending = nil
		close(c.jobReady)
		c.mu.Unlock()
		close(c.done)
	}()
	for {
		var line []byte
		if line, err = r.ReadBytes('\n'); err != nil {
			return
		}
		var msg struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
			Result json.RawMessage   `json:"result"`
			Error  json.RawMessage   `json:"error"`
		}
		if err = json.Unmarshal(line, &msg); err != nil {
			err = fmt.Errorf("bad line %q: %w", line, err)
			return
		}
		if msg.Method != "" {
			if err = c.notification(msg.Method, msg.Params); err != nil {
				return
			}
			continue
		}
		resp := Response{Result: msg.Result}
		if len(msg.Error) > 0 && string(msg.Error) != "null" {
			var e []json.RawMessage
			resp.Error = &RequestError{Code: CodeOther, Message: string(msg.Error)}
			if json.Unmarshal(msg.Error, &e) == nil && len(e) >= 2 {
				json.Unmarshal(e[0], &resp.Error.Code)
				json.Unmarshal(e[1], &resp.Error.Message)
			}
		}
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.mu.Unlock()
			err = fmt.Errorf("an answer to no request: %q", line)
			return
		}
		p := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		if p.share {
			c.count(resp, p.block)
		} else {
			p.ch <- resp
		}
	}
}

func (c *Client) notification(method string, params []json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch method {
	case "mining.set_difficulty":
		if len(params) != 1 || json.Unmarshal(params[0], &c.diff) != nil {
			return fmt.Errorf("set_difficulty %s", params)
		}
	case "mining.set_version_mask":
		var s string
		if len(params) != 1 || json.Unmarshal(params[0], &s) != nil {
			return fmt.Errorf("set_version_mask %s", params)
		}
		m, err := ParseUint32Hex(s)
		if err != nil {
			return err
		}
		c.mask = m
	case "mining.set_extranonce":
		var s string
		var size int
		if len(params) != 2 || json.Unmarshal(params[0], &s) != nil || json.Unmarshal(params[1], &size) != nil || size < 1 || size > MaxExtranonce2Size {
			return fmt.Errorf("set_extranonce %s", params)
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return err
		}
		c.en1, c.en2Size = b, size
	case "client.reconnect":
		c.Reconnects.Add(1)
	case "mining.notify":
		j, err := parseNotify(params)
		if err != nil {
			return err
		}
		c.Notifies.Add(1)
		c.job = j
		c.gen++
		close(c.jobReady)
		c.jobReady = make(chan struct{})
	}
	return nil
}

// parseNotify reads mining.notify's nine parameters.
func parseNotify(p []json.RawMessage) (*ClientJob, error) {
	if len(p) != 9 {
		return nil, fmt.Errorf("mining.notify with %d params, want 9", len(p))
	}
	var s [8]string
	var branch []string
	var clean bool
	for i, dst := range []any{&s[0], &s[1], &s[2], &s[3], &branch, &s[5], &s[6], &s[7], &clean} {
		if err := json.Unmarshal(p[i], dst); err != nil {
			return nil, fmt.Errorf("mining.notify param %d: %w", i, err)
		}
	}
	j := &ClientJob{ID: s[0], Clean: clean}
	var err error
	if j.PrevHash, err = ParsePrevHash(s[1]); err != nil {
		return nil, err
	}
	if j.Coinb1, err = hex.DecodeString(s[2]); err != nil {
		return nil, fmt.Errorf("coinb1: %w", err)
	}
	if j.Coinb2, err = hex.DecodeString(s[3]); err != nil {
		return nil, fmt.Errorf("coinb2: %w", err)
	}
	for _, b := range branch {
		var h sv2.U256
		if len(b) != 64 {
			return nil, fmt.Errorf("merkle branch %q", b)
		}
		if _, err := hex.Decode(h[:], []byte(b)); err != nil {
			return nil, err
		}
		j.Branch = append(j.Branch, h)
	}
	for i, dst := range []*uint32{&j.Version, &j.NBits, &j.NTime} {
		if *dst, err = ParseUint32Hex(s[5+i]); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// Header is the block header of j with the client's extranonce1 and en2.
func (j *ClientJob) Header(en1, en2 []byte, ntime, nonce, version uint32) block.Header {
	root := merkle.Root(coinbase.TxID(j.Coinb1, en1, en2, j.Coinb2), j.Branch)
	return block.Header{Version: version, PrevHash: j.PrevHash, MerkleRoot: root, NTime: ntime, NBits: j.NBits, Nonce: nonce}
}

// Mine hashes the current job on one goroutine and submits every share
// that meets the difficulty, without waiting for the answers (counted in
// Accepted and Rejected as they come; any Call made after Mine returns
// returns after them), until ctx ends or the connection does. A share
// that meets the network target counts in Blocks. maxShares, when above
// 0, stops it after that many submissions.
func (c *Client) Mine(ctx context.Context, maxShares int) error {
	var gen uint64
	var j *ClientJob
	var err error
	en2 := make([]byte, 8)
	var en2n uint64
	submitted, waitNew := 0, false
	for ctx.Err() == nil {
		after := uint64(0)
		if waitNew { // after a block, the next tip's job
			after = gen
		}
		if j, gen, err = c.Job(ctx, after); err != nil {
			return err
		}
		waitNew = false
		c.mu.Lock()
		en1, size, diff, mask := c.en1, c.en2Size, c.diff, c.mask
		c.mu.Unlock()
		if !c.cfg.VersionRolling {
			mask = 0
		}
		share, err := target.FromDifficulty(diff)
		if err != nil || diff == 0 {
			share = target.Max()
		}
		network, err := target.FromCompact(j.NBits)
		if err != nil {
			return err
		}
		en2n++
		for i := range size {
			en2[i] = byte(en2n >> (8 * (size - 1 - i)))
		}
		version := j.Version
		if mask != 0 {
			// Roll the lowest mask bit with the extranonce2 counter, as an
			// ASIC with version rolling rolls the bits it was given.
			low := mask & -mask
			version = j.Version&^mask | uint32(en2n)*low&mask
		}
		for nonce := uint32(0); ; nonce++ {
			if nonce&0xfff == 0xfff {
				c.mu.Lock()
				changed := c.gen != gen || c.err != nil
				c.mu.Unlock()
				if changed || ctx.Err() != nil {
					break
				}
			}
			h := j.Header(en1, en2[:size], j.NTime, nonce, version)
			hash := h.Hash()
			// A block goes in whatever the share difficulty, as firmware
			// that checks the network target does.
			block := target.Meets(&hash, &network)
			if !block && !target.Meets(&hash, &share) {
				if nonce == 0xffffffff {
					break
				}
				continue
			}
			params := []any{c.cfg.User, j.ID, hex.EncodeToString(en2[:size]), Uint32Hex(j.NTime), Uint32Hex(nonce)}
			if mask != 0 {
				params = append(params, Uint32Hex(version&mask))
			}
			if err := c.send(pending{share: true, block: block}, "mining.submit", params...); err != nil {
				return err
			}
			submitted++
			if maxShares > 0 && submitted >= maxShares {
				return nil
			}
			if block {
				waitNew = true // a new tip follows; do not hash the old one further
				break
			}
		}
	}
	return ctx.Err()
}

// count records a share's answer.
func (c *Client) count(r Response, block bool) {
	switch {
	case r.Error == nil && string(r.Result) == "true":
		c.Accepted.Add(1)
		if block {
			c.Blocks.Add(1)
		}
	default:
		c.Rejected.Add(1)
		code := CodeOther
		if r.Error != nil {
			code = r.Error.Code
		}
		v, _ := c.codes.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
}

// Run mines as firmware does until ctx ends: Dial, Mine, and when the
// server hangs up or refuses, dial again after a backoff. onDial, if set,
// gets each new connection's Client (for its counters); errors go to
// onError, if set.
func Run(ctx context.Context, cfg ClientConfig, onDial func(*Client), onError func(error)) {
	retry := backoff.Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second, Jitter: 0.2}
	for ctx.Err() == nil {
		c, err := Dial(ctx, cfg)
		if err == nil {
			if onDial != nil {
				onDial(c)
			}
			retry.Reset()
			err = c.Mine(ctx, 0)
			c.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if onError != nil {
			onError(err)
		}
		select {
		case <-time.After(retry.Next()):
		case <-ctx.Done():
		}
	}
}
