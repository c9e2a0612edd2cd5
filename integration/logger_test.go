package integration

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// lockedBuffer collects an app's logs from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger returns a debug logger whose output is shown only if the test
// fails. Apps may log from their goroutines until they are stopped, after
// the test function returned, so it writes to a buffer rather than t.Log.
func testLogger(t testing.TB, name string) *slog.Logger {
	var buf lockedBuffer
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("SV2_TEST_LOGS") != "" {
			t.Logf("%s log:\n%s", name, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("app", name)
}
