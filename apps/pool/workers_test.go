package pool

import (
	"slices"
	"testing"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/sv2"
)

// openExtended opens an extended channel of the easiest target and waits for
// its Success and first job.
func (m *testMiner) openExtended(t testing.TB, user string) uint32 {
	t.Helper()
	m.nextReq++
	m.send(t, &sv2.OpenExtendedMiningChannel{RequestID: m.nextReq, UserIdentity: user, NominalHashRate: 1, MaxTarget: target.Max(), MinExtranonceSize: 8})
	ok := expect[*sv2.OpenExtendedMiningChannelSuccess](t, m)
	expect[*sv2.NewExtendedMiningJob](t, m)
	expect[*sv2.SetNewPrevHash](t, m)
	return ok.ChannelID
}

// writeWithTLVBytes writes m with raw TLV bytes appended, which our encoder
// would refuse to make.
func (r *rawConn) writeWithTLVBytes(t testing.TB, m *sv2.SubmitSharesExtended, tlv []byte) {
	t.Helper()
	payload, err := m.AppendPayload(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload = append(payload, tlv...)
	h, err := sv2.HeaderFor(m, len(payload))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.conn.WriteFrame(h, payload); err != nil {
		t.Fatal(err)
	}
}

// longWorkerTLV is a user_identity TLV of 33 bytes, one over the limit.
var longWorkerTLV = append([]byte{0x02, 0x00, 0x01, 33, 0x00}, "a-worker-name-of-33-bytes-exactly"...)

// extendedShare finds a nonce of w's job for extranonce and returns its share.
func extendedShare(t testing.TB, w *mining.Work, seq uint32, extranonce []byte, tlvs []sv2.TLV) *sv2.SubmitSharesExtended {
	t.Helper()
	// Callers give the leading bytes; the channel's size decides the rest.
	extranonce = append(extranonce[:min(len(extranonce), w.ExtranonceSize):min(len(extranonce), w.ExtranonceSize)], make([]byte, max(0, w.ExtranonceSize-len(extranonce)))...)
	for nonce := uint32(0); nonce < 1<<20; nonce++ {
		h := w.Header(extranonce, nonce, w.MinNTime, w.Version)
		hash := h.Hash()
		if target.Meets(&hash, &w.Target) {
			return &sv2.SubmitSharesExtended{ChannelID: w.ChannelID, SequenceNumber: seq, JobID: w.JobID,
				Nonce: nonce, NTime: w.MinNTime, Version: w.Version, Extranonce: extranonce, TLVs: tlvs}
		}
	}
	t.Fatal("no share found")
	return nil
}

// A miner (a proxy, say) that negotiates Worker-Specific Hashrate Tracking
// names the worker of each share, and the pool accounts each worker within
// the channel's user.
func TestWorkerAccountingWithExtension(t *testing.T) {
	p := startPool(t, func(c *Config) { c.ShareBatchSize = 1 })
	m := dialMiner(t, p, 0, sv2.ExtensionWorkerHashrate)
	if info, _ := m.svc.Server(sv2.ProtocolMining); !slices.Equal(info.Extensions, []uint16{sv2.ExtensionWorkerHashrate}) {
		t.Fatalf("negotiated %#04x, want [0x0002]", info.Extensions)
	}
	ch := m.openExtended(t, "alice")
	w := m.currentWork(t, ch)
	workers := []string{"rig-1", "rig-2", "rig-2"}
	for i, worker := range workers {
		m.send(t, extendedShare(t, w, uint32(i), []byte{byte(i), 0, 0, 0, 0, 0, 0, 1}, []sv2.TLV{sv2.WorkerIdentityTLV(worker)}))
		if ack := expect[*sv2.SubmitSharesSuccess](t, m); ack.LastSequenceNumber != uint32(i) {
			t.Fatalf("ack %+v", ack)
		}
	}
	st := p.Stats()
	if got := st.Workers[WorkerKey{User: "alice", Worker: "rig-1"}].Accepted; got != 1 {
		t.Errorf("rig-1 accepted %d, want 1", got)
	}
	if got := st.Workers[WorkerKey{User: "alice", Worker: "rig-2"}].Accepted; got != 2 {
		t.Errorf("rig-2 accepted %d, want 2", got)
	}
	if got := st.Users["alice"].Accepted; got != 3 {
		t.Errorf("alice accepted %d, want 3", got)
	}
	if len(st.Workers) != 2 {
		t.Errorf("workers %v, want rig-1 and rig-2", st.Workers)
	}
}

// A miner that does not negotiate is unaffected: its shares count for its
// user and channel, and a worker TLV it sends anyway (an extension it did
// not negotiate) is ignored, as the extension says (0x0002 §1.3), even one
// over the extension's 32-byte limit.
func TestWorkerTLVWithoutNegotiationIsIgnored(t *testing.T) {
	p := startPool(t, func(c *Config) { c.ShareBatchSize = 1 })
	m := dialMiner(t, p, 0)
	if info, _ := m.svc.Server(sv2.ProtocolMining); len(info.Extensions) != 0 {
		t.Fatalf("negotiated %#04x without asking", info.Extensions)
	}
	ch := m.openExtended(t, "bob")
	w := m.currentWork(t, ch)
	m.send(t, extendedShare(t, w, 0, []byte{1, 0, 0, 0, 0, 0, 0, 0}, nil))
	expect[*sv2.SubmitSharesSuccess](t, m)

	// A raw peer that appends the TLV without negotiating: the pool drops it.
	r := dialRaw(t, p)
	r.setup(t, 0)
	r.write(t, &sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: "carol", NominalHashRate: 1, MaxTarget: target.Max(), MinExtranonceSize: 8})
	rw := mining.NewClient()
	var rch uint32
	for {
		msg := r.read(t)
		if ok, is := msg.(*sv2.OpenExtendedMiningChannelSuccess); is {
			rch = ok.ChannelID
		}
		rw.Handle(msg)
		if _, has := rw.Work(rch); rch != 0 && has {
			break
		}
	}
	work, _ := rw.Work(rch)
	r.write(t, extendedShare(t, work, 7, []byte{2, 0, 0, 0, 0, 0, 0, 0}, []sv2.TLV{sv2.WorkerIdentityTLV("rig-9"), {Extension: 0x7777, Field: 1, Value: []byte{1}}}))
	if ack, ok := r.read(t).(*sv2.SubmitSharesSuccess); !ok || ack.LastSequenceNumber != 7 {
		t.Fatalf("share with an un-negotiated TLV: %#v", ack)
	}
	r.writeWithTLVBytes(t, extendedShare(t, work, 8, []byte{3, 0, 0, 0, 0, 0, 0, 0}, nil), longWorkerTLV)
	if ack, ok := r.read(t).(*sv2.SubmitSharesSuccess); !ok || ack.LastSequenceNumber != 8 {
		t.Fatalf("share with an un-negotiated oversized TLV: %#v", ack)
	}
	st := p.Stats()
	if len(st.Workers) != 0 {
		t.Errorf("workers %v from peers that did not negotiate", st.Workers)
	}
	if st.Users["bob"].Accepted != 1 || st.Users["carol"].Accepted != 2 {
		t.Errorf("users %+v", st.Users)
	}
}

// A peer that negotiated the extension and then names a worker over the
// extension's 32-byte limit breaks it: the pool closes the connection.
func TestWorkerTLVOverLimitAfterNegotiation(t *testing.T) {
	p := startPool(t, func(c *Config) { c.ShareBatchSize = 1 })
	r := dialRaw(t, p)
	r.setup(t, 0)
	r.write(t, &sv2.RequestExtensions{RequestID: 5, RequestedExtensions: []uint16{sv2.ExtensionWorkerHashrate, 0x7777}})
	if ok, is := r.read(t).(*sv2.RequestExtensionsSuccess); !is || ok.RequestID != 5 || !slices.Equal(ok.SupportedExtensions, []uint16{sv2.ExtensionWorkerHashrate}) {
		t.Fatalf("RequestExtensions answered %#v", ok)
	}
	r.write(t, &sv2.SubmitSharesExtended{ChannelID: 1, Extranonce: []byte{1}, TLVs: nil})
	r.read(t) // invalid-channel-id: no channel yet
	r.writeWithTLVBytes(t, &sv2.SubmitSharesExtended{ChannelID: 1, Extranonce: []byte{1}}, longWorkerTLV)
	r.closedByPool(t)
}
