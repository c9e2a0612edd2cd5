package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stratumgo/stratum/core/examples/internal/exampletest"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// TestMiningServer runs the example on loopback and has a ClientService open
// two channels on it and submit a share on each.
func TestMiningServer(t *testing.T) {
	hard, err := target.FromDifficulty(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%t", plain), func(t *testing.T) {
			lines := exampletest.Output(t, func(ctx context.Context, out io.Writer) error {
				return run(ctx, config{listen: "127.0.0.1:0", plain: plain}, out)
			})
			up := &service.UpstreamConfig{Plain: plain}
			if !plain {
				// Pin the key the example printed, as a miner's operator would.
				key, err := noise.ParsePublicKey(exampletest.WaitLine(t, lines, "authority public key: "))
				if err != nil {
					t.Fatal(err)
				}
				up.AuthorityKey = &key
			}
			up.Address = exampletest.WaitLine(t, lines, "listening on ")

			// Request 1 accepts any target; request 2 accepts only a hard one.
			m := newMiner(target.Max(), hard)
			cli, err := service.NewClientService(service.ClientConfig{Mining: up}, m, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			exampletest.Run(t, cli.Run)

			opened := map[uint32]*sv2.OpenStandardMiningChannelSuccess{}
			for range 2 {
				s := exampletest.Recv(t, m.opened, "OpenStandardMiningChannel.Success")
				opened[s.RequestID] = s
			}
			one, two := opened[1], opened[2]
			if one == nil || two == nil {
				t.Fatalf("answers for requests %v, want 1 and 2", opened)
			}
			if one.Target != target.Diff1() || two.Target != hard {
				t.Errorf("targets %s and %s, want difficulty 1 and the miner's max %s", one.Target, two.Target, hard)
			}
			if one.ChannelID == two.ChannelID || len(one.ExtranoncePrefix) != 4 || bytes.Equal(one.ExtranoncePrefix, two.ExtranoncePrefix) {
				t.Errorf("channels %d (prefix %x) and %d (prefix %x), want distinct ids and distinct 4-byte prefixes",
					one.ChannelID, one.ExtranoncePrefix, two.ChannelID, two.ExtranoncePrefix)
			}

			acked := map[uint32]uint32{} // channel -> last sequence number
			for range 2 {
				a := exampletest.Recv(t, m.acks, "SubmitShares.Success")
				if a.NewSubmitsAcceptedCount != 1 {
					t.Errorf("ack %+v accepts %d shares, want 1", a, a.NewSubmitsAcceptedCount)
				}
				acked[a.ChannelID] = a.LastSequenceNumber
			}
			for _, s := range opened {
				if seq, ok := acked[s.ChannelID]; !ok || seq != shareSeq(s.RequestID) {
					t.Errorf("channel %d: acknowledged %d (%t), want share %d", s.ChannelID, seq, ok, shareSeq(s.RequestID))
				}
			}
			if info, ok := cli.Server(sv2.ProtocolMining); !ok || info.Handshake.Authenticated == plain {
				t.Errorf("connection %+v, want authenticated unless plain", info.Handshake)
			}
			exampletest.WaitLine(t, lines, "client 1: share ")
		})
	}
}

// miner opens a channel for each max target once connected, submits one share
// on each channel opened, and passes on what the server answers.
type miner struct {
	service.NullMiningClientHandler

	maxTargets []sv2.U256
	opened     chan *sv2.OpenStandardMiningChannelSuccess
	acks       chan *sv2.SubmitSharesSuccess
}

func newMiner(maxTargets ...sv2.U256) *miner {
	return &miner{
		maxTargets: maxTargets,
		opened:     make(chan *sv2.OpenStandardMiningChannelSuccess, len(maxTargets)),
		acks:       make(chan *sv2.SubmitSharesSuccess, len(maxTargets)),
	}
}

// shareSeq is the sequence number of the share submitted on the channel of request r.
func shareSeq(r uint32) uint32 { return 10 * r }

func (m *miner) Connected(context.Context, service.ServerInfo) ([]service.ClientEvent, error) {
	var events []service.ClientEvent
	for i, t := range m.maxTargets {
		events = append(events, service.SendToServer{Protocol: sv2.ProtocolMining, Message: &sv2.OpenStandardMiningChannel{
			RequestID: uint32(i + 1), UserIdentity: "example-test", NominalHashRate: 1e6, MaxTarget: t,
		}})
	}
	return events, nil
}

func (m *miner) OpenStandardMiningChannelSuccess(_ context.Context, s *sv2.OpenStandardMiningChannelSuccess) ([]service.ClientEvent, error) {
	m.opened <- s
	return []service.ClientEvent{service.SendToServer{Protocol: sv2.ProtocolMining, Message: &sv2.SubmitSharesStandard{
		ChannelID: s.ChannelID, SequenceNumber: shareSeq(s.RequestID), Nonce: 42,
	}}}, nil
}

func (m *miner) SubmitSharesSuccess(_ context.Context, a *sv2.SubmitSharesSuccess) ([]service.ClientEvent, error) {
	m.acks <- a
	return nil, nil
}
