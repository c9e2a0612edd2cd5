package proxy

// Hostile-peer tests of the proxy's Stratum V1 gateway (Config.Sv1): the
// proxy stopping under devices that do not read or are mid-burst, the
// upstream failing over or closing its channel, a share flood behind a
// slow upstream, and many devices from one address against
// MaxChannelsPerSource. Malformed input is the pool's tests'
// (apps/pool/sv1_attack_test.go).

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv1"
	"github.com/stratumgo/stratum/core/sv2"
)

// sv1ProxyStack is a proxy with a Stratum V1 gateway, run until stop (or
// the test's end), returning once devices may connect.
func sv1ProxyStack(t *testing.T, mod func(*Config), addrs ...string) (p *Proxy, sv1Addr string, stop func()) {
	t.Helper()
	ln, sln := listen(t), listen(t)
	cfg := Config{Listener: ln, Plain: true, User: "farm", UpstreamHashrate: 1e-3, MinShareDifficulty: -1, Sv1: &sv1.Config{Listener: sln}}
	for _, a := range addrs {
		cfg.Upstreams = append(cfg.Upstreams, Upstream{Address: a, Plain: true})
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, p.Run)
	select {
	case <-p.Ready():
	case <-time.After(attackWait):
		t.Fatal("the proxy never opened its upstream channel")
	}
	return p, sln.Addr().String(), stop
}

// sv1Device dials an honest Sv1 device for user from local address from
// ("" for any), at the easiest difficulty.
func sv1Device(t *testing.T, addr, from, user string) (*sv1.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), attackWait)
	defer cancel()
	cfg := sv1.ClientConfig{Address: addr, User: user, Password: "x", SuggestDifficulty: 1e-9, VersionRolling: true}
	if from == "" {
		c, err := sv1.Dial(ctx, cfg)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	// sv1.Dial has no local address: go through a forwarder bound to from.
	fwd := sv1Forwarder(t, addr, from)
	cfg.Address = fwd
	c, err := sv1.Dial(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// sv1Forwarder listens on loopback and relays every connection to addr
// from local address from, so that a sv1.Client appears to come from it.
func sv1Forwarder(t *testing.T, addr, from string) string {
	t.Helper()
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			d := net.Dialer{Timeout: attackWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			out, err := d.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
			go func() { io.Copy(in, out); in.Close(); out.Close() }()
		}
	}()
	return ln.Addr().String()
}

// sv1Raw is a hand-driven Sv1 connection.
type sv1Raw struct {
	nc  net.Conn
	r   *bufio.Reader
	id  int
	log []string // every line read
}

type sv1Line struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
	Error  json.RawMessage   `json:"error"`
}

func dialSv1Raw(t *testing.T, addr, from string) *sv1Raw {
	t.Helper()
	d := net.Dialer{Timeout: attackWait}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &sv1Raw{nc: nc, r: bufio.NewReaderSize(nc, 1<<16)}
}

func (q *sv1Raw) send(method string, params ...any) error {
	q.id++
	b, _ := json.Marshal(map[string]any{"id": q.id, "method": method, "params": params})
	q.nc.SetWriteDeadline(time.Now().Add(attackWait))
	_, err := q.nc.Write(append(b, '\n'))
	return err
}

func (q *sv1Raw) next(d time.Duration) (sv1Line, error) {
	q.nc.SetReadDeadline(time.Now().Add(d))
	line, err := q.r.ReadString('\n')
	if err != nil {
		return sv1Line{}, err
	}
	q.log = append(q.log, strings.TrimSpace(line))
	var m sv1Line
	return m, json.Unmarshal([]byte(line), &m)
}

// answer reads until the answer to the last request.
func (q *sv1Raw) answer(t *testing.T) sv1Line {
	t.Helper()
	for {
		m, err := q.next(attackWait)
		if err != nil {
			t.Fatalf("waiting for the answer to request %d: %v (read %q)", q.id, err, q.log)
		}
		if m.Method == "" {
			return m
		}
	}
}

// setup subscribes and authorizes user; it returns the authorize answer,
// and, when authorized, the first job's id and ntime and the extranonce2 size.
func (q *sv1Raw) setup(t *testing.T, user string) (auth sv1Line, job, ntime string, size int) {
	t.Helper()
	q.send("mining.suggest_difficulty", 1e-9)
	q.answer(t)
	q.send("mining.subscribe", "hostile/1")
	sub := q.answer(t)
	var res []json.RawMessage
	if json.Unmarshal(sub.Result, &res) != nil || len(res) != 3 || json.Unmarshal(res[2], &size) != nil {
		t.Fatalf("subscribe answered %s", q.log[len(q.log)-1])
	}
	q.send("mining.authorize", user, "x")
	auth = q.answer(t)
	if string(auth.Result) != "true" {
		return auth, "", "", size
	}
	for {
		m, err := q.next(attackWait)
		if err != nil {
			t.Fatalf("no mining.notify: %v", err)
		}
		if m.Method == "mining.notify" {
			json.Unmarshal(m.Params[0], &job)
			json.Unmarshal(m.Params[7], &ntime)
			return auth, job, ntime, size
		}
	}
}

// pipeline writes stale submits (job "nojob", answered by the gateway
// itself) without reading, until the connection fails.
func (q *sv1Raw) pipeline(user, ntime string, size int) <-chan error {
	done := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(q.nc, 1<<14)
		for i := 0; ; i++ {
			q.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := fmt.Fprintf(bw, `{"id":%d,"method":"mining.submit","params":["%s","nojob","%0*x","%s","%08x"]}`+"\n", i, user, 2*size, i, ntime, i); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// sv1En2 numbers the extranonce2 of sv1Latency's shares.
var sv1En2 atomic.Uint32

// sv1Latency submits n shares on c, each found by hand on its current
// job with a fresh extranonce2, and returns each one's time from submit to
// answer, sorted.
func sv1Latency(t *testing.T, c *sv1.Client, user string, n int) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), attackWait)
	defer cancel()
	var ds []time.Duration
	for range n {
		j, _, err := c.Job(ctx, 0)
		if err != nil {
			t.Fatalf("the honest device: %v", err)
		}
		en1, size := c.Extranonce()
		share, err := target.FromDifficulty(c.Difficulty())
		if err != nil || c.Difficulty() == 0 {
			share = target.Max()
		}
		en2 := make([]byte, size)
		binary.BigEndian.PutUint32(en2[size-4:], sv1En2.Add(1)+1<<31)
		nonce := uint32(0)
		for ; ; nonce++ {
			hd := j.Header(en1, en2, j.NTime, nonce, j.Version)
			h := hd.Hash()
			if target.Meets(&h, &share) {
				break
			}
		}
		start := time.Now()
		r, err := c.Call(ctx, "mining.submit", user, j.ID, hex.EncodeToString(en2), sv1.Uint32Hex(j.NTime), sv1.Uint32Hex(nonce))
		if err != nil {
			t.Fatalf("the honest device: %v", err)
		}
		ds = append(ds, time.Since(start))
		if r.Error != nil || string(r.Result) != "true" {
			t.Fatalf("the honest device's share answered %s %v", r.Result, r.Error)
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// Stopping the proxy with 50 Sv1 devices connected: 20 idle readers, 15
// mining flat out (mid-burst of submits) and 15 that pipeline submits and
// never read. Run must return within a few seconds whatever the
// non-readers do, and every device that reads must get client.reconnect
// before its connection closes.
func TestSv1AttackProxyStopWithStalledDevices(t *testing.T) {
	pool := startMiniPool(t, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
	pool.newTip(t, 1, 9)
	_, addr, stop := sv1ProxyStack(t, nil, pool.addr)
	const idle, bursting, deaf = 20, 15, 15
	var readers []*sv1.Client
	for i := range idle {
		c, err := sv1Device(t, addr, "", fmt.Sprintf("idle%d", i))
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, c)
	}
	var bursters []*sv1.Client
	for i := range bursting {
		c, err := sv1Device(t, addr, "", fmt.Sprintf("burst%d", i))
		if err != nil {
			t.Fatal(err)
		}
		bursters = append(bursters, c)
	}
	readers = append(readers, bursters...)
	for i := range deaf {
		q := dialSv1Raw(t, addr, "127.0.0.2")
		user := fmt.Sprintf("deaf%d", i)
		_, _, ntime, size := q.setup(t, user)
		q.pipeline(user, ntime, size)
	}
	// The bursts start last: hashing on the test's CPUs, they slow the rest.
	mineCtx, stopMining := context.WithCancel(context.Background())
	defer stopMining()
	var miners sync.WaitGroup
	for _, c := range bursters {
		miners.Go(func() { c.Mine(mineCtx, 0) })
	}
	// Let the bursts run and the deaf devices' sockets fill.
	waitFor(t, "the bursting devices' shares", func() bool {
		for _, c := range readers[idle:] {
			if c.Accepted.Load() < 20 {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatalf("the proxy's Run had not returned %v after it was stopped", time.Since(start))
	}
	took := time.Since(start)
	t.Logf("Run returned %v after the stop", took)
	if took > 5*time.Second {
		t.Errorf("the proxy's Run took %v to return with devices that do not read, want under 5 s", took)
	}
	var lost []string
	for i, c := range readers {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Errorf("device %d still connected 5 s after the proxy stopped", i)
			continue
		}
		if c.Reconnects.Load() != 1 {
			kind := "idle"
			if i >= idle {
				kind = "bursting"
			}
			_, err := c.Call(context.Background(), "mining.ping")
			lost = append(lost, fmt.Sprintf("%s#%d (%v)", kind, i, err))
		}
	}
	t.Logf("devices closed %v after the stop", time.Since(start))
	stopMining()
	miners.Wait()
	t.Logf("miners ended %v after the stop", time.Since(start))
	if len(lost) > 0 {
		t.Errorf("%d of %d reading devices got no client.reconnect when the proxy stopped: %v", len(lost), len(readers), lost)
	}
}

// The upstream stops and the proxy fails over to the second: its Sv1
// devices stay connected, get the second pool's tip as a clean
// mining.notify, and their shares are accepted by the proxy and the
// second pool. An upstream CloseChannel (reopened by the proxy) likewise.
func TestSv1AttackUpstreamFailover(t *testing.T) {
	for _, mode := range []Mode{ModeAggregate, ModePassthrough} {
		t.Run(string(mode), func(t *testing.T) { sv1Failover(t, mode) })
	}
}

func sv1Failover(t *testing.T, mode Mode) {
	pool1 := startMiniPool(t, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
	pool2 := startMiniPool(t, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
	pool1.newTip(t, 1, 9)
	pool2.newTip(t, 1, 7)
	p, addr, _ := sv1ProxyStack(t, func(c *Config) { c.PrimaryProbe, c.Mode = time.Hour, mode }, pool1.addr, pool2.addr)
	ctx, cancel := context.WithTimeout(context.Background(), attackWait)
	defer cancel()
	const devices, shares = 5, 4
	var cs []*sv1.Client
	for i := range devices {
		c, err := sv1Device(t, addr, "", fmt.Sprintf("fo%d", i))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	mineAll := func(pool *miniPool, round int, prev byte) {
		t.Helper()
		for _, c := range cs {
			j, _, err := c.Job(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			for j.PrevHash != (sv2.U256{prev}) {
				if j, _, err = c.Job(ctx, 0); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond)
			}
			if err := c.Mine(ctx, shares); err != nil {
				t.Fatal(err)
			}
			if err := c.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if a, r := c.Accepted.Load(), c.Rejected.Load(); a != int64(round*shares) || r != 0 {
				t.Fatalf("round %d: %d accepted, %d rejected (%v), want %d and 0", round, a, r, c.RejectionCodes(), round*shares)
			}
		}
		for range devices * shares {
			if _, res := pool.result(t); res.Status != mining.ShareAccepted {
				t.Fatalf("round %d: the pool refused a share: %v %q", round, res.Status, res.Code)
			}
		}
	}
	mineAll(pool1, 1, 9)
	gens := make([]uint64, devices)
	for i, c := range cs {
		_, gens[i], _ = c.Job(ctx, 0)
	}

	pool1.stop()
	for i, c := range cs {
		var j *sv1.ClientJob
		var err error
		gen := gens[i]
		for j == nil || j.PrevHash != (sv2.U256{7}) {
			if j, gen, err = c.Job(ctx, gen); err != nil {
				t.Fatalf("device %d after the failover: %v", i, err)
			}
		}
		if !j.Clean {
			t.Errorf("device %d: the new upstream's first job came without clean_jobs", i)
		}
	}
	mineAll(pool2, 2, 7)
	if mode == ModePassthrough {
		return // the upstream's CloseChannel is a device channel's there
	}

	// The second pool closes the proxy's channel: the proxy reopens it and
	// the devices mine the next tip on it.
	up := recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool2.sent)
	id, pc := pool2.client(t)
	if err := pc.CloseChannel(up.ChannelID); err != nil {
		t.Fatal(err)
	}
	pool2.act(t, id, &sv2.CloseChannel{ChannelID: up.ChannelID, ReasonCode: "test"})
	recv[*sv2.OpenExtendedMiningChannelSuccess](t, pool2.sent)
	pool2.newTip(t, 2, 6)
	mineAll(pool2, 3, 6)
	for i, c := range cs {
		select {
		case <-c.Done():
			t.Errorf("device %d was disconnected", i)
		default:
		}
		if n := c.Reconnects.Load(); n != 0 {
			t.Errorf("device %d got %d client.reconnect", i, n)
		}
	}
	if s := p.Stats(); s.Removed != 0 || s.Devices != devices {
		t.Errorf("stats %+v, want %d devices and none removed", s, devices)
	}
}

// The only upstream goes away and comes back on its address: the Sv1
// devices stay connected, the shares they send meanwhile are answered,
// and they mine the returning pool's tip, announced with clean_jobs.
func TestSv1AttackUpstreamGoneAndBack(t *testing.T) {
	pool := startMiniPool(t, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
	pool.newTip(t, 1, 9)
	p, addr, _ := sv1ProxyStack(t, nil, pool.addr)
	ctx, cancel := context.WithTimeout(context.Background(), attackWait)
	defer cancel()
	c, err := sv1Device(t, addr, "", "gone")
	if err != nil {
		t.Fatal(err)
	}
	_, gen, err := c.Job(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pool.stop()
	waitFor(t, "the proxy to see the upstream gone", func() bool { return !p.Stats().Connected })
	start := time.Now()
	if err := c.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("shares sent with the upstream gone were not answered: %v", err)
	}
	t.Logf("during the outage: %d accepted, %d rejected %v, answered in %v", c.Accepted.Load(), c.Rejected.Load(), c.RejectionCodes(), time.Since(start))
	ln, err := net.Listen("tcp", pool.addr)
	if err != nil {
		t.Fatalf("listening on the pool's address again: %v", err)
	}
	back := startMiniPoolOn(t, ln, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
	back.newTip(t, 1, 5)
	var j *sv1.ClientJob
	for j == nil || j.PrevHash != (sv2.U256{5}) {
		if j, gen, err = c.Job(ctx, gen); err != nil {
			t.Fatalf("after the pool came back: %v", err)
		}
	}
	if !j.Clean {
		t.Error("the returning pool's first job came without clean_jobs")
	}
	a := c.Accepted.Load()
	if err := c.Mine(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Accepted.Load() - a; got != 4 {
		t.Errorf("%d of 4 shares accepted after the pool came back (codes %v)", got, c.RejectionCodes())
	}
	for range 4 {
		if _, res := back.result(t); res.Status != mining.ShareAccepted {
			t.Fatalf("the pool refused a share: %v %q", res.Status, res.Code)
		}
	}
	if c.Reconnects.Load() != 0 || p.Stats().Removed != 0 {
		t.Errorf("the device was disconnected: %d reconnects, stats %+v", c.Reconnects.Load(), p.Stats())
	}
}

// slowPool is a mini pool that takes slow per share.
type slowPool struct {
	*miniPool
	slow time.Duration
}

func (p *slowPool) SubmitSharesExtended(ctx context.Context, id service.ClientID, m *sv2.SubmitSharesExtended) ([]service.ServerEvent, error) {
	time.Sleep(p.slow)
	return p.miniPool.SubmitSharesExtended(ctx, id, m)
}

// startSlowPool is startMiniPool whose shares take slow each.
func startSlowPool(t *testing.T, slow time.Duration) *miniPool {
	t.Helper()
	alloc, err := extranonce.New(extranonce.Config{IndexSize: 4, RollableSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mining.NewServer(mining.ServerConfig{Coinbase: coinbase.Config{Outputs: []*wire.TxOut{{PkScript: payoutScript}}}, Extranonce: alloc, MinShareDifficulty: -1})
	if err != nil {
		t.Fatal(err)
	}
	p := &miniPool{srv: srv, byConn: map[*mining.Conn]service.ClientID{}, conns: map[service.ClientID]*mining.Conn{},
		sent: make(chan sv2.Message, 1<<16), results: make(chan mining.ShareResult, 1<<20),
		updates: make(chan *sv2.UpdateChannel, 1<<16), opens: make(chan *sv2.OpenExtendedMiningChannel, 1024),
		submits: make(chan *sv2.SubmitSharesExtended, 1<<20)}
	ln := listen(t)
	p.svc, p.stop = serveOn(t, ln, service.ServerConfig{Mining: &service.ProtocolConfig{}}, &slowPool{miniPool: p, slow: slow})
	p.addr = ln.Addr().String()
	// Drain what the pool records, so that a flood does not fill it.
	go func() {
		for {
			select {
			case <-p.sent:
			case <-p.results:
			case <-p.submits:
			case <-p.updates:
			case <-p.opens:
			}
		}
	}()
	return p
}

// A Sv1 device floods real shares (the easiest difficulty: every nonce
// one, each going upstream) far faster than the upstream takes them (2 ms
// a share): another Sv1 device's shares are still answered promptly, as
// the proxy answers device shares itself.
func TestSv1AttackShareFloodSlowUpstream(t *testing.T) {
	pool := startSlowPool(t, 2*time.Millisecond)
	pool.newTip(t, 1, 9)
	p, addr, _ := sv1ProxyStack(t, nil, pool.addr)
	honest, err := sv1Device(t, addr, "", "honest")
	if err != nil {
		t.Fatal(err)
	}
	base := sv1Latency(t, honest, "honest", 20)
	flooder, err := sv1Device(t, addr, "127.0.0.2", "flood")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { flooder.Mine(ctx, 0) })
	waitFor(t, "the flood", func() bool { return flooder.Accepted.Load() > 2000 })
	under := sv1Latency(t, honest, "honest", 50)
	flooded, up := flooder.Accepted.Load(), p.Stats().SharesUp
	cancel()
	wg.Wait()
	t.Logf("honest share latency alone: median %v, max %v; under the flood: median %v, p90 %v, max %v; flooder %d accepted, %d shares up, rejected %v",
		base[len(base)/2], base[len(base)-1], under[len(under)/2], under[len(under)*9/10], under[len(under)-1], flooded, up, flooder.RejectionCodes())
	if m := under[len(under)/2]; m > 100*time.Millisecond {
		t.Errorf("the honest device's median share latency under a flood is %v, want under 100 ms", m)
	}
	if m := under[len(under)-1]; m > honestBound {
		t.Errorf("the honest device's worst share latency under a flood is %v, want under %v", m, honestBound)
	}
}

// Sv1 devices from one address up to MaxChannelsPerSource: the next one's
// authorization is refused (and answered), another address and an honest
// device are served, and a closed device's slot comes back.
func TestSv1AttackManyDevicesOneSource(t *testing.T) {
	const perSource = 8
	pool := startMiniPool(t, func(c *mining.ServerConfig) { c.MinShareDifficulty = -1 })
	pool.newTip(t, 1, 9)
	_, addr, _ := sv1ProxyStack(t, func(c *Config) { c.MaxChannelsPerSource = perSource }, pool.addr)
	var held []*sv1Raw
	for i := range perSource {
		q := dialSv1Raw(t, addr, "127.0.0.2")
		if auth, _, _, _ := q.setup(t, fmt.Sprintf("src%d", i)); string(auth.Result) != "true" {
			t.Fatalf("device %d of %d from one address refused: %s", i, perSource, q.log)
		}
		held = append(held, q)
	}
	extra := dialSv1Raw(t, addr, "127.0.0.2")
	if auth, _, _, _ := extra.setup(t, "src-extra"); string(auth.Result) == "true" || len(auth.Error) == 0 {
		t.Errorf("device %d from one address with MaxChannelsPerSource %d authorized: %s", perSource+1, perSource, auth.Result)
	} else {
		t.Logf("refused: %s", auth.Error)
	}
	other, err := sv1Device(t, addr, "127.0.0.3", "other")
	if err != nil {
		t.Fatalf("another address refused beside a full one: %v", err)
	}
	lat := sv1Latency(t, other, "other", 10)
	if m := lat[len(lat)-1]; m > honestBound {
		t.Errorf("the other address's worst share latency %v", m)
	}
	// A device that mined a share holds its index till the next tip
	// (documented): close one that did not, and its slot comes back.
	held[0].nc.Close()
	waitFor(t, "the closed device's slot", func() bool {
		q := dialSv1Raw(t, addr, "127.0.0.2")
		auth, _, _, _ := q.setup(t, "src-again")
		ok := string(auth.Result) == "true"
		q.nc.Close()
		return ok
	})
}
