package synthtp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/extranonce"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

const waitLimit = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// serve runs p over Noise on a fresh port of 127.0.0.1 until the test ends.
func serve(t *testing.T, p *Provider) (*service.ServerService, string, noise.PublicKey) {
	t.Helper()
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.NewServerService(service.ServerConfig{Listener: ln, AuthorityKey: &sk, TemplateDistribution: &service.ProtocolConfig{}}, nil, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, done, "the provider to stop"); !errors.Is(err, service.ErrStopped) {
			t.Errorf("provider: %v", err)
		}
	})
	return srv, ln.Addr().String(), pk
}

// got is what a pool's template-distribution client was handed.
type got struct {
	templates chan *sv2.NewTemplate
	prevs     chan *sv2.TemplateSetNewPrevHash
	txs       chan [][]byte
}

// client connects the pool's template-distribution client (core/tpclient)
// to addr, pinning key, until the test ends.
func client(t *testing.T, addr string, key noise.PublicKey) *got {
	t.Helper()
	g := &got{templates: make(chan *sv2.NewTemplate, 16), prevs: make(chan *sv2.TemplateSetNewPrevHash, 16), txs: make(chan [][]byte, 16)}
	h := tpclient.New(tpclient.Config{
		FetchTransactions: true,
		OnTemplate: func(_ context.Context, m *sv2.NewTemplate) []service.ClientEvent {
			g.templates <- m
			return nil
		},
		OnPrevHash: func(_ context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
			g.prevs <- m
			return nil
		},
		OnTransactions: func(_ context.Context, _ uint64, txs [][]byte) []service.ClientEvent {
			g.txs <- txs
			return nil
		},
	})
	cli, err := service.NewClientService(service.ClientConfig{TemplateDistribution: &service.UpstreamConfig{Address: addr, AuthorityKey: &key}}, nil, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, done, "the client to stop"); !errors.Is(err, service.ErrStopped) {
			t.Errorf("client: %v", err)
		}
	})
	return g
}

// miningServer is core's mining server as the pool configures it, with one
// channel open once a tip is known.
func miningServer(t *testing.T) *mining.Server {
	t.Helper()
	alloc, err := extranonce.New(extranonce.Config{Prefix: []byte{0xaa}, IndexSize: 3, RollableSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mining.NewServer(mining.ServerConfig{
		Coinbase:   coinbase.Config{Outputs: []*wire.TxOut{{Value: 1, PkScript: []byte{0x51}}}, Tag: []byte("/synthtp test/")},
		Extranonce: alloc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// wantTip checks one tip as a client got it: a future template at height
// and the prev hash activating it, at nBits bits.
func wantTip(t *testing.T, tmpl *sv2.NewTemplate, prev *sv2.TemplateSetNewPrevHash, height int64, bits uint32) {
	t.Helper()
	push, _ := txscript.NewScriptBuilder().AddInt64(height).Script()
	if !tmpl.FutureTemplate || !bytes.Equal(tmpl.CoinbasePrefix, push) || len(tmpl.MerklePath) != 0 || tmpl.CoinbaseTxValueRemaining != DefaultCoinbaseValue {
		t.Errorf("template %+v, want a future template at height %d with no transactions", tmpl, height)
	}
	network, _ := target.FromCompact(bits)
	if prev.TemplateID != tmpl.TemplateID || prev.NBits != bits || prev.Target != network || prev.PrevHash != prevHash(height) {
		t.Errorf("prev hash %+v for template %d at height %d, want nBits %#x", prev, tmpl.TemplateID, height, bits)
	}
}

// A pool's client gets the tip when it states its coinbase needs and every
// new tip after that, in order; core's mining server takes them, and jobs
// for a channel follow.
func TestProviderTips(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, key := serve(t, p)
	g := client(t, addr, key)

	ms := miningServer(t)
	conn, err := ms.NewConn(mining.FlagRequiresStandardJobs)
	if err != nil {
		t.Fatal(err)
	}
	var last *sv2.TemplateSetNewPrevHash
	for i := range int64(3) {
		if i > 0 {
			tip, ev := p.NewTip()
			if tip.Height != DefaultHeight+i {
				t.Fatalf("new tip at height %d, want %d", tip.Height, DefaultHeight+i)
			}
			if err := srv.HandleEvent(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		tmpl := recv(t, g.templates, "a template")
		prev := recv(t, g.prevs, "a prev hash")
		wantTip(t, tmpl, prev, DefaultHeight+i, DefaultBits)
		if txs := recv(t, g.txs, "the template's transactions"); len(txs) != 0 {
			t.Errorf("template %d has %d transactions, want none", tmpl.TemplateID, len(txs))
		}
		if last != nil && (prev.PrevHash == last.PrevHash || prev.HeaderTimestamp <= last.HeaderTimestamp) {
			t.Errorf("tip %d: prev hash or time not new: %+v after %+v", i, prev, last)
		}
		last = prev
		if _, err := ms.NewTemplate(tmpl); err != nil {
			t.Fatalf("mining server: %v", err)
		}
		if _, err := ms.SetNewPrevHash(prev); err != nil {
			t.Fatalf("mining server: %v", err)
		}
	}
	msgs, err := conn.OpenStandardChannel(&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "u", NominalHashRate: 1, MaxTarget: target.Max()})
	if err != nil {
		t.Fatal(err)
	}
	var job *sv2.NewMiningJob
	for _, m := range msgs {
		if j, ok := m.(*sv2.NewMiningJob); ok {
			job = j
		}
	}
	if job == nil {
		t.Fatalf("opening a channel on the tip gave no job: %v", msgs)
	}
	if n := p.Solutions(); n != 0 {
		t.Errorf("%d solutions counted", n)
	}
}

// A client set up between a new tip and its event gets that tip once.
func TestProviderSendsEachTipOnce(t *testing.T) {
	p, err := New(Config{Bits: 0x1d00ffff, Height: 5})
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, key := serve(t, p)
	_, ev := p.NewTip() // not yet given to the server
	g := client(t, addr, key)
	wantTip(t, recv(t, g.templates, "a template"), recv(t, g.prevs, "a prev hash"), 6, 0x1d00ffff)
	if err := srv.HandleEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	_, ev = p.NewTip()
	if err := srv.HandleEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	tmpl := recv(t, g.templates, "a template")
	wantTip(t, tmpl, recv(t, g.prevs, "a prev hash"), 7, 0x1d00ffff)
	if tmpl.TemplateID != 3 {
		t.Errorf("template %d, want 3", tmpl.TemplateID)
	}
}

func TestNewRejectsBadBits(t *testing.T) {
	for _, bits := range []uint32{0x1d800001, 0x01003456, 0xff7fffff} {
		if _, err := New(Config{Bits: bits}); err == nil {
			t.Errorf("nBits %#08x accepted", bits)
		}
	}
}
