package sv2

import (
	"bytes"
	"math"
	"strings"
)

func hash(b byte) (h U256) {
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func path(n int) []U256 {
	p := make([]U256, n)
	for i := range p {
		p[i] = hash(byte(i * 7))
	}
	return p
}

// samples returns populated values of every core message, some of them
// several times with edge values (empty, maximum lengths, options unset).
func samples() []Message {
	maxStr := string(bytes.Repeat([]byte{'x'}, MaxStr0_255))
	return []Message{
		&SetupConnection{Protocol: ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: 0b101, EndpointHost: "pool.example.org", EndpointPort: 34254,
			Vendor: "stratumgo", HardwareVersion: "cpu", Firmware: "v0.1.0", DeviceID: "dev-1"},
		&SetupConnection{Protocol: ProtocolTemplateDistribution, MinVersion: 2, MaxVersion: 3, Vendor: maxStr, DeviceID: "\xff\xfe not utf-8"},
		&SetupConnectionSuccess{UsedVersion: 2, Flags: 0b11},
		&SetupConnectionError{Flags: 0b100, ErrorCode: "unsupported-feature-flags"},
		&ChannelEndpointChanged{ChannelID: 7},
		&Reconnect{NewHost: "backup.example.org", NewPort: 3333},
		&Reconnect{},
		&OpenStandardMiningChannel{RequestID: 1, UserIdentity: "alice.worker1", NominalHashRate: 1.5e12, MaxTarget: hash(0xf0)},
		&OpenStandardMiningChannel{RequestID: math.MaxUint32, NominalHashRate: float32(math.Inf(1))},
		&OpenStandardMiningChannelSuccess{RequestID: 1, ChannelID: 2, Target: hash(3), ExtranoncePrefix: []byte{1, 2, 3, 4}, GroupChannelID: 9},
		&OpenMiningChannelError{RequestID: 5, ErrorCode: "max-target-out-of-range"},
		&OpenExtendedMiningChannel{RequestID: 2, UserIdentity: "bob", NominalHashRate: 1e9, MaxTarget: hash(0x11), MinExtranonceSize: 8},
		&OpenExtendedMiningChannelSuccess{RequestID: 2, ChannelID: 3, Target: hash(0x22), ExtranonceSize: 16, ExtranoncePrefix: bytes.Repeat([]byte{0xab}, MaxB0_32), GroupChannelID: 1},
		&NewMiningJob{ChannelID: 3, JobID: 4, MinNTime: Some[uint32](1700000000), Version: 0x20000000, MerkleRoot: hash(0x33)},
		&NewMiningJob{ChannelID: 3, JobID: 5, Version: 0x20000000, MerkleRoot: hash(0x34)},
		&UpdateChannel{ChannelID: 3, NominalHashRate: 2.5e6, MaximumTarget: hash(0x44)},
		&UpdateChannelError{ChannelID: 3, ErrorCode: "invalid-channel-id"},
		&CloseChannel{ChannelID: 3, ReasonCode: "shutdown"},
		&SetExtranoncePrefix{ChannelID: 3, ExtranoncePrefix: []byte{9, 8, 7}},
		&SubmitSharesStandard{ChannelID: 3, SequenceNumber: 10, JobID: 4, Nonce: 0xdeadbeef, NTime: 1700000001, Version: 0x20000000},
		&SubmitSharesExtended{ChannelID: 3, SequenceNumber: 11, JobID: 4, Nonce: 1, NTime: 2, Version: 3, Extranonce: []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		&SubmitSharesExtended{ChannelID: 3, SequenceNumber: 12, JobID: 4, Nonce: 2, NTime: 2, Version: 3, Extranonce: []byte{1},
			TLVs: []TLV{WorkerIdentityTLV("Worker_001")}},
		&SubmitSharesExtended{ChannelID: 3, SequenceNumber: 13, JobID: 4, Nonce: 3, NTime: 2, Version: 3,
			TLVs: []TLV{WorkerIdentityTLV(strings.Repeat("w", MaxUserIdentityTLV)), {Extension: 0x4001, Field: 7}, {Extension: 0x4001, Field: 1, Value: bytes.Repeat([]byte{0xee}, 300)}}},
		&SubmitSharesSuccess{ChannelID: 3, LastSequenceNumber: 11, NewSubmitsAcceptedCount: 2, NewSharesSum: math.MaxUint64},
		&SubmitSharesError{ChannelID: 3, SequenceNumber: 12, ErrorCode: "stale-share"},
		&NewExtendedMiningJob{ChannelID: 3, JobID: 6, MinNTime: Some[uint32](0), Version: 0x20000000, VersionRollingAllowed: true, MerklePath: path(12),
			CoinbaseTxPrefix: []byte{2, 0, 0, 0, 1}, CoinbaseTxSuffix: []byte{0xff, 0xff, 0xff, 0xff}},
		&NewExtendedMiningJob{ChannelID: 3, JobID: 7, MerklePath: path(MaxSeq0_255), CoinbaseTxPrefix: bytes.Repeat([]byte{1}, MaxB0_64K)},
		&SetNewPrevHash{ChannelID: 3, JobID: 6, PrevHash: hash(0x55), MinNTime: 1700000000, NBits: 0x207fffff},
		&SetTarget{ChannelID: 3, MaximumTarget: hash(0x66)},
		&SetCustomMiningJob{ChannelID: 3, RequestID: 8, MiningJobToken: []byte("token"), Version: 0x20000000, PrevHash: hash(0x77), MinNTime: 1, NBits: 2,
			CoinbaseTxVersion: 2, CoinbasePrefix: []byte{3, 0x01, 0x21, 0x00}, CoinbaseTxInputNSequence: 0xffffffff, CoinbaseTxOutputs: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x6a},
			CoinbaseTxLocktime: 100, MerklePath: path(3)},
		&SetCustomMiningJobSuccess{ChannelID: 3, RequestID: 8, JobID: 9},
		&SetCustomMiningJobError{ChannelID: 3, RequestID: 8, ErrorCode: "jd-not-supported"},
		&SetGroupChannel{GroupChannelID: 1, ChannelIDs: []uint32{2, 3, 4}},
		&SetGroupChannel{GroupChannelID: 1},
		&AllocateMiningJobToken{UserIdentifier: "jdc-1", RequestID: 1},
		&AllocateMiningJobTokenSuccess{RequestID: 1, MiningJobToken: []byte{1, 2}, CoinbaseTxOutputs: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x51, 0x20}},
		&ProvideMissingTransactions{RequestID: 2, UnknownTxPositionList: []uint16{0, 5, 65535}},
		&ProvideMissingTransactionsSuccess{RequestID: 2, TransactionList: [][]byte{{1, 2, 3}, nil, bytes.Repeat([]byte{7}, 70000)}},
		&DeclareMiningJob{RequestID: 3, MiningJobToken: []byte("tok"), Version: 0x20000000, CoinbaseTxPrefix: []byte{2, 0, 0, 0, 0, 1}, CoinbaseTxSuffix: []byte{0, 0, 0, 0},
			WtxidList: path(5), ExcessData: []byte{}},
		&DeclareMiningJobSuccess{RequestID: 3, NewMiningJobToken: []byte("new")},
		&DeclareMiningJobError{RequestID: 3, ErrorCode: "invalid-mining-job-token", ErrorDetails: []byte{0xde, 0xad}},
		&PushSolution{Extranonce: []byte{1, 2, 3, 4, 5, 6, 7, 8}, PrevHash: hash(0x88), Nonce: 42, NTime: 1700000002, NBits: 0x207fffff, Version: 0x20000004},
		&CoinbaseOutputConstraints{CoinbaseOutputMaxAdditionalSize: 100, CoinbaseOutputMaxAdditionalSigops: 4},
		&NewTemplate{TemplateID: 1 << 40, FutureTemplate: true, Version: 0x20000000, CoinbaseTxVersion: 2, CoinbasePrefix: []byte{3, 1, 2, 3}, CoinbaseTxInputSequence: 0xffffffff,
			CoinbaseTxValueRemaining: 5000000000, CoinbaseTxOutputsCount: 1, CoinbaseTxOutputs: []byte{0, 0, 0, 0, 0, 0, 0, 0, 2, 0x6a, 0x00}, CoinbaseTxLocktime: 0, MerklePath: path(2)},
		&TemplateSetNewPrevHash{TemplateID: 1 << 40, PrevHash: hash(0x99), HeaderTimestamp: 1700000003, NBits: 0x207fffff, Target: hash(0xaa)},
		&RequestTransactionData{TemplateID: 7},
		&RequestTransactionDataSuccess{TemplateID: 7, ExcessData: []byte{1}, TransactionList: [][]byte{{0x02, 0, 0, 0}, {0x01}}},
		&RequestTransactionDataError{TemplateID: 7, ErrorCode: "template-id-not-found"},
		&SubmitSolution{TemplateID: 7, Version: 0x20000000, HeaderTimestamp: 1700000004, HeaderNonce: 99, CoinbaseTx: []byte{2, 0, 0, 0, 0, 1, 1}},
		// Extensions Negotiation (extension 0x0001).
		&RequestExtensions{RequestID: 1, RequestedExtensions: []uint16{ExtensionWorkerHashrate, 0x0003}},
		&RequestExtensions{RequestID: 0xffff},
		&RequestExtensionsSuccess{RequestID: 1, SupportedExtensions: []uint16{ExtensionWorkerHashrate}},
		&RequestExtensionsSuccess{RequestID: 2},
		&RequestExtensionsError{RequestID: 1, UnsupportedExtensions: []uint16{0x0003}, RequiredExtensions: []uint16{0x0005, 0x4000}},
		&RequestExtensionsError{RequestID: 2},
	}
}
