package noise

import (
	"encoding/csv"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// seeded returns a deterministic randomness source, so that handshakes and
// keys can be replayed byte for byte.
func seeded(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed})
}

// readCSV returns the records of a testdata CSV file as maps from column
// name to value.
func readCSV(t *testing.T, name string) []map[string]string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) < 2 {
		t.Fatalf("%s: no vectors", name)
	}
	var rows []map[string]string
	for _, rec := range records[1:] {
		row := make(map[string]string)
		for i, col := range records[0] {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
