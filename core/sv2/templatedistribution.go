package sv2

// Template Distribution Protocol message types (§7, §8).
const (
	MsgTypeCoinbaseOutputConstraints     uint8 = 0x70
	MsgTypeNewTemplate                   uint8 = 0x71
	MsgTypeTemplateSetNewPrevHash        uint8 = 0x72
	MsgTypeRequestTransactionData        uint8 = 0x73
	MsgTypeRequestTransactionDataSuccess uint8 = 0x74
	MsgTypeRequestTransactionDataError   uint8 = 0x75
	MsgTypeSubmitSolution                uint8 = 0x76
)

// CoinbaseOutputConstraints tells the template provider how many bytes and sigops the client will
// add in coinbase outputs (§7.1).
type CoinbaseOutputConstraints struct {
	CoinbaseOutputMaxAdditionalSize   uint32 `sv2:"coinbase_output_max_additional_size"`
	CoinbaseOutputMaxAdditionalSigops uint16 `sv2:"coinbase_output_max_additional_sigops"`
}

func (*CoinbaseOutputConstraints) MsgType() uint8 { return MsgTypeCoinbaseOutputConstraints }

func (m *CoinbaseOutputConstraints) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "CoinbaseOutputConstraints")
	w.U32(m.CoinbaseOutputMaxAdditionalSize)
	w.U16(m.CoinbaseOutputMaxAdditionalSigops)
	return w.Finish()
}

func (m *CoinbaseOutputConstraints) DecodePayload(p []byte) error {
	r := NewReader(p, "CoinbaseOutputConstraints")
	v := CoinbaseOutputConstraints{
		CoinbaseOutputMaxAdditionalSize:   r.U32("coinbase_output_max_additional_size"),
		CoinbaseOutputMaxAdditionalSigops: r.U16("coinbase_output_max_additional_sigops"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// NewTemplate is a block template: header version, coinbase fields and outputs, and the merkle
// path; a future template waits for a TemplateSetNewPrevHash naming it (§7.2).
type NewTemplate struct {
	TemplateID               uint64 `sv2:"template_id"`
	FutureTemplate           bool   `sv2:"future_template"`
	Version                  uint32 `sv2:"version"`
	CoinbaseTxVersion        uint32 `sv2:"coinbase_tx_version"`
	CoinbasePrefix           []byte `sv2:"coinbase_prefix"`
	CoinbaseTxInputSequence  uint32 `sv2:"coinbase_tx_input_sequence"`
	CoinbaseTxValueRemaining uint64 `sv2:"coinbase_tx_value_remaining"`
	CoinbaseTxOutputsCount   uint32 `sv2:"coinbase_tx_outputs_count"`
	CoinbaseTxOutputs        []byte `sv2:"coinbase_tx_outputs"`
	CoinbaseTxLocktime       uint32 `sv2:"coinbase_tx_locktime"`
	MerklePath               []U256 `sv2:"merkle_path"`
}

func (*NewTemplate) MsgType() uint8 { return MsgTypeNewTemplate }

func (m *NewTemplate) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "NewTemplate")
	w.U64(m.TemplateID)
	w.Bool(m.FutureTemplate)
	w.U32(m.Version)
	w.U32(m.CoinbaseTxVersion)
	w.B0_255("coinbase_prefix", m.CoinbasePrefix)
	w.U32(m.CoinbaseTxInputSequence)
	w.U64(m.CoinbaseTxValueRemaining)
	w.U32(m.CoinbaseTxOutputsCount)
	w.B0_64K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	w.U32(m.CoinbaseTxLocktime)
	w.Seq0_255U256("merkle_path", m.MerklePath)
	return w.Finish()
}

func (m *NewTemplate) DecodePayload(p []byte) error {
	r := NewReader(p, "NewTemplate")
	v := NewTemplate{
		TemplateID:               r.U64("template_id"),
		FutureTemplate:           r.Bool("future_template"),
		Version:                  r.U32("version"),
		CoinbaseTxVersion:        r.U32("coinbase_tx_version"),
		CoinbasePrefix:           r.B0_255("coinbase_prefix"),
		CoinbaseTxInputSequence:  r.U32("coinbase_tx_input_sequence"),
		CoinbaseTxValueRemaining: r.U64("coinbase_tx_value_remaining"),
		CoinbaseTxOutputsCount:   r.U32("coinbase_tx_outputs_count"),
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

// TemplateSetNewPrevHash is the Template Distribution Protocol's new block tip for a previously
// sent template (§7.3); the Mining Protocol message of the same name is SetNewPrevHash.
type TemplateSetNewPrevHash struct {
	TemplateID      uint64 `sv2:"template_id"`
	PrevHash        U256   `sv2:"prev_hash"`
	HeaderTimestamp uint32 `sv2:"header_timestamp"`
	NBits           uint32 `sv2:"nBits"`
	Target          U256   `sv2:"target"`
}

func (*TemplateSetNewPrevHash) MsgType() uint8 { return MsgTypeTemplateSetNewPrevHash }

func (m *TemplateSetNewPrevHash) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "SetNewPrevHash")
	w.U64(m.TemplateID)
	w.U256(m.PrevHash)
	w.U32(m.HeaderTimestamp)
	w.U32(m.NBits)
	w.U256(m.Target)
	return w.Finish()
}

func (m *TemplateSetNewPrevHash) DecodePayload(p []byte) error {
	r := NewReader(p, "SetNewPrevHash")
	v := TemplateSetNewPrevHash{
		TemplateID:      r.U64("template_id"),
		PrevHash:        r.U256("prev_hash"),
		HeaderTimestamp: r.U32("header_timestamp"),
		NBits:           r.U32("nBits"),
		Target:          r.U256("target"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// RequestTransactionData asks for the transactions of a template (§7.4).
type RequestTransactionData struct {
	TemplateID uint64 `sv2:"template_id"`
}

func (*RequestTransactionData) MsgType() uint8 { return MsgTypeRequestTransactionData }

func (m *RequestTransactionData) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "RequestTransactionData")
	w.U64(m.TemplateID)
	return w.Finish()
}

func (m *RequestTransactionData) DecodePayload(p []byte) error {
	r := NewReader(p, "RequestTransactionData")
	v := RequestTransactionData{
		TemplateID: r.U64("template_id"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// RequestTransactionDataSuccess carries a template's transactions, witness-serialized, and any
// excess data (§7.5).
type RequestTransactionDataSuccess struct {
	TemplateID      uint64   `sv2:"template_id"`
	ExcessData      []byte   `sv2:"excess_data"`
	TransactionList [][]byte `sv2:"transaction_list"`
}

func (*RequestTransactionDataSuccess) MsgType() uint8 { return MsgTypeRequestTransactionDataSuccess }

func (m *RequestTransactionDataSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "RequestTransactionData.Success")
	w.U64(m.TemplateID)
	w.B0_64K("excess_data", m.ExcessData)
	w.Seq0_64KB0_16M("transaction_list", m.TransactionList)
	return w.Finish()
}

func (m *RequestTransactionDataSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "RequestTransactionData.Success")
	v := RequestTransactionDataSuccess{
		TemplateID:      r.U64("template_id"),
		ExcessData:      r.B0_64K("excess_data"),
		TransactionList: r.Seq0_64KB0_16M("transaction_list"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// RequestTransactionDataError refuses a RequestTransactionData, for example for an unknown or
// stale template (§7.6).
type RequestTransactionDataError struct {
	TemplateID uint64 `sv2:"template_id"`
	ErrorCode  string `sv2:"error_code"`
}

func (*RequestTransactionDataError) MsgType() uint8 { return MsgTypeRequestTransactionDataError }

func (m *RequestTransactionDataError) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "RequestTransactionData.Error")
	w.U64(m.TemplateID)
	w.Str0_255("error_code", m.ErrorCode)
	return w.Finish()
}

func (m *RequestTransactionDataError) DecodePayload(p []byte) error {
	r := NewReader(p, "RequestTransactionData.Error")
	v := RequestTransactionDataError{
		TemplateID: r.U64("template_id"),
		ErrorCode:  r.Str0_255("error_code"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// SubmitSolution gives the template provider a found block's header fields and full coinbase
// (BIP141 fields kept) so it can propagate the block (§7.7).
type SubmitSolution struct {
	TemplateID      uint64 `sv2:"template_id"`
	Version         uint32 `sv2:"version"`
	HeaderTimestamp uint32 `sv2:"header_timestamp"`
	HeaderNonce     uint32 `sv2:"header_nonce"`
	CoinbaseTx      []byte `sv2:"coinbase_tx"`
}

func (*SubmitSolution) MsgType() uint8 { return MsgTypeSubmitSolution }

func (m *SubmitSolution) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "SubmitSolution")
	w.U64(m.TemplateID)
	w.U32(m.Version)
	w.U32(m.HeaderTimestamp)
	w.U32(m.HeaderNonce)
	w.B0_64K("coinbase_tx", m.CoinbaseTx)
	return w.Finish()
}

func (m *SubmitSolution) DecodePayload(p []byte) error {
	r := NewReader(p, "SubmitSolution")
	v := SubmitSolution{
		TemplateID:      r.U64("template_id"),
		Version:         r.U32("version"),
		HeaderTimestamp: r.U32("header_timestamp"),
		HeaderNonce:     r.U32("header_nonce"),
		CoinbaseTx:      r.B0_64K("coinbase_tx"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}
