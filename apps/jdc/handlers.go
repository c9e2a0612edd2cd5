package jdc

import (
	"context"

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
	u.mRetry.Reset()
	u.log.Info("pool connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	return []service.ClientEvent{u.toPool(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: u.j.cfg.User,
		NominalHashRate: u.j.cfg.UpstreamHashrate, MaxTarget: maxTarget, MinExtranonceSize: indexSize + 8})}, nil
}

func (p *poolSide) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	u := p.u
	d := u.mRetry.Next()
	u.log.Warn("pool connection lost; retrying", "error", err, "in", d)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolMining, Delay: d}}, nil
}

func (p *poolSide) OpenExtendedMiningChannelSuccess(_ context.Context, m *sv2.OpenExtendedMiningChannelSuccess) ([]service.ClientEvent, error) {
	u := p.u
	if u.srv != nil && (string(m.ExtranoncePrefix) != string(u.prefix) || int(m.ExtranonceSize) != u.rollable) {
		// The devices' channels are cut from the first channel's
		// extranonce; moving them to another is the fallback work still to do.
		u.log.Error("the pool gave another extranonce on reconnect: the devices' shares will not be valid there", "channel", m.ChannelID)
	}
	u.channel, u.prefix, u.rollable, u.target, u.opened = m.ChannelID, m.ExtranoncePrefix, int(m.ExtranonceSize), m.Target, true
	// Jobs of the earlier connection are not the pool's any more.
	for _, t := range u.templates {
		if t.state == jobSetting || t.state == jobAcked {
			t.state = jobNew
		}
		if t.custom != nil {
			t.custom.ChannelID = m.ChannelID
		}
	}
	u.log.Info("upstream channel open", "channel", m.ChannelID, "extranonce_prefix", len(m.ExtranoncePrefix), "extranonce_size", m.ExtranonceSize)
	evs := u.ready()
	if u.srv != nil && len(evs) == 0 { // a reconnect: declare again what is current
		for _, id := range u.order {
			evs = append(evs, u.declare(u.templates[id])...)
		}
	}
	return evs, nil
}

func (p *poolSide) OpenMiningChannelError(_ context.Context, m *sv2.OpenMiningChannelError) ([]service.ClientEvent, error) {
	p.u.log.Error("the pool refused the upstream channel", "code", m.ErrorCode)
	return nil, nil
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
		return nil, nil
	}
	u.log.Debug("custom job acknowledged", "template", t.nt.TemplateID, "job", m.JobID, "shares_waiting", len(t.pending))
	return u.acked(t, m.JobID), nil
}

func (p *poolSide) SetCustomMiningJobError(_ context.Context, m *sv2.SetCustomMiningJobError) ([]service.ClientEvent, error) {
	if t := p.u.template(m.RequestID); t != nil {
		p.u.refused(t, "the pool: "+m.ErrorCode, m.ErrorCode)
	}
	return nil, nil
}

func (p *poolSide) SubmitSharesError(_ context.Context, m *sv2.SubmitSharesError) ([]service.ClientEvent, error) {
	p.u.stats.poolRefused.Add(1)
	p.u.log.Warn("the pool refused a share", "code", m.ErrorCode, "sequence", m.SequenceNumber)
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
	u.jRetry.Reset()
	u.log.Info("JDS connected", "address", s.Address, "authenticated", s.Handshake.Authenticated)
	u.tokens, u.allocating = nil, 0 // tokens are the connection's
	return u.allocate(), nil
}

func (j *jdsSide) Disconnected(_ context.Context, err error) ([]service.ClientEvent, error) {
	u := j.u
	d := u.jRetry.Next()
	u.log.Warn("JDS connection lost; retrying", "error", err, "in", d)
	return []service.ClientEvent{service.Connect{Protocol: sv2.ProtocolJobDeclaration, Delay: d}}, nil
}

func (j *jdsSide) AllocateMiningJobTokenSuccess(_ context.Context, m *sv2.AllocateMiningJobTokenSuccess) ([]service.ClientEvent, error) {
	u := j.u
	u.allocating = max(0, u.allocating-1)
	u.tokens = append(u.tokens, m.MiningJobToken)
	if u.outputs == nil {
		outs, err := coinbase.ParseOutputs(m.CoinbaseTxOutputs)
		if err != nil || len(outs) == 0 {
			u.log.Error("the JDS's coinbase outputs do not parse", "error", err)
			return nil, nil
		}
		u.outputs = outs
		if evs := u.ready(); evs != nil {
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
	if r, ok := payload.(retry); ok {
		return j.u.onRetry(r), nil
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
	if t := j.u.template(m.RequestID); t != nil {
		j.u.refused(t, "the JDS: "+m.ErrorCode+": "+string(m.ErrorDetails), m.ErrorCode)
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
