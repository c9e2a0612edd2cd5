package jdtoken

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/stratumgo/stratum/core/sv2"
)

// Job is what a SetCustomMiningJob must repeat of the job its JDS accepted:
// the header fields the JDS judged the block on, the coinbase around the
// extranonce, and the merkle path of the declared transactions. min_ntime
// and the channel are the miner's to choose and are not part of it.
type Job struct {
	PrevHash          sv2.U256
	NBits             uint32
	Version           uint32
	CoinbaseTxVersion uint32
	CoinbasePrefix    []byte // the scriptSig before the extranonce
	Sequence          uint32
	Outputs           []byte // as coinbase_tx_outputs: a CompactSize count, then the outputs
	Locktime          uint32
	MerklePath        []sv2.U256
}

// JobOf is the Job a SetCustomMiningJob sets.
func JobOf(m *sv2.SetCustomMiningJob) Job {
	return Job{
		PrevHash: m.PrevHash, NBits: m.NBits, Version: m.Version,
		CoinbaseTxVersion: m.CoinbaseTxVersion, CoinbasePrefix: m.CoinbasePrefix,
		Sequence: m.CoinbaseTxInputNSequence, Outputs: m.CoinbaseTxOutputs,
		Locktime: m.CoinbaseTxLocktime, MerklePath: m.MerklePath,
	}
}

var commitTag = sha256.Sum256([]byte("stratumgo/jd-job/v1"))

// Commit is the SHA-256 a Declared token carries: a tagged hash of every
// field, variable ones with their lengths, so no two jobs share an encoding.
func (j Job) Commit() [32]byte {
	h := sha256.New()
	h.Write(commitTag[:])
	h.Write(j.PrevHash[:])
	u32(h, j.NBits)
	u32(h, j.Version)
	u32(h, j.CoinbaseTxVersion)
	bytesOf(h, j.CoinbasePrefix)
	u32(h, j.Sequence)
	bytesOf(h, j.Outputs)
	u32(h, j.Locktime)
	u32(h, uint32(len(j.MerklePath)))
	for _, p := range j.MerklePath {
		h.Write(p[:])
	}
	return [32]byte(h.Sum(nil))
}

func u32(h hash.Hash, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	h.Write(b[:])
}

func bytesOf(h hash.Hash, b []byte) {
	u32(h, uint32(len(b)))
	h.Write(b)
}
