package mining

import "errors"

// SetupConnection flags of the Mining Protocol (§5.3.1), sent by the client.
const (
	FlagRequiresStandardJobs   uint32 = 1 << 0
	FlagRequiresWorkSelection  uint32 = 1 << 1
	FlagRequiresVersionRolling uint32 = 1 << 2
)

// SetupConnection.Success flags of the Mining Protocol (§5.3.1), sent by the server.
const (
	FlagRequiresFixedVersion     uint32 = 1 << 0
	FlagRequiresExtendedChannels uint32 = 1 << 1
)

// VersionRollingMask holds the BIP320 general-purpose version bits a miner may roll.
const VersionRollingMask uint32 = 0x1fffe000

// SubmitShares.Error codes, as SRI spells them.
const (
	CodeInvalidChannelID             = "invalid-channel-id"
	CodeInvalidJobID                 = "invalid-job-id"
	CodeStaleShare                   = "stale-share"
	CodeBadExtranonceSize            = "bad-extranonce-size"
	CodeInvalidShare                 = "invalid-share"
	CodeVersionRollingNotAllowed     = "version-rolling-not-allowed"
	CodeInvalidNonRollableVersionBit = "invalid-non-rollable-version-bit"
	CodeDuplicateShare               = "duplicate-share"
	CodeDifficultyTooLow             = "difficulty-too-low"

	// CodeTooManyShares refuses a share on a channel that already holds
	// ServerConfig.MaxSharesPerTip accepted shares on this tip (not an SRI code).
	CodeTooManyShares = "too-many-shares"
)

// OpenMiningChannel.Error codes.
const (
	CodeMaxTargetOutOfRange           = "max-target-out-of-range"
	CodeMinExtranonceSizeTooLarge     = "min-extranonce-size-too-large"
	CodeExtendedChannelsNotSupported  = "extended-channels-not-supported-for-standard-jobs"
	CodeStandardChannelsNotSupported  = "standard-channels-not-supported"
	CodeChannelCapacityExhausted      = "channel-capacity-exhausted"
	CodeInvalidNominalHashrate        = "invalid-nominal-hashrate"
	CodeUpdateChannelInvalidChannelID = CodeInvalidChannelID
	CodeUpdateChannelMaxTargetTooLow  = CodeMaxTargetOutOfRange

	// CodeChannelOpenRateExceeded refuses a channel request beyond the
	// connection's ServerConfig.MaxChannelOpensPerSecond (not an SRI code).
	CodeChannelOpenRateExceeded = "channel-open-rate-exceeded"
)

// SetCustomMiningJob.Error codes, as SRI spells them.
const (
	CodeJDNotSupported            = "jd-not-supported"
	CodeCustomJobInvalidChannelID = CodeInvalidChannelID
	CodeInvalidMiningJobToken     = "invalid-mining-job-token"
	CodeStaleChainTip             = "stale-chain-tip"
	CodeInvalidMinNTime           = "invalid-min-ntime"
	CodeInvalidNBits              = "invalid-nbits"
	CodeInvalidVersion            = "invalid-version"
	CodeInvalidCoinbasePrefix     = "invalid-coinbase-prefix"
	CodeInvalidCoinbaseTxOutputs  = "invalid-coinbase-tx-outputs"
	CodeInvalidCoinbaseTxLocktime = "invalid-coinbase-tx-locktime"
	CodeInvalidMerklePath         = "invalid-merkle-path"
)

// Errors callers may branch on.
var (
	ErrNoTip           = errors.New("mining: no prev hash yet")
	ErrUnknownTemplate = errors.New("mining: unknown template")
	ErrConfig          = errors.New("mining: invalid configuration")
	ErrUnknownChannel  = errors.New("mining: unknown channel")
	ErrUnknownJob      = errors.New("mining: unknown job")
	ErrProtocol        = errors.New("mining: message out of order")
	ErrFlags           = errors.New("mining: unsupported flags")
	ErrConnClosed      = errors.New("mining: connection removed")
	// ErrWrongTip refuses a non-future template whose BIP34 height is not
	// that of the tip's templates: it builds on a prev hash this server has
	// not been sent. It makes no jobs; a SetNewPrevHash naming it still
	// activates it. A caller may reconnect to its template provider, which
	// then sends the current prev hash.
	ErrWrongTip = errors.New("mining: template is not on the tip")
	// ErrOpenRate is the cause of a channel request refused with
	// CodeChannelOpenRateExceeded.
	ErrOpenRate = errors.New("mining: too many channel opens")
)

// OpenError is a refused channel request; Code is the OpenMiningChannel.Error
// error_code to send, and Err the cause.
type OpenError struct {
	Code string
	Err  error
}

func (e *OpenError) Error() string {
	return "mining: open channel refused: " + e.Code + ": " + e.Err.Error()
}
func (e *OpenError) Unwrap() error { return e.Err }

// UpdateError is a refused UpdateChannel; Code is the UpdateChannel.Error
// error_code to send, and Err the cause.
type UpdateError struct {
	Code string
	Err  error
}

func (e *UpdateError) Error() string {
	return "mining: update channel refused: " + e.Code + ": " + e.Err.Error()
}
func (e *UpdateError) Unwrap() error { return e.Err }

// CustomJobError is a refused SetCustomMiningJob; Code is the
// SetCustomMiningJob.Error error_code to send, and Err the cause.
type CustomJobError struct {
	Code string
	Err  error
}

func (e *CustomJobError) Error() string {
	return "mining: custom job refused: " + e.Code + ": " + e.Err.Error()
}
func (e *CustomJobError) Unwrap() error { return e.Err }
