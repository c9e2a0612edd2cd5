package pool

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/stratumgo/stratum/core/network"
)

// Payout is one output the block reward pays: a share (Weight) of
// coinbase_tx_value_remaining to Script.
type Payout struct {
	Script []byte
	Weight uint64
}

// ParsePayout reads "address_or_script[:weight]": an address of the network,
// or a hex output script; weight defaults to 1.
func ParsePayout(s string, net *chaincfg.Params) (Payout, error) {
	target, weight := s, uint64(1)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		w, err := strconv.ParseUint(s[i+1:], 10, 64)
		if err != nil || w == 0 {
			return Payout{}, fmt.Errorf("payout %q: weight must be a positive integer", s)
		}
		target, weight = s[:i], w
	}
	script, err := network.OutputScript(target, net)
	if err != nil {
		return Payout{}, fmt.Errorf("payout %q: %w", s, err)
	}
	return Payout{Script: script, Weight: weight}, nil
}

// ErrAddress means a string is not an address of the pool's network.
var ErrAddress = network.ErrAddress

// soloAddress reads a solo miner's user_identity, "<address>[.<worker>]":
// an address whose output fits the room the pool reserves for a miner's
// (soloOutputSize, soloOutputSigops). A public key given as an address
// (pay-to-pubkey: 76 bytes uncompressed) is refused: it would outgrow the
// room the template provider left, and the block would be too heavy.
func soloAddress(identity string, net *chaincfg.Params) ([]byte, error) {
	addr, _, _ := strings.Cut(identity, ".")
	script, err := network.AddressScript(addr, net)
	if err != nil {
		return nil, err
	}
	if size, sigops := constraintsFor([][]byte{script}); size > soloOutputSize || sigops > soloOutputSigops {
		return nil, fmt.Errorf("%q: %w: its output is %d bytes and %d sigops, over the %d and %d a miner's may take", addr, ErrAddress, size, sigops, soloOutputSize, soloOutputSigops)
	}
	return script, nil
}

// outputs turns payouts into coinbase outputs and weights.
func outputs(ps []Payout) ([]*wire.TxOut, []uint64) {
	outs := make([]*wire.TxOut, len(ps))
	weights := make([]uint64, len(ps))
	for i, p := range ps {
		outs[i] = wire.NewTxOut(0, p.Script)
		weights[i] = p.Weight
	}
	return outs, weights
}

// constraintsFor is what the pool's outputs add to a coinbase (§7.1): their
// serialized size and their sigop cost.
func constraintsFor(scripts [][]byte) (size uint32, sigops uint16) {
	for _, s := range scripts {
		size += uint32(wire.NewTxOut(0, s).SerializeSize())
		sigops += uint16(txscript.GetSigOpCount(s) * 4) // legacy sigops cost 4 each
	}
	return size, sigops
}

// A solo miner's output is at most 43 bytes (P2TR or P2WSH: value, length,
// 34-byte script) and costs at most 4 sigops (P2PKH), which the pool
// reserves in CoinbaseOutputConstraints.
const (
	soloOutputSize   = 43
	soloOutputSigops = 4
)
