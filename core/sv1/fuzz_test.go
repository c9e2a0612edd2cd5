package sv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// Requests as firmware sends them, and some it should not.
var requestSeeds = []string{
	`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}`,
	`{"id":2,"method":"mining.configure","params":[["version-rolling","minimum-difficulty","subscribe-extranonce"],{"version-rolling.mask":"ffffffff","minimum-difficulty.value":512}]}`,
	`{"id":1,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.4.0"]}`,
	`{"id":1,"method":"mining.subscribe","params":["cgminer/4.11.1","0123456789abcdef"]}`,
	`{"id":2,"method":"mining.subscribe","params":[]}`,
	`{"id":3,"method":"mining.authorize","params":["bc1qexample.worker1","x"]}`,
	`{"id":4,"method":"mining.extranonce.subscribe","params":[]}`,
	`{"id":5,"method":"mining.suggest_difficulty","params":[1024]}`,
	`{"id":6,"method":"mining.submit","params":["bc1qexample.worker1","1","00000001","679ac169","ff05fb02"]}`,
	`{"id":7,"method":"mining.submit","params":["bc1qexample.worker1","1a","0000abcd","679ac16a","00000000","1fffe000"]}`,
	`{"params":["w","1","00000001","679ac169","ff05fb02"],"id":8,"method":"mining.submit"}`,
	`{"method":"mining.subscribe"}`,
	`{"id":null,"method":"mining.subscribe","params":null}`,
	`{"id":"abc","method":"mining.authorize","params":["w"]}`,
	`{"id":-1.5e300,"method":"x","params":[]}`,
	`{"id":true,"method":"mining.subscribe","params":[]}`,
	`{"id":{"a":1},"method":"mining.subscribe","params":[]}`,
	`{"id":[1],"method":"mining.subscribe","params":[]}`,
	`{"id":"` + strings.Repeat("9", 200) + `","method":"mining.subscribe","params":[]}`,
	`{"id":` + strings.Repeat("9", 100) + `,"method":"mining.subscribe","params":[]}`,
	`{"id":1,"method":"mining.submit","params":[` + strings.Repeat(`"x",`, 1000) + `"x"]}`,
	`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("A", 5000) + `"]}`,
	`{"id":1,"method":"mining.subscribe","params":{"agent":"x"}}`,
	`{"id":1,"method":"mining.subscribe","params":"x"}`,
	`{"id":1,"method":"mining.subscribe","params":[1,2,3,4,5,6,7,8,9]}`,
	`{"id":1,"method":"mining.subscribe","params":[[[[[[[]]]]]]]}`,
	`{"id":1,"method":null}`,
	`{"id":1,"method":7}`,
	`{"id":1}`,
	`null`, `[]`, `[{"id":1,"method":"mining.subscribe"}]`, `"mining.subscribe"`, `42`, ``, ` `,
	`GET / HTTP/1.1`, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "\x00\x00\x00\x00", "{\"id\":1,\"method\":\"\xff\xfe\"}",
	`{"id":1,"method":"mining.subscribe","params":[]`, `{"id":1,"method":"a","method":"b","params":[],"params":[1]}`,
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRequest(line)
		if err != nil {
			if errors.Is(err, ErrNotJSONRPC) {
				if r != nil {
					t.Fatalf("%q: a request %+v with %v", line, r, err)
				}
				return
			}
			if _, ok := errors.AsType[*RequestError](err); !ok {
				t.Fatalf("%q: error %v (%T) is neither ErrNotJSONRPC nor a *RequestError", line, err, err)
			}
			// An answerable error: the id is echoed in the answer.
			if r == nil {
				t.Fatalf("%q: %v without the request to answer", line, err)
			}
			checkID(t, line, r.ID)
			return
		}
		if r == nil {
			t.Fatalf("%q: no request and no error", line)
		}
		checkID(t, line, r.ID)
		if len(r.Params) > MaxParams {
			t.Fatalf("%q: %d params, at most %d", line, len(r.Params), MaxParams)
		}
		for i, p := range r.Params {
			if !json.Valid(p) {
				t.Fatalf("%q: param %d %q is not JSON", line, i, p)
			}
		}
	})
}

// checkID checks that id can go into an answer as it is.
func checkID(t *testing.T, line []byte, id json.RawMessage) {
	t.Helper()
	if len(id) == 0 || len(id) > MaxIDSize {
		t.Fatalf("%q: id of %d bytes, want 1 to %d", line, len(id), MaxIDSize)
	}
	if !json.Valid(id) {
		t.Fatalf("%q: id %q is not JSON", line, id)
	}
	if c := id[0]; c != '"' && c != '-' && (c < '0' || c > '9') && string(id) != "null" {
		t.Fatalf("%q: id %q is not a number, a string or null", line, id)
	}
}

// fuzzConn is a device: its lines are the fuzz input; what it is sent is
// dropped.
type fuzzConn struct {
	r      io.Reader
	closed bool
}

func (c *fuzzConn) Read(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(b)
}

func (c *fuzzConn) Write(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return io.Discard.Write(b)
}

func (c *fuzzConn) Close() error        { c.closed = true; return nil }
func (c *fuzzConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3333} }
func (c *fuzzConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 50000}
}
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzSession is a session as a device runs it: the Sv1 job ids are the
// gateway's, "1" and "2" once the channel is open.
var fuzzSession = []string{
	`{"id":1,"method":"mining.configure","params":[["version-rolling","minimum-difficulty"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2,"minimum-difficulty.value":256}]}`,
	`{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.4.0"]}`,
	`{"id":3,"method":"mining.authorize","params":["worker.1","x"]}`,
	`{"id":4,"method":"mining.suggest_difficulty","params":[512]}`,
	`{"id":5,"method":"mining.submit","params":["worker.1","1","00000001","679ac169","ff05fb02","00002000"]}`,
	`{"id":6,"method":"mining.submit","params":["worker.1","1","00000002","679ac16a","00000000"]}`,
	`{"id":7,"method":"mining.submit","params":["worker.1","2","00000003","679ac16b","12345678","1fffe000"]}`,
	`{"id":8,"method":"mining.submit","params":["worker.1","9","00000004","679ac16b","12345678"]}`,
	`{"id":9,"method":"mining.extranonce.subscribe","params":[]}`,
	`{"id":10,"method":"mining.submit","params":["worker.1","3","00000005","679ac16c","abcdef01"]}`,
}

// The handler's answers in fuzzWire, by the bits of its flags.
const (
	fuzzExtraExtranonce = 0x03 // extranonce bytes beyond those the device needs
	fuzzShortExtranonce = 0x04 // fewer extranonce bytes than the device needs
	fuzzNoVersionRoll   = 0x08 // jobs without version rolling
	fuzzNoShareAnswers  = 0x10 // shares are never answered
	fuzzNewPrefix       = 0x20 // SetExtranoncePrefix now and then
	fuzzRefuse          = 0xc0 // 0x40: the channel is refused, 0xc0: the connection
	fuzzAckEach         = 0x80 // (without 0x40) every share acknowledged alone
)

func FuzzWire(f *testing.F) {
	session := []byte(strings.Join(fuzzSession, "\n") + "\n")
	for _, flags := range []uint8{0, 1, 2, fuzzShortExtranonce, fuzzNoVersionRoll | fuzzNewPrefix, fuzzNoShareAnswers, 0x40, 0x80, 0xc0, 0xff} {
		f.Add(flags, session)
	}
	shares := []byte(strings.Join(fuzzSession[1:3], "\r\n") + "\r\n" + strings.Repeat(fuzzSession[5]+"\n", 12))
	f.Add(uint8(0), shares)
	f.Add(uint8(fuzzNoShareAnswers), shares)
	f.Add(uint8(fuzzNewPrefix), []byte(strings.Join([]string{fuzzSession[2], fuzzSession[8], fuzzSession[1], fuzzSession[0], fuzzSession[4]}, "\n")+"\n"))
	f.Add(uint8(0), []byte(`{"id":1,"method":"mining.authorize","params":["a"]}`+"\n"+`{"id":2,"method":"mining.authorize","params":["b"]}`+"\n"+`{"id":3,"method":"mining.authorize","params":["a"]}`+"\n"))
	f.Add(uint8(0), []byte(strings.Repeat(`{"id":1,"method":"nope","params":[]}`+"\n", 10)))
	f.Add(uint8(0), []byte(strings.Repeat("{", 600)+"\n"))
	f.Add(uint8(0), []byte("\n\n \n"+fuzzSession[1]))
	f.Add(uint8(0), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add(uint8(0), []byte("\x00\x01\x02\xff\xfe\n{}\n"))
	f.Add(uint8(0), []byte(""))
	f.Fuzz(func(t *testing.T, flags uint8, input []byte) {
		fuzzWire(t, flags, input)
	})
}

// TestFuzzWireSession checks that the fuzz harness's session gets its
// shares through, so that FuzzWire explores past the handshake.
func TestFuzzWireSession(t *testing.T) {
	session := strings.Join(fuzzSession, "\n") + "\n"
	if n := fuzzWire(t, 0, []byte(session)); n < 4 {
		t.Errorf("%d shares reached the handler, want 4", n)
	}
}

// fuzzWire runs one device session through a wire, answering its messages
// as a server's handler does; flags vary the answers. It returns the
// shares the handler got.
func fuzzWire(t *testing.T, flags uint8, input []byte) int {
	now := time.Unix(0x679ac169, 0)
	// Small limits, for the fuzzer to reach them.
	g := &gateway{cfg: Config{
		ListenAddress: "127.0.0.1:0", MaxLineSize: 512, MaxPending: 8, MaxBad: 8, WriteTimeout: 20 * time.Millisecond, // a session owed MaxPending answers waits this long
		Now: func() time.Time { return now },
	}, sessions: map[string]*session{}}
	if err := g.cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	cfg := &g.cfg
	nc := &fuzzConn{r: bytes.NewReader(input)}
	w := g.wrap(nc).(*wire)
	defer w.Close()

	check := func(when string) {
		t.Helper()
		w.mu.Lock()
		n := len(w.replies)
		w.mu.Unlock()
		if n > cfg.MaxPending {
			t.Fatalf("%s: %d answers owed, at most %d", when, n, cfg.MaxPending)
		}
		if len(w.in) >= 8 {
			t.Fatalf("%s: %d messages queued for the service", when, len(w.in))
		}
	}

	// The handler's state.
	var (
		channel, group uint32 = 7, 9
		jobID          uint32
		seq            uint32 // the last share answered
		shares         int
	)
	diff := func(d float64) sv2.U256 {
		t, err := target.FromDifficulty(d)
		if err != nil {
			panic(err)
		}
		return t
	}
	newJob := func(ch uint32, future bool) *sv2.NewExtendedMiningJob {
		jobID++
		m := &sv2.NewExtendedMiningJob{
			ChannelID: ch, JobID: jobID, Version: 0x20000000, VersionRollingAllowed: flags&fuzzNoVersionRoll == 0,
			MerklePath:       []sv2.U256{{1}, {2, 3}},
			CoinbaseTxPrefix: []byte{1, 0, 0, 0, 1, 0xaa, 0xbb},
			CoinbaseTxSuffix: []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0},
		}
		if !future {
			m.MinNTime = sv2.Some(uint32(now.Unix()) - uint32(jobID%3))
		}
		return m
	}
	prevHash := func(job uint32) *sv2.SetNewPrevHash {
		return &sv2.SetNewPrevHash{ChannelID: channel, JobID: job, PrevHash: sv2.U256{0xe3, 0xc9, byte(job)}, MinNTime: uint32(now.Unix()), NBits: 0x17029a8a}
	}
	send := func(ms ...sv2.Message) {
		t.Helper()
		for _, m := range ms {
			if err := w.BufferMessage(m); err != nil {
				return
			}
			check("BufferMessage")
		}
		w.Flush()
		check("Flush")
	}

	for {
		_, m, err := w.ReadMessage()
		if err != nil {
			return shares
		}
		check("ReadMessage")
		switch m := m.(type) {
		case *sv2.SetupConnection:
			if m.Protocol != sv2.ProtocolMining || len(m.Firmware) > sv2.MaxStr0_255 {
				t.Fatalf("SetupConnection %+v", m)
			}
			if flags&fuzzRefuse == 0xc0 {
				send(&sv2.SetupConnectionError{ErrorCode: "unsupported-protocol"})
			} else {
				send(&sv2.SetupConnectionSuccess{UsedVersion: 2})
			}
		case *sv2.OpenExtendedMiningChannel:
			if m.UserIdentity == "" || len(m.UserIdentity) > sv2.MaxStr0_255 {
				t.Fatalf("OpenExtendedMiningChannel for %q", m.UserIdentity)
			}
			if flags&fuzzRefuse == 0x40 {
				send(&sv2.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: "unknown-user"})
				continue
			}
			size := m.MinExtranonceSize + uint16(flags&fuzzExtraExtranonce)
			if flags&fuzzShortExtranonce != 0 {
				size = m.MinExtranonceSize - 1
			}
			first := newJob(channel, true)
			send(
				&sv2.OpenExtendedMiningChannelSuccess{
					RequestID: m.RequestID, ChannelID: channel, Target: diff(1024),
					ExtranonceSize: size, ExtranoncePrefix: []byte{0xa0, 0xa1, 0xa2}, GroupChannelID: group,
				},
				first,
				prevHash(first.JobID),
				&sv2.SetTarget{ChannelID: channel, MaximumTarget: diff(2048)},
				newJob(group, false),
			)
		case *sv2.UpdateChannel:
			if m.ChannelID != channel {
				t.Fatalf("UpdateChannel of channel %d, opened %d", m.ChannelID, channel)
			}
			send(&sv2.SetTarget{ChannelID: channel, MaximumTarget: m.MaximumTarget})
		case *sv2.SubmitSharesExtended:
			if m.ChannelID != channel || m.SequenceNumber <= seq {
				t.Fatalf("share %+v after sequence number %d", m, seq)
			}
			if m.JobID == 0 || m.JobID > jobID {
				t.Fatalf("share for job %d, sent jobs 1 to %d", m.JobID, jobID)
			}
			shares++
			switch {
			case flags&fuzzNoShareAnswers != 0:
			case shares%5 == 0:
				send(&sv2.SubmitSharesError{ChannelID: channel, SequenceNumber: m.SequenceNumber, ErrorCode: mining.CodeDifficultyTooLow})
				seq = m.SequenceNumber
			case shares%2 == 0 || flags&fuzzAckEach != 0:
				send(&sv2.SubmitSharesSuccess{ChannelID: channel, LastSequenceNumber: m.SequenceNumber, NewSubmitsAcceptedCount: 2, NewSharesSum: 2048})
				seq = m.SequenceNumber
			default: // acknowledged with the next
			}
			switch {
			case shares%7 == 0:
				j := newJob(channel, true)
				send(j, prevHash(j.JobID))
			case shares%3 == 0:
				send(newJob(channel, false))
			case shares%4 == 0 && flags&fuzzNewPrefix != 0:
				send(&sv2.SetExtranoncePrefix{ChannelID: channel, ExtranoncePrefix: []byte{0xb0, byte(shares)}})
			}
		default:
			t.Fatalf("unexpected %T", m)
		}
	}
}
