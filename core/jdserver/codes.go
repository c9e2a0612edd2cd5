package jdserver

// The error codes of DeclareMiningJob.Error (§6.4.6), for a JDC to branch
// on; error_details says more, in words (the node's own reason for
// CodeRejectedByNode).
const (
	// CodeInvalidToken: the token is not one this JDS granted this
	// connection for a declaration, was used already, or expired. Allocate
	// another.
	CodeInvalidToken = "invalid-mining-job-token"
	// CodeStaleChainTip: the job is not on the JDS's chain tip (its BIP34
	// height is below the tip's, or the node saw it as stale). Declare the
	// job of the new tip.
	CodeStaleChainTip = "stale-chain-tip"
	// CodeInvalidVersion: a block version consensus refuses.
	CodeInvalidVersion = "invalid-version"
	// CodeInvalidCoinbase: the coinbase prefix and suffix do not parse as a
	// coinbase, or its height is not the next block's.
	CodeInvalidCoinbase = "invalid-coinbase"
	// CodeInvalidCoinbaseOutputs: the pool payout output is missing or
	// pays less than the block subsidy.
	CodeInvalidCoinbaseOutputs = "invalid-coinbase-tx-outputs"
	// CodeTooManyTransactions: more transactions than fit a block, or a
	// wtxid listed twice.
	CodeTooManyTransactions = "invalid-transaction-list"
	// CodeMissingTransactions: ProvideMissingTransactions was not answered
	// in time, answered with the wrong number of transactions, or the
	// declaration was dropped for a newer one.
	CodeMissingTransactions = "missing-transactions"
	// CodeTransactionMismatch: a provided transaction does not parse or is
	// not the one declared at its position.
	CodeTransactionMismatch = "transaction-mismatch"
	// CodeUnexpectedTransactions: ProvideMissingTransactions.Success for a
	// request that asked for none.
	CodeUnexpectedTransactions = "unexpected-transactions"
	// CodeRejectedByNode: the node judged the block invalid; error_details
	// is its reason (BIP22/BIP23 strings such as bad-txns-inputs-missingorspent).
	CodeRejectedByNode = "rejected-by-node"
	// CodeNodeUnavailable: the node could not be asked; try again.
	CodeNodeUnavailable = "node-unavailable"
	// CodeRateLimited: declarations came faster than the configured rate.
	CodeRateLimited = "rate-limited"
	// CodeNotFullTemplate: the connection did not set DECLARE_TX_DATA.
	CodeNotFullTemplate = "declare-tx-data-not-negotiated"
)
