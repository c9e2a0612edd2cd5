package sv2

// Job Declaration Protocol message types (§6.4, §8).
const (
	MsgTypeAllocateMiningJobToken            uint8 = 0x50
	MsgTypeAllocateMiningJobTokenSuccess     uint8 = 0x51
	MsgTypeProvideMissingTransactions        uint8 = 0x55
	MsgTypeProvideMissingTransactionsSuccess uint8 = 0x56
	MsgTypeDeclareMiningJob                  uint8 = 0x57
	MsgTypeDeclareMiningJobSuccess           uint8 = 0x58
	MsgTypeDeclareMiningJobError             uint8 = 0x59
	MsgTypePushSolution                      uint8 = 0x60
)

// AllocateMiningJobToken asks the job declarator server for a token to declare a future job with
// (§6.4.2).
type AllocateMiningJobToken struct {
	UserIdentifier string `sv2:"user_identifier"`
	RequestID      uint32 `sv2:"request_id"`
}

func (*AllocateMiningJobToken) MsgType() uint8 { return MsgTypeAllocateMiningJobToken }

func (m *AllocateMiningJobToken) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "AllocateMiningJobToken")
	w.Str0_255("user_identifier", m.UserIdentifier)
	w.U32(m.RequestID)
	return w.Finish()
}

func (m *AllocateMiningJobToken) DecodePayload(p []byte) error {
	r := NewReader(p, "AllocateMiningJobToken")
	v := AllocateMiningJobToken{
		UserIdentifier: r.Str0_255("user_identifier"),
		RequestID:      r.U32("request_id"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// AllocateMiningJobTokenSuccess grants a token and the coinbase outputs the pool requires, the
// first being the pool payout output (§6.4.3).
type AllocateMiningJobTokenSuccess struct {
	RequestID         uint32 `sv2:"request_id"`
	MiningJobToken    []byte `sv2:"mining_job_token"`
	CoinbaseTxOutputs []byte `sv2:"coinbase_tx_outputs"`
}

func (*AllocateMiningJobTokenSuccess) MsgType() uint8 { return MsgTypeAllocateMiningJobTokenSuccess }

func (m *AllocateMiningJobTokenSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "AllocateMiningJobToken.Success")
	w.U32(m.RequestID)
	w.B0_255("mining_job_token", m.MiningJobToken)
	w.B0_64K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	return w.Finish()
}

func (m *AllocateMiningJobTokenSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "AllocateMiningJobToken.Success")
	v := AllocateMiningJobTokenSuccess{
		RequestID:         r.U32("request_id"),
		MiningJobToken:    r.B0_255("mining_job_token"),
		CoinbaseTxOutputs: r.B0_64K("coinbase_tx_outputs"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// ProvideMissingTransactions asks the client for the full transactions at the given positions of
// a DeclareMiningJob's wtxid list (§6.4.7).
type ProvideMissingTransactions struct {
	RequestID             uint32   `sv2:"request_id"`
	UnknownTxPositionList []uint16 `sv2:"unknown_tx_position_list"`
}

func (*ProvideMissingTransactions) MsgType() uint8 { return MsgTypeProvideMissingTransactions }

func (m *ProvideMissingTransactions) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "ProvideMissingTransactions")
	w.U32(m.RequestID)
	w.Seq0_64KU16("unknown_tx_position_list", m.UnknownTxPositionList)
	return w.Finish()
}

func (m *ProvideMissingTransactions) DecodePayload(p []byte) error {
	r := NewReader(p, "ProvideMissingTransactions")
	v := ProvideMissingTransactions{
		RequestID:             r.U32("request_id"),
		UnknownTxPositionList: r.Seq0_64KU16("unknown_tx_position_list"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// ProvideMissingTransactionsSuccess carries the requested transactions in the order they were
// asked for (§6.4.8).
type ProvideMissingTransactionsSuccess struct {
	RequestID       uint32   `sv2:"request_id"`
	TransactionList [][]byte `sv2:"transaction_list"`
}

func (*ProvideMissingTransactionsSuccess) MsgType() uint8 {
	return MsgTypeProvideMissingTransactionsSuccess
}

func (m *ProvideMissingTransactionsSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "ProvideMissingTransactions.Success")
	w.U32(m.RequestID)
	w.Seq0_64KB0_16M("transaction_list", m.TransactionList)
	return w.Finish()
}

func (m *ProvideMissingTransactionsSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "ProvideMissingTransactions.Success")
	v := ProvideMissingTransactionsSuccess{
		RequestID:       r.U32("request_id"),
		TransactionList: r.Seq0_64KB0_16M("transaction_list"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// DeclareMiningJob proposes a job's transaction set and coinbase (BIP141 fields kept) to the job
// declarator server (§6.4.4).
type DeclareMiningJob struct {
	RequestID        uint32 `sv2:"request_id"`
	MiningJobToken   []byte `sv2:"mining_job_token"`
	Version          uint32 `sv2:"version"`
	CoinbaseTxPrefix []byte `sv2:"coinbase_tx_prefix"`
	CoinbaseTxSuffix []byte `sv2:"coinbase_tx_suffix"`
	WtxidList        []U256 `sv2:"wtxid_list"`
	ExcessData       []byte `sv2:"excess_data"`
}

func (*DeclareMiningJob) MsgType() uint8 { return MsgTypeDeclareMiningJob }

func (m *DeclareMiningJob) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "DeclareMiningJob")
	w.U32(m.RequestID)
	w.B0_255("mining_job_token", m.MiningJobToken)
	w.U32(m.Version)
	w.B0_64K("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	w.B0_64K("coinbase_tx_suffix", m.CoinbaseTxSuffix)
	w.Seq0_64KU256("wtxid_list", m.WtxidList)
	w.B0_64K("excess_data", m.ExcessData)
	return w.Finish()
}

func (m *DeclareMiningJob) DecodePayload(p []byte) error {
	r := NewReader(p, "DeclareMiningJob")
	v := DeclareMiningJob{
		RequestID:        r.U32("request_id"),
		MiningJobToken:   r.B0_255("mining_job_token"),
		Version:          r.U32("version"),
		CoinbaseTxPrefix: r.B0_64K("coinbase_tx_prefix"),
		CoinbaseTxSuffix: r.B0_64K("coinbase_tx_suffix"),
		WtxidList:        r.Seq0_64KU256("wtxid_list"),
		ExcessData:       r.B0_64K("excess_data"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// DeclareMiningJobSuccess accepts a declared job and gives the token to use in SetCustomMiningJob
// (§6.4.5).
type DeclareMiningJobSuccess struct {
	RequestID         uint32 `sv2:"request_id"`
	NewMiningJobToken []byte `sv2:"new_mining_job_token"`
}

func (*DeclareMiningJobSuccess) MsgType() uint8 { return MsgTypeDeclareMiningJobSuccess }

func (m *DeclareMiningJobSuccess) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "DeclareMiningJob.Success")
	w.U32(m.RequestID)
	w.B0_255("new_mining_job_token", m.NewMiningJobToken)
	return w.Finish()
}

func (m *DeclareMiningJobSuccess) DecodePayload(p []byte) error {
	r := NewReader(p, "DeclareMiningJob.Success")
	v := DeclareMiningJobSuccess{
		RequestID:         r.U32("request_id"),
		NewMiningJobToken: r.B0_255("new_mining_job_token"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// DeclareMiningJobError refuses a declared job (§6.4.6).
type DeclareMiningJobError struct {
	RequestID    uint32 `sv2:"request_id"`
	ErrorCode    string `sv2:"error_code"`
	ErrorDetails []byte `sv2:"error_details"`
}

func (*DeclareMiningJobError) MsgType() uint8 { return MsgTypeDeclareMiningJobError }

func (m *DeclareMiningJobError) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "DeclareMiningJob.Error")
	w.U32(m.RequestID)
	w.Str0_255("error_code", m.ErrorCode)
	w.B0_64K("error_details", m.ErrorDetails)
	return w.Finish()
}

func (m *DeclareMiningJobError) DecodePayload(p []byte) error {
	r := NewReader(p, "DeclareMiningJob.Error")
	v := DeclareMiningJobError{
		RequestID:    r.U32("request_id"),
		ErrorCode:    r.Str0_255("error_code"),
		ErrorDetails: r.B0_64K("error_details"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}

// PushSolution hands a found block's header fields and extranonce to the job declarator server so
// it can propagate the block too (§6.4.9).
type PushSolution struct {
	Extranonce []byte `sv2:"extranonce"`
	PrevHash   U256   `sv2:"prev_hash"`
	Nonce      uint32 `sv2:"nonce"`
	NTime      uint32 `sv2:"ntime"`
	NBits      uint32 `sv2:"nbits"`
	Version    uint32 `sv2:"version"`
}

func (*PushSolution) MsgType() uint8 { return MsgTypePushSolution }

func (m *PushSolution) AppendPayload(dst []byte) ([]byte, error) {
	w := NewWriter(dst, "PushSolution")
	w.B0_32("extranonce", m.Extranonce)
	w.U256(m.PrevHash)
	w.U32(m.Nonce)
	w.U32(m.NTime)
	w.U32(m.NBits)
	w.U32(m.Version)
	return w.Finish()
}

func (m *PushSolution) DecodePayload(p []byte) error {
	r := NewReader(p, "PushSolution")
	v := PushSolution{
		Extranonce: r.B0_32("extranonce"),
		PrevHash:   r.U256("prev_hash"),
		Nonce:      r.U32("nonce"),
		NTime:      r.U32("ntime"),
		NBits:      r.U32("nbits"),
		Version:    r.U32("version"),
	}
	if err := r.Done(); err != nil {
		return err
	}
	*m = v
	return nil
}
