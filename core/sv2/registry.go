package sv2

import "fmt"

// Protocol identifies a subprotocol, as in SetupConnection.protocol (§3.6.1).
type Protocol uint8

// The three subprotocols. ProtocolCommon is not a wire value: it marks the
// messages of §3.6 that every subprotocol uses, and those of Extensions
// Negotiation, sent after SetupConnection on any subprotocol.
const (
	ProtocolMining               Protocol = 0
	ProtocolJobDeclaration       Protocol = 1
	ProtocolTemplateDistribution Protocol = 2
	ProtocolCommon               Protocol = 0xff
)

func (p Protocol) String() string {
	switch p {
	case ProtocolMining:
		return "mining"
	case ProtocolJobDeclaration:
		return "job-declaration"
	case ProtocolTemplateDistribution:
		return "template-distribution"
	case ProtocolCommon:
		return "common"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// MessageInfo describes one message type: of the core specification (§8) or
// of an extension this package implements.
type MessageInfo struct {
	// Extension is the extension_type of the extension that defined the
	// message, which frames carrying it have in their header (§3.4.1): 0 for
	// the core specification, ExtensionNegotiation for RequestExtensions and
	// its answers. It never includes the channel_msg bit.
	Extension  uint16
	Type       uint8    // msg_type, unique within the extension
	Name       string   // name as written in §8 or the extension, e.g. "SetupConnection.Success"
	Protocol   Protocol // the subprotocol it belongs to, or ProtocolCommon
	ChannelMsg bool     // whether frames carrying it have the channel_msg bit set
	new        func() Message
}

// New returns a new zero message of this type, ready for DecodePayload. For a
// MessageInfo not obtained from this package it returns an *Unknown.
func (i MessageInfo) New() Message {
	if i.new == nil {
		return &Unknown{ExtensionType: i.Extension &^ ChannelMsgBit, Type: i.Type, ChannelMsg: i.ChannelMsg}
	}
	return i.new()
}

// UsableOn reports whether the message may be sent on a connection set up for protocol p.
func (i MessageInfo) UsableOn(p Protocol) bool {
	return i.Protocol == ProtocolCommon || i.Protocol == p
}

// messages lists every core message in §8 order.
var messages = [...]MessageInfo{
	{Type: MsgTypeSetupConnection, Name: "SetupConnection", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(SetupConnection) }},
	{Type: MsgTypeSetupConnectionSuccess, Name: "SetupConnection.Success", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(SetupConnectionSuccess) }},
	{Type: MsgTypeSetupConnectionError, Name: "SetupConnection.Error", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(SetupConnectionError) }},
	{Type: MsgTypeChannelEndpointChanged, Name: "ChannelEndpointChanged", Protocol: ProtocolCommon, ChannelMsg: true, new: func() Message { return new(ChannelEndpointChanged) }},
	{Type: MsgTypeReconnect, Name: "Reconnect", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(Reconnect) }},
	{Type: MsgTypeOpenStandardMiningChannel, Name: "OpenStandardMiningChannel", Protocol: ProtocolMining, ChannelMsg: false, new: func() Message { return new(OpenStandardMiningChannel) }},
	{Type: MsgTypeOpenStandardMiningChannelSuccess, Name: "OpenStandardMiningChannel.Success", Protocol: ProtocolMining, ChannelMsg: false, new: func() Message { return new(OpenStandardMiningChannelSuccess) }},
	{Type: MsgTypeOpenMiningChannelError, Name: "OpenMiningChannel.Error", Protocol: ProtocolMining, ChannelMsg: false, new: func() Message { return new(OpenMiningChannelError) }},
	{Type: MsgTypeOpenExtendedMiningChannel, Name: "OpenExtendedMiningChannel", Protocol: ProtocolMining, ChannelMsg: false, new: func() Message { return new(OpenExtendedMiningChannel) }},
	{Type: MsgTypeOpenExtendedMiningChannelSuccess, Name: "OpenExtendedMiningChannel.Success", Protocol: ProtocolMining, ChannelMsg: false, new: func() Message { return new(OpenExtendedMiningChannelSuccess) }},
	{Type: MsgTypeNewMiningJob, Name: "NewMiningJob", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(NewMiningJob) }},
	{Type: MsgTypeUpdateChannel, Name: "UpdateChannel", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(UpdateChannel) }},
	{Type: MsgTypeUpdateChannelError, Name: "UpdateChannel.Error", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(UpdateChannelError) }},
	{Type: MsgTypeCloseChannel, Name: "CloseChannel", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(CloseChannel) }},
	{Type: MsgTypeSetExtranoncePrefix, Name: "SetExtranoncePrefix", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SetExtranoncePrefix) }},
	{Type: MsgTypeSubmitSharesStandard, Name: "SubmitSharesStandard", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SubmitSharesStandard) }},
	{Type: MsgTypeSubmitSharesExtended, Name: "SubmitSharesExtended", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SubmitSharesExtended) }},
	{Type: MsgTypeSubmitSharesSuccess, Name: "SubmitShares.Success", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SubmitSharesSuccess) }},
	{Type: MsgTypeSubmitSharesError, Name: "SubmitShares.Error", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SubmitSharesError) }},
	{Type: MsgTypeNewExtendedMiningJob, Name: "NewExtendedMiningJob", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(NewExtendedMiningJob) }},
	{Type: MsgTypeSetNewPrevHash, Name: "SetNewPrevHash", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SetNewPrevHash) }},
	{Type: MsgTypeSetTarget, Name: "SetTarget", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SetTarget) }},
	{Type: MsgTypeSetCustomMiningJob, Name: "SetCustomMiningJob", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SetCustomMiningJob) }},
	{Type: MsgTypeSetCustomMiningJobSuccess, Name: "SetCustomMiningJob.Success", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SetCustomMiningJobSuccess) }},
	{Type: MsgTypeSetCustomMiningJobError, Name: "SetCustomMiningJob.Error", Protocol: ProtocolMining, ChannelMsg: true, new: func() Message { return new(SetCustomMiningJobError) }},
	{Type: MsgTypeSetGroupChannel, Name: "SetGroupChannel", Protocol: ProtocolMining, ChannelMsg: false, new: func() Message { return new(SetGroupChannel) }},
	{Type: MsgTypeAllocateMiningJobToken, Name: "AllocateMiningJobToken", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(AllocateMiningJobToken) }},
	{Type: MsgTypeAllocateMiningJobTokenSuccess, Name: "AllocateMiningJobToken.Success", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(AllocateMiningJobTokenSuccess) }},
	{Type: MsgTypeProvideMissingTransactions, Name: "ProvideMissingTransactions", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(ProvideMissingTransactions) }},
	{Type: MsgTypeProvideMissingTransactionsSuccess, Name: "ProvideMissingTransactions.Success", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(ProvideMissingTransactionsSuccess) }},
	{Type: MsgTypeDeclareMiningJob, Name: "DeclareMiningJob", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(DeclareMiningJob) }},
	{Type: MsgTypeDeclareMiningJobSuccess, Name: "DeclareMiningJob.Success", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(DeclareMiningJobSuccess) }},
	{Type: MsgTypeDeclareMiningJobError, Name: "DeclareMiningJob.Error", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(DeclareMiningJobError) }},
	{Type: MsgTypePushSolution, Name: "PushSolution", Protocol: ProtocolJobDeclaration, ChannelMsg: false, new: func() Message { return new(PushSolution) }},
	{Type: MsgTypeCoinbaseOutputConstraints, Name: "CoinbaseOutputConstraints", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(CoinbaseOutputConstraints) }},
	{Type: MsgTypeNewTemplate, Name: "NewTemplate", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(NewTemplate) }},
	{Type: MsgTypeTemplateSetNewPrevHash, Name: "SetNewPrevHash", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(TemplateSetNewPrevHash) }},
	{Type: MsgTypeRequestTransactionData, Name: "RequestTransactionData", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(RequestTransactionData) }},
	{Type: MsgTypeRequestTransactionDataSuccess, Name: "RequestTransactionData.Success", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(RequestTransactionDataSuccess) }},
	{Type: MsgTypeRequestTransactionDataError, Name: "RequestTransactionData.Error", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(RequestTransactionDataError) }},
	{Type: MsgTypeSubmitSolution, Name: "SubmitSolution", Protocol: ProtocolTemplateDistribution, ChannelMsg: false, new: func() Message { return new(SubmitSolution) }},
}

// extensionMessages lists the messages of the extensions this package
// implements, by extension type then message type. The three of Extensions
// Negotiation flow on any subprotocol after SetupConnection: RequestExtensions
// from client to server, its answers from server to client (extension 0x0001).
var extensionMessages = [...]MessageInfo{
	{Extension: ExtensionNegotiation, Type: MsgTypeRequestExtensions, Name: "RequestExtensions", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(RequestExtensions) }},
	{Extension: ExtensionNegotiation, Type: MsgTypeRequestExtensionsSuccess, Name: "RequestExtensions.Success", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(RequestExtensionsSuccess) }},
	{Extension: ExtensionNegotiation, Type: MsgTypeRequestExtensionsError, Name: "RequestExtensions.Error", Protocol: ProtocolCommon, ChannelMsg: false, new: func() Message { return new(RequestExtensionsError) }},
}

// lookupExtension finds a message of extension ext (without the channel_msg bit) in extensionMessages.
func lookupExtension(ext uint16, msgType uint8) *MessageInfo {
	for i := range extensionMessages {
		if extensionMessages[i].Extension == ext && extensionMessages[i].Type == msgType {
			return &extensionMessages[i]
		}
	}
	return nil
}

// byType indexes messages by msg_type; core message types are unique across subprotocols.
var byType = func() (t [256]*MessageInfo) {
	for i := range messages {
		t[messages[i].Type] = &messages[i]
	}
	return t
}()

// Lookup returns the message with the given extension type and message type.
// The channel_msg bit of extensionType is ignored, as §3.2.1 requires. Known
// are extension 0 (the core specification) and ExtensionNegotiation.
// Extensions that only add TLV fields, like ExtensionWorkerHashrate, have no
// message of their own.
func Lookup(extensionType uint16, msgType uint8) (MessageInfo, bool) {
	ext := extensionType &^ ChannelMsgBit
	if ext == 0 {
		if i := byType[msgType]; i != nil {
			return *i, true
		}
		return MessageInfo{}, false
	}
	if i := lookupExtension(ext, msgType); i != nil {
		return *i, true
	}
	return MessageInfo{}, false
}

// Messages returns a description of every message this package knows: the
// core messages in §8 order, then those of extensions, by extension type and
// message type. MessageInfo.Extension tells them apart.
func Messages() []MessageInfo {
	all := make([]MessageInfo, 0, len(messages)+len(extensionMessages))
	return append(append(all, messages[:]...), extensionMessages[:]...)
}

// Info returns the description of a message. For *Unknown it is built from the
// message's header fields, with Protocol ProtocolCommon: an extension may apply
// to any subprotocol. A message implementing ExtensionMessage is looked up in
// its extension, any other by msg_type among the core messages.
func Info(m Message) MessageInfo {
	switch m := m.(type) {
	case *Unknown:
		ext, typ, ch := m.ExtensionType&^ChannelMsgBit, m.Type, m.ChannelMsg
		return MessageInfo{Extension: ext, Type: typ, Name: m.name(), Protocol: ProtocolCommon, ChannelMsg: ch,
			new: func() Message { return &Unknown{ExtensionType: ext, Type: typ, ChannelMsg: ch} }}
	case ExtensionMessage:
		ext := m.Extension() &^ ChannelMsgBit
		if i := lookupExtension(ext, m.MsgType()); i != nil {
			return *i
		}
		_, ch := m.(ChannelMessage)
		return MessageInfo{Extension: ext, Type: m.MsgType(), Name: fmt.Sprintf("message 0x%02x of extension 0x%04x", m.MsgType(), ext),
			Protocol: ProtocolCommon, ChannelMsg: ch}
	}
	if i := byType[m.MsgType()]; i != nil {
		return *i
	}
	return MessageInfo{Type: m.MsgType(), Name: fmt.Sprintf("message 0x%02x", m.MsgType())}
}
