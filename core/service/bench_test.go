package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// BenchmarkServerSubmitShares measures a ServerService under load: N clients
// over loopback with Noise, each submitting SubmitSharesStandard that the
// mining handler acknowledges with SubmitShares.Success. Each round spreads
// b.N shares across the clients. msgs/s counts acknowledged shares per
// second; allocs/msg counts the allocations of the whole process, server and
// clients, per share.
func BenchmarkServerSubmitShares(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		// Set up on the first round and reused by the later ones, since
		// 1000 Noise handshakes take about a second.
		var sb *shareBench
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			if sb == nil {
				sb = &shareBench{}
				sb.connect(b, n)
			}
			sb.run(b)
		})
		if sb != nil {
			sb.close(b)
		}
	}
}

// benchWindow bounds each client's unacknowledged shares. It stays far below
// the server's per-client send queue (DefaultSendQueue), which would
// otherwise overflow and drop the client.
const benchWindow = 32

// shareBench is a server and its connected clients.
type shareBench struct {
	stop    func() error // stops the server, returning what Start returned
	clients []*benchClient
}

// benchClient is a raw connection, lighter than a ClientService. It skips
// opening a channel: the handler acknowledges shares on any channel id.
type benchClient struct {
	conn  *transport.Conn
	share sv2.SubmitSharesStandard // reused: WriteMessage encodes it before returning
	acked uint32                   // sequence number of the last acknowledged share
}

// ackingHandler acknowledges every share and does nothing else.
type ackingHandler struct{ NullMiningServerHandler }

func (ackingHandler) SubmitSharesStandard(_ context.Context, c ClientID, m *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	return []ServerEvent{SendToClient{c, &sv2.SubmitSharesSuccess{
		ChannelID: m.ChannelID, LastSequenceNumber: m.SequenceNumber, NewSubmitsAcceptedCount: 1, NewSharesSum: 1,
	}}}, nil
}

// connect starts the server and connects n clients. On failure, what it
// started is left in sb for close.
func (sb *shareBench) connect(b *testing.B, n int) {
	k := newKeys(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// All the clients come from 127.0.0.1: the per-source limits are lifted.
	srv, err := NewServerService(ServerConfig{Listener: ln, AuthorityKey: &k.secret, Mining: &ProtocolConfig{},
		MaxConnectionsPerSource: 1 << 20, MaxHandshakesPerSource: 1 << 20, HandshakeRatePerSource: 1e9}, ackingHandler{}, nil, nil)
	if err != nil {
		ln.Close()
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	sb.stop = func() error {
		cancel()
		return <-done
	}

	sb.clients = make([]*benchClient, n)
	errs := make(chan error, n)
	// A few handshakes at a time keep each one quick (the CPU is the limit)
	// and well inside its timeout, even under the race detector.
	sem := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range sb.clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialBenchClient(ln.Addr().String(), &k.public, uint32(i+1))
			sb.clients[i] = c
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("connecting %d clients: %v", n, err)
	}
}

// dialBenchClient connects with Noise and completes SetupConnection.
func dialBenchClient(addr string, authority *noise.PublicKey, channel uint32) (*benchClient, error) {
	nc, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return nil, err
	}
	conn, err := transport.Client(context.Background(), nc, transport.ClientConfig{Noise: noise.InitiatorConfig{AuthorityKey: authority}})
	if err != nil {
		return nil, err
	}
	c := &benchClient{conn: conn, share: sv2.SubmitSharesStandard{ChannelID: channel}}
	if err := conn.WriteMessage(setupMsg(sv2.ProtocolMining, 2, 2, 0)); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, m, err := conn.ReadMessage(); err != nil {
		conn.Close()
		return nil, err
	} else if _, ok := m.(*sv2.SetupConnectionSuccess); !ok {
		conn.Close()
		return nil, fmt.Errorf("SetupConnection answered with %s", sv2.Info(m).Name)
	}
	return c, nil
}

// run is one round: b.N shares across the clients, each client pipelining
// its own.
func (sb *shareBench) run(b *testing.B) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range sb.clients {
		shares := b.N / len(sb.clients)
		if i < b.N%len(sb.clients) {
			shares++
		}
		if shares > 0 {
			wg.Go(func() {
				if err := c.submit(shares); err != nil {
					b.Error(err)
				}
			})
		}
	}
	wg.Wait()
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/msg")
}

// submit sends shares with up to benchWindow unacknowledged, and checks that
// the acknowledgements come back in order.
func (c *benchClient) submit(shares int) error {
	last := c.share.SequenceNumber + uint32(shares)
	for reads := 0; c.acked < last; reads++ {
		for c.share.SequenceNumber < last && c.share.SequenceNumber-c.acked < benchWindow {
			c.share.SequenceNumber++
			if err := c.conn.WriteMessage(&c.share); err != nil {
				return err
			}
		}
		if reads%benchWindow == 0 {
			// Once per window, not per read, to keep the clients' cost down.
			c.conn.SetReadDeadline(time.Now().Add(waitLimit))
		}
		_, m, err := c.conn.ReadMessage()
		if err != nil {
			return err
		}
		ack, ok := m.(*sv2.SubmitSharesSuccess)
		if !ok || ack.ChannelID != c.share.ChannelID || ack.LastSequenceNumber != c.acked+1 {
			return fmt.Errorf("channel %d: got %#v, want the acknowledgement of share %d", c.share.ChannelID, m, c.acked+1)
		}
		c.acked++
	}
	return nil
}

// close disconnects the clients and stops the server.
func (sb *shareBench) close(b *testing.B) {
	for _, c := range sb.clients {
		if c != nil {
			c.conn.Close()
		}
	}
	if sb.stop != nil {
		if err := sb.stop(); err != nil && !errors.Is(err, ErrStopped) {
			b.Errorf("server stopped with %v", err)
		}
	}
}
