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
	w := NewWriter(dst, "OpenStandardMiningChannel")
	w.U32(m.RequestID)
	w.Str0_255("user_identity", m.UserIdentity)
	w.F32(m.NominalHashRate)
	w.U256(m.MaxTarget)
	return w.Finish()
}

func (m *OpenStandardMiningChannel) DecodePayload(p []byte) error {
	r := NewReader(p, "OpenStandardMiningChannel")
	v := OpenStandardMiningChannel{
		RequestID:       r.U32("request_id"),
		UserIdentity:    r.Str0_255("user_identity"),
		NominalHashRate: r.F32("nominal_hash_rate"),
		MaxTarget:       r.U256("max_target"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "OpenStandardMiningChannel.Success")
	w.U32(m.RequestID)
	w.U32(m.ChannelID)
	w.U256(m.Target)
	w.B0_32("extranonce_prefix", m.ExtranoncePrefix)
	w.U32(m.GroupChannelID)
	return w.Finish()
}

func (m *OpenStandardMiningChannelSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "OpenStandardMiningChannel.Success")
	v := OpenStandardMiningChannelSuccess{
		RequestID:        r.U32("request_id"),
		ChannelID:        r.U32("channel_id"),
		Target:           r.U256("target"),
		ExtranoncePrefix: r.B0_32("extranonce_prefix"),
		GroupChannelID:   r.U32("group_channel_id"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "OpenMiningChannel.Error")
	w.U32(m.RequestID)
	w.Str0_255("error_code", m.ErrorCode)
	return w.Finish()
}

func (m *OpenMiningChannelError) DecodePayload(p []byte) error {
	r := NewReader(p, "OpenMiningChannel.Error")
	v := OpenMiningChannelError{
		RequestID: r.U32("request_id"),
		ErrorCode: r.Str0_255("error_code"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "OpenExtendedMiningChannel")
	w.U32(m.RequestID)
	w.Str0_255("user_identity", m.UserIdentity)
	w.F32(m.NominalHashRate)
	w.U256(m.MaxTarget)
	w.U16(m.MinExtranonceSize)
	return w.Finish()
}

func (m *OpenExtendedMiningChannel) DecodePayload(p []byte) error {
	r := NewReader(p, "OpenExtendedMiningChannel")
	v := OpenExtendedMiningChannel{
		RequestID:         r.U32("request_id"),
		UserIdentity:      r.Str0_255("user_identity"),
		NominalHashRate:   r.F32("nominal_hash_rate"),
		MaxTarget:         r.U256("max_target"),
		MinExtranonceSize: r.U16("min_extranonce_size"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "OpenExtendedMiningChannel.Success")
	w.U32(m.RequestID)
	w.U32(m.ChannelID)
	w.U256(m.Target)
	w.U16(m.ExtranonceSize)
	w.B0_32("extranonce_prefix", m.ExtranoncePrefix)
	w.U32(m.GroupChannelID)
	return w.Finish()
}

func (m *OpenExtendedMiningChannelSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "OpenExtendedMiningChannel.Success")
	v := OpenExtendedMiningChannelSuccess{
		RequestID:        r.U32("request_id"),
		ChannelID:        r.U32("channel_id"),
		Target:           r.U256("target"),
		ExtranonceSize:   r.U16("extranonce_size"),
		ExtranoncePrefix: r.B0_32("extranonce_prefix"),
		GroupChannelID:   r.U32("group_channel_id"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "NewMiningJob")
	w.U32(m.ChannelID)
	w.U32(m.JobID)
	w.OptionU32(m.MinNTime)
	w.U32(m.Version)
	w.U256(m.MerkleRoot)
	return w.Finish()
}

func (m *NewMiningJob) DecodePayload(p []byte) error {
	r := NewReader(p, "NewMiningJob")
	v := NewMiningJob{
		ChannelID:  r.U32("channel_id"),
		JobID:      r.U32("job_id"),
		MinNTime:   r.OptionU32("min_ntime"),
		Version:    r.U32("version"),
		MerkleRoot: r.U256("merkle_root"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "UpdateChannel")
	w.U32(m.ChannelID)
	w.F32(m.NominalHashRate)
	w.U256(m.MaximumTarget)
	return w.Finish()
}

func (m *UpdateChannel) DecodePayload(p []byte) error {
	r := NewReader(p, "UpdateChannel")
	v := UpdateChannel{
		ChannelID:       r.U32("channel_id"),
		NominalHashRate: r.F32("nominal_hash_rate"),
		MaximumTarget:   r.U256("maximum_target"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "UpdateChannel.Error")
	w.U32(m.ChannelID)
	w.Str0_255("error_code", m.ErrorCode)
	return w.Finish()
}

func (m *UpdateChannelError) DecodePayload(p []byte) error {
	r := NewReader(p, "UpdateChannel.Error")
	v := UpdateChannelError{
		ChannelID: r.U32("channel_id"),
		ErrorCode: r.Str0_255("error_code"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "CloseChannel")
	w.U32(m.ChannelID)
	w.Str0_255("reason_code", m.ReasonCode)
	return w.Finish()
}

func (m *CloseChannel) DecodePayload(p []byte) error {
	r := NewReader(p, "CloseChannel")
	v := CloseChannel{
		ChannelID:  r.U32("channel_id"),
		ReasonCode: r.Str0_255("reason_code"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetExtranoncePrefix")
	w.U32(m.ChannelID)
	w.B0_32("extranonce_prefix", m.ExtranoncePrefix)
	return w.Finish()
}

func (m *SetExtranoncePrefix) DecodePayload(p []byte) error {
	r := NewReader(p, "SetExtranoncePrefix")
	v := SetExtranoncePrefix{
		ChannelID:        r.U32("channel_id"),
		ExtranoncePrefix: r.B0_32("extranonce_prefix"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SubmitSharesStandard")
	w.U32(m.ChannelID)
	w.U32(m.SequenceNumber)
	w.U32(m.JobID)
	w.U32(m.Nonce)
	w.U32(m.NTime)
	w.U32(m.Version)
	return w.Finish()
}

func (m *SubmitSharesStandard) DecodePayload(p []byte) error {
	r := NewReader(p, "SubmitSharesStandard")
	v := SubmitSharesStandard{
		ChannelID:      r.U32("channel_id"),
		SequenceNumber: r.U32("sequence_number"),
		JobID:          r.U32("job_id"),
		Nonce:          r.U32("nonce"),
		NTime:          r.U32("ntime"),
		Version:        r.U32("version"),
	}
	if err := r.Done(); err != nil {
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
	// TLVs are the TLV fields after the message's own fields (§3.4.3), such as the
	// user_identity of Worker-Specific Hashrate Tracking (see WorkerIdentity). The decoder
	// keeps every well-formed field, of any extension and in the order received; a service
	// acts only on those of the extensions negotiated on the connection (KeepExtensions)
	// and ignores the rest. The encoder appends them and refuses a list not ordered by
	// extension type, or a user_identity over MaxUserIdentityTLV bytes or not UTF-8; the
	// decoder leaves that check to CheckTLVs, since a field of an extension the connection
	// did not negotiate must be ignored, not refused. Errors in the list name the field "tlv".
	TLVs []TLV `sv2:"tlvs"`
}

func (*SubmitSharesExtended) MsgType() uint8 { return MsgTypeSubmitSharesExtended }

func (m *SubmitSharesExtended) Channel() uint32 { return m.ChannelID }

func (m *SubmitSharesExtended) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "SubmitSharesExtended")
	w.U32(m.ChannelID)
	w.U32(m.SequenceNumber)
	w.U32(m.JobID)
	w.U32(m.Nonce)
	w.U32(m.NTime)
	w.U32(m.Version)
	w.B0_32("extranonce", m.Extranonce)
	if len(m.TLVs) > 0 {
		if detail, err := userIdentityProblem(m.TLVs); err != nil {
			w.fail("tlv", err, "%s", detail)
		}
		w.TLVs(m.TLVs)
	}
	return w.Finish()
}

func (m *SubmitSharesExtended) DecodePayload(p []byte) error {
	r := NewReader(p, "SubmitSharesExtended")
	v := SubmitSharesExtended{
		ChannelID:      r.U32("channel_id"),
		SequenceNumber: r.U32("sequence_number"),
		JobID:          r.U32("job_id"),
		Nonce:          r.U32("nonce"),
		NTime:          r.U32("ntime"),
		Version:        r.U32("version"),
		Extranonce:     r.B0_32("extranonce"),
		TLVs:           r.TLVs(),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SubmitShares.Success")
	w.U32(m.ChannelID)
	w.U32(m.LastSequenceNumber)
	w.U32(m.NewSubmitsAcceptedCount)
	w.U64(m.NewSharesSum)
	return w.Finish()
}

func (m *SubmitSharesSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "SubmitShares.Success")
	v := SubmitSharesSuccess{
		ChannelID:               r.U32("channel_id"),
		LastSequenceNumber:      r.U32("last_sequence_number"),
		NewSubmitsAcceptedCount: r.U32("new_submits_accepted_count"),
		NewSharesSum:            r.U64("new_shares_sum"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SubmitShares.Error")
	w.U32(m.ChannelID)
	w.U32(m.SequenceNumber)
	w.Str0_255("error_code", m.ErrorCode)
	return w.Finish()
}

func (m *SubmitSharesError) DecodePayload(p []byte) error {
	r := NewReader(p, "SubmitShares.Error")
	v := SubmitSharesError{
		ChannelID:      r.U32("channel_id"),
		SequenceNumber: r.U32("sequence_number"),
		ErrorCode:      r.Str0_255("error_code"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "NewExtendedMiningJob")
	w.U32(m.ChannelID)
	w.U32(m.JobID)
	w.OptionU32(m.MinNTime)
	w.U32(m.Version)
	w.Bool(m.VersionRollingAllowed)
	w.Seq0_255U256("merkle_path", m.MerklePath)
	w.B0_64K("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	w.B0_64K("coinbase_tx_suffix", m.CoinbaseTxSuffix)
	return w.Finish()
}

func (m *NewExtendedMiningJob) DecodePayload(p []byte) error {
	r := NewReader(p, "NewExtendedMiningJob")
	v := NewExtendedMiningJob{
		ChannelID:             r.U32("channel_id"),
		JobID:                 r.U32("job_id"),
		MinNTime:              r.OptionU32("min_ntime"),
		Version:               r.U32("version"),
		VersionRollingAllowed: r.Bool("version_rolling_allowed"),
		MerklePath:            r.Seq0_255U256("merkle_path"),
		CoinbaseTxPrefix:      r.B0_64K("coinbase_tx_prefix"),
		CoinbaseTxSuffix:      r.B0_64K("coinbase_tx_suffix"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetNewPrevHash")
	w.U32(m.ChannelID)
	w.U32(m.JobID)
	w.U256(m.PrevHash)
	w.U32(m.MinNTime)
	w.U32(m.NBits)
	return w.Finish()
}

func (m *SetNewPrevHash) DecodePayload(p []byte) error {
	r := NewReader(p, "SetNewPrevHash")
	v := SetNewPrevHash{
		ChannelID: r.U32("channel_id"),
		JobID:     r.U32("job_id"),
		PrevHash:  r.U256("prev_hash"),
		MinNTime:  r.U32("min_ntime"),
		NBits:     r.U32("nbits"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetTarget")
	w.U32(m.ChannelID)
	w.U256(m.MaximumTarget)
	return w.Finish()
}

func (m *SetTarget) DecodePayload(p []byte) error {
	r := NewReader(p, "SetTarget")
	v := SetTarget{
		ChannelID:     r.U32("channel_id"),
		MaximumTarget: r.U256("maximum_target"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetCustomMiningJob")
	w.U32(m.ChannelID)
	w.U32(m.RequestID)
	w.B0_255("mining_job_token", m.MiningJobToken)
	w.U32(m.Version)
	w.U256(m.PrevHash)
	w.U32(m.MinNTime)
	w.U32(m.NBits)
	w.U32(m.CoinbaseTxVersion)
	w.B0_255("coinbase_prefix", m.CoinbasePrefix)
	w.U32(m.CoinbaseTxInputNSequence)
	w.B0_64K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	w.U32(m.CoinbaseTxLocktime)
	w.Seq0_255U256("merkle_path", m.MerklePath)
	return w.Finish()
}

func (m *SetCustomMiningJob) DecodePayload(p []byte) error {
	r := NewReader(p, "SetCustomMiningJob")
	v := SetCustomMiningJob{
		ChannelID:                r.U32("channel_id"),
		RequestID:                r.U32("request_id"),
		MiningJobToken:           r.B0_255("mining_job_token"),
		Version:                  r.U32("version"),
		PrevHash:                 r.U256("prev_hash"),
		MinNTime:                 r.U32("min_ntime"),
		NBits:                    r.U32("nbits"),
		CoinbaseTxVersion:        r.U32("coinbase_tx_version"),
		CoinbasePrefix:           r.B0_255("coinbase_prefix"),
		CoinbaseTxInputNSequence: r.U32("coinbase_tx_input_nSequence"),
		CoinbaseTxOutputs:        r.B0_64K("coinbase_tx_outputs"),
		CoinbaseTxLocktime:       r.U32("coinbase_tx_locktime"),
		MerklePath:               r.Seq0_255U256("merkle_path"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetCustomMiningJob.Success")
	w.U32(m.ChannelID)
	w.U32(m.RequestID)
	w.U32(m.JobID)
	return w.Finish()
}

func (m *SetCustomMiningJobSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "SetCustomMiningJob.Success")
	v := SetCustomMiningJobSuccess{
		ChannelID: r.U32("channel_id"),
		RequestID: r.U32("request_id"),
		JobID:     r.U32("job_id"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetCustomMiningJob.Error")
	w.U32(m.ChannelID)
	w.U32(m.RequestID)
	w.Str0_255("error_code", m.ErrorCode)
	return w.Finish()
}

func (m *SetCustomMiningJobError) DecodePayload(p []byte) error {
	r := NewReader(p, "SetCustomMiningJob.Error")
	v := SetCustomMiningJobError{
		ChannelID: r.U32("channel_id"),
		RequestID: r.U32("request_id"),
		ErrorCode: r.Str0_255("error_code"),
	}
	if err := r.Done(); err != nil {
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
	w := NewWriter(dst, "SetGroupChannel")
	w.U32(m.GroupChannelID)
	w.Seq0_64KU32("channel_ids", m.ChannelIDs)
	return w.Finish()
}

func (m *SetGroupChannel) DecodePayload(p []byte) error {
	r := NewReader(p, "SetGroupChannel")
	v := SetGroupChannel{
		GroupChannelID: r.U32("group_channel_id"),
		ChannelIDs:     r.Seq0_64KU32("channel_ids"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}
