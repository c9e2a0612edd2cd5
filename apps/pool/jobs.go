package pool

import (
	"errors"
	"fmt"

	"github.com/stratumgo/stratum/core/jdserver"
	"github.com/stratumgo/stratum/core/jdtoken"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/network"
	"github.com/stratumgo/stratum/core/sv2"
)

// customJobs is the mining server's custom job configuration for
// Config.JobDeclaration, starting the in-process JDS when asked; nil when
// the pool takes no custom jobs.
func (p *Pool) customJobs() (*mining.CustomJobConfig, error) {
	jd := p.cfg.JobDeclaration
	if jd == nil {
		return nil, nil
	}
	payout := p.cfg.Payouts[0].Script
	v := &jdtoken.Verifier{Ledger: jdtoken.NewLedger(0), Now: p.now, FullTemplateOnly: jd.Mode == jdserver.ModeFullTemplate}
	if jd.AuthorityKey != nil {
		v.JDS = *jd.AuthorityKey
	} else {
		tp := p.cfg.TemplateProvider
		j, err := jdserver.New(jdserver.Config{
			Listen: jd.Listen, Listener: jd.Listener, AuthorityKey: p.cfg.AuthorityKey, CertValidity: p.cfg.CertValidity,
			Plain: p.cfg.Plain, Network: p.cfg.Network, Node: *p.cfg.Node,
			TemplateProvider: jdserver.TemplateProvider{Address: tp.Address, AuthorityKey: tp.AuthorityKey, Plain: tp.Plain},
			PayoutScript:     payout, Mode: jd.Mode, TokenLifetime: jd.TokenLifetime,
			Logger: p.log.With("app", "jds"), Now: p.now,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: in-process JDS: %w", ErrConfig, err)
		}
		p.jds = j
		v.JDS = j.PublicKey()
	}
	return &mining.CustomJobConfig{
		PayoutScript: payout,
		// The pool payout output must carry at least the block subsidy: the
		// JDC may keep fees in outputs of its own (§6.4.3 example B), and the
		// accounting credits the job's shares all the same.
		MinPayout: func(height int64) uint64 { return uint64(network.Subsidy(p.net, height)) },
		VerifyToken: func(c *mining.Conn, m *sv2.SetCustomMiningJob) error {
			users := p.miners.usersOf(c, m.ChannelID)
			if len(users) == 0 {
				return fmt.Errorf("no channel %d", m.ChannelID)
			}
			var err error
			for _, u := range users { // a group's channels may be of several users
				if err = v.CheckCustomJob(m, u); !errors.Is(err, jdtoken.ErrUser) {
					return err
				}
			}
			return err
		},
	}, nil
}

// usersOf returns the user of channel id on c, or for a group channel the
// users of its channels.
func (h *miners) usersOf(c *mining.Conn, channel uint32) []string {
	h.mu.Lock()
	id, ok := h.byConn[c]
	h.mu.Unlock()
	if !ok {
		return nil
	}
	return h.p.accounts.UsersOf(id, channel)
}
