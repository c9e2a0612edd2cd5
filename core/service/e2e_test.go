package service

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stratumgo/stratum/core/sv2"
)

// jdServer is a job declarator server: it grants tokens, asks for one missing
// transaction of each declared job, then accepts the job.
type jdServer struct {
	NullJobDeclarationServerHandler
	pushed chan *sv2.PushSolution
}

func (jdServer) AllocateMiningJobToken(_ context.Context, c ClientID, m *sv2.AllocateMiningJobToken) ([]ServerEvent, error) {
	return []ServerEvent{SendToClient{c, &sv2.AllocateMiningJobTokenSuccess{RequestID: m.RequestID, MiningJobToken: []byte("token-1"), CoinbaseTxOutputs: []byte{0}}}}, nil
}

func (jdServer) DeclareMiningJob(_ context.Context, c ClientID, m *sv2.DeclareMiningJob) ([]ServerEvent, error) {
	return []ServerEvent{SendToClient{c, &sv2.ProvideMissingTransactions{RequestID: m.RequestID, UnknownTxPositionList: []uint16{1}}}}, nil
}

func (jdServer) ProvideMissingTransactionsSuccess(_ context.Context, c ClientID, m *sv2.ProvideMissingTransactionsSuccess) ([]ServerEvent, error) {
	if len(m.TransactionList) != 1 {
		return []ServerEvent{SendToClient{c, &sv2.DeclareMiningJobError{RequestID: m.RequestID, ErrorCode: "missing-transactions"}}}, nil
	}
	return []ServerEvent{SendToClient{c, &sv2.DeclareMiningJobSuccess{RequestID: m.RequestID, NewMiningJobToken: []byte("declared")}}}, nil
}

func (h jdServer) PushSolution(_ context.Context, _ ClientID, m *sv2.PushSolution) ([]ServerEvent, error) {
	h.pushed <- m
	return nil, nil
}

// jdClient allocates a token as soon as it is connected and declares a job with it.
type jdClient struct {
	NullJobDeclarationClientHandler
	declared chan *sv2.DeclareMiningJobSuccess
}

func (jdClient) Connected(context.Context, ServerInfo) ([]ClientEvent, error) {
	return []ClientEvent{SendToServer{sv2.ProtocolJobDeclaration, &sv2.AllocateMiningJobToken{UserIdentifier: "jdc", RequestID: 1}}}, nil
}

func (jdClient) AllocateMiningJobTokenSuccess(_ context.Context, m *sv2.AllocateMiningJobTokenSuccess) ([]ClientEvent, error) {
	return []ClientEvent{SendToServer{sv2.ProtocolJobDeclaration, &sv2.DeclareMiningJob{
		RequestID: 2, MiningJobToken: m.MiningJobToken, Version: 0x20000000, WtxidList: []sv2.U256{{1}, {2}},
	}}}, nil
}

func (jdClient) ProvideMissingTransactions(_ context.Context, m *sv2.ProvideMissingTransactions) ([]ClientEvent, error) {
	txs := make([][]byte, len(m.UnknownTxPositionList))
	for i := range txs {
		txs[i] = []byte{0x02, 0, 0, 0}
	}
	return []ClientEvent{SendToServer{sv2.ProtocolJobDeclaration, &sv2.ProvideMissingTransactionsSuccess{RequestID: m.RequestID, TransactionList: txs}}}, nil
}

func (h jdClient) DeclareMiningJobSuccess(_ context.Context, m *sv2.DeclareMiningJobSuccess) ([]ClientEvent, error) {
	h.declared <- m
	return []ClientEvent{SendToServer{sv2.ProtocolJobDeclaration, &sv2.PushSolution{Nonce: 7, PrevHash: sv2.U256{9}}}}, nil
}

// tdServer sends a future template and its prev hash once the client states
// its coinbase constraints, and records solutions.
type tdServer struct {
	NullTemplateDistributionServerHandler
	constraints chan *sv2.CoinbaseOutputConstraints
	solutions   chan *sv2.SubmitSolution
}

var (
	testTemplate = &sv2.NewTemplate{TemplateID: 1, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{3, 1, 0, 0}, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 5000000000, MerklePath: []sv2.U256{{7}}}
	testPrevHash = &sv2.TemplateSetNewPrevHash{TemplateID: 1, PrevHash: sv2.U256{5}, HeaderTimestamp: 1700000000, NBits: 0x207fffff}
)

func (h tdServer) CoinbaseOutputConstraints(_ context.Context, c ClientID, m *sv2.CoinbaseOutputConstraints) ([]ServerEvent, error) {
	h.constraints <- m
	return []ServerEvent{SendToClient{c, testTemplate}, SendToClient{c, testPrevHash}}, nil
}

func (h tdServer) SubmitSolution(_ context.Context, _ ClientID, m *sv2.SubmitSolution) ([]ServerEvent, error) {
	h.solutions <- m
	return nil, nil
}

// tdClient states its constraints, keeps templates, and "finds a block" on each prev hash.
type tdClient struct {
	NullTemplateDistributionClientHandler
	templates map[uint64]*sv2.NewTemplate
	received  chan sv2.Message
}

func (tdClient) Connected(context.Context, ServerInfo) ([]ClientEvent, error) {
	return []ClientEvent{SendToServer{sv2.ProtocolTemplateDistribution, &sv2.CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 100, CoinbaseOutputMaxAdditionalSigops: 4}}}, nil
}

func (h tdClient) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]ClientEvent, error) {
	h.templates[m.TemplateID] = m
	h.received <- m
	return nil, nil
}

func (h tdClient) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]ClientEvent, error) {
	h.received <- m
	t := h.templates[m.TemplateID]
	if t == nil {
		return nil, nil
	}
	return []ClientEvent{SendToServer{sv2.ProtocolTemplateDistribution, &sv2.SubmitSolution{
		TemplateID: t.TemplateID, Version: t.Version, HeaderTimestamp: m.HeaderTimestamp, HeaderNonce: 42, CoinbaseTx: []byte{2, 0, 0, 0},
	}}}, nil
}

// All three subprotocols through one server service and one client service.
func TestAllSubprotocolsEndToEnd(t *testing.T) {
	noGoroutineLeak(t)
	k := newKeys(t)
	ms := newMiningServer()
	jds := jdServer{pushed: make(chan *sv2.PushSolution, 1)}
	tds := tdServer{constraints: make(chan *sv2.CoinbaseOutputConstraints, 1), solutions: make(chan *sv2.SubmitSolution, 1)}
	cfg := ServerConfig{AuthorityKey: &k.secret, Mining: &ProtocolConfig{}, JobDeclaration: &ProtocolConfig{}, TemplateDistribution: &ProtocolConfig{}}
	srv, r := startServer(t, cfg, ms, jds, tds)

	mc := newMiningClient()
	mc.onConnected = func(ServerInfo) []ClientEvent {
		return []ClientEvent{
			SendToServer{sv2.ProtocolMining, &sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "alice", MaxTarget: sv2.U256{31: 0xff}}},
			SendToServer{sv2.ProtocolMining, &sv2.OpenExtendedMiningChannel{RequestID: 2, UserIdentity: "alice", MaxTarget: sv2.U256{31: 0xff}, MinExtranonceSize: 8}},
		}
	}
	jdc := jdClient{declared: make(chan *sv2.DeclareMiningJobSuccess, 1)}
	tdc := tdClient{templates: map[uint64]*sv2.NewTemplate{}, received: make(chan sv2.Message, 2)}
	up := func() *UpstreamConfig { return &UpstreamConfig{Address: r.addr, AuthorityKey: &k.public} }
	cli, err := NewClientService(ClientConfig{Mining: up(), JobDeclaration: up(), TemplateDistribution: up()}, mc, jdc, tdc)
	if err != nil {
		t.Fatal(err)
	}
	startService(t, cli)

	// Mining: a standard and an extended channel.
	std := recv(t, mc.messages, "OpenStandardMiningChannel.Success").(*sv2.OpenStandardMiningChannelSuccess)
	ext := recv(t, mc.messages, "OpenExtendedMiningChannel.Success").(*sv2.OpenExtendedMiningChannelSuccess)
	if std.RequestID != 1 || ext.RequestID != 2 || ext.ExtranonceSize != 8 || std.ChannelID == ext.ChannelID {
		t.Errorf("channels: %+v, %+v", std, ext)
	}
	// Job declaration: token, declaration with one missing transaction, success, solution.
	if d := recv(t, jdc.declared, "DeclareMiningJob.Success"); string(d.NewMiningJobToken) != "declared" || d.RequestID != 2 {
		t.Errorf("declared: %+v", d)
	}
	if p := recv(t, jds.pushed, "PushSolution"); p.Nonce != 7 {
		t.Errorf("pushed: %+v", p)
	}
	// Template distribution: constraints, template, prev hash, solution.
	if c := recv(t, tds.constraints, "CoinbaseOutputConstraints"); c.CoinbaseOutputMaxAdditionalSize != 100 || c.CoinbaseOutputMaxAdditionalSigops != 4 {
		t.Errorf("constraints: %+v", c)
	}
	if diff := cmp.Diff(sv2.Message(testTemplate), recv(t, tdc.received, "NewTemplate")); diff != "" {
		t.Errorf("NewTemplate (-sent +received):\n%s", diff)
	}
	if diff := cmp.Diff(sv2.Message(testPrevHash), recv(t, tdc.received, "SetNewPrevHash")); diff != "" {
		t.Errorf("SetNewPrevHash (-sent +received):\n%s", diff)
	}
	if s := recv(t, tds.solutions, "SubmitSolution"); s.TemplateID != 1 || s.HeaderNonce != 42 || s.HeaderTimestamp != 1700000000 {
		t.Errorf("solution: %+v", s)
	}
	protocolsSeen := map[sv2.Protocol]bool{}
	for _, c := range srv.Clients() {
		protocolsSeen[c.Setup.Protocol] = true
	}
	if len(protocolsSeen) != 3 {
		t.Errorf("server sees connections for %v, want all three subprotocols", protocolsSeen)
	}
}
