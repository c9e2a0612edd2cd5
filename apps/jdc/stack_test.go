package jdc

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/synthtp"
)

// fakeStack runs a JDC in coinbase-only mode between a synthetic template
// provider, pool (the mining handler given) and a fake JDS, all over
// plain loopback TCP, until the test ends; mod edits its Config. It
// returns once devices may connect.
func fakeStack(t testing.TB, pool service.MiningServerHandler, mod func(*Config)) (j *JDC, addr string, tpSrv *service.ServerService, tp *synthtp.Provider, poolSrv *service.ServerService) {
	tp, err := synthtp.New(synthtp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tpSrv, tpAddr := serve(t, service.ServerConfig{TemplateDistribution: &service.ProtocolConfig{}}, nil, nil, tp)
	poolSrv, poolAddr := serve(t, service.ServerConfig{Mining: &service.ProtocolConfig{}}, pool, nil, nil)
	_, jdsAddr := serve(t, service.ServerConfig{JobDeclaration: &service.ProtocolConfig{}}, nil, &fakeJDS{}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listener: ln, Plain: true, User: "miner", Mode: ModeCoinbaseOnly,
		TemplateProvider: Server{Address: tpAddr, Plain: true},
		Upstreams:        []Upstream{{Pool: Server{Address: poolAddr, Plain: true}, JDS: Server{Address: jdsAddr, Plain: true}}}}
	if mod != nil {
		mod(&cfg)
	}
	if j, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	run(t, j.Run)
	<-j.Ready()
	return j, ln.Addr().String(), tpSrv, tp, poolSrv
}

// run runs f until the test ends.
func run(t testing.TB, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// dialDevice connects a device with handler h to the JDC at addr, plainly,
// until the test ends.
func dialDevice(t testing.TB, addr string, h service.MiningClientHandler) *service.ClientService {
	svc, err := service.NewClientService(service.ClientConfig{Mining: &service.UpstreamConfig{Address: addr, Plain: true}}, h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, svc.Run)
	return svc
}

// requestChannel sends an OpenExtendedMiningChannel of hashrate, waiting
// for the connection if needed.
func requestChannel(svc *service.ClientService, req uint32, hashrate float32) {
	for svc.HandleEvent(context.Background(), service.SendToServer{Protocol: sv2.ProtocolMining, Message: &sv2.OpenExtendedMiningChannel{
		RequestID: req, UserIdentity: "rig", NominalHashRate: hashrate, MaxTarget: maxTarget, MinExtranonceSize: 8}}) != nil {
		time.Sleep(time.Millisecond) // still connecting: the service has no event for it
	}
}
