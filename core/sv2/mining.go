package sv2

// Mining Protocol message types (§5.3, §8).
const (
	MsgTypeOpenStandardMiningChannel        uint8 = 0x10
	MsgTypeOpenStandardMiningChannelSuccess uint8 = 0x11
	MsgTypeOpenMiningChannelError           uint8 = 0x12
	MsgTypeOpenExtendedMiningChannel        uint8 = 0x13
	MsgTypeOpenExtendedMiningChannelSuccess uint8 = 0x14
	MsgTypeNewMiningJob                     uint8 = 0x15
	MsgTypeUpdateChannel                    uint8 = 0x16
	MsgTypeUpdateChannelError               uint8 = 0x17
	MsgTypeCloseChannel                     uint8 = 0x18
	MsgTypeSetExtranoncePrefix              uint8 = 0x19
	MsgTypeSubmitSharesStandard             uint8 = 0x1a
	MsgTypeSubmitSharesExtended             uint8 = 0x1b
	MsgTypeSubmitSharesSuccess              uint8 = 0x1c
	MsgTypeSubmitSharesError                uint8 = 0x1d
	MsgTypeNewExtendedMiningJob             uint8 = 0x1f
	MsgTypeSetNewPrevHash                   uint8 = 0x20
	MsgTypeSetTarget                        uint8 = 0x21
	MsgTypeSetCustomMiningJob               uint8 = 0x22
	MsgTypeSetCustomMiningJobSuccess        uint8 = 0x23
	MsgTypeSetCustomMiningJobError          uint8 = 0x24
	MsgTypeSetGroupChannel                  uint8 = 0x25
)

// OpenStandardMiningChannel asks the server for a standard channel, whose jobs come with a ready
// merkle root (§5.3.2).
type OpenStandardMiningChannel struct {
	RequestID       uint32  `sv2:"request_id"`
	UserIdentity    string  `sv2:"user_identity"`
	NominalHashRate float32 `sv2:"nominal_hash_rate"`
	MaxTarget       U256    `sv2:"max_target"`
}

func (*OpenStandardMiningChannel) MsgType() uint8 { return MsgTypeOpenStandardMiningChannel }

func (m *OpenStandardMiningChannel) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "OpenStandardMiningChannel"}
	w.u32(m.RequestID)
	w.str0_255("user_identity", m.UserIdentity)
	w.f32(m.NominalHashRate)
	w.u256(&m.MaxTarget)
	return w.result(dst)
}

func (m *OpenStandardMiningChannel) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "OpenStandardMiningChannel"}
	v := OpenStandardMiningChannel{
		RequestID:       r.u32("request_id"),
		UserIdentity:    r.str0_255("user_identity"),
		NominalHashRate: r.f32("nominal_hash_rate"),
		MaxTarget:       r.u256("max_target"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// OpenStandardMiningChannelSuccess assigns the requested standard channel its id, initial target,
// extranonce prefix and group (§5.3.3).
type OpenStandardMiningChannelSuccess struct {
	RequestID        uint32 `sv2:"request_id"`
	ChannelID        uint32 `sv2:"channel_id"`
	Target           U256   `sv2:"target"`
	ExtranoncePrefix []byte `sv2:"extranonce_prefix"`
	GroupChannelID   uint32 `sv2:"group_channel_id"`
}

func (*OpenStandardMiningChannelSuccess) MsgType() uint8 {
	return MsgTypeOpenStandardMiningChannelSuccess
}

func (m *OpenStandardMiningChannelSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "OpenStandardMiningChannel.Success"}
	w.u32(m.RequestID)
	w.u32(m.ChannelID)
	w.u256(&m.Target)
	w.b0_32("extranonce_prefix", m.ExtranoncePrefix)
	w.u32(m.GroupChannelID)
	return w.result(dst)
}

func (m *OpenStandardMiningChannelSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "OpenStandardMiningChannel.Success"}
	v := OpenStandardMiningChannelSuccess{
		RequestID:        r.u32("request_id"),
		ChannelID:        r.u32("channel_id"),
		Target:           r.u256("target"),
		ExtranoncePrefix: r.b0_32("extranonce_prefix"),
		GroupChannelID:   r.u32("group_channel_id"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// OpenMiningChannelError refuses an OpenStandardMiningChannel or OpenExtendedMiningChannel
// (§5.3.6).
type OpenMiningChannelError struct {
	RequestID uint32 `sv2:"request_id"`
	ErrorCode string `sv2:"error_code"`
}

func (*OpenMiningChannelError) MsgType() uint8 { return MsgTypeOpenMiningChannelError }

func (m *OpenMiningChannelError) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "OpenMiningChannel.Error"}
	w.u32(m.RequestID)
	w.str0_255("error_code", m.ErrorCode)
	return w.result(dst)
}

func (m *OpenMiningChannelError) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "OpenMiningChannel.Error"}
	v := OpenMiningChannelError{
		RequestID: r.u32("request_id"),
		ErrorCode: r.str0_255("error_code"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// OpenExtendedMiningChannel asks the server for an extended channel, whose jobs carry the
// coinbase and merkle path so the client rolls its own extranonce (§5.3.4).
type OpenExtendedMiningChannel struct {
	RequestID         uint32  `sv2:"request_id"`
	UserIdentity      string  `sv2:"user_identity"`
	NominalHashRate   float32 `sv2:"nominal_hash_rate"`
	MaxTarget         U256    `sv2:"max_target"`
	MinExtranonceSize uint16  `sv2:"min_extranonce_size"`
}

func (*OpenExtendedMiningChannel) MsgType() uint8 { return MsgTypeOpenExtendedMiningChannel }

func (m *OpenExtendedMiningChannel) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "OpenExtendedMiningChannel"}
	w.u32(m.RequestID)
	w.str0_255("user_identity", m.UserIdentity)
	w.f32(m.NominalHashRate)
	w.u256(&m.MaxTarget)
	w.u16(m.MinExtranonceSize)
	return w.result(dst)
}

func (m *OpenExtendedMiningChannel) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "OpenExtendedMiningChannel"}
	v := OpenExtendedMiningChannel{
		RequestID:         r.u32("request_id"),
		UserIdentity:      r.str0_255("user_identity"),
		NominalHashRate:   r.f32("nominal_hash_rate"),
		MaxTarget:         r.u256("max_target"),
		MinExtranonceSize: r.u16("min_extranonce_size"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// OpenExtendedMiningChannelSuccess assigns the requested extended channel its id, initial target,
// extranonce size and prefix, and group (§5.3.5).
type OpenExtendedMiningChannelSuccess struct {
	RequestID        uint32 `sv2:"request_id"`
	ChannelID        uint32 `sv2:"channel_id"`
	Target           U256   `sv2:"target"`
	ExtranonceSize   uint16 `sv2:"extranonce_size"`
	ExtranoncePrefix []byte `sv2:"extranonce_prefix"`
	GroupChannelID   uint32 `sv2:"group_channel_id"`
}

func (*OpenExtendedMiningChannelSuccess) MsgType() uint8 {
	return MsgTypeOpenExtendedMiningChannelSuccess
}

func (m *OpenExtendedMiningChannelSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "OpenExtendedMiningChannel.Success"}
	w.u32(m.RequestID)
	w.u32(m.ChannelID)
	w.u256(&m.Target)
	w.u16(m.ExtranonceSize)
	w.b0_32("extranonce_prefix", m.ExtranoncePrefix)
	w.u32(m.GroupChannelID)
	return w.result(dst)
}

func (m *OpenExtendedMiningChannelSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "OpenExtendedMiningChannel.Success"}
	v := OpenExtendedMiningChannelSuccess{
		RequestID:        r.u32("request_id"),
		ChannelID:        r.u32("channel_id"),
		Target:           r.u256("target"),
		ExtranonceSize:   r.u16("extranonce_size"),
		ExtranoncePrefix: r.b0_32("extranonce_prefix"),
		GroupChannelID:   r.u32("group_channel_id"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// NewMiningJob gives a standard channel a job with a ready merkle root; without MinNTime it is a
// future job, activated by a SetNewPrevHash naming it (§5.3.15).
type NewMiningJob struct {
	ChannelID  uint32         `sv2:"channel_id"`
	JobID      uint32         `sv2:"job_id"`
	MinNTime   Option[uint32] `sv2:"min_ntime"`
	Version    uint32         `sv2:"version"`
	MerkleRoot U256           `sv2:"merkle_root"`
}

func (*NewMiningJob) MsgType() uint8 { return MsgTypeNewMiningJob }

func (m *NewMiningJob) Channel() uint32 { return m.ChannelID }

func (m *NewMiningJob) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "NewMiningJob"}
	w.u32(m.ChannelID)
	w.u32(m.JobID)
	w.optionU32(m.MinNTime)
	w.u32(m.Version)
	w.u256(&m.MerkleRoot)
	return w.result(dst)
}

func (m *NewMiningJob) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "NewMiningJob"}
	v := NewMiningJob{
		ChannelID:  r.u32("channel_id"),
		JobID:      r.u32("job_id"),
		MinNTime:   r.optionU32("min_ntime"),
		Version:    r.u32("version"),
		MerkleRoot: r.u256("merkle_root"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// UpdateChannel reports a channel's new nominal hashrate and the maximum target its devices
// accept (§5.3.7).
type UpdateChannel struct {
	ChannelID       uint32  `sv2:"channel_id"`
	NominalHashRate float32 `sv2:"nominal_hash_rate"`
	MaximumTarget   U256    `sv2:"maximum_target"`
}

func (*UpdateChannel) MsgType() uint8 { return MsgTypeUpdateChannel }

func (m *UpdateChannel) Channel() uint32 { return m.ChannelID }

func (m *UpdateChannel) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "UpdateChannel"}
	w.u32(m.ChannelID)
	w.f32(m.NominalHashRate)
	w.u256(&m.MaximumTarget)
	return w.result(dst)
}

func (m *UpdateChannel) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "UpdateChannel"}
	v := UpdateChannel{
		ChannelID:       r.u32("channel_id"),
		NominalHashRate: r.f32("nominal_hash_rate"),
		MaximumTarget:   r.u256("maximum_target"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// UpdateChannelError refuses an UpdateChannel (§5.3.8).
type UpdateChannelError struct {
	ChannelID uint32 `sv2:"channel_id"`
	ErrorCode string `sv2:"error_code"`
}

func (*UpdateChannelError) MsgType() uint8 { return MsgTypeUpdateChannelError }

func (m *UpdateChannelError) Channel() uint32 { return m.ChannelID }

func (m *UpdateChannelError) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "UpdateChannel.Error"}
	w.u32(m.ChannelID)
	w.str0_255("error_code", m.ErrorCode)
	return w.result(dst)
}

func (m *UpdateChannelError) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "UpdateChannel.Error"}
	v := UpdateChannelError{
		ChannelID: r.u32("channel_id"),
		ErrorCode: r.str0_255("error_code"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// CloseChannel ends a channel; either side may send it (§5.3.9).
type CloseChannel struct {
	ChannelID  uint32 `sv2:"channel_id"`
	ReasonCode string `sv2:"reason_code"`
}

func (*CloseChannel) MsgType() uint8 { return MsgTypeCloseChannel }

func (m *CloseChannel) Channel() uint32 { return m.ChannelID }

func (m *CloseChannel) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "CloseChannel"}
	w.u32(m.ChannelID)
	w.str0_255("reason_code", m.ReasonCode)
	return w.result(dst)
}

func (m *CloseChannel) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "CloseChannel"}
	v := CloseChannel{
		ChannelID:  r.u32("channel_id"),
		ReasonCode: r.str0_255("reason_code"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetExtranoncePrefix replaces a channel's extranonce prefix for the jobs that follow (§5.3.10).
type SetExtranoncePrefix struct {
	ChannelID        uint32 `sv2:"channel_id"`
	ExtranoncePrefix []byte `sv2:"extranonce_prefix"`
}

func (*SetExtranoncePrefix) MsgType() uint8 { return MsgTypeSetExtranoncePrefix }

func (m *SetExtranoncePrefix) Channel() uint32 { return m.ChannelID }

func (m *SetExtranoncePrefix) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetExtranoncePrefix"}
	w.u32(m.ChannelID)
	w.b0_32("extranonce_prefix", m.ExtranoncePrefix)
	return w.result(dst)
}

func (m *SetExtranoncePrefix) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetExtranoncePrefix"}
	v := SetExtranoncePrefix{
		ChannelID:        r.u32("channel_id"),
		ExtranoncePrefix: r.b0_32("extranonce_prefix"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SubmitSharesStandard submits a share found on a standard channel's job (§5.3.11).
type SubmitSharesStandard struct {
	ChannelID      uint32 `sv2:"channel_id"`
	SequenceNumber uint32 `sv2:"sequence_number"`
	JobID          uint32 `sv2:"job_id"`
	Nonce          uint32 `sv2:"nonce"`
	NTime          uint32 `sv2:"ntime"`
	Version        uint32 `sv2:"version"`
}

func (*SubmitSharesStandard) MsgType() uint8 { return MsgTypeSubmitSharesStandard }

func (m *SubmitSharesStandard) Channel() uint32 { return m.ChannelID }

func (m *SubmitSharesStandard) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SubmitSharesStandard"}
	w.u32(m.ChannelID)
	w.u32(m.SequenceNumber)
	w.u32(m.JobID)
	w.u32(m.Nonce)
	w.u32(m.NTime)
	w.u32(m.Version)
	return w.result(dst)
}

func (m *SubmitSharesStandard) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SubmitSharesStandard"}
	v := SubmitSharesStandard{
		ChannelID:      r.u32("channel_id"),
		SequenceNumber: r.u32("sequence_number"),
		JobID:          r.u32("job_id"),
		Nonce:          r.u32("nonce"),
		NTime:          r.u32("ntime"),
		Version:        r.u32("version"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SubmitSharesExtended submits a share found on an extended job, with the extranonce the client
// chose (§5.3.12).
type SubmitSharesExtended struct {
	ChannelID      uint32 `sv2:"channel_id"`
	SequenceNumber uint32 `sv2:"sequence_number"`
	JobID          uint32 `sv2:"job_id"`
	Nonce          uint32 `sv2:"nonce"`
	NTime          uint32 `sv2:"ntime"`
	Version        uint32 `sv2:"version"`
	Extranonce     []byte `sv2:"extranonce"`
}

func (*SubmitSharesExtended) MsgType() uint8 { return MsgTypeSubmitSharesExtended }

func (m *SubmitSharesExtended) Channel() uint32 { return m.ChannelID }

func (m *SubmitSharesExtended) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SubmitSharesExtended"}
	w.u32(m.ChannelID)
	w.u32(m.SequenceNumber)
	w.u32(m.JobID)
	w.u32(m.Nonce)
	w.u32(m.NTime)
	w.u32(m.Version)
	w.b0_32("extranonce", m.Extranonce)
	return w.result(dst)
}

func (m *SubmitSharesExtended) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SubmitSharesExtended"}
	v := SubmitSharesExtended{
		ChannelID:      r.u32("channel_id"),
		SequenceNumber: r.u32("sequence_number"),
		JobID:          r.u32("job_id"),
		Nonce:          r.u32("nonce"),
		NTime:          r.u32("ntime"),
		Version:        r.u32("version"),
		Extranonce:     r.b0_32("extranonce"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SubmitSharesSuccess acknowledges a batch of accepted shares on a channel (§5.3.13).
type SubmitSharesSuccess struct {
	ChannelID               uint32 `sv2:"channel_id"`
	LastSequenceNumber      uint32 `sv2:"last_sequence_number"`
	NewSubmitsAcceptedCount uint32 `sv2:"new_submits_accepted_count"`
	NewSharesSum            uint64 `sv2:"new_shares_sum"`
}

func (*SubmitSharesSuccess) MsgType() uint8 { return MsgTypeSubmitSharesSuccess }

func (m *SubmitSharesSuccess) Channel() uint32 { return m.ChannelID }

func (m *SubmitSharesSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SubmitShares.Success"}
	w.u32(m.ChannelID)
	w.u32(m.LastSequenceNumber)
	w.u32(m.NewSubmitsAcceptedCount)
	w.u64(m.NewSharesSum)
	return w.result(dst)
}

func (m *SubmitSharesSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SubmitShares.Success"}
	v := SubmitSharesSuccess{
		ChannelID:               r.u32("channel_id"),
		LastSequenceNumber:      r.u32("last_sequence_number"),
		NewSubmitsAcceptedCount: r.u32("new_submits_accepted_count"),
		NewSharesSum:            r.u64("new_shares_sum"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SubmitSharesError rejects one share (§5.3.14).
type SubmitSharesError struct {
	ChannelID      uint32 `sv2:"channel_id"`
	SequenceNumber uint32 `sv2:"sequence_number"`
	ErrorCode      string `sv2:"error_code"`
}

func (*SubmitSharesError) MsgType() uint8 { return MsgTypeSubmitSharesError }

func (m *SubmitSharesError) Channel() uint32 { return m.ChannelID }

func (m *SubmitSharesError) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SubmitShares.Error"}
	w.u32(m.ChannelID)
	w.u32(m.SequenceNumber)
	w.str0_255("error_code", m.ErrorCode)
	return w.result(dst)
}

func (m *SubmitSharesError) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SubmitShares.Error"}
	v := SubmitSharesError{
		ChannelID:      r.u32("channel_id"),
		SequenceNumber: r.u32("sequence_number"),
		ErrorCode:      r.str0_255("error_code"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// NewExtendedMiningJob gives an extended or group channel a job as coinbase prefix and suffix
// (BIP141 fields stripped) around the extranonce, plus the merkle path; without MinNTime it is a
// future job (§5.3.16).
type NewExtendedMiningJob struct {
	ChannelID             uint32         `sv2:"channel_id"`
	JobID                 uint32         `sv2:"job_id"`
	MinNTime              Option[uint32] `sv2:"min_ntime"`
	Version               uint32         `sv2:"version"`
	VersionRollingAllowed bool           `sv2:"version_rolling_allowed"`
	MerklePath            []U256         `sv2:"merkle_path"`
	CoinbaseTxPrefix      []byte         `sv2:"coinbase_tx_prefix"`
	CoinbaseTxSuffix      []byte         `sv2:"coinbase_tx_suffix"`
}

func (*NewExtendedMiningJob) MsgType() uint8 { return MsgTypeNewExtendedMiningJob }

func (m *NewExtendedMiningJob) Channel() uint32 { return m.ChannelID }

func (m *NewExtendedMiningJob) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "NewExtendedMiningJob"}
	w.u32(m.ChannelID)
	w.u32(m.JobID)
	w.optionU32(m.MinNTime)
	w.u32(m.Version)
	w.bool(m.VersionRollingAllowed)
	w.seqU256("merkle_path", m.MerklePath, 1, MaxSeq0_255)
	w.b0_64k("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	w.b0_64k("coinbase_tx_suffix", m.CoinbaseTxSuffix)
	return w.result(dst)
}

func (m *NewExtendedMiningJob) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "NewExtendedMiningJob"}
	v := NewExtendedMiningJob{
		ChannelID:             r.u32("channel_id"),
		JobID:                 r.u32("job_id"),
		MinNTime:              r.optionU32("min_ntime"),
		Version:               r.u32("version"),
		VersionRollingAllowed: r.bool("version_rolling_allowed"),
		MerklePath:            r.seqU256("merkle_path", 1, MaxSeq0_255),
		CoinbaseTxPrefix:      r.b0_64k("coinbase_tx_prefix"),
		CoinbaseTxSuffix:      r.b0_64k("coinbase_tx_suffix"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetNewPrevHash is the Mining Protocol's new block tip: it activates the named future job and
// makes every other job of the channel stale (§5.3.17). The Template Distribution message of the
// same name is TemplateSetNewPrevHash.
type SetNewPrevHash struct {
	ChannelID uint32 `sv2:"channel_id"`
	JobID     uint32 `sv2:"job_id"`
	PrevHash  U256   `sv2:"prev_hash"`
	MinNTime  uint32 `sv2:"min_ntime"`
	NBits     uint32 `sv2:"nbits"`
}

func (*SetNewPrevHash) MsgType() uint8 { return MsgTypeSetNewPrevHash }

func (m *SetNewPrevHash) Channel() uint32 { return m.ChannelID }

func (m *SetNewPrevHash) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetNewPrevHash"}
	w.u32(m.ChannelID)
	w.u32(m.JobID)
	w.u256(&m.PrevHash)
	w.u32(m.MinNTime)
	w.u32(m.NBits)
	return w.result(dst)
}

func (m *SetNewPrevHash) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetNewPrevHash"}
	v := SetNewPrevHash{
		ChannelID: r.u32("channel_id"),
		JobID:     r.u32("job_id"),
		PrevHash:  r.u256("prev_hash"),
		MinNTime:  r.u32("min_ntime"),
		NBits:     r.u32("nbits"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetTarget sets the maximum hash a channel's shares may have (§5.3.21).
type SetTarget struct {
	ChannelID     uint32 `sv2:"channel_id"`
	MaximumTarget U256   `sv2:"maximum_target"`
}

func (*SetTarget) MsgType() uint8 { return MsgTypeSetTarget }

func (m *SetTarget) Channel() uint32 { return m.ChannelID }

func (m *SetTarget) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetTarget"}
	w.u32(m.ChannelID)
	w.u256(&m.MaximumTarget)
	return w.result(dst)
}

func (m *SetTarget) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetTarget"}
	v := SetTarget{
		ChannelID:     r.u32("channel_id"),
		MaximumTarget: r.u256("maximum_target"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetCustomMiningJob asks the pool to accept a job the client declared through the Job
// Declaration Protocol (§5.3.18).
type SetCustomMiningJob struct {
	ChannelID                uint32 `sv2:"channel_id"`
	RequestID                uint32 `sv2:"request_id"`
	MiningJobToken           []byte `sv2:"mining_job_token"`
	Version                  uint32 `sv2:"version"`
	PrevHash                 U256   `sv2:"prev_hash"`
	MinNTime                 uint32 `sv2:"min_ntime"`
	NBits                    uint32 `sv2:"nbits"`
	CoinbaseTxVersion        uint32 `sv2:"coinbase_tx_version"`
	CoinbasePrefix           []byte `sv2:"coinbase_prefix"`
	CoinbaseTxInputNSequence uint32 `sv2:"coinbase_tx_input_nSequence"`
	CoinbaseTxOutputs        []byte `sv2:"coinbase_tx_outputs"`
	CoinbaseTxLocktime       uint32 `sv2:"coinbase_tx_locktime"`
	MerklePath               []U256 `sv2:"merkle_path"`
}

func (*SetCustomMiningJob) MsgType() uint8 { return MsgTypeSetCustomMiningJob }

func (m *SetCustomMiningJob) Channel() uint32 { return m.ChannelID }

func (m *SetCustomMiningJob) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetCustomMiningJob"}
	w.u32(m.ChannelID)
	w.u32(m.RequestID)
	w.b0_255("mining_job_token", m.MiningJobToken)
	w.u32(m.Version)
	w.u256(&m.PrevHash)
	w.u32(m.MinNTime)
	w.u32(m.NBits)
	w.u32(m.CoinbaseTxVersion)
	w.b0_255("coinbase_prefix", m.CoinbasePrefix)
	w.u32(m.CoinbaseTxInputNSequence)
	w.b0_64k("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	w.u32(m.CoinbaseTxLocktime)
	w.seqU256("merkle_path", m.MerklePath, 1, MaxSeq0_255)
	return w.result(dst)
}

func (m *SetCustomMiningJob) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetCustomMiningJob"}
	v := SetCustomMiningJob{
		ChannelID:                r.u32("channel_id"),
		RequestID:                r.u32("request_id"),
		MiningJobToken:           r.b0_255("mining_job_token"),
		Version:                  r.u32("version"),
		PrevHash:                 r.u256("prev_hash"),
		MinNTime:                 r.u32("min_ntime"),
		NBits:                    r.u32("nbits"),
		CoinbaseTxVersion:        r.u32("coinbase_tx_version"),
		CoinbasePrefix:           r.b0_255("coinbase_prefix"),
		CoinbaseTxInputNSequence: r.u32("coinbase_tx_input_nSequence"),
		CoinbaseTxOutputs:        r.b0_64k("coinbase_tx_outputs"),
		CoinbaseTxLocktime:       r.u32("coinbase_tx_locktime"),
		MerklePath:               r.seqU256("merkle_path", 1, MaxSeq0_255),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetCustomMiningJobSuccess accepts a custom job and gives it a job id (§5.3.19).
type SetCustomMiningJobSuccess struct {
	ChannelID uint32 `sv2:"channel_id"`
	RequestID uint32 `sv2:"request_id"`
	JobID     uint32 `sv2:"job_id"`
}

func (*SetCustomMiningJobSuccess) MsgType() uint8 { return MsgTypeSetCustomMiningJobSuccess }

func (m *SetCustomMiningJobSuccess) Channel() uint32 { return m.ChannelID }

func (m *SetCustomMiningJobSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetCustomMiningJob.Success"}
	w.u32(m.ChannelID)
	w.u32(m.RequestID)
	w.u32(m.JobID)
	return w.result(dst)
}

func (m *SetCustomMiningJobSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetCustomMiningJob.Success"}
	v := SetCustomMiningJobSuccess{
		ChannelID: r.u32("channel_id"),
		RequestID: r.u32("request_id"),
		JobID:     r.u32("job_id"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetCustomMiningJobError refuses a custom job (§5.3.20).
type SetCustomMiningJobError struct {
	ChannelID uint32 `sv2:"channel_id"`
	RequestID uint32 `sv2:"request_id"`
	ErrorCode string `sv2:"error_code"`
}

func (*SetCustomMiningJobError) MsgType() uint8 { return MsgTypeSetCustomMiningJobError }

func (m *SetCustomMiningJobError) Channel() uint32 { return m.ChannelID }

func (m *SetCustomMiningJobError) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetCustomMiningJob.Error"}
	w.u32(m.ChannelID)
	w.u32(m.RequestID)
	w.str0_255("error_code", m.ErrorCode)
	return w.result(dst)
}

func (m *SetCustomMiningJobError) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetCustomMiningJob.Error"}
	v := SetCustomMiningJobError{
		ChannelID: r.u32("channel_id"),
		RequestID: r.u32("request_id"),
		ErrorCode: r.str0_255("error_code"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SetGroupChannel puts the listed channels into a group channel, so that jobs sent to the group
// reach all of them (§5.3.22).
type SetGroupChannel struct {
	GroupChannelID uint32   `sv2:"group_channel_id"`
	ChannelIDs     []uint32 `sv2:"channel_ids"`
}

func (*SetGroupChannel) MsgType() uint8 { return MsgTypeSetGroupChannel }

func (m *SetGroupChannel) AppendPayload(dst []byte) ([]byte, error) {
	w := writer{b: dst, msg: "SetGroupChannel"}
	w.u32(m.GroupChannelID)
	w.seq0_64kU32("channel_ids", m.ChannelIDs)
	return w.result(dst)
}

func (m *SetGroupChannel) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "SetGroupChannel"}
	v := SetGroupChannel{
		GroupChannelID: r.u32("group_channel_id"),
		ChannelIDs:     r.seq0_64kU32("channel_ids"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}
