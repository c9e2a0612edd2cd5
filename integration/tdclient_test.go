package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/integration/harness"
)

// tdClient is a template-distribution client built on our ClientService that
// records everything it receives; tests drive it with HandleEvent.
type tdClient struct {
	service.NullTemplateDistributionClientHandler
	cons     sv2.CoinbaseOutputConstraints
	received chan received
	svc      *service.ClientService
}

// received is a message and when it arrived.
type received struct {
	msg sv2.Message
	at  time.Time
}

func (c *tdClient) Connected(context.Context, service.ServerInfo) ([]service.ClientEvent, error) {
	cons := c.cons
	return []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolTemplateDistribution, Message: &cons}}, nil
}

func (c *tdClient) record(m sv2.Message) ([]service.ClientEvent, error) {
	c.received <- received{m, time.Now()}
	return nil, nil
}

func (c *tdClient) NewTemplate(_ context.Context, m *sv2.NewTemplate) ([]service.ClientEvent, error) {
	return c.record(m)
}

func (c *tdClient) SetNewPrevHash(_ context.Context, m *sv2.TemplateSetNewPrevHash) ([]service.ClientEvent, error) {
	return c.record(m)
}

func (c *tdClient) RequestTransactionDataSuccess(_ context.Context, m *sv2.RequestTransactionDataSuccess) ([]service.ClientEvent, error) {
	return c.record(m)
}

func (c *tdClient) RequestTransactionDataError(_ context.Context, m *sv2.RequestTransactionDataError) ([]service.ClientEvent, error) {
	return c.record(m)
}

// startTDClient connects a client to addr over Noise, pinning key.
func startTDClient(t testing.TB, addr string, key noise.PublicKey, cons sv2.CoinbaseOutputConstraints) *tdClient {
	t.Helper()
	c := &tdClient{cons: cons, received: make(chan received, 64)}
	svc, err := service.NewClientService(service.ClientConfig{
		TemplateDistribution: &service.UpstreamConfig{Address: addr, AuthorityKey: &key},
	}, nil, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	c.svc = svc
	harness.Go(t, "TD client", svc.Run)
	return c
}

// send hands the client a message for the template provider.
func (c *tdClient) send(t testing.TB, m sv2.Message) {
	t.Helper()
	sendUpstream(t, c.svc, sv2.ProtocolTemplateDistribution, m, 10*time.Second)
}

// sendUpstream sends msg to svc's upstream for protocol, retrying while the
// service is still connecting (it has nothing to wait on for that from here).
func sendUpstream(t testing.TB, svc *service.ClientService, protocol sv2.Protocol, msg sv2.Message, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		err := svc.HandleEvent(ctx, service.SendToServer{Protocol: protocol, Message: msg})
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sending %s: %v", sv2.Info(msg).Name, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// next waits for the next message of type T, skipping others.
func next[T sv2.Message](t testing.TB, c *tdClient, within time.Duration) (T, time.Time) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case r := <-c.received:
			if m, ok := r.msg.(T); ok {
				return m, r.at
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T within %v", zero, within)
			return zero, time.Time{}
		}
	}
}

// nextTemplatePair waits for a future NewTemplate and the SetNewPrevHash that activates it.
func nextTemplatePair(t testing.TB, c *tdClient, within time.Duration) (*sv2.NewTemplate, *sv2.TemplateSetNewPrevHash, time.Time) {
	t.Helper()
	for {
		nt, _ := next[*sv2.NewTemplate](t, c, within)
		if !nt.FutureTemplate {
			continue
		}
		snph, at := next[*sv2.TemplateSetNewPrevHash](t, c, within)
		if snph.TemplateID != nt.TemplateID {
			t.Fatalf("SetNewPrevHash for template %d after future template %d", snph.TemplateID, nt.TemplateID)
		}
		return nt, snph, at
	}
}
