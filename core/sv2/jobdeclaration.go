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
	w := writer{b: dst, msg: "AllocateMiningJobToken"}
	w.str0_255("user_identifier", m.UserIdentifier)
	w.u32(m.RequestID)
	return w.result(dst)
}

func (m *AllocateMiningJobToken) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "AllocateMiningJobToken"}
	v := AllocateMiningJobToken{
		UserIdentifier: r.str0_255("user_identifier"),
		RequestID:      r.u32("request_id"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "AllocateMiningJobToken.Success"}
	w.u32(m.RequestID)
	w.b0_255("mining_job_token", m.MiningJobToken)
	w.b0_64k("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	return w.result(dst)
}

func (m *AllocateMiningJobTokenSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "AllocateMiningJobToken.Success"}
	v := AllocateMiningJobTokenSuccess{
		RequestID:         r.u32("request_id"),
		MiningJobToken:    r.b0_255("mining_job_token"),
		CoinbaseTxOutputs: r.b0_64k("coinbase_tx_outputs"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "ProvideMissingTransactions"}
	w.u32(m.RequestID)
	w.seq0_64kU16("unknown_tx_position_list", m.UnknownTxPositionList)
	return w.result(dst)
}

func (m *ProvideMissingTransactions) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "ProvideMissingTransactions"}
	v := ProvideMissingTransactions{
		RequestID:             r.u32("request_id"),
		UnknownTxPositionList: r.seq0_64kU16("unknown_tx_position_list"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "ProvideMissingTransactions.Success"}
	w.u32(m.RequestID)
	w.seq0_64kB0_16M("transaction_list", m.TransactionList)
	return w.result(dst)
}

func (m *ProvideMissingTransactionsSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "ProvideMissingTransactions.Success"}
	v := ProvideMissingTransactionsSuccess{
		RequestID:       r.u32("request_id"),
		TransactionList: r.seq0_64kB0_16M("transaction_list"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "DeclareMiningJob"}
	w.u32(m.RequestID)
	w.b0_255("mining_job_token", m.MiningJobToken)
	w.u32(m.Version)
	w.b0_64k("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	w.b0_64k("coinbase_tx_suffix", m.CoinbaseTxSuffix)
	w.seqU256("wtxid_list", m.WtxidList, 2, MaxSeq0_64K)
	w.b0_64k("excess_data", m.ExcessData)
	return w.result(dst)
}

func (m *DeclareMiningJob) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "DeclareMiningJob"}
	v := DeclareMiningJob{
		RequestID:        r.u32("request_id"),
		MiningJobToken:   r.b0_255("mining_job_token"),
		Version:          r.u32("version"),
		CoinbaseTxPrefix: r.b0_64k("coinbase_tx_prefix"),
		CoinbaseTxSuffix: r.b0_64k("coinbase_tx_suffix"),
		WtxidList:        r.seqU256("wtxid_list", 2, MaxSeq0_64K),
		ExcessData:       r.b0_64k("excess_data"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "DeclareMiningJob.Success"}
	w.u32(m.RequestID)
	w.b0_255("new_mining_job_token", m.NewMiningJobToken)
	return w.result(dst)
}

func (m *DeclareMiningJobSuccess) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "DeclareMiningJob.Success"}
	v := DeclareMiningJobSuccess{
		RequestID:         r.u32("request_id"),
		NewMiningJobToken: r.b0_255("new_mining_job_token"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "DeclareMiningJob.Error"}
	w.u32(m.RequestID)
	w.str0_255("error_code", m.ErrorCode)
	w.b0_64k("error_details", m.ErrorDetails)
	return w.result(dst)
}

func (m *DeclareMiningJobError) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "DeclareMiningJob.Error"}
	v := DeclareMiningJobError{
		RequestID:    r.u32("request_id"),
		ErrorCode:    r.str0_255("error_code"),
		ErrorDetails: r.b0_64k("error_details"),
	}
	if err := r.done(); err != nil {
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
	w := writer{b: dst, msg: "PushSolution"}
	w.b0_32("extranonce", m.Extranonce)
	w.u256(&m.PrevHash)
	w.u32(m.Nonce)
	w.u32(m.NTime)
	w.u32(m.NBits)
	w.u32(m.Version)
	return w.result(dst)
}

func (m *PushSolution) DecodePayload(p []byte) error {
	r := reader{b: p, msg: "PushSolution"}
	v := PushSolution{
		Extranonce: r.b0_32("extranonce"),
		PrevHash:   r.u256("prev_hash"),
		Nonce:      r.u32("nonce"),
		NTime:      r.u32("ntime"),
		NBits:      r.u32("nbits"),
		Version:    r.u32("version"),
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = v
	return nil
}
