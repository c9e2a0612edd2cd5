package integration

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// fakeTP is a template provider whose chain the test controls, with a
// network target hard enough that shares are not blocks (in regtest every
// share would be one). It answers CoinbaseOutputConstraints with the
// current tip and sends every client a new one on newTip.
type fakeTP struct {
	service.NullTemplateDistributionServerHandler
	srv  *service.ServerService
	addr string
	key  noise.PublicKey

	mu     sync.Mutex
	nextID uint64
	height int64
}

const hardBits = 0x1d00ffff // difficulty 1

func startFakeTP(t *testing.T) *fakeTP {
	t.Helper()
	sk, pk, _ := noise.GenerateAuthorityKeyPair(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTP{addr: ln.Addr().String(), key: pk, height: 1000}
	f.srv, err = service.NewServerService(service.ServerConfig{Listener: ln, AuthorityKey: &sk, TemplateDistribution: &service.ProtocolConfig{}}, nil, nil, f)
	if err != nil {
		t.Fatal(err)
	}
	harness.Go(t, "fake template provider", f.srv.Run)
	return f
}

// tip returns a future template and the prev hash activating it.
func (f *fakeTP) tip() []sv2.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.height++
	prefix, _ := txscript.NewScriptBuilder().AddInt64(f.height).Script()
	tgt, _ := target.FromCompact(hardBits)
	return []sv2.Message{
		&sv2.NewTemplate{TemplateID: f.nextID, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2,
			CoinbasePrefix: prefix, CoinbaseTxInputSequence: 0xffffffff, CoinbaseTxValueRemaining: 5_000_000_000,
			MerklePath: []sv2.U256{{1}, {2}}},
		&sv2.TemplateSetNewPrevHash{TemplateID: f.nextID, PrevHash: sv2.U256{byte(f.height), 9}, HeaderTimestamp: 1_700_000_000 + uint32(f.height),
			NBits: hardBits, Target: tgt},
	}
}

func (f *fakeTP) CoinbaseOutputConstraints(_ context.Context, c service.ClientID, _ *sv2.CoinbaseOutputConstraints) ([]service.ServerEvent, error) {
	var events []service.ServerEvent
	for _, m := range f.tip() {
		events = append(events, service.SendToClient{Client: c, Message: m})
	}
	return events, nil
}

// newTip moves every client to a new block.
func (f *fakeTP) newTip(t *testing.T) {
	t.Helper()
	for _, m := range f.tip() {
		if err := f.srv.HandleEvent(context.Background(), service.SendToAll{Protocol: sv2.ProtocolTemplateDistribution, Message: m}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fakeTP) asTP() *tp { return &tp{addr: f.addr, key: f.key} }
