package mining

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

var testNow = time.Unix(1_700_000_000, 0)

const (
	regtestBits = 0x207fffff // about every other hash is a block
	hardBits    = 0x1903a30c // no test share will meet it
)

func testAllocator(t testing.TB) *extranonce.Allocator {
	t.Helper()
	a, err := extranonce.New(extranonce.Config{Prefix: []byte{0xaa}, IndexSize: 3, RollableSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testServer(t testing.TB, mod func(*ServerConfig)) *Server {
	t.Helper()
	cfg := ServerConfig{
		Coinbase: coinbase.Config{
			Outputs: []*wire.TxOut{{PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{7}, 20)...)}},
			Tag:     []byte("/test/"),
		},
		Extranonce:     testAllocator(t),
		ShareBatchSize: 3,
		PastJobs:       2,
		// The tests hash few nonces: channels may have the easiest target.
		MinShareDifficulty: -1,
		Now:                func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testTemplate returns a SegWit-shaped template with a merkle path of pathLen made-up hashes.
func testTemplate(id uint64, future bool, pathLen int) *sv2.NewTemplate {
	path := make([]sv2.U256, pathLen)
	for i := range path {
		path[i][0], path[i][1] = byte(i), byte(id)
	}
	commitment := append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}, bytes.Repeat([]byte{byte(id)}, 32)...)
	outputs := binary.LittleEndian.AppendUint64(nil, 0)
	outputs = append(outputs, byte(len(commitment)))
	outputs = append(outputs, commitment...)
	return &sv2.NewTemplate{
		TemplateID: id, FutureTemplate: future, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x03, 0x10, 0x27, 0x00}, CoinbaseTxInputSequence: 0xffffffff,
		CoinbaseTxValueRemaining: 625_000_000, CoinbaseTxOutputsCount: 1, CoinbaseTxOutputs: outputs,
		MerklePath: path,
	}
}

func prevHash(id uint64, bits uint32) *sv2.TemplateSetNewPrevHash {
	var p sv2.U256
	p[0], p[31] = byte(id), 0x01
	t, _ := target.FromCompact(bits)
	return &sv2.TemplateSetNewPrevHash{TemplateID: id, PrevHash: p, HeaderTimestamp: uint32(testNow.Unix()), NBits: bits, Target: t}
}

// env is a server connection with a client following what it is sent.
type env struct {
	t      testing.TB
	srv    *Server
	conn   *Conn
	client *Client
}

func newEnv(t testing.TB, flags uint32, mod func(*ServerConfig)) *env {
	t.Helper()
	srv := testServer(t, mod)
	conn, err := srv.NewConn(flags)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, conn: conn, client: NewClient()}
}

func (e *env) deliver(msgs []sv2.Message) {
	e.t.Helper()
	for _, m := range msgs {
		if err := e.client.Handle(m); err != nil {
			e.t.Fatalf("client.Handle(%T): %v", m, err)
		}
	}
}

func (e *env) deliverOut(out []Outbound, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range out {
		if o.Conn == e.conn {
			e.deliver(o.Messages)
		}
	}
}

func (e *env) template(id uint64, future bool, pathLen int) {
	e.t.Helper()
	e.deliverOut(e.srv.NewTemplate(testTemplate(id, future, pathLen)))
}

func (e *env) prevHash(id uint64, bits uint32) {
	e.t.Helper()
	e.deliverOut(e.srv.SetNewPrevHash(prevHash(id, bits)))
}

func (e *env) open(extended bool) uint32 {
	e.t.Helper()
	var msgs []sv2.Message
	var err error
	if extended {
		msgs, err = e.conn.OpenExtendedChannel(&sv2.OpenExtendedMiningChannel{RequestID: 1, MaxTarget: target.Max(), MinExtranonceSize: 4})
	} else {
		msgs, err = e.conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{RequestID: 1, MaxTarget: target.Max()})
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.deliver(msgs)
	switch m := msgs[0].(type) {
	case *sv2.OpenStandardMiningChannelSuccess:
		return m.ChannelID
	case *sv2.OpenExtendedMiningChannelSuccess:
		return m.ChannelID
	}
	e.t.Fatalf("first message %T", msgs[0])
	return 0
}

func (e *env) work(ch uint32) *Work {
	e.t.Helper()
	w, ok := e.client.Work(ch)
	if !ok {
		e.t.Fatalf("no work on channel %d", ch)
	}
	return w
}

// share is a share on w; find searches nonces until the header hash satisfies ok.
type share struct {
	channel, job, nonce, ntime, version uint32
	extranonce                          []byte
	extended                            bool
}

func newShare(w *Work) share {
	s := share{channel: w.ChannelID, job: w.JobID, ntime: w.MinNTime, version: w.Version, extended: w.Extended}
	if w.Extended {
		s.extranonce = make([]byte, w.ExtranonceSize)
	}
	return s
}

func (s share) find(t testing.TB, w *Work, ok func(hash sv2.U256) bool) share {
	t.Helper()
	for n := uint32(0); n < 1<<20; n++ {
		h := w.Header(s.extranonce, n, s.ntime, s.version)
		if ok(h.Hash()) {
			s.nonce = n
			return s
		}
	}
	t.Fatal("no nonce found")
	return s
}

func (e *env) submit(s share) ShareResult {
	if s.extended {
		return e.conn.SubmitExtended(&sv2.SubmitSharesExtended{ChannelID: s.channel, SequenceNumber: s.nonce, JobID: s.job,
			Nonce: s.nonce, NTime: s.ntime, Version: s.version, Extranonce: s.extranonce})
	}
	return e.conn.SubmitStandard(&sv2.SubmitSharesStandard{ChannelID: s.channel, SequenceNumber: s.nonce, JobID: s.job,
		Nonce: s.nonce, NTime: s.ntime, Version: s.version})
}

func anyHash(sv2.U256) bool { return true }

func below(t sv2.U256) func(sv2.U256) bool {
	return func(h sv2.U256) bool { return target.Meets(&h, &t) }
}

func above(t sv2.U256) func(sv2.U256) bool {
	return func(h sv2.U256) bool { return !target.Meets(&h, &t) }
}

// halfTarget is 2^255-1: half of all hashes meet it.
func halfTarget() sv2.U256 {
	t := target.Max()
	t[31] = 0x7f
	return t
}
