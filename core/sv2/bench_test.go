package sv2

import "testing"

func benchEncode(b *testing.B, m Message) {
	buf, err := m.AppendPayload(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = m.AppendPayload(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, m Message) {
	payload, err := Encode(m)
	if err != nil {
		b.Fatal(err)
	}
	out := Info(m).New()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := out.DecodePayload(payload); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchStandard = &SubmitSharesStandard{ChannelID: 3, SequenceNumber: 10, JobID: 4, Nonce: 0xdeadbeef, NTime: 1700000001, Version: 0x20000000}
	benchExtended = &SubmitSharesExtended{ChannelID: 3, SequenceNumber: 11, JobID: 4, Nonce: 1, NTime: 2, Version: 3, Extranonce: []byte{0, 0, 0, 0, 0, 0, 0, 1}}
	// The same share with the user_identity of Worker-Specific Hashrate Tracking (extension 0x0002).
	benchExtendedTLV = &SubmitSharesExtended{ChannelID: 3, SequenceNumber: 11, JobID: 4, Nonce: 1, NTime: 2, Version: 3, Extranonce: []byte{0, 0, 0, 0, 0, 0, 0, 1},
		TLVs: []TLV{WorkerIdentityTLV("Worker_001")}}
	// A job with a 12-hash merkle path (a block of 2049–4096 transactions) and a typical coinbase.
	benchExtJob = &NewExtendedMiningJob{ChannelID: 3, JobID: 6, MinNTime: Some[uint32](1700000000), Version: 0x20000000, VersionRollingAllowed: true,
		MerklePath: path(12), CoinbaseTxPrefix: make([]byte, 52), CoinbaseTxSuffix: make([]byte, 130)}
)

func BenchmarkEncodeSubmitSharesStandard(b *testing.B) { benchEncode(b, benchStandard) }
func BenchmarkDecodeSubmitSharesStandard(b *testing.B) { benchDecode(b, benchStandard) }
func BenchmarkEncodeSubmitSharesExtended(b *testing.B) { benchEncode(b, benchExtended) }
func BenchmarkDecodeSubmitSharesExtended(b *testing.B) { benchDecode(b, benchExtended) }
func BenchmarkEncodeNewExtendedMiningJob(b *testing.B) { benchEncode(b, benchExtJob) }
func BenchmarkDecodeNewExtendedMiningJob(b *testing.B) { benchDecode(b, benchExtJob) }

func BenchmarkEncodeSubmitSharesExtendedTLV(b *testing.B) { benchEncode(b, benchExtendedTLV) }
func BenchmarkDecodeSubmitSharesExtendedTLV(b *testing.B) { benchDecode(b, benchExtendedTLV) }

// BenchmarkDecodeFrameSubmitSharesStandard includes the header, the registry
// look-up and the allocation of the message value.
func BenchmarkDecodeFrameSubmitSharesStandard(b *testing.B) {
	frame, err := AppendFrame(nil, benchStandard)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}
