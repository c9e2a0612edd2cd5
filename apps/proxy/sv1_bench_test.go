package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/sv1"
)

// The Stratum V1 benchmarks: raw Sv1 devices (a TCP connection each,
// JSON lines written by hand as firmware does) through the proxy's Sv1
// gateway, in front of the benchmarks' pool. Each device suggests the
// easiest difficulty, and the proxy takes any (MinShareDifficulty -1), so
// that every nonce is a new valid share.
const (
	benchSv1Conns = 1000
	// benchSv1Window is how many shares a device has unanswered: it writes
	// that many with one system call, then reads their answers.
	benchSv1Window = 16
)

// startBenchSv1Proxy is startBenchProxy with a Sv1 gateway; it returns the
// proxy and the gateway's address.
func startBenchSv1Proxy(b testing.TB, pool *benchPool) (*Proxy, string) {
	b.Helper()
	sv1ln := benchListen(b)
	p, _ := startBenchProxyWith(b, pool, 0, func(c *Config) { c.Sv1 = &sv1.Config{Listener: sv1ln, KeepAlive: time.Hour} })
	return p, sv1ln.Addr().String()
}

// benchSv1Dev is one raw Sv1 device.
type benchSv1Dev struct {
	nc    net.Conn
	r     *bufio.Reader
	user  string
	job   string
	ntime string
	nonce uint32
	buf   []byte
	setup []string // what the device was sent before its first job
}

// dialBenchSv1 connects the i-th device (from 127.0.0.2 onwards) and takes
// it to its first job.
func dialBenchSv1(b testing.TB, addr string, i int) *benchSv1Dev {
	b.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/benchPerSource))}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	dev := &benchSv1Dev{nc: nc, r: bufio.NewReaderSize(nc, 1<<16), user: fmt.Sprintf("rig%d", i)}
	fmt.Fprintf(nc, `{"id":1,"method":"mining.subscribe","params":["bench/1"]}`+"\n"+
		`{"id":2,"method":"mining.suggest_difficulty","params":[1e-12]}`+"\n"+
		`{"id":3,"method":"mining.authorize","params":[%q,"x"]}`+"\n", dev.user)
	nc.SetReadDeadline(time.Now().Add(benchWait))
	for dev.job == "" {
		line, err := dev.r.ReadBytes('\n')
		if err != nil {
			b.Fatalf("device %d: %v", i, err)
		}
		var m struct {
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
			Error  json.RawMessage   `json:"error"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			b.Fatal(err)
		}
		if m.Method == "" && string(m.Error) != "null" {
			b.Fatalf("device %d: %s", i, line)
		}
		dev.setup = append(dev.setup, string(bytes.TrimSpace(line)))
		if m.Method == "mining.notify" {
			json.Unmarshal(m.Params[0], &dev.job)
			json.Unmarshal(m.Params[7], &dev.ntime)
		}
	}
	return dev
}

// round writes n shares with one system call and reads their answers.
func (d *benchSv1Dev) round(n int) error {
	d.buf = d.buf[:0]
	for range n {
		d.nonce++
		d.buf = append(d.buf, `{"id":4,"method":"mining.submit","params":["`...)
		d.buf = append(d.buf, d.user...)
		d.buf = append(d.buf, `","`...)
		d.buf = append(d.buf, d.job...)
		d.buf = append(d.buf, `","00000000","`...)
		d.buf = append(d.buf, d.ntime...)
		d.buf = append(d.buf, `","`...)
		d.buf = append(d.buf, sv1.Uint32Hex(d.nonce)...)
		d.buf = append(d.buf, "\"]}\n"...)
	}
	d.nc.SetDeadline(time.Now().Add(benchWait))
	if _, err := d.nc.Write(d.buf); err != nil {
		return err
	}
	for got := 0; got < n; {
		line, err := d.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if bytes.Contains(line, []byte(`"method"`)) {
			continue // a notification
		}
		if !bytes.Contains(line, []byte(`"result":true`)) {
			return fmt.Errorf("%s: share %d refused: %s (after %q)", d.user, d.nonce, line, d.setup)
		}
		got++
	}
	return nil
}

// BenchmarkSv1Shares is Stratum V1 shares validated and answered per
// second through the proxy: 1,000 Sv1 devices, each with 16 shares in
// flight, in front of the benchmarks' pool, which takes the shares that
// meet its minimum difficulty (2^-24: 1 in 256). Reported: shares/s, and
// up-shares/s the pool accepted.
//
//	cd apps/proxy && go test -run '^$' -bench Sv1Shares -benchtime 1000000x -count 5
func BenchmarkSv1Shares(b *testing.B) {
	perDev := max(benchSv1Window, (b.N+benchSv1Conns-1)/benchSv1Conns)
	perDev = (perDev + benchSv1Window - 1) / benchSv1Window * benchSv1Window
	if perDev > mining.DefaultMaxSharesPerTip {
		b.Fatalf("at most %d shares a run", benchSv1Conns*mining.DefaultMaxSharesPerTip)
	}
	pool := startBenchPool(b, nil, nil)
	p, addr := startBenchSv1Proxy(b, pool)
	devs := make([]*benchSv1Dev, benchSv1Conns)
	for i := range devs {
		devs[i] = dialBenchSv1(b, addr, i)
	}
	if n := p.Stats().Devices; n != benchSv1Conns {
		b.Fatalf("%d devices at the proxy, want %d", n, benchSv1Conns)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(devs))
	for _, d := range devs {
		wg.Go(func() {
			for range perDev / benchSv1Window {
				if err := d.round(benchSv1Window); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	pool.check(b)
	total := float64(benchSv1Conns * perDev)
	b.ReportMetric(total/elapsed.Seconds(), "shares/s")
	b.ReportMetric(float64(pool.accepted.Load())/elapsed.Seconds(), "up-shares/s")
	if pool.accepted.Load() == 0 {
		b.Fatal("no share reached the pool")
	}
}

// benchSv1DevicesEnv makes the test binary a process of Sv1 devices for
// BenchmarkSv1Memory: "address connections".
const benchSv1DevicesEnv = "PROXY_BENCH_SV1_DEVICES"

// BenchmarkSv1Memory is the proxy's memory per Sv1 device connection: 1,000
// devices, subscribed, authorized and on their first job, held by a process
// of their own. Reported: heap and goroutine stacks per connection.
//
//	cd apps/proxy && go test -run '^$' -bench Sv1Memory -benchtime 1x -count 5
func BenchmarkSv1Memory(b *testing.B) {
	pool := startBenchPool(b, nil, nil)
	p, addr := startBenchSv1Proxy(b, pool)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stop := devicesProcess(b, "TestBenchSv1DevicesProcess", fmt.Sprintf("%s=%s %d", benchSv1DevicesEnv, addr, benchSv1Conns))
	defer stop()
	if n := p.Stats().Devices; n != benchSv1Conns {
		b.Fatalf("%d device connections at the proxy, want %d", n, benchSv1Conns)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	delta := func(a, b uint64) float64 { return float64(int64(a) - int64(b)) }
	b.ReportMetric(delta(after.HeapInuse, before.HeapInuse)/benchSv1Conns, "B/conn")
	b.ReportMetric(delta(after.StackInuse, before.StackInuse)/benchSv1Conns, "stack-B/conn")
}

// TestBenchSv1DevicesProcess is not a test: BenchmarkSv1Memory runs the
// test binary again with it to hold its devices in a process of their own.
func TestBenchSv1DevicesProcess(t *testing.T) {
	spec := os.Getenv(benchSv1DevicesEnv)
	if spec == "" {
		t.Skip("only BenchmarkSv1Memory runs it")
	}
	f := strings.Fields(spec)
	if len(f) != 2 {
		t.Fatalf("%s=%q: want address and connections", benchSv1DevicesEnv, spec)
	}
	conns, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	for i := range conns {
		d := dialBenchSv1(t, f[0], i)
		go io.Copy(io.Discard, d.nc) //nolint:errcheck // whatever the proxy sends, until the end
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // its end is the signal
}
