// Package coinbase builds the coinbase transaction of a block template: the
// scriptSig (the template's BIP34 prefix, an optional pool tag, the extranonce
// push), the pool's outputs followed by the template's, and the BIP141 witness
// when the template is SegWit. It produces the prefix and suffix around the
// extranonce in two forms: stripped of BIP141 fields, for NewExtendedMiningJob
// and txids (spec §3.7.1), and complete, for SubmitSolution, DeclareMiningJob
// and blocks (§3.7.2–§3.7.3).
package coinbase

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/sv2"
)

// Consensus and protocol limits.
const (
	MaxScriptSigSize  = 100 // consensus: a coinbase scriptSig is 2 to 100 bytes
	MinScriptSigSize  = 2
	MaxExtranonceSize = 32 // B0_32: the largest extranonce a share can carry
)

// Errors callers may branch on.
var (
	ErrScriptSigTooLong = errors.New("coinbase: scriptSig longer than 100 bytes")
	ErrScriptSigShort   = errors.New("coinbase: scriptSig shorter than 2 bytes")
	ErrExtranonceSize   = errors.New("coinbase: extranonce size out of range")
	ErrValue            = errors.New("coinbase: outputs do not add up to the template's value")
	ErrOutputs          = errors.New("coinbase: malformed coinbase_tx_outputs")
	ErrNoOutputs        = errors.New("coinbase: no pool outputs")
	ErrMalformed        = errors.New("coinbase: malformed coinbase transaction")
	ErrTooLarge         = errors.New("coinbase: suffix over the 65,535 bytes a job carries")
)

// WitnessCommitmentPrefix is the first 6 bytes of a BIP141 witness
// commitment output script: OP_RETURN, a 36-byte push, and the commitment
// header 0xaa21a9ed; the 32-byte commitment follows. It is a string so that
// it cannot change; []byte(WitnessCommitmentPrefix) gives the bytes.
const WitnessCommitmentPrefix = "\x6a\x24\xaa\x21\xa9\xed"

// Config is what the pool adds to every template's coinbase.
type Config struct {
	// Outputs are placed before the template's outputs. Their values are
	// fixed, except that Outputs[0] also receives whatever remains of the
	// template's coinbase_tx_value_remaining, so that the pool's outputs spend
	// exactly that value.
	Outputs []*wire.TxOut
	// Weights, when set (one per output), split the whole value instead:
	// output i gets value × Weights[i] / sum(Weights), rounded down, and
	// Outputs[0] the satoshis rounding leaves; the outputs' own values are
	// ignored.
	Weights []uint64
	// Tag is pushed in the scriptSig after the template's coinbase_prefix, for
	// example "/pool name/". It may be empty.
	Tag []byte
	// Lead are bytes in the extranonce's push, before the extranonce: a job
	// declarator client or proxy puts its upstream channel's extranonce
	// prefix (and filler) there, so that its devices' channels keep their
	// own extranonce when it moves to another upstream. It may be empty.
	Lead []byte
}

// Coinbase is a template's coinbase transaction with a hole for the extranonce.
// It is immutable and safe for concurrent use.
type Coinbase struct {
	segWit         bool
	extranonceSize int
	prefix         []byte // stripped: no marker and flag
	suffix         []byte // stripped: no witness
	fullPrefix     []byte
	fullSuffix     []byte
}

// New builds the coinbase of template t for a full extranonce of extranonceSize bytes
// (the extranonce_prefix of a standard channel, or extranonce_prefix plus the rollable
// extranonce of an extended channel). The template is SegWit when one of its outputs
// carries a BIP141 witness commitment; its coinbase then gets the 32-byte zero witness
// the commitment assumes (§7.2).
func New(t *sv2.NewTemplate, cfg Config, extranonceSize int) (*Coinbase, error) {
	if extranonceSize < 0 || extranonceSize > MaxExtranonceSize {
		return nil, fmt.Errorf("%w: %d bytes, want 0 to %d", ErrExtranonceSize, extranonceSize, MaxExtranonceSize)
	}
	if len(cfg.Outputs) == 0 {
		return nil, ErrNoOutputs
	}
	segWit, err := checkOutputs(t.CoinbaseTxOutputs, t.CoinbaseTxOutputsCount)
	if err != nil {
		return nil, err
	}
	if len(cfg.Lead)+extranonceSize > 75 {
		return nil, fmt.Errorf("%w: a lead of %d bytes and an extranonce of %d exceed one push", ErrExtranonceSize, len(cfg.Lead), extranonceSize)
	}
	scriptSig := append([]byte(nil), t.CoinbasePrefix...)
	scriptSig = appendPush(scriptSig, cfg.Tag)
	if n := len(cfg.Lead) + extranonceSize; n > 0 {
		scriptSig = append(scriptSig, byte(n)) // OP_PUSHBYTES_n, n <= 75
		scriptSig = append(scriptSig, cfg.Lead...)
	}
	switch n := len(scriptSig) + extranonceSize; {
	case n > MaxScriptSigSize:
		return nil, fmt.Errorf("%w: %d bytes (prefix %d, tag %d, extranonce %d)",
			ErrScriptSigTooLong, n, len(t.CoinbasePrefix), len(cfg.Tag), extranonceSize)
	case n < MinScriptSigSize:
		return nil, fmt.Errorf("%w: %d bytes", ErrScriptSigShort, n)
	}

	outs, err := payouts(cfg.Outputs, cfg.Weights, t.CoinbaseTxValueRemaining)
	if err != nil {
		return nil, err
	}
	var body []byte
	for _, o := range outs {
		body = appendTxOut(body, &o)
	}
	body = append(body, t.CoinbaseTxOutputs...)
	cb := build(t.CoinbaseTxVersion, scriptSig, extranonceSize, t.CoinbaseTxInputSequence,
		uint64(len(outs))+uint64(t.CoinbaseTxOutputsCount), body, t.CoinbaseTxLocktime, segWit)
	if n := len(cb.suffix); n > MaxSuffixSize {
		// NewExtendedMiningJob's coinbase_tx_suffix is a B0_64K: a job
		// of it could not be sent.
		return nil, fmt.Errorf("%w: %d bytes (%d outputs)", ErrTooLarge, n, len(outs))
	}
	return cb, nil
}

// MaxSuffixSize is the longest coinbase suffix a job can carry: a B0_64K.
const MaxSuffixSize = 0xffff

// FromCustomJob builds the coinbase a custom job describes (SetCustomMiningJob,
// §5.3.18), for a full extranonce of extranonceSize bytes. Its scriptSig is the
// job's coinbase_prefix followed directly by the extranonce: the job
// declarator client's prefix already holds the template's BIP34 height, its
// tag and the extranonce's push opcode, as SRI lays it out. It returns the
// job's outputs (coinbase_tx_outputs, a CompactSize count and the outputs) too.
// As with New, a witness commitment among the outputs makes it SegWit.
func FromCustomJob(m *sv2.SetCustomMiningJob, extranonceSize int) (*Coinbase, []wire.TxOut, error) {
	if extranonceSize < 0 || extranonceSize > MaxExtranonceSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, want 0 to %d", ErrExtranonceSize, extranonceSize, MaxExtranonceSize)
	}
	switch n := len(m.CoinbasePrefix) + extranonceSize; {
	case n > MaxScriptSigSize:
		return nil, nil, fmt.Errorf("%w: %d bytes (prefix %d, extranonce %d)", ErrScriptSigTooLong, n, len(m.CoinbasePrefix), extranonceSize)
	case n < MinScriptSigSize:
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrScriptSigShort, n)
	}
	outs, body, err := parseOutputs(m.CoinbaseTxOutputs)
	if err != nil {
		return nil, nil, err
	}
	segWit := false
	for _, o := range outs {
		segWit = segWit || isWitnessCommitment(o.PkScript)
	}
	cb := build(m.CoinbaseTxVersion, m.CoinbasePrefix, extranonceSize, m.CoinbaseTxInputNSequence,
		uint64(len(outs)), body, m.CoinbaseTxLocktime, segWit)
	return cb, outs, nil
}

// ParseOutputs parses transaction outputs serialized as a CompactSize count
// followed by the outputs, as AllocateMiningJobToken.Success and
// SetCustomMiningJob carry them, and checks that the values are in
// consensus range (each and their sum at most 21 million bitcoin).
func ParseOutputs(b []byte) ([]wire.TxOut, error) {
	outs, _, err := parseOutputs(b)
	return outs, err
}

// parseOutputs is ParseOutputs, also returning the outputs' bytes after the count.
func parseOutputs(b []byte) (outs []wire.TxOut, body []byte, err error) {
	r := bytes.NewReader(b)
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: output count: %w", ErrOutputs, err)
	}
	body = b[len(b)-r.Len():]
	// An output takes at least 9 bytes: a count beyond that is a lie, not an allocation.
	if n > uint64(r.Len())/9 {
		return nil, nil, fmt.Errorf("%w: %d outputs in %d bytes", ErrOutputs, n, r.Len())
	}
	outs = make([]wire.TxOut, n)
	var total int64
	for i := range outs {
		// By hand rather than wire.ReadTxOut, which allocates a script of
		// whatever length is declared before finding the bytes missing.
		var value [8]byte
		if _, err := io.ReadFull(r, value[:]); err != nil {
			return nil, nil, fmt.Errorf("%w: output %d of %d: value: truncated", ErrOutputs, i, n)
		}
		size, err := wire.ReadVarInt(r, 0)
		if err != nil || size > uint64(r.Len()) {
			return nil, nil, fmt.Errorf("%w: output %d of %d: script length", ErrOutputs, i, n)
		}
		script := b[len(b)-r.Len():][:size]
		r.Seek(int64(size), io.SeekCurrent) //nolint:errcheck // size <= r.Len()
		outs[i] = wire.TxOut{Value: int64(binary.LittleEndian.Uint64(value[:])), PkScript: script}
		v := outs[i].Value
		if total += v; v < 0 || v > maxMoney || total > maxMoney {
			return nil, nil, fmt.Errorf("%w: output %d: value %d or the running total %d out of range", ErrOutputs, i, v, total)
		}
	}
	if r.Len() != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after %d outputs", ErrOutputs, r.Len(), n)
	}
	return outs, body, nil
}

// maxMoney is consensus's MAX_MONEY: 21 million bitcoin in satoshis.
const maxMoney = 21_000_000 * 100_000_000

// build lays out a coinbase around its extranonce: scriptSig is what comes
// before the extranonce in the scriptSig, outputs the nOuts serialized outputs.
func build(version uint32, scriptSig []byte, extranonceSize int, sequence uint32, nOuts uint64, outputs []byte, locktime uint32, segWit bool) *Coinbase {
	head := binary.LittleEndian.AppendUint32(nil, version)
	input := []byte{1}                            // one input
	input = append(input, make([]byte, 32)...)    // null prevout hash
	input = append(input, 0xff, 0xff, 0xff, 0xff) // prevout index
	input = appendVarInt(input, uint64(len(scriptSig)+extranonceSize))
	input = append(input, scriptSig...)

	c := &Coinbase{segWit: segWit, extranonceSize: extranonceSize}
	c.prefix = append(append([]byte(nil), head...), input...)
	if segWit {
		c.fullPrefix = append(append(append([]byte(nil), head...), 0x00, 0x01), input...)
	} else {
		c.fullPrefix = c.prefix
	}

	body := binary.LittleEndian.AppendUint32(nil, sequence)
	body = appendVarInt(body, nOuts)
	body = append(body, outputs...)
	lock := binary.LittleEndian.AppendUint32(nil, locktime)
	c.suffix = append(append([]byte(nil), body...), lock...)
	if segWit {
		// One witness stack item: the 32-byte witness reserved value, all zeros.
		c.fullSuffix = append(append([]byte(nil), body...), 0x01, 0x20)
		c.fullSuffix = append(c.fullSuffix, make([]byte, 32)...)
		c.fullSuffix = append(c.fullSuffix, lock...)
	} else {
		c.fullSuffix = c.suffix
	}
	return c
}

// appendTxOut appends the serialization of o.
func appendTxOut(dst []byte, o *wire.TxOut) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(o.Value))
	dst = appendVarInt(dst, uint64(len(o.PkScript)))
	return append(dst, o.PkScript...)
}

// isWitnessCommitment reports whether script is a BIP141 witness commitment output script.
func isWitnessCommitment(script []byte) bool {
	return len(script) >= len(WitnessCommitmentPrefix)+32 && string(script[:len(WitnessCommitmentPrefix)]) == WitnessCommitmentPrefix
}

// appendPush appends a minimal data push of p (nothing when p is empty).
func appendPush(dst, p []byte) []byte {
	switch n := len(p); {
	case n == 0:
		return dst
	case n <= 75:
		dst = append(dst, byte(n))
	default:
		dst = append(dst, 0x4c, byte(min(n, 255))) // OP_PUSHDATA1; the length check rejects n > 100 anyway
	}
	return append(dst, p...)
}

// payouts returns the pool outputs with the remainder of value added to the first.
func payouts(outputs []*wire.TxOut, weights []uint64, value uint64) ([]wire.TxOut, error) {
	for i, o := range outputs {
		if o == nil || o.Value < 0 {
			return nil, fmt.Errorf("%w: output %d has no or a negative value", ErrValue, i)
		}
	}
	outs := make([]wire.TxOut, len(outputs))
	for i, o := range outputs {
		outs[i] = *o
	}
	if len(weights) > 0 {
		return weighted(outs, weights, value)
	}
	var fixed uint64
	for i := range outs {
		fixed += uint64(outs[i].Value)
		if fixed > value {
			return nil, fmt.Errorf("%w: pool outputs need %d sat or more, template has %d", ErrValue, fixed, value)
		}
	}
	outs[0].Value += int64(value - fixed)
	return outs, nil
}

// weighted splits value among outs by weights; rounding dust goes to outs[0].
func weighted(outs []wire.TxOut, weights []uint64, value uint64) ([]wire.TxOut, error) {
	if len(weights) != len(outs) {
		return nil, fmt.Errorf("%w: %d weights for %d outputs", ErrValue, len(weights), len(outs))
	}
	amounts, err := Weighted(value, weights)
	if err != nil {
		return nil, err
	}
	for i, a := range amounts {
		outs[i].Value = int64(a)
	}
	return outs, nil
}

// Weighted is how Config.Weights split value: the i-th amount is value ×
// weights[i] / sum(weights) rounded down, the first also takes what
// rounding leaves, so the amounts sum to value. A weight of 0, or weights
// summing past 2^64, is an error.
func Weighted(value uint64, weights []uint64) ([]uint64, error) {
	var sum uint64
	for i, w := range weights {
		if w == 0 || sum+w < sum {
			return nil, fmt.Errorf("%w: weight %d of output %d", ErrValue, w, i)
		}
		sum += w
	}
	out := make([]uint64, len(weights))
	var paid uint64
	for i, w := range weights {
		// value × w can exceed 64 bits; the quotient cannot exceed value.
		hi, lo := bits.Mul64(value, w)
		out[i], _ = bits.Div64(hi, lo, sum) // hi < sum since w ≤ sum
		paid += out[i]
	}
	if len(out) > 0 {
		out[0] += value - paid
	}
	return out, nil
}

// checkOutputs parses the template's outputs (no count prefix, §7.2) and reports
// whether one of them is a witness commitment.
func checkOutputs(b []byte, count uint32) (segWit bool, err error) {
	r := bytes.NewReader(b)
	for i := range count {
		if r.Len() < 8 {
			return false, fmt.Errorf("%w: output %d of %d: value: truncated", ErrOutputs, i, count)
		}
		r.Seek(8, io.SeekCurrent) //nolint:errcheck // checked above
		n, err := wire.ReadVarInt(r, 0)
		if err != nil || n > uint64(r.Len()) {
			return false, fmt.Errorf("%w: output %d of %d: script length", ErrOutputs, i, count)
		}
		script := b[len(b)-r.Len():][:n]
		r.Seek(int64(n), io.SeekCurrent) //nolint:errcheck // n <= r.Len()
		segWit = segWit || isWitnessCommitment(script)
	}
	if r.Len() != 0 {
		return false, fmt.Errorf("%w: %d bytes after %d outputs", ErrOutputs, r.Len(), count)
	}
	return segWit, nil
}

// SegWit reports whether the coinbase carries a BIP141 witness.
func (c *Coinbase) SegWit() bool { return c.segWit }

// ExtranonceSize is the number of extranonce bytes between prefix and suffix.
func (c *Coinbase) ExtranonceSize() int { return c.extranonceSize }

// Prefix is the coinbase before the extranonce without BIP141 fields, the
// coinbase_tx_prefix of NewExtendedMiningJob. The caller must not modify it.
func (c *Coinbase) Prefix() []byte { return c.prefix }

// Suffix is the coinbase after the extranonce without BIP141 fields, the
// coinbase_tx_suffix of NewExtendedMiningJob. The caller must not modify it.
func (c *Coinbase) Suffix() []byte { return c.suffix }

// FullPrefix is Prefix with the BIP141 marker and flag kept, as DeclareMiningJob wants.
func (c *Coinbase) FullPrefix() []byte { return c.fullPrefix }

// FullSuffix is Suffix with the BIP141 witness kept, as DeclareMiningJob wants.
func (c *Coinbase) FullSuffix() []byte { return c.fullSuffix }

// TxID returns the coinbase's txid for the given full extranonce.
func (c *Coinbase) TxID(extranonce []byte) sv2.U256 {
	return TxID(c.prefix, extranonce, nil, c.suffix)
}

// AppendTx appends the complete coinbase (BIP141 fields kept) for extranonce,
// as SubmitSolution and blocks carry it.
func (c *Coinbase) AppendTx(dst, extranonce []byte) []byte {
	dst = append(dst, c.fullPrefix...)
	dst = append(dst, extranonce...)
	return append(dst, c.fullSuffix...)
}

// AppendStrippedTx appends the coinbase without BIP141 fields, whose hash is the txid.
func (c *Coinbase) AppendStrippedTx(dst, extranonce []byte) []byte {
	dst = append(dst, c.prefix...)
	dst = append(dst, extranonce...)
	return append(dst, c.suffix...)
}

// TxID returns the double SHA-256 of prefix‖ext1‖ext2‖suffix: the txid of a
// stripped coinbase whose extranonce is split in two (for example a channel's
// extranonce_prefix and a share's extranonce). It hashes the parts in place
// and does not allocate.
func TxID(prefix, ext1, ext2, suffix []byte) sv2.U256 {
	var d sha256d.Digest
	d.Write(prefix)
	d.Write(ext1)
	d.Write(ext2)
	d.Write(suffix)
	return d.Sum()
}

// appendVarInt appends Bitcoin's CompactSize encoding of n.
func appendVarInt(dst []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(dst, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(dst, 0xfe), uint32(n))
	default:
		return binary.LittleEndian.AppendUint64(append(dst, 0xff), n)
	}
}

// WitnessCommitmentScript returns the output script committing to a block's
// witnesses (BIP141), given the wtxids of every transaction but the coinbase,
// in block order, and the all-zero witness reserved value that §7.2 assumes.
// A template provider puts it in coinbase_tx_outputs.
func WitnessCommitmentScript(wtxids []sv2.U256) []byte {
	leaves := make([]sv2.U256, 1, 1+len(wtxids)) // the coinbase's wtxid counts as zero
	leaves = append(leaves, wtxids...)
	root := merkle.RootFromTxIDs(leaves)
	var reserved [32]byte
	commitment := merkle.DoubleSHA256(append(root[:], reserved[:]...))
	return append([]byte(WitnessCommitmentPrefix), commitment[:]...)
}

// FromParts makes a Coinbase of an upstream's job (NewExtendedMiningJob's
// coinbase_tx_prefix and coinbase_tx_suffix, with whatever extranonce bytes
// of the upstream's a proxy keeps fixed already appended to prefix) around
// a full extranonce of extranonceSize bytes. Only the stripped form is
// known: FullPrefix, FullSuffix and AppendTx are the stripped ones, so a
// block built from it lacks any witness and a proxy passes its shares
// upstream rather than submitting it. The parts are copied.
func FromParts(prefix, suffix []byte, extranonceSize int) *Coinbase {
	p := append([]byte(nil), prefix...)
	s := append([]byte(nil), suffix...)
	return &Coinbase{prefix: p, suffix: s, fullPrefix: p, fullSuffix: s, extranonceSize: extranonceSize}
}
