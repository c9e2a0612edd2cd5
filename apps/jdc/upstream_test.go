package jdc

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// testUpstream is the upstream side alone, driven by hand: the services
// are not running, so the events it returns are what the test checks.
func testUpstream(t *testing.T, mode Mode) *upstream {
	t.Helper()
	j := &JDC{cfg: Config{Mode: mode, User: "miner", TokensAhead: 2, MaxPendingShares: 3, SharesPerMinute: 6, Attempts: 3,
		Upstreams: []Upstream{{Pool: Server{Address: "pool:1"}, JDS: Server{Address: "jds:1"}}}}, log: slog.New(slog.DiscardHandler), readyCh: make(chan struct{})}
	var err error
	if j.blocks, err = newTestQueue(); err != nil {
		t.Fatal(err)
	}
	j.up = newUpstream(j)
	return j.up
}

// sent returns the messages among evs sent to protocol's server.
func sent[T sv2.Message](evs []service.ClientEvent, p sv2.Protocol) []T {
	var out []T
	for _, e := range evs {
		if s, ok := e.(service.SendToServer); ok && s.Protocol == p {
			if m, ok := s.Message.(T); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

var payout = append([]byte{0x00, 0x14}, bytes.Repeat([]byte{9}, 20)...)

func poolOutputs() []byte {
	b := []byte{1}
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = append(b, byte(len(payout)))
	return append(b, payout...)
}

func testTemplate(id uint64, future bool) *sv2.NewTemplate {
	return &sv2.NewTemplate{TemplateID: id, FutureTemplate: future, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x02, 0xc8, 0x00}, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 25_0000_0000}
}

// readyUpstream is an upstream whose channel is open and whose first
// tokens came, on a tip with future template 1 activated.
func readyUpstream(t *testing.T, mode Mode) (*upstream, []service.ClientEvent) {
	t.Helper()
	u := testUpstream(t, mode)
	p := &poolSide{u: u}
	jd := &jdsSide{u: u}
	var evs []service.ClientEvent
	add := func(e []service.ClientEvent, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e...)
	}
	add(u.onTemplate(testTemplate(1, true)), nil)
	add(u.onPrevHash(&sv2.TemplateSetNewPrevHash{TemplateID: 1, PrevHash: sv2.U256{7}, HeaderTimestamp: 1000, NBits: 0x207fffff}), nil)
	if mode == ModeFullTemplate {
		add(u.onTransactions(1, nil), nil)
	}
	add(p.OpenExtendedMiningChannelSuccess(nil, &sv2.OpenExtendedMiningChannelSuccess{RequestID: 1, ChannelID: 5,
		Target: maxTarget, ExtranonceSize: 16, ExtranoncePrefix: []byte{0, 0, 0, 1}}))
	add(jd.Connected(nil, service.ServerInfo{}))
	for i := range 2 {
		add(jd.AllocateMiningJobTokenSuccess(nil, &sv2.AllocateMiningJobTokenSuccess{RequestID: uint32(i + 1), MiningJobToken: []byte{byte(i + 1)}, CoinbaseTxOutputs: poolOutputs()}))
	}
	if u.mode != modePooled {
		t.Fatal("not mining for the pool with a channel and outputs")
	}
	return u, evs
}

// Optimistic mining: shares made before SetCustomMiningJob.Success wait,
// and reach the pool right after it, on the job id it gave; the pool's
// target decides which go up at all.
func TestOptimisticSharesRelayedAfterAck(t *testing.T) {
	u, evs := readyUpstream(t, ModeFullTemplate)
	decls := sent[*sv2.DeclareMiningJob](evs, sv2.ProtocolJobDeclaration)
	if len(decls) != 1 {
		t.Fatalf("%d declarations, want the activated template's", len(decls))
	}
	d, err := coinbase.ParseDeclared(decls[0].CoinbaseTxPrefix, decls[0].CoinbaseTxSuffix)
	if err != nil || d.ExtranonceSize != 4+16 {
		t.Fatalf("declared coinbase: %+v, %v; want a 20-byte extranonce", d, err)
	}
	s := func(nonce uint32) *share {
		return &share{templateID: 1, nonce: nonce, extranonce: make([]byte, deviceFull)}
	}
	for i := range 2 {
		if out := u.onShare(s(uint32(i))); len(sent[*sv2.SubmitSharesExtended](out, sv2.ProtocolMining)) != 0 {
			t.Fatal("a share went up before the pool acknowledged its job")
		}
	}
	jd := &jdsSide{u: u}
	p := &poolSide{u: u}
	out, _ := jd.DeclareMiningJobSuccess(nil, &sv2.DeclareMiningJobSuccess{RequestID: decls[0].RequestID, NewMiningJobToken: []byte("declared")})
	scm := sent[*sv2.SetCustomMiningJob](out, sv2.ProtocolMining)
	if len(scm) != 1 || string(scm[0].MiningJobToken) != "declared" || scm[0].ChannelID != 5 || !bytes.Equal(scm[0].CoinbasePrefix, d.ScriptSigPrefix) {
		t.Fatalf("SetCustomMiningJob %+v", scm)
	}
	out, _ = p.SetCustomMiningJobSuccess(nil, &sv2.SetCustomMiningJobSuccess{ChannelID: 5, RequestID: scm[0].RequestID, JobID: 42})
	up := sent[*sv2.SubmitSharesExtended](out, sv2.ProtocolMining)
	if len(up) != 2 || up[0].JobID != 42 || up[1].Nonce != 1 || len(up[0].Extranonce) != 16 {
		t.Fatalf("relayed after the acknowledgement: %+v", up)
	}
	if out := u.onShare(s(9)); len(sent[*sv2.SubmitSharesExtended](out, sv2.ProtocolMining)) != 1 {
		t.Error("a share on an acknowledged job did not go up at once")
	}
	u.target = sv2.U256{} // only a zero hash meets it
	low := s(10)
	low.hash = sv2.U256{1}
	if out := u.onShare(low); len(sent[*sv2.SubmitSharesExtended](out, sv2.ProtocolMining)) != 0 {
		t.Error("a share under the pool's target went up")
	}
}

// A job the JDS or the pool refuses drops its waiting shares, counted; the
// waiting shares are bounded.
func TestRefusedJobDropsShares(t *testing.T) {
	u, evs := readyUpstream(t, ModeCoinbaseOnly)
	scm := sent[*sv2.SetCustomMiningJob](evs, sv2.ProtocolMining)
	if len(scm) != 1 || len(sent[*sv2.DeclareMiningJob](evs, sv2.ProtocolJobDeclaration)) != 0 {
		t.Fatalf("coinbase-only: %d SetCustomMiningJob, want 1 and no declaration", len(scm))
	}
	for i := range 5 { // MaxPendingShares is 3
		u.onShare(&share{templateID: 1, nonce: uint32(i), extranonce: make([]byte, deviceFull)})
	}
	if u.pendingShares() != 3 || u.stats.dropped.Load() != 2 {
		t.Fatalf("%d waiting, %d dropped; want 3 and 2", u.pendingShares(), u.stats.dropped.Load())
	}
	p := &poolSide{u: u}
	p.SetCustomMiningJobError(nil, &sv2.SetCustomMiningJobError{ChannelID: 5, RequestID: scm[0].RequestID, ErrorCode: "invalid-mining-job-token"})
	if u.templates[1].retries != 0 {
		t.Error("a refusal that cannot pass is retried")
	}
	if u.pendingShares() != 0 || u.stats.dropped.Load() != 5 {
		t.Fatalf("%d waiting, %d dropped after the refusal; want 0 and 5", u.pendingShares(), u.stats.dropped.Load())
	}
	if out := u.onShare(&share{templateID: 1}); len(out) != 0 || u.stats.dropped.Load() != 6 {
		t.Error("a share on a refused job was not dropped")
	}
}

// A new tip forgets the old tip's templates and their waiting shares, and
// declares the new one; tokens are kept allocated ahead.
func TestNewTipWhileDeclaring(t *testing.T) {
	u, _ := readyUpstream(t, ModeFullTemplate)
	u.onShare(&share{templateID: 1, extranonce: make([]byte, deviceFull)})
	var evs []service.ClientEvent
	evs = append(evs, u.onTemplate(testTemplate(2, true))...)
	evs = append(evs, u.onPrevHash(&sv2.TemplateSetNewPrevHash{TemplateID: 2, PrevHash: sv2.U256{8}, HeaderTimestamp: 1001, NBits: 0x207fffff})...)
	evs = append(evs, u.onTransactions(2, nil)...)
	if _, ok := u.templates[1]; ok || u.pendingShares() != 0 || u.stats.dropped.Load() != 1 {
		t.Fatalf("old template kept %v, %d waiting, %d dropped", ok, u.pendingShares(), u.stats.dropped.Load())
	}
	decls := sent[*sv2.DeclareMiningJob](evs, sv2.ProtocolJobDeclaration)
	if len(decls) != 1 {
		t.Fatalf("%d declarations of the new tip's template", len(decls))
	}
	// The old declaration's answer finds nothing to do.
	jd := &jdsSide{u: u}
	if out, _ := jd.DeclareMiningJobSuccess(nil, &sv2.DeclareMiningJobSuccess{RequestID: 3}); len(out) != 0 {
		t.Errorf("an answer for a forgotten template: %+v", out)
	}
	allocs := len(sent[*sv2.AllocateMiningJobToken](evs, sv2.ProtocolJobDeclaration))
	if len(u.tokens)+u.allocating < 2 || allocs == 0 {
		t.Errorf("%d tokens, %d on their way, %d asked: want 2 kept ahead", len(u.tokens), u.allocating, allocs)
	}
}

// A template refused because the JDS had yet to see the tip is declared
// again, a few times at most.
func TestRefusedForTheTipRetried(t *testing.T) {
	u, evs := readyUpstream(t, ModeFullTemplate)
	jd := &jdsSide{u: u}
	for try := range maxRetries + 1 {
		decls := sent[*sv2.DeclareMiningJob](evs, sv2.ProtocolJobDeclaration)
		if len(decls) != 1 {
			t.Fatalf("try %d: %d declarations", try, len(decls))
		}
		jd.DeclareMiningJobError(nil, &sv2.DeclareMiningJobError{RequestID: decls[0].RequestID, ErrorCode: "stale-chain-tip"})
		if try == maxRetries { // the last refusal is a failure of the upstream
			if u.attempts != 1 || u.mode != modeNone {
				t.Fatalf("after %d retries: %d failures, mode %v; want 1 and a reconnect", try, u.attempts, u.mode)
			}
			break
		}
		if u.templates[1].retries != try+1 {
			t.Fatalf("try %d: %d retries", try, u.templates[1].retries)
		}
		jd.AllocateMiningJobTokenSuccess(nil, &sv2.AllocateMiningJobTokenSuccess{MiningJobToken: []byte{9}, CoinbaseTxOutputs: poolOutputs()})
		evs, _ = jd.HandleEvent(nil, retry{gen: u.gen, template: 1})
	}
}
