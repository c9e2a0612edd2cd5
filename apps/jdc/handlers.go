package jdc

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// poolSide is the Mining client handler towards the pool.
type poolSide struct {
	service.NullMiningClientHandler
	u *upstream
}

var maxTarget = func() (t sv2.U256) {
	for i := range t {
		t[i] = 0xff
	}
	return t
}()

func (p *poolSide) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	u := p.u
	u.poolUp = true
	addr := s.Address
	u.stats.address.Store(&addr)
	u.stats.poolUp.Store(true)
	u.log.Info("pool connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	return []service.ClientEvent{u.toPool(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: u.j.cfg.User,
		NominalHashRate: u.j.cfg.UpstreamHashrate, MaxTarget: maxTarget, MinExtranonceSize: indexSize + 8})}, nil
}

func (p *poolSide) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	u := p.u
	u.poolUp, u.opened = false, false
	u.stats.poolUp.Store(false)
	if errors.Is(err, service.ErrReconnect) {
		return nil, nil // ours: a switch is under way
	}
	return u.fail("the pool: " + err.Error()), nil
}

func (p *poolSide) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	u := p.u
	u.channel, u.prefix, u.rollable, u.target, u.opened = m.ChannelID, m.ExtranoncePrefix, int(m.ExtranonceSize), m.Target, true
	u.log.Info("upstream channel open", "channel", m.ChannelID, "extranonce_prefix", len(m.ExtranoncePrefix), "extranonce_size", m.ExtranonceSize)
	return u.pooledReady(), nil
}

func (p *poolSide) OpenMiningChannelError(_ context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	return p.u.fail("the pool refused the channel: " + m.ErrorCode), nil
}

func (p *poolSide) SetTarget(_ context.Context, m *sv2.SetTarget) ([]service.ClientEvent, error) {
	if m.ChannelID == p.u.channel {
		p.u.target = m.MaximumTarget
	}
	return nil, nil
}

func (p *poolSide) SetCustomMiningJobSuccess(_ context.Context, m *sv2.SetCustomMiningJobSuccess) ([]service.ClientEvent, error) {
	u := p.u
	t := u.template(m.RequestID)
	if t == nil || t.state != jobSetting {
		u.log.Debug("an acknowledgement for no job on its way", "request", m.RequestID)
		return nil, nil
	}
	u.log.Debug("custom job acknowledged", "template", t.nt.TemplateID, "job", m.JobID, "shares_waiting", len(t.pending))
	return u.acked(t, m.JobID), nil
}

func (p *poolSide) SetCustomMiningJobError(_ context.Context, m *sv2.SetCustomMiningJobError) ([]service.ClientEvent, error) {
	if t := p.u.template(m.RequestID); t != nil && t.state == jobSetting {
		return p.u.refused(t, "the pool: "+m.ErrorCode, m.ErrorCode), nil
	}
	return nil, nil
}

func (p *poolSide) SubmitSharesError(_ context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	u := p.u
	u.stats.poolRefused.Add(1)
	if m.ErrorCode == mining.CodeStaleShare { // a share on its way as a block arrived
		u.stats.poolStale.Add(1)
	}
	u.log.Warn("the pool refused a share", "code", m.ErrorCode, "sequence", m.SequenceNumber)
	// A share of a job the pool acknowledged, refused for anything but
	// the race with a new block, breaks its commitment (§5.3.19).
	if job, ok := u.sentJob[m.SequenceNumber]; ok && u.ackedJobs[job] && m.ErrorCode != mining.CodeStaleShare && m.ErrorCode != mining.CodeDuplicateShare {
		return u.fail("the pool refused a share of a job it acknowledged: " + m.ErrorCode), nil
	}
	return nil, nil
}

// HandleEvent takes the devices' accepted shares.
func (p *poolSide) HandleEvent(_ context.Context, payload any) ([]service.ClientEvent, error) {
	if s, ok := shares.Of(payload); ok {
		return p.u.onShare(s), nil
	}
	return nil, nil
}

// jdsSide is the Job Declaration client handler towards the JDS.
type jdsSide struct {
	service.NullJobDeclarationClientHandler
	u *upstream
}

func (j *jdsSide) Connected(_ context.Context, s service.ServerInfo) ([]service.ClientEvent, error) {
	u := j.u
	u.log.Info("JDS connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	u.tokens, u.allocating, u.jdsUp = nil, 0, true // tokens are the connection's
	return u.allocate(), nil
}

func (j *jdsSide) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	u := j.u
	u.jdsUp = false
	if errors.Is(err, service.ErrReconnect) {
		return nil, nil // ours: a switch is under way
	}
	return u.fail("the JDS: " + err.Error()), nil
}

func (j *jdsSide) AllocateMiningJobTokenSuccess(_ context.Context, m *sv2.AllocateMiningJobTokenSuccess) ([]service.ClientEvent, error) {
	u := j.u
	if !u.jdsUp {
		return nil, nil
	}
	u.allocating = max(0, u.allocating-1)
	u.tokens = append(u.tokens, m.MiningJobToken)
	if u.outputs == nil {
		outs, err := coinbase.ParseOutputs(m.CoinbaseTxOutputs)
		if err != nil || len(outs) == 0 {
			return u.fail(fmt.Sprintf("the JDS's coinbase outputs do not parse: %v", err)), nil
		}
		u.outputs = outs
		if evs := u.pooledReady(); evs != nil {
			return evs, nil
		}
	}
	var evs []service.ClientEvent
	for _, id := range u.order { // a template may have waited for this token
		evs = append(evs, u.declare(u.templates[id])...)
	}
	return evs, nil
}

// HandleEvent declares refused templates again (see upstream.refused).
func (j *jdsSide) HandleEvent(_ context.Context, payload any) ([]service.ClientEvent, error) {
	switch p := payload.(type) {
	case retry:
		return j.u.onRetry(p), nil
	case tokenDeadline:
		return j.u.onTokenDeadline(p), nil
	}
	return nil, nil
}

func (j *jdsSide) DeclareMiningJobSuccess(_ context.Context, m *sv2.DeclareMiningJobSuccess) ([]service.ClientEvent, error) {
	u := j.u
	t := u.template(m.RequestID)
	if t == nil || t.state != jobDeclaring {
		return nil, nil
	}
	t.declared = true
	return []service.ClientEvent{u.setJob(t, m.NewMiningJobToken)}, nil
}

func (j *jdsSide) DeclareMiningJobError(_ context.Context, m *sv2.DeclareMiningJobError) ([]service.ClientEvent, error) {
	if t := j.u.template(m.RequestID); t != nil && t.state == jobDeclaring {
		return j.u.refused(t, "the JDS: "+m.ErrorCode+": "+string(m.ErrorDetails), m.ErrorCode), nil
	}
	return nil, nil
}

// ProvideMissingTransactions answers from the template's transactions.
func (j *jdsSide) ProvideMissingTransactions(_ context.Context, m *sv2.ProvideMissingTransactions) ([]service.ClientEvent, error) {
	u := j.u
	t := u.template(m.RequestID)
	if t == nil {
		return nil, nil
	}
	list := make([][]byte, 0, len(m.UnknownTxPositionList))
	for _, pos := range m.UnknownTxPositionList {
		if int(pos) >= len(t.txs) {
			u.log.Warn("the JDS asked for a transaction the template has not", "position", pos, "transactions", len(t.txs))
			return nil, nil
		}
		list = append(list, t.txs[pos])
	}
	return []service.ClientEvent{u.toJDS(&sv2.ProvideMissingTransactionsSuccess{RequestID: m.RequestID, TransactionList: list})}, nil
}
