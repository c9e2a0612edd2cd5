package service

import (
	"context"

	"github.com/stratumgo/stratum/core/sv2"
)

// Null handlers stand for "this subprotocol is not supported". A service given
// one (or nil) never connects for that subprotocol (client) or refuses its
// SetupConnection with unsupported-protocol (server). Their methods do
// nothing and never panic.
type (
	// NullMiningServerHandler means a server does not serve the Mining Protocol.
	NullMiningServerHandler struct{ nullServer }
	// NullJobDeclarationServerHandler means a server does not serve the Job Declaration Protocol.
	NullJobDeclarationServerHandler struct{ nullServer }
	// NullTemplateDistributionServerHandler means a server does not serve the Template Distribution Protocol.
	NullTemplateDistributionServerHandler struct{ nullServer }
	// NullMiningClientHandler means a client does not use the Mining Protocol.
	NullMiningClientHandler struct{ nullClient }
	// NullJobDeclarationClientHandler means a client does not use the Job Declaration Protocol.
	NullJobDeclarationClientHandler struct{ nullClient }
	// NullTemplateDistributionClientHandler means a client does not use the Template Distribution Protocol.
	NullTemplateDistributionClientHandler struct{ nullClient }
)

var (
	_ MiningServerHandler               = NullMiningServerHandler{}
	_ JobDeclarationServerHandler       = NullJobDeclarationServerHandler{}
	_ TemplateDistributionServerHandler = NullTemplateDistributionServerHandler{}
	_ MiningClientHandler               = NullMiningClientHandler{}
	_ JobDeclarationClientHandler       = NullJobDeclarationClientHandler{}
	_ TemplateDistributionClientHandler = NullTemplateDistributionClientHandler{}
)

// isNull reports whether h means "unsupported": nil, or one of the Null
// handlers itself (a type that embeds one is a real handler).
func isNull(h any) bool {
	switch h.(type) {
	case nil,
		NullMiningServerHandler, *NullMiningServerHandler,
		NullJobDeclarationServerHandler, *NullJobDeclarationServerHandler,
		NullTemplateDistributionServerHandler, *NullTemplateDistributionServerHandler,
		NullMiningClientHandler, *NullMiningClientHandler,
		NullJobDeclarationClientHandler, *NullJobDeclarationClientHandler,
		NullTemplateDistributionClientHandler, *NullTemplateDistributionClientHandler:
		return true
	}
	return false
}

// nullServer and nullClient hold the lifecycle methods the Null handlers share.
type nullServer struct{}

func (nullServer) Start(context.Context) ([]ServerEvent, error)                   { return nil, nil }
func (nullServer) Flags(uint32) (uint32, uint32)                                  { return 0, 0 }
func (nullServer) ClientAdded(context.Context, ClientInfo) ([]ServerEvent, error) { return nil, nil }
func (nullServer) HandleEvent(context.Context, any) ([]ServerEvent, error)        { return nil, nil }
func (nullServer) HandleClientEvent(context.Context, ClientID, any) ([]ServerEvent, error) {
	return nil, nil
}
func (nullServer) ClientRemoved(context.Context, ClientInfo, error) ([]ServerEvent, error) {
	return nil, nil
}

type nullClient struct{}

func (nullClient) Start(context.Context) ([]ClientEvent, error)                 { return nil, nil }
func (nullClient) Connected(context.Context, ServerInfo) ([]ClientEvent, error) { return nil, nil }
func (nullClient) Disconnected(context.Context, error) ([]ClientEvent, error)   { return nil, nil }
func (nullClient) HandleEvent(context.Context, any) ([]ClientEvent, error)      { return nil, nil }

func (NullMiningServerHandler) OpenStandardMiningChannel(context.Context, ClientID, *sv2.OpenStandardMiningChannel) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningServerHandler) OpenExtendedMiningChannel(context.Context, ClientID, *sv2.OpenExtendedMiningChannel) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningServerHandler) UpdateChannel(context.Context, ClientID, *sv2.UpdateChannel) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningServerHandler) CloseChannel(context.Context, ClientID, *sv2.CloseChannel) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningServerHandler) SubmitSharesStandard(context.Context, ClientID, *sv2.SubmitSharesStandard) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningServerHandler) SubmitSharesExtended(context.Context, ClientID, *sv2.SubmitSharesExtended) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningServerHandler) SetCustomMiningJob(context.Context, ClientID, *sv2.SetCustomMiningJob) ([]ServerEvent, error) {
	return nil, nil
}

func (NullJobDeclarationServerHandler) AllocateMiningJobToken(context.Context, ClientID, *sv2.AllocateMiningJobToken) ([]ServerEvent, error) {
	return nil, nil
}

func (NullJobDeclarationServerHandler) DeclareMiningJob(context.Context, ClientID, *sv2.DeclareMiningJob) ([]ServerEvent, error) {
	return nil, nil
}

func (NullJobDeclarationServerHandler) ProvideMissingTransactionsSuccess(context.Context, ClientID, *sv2.ProvideMissingTransactionsSuccess) ([]ServerEvent, error) {
	return nil, nil
}

func (NullJobDeclarationServerHandler) PushSolution(context.Context, ClientID, *sv2.PushSolution) ([]ServerEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionServerHandler) CoinbaseOutputConstraints(context.Context, ClientID, *sv2.CoinbaseOutputConstraints) ([]ServerEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionServerHandler) RequestTransactionData(context.Context, ClientID, *sv2.RequestTransactionData) ([]ServerEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionServerHandler) SubmitSolution(context.Context, ClientID, *sv2.SubmitSolution) ([]ServerEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) OpenStandardMiningChannelSuccess(context.Context, *sv2.OpenStandardMiningChannelSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) OpenExtendedMiningChannelSuccess(context.Context, *sv2.OpenExtendedMiningChannelSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) OpenMiningChannelError(context.Context, *sv2.OpenMiningChannelError) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) UpdateChannelError(context.Context, *sv2.UpdateChannelError) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) CloseChannel(context.Context, *sv2.CloseChannel) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SetExtranoncePrefix(context.Context, *sv2.SetExtranoncePrefix) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SubmitSharesSuccess(context.Context, *sv2.SubmitSharesSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SubmitSharesError(context.Context, *sv2.SubmitSharesError) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) NewMiningJob(context.Context, *sv2.NewMiningJob) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) NewExtendedMiningJob(context.Context, *sv2.NewExtendedMiningJob) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SetNewPrevHash(context.Context, *sv2.SetNewPrevHash) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SetCustomMiningJobSuccess(context.Context, *sv2.SetCustomMiningJobSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SetCustomMiningJobError(context.Context, *sv2.SetCustomMiningJobError) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SetTarget(context.Context, *sv2.SetTarget) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) SetGroupChannel(context.Context, *sv2.SetGroupChannel) ([]ClientEvent, error) {
	return nil, nil
}

func (NullMiningClientHandler) ChannelEndpointChanged(context.Context, *sv2.ChannelEndpointChanged) ([]ClientEvent, error) {
	return nil, nil
}

func (NullJobDeclarationClientHandler) AllocateMiningJobTokenSuccess(context.Context, *sv2.AllocateMiningJobTokenSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullJobDeclarationClientHandler) DeclareMiningJobSuccess(context.Context, *sv2.DeclareMiningJobSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullJobDeclarationClientHandler) DeclareMiningJobError(context.Context, *sv2.DeclareMiningJobError) ([]ClientEvent, error) {
	return nil, nil
}

func (NullJobDeclarationClientHandler) ProvideMissingTransactions(context.Context, *sv2.ProvideMissingTransactions) ([]ClientEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionClientHandler) NewTemplate(context.Context, *sv2.NewTemplate) ([]ClientEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionClientHandler) SetNewPrevHash(context.Context, *sv2.TemplateSetNewPrevHash) ([]ClientEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionClientHandler) RequestTransactionDataSuccess(context.Context, *sv2.RequestTransactionDataSuccess) ([]ClientEvent, error) {
	return nil, nil
}

func (NullTemplateDistributionClientHandler) RequestTransactionDataError(context.Context, *sv2.RequestTransactionDataError) ([]ClientEvent, error) {
	return nil, nil
}
