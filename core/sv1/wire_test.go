package sv1

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// pipe is a wire under test: the test plays the device on one end of a
// pipe and the service on the other (ReadMessage's messages come on msgs;
// the handler's go in with give).
type pipe struct {
	t    *testing.T
	w    *wire
	dev  net.Conn
	r    *bufio.Reader
	msgs chan sv2.Message
	errs chan error
}

var testNow = time.Unix(1_800_000_000, 0)

func newPipe(t *testing.T, mod func(*Config)) *pipe {
	t.Helper()
	cfg := Config{ListenAddress: "127.0.0.1:0", Now: func() time.Time { return testNow }}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{cfg: cfg, sessions: map[string]*session{}}
	return newPipeOn(t, g)
}

func newPipeOn(t *testing.T, g *gateway) *pipe {
	t.Helper()
	srv, dev := tcpPair(t)
	p := &pipe{t: t, w: g.wrap(srv).(*wire), dev: dev, r: bufio.NewReader(dev), msgs: make(chan sv2.Message, 64), errs: make(chan error, 1)}
	go func() {
		for {
			_, m, err := p.w.ReadMessage()
			if err != nil {
				p.errs <- err
				close(p.msgs)
				return
			}
			p.msgs <- m
		}
	}()
	t.Cleanup(func() { p.w.Close(); dev.Close() })
	return p
}

// tcpPair is a connected pair over loopback: unlike net.Pipe, it buffers,
// as the gateway's sockets do.
func tcpPair(t *testing.T) (srv, dev net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dev, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if srv, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	return srv, dev
}

// send writes a device line.
func (p *pipe) send(line string) {
	p.t.Helper()
	p.dev.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(p.dev, line+"\n"); err != nil {
		p.t.Fatalf("device write: %v", err)
	}
}

// line reads the next line the device gets, as JSON.
func (p *pipe) line() map[string]json.RawMessage {
	p.t.Helper()
	p.dev.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := p.r.ReadBytes('\n')
	if err != nil {
		p.t.Fatalf("device read: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatalf("device got %q: %v", b, err)
	}
	return m
}

// answer reads the next line, which must be an answer; it returns the result and error.
func (p *pipe) answer() (result, errv string) {
	p.t.Helper()
	m := p.line()
	if _, ok := m["method"]; ok {
		p.t.Fatalf("want an answer, got a notification %s", m["method"])
	}
	return string(m["result"]), string(m["error"])
}

// notification reads the next line, which must be method's notification; it returns the params.
func (p *pipe) notification(method string) []json.RawMessage {
	p.t.Helper()
	m := p.line()
	if got := string(m["method"]); got != `"`+method+`"` {
		p.t.Fatalf("want %s, got %s (line %v)", method, got, m)
	}
	var params []json.RawMessage
	json.Unmarshal(m["params"], &params)
	return params
}

// handed is the next Sv2 message the wire hands the service.
func (p *pipe) handed() sv2.Message {
	p.t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			p.t.Fatalf("the wire stopped: %v", <-p.errs)
		}
		return m
	case <-time.After(5 * time.Second):
		p.t.Fatal("no message handed to the service")
	}
	return nil
}

func handedAs[T sv2.Message](p *pipe) T {
	p.t.Helper()
	m := p.handed()
	v, ok := m.(T)
	if !ok {
		p.t.Fatalf("handed %T, want %T", m, *new(T))
	}
	return v
}

// give hands the wire the handler's messages, as the service's writer does.
func (p *pipe) give(msgs ...sv2.Message) {
	p.t.Helper()
	go func() {
		for _, m := range msgs {
			p.w.BufferMessage(m)
		}
		p.w.Flush()
	}()
}

var (
	testPrefix = []byte{0xaa, 0xbb, 0xcc, 0xdd}
	cbPrefix   = []byte{0x01, 0x00, 0x00, 0x00, 0x01}
	cbSuffix   = []byte{0xff, 0xff, 0xff, 0xff, 0x00}
	testPrev   = sv2.U256{1, 2, 3, 4, 5, 6, 7, 8}
)

func testJob(id uint32, future, rolling bool) *sv2.NewExtendedMiningJob {
	j := &sv2.NewExtendedMiningJob{ChannelID: 7, JobID: id, Version: 0x20000000, VersionRollingAllowed: rolling,
		MerklePath: []sv2.U256{{9}}, CoinbaseTxPrefix: cbPrefix, CoinbaseTxSuffix: cbSuffix}
	if !future {
		j.MinNTime = sv2.Some(uint32(testNow.Unix()) - 100)
	}
	return j
}

// start runs a device through configure, subscribe and authorize to its
// first job; it returns the notify's params and extranonce1.
func (p *pipe) start(configure string) ([]json.RawMessage, []byte) {
	p.t.Helper()
	if configure != "" {
		p.send(configure)
		if r, e := p.answer(); e != "null" || !strings.HasPrefix(r, "{") {
			p.t.Fatalf("configure: %s %s", r, e)
		}
	}
	p.send(`{"id":2,"method":"mining.subscribe","params":["test/1"]}`)
	setup := handedAs[*sv2.SetupConnection](p)
	if setup.Protocol != sv2.ProtocolMining {
		p.t.Fatalf("SetupConnection for %v", setup.Protocol)
	}
	p.give(&sv2.SetupConnectionSuccess{UsedVersion: 2})
	r, _ := p.answer()
	var sub []json.RawMessage
	json.Unmarshal([]byte(r), &sub)
	var en1 string
	json.Unmarshal(sub[1], &en1)
	b, _ := hex.DecodeString(en1)
	p.send(`{"id":3,"method":"mining.authorize","params":["alice.rig1","x"]}`)
	open := handedAs[*sv2.OpenExtendedMiningChannel](p)
	if open.UserIdentity != "alice.rig1" || open.MinExtranonceSize != Extranonce1Size+DefaultExtranonce2Size || open.NominalHashRate != DefaultInitialHashrate {
		p.t.Fatalf("OpenExtendedMiningChannel %+v", open)
	}
	tg, _ := target.FromDifficulty(2)
	p.give(&sv2.OpenExtendedMiningChannelSuccess{RequestID: open.RequestID, ChannelID: 7, Target: tg, ExtranonceSize: 16, ExtranoncePrefix: testPrefix, GroupChannelID: 1},
		testJob(5, true, true), &sv2.SetNewPrevHash{ChannelID: 1, JobID: 5, PrevHash: testPrev, MinNTime: uint32(testNow.Unix()) - 10, NBits: 0x207fffff})
	if r, e := p.answer(); r != "true" || e != "null" {
		p.t.Fatalf("authorize: %s %s", r, e)
	}
	if d := p.notification("mining.set_difficulty"); string(d[0]) != "2" {
		p.t.Fatalf("set_difficulty %s, want 2", d[0])
	}
	return p.notification("mining.notify"), b
}

func str(r json.RawMessage) string {
	var s string
	json.Unmarshal(r, &s)
	return s
}

func TestSessionMapsOntoAnExtendedChannel(t *testing.T) {
	p := newPipe(t, nil)
	n, en1 := p.start(`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":2}]}`)
	if len(en1) != Extranonce1Size {
		t.Fatalf("extranonce1 %x", en1)
	}
	// The channel's prefix is in coinb1; coinb2 starts with the 8 channel
	// bytes the device does not roll (16 - 4 - 4).
	if got, want := str(n[2]), hex.EncodeToString(append(append([]byte(nil), cbPrefix...), testPrefix...)); got != want {
		t.Errorf("coinb1 %s, want %s", got, want)
	}
	if got, want := str(n[3]), strings.Repeat("00", 8)+hex.EncodeToString(cbSuffix); got != want {
		t.Errorf("coinb2 %s, want %s", got, want)
	}
	if str(n[1]) != PrevHashHex(testPrev) || str(n[5]) != "20000000" || str(n[6]) != "207fffff" || str(n[7]) != Uint32Hex(uint32(testNow.Unix())) || string(n[8]) != "true" {
		t.Errorf("notify %s", n)
	}
	p.send(fmt.Sprintf(`{"id":4,"method":"mining.submit","params":["alice.rig1",%s,"01020304","%s","deadbeef","00006000"]}`, n[0], Uint32Hex(uint32(testNow.Unix()))))
	s := handedAs[*sv2.SubmitSharesExtended](p)
	wantExt := append(append(append([]byte(nil), en1...), 1, 2, 3, 4), make([]byte, 8)...)
	if s.ChannelID != 7 || s.JobID != 5 || s.Nonce != 0xdeadbeef || !bytes.Equal(s.Extranonce, wantExt) || s.Version != 0x20006000 {
		t.Fatalf("share %+v, extranonce want %x", s, wantExt)
	}
	p.give(&sv2.SubmitSharesSuccess{ChannelID: 7, LastSequenceNumber: s.SequenceNumber, NewSubmitsAcceptedCount: 1})
	if r, e := p.answer(); r != "true" || e != "null" {
		t.Fatalf("submit: %s %s", r, e)
	}
	// A refused share gets Sv1's code.
	for code, want := range map[string]int{mining.CodeStaleShare: 21, mining.CodeDuplicateShare: 22, mining.CodeDifficultyTooLow: 23, mining.CodeInvalidShare: 20} {
		p.send(fmt.Sprintf(`{"id":5,"method":"mining.submit","params":["alice.rig1",%s,"01020305","%s","deadbeef"]}`, n[0], Uint32Hex(uint32(testNow.Unix()))))
		s := handedAs[*sv2.SubmitSharesExtended](p)
		if s.Version != 0x20000000 {
			t.Fatalf("a share without version bits has version %08x", s.Version)
		}
		p.give(&sv2.SubmitSharesError{ChannelID: 7, SequenceNumber: s.SequenceNumber, ErrorCode: code})
		if _, e := p.answer(); !strings.HasPrefix(e, fmt.Sprintf("[%d,", want)) {
			t.Errorf("%s answered %s, want code %d", code, e, want)
		}
	}
	// A new tip: clean_jobs.
	p.give(testJob(6, true, true), &sv2.SetNewPrevHash{ChannelID: 7, JobID: 6, PrevHash: sv2.U256{2}, NBits: 0x207fffff})
	n2 := p.notification("mining.notify")
	if string(n2[8]) != "true" || str(n2[1]) != PrevHashHex(sv2.U256{2}) {
		t.Errorf("new tip notify %s", n2)
	}
	// The old job is gone.
	p.send(fmt.Sprintf(`{"id":6,"method":"mining.submit","params":["alice.rig1",%s,"01020304","%s","deadbeef"]}`, n[0], Uint32Hex(uint32(testNow.Unix()))))
	if _, e := p.answer(); !strings.HasPrefix(e, "[21,") {
		t.Errorf("a share on the last tip's job: %s, want 21", e)
	}
	// A job on the tip: clean_jobs false.
	p.give(testJob(8, false, true))
	if n3 := p.notification("mining.notify"); string(n3[8]) != "false" {
		t.Errorf("a job on the same tip: %s", n3)
	}
	// SetTarget: set_difficulty.
	tg, _ := target.FromDifficulty(64)
	p.give(&sv2.SetTarget{ChannelID: 7, MaximumTarget: tg})
	if d := p.notification("mining.set_difficulty"); string(d[0]) != "64" {
		t.Errorf("set_difficulty %s", d[0])
	}
}

// Firmware that reuses one request id matches answers by order: an answer
// the gateway knows at once never overtakes one that waits for the handler.
func TestAnswersKeepRequestOrder(t *testing.T) {
	p := newPipe(t, nil)
	n, _ := p.start("")
	p.send(fmt.Sprintf(`{"id":1,"method":"mining.submit","params":["alice.rig1",%s,"01020304","%s","00000001"]}`, n[0], Uint32Hex(uint32(testNow.Unix()))))
	s := handedAs[*sv2.SubmitSharesExtended](p)
	p.send(`{"id":1,"method":"mining.suggest_difficulty","params":[8]}`)
	handedAs[*sv2.UpdateChannel](p)
	p.send(`{"id":1,"method":"mining.frobnicate","params":[]}`)
	p.give(&sv2.SubmitSharesError{ChannelID: 7, SequenceNumber: s.SequenceNumber, ErrorCode: mining.CodeDuplicateShare})
	if _, e := p.answer(); !strings.HasPrefix(e, "[22,") {
		t.Fatalf("first answer %s, want the submit's (22)", e)
	}
	if r, _ := p.answer(); r != "true" {
		t.Fatalf("second answer %s, want suggest_difficulty's", r)
	}
	if _, e := p.answer(); !strings.HasPrefix(e, "[20,") || !strings.Contains(e, "unknown method") {
		t.Fatalf("third answer %s, want the unknown method's", e)
	}
}

func TestRequestsOutOfTurn(t *testing.T) {
	p := newPipe(t, nil)
	p.send(`{"id":1,"method":"mining.submit","params":["a","1","00000000","00000000","00000000"]}`)
	if _, e := p.answer(); !strings.HasPrefix(e, "[25,") {
		t.Errorf("submit before subscribe: %s, want 25", e)
	}
	p.send(`{"id":2,"method":"mining.subscribe","params":[]}`)
	handedAs[*sv2.SetupConnection](p)
	p.answer()
	p.send(`{"id":3,"method":"mining.submit","params":["a","1","00000000","00000000","00000000"]}`)
	if _, e := p.answer(); !strings.HasPrefix(e, "[24,") {
		t.Errorf("submit before authorize: %s, want 24", e)
	}
	p.send(`{"id":4,"method":"mining.authorize","params":["",""]}`)
	if _, e := p.answer(); !strings.HasPrefix(e, "[24,") {
		t.Errorf("empty user: %s, want 24", e)
	}
}

func TestSecondUserRefused(t *testing.T) {
	p := newPipe(t, nil)
	n, _ := p.start("")
	p.send(`{"id":9,"method":"mining.authorize","params":["mallory","x"]}`)
	if _, e := p.answer(); !strings.HasPrefix(e, "[24,") {
		t.Errorf("a second user: %s, want 24", e)
	}
	p.send(`{"id":10,"method":"mining.authorize","params":["alice.rig1","x"]}`)
	if r, _ := p.answer(); r != "true" {
		t.Errorf("the same user again: %s", r)
	}
	p.send(fmt.Sprintf(`{"id":11,"method":"mining.submit","params":["mallory",%s,"01020304","%s","00000001"]}`, n[0], Uint32Hex(uint32(testNow.Unix()))))
	if _, e := p.answer(); !strings.HasPrefix(e, "[24,") {
		t.Errorf("a share of another worker: %s, want 24", e)
	}
	p.send(fmt.Sprintf(`{"id":12,"method":"mining.submit","params":["alice.rig1",%s,"010203","%s","00000001"]}`, n[0], Uint32Hex(uint32(testNow.Unix()))))
	if _, e := p.answer(); !strings.HasPrefix(e, "[20,") {
		t.Errorf("a short extranonce2: %s, want 20", e)
	}
}

// A job sent again after KeepAlive carries a later ntime: the header is new.
func TestKeepAliveSendsAFreshNTime(t *testing.T) {
	p := newPipe(t, func(c *Config) { c.KeepAlive = 20 * time.Millisecond })
	n, _ := p.start("")
	prev := str(n[7])
	for range 3 {
		k := p.notification("mining.notify")
		if str(k[0]) == str(n[0]) || str(k[2]) != str(n[2]) || string(k[8]) != "false" || str(k[7]) <= prev {
			t.Fatalf("keep-alive %s after %s: want a new id, the same coinbase, not clean, a later ntime", k, n)
		}
		prev = str(k[7])
	}
}

// The version mask follows the jobs: a job that forbids rolling is preceded
// by a zero mask, and the mask comes back with the next that allows it.
func TestVersionMaskFollowsJobs(t *testing.T) {
	p := newPipe(t, nil)
	p.start(`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000"}]}`)
	p.give(testJob(9, false, false))
	if m := p.notification("mining.set_version_mask"); str(m[0]) != "00000000" {
		t.Fatalf("mask %s", m)
	}
	p.notification("mining.notify")
	p.give(testJob(10, false, true))
	if m := p.notification("mining.set_version_mask"); str(m[0]) != "1fffe000" {
		t.Fatalf("mask %s", m)
	}
	p.notification("mining.notify")
}

// A device that takes mining.set_extranonce gets the channel's prefix in
// its extranonce1, and coinb1 without it.
func TestExtranonceSubscribe(t *testing.T) {
	p := newPipe(t, nil)
	p.send(`{"id":1,"method":"mining.extranonce.subscribe","params":[]}`)
	handedAs[*sv2.SetupConnection](p)
	p.give(&sv2.SetupConnectionSuccess{UsedVersion: 2})
	if r, _ := p.answer(); r != "true" {
		t.Fatal(r)
	}
	p.send(`{"id":2,"method":"mining.subscribe","params":[]}`)
	r, _ := p.answer()
	var sub []json.RawMessage
	json.Unmarshal([]byte(r), &sub)
	en1 := str(sub[1])
	p.send(`{"id":3,"method":"mining.authorize","params":["alice.rig1","x"]}`)
	open := handedAs[*sv2.OpenExtendedMiningChannel](p)
	p.give(&sv2.OpenExtendedMiningChannelSuccess{RequestID: open.RequestID, ChannelID: 7, Target: target.Max(), ExtranonceSize: 16, ExtranoncePrefix: testPrefix},
		testJob(5, true, true), &sv2.SetNewPrevHash{ChannelID: 7, JobID: 5, PrevHash: testPrev, NBits: 0x207fffff})
	p.answer()
	p.notification("mining.set_difficulty")
	se := p.notification("mining.set_extranonce")
	if str(se[0]) != hex.EncodeToString(testPrefix)+en1 || string(se[1]) != "4" {
		t.Fatalf("set_extranonce %s, want prefix+%s, 4", se, en1)
	}
	if n := p.notification("mining.notify"); str(n[2]) != hex.EncodeToString(cbPrefix) {
		t.Fatalf("coinb1 %s, want the job's prefix alone", n[2])
	}
}

// The server closing the channel (a pool stopping, say) sends
// client.reconnect, then the connection ends.
func TestCloseChannelSendsReconnect(t *testing.T) {
	p := newPipe(t, nil)
	p.start("")
	p.give(&sv2.CloseChannel{ChannelID: 7, ReasonCode: "pool-shutdown"})
	p.notification("client.reconnect")
	p.dev.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.r.ReadByte(); err == nil {
		t.Fatal("the connection stays open after client.reconnect")
	}
}

// A device that resumes its session gets its extranonce1 back, and its
// channel opens at the hashrate it had.
func TestSessionResumption(t *testing.T) {
	cfg := Config{ListenAddress: "x", Now: func() time.Time { return testNow }}
	cfg.setDefaults()
	g := &gateway{cfg: cfg, sessions: map[string]*session{}}
	p := newPipeOn(t, g)
	_, en1 := p.start("")
	var sid string
	for id := range g.sessionsCopy() {
		sid = id
	}
	if sid != "" {
		t.Fatal("a session remembered before it ended")
	}
	p.w.Close()
	sess := g.sessionsCopy()
	if len(sess) != 1 {
		t.Fatalf("%d sessions remembered, want 1", len(sess))
	}
	for id := range sess {
		sid = id
	}
	q := newPipeOn(t, g)
	q.send(`{"id":1,"method":"mining.subscribe","params":["test/1",` + fmt.Sprintf("%q", sid) + `]}`)
	handedAs[*sv2.SetupConnection](q)
	q.give(&sv2.SetupConnectionSuccess{UsedVersion: 2})
	r, _ := q.answer()
	if !strings.Contains(r, hex.EncodeToString(en1)) || !strings.Contains(r, sid) {
		t.Fatalf("resumed subscribe %s, want session %s and extranonce1 %x", r, sid, en1)
	}
	q.send(`{"id":2,"method":"mining.authorize","params":["alice.rig1","x"]}`)
	tg, _ := target.FromDifficulty(2)
	want := float32(target.Hashrate(tg, cfg.SharesPerMinute))
	if open := handedAs[*sv2.OpenExtendedMiningChannel](q); open.NominalHashRate != want {
		t.Fatalf("resumed channel at %v H/s, want %v", open.NominalHashRate, want)
	}
}

func (g *gateway) sessionsCopy() map[string]*session {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := map[string]*session{}
	for k, v := range g.sessions {
		m[k] = v
	}
	return m
}

func TestBadInputCloses(t *testing.T) {
	for name, c := range map[string]struct {
		lines []string
		want  string
	}{
		"not JSON":        {[]string{"hello"}, "not a JSON-RPC"},
		"no method":       {[]string{`{"id":1}`}, "no method"},
		"a line too long": {[]string{`{"id":1,"method":"` + strings.Repeat("x", DefaultMaxLineSize) + `"}`}, "longer than"},
		"unknown methods": {slicesRepeat(`{"id":1,"method":"x","params":[]}`, DefaultMaxBad+1), "invalid requests"},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPipe(t, nil)
			go io.Copy(io.Discard, p.dev) // the answers
			go func() {
				for _, l := range c.lines {
					if _, err := io.WriteString(p.dev, l+"\n"); err != nil {
						return
					}
				}
			}()
			for range p.msgs {
			}
			if err := <-p.errs; err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// A session the service closes gracefully (stopping) gets client.reconnect
// once what was queued is written, channel or not.
func TestGracefulCloseSendsReconnect(t *testing.T) {
	p := newPipe(t, nil)
	p.send(`{"id":1,"method":"mining.subscribe","params":[]}`)
	handedAs[*sv2.SetupConnection](p)
	p.answer()
	p.w.CloseRead()
	p.w.Close()
	p.notification("client.reconnect")
}

// mining.suggest_target is suggest_difficulty by target.
func TestSuggestTarget(t *testing.T) {
	p := newPipe(t, nil)
	p.send(`{"id":1,"method":"mining.suggest_target","params":["00000000ffff0000000000000000000000000000000000000000000000000000"]}`)
	handedAs[*sv2.SetupConnection](p)
	if r, _ := p.answer(); r != "true" {
		t.Fatalf("suggest_target: %s", r)
	}
	tg, _ := target.FromDifficulty(1)
	if want := float32(target.Hashrate(tg, p.w.cfg.SharesPerMinute)); p.w.hashrate != want {
		t.Fatalf("hashrate %v from the difficulty-1 target, want %v", p.w.hashrate, want)
	}
}

// A firmware that sends an unknown method now and then between requests
// that reach the server is never closed for it; one that pays them off
// with requests answered locally is.
func TestInvalidRequestsPaidOffByWork(t *testing.T) {
	p := newPipe(t, nil)
	p.start("")
	for range 3 * DefaultMaxBad {
		p.send(`{"id":2,"method":"mining.ping","params":[]}`)
		p.answer()
		p.send(`{"id":3,"method":"mining.suggest_difficulty","params":[4]}`)
		handedAs[*sv2.UpdateChannel](p)
		if r, _ := p.answer(); r != "true" {
			t.Fatalf("suggest_difficulty: %s", r)
		}
	}
	go io.Copy(io.Discard, p.dev)
	for range 2 * DefaultMaxBad {
		p.send(`{"id":2,"method":"mining.ping","params":[]}`)
		p.send(`{"id":3,"method":"mining.extranonce.subscribe","params":[]}`)
	}
	for range p.msgs {
	}
	if err := <-p.errs; err == nil || !strings.Contains(err.Error(), "invalid requests") {
		t.Fatalf("error %v, want the connection closed for its invalid requests", err)
	}
}

// mining.extranonce.subscribe after the channel opened changes nothing of
// the jobs: the prefix stays in coinb1, as the device was told.
func TestLateExtranonceSubscribe(t *testing.T) {
	p := newPipe(t, nil)
	p.start("")
	p.send(`{"id":9,"method":"mining.extranonce.subscribe","params":[]}`)
	if r, _ := p.answer(); r != "true" {
		t.Fatal(r)
	}
	p.give(testJob(11, false, true))
	if n := p.notification("mining.notify"); str(n[2]) != hex.EncodeToString(append(append([]byte(nil), cbPrefix...), testPrefix...)) {
		t.Fatalf("coinb1 %s after a late extranonce.subscribe, want the prefix still in it", n[2])
	}
}

// The last maxJobs jobs notified on a tip stay valid, however many came.
func TestManyJobsOnOneTip(t *testing.T) {
	p := newPipe(t, nil)
	p.start("")
	var ids []string
	for i := range maxJobs + 8 {
		p.give(testJob(uint32(20+i), false, true))
		ids = append(ids, str(p.notification("mining.notify")[0]))
	}
	for _, id := range ids[len(ids)-maxJobs:] {
		p.send(fmt.Sprintf(`{"id":1,"method":"mining.submit","params":["alice.rig1",%q,"01020304","%s","00000001"]}`, id, Uint32Hex(uint32(testNow.Unix()))))
		s := handedAs[*sv2.SubmitSharesExtended](p)
		p.give(&sv2.SubmitSharesSuccess{ChannelID: 7, LastSequenceNumber: s.SequenceNumber, NewSubmitsAcceptedCount: 1})
		if r, e := p.answer(); r != "true" {
			t.Fatalf("a share on job %s, one of the last %d: %s %s", id, maxJobs, r, e)
		}
	}
	p.send(fmt.Sprintf(`{"id":1,"method":"mining.submit","params":["alice.rig1",%q,"01020304","%s","00000001"]}`, ids[0], Uint32Hex(uint32(testNow.Unix()))))
	if _, e := p.answer(); !strings.HasPrefix(e, "[21,") {
		t.Fatalf("a share on the oldest job: %s, want 21", e)
	}
}

// The version bits are taken under the mask in effect when the job was
// sent (BIP 310): none for a job that forbids rolling.
func TestVersionBitsUnderTheJobsMask(t *testing.T) {
	p := newPipe(t, nil)
	n, _ := p.start(`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000"}]}`)
	p.give(testJob(12, false, false))
	p.notification("mining.set_version_mask")
	fixed := p.notification("mining.notify")
	for _, c := range []struct {
		job  json.RawMessage
		want uint32
	}{{fixed[0], 0x20000000}, {n[0], 0x20006000}} {
		p.send(fmt.Sprintf(`{"id":1,"method":"mining.submit","params":["alice.rig1",%s,"01020304","%s","00000001","00006000"]}`, c.job, Uint32Hex(uint32(testNow.Unix()))))
		if s := handedAs[*sv2.SubmitSharesExtended](p); s.Version != c.want {
			t.Errorf("job %s: version %08x, want %08x", c.job, s.Version, c.want)
		}
	}
}

// The coinbase the device hashes (coinb1 + extranonce1 + extranonce2 +
// coinb2) is the one the handler checks (the job's prefix, the channel's
// extranonce prefix, the share's extranonce, the job's suffix), with the
// prefix in coinb1 or in extranonce1, before and after the prefix changes.
func TestDeviceAndHandlerHashOneCoinbase(t *testing.T) {
	for _, sub := range []bool{false, true} {
		t.Run(fmt.Sprintf("set_extranonce=%v", sub), func(t *testing.T) {
			p := newPipe(t, nil)
			if sub {
				p.send(`{"id":1,"method":"mining.extranonce.subscribe","params":[]}`)
				handedAs[*sv2.SetupConnection](p)
				p.answer()
			}
			p.send(`{"id":2,"method":"mining.subscribe","params":[]}`)
			if !sub {
				handedAs[*sv2.SetupConnection](p)
			}
			r, _ := p.answer()
			var res []json.RawMessage
			json.Unmarshal([]byte(r), &res)
			en1, _ := hex.DecodeString(str(res[1]))
			p.send(`{"id":3,"method":"mining.authorize","params":["alice","x"]}`)
			open := handedAs[*sv2.OpenExtendedMiningChannel](p)
			prefix := testPrefix
			p.give(&sv2.OpenExtendedMiningChannelSuccess{RequestID: open.RequestID, ChannelID: 7, Target: target.Max(), ExtranonceSize: 16, ExtranoncePrefix: prefix},
				testJob(5, true, true), &sv2.SetNewPrevHash{ChannelID: 7, JobID: 5, PrevHash: testPrev, NBits: 0x207fffff})
			p.answer()
			p.notification("mining.set_difficulty")
			jobs := map[uint32][]byte{5: prefix}
			check := func(n []json.RawMessage) {
				t.Helper()
				en2 := []byte{9, 8, 7, 6}
				coinb1, _ := hex.DecodeString(str(n[2]))
				coinb2, _ := hex.DecodeString(str(n[3]))
				device := bytes.Join([][]byte{coinb1, en1, en2, coinb2}, nil)
				p.send(fmt.Sprintf(`{"id":4,"method":"mining.submit","params":["alice",%s,"%x","%s","00000001"]}`, n[0], en2, Uint32Hex(uint32(testNow.Unix()))))
				s := handedAs[*sv2.SubmitSharesExtended](p)
				handler := bytes.Join([][]byte{cbPrefix, jobs[s.JobID], s.Extranonce, cbSuffix}, nil)
				if !bytes.Equal(device, handler) {
					t.Fatalf("the device hashes %x, the handler checks %x", device, handler)
				}
				p.give(&sv2.SubmitSharesSuccess{ChannelID: 7, LastSequenceNumber: s.SequenceNumber, NewSubmitsAcceptedCount: 1})
				p.answer()
			}
			if sub {
				se := p.notification("mining.set_extranonce")
				en1, _ = hex.DecodeString(str(se[0]))
			}
			check(p.notification("mining.notify"))
			// A new prefix: the jobs after it carry it.
			prefix = []byte{0x11, 0x22, 0x33, 0x44}
			jobs[6] = prefix
			p.give(&sv2.SetExtranoncePrefix{ChannelID: 7, ExtranoncePrefix: prefix}, testJob(6, false, true))
			if sub {
				se := p.notification("mining.set_extranonce")
				en1, _ = hex.DecodeString(str(se[0]))
			}
			check(p.notification("mining.notify"))
		})
	}
}

// A device that suggests the easiest difficulty gets the easiest target
// exactly: nominal hashrate 0, not one that rounds to a hair harder.
func TestSuggestTheEasiest(t *testing.T) {
	p := newPipe(t, nil)
	p.send(`{"id":1,"method":"mining.subscribe","params":[]}`)
	handedAs[*sv2.SetupConnection](p)
	p.answer()
	p.send(`{"id":2,"method":"mining.suggest_difficulty","params":[1e-12]}`)
	p.answer()
	p.send(`{"id":3,"method":"mining.authorize","params":["alice","x"]}`)
	open := handedAs[*sv2.OpenExtendedMiningChannel](p)
	if open.NominalHashRate != 0 {
		t.Fatalf("nominal hashrate %v, want 0", open.NominalHashRate)
	}
	if got, err := target.FromHashrate(0, 6); err != nil || got != target.Max() {
		t.Fatalf("hashrate 0 gives target %x (%v), want the easiest", got, err)
	}
}
