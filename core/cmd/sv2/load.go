package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/backoff"
	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/sha256d"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// Exit statuses of sv2 load besides 0 (the run finished and was reported).
const (
	loadUsage       = 1   // invalid command line, as for decode and keygen
	loadNoTCP       = 2   // not one TCP connection could be made: the report says why
	loadInterrupted = 130 // SIGINT ended the run early; the report covers what ran
)

// loadVendor is sent as SetupConnection.vendor so that server logs show who connected.
const loadVendor = "stratumgo sv2 load"

// Bounds on the command line, which bound the tool's own memory: a
// connection costs about 40 KB (its goroutines and buffers), a channel its
// window of send times, and nothing grows with the length of the run.
const (
	maxLoadConnections = 100_000
	maxLoadChannels    = 4096 // per connection, the pool's default limit
	maxLoadAllChannels = 1_000_000
	maxLoadWindow      = 4096
	maxLoadFrame       = 1 << 20 // a job with a full merkle path and coinbase is far smaller
	// maxLoadCodes bounds the distinct error codes (and failure reasons) kept:
	// a server choosing a new code for every share cannot grow the report.
	maxLoadCodes = 32
	// hashChunk is how many nonces one channel hashes before the writer
	// looks at its other channels and the clock again.
	hashChunk = 1 << 16
)

// loadMode is what the connections do.
type loadMode int

const (
	modeNormal        loadMode = iota // mine valid shares
	modeSilent                        // TCP only, then nothing
	modeSlowHandshake                 // the Noise first message one byte at a time
	modeIdle                          // set up, no channel, nothing
	modeChurn                         // connect, set up, open, close, again
	modeZeroWork                      // hashrate 0, easiest max_target, every nonce a share
	modeFlood                         // a random Noise first message, the answer, hang up, again
	modeUnknownFrames                 // set up, then a 1-byte frame of an unknown type now and then
)

var loadModes = []string{"normal", "silent", "slow-handshake", "idle", "churn", "zero-work", "flood", "unknown-frames"}

// unknownMsgType is the message type of unknown-frames mode's frames: no
// subprotocol defines it.
const unknownMsgType = 0xfe

func (m loadMode) String() string { return loadModes[m] }

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "drive many connections, channels and shares at an Sv2 mining server and report how it copes",
		ArgsUsage: "HOST:PORT",
		Description: `Opens --connections connections to the mining server at HOST:PORT (and nowhere else), each with
--channels channels, and mines on them for --duration: every share is hashed against the target the
server gave its channel, on the job the server sent last (SetTarget, new jobs and prev hashes are
followed as a miner does), so a correct pool accepts them all. Then it sends CloseChannel, waits up
to --drain for the outstanding acknowledgements, hangs up, and prints a report.

Flags may come before or after HOST:PORT.

Modes (--mode):
  normal          mine valid shares as described above (the default)
  zero-work       open channels with nominal_hash_rate 0 and the easiest max_target, and send every
                  nonce as a share without hashing: the report shows how many the server takes
  silent          open TCP connections and send nothing, not even the Noise handshake
  slow-handshake  send the Noise first message one byte every --byte-interval, then set up and idle
  idle            complete the handshake and SetupConnection, open no channel, send nothing
  churn           connect, set up, open --channels channels, close them and hang up, over and over
  flood           connect, send 64 random bytes as the Noise first message, wait for the server's
                  answer (or its close) and hang up, over and over: a handshake flood, the server
                  doing a responder's work for each while the tool does none
  unknown-frames  set up as in idle, then send a frame of an unknown message type with a 1-byte
                  payload every --frame-interval: traffic that does no work
In silent, slow-handshake, idle and unknown-frames the report counts the connections the server
closed, and when; in flood, the first messages it answered and the connections it closed unanswered.
--fresh-users gives every channel a user_identity never used before (normal, churn, zero-work).

The report (human-readable, or one JSON object with --json):
  connections    attempted, made (set up; TCP connected in silent mode), failed by step with an
                 example error, unfinished (cut short by the end of the run), closed by the server
  connect time   p50/p99 of TCP + Noise + SetupConnection.Success (flood: TCP + the server's answer)
  channels       opened, refused by error_code, closed by the server
  shares         sent, accepted (the SubmitShares.Success counts), rejected by SubmitShares.Error
                 error_code, unacknowledged at the end
  ack latency    p50/p99 from writing a share to the SubmitShares.Success or .Error that covers it
                 (a pool acknowledging in batches makes a share wait for the rest of its batch)
  pool RSS       with --pool-pid: VmRSS of that process before, at most during, and at the end of the
                 load (read from /proc, so Linux only)
Latencies are kept in a histogram with buckets about 6 % wide, and the tool's memory does not grow
with the duration.

Exit status:
  0    the run finished and was reported
  1    invalid command line
  2    not one TCP connection could be made (the report is printed all the same)
  130  interrupted (SIGINT): the run stopped early, and what ran is reported`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "normal", Usage: "what the connections do: `MODE` is " + strings.Join(loadModes, ", ") + " (see above)"},
			&cli.IntFlag{Name: "connections", Value: 10, Usage: fmt.Sprintf("open `N` connections (at most %d)", maxLoadConnections)},
			&cli.IntFlag{Name: "channels", Value: 1, Usage: fmt.Sprintf("open `M` channels on each connection (at most %d, and %d in all)", maxLoadChannels, maxLoadAllChannels)},
			&cli.StringFlag{Name: "channel-kind", Value: "standard", Usage: "`KIND` of channel: standard (the connection sets REQUIRES_STANDARD_JOBS) or extended"},
			&cli.Float64Flag{Name: "rate", Usage: "send `SHARES` per second over all channels together; 0 sends as fast as the server acknowledges, within --window", DefaultText: "0"},
			&cli.IntFlag{Name: "window", Value: 40, Usage: fmt.Sprintf("let each channel have at most `N` shares unacknowledged (1 to %d); it must exceed the server's acknowledgement batch (10 for our pool), or channels stall", maxLoadWindow)},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "load the server for `D` (connecting included), then stop"},
			&cli.DurationFlag{Name: "drain", Value: 2 * time.Second, Usage: "after --duration, wait at most `D` for the acknowledgements of shares in flight"},
			&cli.StringFlag{Name: "authority-pubkey", Usage: "verify the server's certificate against the pool's authority public `KEY` (base58check, as printed by sv2 keygen)"},
			&cli.BoolFlag{Name: "plain", Usage: "skip the Noise handshake and talk unencrypted, as on a trusted local network"},
			&cli.Float64Flag{Name: "hashrate", Value: 1, Usage: "nominal_hash_rate in `H/s` each channel declares (normal and churn modes); a low one gets the server's easiest target, so shares are cheap to find"},
			&cli.StringFlag{Name: "user", Value: "sv2-load", Usage: "user_identity `NAME` of every channel (a solo pool wants an address)"},
			&cli.BoolFlag{Name: "fresh-users", Usage: "name every channel's user_identity anew: --user, a dash and a number never used before in the run (the user-name churn a pool's accounting must bound)"},
			&cli.Float64Flag{Name: "connect-rate", Usage: "start the connections at `N` per second rather than all at once (0), so that a server's per-source handshake rate does not refuse them", DefaultText: "0"},
			&cli.StringSliceFlag{Name: "bind", Usage: "connect from local `IP` (repeat to spread the connections over several, e.g. 127.0.0.2 on loopback, past per-source limits)"},
			&cli.DurationFlag{Name: "byte-interval", Value: 100 * time.Millisecond, Usage: "slow-handshake: wait `D` between the bytes of the Noise first message (64 bytes)"},
			&cli.DurationFlag{Name: "frame-interval", Value: time.Second, Usage: "unknown-frames: wait `D` between the frames"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "give up on one step (TCP connect, Noise handshake, SetupConnection, the channel replies) after `D`"},
			&cli.IntFlag{Name: "pool-pid", Usage: "report the resident memory (VmRSS) of the server's process `PID` before, during and after the load (Linux)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object instead of text"},
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("sv2 load: "+err.Error(), loadUsage)
		},
		Action: runLoad,
	}
}

// loadConfig is a checked command line.
type loadConfig struct {
	addr         string
	host         string
	port         uint16
	mode         loadMode
	connections  int
	channels     int
	extended     bool
	rate         float64
	window       int
	duration     time.Duration
	drain        time.Duration
	authority    *noise.PublicKey
	plain        bool
	hashrate     float32
	user         string
	freshUsers   bool
	connectRate  float64
	bind         []net.IP
	byteInterval time.Duration
	frameGap     time.Duration
	timeout      time.Duration
	poolPID      int
	json         bool
}

func runLoad(c *cli.Context) error {
	cfg, err := parseLoad(c)
	if errors.Is(err, errLoadHelp) {
		// The same help as "sv2 load --help", from a fresh app.
		return newApp(c.App.Reader, c.App.Writer, c.App.ErrWriter).Run([]string{c.App.Name, c.Command.Name, "--help"})
	}
	if err != nil {
		return cli.Exit("sv2 load: "+err.Error(), loadUsage)
	}
	if !cfg.plain && cfg.authority == nil && cfg.mode != modeSilent && cfg.mode != modeFlood { // those never finish a handshake
		fmt.Fprintf(c.App.ErrWriter, "sv2 load: warning: no --authority-pubkey given, so the connections to %s are encrypted but the server is not authenticated\n", cfg.addr)
	}
	sigCtx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()

	rep := runLoadTest(sigCtx, cfg)
	var out []byte
	if cfg.json {
		out, _ = json.Marshal(rep) // plain data: Marshal cannot fail
		out = append(out, '\n')
	} else {
		out = rep.text()
	}
	if _, err := c.App.Writer.Write(out); err != nil {
		return cli.Exit("sv2 load: writing output: "+err.Error(), loadUsage)
	}
	switch {
	case rep.Interrupted:
		return cli.Exit("sv2 load: interrupted", loadInterrupted)
	case rep.tcp == 0:
		return cli.Exit(fmt.Sprintf("sv2 load: no TCP connection to %s could be made", cfg.addr), loadNoTCP)
	}
	return nil
}

func parseLoad(c *cli.Context) (loadConfig, error) {
	addr, err := loadArgs(c)
	if err != nil {
		return loadConfig{}, err
	}
	cfg := loadConfig{
		addr: addr, connections: c.Int("connections"), channels: c.Int("channels"), rate: c.Float64("rate"),
		window: c.Int("window"), duration: c.Duration("duration"), drain: c.Duration("drain"), plain: c.Bool("plain"),
		user: c.String("user"), freshUsers: c.Bool("fresh-users"), connectRate: c.Float64("connect-rate"),
		byteInterval: c.Duration("byte-interval"), frameGap: c.Duration("frame-interval"),
		timeout: c.Duration("timeout"), poolPID: c.Int("pool-pid"), json: c.Bool("json"),
	}
	if cfg.host, cfg.port, err = splitAddress(addr); err != nil {
		return loadConfig{}, err
	}
	if i := slices.Index(loadModes, c.String("mode")); i >= 0 {
		cfg.mode = loadMode(i)
	} else {
		return loadConfig{}, fmt.Errorf("--mode %q: want %s", c.String("mode"), strings.Join(loadModes, ", "))
	}
	switch k := c.String("channel-kind"); k {
	case "standard":
	case "extended":
		cfg.extended = true
	default:
		return loadConfig{}, fmt.Errorf("--channel-kind %q: want standard or extended", k)
	}
	switch {
	case cfg.connections < 1 || cfg.connections > maxLoadConnections:
		return loadConfig{}, fmt.Errorf("--connections %d: want 1 to %d", cfg.connections, maxLoadConnections)
	case cfg.channels < 1 || cfg.channels > maxLoadChannels:
		return loadConfig{}, fmt.Errorf("--channels %d: want 1 to %d", cfg.channels, maxLoadChannels)
	case cfg.connections*cfg.channels > maxLoadAllChannels:
		return loadConfig{}, fmt.Errorf("--connections %d × --channels %d: at most %d channels in all", cfg.connections, cfg.channels, maxLoadAllChannels)
	case cfg.window < 1 || cfg.window > maxLoadWindow:
		return loadConfig{}, fmt.Errorf("--window %d: want 1 to %d", cfg.window, maxLoadWindow)
	case !(cfg.rate >= 0) || math.IsInf(cfg.rate, 0):
		return loadConfig{}, fmt.Errorf("--rate %v: want a number of shares per second, 0 or more", cfg.rate)
	case cfg.duration <= 0:
		return loadConfig{}, fmt.Errorf("--duration %v: must be positive", cfg.duration)
	case cfg.drain < 0:
		return loadConfig{}, fmt.Errorf("--drain %v: must not be negative", cfg.drain)
	case cfg.timeout <= 0:
		return loadConfig{}, fmt.Errorf("--timeout %v: must be positive", cfg.timeout)
	case cfg.byteInterval < 0:
		return loadConfig{}, fmt.Errorf("--byte-interval %v: must not be negative", cfg.byteInterval)
	case cfg.frameGap <= 0:
		return loadConfig{}, fmt.Errorf("--frame-interval %v: must be positive", cfg.frameGap)
	case !(cfg.connectRate >= 0) || math.IsInf(cfg.connectRate, 0):
		return loadConfig{}, fmt.Errorf("--connect-rate %v: want connections per second, 0 or more", cfg.connectRate)
	case len(cfg.user) > sv2.MaxStr0_255:
		return loadConfig{}, fmt.Errorf("--user: %d bytes, at most %d", len(cfg.user), sv2.MaxStr0_255)
	case cfg.freshUsers && len(cfg.user) > sv2.MaxStr0_255-freshSuffix:
		return loadConfig{}, fmt.Errorf("--user: %d bytes, at most %d with --fresh-users", len(cfg.user), sv2.MaxStr0_255-freshSuffix)
	case cfg.poolPID < 0:
		return loadConfig{}, fmt.Errorf("--pool-pid %d: not a process id", cfg.poolPID)
	}
	h := c.Float64("hashrate")
	if !(h >= 0) || h > math.MaxFloat32 {
		return loadConfig{}, fmt.Errorf("--hashrate %v: want hashes per second, 0 or more", h)
	}
	cfg.hashrate = float32(h)
	if cfg.mode == modeZeroWork {
		cfg.hashrate = 0
	}
	if cfg.authority, err = authorityFlag(c, cfg.plain); err != nil {
		return loadConfig{}, err
	}
	if cfg.plain && cfg.mode == modeSlowHandshake {
		return loadConfig{}, errors.New("--mode slow-handshake dribbles the Noise handshake; drop --plain")
	}
	if cfg.plain && cfg.mode == modeFlood {
		return loadConfig{}, errors.New("--mode flood sends Noise first messages; drop --plain")
	}
	for _, s := range c.StringSlice("bind") {
		ip := net.ParseIP(s)
		if ip == nil {
			return loadConfig{}, fmt.Errorf("--bind %q: not an IP address", s)
		}
		cfg.bind = append(cfg.bind, ip)
	}
	if cfg.poolPID != 0 {
		if _, err := readRSS(cfg.poolPID); err != nil {
			return loadConfig{}, fmt.Errorf("--pool-pid %d: %w", cfg.poolPID, err)
		}
	}
	return cfg, nil
}

// errLoadHelp is --help after HOST:PORT.
var errLoadHelp = errors.New("help")

// loadArgs returns the one HOST:PORT argument, reading the flags that follow
// it: urfave/cli stops at the first argument, and "sv2 load ADDR --connections
// 100" should mean what it says.
func loadArgs(c *cli.Context) (string, error) {
	args := c.Args().Slice()
	var addr []string
	bools := map[string]bool{}
	for _, f := range c.Command.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			bools[n] = isBool
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			addr = append(addr, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			addr = append(addr, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "help" || name == "h" {
			return "", errLoadHelp
		}
		isBool, known := bools[name]
		if !known {
			return "", fmt.Errorf("flag provided but not defined: -%s", name)
		}
		if !hasValue {
			if isBool {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return "", fmt.Errorf("flag needs an argument: -%s", name)
			}
		}
		if err := c.Set(name, value); err != nil {
			return "", fmt.Errorf("invalid value %q for flag -%s: %w", value, name, err)
		}
	}
	if len(addr) != 1 {
		return "", fmt.Errorf("want exactly one HOST:PORT argument, got %d", len(addr))
	}
	return addr[0], nil
}

// loadReport is what a run found; its JSON form is the --json output.
type loadReport struct {
	Mode          string  `json:"mode"`
	Address       string  `json:"address"`
	Encrypted     bool    `json:"encrypted"`
	Authenticated bool    `json:"authenticated"`
	ChannelKind   string  `json:"channel_kind"`
	ElapsedS      float64 `json:"elapsed_s"`
	Interrupted   bool    `json:"interrupted"`

	Connections struct {
		Attempted      uint64                 `json:"attempted"`
		Made           uint64                 `json:"made"`
		Failed         uint64                 `json:"failed"`
		Failures       map[string]loadFailure `json:"failures"`
		Unfinished     uint64                 `json:"unfinished"`
		ClosedByServer uint64                 `json:"closed_by_server"`
		// ClosedAfterMs is how long the connections the server closed had
		// been open (since TCP connect in silent and slow-handshake modes,
		// since SetupConnection.Success otherwise).
		ClosedAfterMs loadQuantiles `json:"closed_after_ms"`
		HeldToEnd     uint64        `json:"held_to_end"`
		ChurnCycles   uint64        `json:"churn_cycles"`
		// FloodAnswered counts the flood's first messages the server
		// answered (the rest it closed unanswered: ClosedByServer).
		FloodAnswered uint64 `json:"flood_answered"`
		// UnknownFrames counts the frames of unknown-frames mode sent.
		UnknownFrames uint64 `json:"unknown_frames"`
	} `json:"connections"`
	ConnectMs loadQuantiles `json:"connect_ms"`

	Channels struct {
		Requested      uint64            `json:"requested"`
		Opened         uint64            `json:"opened"`
		Refused        map[string]uint64 `json:"refused"`
		Unanswered     uint64            `json:"unanswered"`
		ClosedByServer uint64            `json:"closed_by_server"`
	} `json:"channels"`

	Shares struct {
		Sent           uint64            `json:"sent"`
		Accepted       uint64            `json:"accepted"`
		Rejected       map[string]uint64 `json:"rejected"`
		RejectedTotal  uint64            `json:"rejected_total"`
		Unacknowledged uint64            `json:"unacknowledged"`
		SentPerS       float64           `json:"sent_per_s"`
		AcceptedPerS   float64           `json:"accepted_per_s"`
	} `json:"shares"`
	AckMs loadQuantiles `json:"ack_ms"`

	PoolRSSKB *loadRSS `json:"pool_rss_kb,omitempty"`

	tcp uint64 // TCP connections made, for the exit status
}

type loadFailure struct {
	Count   uint64 `json:"count"`
	Example string `json:"example"`
}

type loadQuantiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
}

type loadRSS struct {
	PID    int    `json:"pid"`
	Before uint64 `json:"before"`
	Max    uint64 `json:"max"`
	After  uint64 `json:"after"`
}

// text renders the report for people.
func (r *loadReport) text() []byte {
	var b strings.Builder
	security := "plain"
	switch {
	case r.Mode == modeSilent.String():
		security = "TCP only"
	case r.Authenticated:
		security = "Noise, server authenticated"
	case r.Encrypted:
		security = "Noise, server NOT authenticated"
	}
	fmt.Fprintf(&b, "sv2 load: %s mode against %s for %.1fs (%s)", r.Mode, r.Address, r.ElapsedS, security)
	if r.Interrupted {
		b.WriteString(", interrupted")
	}
	b.WriteString("\n")
	c := &r.Connections
	fmt.Fprintf(&b, "connections   %d made, %d failed, %d unfinished of %d attempted; %d closed by the server, %d held to the end\n",
		c.Made, c.Failed, c.Unfinished, c.Attempted, c.ClosedByServer, c.HeldToEnd)
	for _, k := range sortedKeys(c.Failures) {
		fmt.Fprintf(&b, "  failed at %s: %d (e.g. %s)\n", k, c.Failures[k].Count, c.Failures[k].Example)
	}
	if c.ClosedByServer > 0 {
		fmt.Fprintf(&b, "  closed by the server after p50 %s, p99 %s\n", ms(c.ClosedAfterMs.P50), ms(c.ClosedAfterMs.P99))
	}
	if c.ChurnCycles > 0 || r.Mode == modeChurn.String() {
		fmt.Fprintf(&b, "churn cycles  %d (connect, set up, open, close)\n", c.ChurnCycles)
	}
	if r.Mode == modeFlood.String() {
		fmt.Fprintf(&b, "flood         %d first messages answered, %d connections closed unanswered\n", c.FloodAnswered, c.ClosedByServer)
	}
	if r.Mode == modeUnknownFrames.String() {
		fmt.Fprintf(&b, "frames        %d of unknown type %#x sent\n", c.UnknownFrames, unknownMsgType)
	}
	what := "TCP + Noise + SetupConnection"
	switch r.Mode {
	case modeSilent.String():
		what = "TCP"
	case modeFlood.String():
		what = "TCP + the server's answer"
	}
	fmt.Fprintf(&b, "connect time  p50 %s  p99 %s  (%s, %d samples)\n", ms(r.ConnectMs.P50), ms(r.ConnectMs.P99), what, r.ConnectMs.Count)
	if ch := &r.Channels; ch.Requested > 0 {
		fmt.Fprintf(&b, "channels      %d %s opened of %d requested, %d refused%s, %d unanswered, %d closed by the server\n",
			ch.Opened, r.ChannelKind, ch.Requested, total(ch.Refused), byCode(ch.Refused), ch.Unanswered, ch.ClosedByServer)
	}
	if s := &r.Shares; s.Sent > 0 || s.Accepted > 0 || s.RejectedTotal > 0 {
		fmt.Fprintf(&b, "shares        %d sent (%.0f/s), %d accepted (%.0f/s), %d rejected%s, %d unacknowledged\n",
			s.Sent, s.SentPerS, s.Accepted, s.AcceptedPerS, s.RejectedTotal, byCode(s.Rejected), s.Unacknowledged)
		fmt.Fprintf(&b, "ack latency   p50 %s  p99 %s  (%d samples)\n", ms(r.AckMs.P50), ms(r.AckMs.P99), r.AckMs.Count)
	}
	if m := r.PoolRSSKB; m != nil {
		fmt.Fprintf(&b, "pool RSS      before %s, max %s, after %s (%+.1f MiB), pid %d\n",
			mib(m.Before), mib(m.Max), mib(m.After), (float64(m.After)-float64(m.Before))/1024, m.PID)
	}
	return []byte(b.String())
}

func ms(v float64) string  { return strconv.FormatFloat(v, 'f', 3, 64) + "ms" }
func mib(kb uint64) string { return strconv.FormatFloat(float64(kb)/1024, 'f', 1, 64) + " MiB" }
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func total(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// byCode renders counts by error code, the largest first: " (a 3, b 1)".
func byCode(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := sortedKeys(m)
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case m[a] > m[b]:
			return -1
		case m[a] < m[b]:
			return 1
		}
		return 0
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// histogram is a log-linear histogram of durations safe for concurrent use:
// 16 buckets per power of two, so quantiles come within about 6 %. It is
// 8 KB, however many samples it holds.
type histogram struct{ b [64 * 16]atomic.Uint64 }

func (h *histogram) record(d time.Duration) {
	n := uint64(max(d, 1))
	e := bits.Len64(n) - 1 // n is in [2^e, 2^(e+1))
	var m uint64
	if e >= 4 {
		m = (n >> (e - 4)) & 15
	} else {
		m = (n << (4 - e)) & 15
	}
	h.b[e*16+int(m)].Add(1)
}

// quantiles returns the count and the p50 and p99 in milliseconds, each the
// upper bound of the bucket holding it.
func (h *histogram) quantiles() loadQuantiles {
	var counts [64 * 16]uint64
	var total uint64
	for i := range h.b {
		counts[i] = h.b[i].Load()
		total += counts[i]
	}
	at := func(q float64) float64 {
		rank := uint64(q * float64(total))
		var seen uint64
		for i, n := range counts {
			seen += n
			if seen > rank {
				e, m := i/16, uint64(i%16)
				upper := float64(16+m+1) * math.Ldexp(1, e) / 16
				return math.Round(upper/1e3) / 1e3 // ns → ms, to the µs
			}
		}
		return 0
	}
	if total == 0 {
		return loadQuantiles{}
	}
	return loadQuantiles{Count: total, P50: at(0.50), P99: at(0.99)}
}

// counts are counts by a key the server chooses (an error code), bounded to
// maxLoadCodes keys: the rest are counted together.
type counts struct {
	mu sync.Mutex
	m  map[string]uint64
}

const otherCodes = "(other codes)"

func (c *counts) add(key string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]uint64{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxLoadCodes {
		key = otherCodes
	}
	c.m[key] += n
}

func (c *counts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		return map[string]uint64{}
	}
	return maps.Clone(c.m)
}

// loadStats is what every connection adds to, from its goroutines.
type loadStats struct {
	attempted, made, tcp, unfinished atomic.Uint64
	closedByServer, heldToEnd        atomic.Uint64
	cycles, floodAnswered, frames    atomic.Uint64
	requested, opened, unanswered    atomic.Uint64
	channelsClosed                   atomic.Uint64
	sent, accepted, rejected         atomic.Uint64
	unacked                          atomic.Uint64

	connect, ack, closedAfter histogram
	refusedCh, rejectedBy     counts

	mu       sync.Mutex
	failures map[string]loadFailure
	hs       *transport.Handshake // of the first connection set up
}

func (s *loadStats) fail(step string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		s.failures = map[string]loadFailure{}
	}
	f, ok := s.failures[step]
	if !ok && len(s.failures) >= maxLoadCodes {
		step = otherCodes
		f = s.failures[step]
	}
	f.Count++
	if f.Example == "" {
		f.Example = err.Error()
	}
	s.failures[step] = f
}

// loadRun is one run of sv2 load.
type loadRun struct {
	cfg   loadConfig
	st    loadStats
	run   context.Context // ends after --duration (or on SIGINT)
	hard  context.Context // ends --drain after run: every connection closes
	start time.Time
	wg    sync.WaitGroup
	users atomic.Uint64 // the last --fresh-users number given
}

// freshSuffix bounds what --fresh-users adds to --user: a dash and a uint64.
const freshSuffix = 21

// runLoadTest runs the load until --duration has passed or ctx ends, and reports.
func runLoadTest(ctx context.Context, cfg loadConfig) *loadReport {
	r := &loadRun{cfg: cfg, start: time.Now()}
	var rss *loadRSS
	if cfg.poolPID != 0 {
		before, _ := readRSS(cfg.poolPID)
		rss = &loadRSS{PID: cfg.poolPID, Before: before, Max: before}
	}
	run, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	stopHard := context.AfterFunc(run, func() { time.AfterFunc(cfg.drain+250*time.Millisecond, cancelHard) })
	defer stopHard()
	r.run, r.hard = run, hard

	var sampler sync.WaitGroup
	samplerDone := make(chan struct{})
	if rss != nil {
		sampler.Go(func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-samplerDone:
					return
				case <-t.C:
					if v, err := readRSS(cfg.poolPID); err == nil {
						rss.Max = max(rss.Max, v)
					}
				}
			}
		})
	}
	// The at-the-end reading is taken when the load stops, with every
	// connection still open: it is what the load made the server hold.
	atEnd := make(chan struct{})
	var endOnce sync.Once
	sampleEnd := func() {
		endOnce.Do(func() {
			if rss != nil {
				if v, err := readRSS(cfg.poolPID); err == nil {
					rss.After = v
					rss.Max = max(rss.Max, v)
				}
			}
			close(atEnd)
		})
	}
	stopAfter := context.AfterFunc(run, sampleEnd)
	defer stopAfter()

	for slot := range cfg.connections {
		r.wg.Go(func() {
			if cfg.connectRate > 0 && slot > 0 {
				wait := time.Duration(float64(slot) / cfg.connectRate * float64(time.Second))
				if !sleepCtx(run, wait) {
					return
				}
			}
			r.session(slot)
		})
	}
	r.wg.Wait()
	sampleEnd()
	<-atEnd
	close(samplerDone)
	sampler.Wait()
	elapsed := time.Since(r.start)
	return r.report(ctx.Err() != nil, elapsed, rss)
}

func (r *loadRun) report(interrupted bool, elapsed time.Duration, rss *loadRSS) *loadReport {
	st := &r.st
	rep := &loadReport{Mode: r.cfg.mode.String(), Address: r.cfg.addr, ChannelKind: "standard", ElapsedS: math.Round(elapsed.Seconds()*1000) / 1000,
		Interrupted: interrupted, PoolRSSKB: rss, tcp: st.tcp.Load()}
	if r.cfg.extended {
		rep.ChannelKind = "extended"
	}
	rep.Encrypted = !r.cfg.plain
	st.mu.Lock()
	if st.hs != nil {
		rep.Encrypted, rep.Authenticated = st.hs.Encrypted, st.hs.Authenticated
	}
	rep.Connections.Failures = map[string]loadFailure{}
	for k, v := range st.failures {
		rep.Connections.Failures[k] = v
		rep.Connections.Failed += v.Count
	}
	st.mu.Unlock()
	c := &rep.Connections
	c.Attempted, c.Made, c.Unfinished = st.attempted.Load(), st.made.Load(), st.unfinished.Load()
	c.ClosedByServer, c.HeldToEnd, c.ChurnCycles = st.closedByServer.Load(), st.heldToEnd.Load(), st.cycles.Load()
	c.FloodAnswered, c.UnknownFrames = st.floodAnswered.Load(), st.frames.Load()
	c.ClosedAfterMs = st.closedAfter.quantiles()
	rep.ConnectMs = st.connect.quantiles()
	ch := &rep.Channels
	ch.Requested, ch.Opened, ch.Unanswered, ch.ClosedByServer = st.requested.Load(), st.opened.Load(), st.unanswered.Load(), st.channelsClosed.Load()
	ch.Refused = st.refusedCh.snapshot()
	s := &rep.Shares
	s.Sent, s.Accepted, s.RejectedTotal, s.Unacknowledged = st.sent.Load(), st.accepted.Load(), st.rejected.Load(), st.unacked.Load()
	s.Rejected = st.rejectedBy.snapshot()
	if secs := min(elapsed, r.cfg.duration).Seconds(); secs > 0 {
		s.SentPerS = math.Round(float64(s.Sent) / secs)
		s.AcceptedPerS = math.Round(float64(s.Accepted) / secs)
	}
	rep.AckMs = st.ack.quantiles()
	return rep
}

// sleepCtx waits d, or until ctx ends (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// session runs one connection slot for the whole run.
func (r *loadRun) session(slot int) {
	switch r.cfg.mode {
	case modeSilent:
		start := time.Now()
		nc, ok := r.dial(slot)
		if !ok {
			return
		}
		r.st.made.Add(1)
		r.st.connect.record(time.Since(start))
		r.hold(start, nc.Close, func() error {
			var b [64]byte
			for {
				if _, err := nc.Read(b[:]); err != nil {
					return err
				}
			}
		})
	case modeIdle, modeSlowHandshake, modeUnknownFrames:
		start := time.Now()
		conn, ok := r.establish(slot)
		if !ok {
			return
		}
		if r.cfg.mode != modeSlowHandshake {
			start = time.Now() // set-up connections are held from set-up on
		}
		var frames sync.WaitGroup
		if r.cfg.mode == modeUnknownFrames {
			frames.Go(func() { r.unknownFrames(conn) })
		}
		r.hold(start, conn.Close, func() error { return readUntilClosed(conn) })
		frames.Wait()
	case modeChurn:
		r.churn(slot)
	case modeFlood:
		r.flood(slot)
	default:
		conn, ok := r.establish(slot)
		if !ok {
			return
		}
		r.mine(conn)
	}
}

// unknownFrames sends a 1-byte frame of an unknown message type every
// --frame-interval until the run ends or the connection fails.
func (r *loadRun) unknownFrames(conn *transport.Conn) {
	t := time.NewTicker(r.cfg.frameGap)
	defer t.Stop()
	for {
		select {
		case <-r.run.Done():
			return
		case <-t.C:
		}
		if err := conn.WriteFrame(sv2.Header{MsgType: unknownMsgType}, []byte{0}); err != nil {
			return
		}
		r.st.frames.Add(1)
	}
}

// flood sends Noise first messages of 64 random bytes, one connection at a
// time, until the run ends: each waits for the server's answer (its first
// byte) or its close, and is reset rather than closed, so that no TIME_WAIT
// holds the tool's ports.
func (r *loadRun) flood(slot int) {
	retry := backoff.Backoff{Base: 50 * time.Millisecond, Cap: time.Second, Jitter: 0.2}
	var first [64]byte
	for r.run.Err() == nil {
		start := time.Now()
		nc, ok := r.dial(slot)
		if !ok {
			if !sleepCtx(r.run, retry.Next()) {
				return
			}
			continue
		}
		retry.Reset()
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetLinger(0) //nolint:errcheck // a FIN instead of a reset changes nothing here
		}
		stop := context.AfterFunc(r.run, func() { nc.Close() })
		for i := 0; i < len(first); i += 8 {
			binary.LittleEndian.PutUint64(first[i:], rand.Uint64())
		}
		nc.SetDeadline(time.Now().Add(r.cfg.timeout)) //nolint:errcheck // a TCP connection takes one
		_, err := nc.Write(first[:])
		var answer [1]byte
		step := "first message"
		if err == nil {
			step = "answer"
			_, err = nc.Read(answer[:])
		}
		nc.Close()
		stop()
		switch {
		case err == nil:
			r.st.floodAnswered.Add(1)
			r.st.connect.record(time.Since(start))
		case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
			r.st.closedByServer.Add(1)
		default:
			r.failed(step, err)
		}
	}
}

// readUntilClosed reads and drops messages until the connection fails.
func readUntilClosed(conn *transport.Conn) error {
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if _, ok := errors.AsType[*sv2.DecodeError](err); ok {
				continue // one undecodable frame; the connection goes on
			}
			return err
		}
	}
}

// hold keeps a connection open until the run ends, counting it as closed by
// the server if read returns first.
func (r *loadRun) hold(since time.Time, closeConn func() error, read func() error) {
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { done <- read() })
	select {
	case <-r.run.Done():
		closeConn()
		r.st.heldToEnd.Add(1)
	case <-done:
		closeConn()
		r.st.closedByServer.Add(1)
		r.st.closedAfter.record(time.Since(since))
	}
	wg.Wait()
}

// failed counts a failed step, or an unfinished one when the run's end cut it short.
func (r *loadRun) failed(step string, err error) {
	// A dial or a handshake may time out on the run's deadline a moment
	// before the context itself says it ended.
	if d, ok := r.run.Deadline(); r.run.Err() != nil || ok && !time.Now().Before(d) {
		r.st.unfinished.Add(1)
		return
	}
	r.st.fail(step, err)
}

// dial opens a TCP connection from the slot's --bind address.
func (r *loadRun) dial(slot int) (net.Conn, bool) {
	r.st.attempted.Add(1)
	d := net.Dialer{Timeout: r.cfg.timeout}
	if n := len(r.cfg.bind); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: r.cfg.bind[slot%n]}
	}
	nc, err := d.DialContext(r.run, "tcp", r.cfg.addr)
	if err != nil {
		r.failed("connect", err)
		return nil, false
	}
	r.st.tcp.Add(1)
	return nc, true
}

// dribbleConn writes its first Write one byte at a time, interval apart: the
// Noise first message of a slow handshake.
type dribbleConn struct {
	net.Conn
	ctx      context.Context
	interval time.Duration
	done     bool
}

func (d *dribbleConn) Write(p []byte) (int, error) {
	if d.done {
		return d.Conn.Write(p)
	}
	d.done = true
	for i := range p {
		if i > 0 && !sleepCtx(d.ctx, d.interval) {
			return i, d.ctx.Err()
		}
		if _, err := d.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// establish connects, secures and sets up one connection, timing it all.
func (r *loadRun) establish(slot int) (*transport.Conn, bool) {
	start := time.Now()
	nc, ok := r.dial(slot)
	if !ok {
		return nil, false
	}
	tcfg := transport.Config{MaxFrameSize: maxLoadFrame, WriteTimeout: r.cfg.timeout, HandshakeTimeout: r.cfg.timeout}
	var conn *transport.Conn
	if r.cfg.plain {
		conn = transport.NewPlain(nc, tcfg)
	} else {
		var wire net.Conn = nc
		if r.cfg.mode == modeSlowHandshake {
			wire = &dribbleConn{Conn: nc, ctx: r.run, interval: r.cfg.byteInterval}
			// The run's end bounds it: the point is to be slow.
			tcfg.HandshakeTimeout = r.cfg.duration
		}
		var err error
		conn, err = transport.Client(r.run, wire, transport.ClientConfig{Config: tcfg, Noise: noise.InitiatorConfig{AuthorityKey: r.cfg.authority}})
		if err != nil {
			r.failed("handshake", err)
			return nil, false
		}
	}
	setup := &sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2,
		EndpointHost: r.cfg.host, EndpointPort: r.cfg.port, Vendor: loadVendor}
	if !r.cfg.extended {
		setup.Flags = mining.FlagRequiresStandardJobs
	}
	m, err := r.exchange(conn, setup)
	if err != nil {
		conn.Close()
		r.failed("setup", err)
		return nil, false
	}
	switch m := m.(type) {
	case *sv2.SetupConnectionSuccess:
	case *sv2.SetupConnectionError:
		conn.Close()
		r.failed("setup refused: "+m.ErrorCode, fmt.Errorf("%s refused SetupConnection: error_code %q", r.cfg.addr, m.ErrorCode))
		return nil, false
	default:
		conn.Close()
		r.failed("setup", fmt.Errorf("%s answered SetupConnection with %s", r.cfg.addr, sv2.Info(m).Name))
		return nil, false
	}
	r.st.connect.record(time.Since(start))
	r.st.made.Add(1)
	r.st.mu.Lock()
	if r.st.hs == nil {
		hs := conn.Handshake()
		r.st.hs = &hs
	}
	r.st.mu.Unlock()
	return conn, true
}

// exchange sends m and reads the reply within --timeout (or the run).
func (r *loadRun) exchange(conn *transport.Conn, m sv2.Message) (sv2.Message, error) {
	stop := context.AfterFunc(r.run, func() { conn.Close() })
	defer stop()
	if err := conn.WriteMessage(m); err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(r.cfg.timeout))
	defer conn.SetReadDeadline(time.Time{})
	_, reply, err := conn.ReadMessage()
	return reply, err
}

// openRequests buffers the requests for the connection's channels.
func (r *loadRun) openRequests(conn *transport.Conn) error {
	maxTarget := target.Max()
	for i := range r.cfg.channels {
		user := r.cfg.user
		if r.cfg.freshUsers {
			user += "-" + strconv.FormatUint(r.users.Add(1), 10)
		}
		var m sv2.Message = &sv2.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: user, NominalHashRate: r.cfg.hashrate, MaxTarget: maxTarget}
		if r.cfg.extended {
			m = &sv2.OpenExtendedMiningChannel{RequestID: uint32(i), UserIdentity: user, NominalHashRate: r.cfg.hashrate, MaxTarget: maxTarget}
		}
		if err := conn.BufferMessage(m); err != nil {
			return err
		}
	}
	r.st.requested.Add(uint64(r.cfg.channels))
	return conn.Flush()
}

// churn connects, sets up, opens the channels, closes them and hangs up
// until the run ends, pausing a little after a failed cycle.
func (r *loadRun) churn(slot int) {
	retry := backoff.Backoff{Base: 50 * time.Millisecond, Cap: time.Second, Jitter: 0.2}
	for r.run.Err() == nil {
		if r.churnOnce(slot) {
			retry.Reset()
			r.st.cycles.Add(1)
			continue
		}
		if !sleepCtx(r.run, retry.Next()) {
			return
		}
	}
}

func (r *loadRun) churnOnce(slot int) bool {
	conn, ok := r.establish(slot)
	if !ok {
		return false
	}
	defer conn.Close()
	stop := context.AfterFunc(r.run, func() { conn.Close() })
	defer stop()
	if err := r.openRequests(conn); err != nil {
		r.failed("channels", err)
		return false
	}
	conn.SetReadDeadline(time.Now().Add(r.cfg.timeout))
	var opened []uint32
	for answered := 0; answered < r.cfg.channels; {
		_, m, err := conn.ReadMessage()
		if err != nil {
			if _, ok := errors.AsType[*sv2.DecodeError](err); ok {
				continue
			}
			r.st.unanswered.Add(uint64(r.cfg.channels - answered))
			r.failed("channels", err)
			return false
		}
		switch m := m.(type) {
		case *sv2.OpenStandardMiningChannelSuccess:
			opened = append(opened, m.ChannelID)
			answered++
		case *sv2.OpenExtendedMiningChannelSuccess:
			opened = append(opened, m.ChannelID)
			answered++
		case *sv2.OpenMiningChannelError:
			r.st.refusedCh.add(m.ErrorCode, 1)
			answered++
		}
	}
	r.st.opened.Add(uint64(len(opened)))
	for _, id := range opened {
		if err := conn.BufferMessage(&sv2.CloseChannel{ChannelID: id, ReasonCode: "sv2-load-churn"}); err != nil {
			return false
		}
	}
	return conn.Flush() == nil
}

// loadConn is one mining connection: the writer (mine) hashes and sends
// shares within each channel's window, the reader follows the jobs and takes
// the acknowledgements.
type loadConn struct {
	r      *loadRun
	conn   *transport.Conn
	client *mining.Client
	credit chan struct{} // the reader tells the writer something arrived
	done   chan struct{} // closed when the reader returns
	hangUp atomic.Bool   // we are closing: a read error is ours

	mu       sync.Mutex
	channels []*loadChannel          // in the order they opened; appended by the reader
	byID     map[uint32]*loadChannel // the same
	answered int                     // channel requests answered
}

// loadChannel is one channel's share state.
type loadChannel struct {
	id uint32

	// Under loadConn.mu: written by the reader and the writer.
	setTarget *sv2.U256 // the last SetTarget for this channel
	closed    bool      // by the server
	next      uint32    // the next sequence number
	pending   []pending // the shares not yet answered, in the order sent (at most --window)

	// The writer's own.
	work       *mining.Work
	mid        [8]uint32
	tail       [16]byte
	nonce      uint32
	ntime      uint32
	extranonce []byte
}

func (r *loadRun) mine(conn *transport.Conn) {
	lc := &loadConn{r: r, conn: conn, client: mining.NewClient(), credit: make(chan struct{}, 1), done: make(chan struct{}),
		byID: map[uint32]*loadChannel{}}
	madeAt := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		lc.read() //nolint:errcheck // a closed connection is all it can say
		if !lc.hangUp.Load() {
			r.st.closedByServer.Add(1)
			r.st.closedAfter.record(time.Since(madeAt))
		}
	})
	hangUp := func() {
		lc.hangUp.Store(true)
		conn.Close()
	}
	defer wg.Wait()
	defer hangUp()
	// A write blocked on a server that stopped reading ends with the drain.
	stopHard := context.AfterFunc(r.hard, hangUp)
	defer stopHard()

	if err := r.openRequests(conn); err != nil {
		r.failed("channels", err)
		return
	}
	// Wait for every channel's answer, or --timeout.
	deadline := time.NewTimer(r.cfg.timeout)
	for !lc.allAnswered() {
		select {
		case <-lc.credit:
			continue
		case <-deadline.C:
		case <-r.run.Done():
		case <-lc.done:
		}
		break
	}
	deadline.Stop()
	lc.mu.Lock()
	r.st.unanswered.Add(uint64(max(0, r.cfg.channels-lc.answered)))
	lc.mu.Unlock()

	lc.write()

	// Close the channels (our pool acknowledges each one's partial batch
	// first), then wait for what is in flight.
	lc.mu.Lock()
	chans := slices.Clone(lc.channels)
	lc.mu.Unlock()
	for _, ch := range chans {
		conn.BufferMessage(&sv2.CloseChannel{ChannelID: ch.id, ReasonCode: "sv2-load-done"}) //nolint:errcheck // a broken connection shows below
	}
	conn.Flush() //nolint:errcheck
	drain := time.NewTimer(r.cfg.drain)
	defer drain.Stop()
	for lc.inFlight() > 0 {
		select {
		case <-lc.credit:
			continue
		case <-drain.C:
		case <-lc.done:
		}
		break
	}
	r.st.unacked.Add(uint64(lc.inFlight()))
	select {
	case <-lc.done: // the server closed it
	default:
		r.st.heldToEnd.Add(1)
	}
}

func (lc *loadConn) allAnswered() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.answered >= lc.r.cfg.channels
}

func (lc *loadConn) inFlight() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	n := 0
	for _, ch := range lc.channels {
		n += len(ch.pending)
	}
	return n
}

func (lc *loadConn) signal() {
	select {
	case lc.credit <- struct{}{}:
	default:
	}
}

// read follows the server's messages until the connection ends.
func (lc *loadConn) read() error {
	defer close(lc.done)
	defer lc.signal()
	for {
		_, m, err := lc.conn.ReadMessage()
		if err != nil {
			if _, ok := errors.AsType[*sv2.DecodeError](err); ok {
				continue
			}
			return err
		}
		lc.handle(m)
		lc.signal()
	}
}

func (lc *loadConn) handle(m sv2.Message) {
	st := &lc.r.st
	switch m := m.(type) {
	case *sv2.SubmitSharesSuccess:
		st.accepted.Add(uint64(m.NewSubmitsAcceptedCount))
		now := time.Now().UnixNano()
		lc.mu.Lock()
		if ch := lc.byID[m.ChannelID]; ch != nil {
			// The success covers every share up to last not already refused.
			n := 0
			for n < len(ch.pending) && int32(m.LastSequenceNumber-ch.pending[n].seq) >= 0 {
				st.ack.record(time.Duration(now - ch.pending[n].at))
				n++
			}
			ch.pending = slices.Delete(ch.pending, 0, n)
		}
		lc.mu.Unlock()
		return
	case *sv2.SubmitSharesError:
		st.rejected.Add(1)
		st.rejectedBy.add(m.ErrorCode, 1)
		now := time.Now().UnixNano()
		lc.mu.Lock()
		if ch := lc.byID[m.ChannelID]; ch != nil {
			if k := slices.IndexFunc(ch.pending, func(p pending) bool { return p.seq == m.SequenceNumber }); k >= 0 {
				st.ack.record(time.Duration(now - ch.pending[k].at))
				ch.pending = slices.Delete(ch.pending, k, k+1)
			}
		}
		lc.mu.Unlock()
		return
	case *sv2.OpenStandardMiningChannelSuccess:
		lc.opened(m.ChannelID)
	case *sv2.OpenExtendedMiningChannelSuccess:
		lc.opened(m.ChannelID)
	case *sv2.OpenMiningChannelError:
		st.refusedCh.add(m.ErrorCode, 1)
		lc.mu.Lock()
		lc.answered++
		lc.mu.Unlock()
		return
	case *sv2.SetTarget:
		lc.mu.Lock()
		if ch := lc.byID[m.ChannelID]; ch != nil {
			t := m.MaximumTarget
			ch.setTarget = &t
		}
		lc.mu.Unlock()
	case *sv2.CloseChannel:
		lc.mu.Lock()
		if ch := lc.byID[m.ChannelID]; ch != nil && !ch.closed {
			ch.closed = true
			st.channelsClosed.Add(1)
		}
		lc.mu.Unlock()
	}
	// Jobs, prev hashes, targets, prefixes, groups: as a miner follows them.
	// A message for a channel it does not know changes nothing.
	lc.client.Handle(m) //nolint:errcheck
}

func (lc *loadConn) opened(id uint32) {
	lc.r.st.opened.Add(1)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.answered++
	if lc.byID[id] != nil {
		return
	}
	ch := &loadChannel{id: id, next: 1, pending: make([]pending, 0, lc.r.cfg.window)}
	lc.channels = append(lc.channels, ch)
	lc.byID[id] = ch
}

// pending is a share sent and not yet answered.
type pending struct {
	seq uint32
	at  int64 // UnixNano it was written
}

// share is one share found, waiting to be sent.
type share struct {
	ch                         *loadChannel
	job, nonce, ntime, version uint32
	extended                   bool
	extranonce                 []byte
}

// write sends shares until the run ends or the connection does: as the
// windows allow, or paced at the connection's part of --rate.
func (lc *loadConn) write() {
	r := lc.r
	var found []share
	var seqs []uint32
	var std sv2.SubmitSharesStandard
	var ext sv2.SubmitSharesExtended
	cursor := 0
	// send hashes at most limit shares, one per channel in turn from cursor,
	// and writes them; busy is false when nothing could be done.
	send := func(limit int) (n int, busy bool, err error) {
		lc.mu.Lock()
		chans := lc.channels // appended only: the first len are stable
		lc.mu.Unlock()
		found = found[:0]
		for i := range chans {
			if len(found) >= limit {
				break
			}
			ch := chans[(cursor+i)%len(chans)]
			lc.mu.Lock()
			ok := !ch.closed && len(ch.pending) < lc.r.cfg.window
			tgt := ch.setTarget
			lc.mu.Unlock()
			if !ok {
				continue
			}
			s, hashed, ok := lc.find(ch, tgt)
			busy = busy || hashed
			if ok {
				found = append(found, s)
			}
		}
		if len(chans) > 0 {
			cursor = (cursor + 1) % len(chans)
		}
		if len(found) == 0 {
			return 0, busy, nil
		}
		// Stamp the send time just before the write, after the hashing.
		now := time.Now().UnixNano()
		seqs = seqs[:0]
		lc.mu.Lock()
		for _, s := range found {
			seq := s.ch.next
			s.ch.next++
			s.ch.pending = append(s.ch.pending, pending{seq, now})
			seqs = append(seqs, seq)
		}
		lc.mu.Unlock()
		for i, s := range found {
			var m sv2.Message
			if s.extended {
				ext = sv2.SubmitSharesExtended{ChannelID: s.ch.id, SequenceNumber: seqs[i], JobID: s.job, Nonce: s.nonce, NTime: s.ntime, Version: s.version, Extranonce: s.extranonce}
				m = &ext
			} else {
				std = sv2.SubmitSharesStandard{ChannelID: s.ch.id, SequenceNumber: seqs[i], JobID: s.job, Nonce: s.nonce, NTime: s.ntime, Version: s.version}
				m = &std
			}
			if err := lc.conn.BufferMessage(m); err != nil {
				return n, true, err
			}
			n++
		}
		r.st.sent.Add(uint64(n))
		return n, true, lc.conn.Flush()
	}
	wait := func() bool {
		select {
		case <-lc.credit:
			return true
		case <-r.run.Done():
		case <-lc.done:
		}
		return false
	}

	if r.cfg.rate == 0 {
		for r.run.Err() == nil {
			n, busy, err := send(math.MaxInt)
			if err != nil {
				return
			}
			if n == 0 && !busy && !wait() {
				return
			}
		}
		return
	}
	const tick = 5 * time.Millisecond
	perTick := r.cfg.rate / float64(r.cfg.connections) * tick.Seconds()
	t := time.NewTicker(tick)
	defer t.Stop()
	budget := 0.0
	for {
		select {
		case <-t.C:
		case <-r.run.Done():
			return
		case <-lc.done:
			return
		}
		budget = min(budget+perTick, max(1, 20*perTick)) // catch up on late ticks, within bounds
		for budget >= 1 && r.run.Err() == nil {
			n, busy, err := send(int(budget))
			if err != nil {
				return
			}
			budget -= float64(n)
			if n == 0 && !busy {
				break
			}
		}
	}
}

// find looks for the channel's next share on its current job, hashing at
// most hashChunk nonces; hashed says whether it did any work.
func (lc *loadConn) find(ch *loadChannel, setTarget *sv2.U256) (s share, hashed, ok bool) {
	w, has := lc.client.Work(ch.id)
	if !has {
		return s, false, false
	}
	if w != ch.work {
		ch.work, ch.nonce, ch.ntime = w, 0, w.MinNTime
		ch.extranonce = nil
		if w.Extended {
			ch.extranonce = make([]byte, w.ExtranonceSize)
		}
		h := w.Header(ch.extranonce, 0, ch.ntime, w.Version)
		b := h.Bytes()
		ch.mid = sha256d.Midstate((*[64]byte)(b[:64]))
		ch.tail = [16]byte(b[64:])
	}
	s = share{ch: ch, job: w.JobID, ntime: ch.ntime, version: w.Version, extended: w.Extended, extranonce: ch.extranonce}
	if lc.r.cfg.mode == modeZeroWork {
		s.nonce = ch.nonce
		lc.advance(ch, 1)
		return s, false, true
	}
	tgt := w.Target
	if setTarget != nil && target.Less(*setTarget, tgt) {
		tgt = *setTarget // a pool may apply a harder target to the current job at once
	}
	count := uint32(min(uint64(hashChunk), 1<<32-uint64(ch.nonce)))
	nonce, _, found := sha256d.Scan(&ch.mid, &ch.tail, (*[32]byte)(&tgt), ch.nonce, count)
	if !found {
		lc.advance(ch, uint64(count))
		return s, true, false
	}
	s.nonce, s.ntime = nonce, ch.ntime
	lc.advance(ch, uint64(nonce-ch.nonce)+1)
	return s, true, true
}

// advance moves the channel's next nonce on by n, rolling ntime when the
// nonces run out so that no share repeats.
func (lc *loadConn) advance(ch *loadChannel, n uint64) {
	if uint64(ch.nonce)+n >= 1<<32 {
		ch.nonce = 0
		ch.ntime++
		binary.LittleEndian.PutUint32(ch.tail[4:8], ch.ntime)
		return
	}
	ch.nonce += uint32(n)
}

// readRSS returns the resident set size of a process in KB, from /proc.
func readRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading its memory needs /proc (Linux): %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status (a kernel thread or a zombie?)", pid)
}
