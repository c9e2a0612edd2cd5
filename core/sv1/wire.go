package sv1

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/stratumgo/stratum/core/mining"
	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/transport"
)

// wire is one device's connection as the service sees it: the Sv2
// messages of a client with one extended channel. Its reader side (the
// service's reader goroutine) parses the device's lines, answers what needs
// no handler and hands on the rest; its writer side (the service's writer)
// turns the handler's messages into the device's. mu orders both, and the
// keep-alive timer, on the socket.
type wire struct {
	cfg *Config
	g   *gateway
	nc  net.Conn
	r   *bufio.Reader

	// The reader side's alone.
	in    []sv2.Message // for the service, in order
	setup bool          // SetupConnection handed on
	bad   int           // invalid requests so far
	reqID uint32        // OpenExtendedMiningChannel request ids

	mu       sync.Mutex
	room     *sync.Cond // signalled when answers go out, or the connection ends
	stopping bool       // the service is closing the session (CloseRead)
	stopBy   time.Time  // and what is left to write must be written by then
	out      []byte
	err      error // the connection failed or was closed
	ending   bool  // the server ended the session: close once written
	ended    bool  // and it was: the write side is closed
	// reads says whether the device's lines are still read for the
	// service (readOn), or no longer: readEnded (lines are read and dropped
	// until endLinger) or readStopping (CloseRead). Once not readOn the
	// service's read deadlines are ignored: the session keeps its own.
	reads   atomic.Int32
	replies []*reply // answers owed, in request order

	// The session.
	sess          *session
	subscribed    bool
	extranonceSub bool     // the device takes mining.set_extranonce
	prefixInEn1   bool     // and has the channel's prefix in its extranonce1 (fixed when the channel opens)
	mask          uint32   // the version-rolling mask negotiated, 0 for none
	maskSent      uint32   // the mask the device was last told
	maxTarget     sv2.U256 // from minimum-difficulty
	hashrate      float32  // nominal, from suggest_difficulty or the resumed session
	suggested     bool     // hashrate is the device's own (0: the easiest target)
	user          string   // authorized, or being authorized
	opening, open bool
	channel       uint32
	group         uint32
	prefix        []byte // the channel's extranonce prefix
	rollable      int    // the channel's extranonce size
	epoch         int    // extranonce1 changes (set_extranonce)
	target        sv2.U256
	diffSent      float64
	seq           uint32

	// Jobs: the handler's by their Sv2 id (future ones and this tip's,
	// newest last in order), the device's by their Sv1 id.
	sv2jobs  map[uint32]*job
	order    []uint32
	prev     *sv2.SetNewPrevHash
	current  *job
	notified map[string]notified
	ids      [maxJobs]string // the notified ids, a ring: the oldest is forgotten first
	nextJob  uint64
	timer    *time.Timer
}

// job is a handler job as the device gets it.
type job struct {
	m         *sv2.NewExtendedMiningJob
	prefix    []byte // the channel's prefix when it arrived (§5.3.10)
	rollable  int    // and the bytes after it
	lastNTime uint32
}

// notified is one mining.notify: which job, with which extranonce1 (epoch)
// and version mask in effect.
type notified struct {
	j     *job
	epoch int
	mask  uint32
}

// maxJobs bounds the jobs remembered: the handler's on one tip, and the
// notifications sent (each tip starts afresh).
const maxJobs = 32

// reply is an answer owed to a request, written once it and every answer
// before it are known.
type reply struct {
	id     json.RawMessage
	line   []byte
	done   bool
	submit bool
	seq    uint32
	auth   bool // waiting for the channel
}

var errClosed = errors.New("sv1: connection closed")

// ErrWrite is a connection closed because writing to the device failed
// or timed out (Config.WriteTimeout).
var ErrWrite = errors.New("sv1: writing to the device failed")

// ReadMessage returns the next Sv2 message the device's lines make.
func (w *wire) ReadMessage() (sv2.Header, sv2.Message, error) {
	for len(w.in) == 0 {
		if w.reads.Load() == readStopping {
			return sv2.Header{}, nil, errStopping
		}
		line, err := w.r.ReadSlice('\n')
		if err != nil {
			switch w.reads.Load() {
			case readStopping:
				return sv2.Header{}, nil, errStopping
			case readEnded:
				return sv2.Header{}, nil, errEnded
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return sv2.Header{}, nil, fmt.Errorf("sv1: a line longer than %d bytes", w.cfg.MaxLineSize)
		}
		if err != nil {
			return sv2.Header{}, nil, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := w.handleLine(line); err != nil {
			return sv2.Header{}, nil, err
		}
	}
	m := w.in[0]
	w.in[0] = nil
	w.in = w.in[1:]
	return sv2.Header{MsgType: m.MsgType()}, m, nil
}

// handleLine handles one request; an error closes the connection.
func (w *wire) handleLine(line []byte) error {
	req, err := ParseRequest(line)
	if errors.Is(err, ErrNotJSONRPC) {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.ending {
		return nil // the session is over: what the device sends now is not read, client.reconnect goes out
	}
	// A device with MaxPending answers owed waits for them before another
	// line is read: the handler's pace, or the device's own reading of its
	// answers (the write timeout closes one that stops).
	if werr := w.waitRoom(); werr != nil || w.ending {
		return werr
	}
	if err == nil {
		handed := len(w.in)
		// A request that reached the handler pays off an invalid one:
		// firmware that now and then sends a method we lack is never
		// closed for it, and invalid lines cost a handler's work each.
		if err = w.dispatch(req); err == nil && len(w.in) > handed && w.bad > 0 {
			w.bad--
		}
	}
	if re, ok := errors.AsType[*RequestError](err); ok {
		if re.Code != CodeJobNotFound && re.Code != CodeDuplicate && re.Code != CodeLowDifficulty {
			w.bad++
		}
		w.answer(req.ID, nil, re)
		if w.bad > w.cfg.MaxBad {
			w.flush()
			return fmt.Errorf("sv1: %d invalid requests, the last: %w", w.bad, re)
		}
		err = nil
	}
	if err != nil {
		return err
	}
	w.flush()
	return w.err
}

// waitRoom waits, w.mu held, until fewer than MaxPending answers are owed,
// for at most WriteTimeout.
func (w *wire) waitRoom() error {
	if len(w.replies) < w.cfg.MaxPending {
		return nil
	}
	deadline := time.Now().Add(w.cfg.WriteTimeout)
	wake := time.AfterFunc(w.cfg.WriteTimeout, func() {
		w.mu.Lock()
		w.room.Broadcast()
		w.mu.Unlock()
	})
	defer wake.Stop()
	for len(w.replies) >= w.cfg.MaxPending && w.err == nil && !w.ending && !w.stopping {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("sv1: %d requests unanswered for %v", len(w.replies), w.cfg.WriteTimeout)
		}
		w.room.Wait()
	}
	return w.err
}

// dispatch handles one request; w.mu is held.
func (w *wire) dispatch(req *Request) error {
	switch req.Method {
	case "mining.configure":
		return w.configure(req)
	case "mining.subscribe":
		return w.subscribe(req)
	case "mining.authorize":
		return w.authorize(req)
	case "mining.submit":
		return w.submit(req)
	case "mining.suggest_difficulty":
		return w.suggestDifficulty(req)
	case "mining.suggest_target":
		return w.suggestTarget(req)
	case "mining.extranonce.subscribe":
		w.start("")
		w.extranonceSub = true
		w.answer(req.ID, []byte("true"), nil)
		return nil
	}
	return &RequestError{Code: CodeOther, Message: fmt.Sprintf("unknown method %.64q", req.Method)}
}

// start hands the service its SetupConnection at the first request.
func (w *wire) start(agent string) {
	if w.setup {
		return
	}
	w.setup = true
	host, port := "", uint16(0)
	if a, ok := w.nc.LocalAddr().(*net.TCPAddr); ok {
		host, port = a.IP.String(), uint16(a.Port)
	}
	w.in = append(w.in, &sv2.SetupConnection{
		Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2,
		EndpointHost: host, EndpointPort: port, Vendor: "stratum-v1", Firmware: clip(agent),
	})
}

// clip makes s fit a STR0_255 of printable ASCII.
func clip(s string) string {
	b := make([]byte, 0, min(len(s), sv2.MaxStr0_255))
	for i := 0; i < len(s) && len(b) < sv2.MaxStr0_255; i++ {
		if s[i] >= 0x20 && s[i] < 0x7f {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// answer queues the answer to id: a result (JSON) or an error.
func (w *wire) answer(id json.RawMessage, result []byte, e *RequestError) {
	r := &reply{id: id, done: true}
	if e != nil {
		r.line = appendError(nil, id, e)
	} else {
		r.line = appendResult(nil, id, string(result))
	}
	w.replies = append(w.replies, r)
}

// resolve fills a pending answer.
func (r *reply) resolve(result string, e *RequestError) {
	if e != nil {
		r.line = appendError(nil, r.id, e)
	} else {
		r.line = appendResult(nil, r.id, result)
	}
	r.done = true
}

// configure answers BIP 310's mining.configure.
func (w *wire) configure(req *Request) error {
	w.start("")
	var exts []string
	if len(req.Params) < 1 || json.Unmarshal(req.Params[0], &exts) != nil || len(exts) > 16 {
		return &RequestError{Code: CodeOther, Message: "mining.configure: want a list of at most 16 extensions"}
	}
	params := map[string]json.RawMessage{}
	if len(req.Params) > 1 && string(req.Params[1]) != "null" {
		if err := json.Unmarshal(req.Params[1], &params); err != nil {
			return &RequestError{Code: CodeOther, Message: "mining.configure: extension parameters must be an object"}
		}
	}
	res := []byte{'{'}
	update := false // the channel's maximum target changed
	add := func(k string, v string) {
		if len(res) > 1 {
			res = append(res, ',')
		}
		res = appendString(res, k)
		res = append(res, ':')
		res = append(res, v...)
	}
	for _, ext := range exts {
		switch ext {
		case "version-rolling":
			requested := uint32(0xffffffff)
			if raw, ok := params["version-rolling.mask"]; ok {
				var s string
				v, err := uint32(0), json.Unmarshal(raw, &s)
				if err == nil {
					v, err = ParseUint32Hex(s)
				}
				if err != nil {
					return &RequestError{Code: CodeOther, Message: "version-rolling.mask: want up to 8 hex digits"}
				}
				requested = v
			}
			minBits := 0.0
			if raw, ok := params["version-rolling.min-bit-count"]; ok {
				json.Unmarshal(raw, &minBits)
			}
			// The bits Sv2 lets a miner roll (BIP 320), of those it asked for.
			w.mask = requested & mining.VersionRollingMask
			if float64(bits.OnesCount32(w.mask)) < minBits {
				w.mask = 0
			}
			w.maskSent = w.mask
			if w.mask == 0 {
				add(ext, "false")
			} else {
				add(ext, "true")
				add("version-rolling.mask", `"`+Uint32Hex(w.mask)+`"`)
			}
		case "minimum-difficulty":
			var d float64
			raw, ok := params["minimum-difficulty.value"]
			if ok && string(raw) != "null" && json.Unmarshal(raw, &d) == nil && d == 0 { // BIP 310: none
				w.maxTarget, update = sv2.U256{}, w.open
				add(ext, "true")
				continue
			}
			if !ok || json.Unmarshal(raw, &d) != nil || !(d > 0) || math.IsInf(d, 0) {
				add(ext, "false")
				continue
			}
			t, err := target.FromDifficulty(d)
			if err != nil || t == (sv2.U256{}) { // harder than any target
				add(ext, "false")
				continue
			}
			w.maxTarget, update = t, w.open
			add(ext, "true")
		case "subscribe-extranonce":
			w.extranonceSub = true
			add(ext, "true")
		default:
			add(clip(ext), "false")
		}
	}
	if update { // once, however often the extension was listed
		w.in = append(w.in, &sv2.UpdateChannel{ChannelID: w.channel, NominalHashRate: w.nominal(), MaximumTarget: w.maxTargetOr()})
	}
	w.answer(req.ID, append(res, '}'), nil)
	return nil
}

// subscribe answers mining.subscribe, resuming a remembered session when
// the device names one.
func (w *wire) subscribe(req *Request) error {
	agent, _ := req.String(0, "user agent")
	w.start(agent)
	if w.sess == nil {
		if id, err := req.String(1, "session"); err == nil && id != "" {
			if s, ok := w.g.resume(id); ok {
				w.sess = &session{id: s.id, en1: s.en1}
				if !w.suggested {
					w.hashrate = s.hashrate
				}
			}
		}
		if w.sess == nil {
			w.sess = newSession()
		}
	}
	w.subscribed = true
	res := []byte(`[[["mining.set_difficulty",`)
	res = appendString(res, w.sess.id)
	res = append(res, `],["mining.notify",`...)
	res = appendString(res, w.sess.id)
	res = append(res, `]],"`...)
	res = hex.AppendEncode(res, w.sess.en1)
	res = append(res, `",`...)
	res = strconv.AppendInt(res, int64(w.cfg.Extranonce2Size), 10)
	w.answer(req.ID, append(res, ']'), nil)
	if w.open { // authorized before subscribing
		w.welcome()
	}
	return nil
}

// authorize opens the session's channel for the user, answered once the
// handler has.
func (w *wire) authorize(req *Request) error {
	user, err := req.String(0, "user")
	if err != nil {
		return err
	}
	// encoding/json turns invalid UTF-8 into U+FFFD: names that differ only
	// there would share an account.
	if user == "" || len(user) > sv2.MaxStr0_255 || !utf8.ValidString(user) || strings.ContainsRune(user, utf8.RuneError) {
		return &RequestError{Code: CodeUnauthorized, Message: fmt.Sprintf("user names are 1 to %d bytes of UTF-8", sv2.MaxStr0_255)}
	}
	w.start("")
	switch {
	case (w.open || w.opening) && user == w.user:
		if w.opening {
			w.replies = append(w.replies, &reply{id: req.ID, auth: true})
		} else {
			w.answer(req.ID, []byte("true"), nil)
		}
		return nil
	case w.open || w.opening:
		return &RequestError{Code: CodeUnauthorized, Message: fmt.Sprintf("this connection mines for %.64q: one user per connection", w.user)}
	}
	if w.sess == nil {
		w.sess = newSession()
	}
	w.user, w.opening = user, true
	w.reqID++
	w.in = append(w.in, &sv2.OpenExtendedMiningChannel{
		RequestID: w.reqID, UserIdentity: user, NominalHashRate: w.nominal(), MaxTarget: w.maxTargetOr(),
		MinExtranonceSize: uint16(Extranonce1Size + w.cfg.Extranonce2Size),
	})
	w.replies = append(w.replies, &reply{id: req.ID, auth: true})
	return nil
}

// maxTargetOr is the channel's maximum target: minimum-difficulty's, or the easiest.
func (w *wire) maxTargetOr() sv2.U256 {
	if w.maxTarget == (sv2.U256{}) {
		return target.Max()
	}
	return w.maxTarget
}

// nominal is the hashrate the device's channel declares: the suggested or
// resumed one, or InitialHashrate.
func (w *wire) nominal() float32 {
	if w.hashrate == 0 && !w.suggested {
		return w.cfg.InitialHashrate
	}
	return w.hashrate
}

// suggestDifficulty takes mining.suggest_difficulty as the hashrate that
// difficulty means at the server's share rate.
func (w *wire) suggestDifficulty(req *Request) error {
	d, err := req.Number(0, "difficulty")
	if err != nil {
		return err
	}
	t, terr := target.FromDifficulty(d)
	if !(d > 0) || terr != nil {
		return &RequestError{Code: CodeOther, Message: fmt.Sprintf("difficulty %v out of range", d)}
	}
	return w.suggest(req, t)
}

// suggestTarget takes mining.suggest_target, a target in hex (most
// significant first), as suggest_difficulty takes a difficulty.
func (w *wire) suggestTarget(req *Request) error {
	s, err := req.String(0, "target")
	if err != nil {
		return err
	}
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || len(s) > 64 || n.Sign() <= 0 {
		return &RequestError{Code: CodeOther, Message: "target: want 1 to 64 hex digits, not zero"}
	}
	t, err := target.FromBig(n)
	if err != nil {
		return &RequestError{Code: CodeOther, Message: "target: " + err.Error()}
	}
	return w.suggest(req, t)
}

// suggest makes t the channel's hint: the hashrate it means at the
// server's share rate, declared now or when the channel opens.
func (w *wire) suggest(req *Request, t sv2.U256) error {
	hr := float32(target.Hashrate(t, w.cfg.SharesPerMinute))
	if t == (sv2.U256{}) || math.IsInf(float64(hr), 0) || !(hr > 0) {
		return &RequestError{Code: CodeOther, Message: fmt.Sprintf("difficulty %v out of range", target.Difficulty(t))}
	}
	w.start("")
	w.hashrate, w.suggested = hr, true
	if t == target.Max() {
		// The easiest target exactly: a hashrate through float32 and back
		// comes out a hair harder, and a device told the easiest
		// difficulty would see one share in tens of millions refused.
		w.hashrate = 0
	}
	if w.open {
		w.in = append(w.in, &sv2.UpdateChannel{ChannelID: w.channel, NominalHashRate: w.hashrate, MaximumTarget: w.maxTargetOr()})
	}
	w.answer(req.ID, []byte("true"), nil)
	return nil
}

// submit hands a share to the handler, answered once the handler has.
func (w *wire) submit(req *Request) error {
	if !w.subscribed {
		return &RequestError{Code: CodeNotSubscribed, Message: "not subscribed"}
	}
	user, err := req.String(0, "worker")
	if err != nil {
		return err
	}
	if !w.open || user != w.user {
		return &RequestError{Code: CodeUnauthorized, Message: fmt.Sprintf("worker %.64q not authorized", user)}
	}
	var f [4]string
	for i, name := range []string{"job id", "extranonce2", "ntime", "nonce"} {
		if f[i], err = req.String(i+1, name); err != nil {
			return err
		}
	}
	n, ok := w.notified[f[0]]
	if !ok || n.epoch != w.epoch {
		return &RequestError{Code: CodeJobNotFound, Message: "job not found (stale)"}
	}
	if len(f[1]) != 2*w.cfg.Extranonce2Size {
		return &RequestError{Code: CodeOther, Message: fmt.Sprintf("extranonce2 of %d hex digits, want %d", len(f[1]), 2*w.cfg.Extranonce2Size)}
	}
	ext := make([]byte, n.j.rollable)
	copy(ext, w.sess.en1)
	if _, err := hex.Decode(ext[Extranonce1Size:], []byte(f[1])); err != nil {
		return &RequestError{Code: CodeOther, Message: "extranonce2 is not hex"}
	}
	ntime, err := ParseUint32Hex(f[2])
	if err != nil {
		return &RequestError{Code: CodeOther, Message: "ntime: " + err.Error()}
	}
	nonce, err := ParseUint32Hex(f[3])
	if err != nil {
		return &RequestError{Code: CodeOther, Message: "nonce: " + err.Error()}
	}
	version := n.j.m.Version
	if len(req.Params) > 5 {
		s, err := req.String(5, "version bits")
		if err != nil {
			return err
		}
		vbits, err := ParseUint32Hex(s)
		if err != nil {
			return &RequestError{Code: CodeOther, Message: "version bits: " + err.Error()}
		}
		if w.mask == 0 && vbits != 0 && vbits != version {
			return &RequestError{Code: CodeOther, Message: "version bits without version rolling negotiated"}
		}
		// BIP 310: the bits under the mask in effect when the job was sent
		// are the device's, the rest the job's, whether it sends only the
		// rolled bits or a whole version.
		version = version&^n.mask | vbits&n.mask
	}
	w.seq++
	w.in = append(w.in, &sv2.SubmitSharesExtended{
		ChannelID: w.channel, SequenceNumber: w.seq, JobID: n.j.m.JobID,
		Nonce: nonce, NTime: ntime, Version: version, Extranonce: ext,
	})
	w.replies = append(w.replies, &reply{id: req.ID, submit: true, seq: w.seq})
	return nil
}

// flush writes the answers now known, in request order, and what else is
// buffered; w.mu is held.
func (w *wire) flush() {
	n := 0
	for _, r := range w.replies {
		if !r.done {
			break
		}
		w.out = append(w.out, r.line...)
		n++
	}
	if n > 0 {
		clear(w.replies[:n])
		w.replies = w.replies[n:]
		w.room.Broadcast()
	}
	if len(w.out) == 0 || w.err != nil {
		w.out = w.out[:0]
		return
	}
	by := time.Now().Add(w.cfg.WriteTimeout)
	if w.stopping {
		by = w.stopBy
	}
	w.nc.SetWriteDeadline(by)
	if _, err := w.nc.Write(w.out); err != nil {
		// Not wrapped: a write deadline is not the read deadline the
		// service takes for inactivity.
		w.err = fmt.Errorf("%w: %v", ErrWrite, err)
		w.room.Broadcast()
		w.nc.Close()
	}
	w.out = w.out[:0]
}

// WriteMessage handles one message of the service's and writes what it makes.
func (w *wire) WriteMessage(m sv2.Message) error {
	if err := w.BufferMessage(m); err != nil {
		return err
	}
	return w.Flush()
}

// BufferMessage turns one message of the handler's into the device's.
func (w *wire) BufferMessage(m sv2.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return nil // the session is over; the device is told nothing more
	}
	if w.err != nil {
		return w.err
	}
	switch m := m.(type) {
	case *sv2.SetupConnectionError:
		w.failPending(&RequestError{Code: CodeOther, Message: "refused: " + m.ErrorCode})
		w.ending = true
	case *sv2.OpenExtendedMiningChannelSuccess:
		w.opened(m)
	case *sv2.OpenMiningChannelError:
		w.opening, w.user = false, ""
		w.resolveAuth(false, &RequestError{Code: CodeUnauthorized, Message: "refused: " + m.ErrorCode})
	case *sv2.NewExtendedMiningJob:
		if w.ours(m.ChannelID) {
			w.newJob(m)
		}
	case *sv2.SetNewPrevHash:
		if w.ours(m.ChannelID) {
			w.newPrevHash(m)
		}
	case *sv2.SetTarget:
		if w.ours(m.ChannelID) { // a group's applies to every member (§5.3.21)
			w.target = m.MaximumTarget
			w.sendDifficulty()
		}
	case *sv2.SubmitSharesSuccess:
		for _, r := range w.replies {
			if r.submit && !r.done && r.seq <= m.LastSequenceNumber {
				r.resolve("true", nil)
			}
		}
	case *sv2.SubmitSharesError:
		for _, r := range w.replies {
			if !r.submit || r.done {
				continue
			}
			if r.seq == m.SequenceNumber {
				r.resolve("", shareError(m.ErrorCode))
				break
			}
			if r.seq < m.SequenceNumber { // accepted, in a batch not yet acknowledged
				r.resolve("true", nil)
			}
		}
	case *sv2.SetExtranoncePrefix:
		if m.ChannelID == w.channel {
			// The bytes after the prefix keep their number (the channel's
			// extranonce_size, as mining.Conn and mining.Client hold it).
			w.prefix = append([]byte(nil), m.ExtranoncePrefix...)
			if w.prefixInEn1 && w.subscribed {
				w.setExtranonce()
			}
		}
	case *sv2.SetGroupChannel:
		for _, id := range m.ChannelIDs {
			if id == w.channel {
				w.group = m.GroupChannelID
			}
		}
	case *sv2.CloseChannel:
		if m.ChannelID == w.channel || m.ChannelID == w.group {
			w.reconnect("", 0)
		}
	case *sv2.Reconnect:
		w.reconnect(m.NewHost, m.NewPort)
	}
	return nil
}

// Flush writes what is buffered; a session the server ended is closed.
func (w *wire) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return nil
	}
	w.flush()
	if w.ending && w.err == nil {
		// Half close, and read on for endLinger: closing with the device's
		// lines unread would reset the connection, and the device could
		// lose client.reconnect with it.
		w.ended = true
		w.reads.CompareAndSwap(readOn, readEnded)
		if c, ok := w.nc.(interface{ CloseWrite() error }); ok {
			c.CloseWrite()
			w.nc.SetReadDeadline(time.Now().Add(endLinger))
		} else {
			w.nc.Close()
		}
	}
	return w.err
}

// endLinger is how long a session the server ended reads on before it closes.
const endLinger = 2 * time.Second

// errEnded is ReadMessage's error once the server ended the session.
var errEnded = fmt.Errorf("%w: the server ended the session", errClosed)

func (w *wire) ours(ch uint32) bool { return w.open && (ch == w.channel || ch == w.group) }

// opened takes the channel: the authorization is answered, the difficulty
// and extranonce1 set; jobs follow.
func (w *wire) opened(m *sv2.OpenExtendedMiningChannelSuccess) {
	if !w.opening {
		return
	}
	w.opening = false
	if need := Extranonce1Size + w.cfg.Extranonce2Size; int(m.ExtranonceSize) < need {
		w.resolveAuth(false, &RequestError{Code: CodeOther, Message: fmt.Sprintf("the server gives %d extranonce bytes, %d needed", m.ExtranonceSize, need)})
		w.ending = true
		return
	}
	w.open = true
	w.channel, w.group, w.target = m.ChannelID, m.GroupChannelID, m.Target
	w.prefix, w.rollable = append([]byte(nil), m.ExtranoncePrefix...), int(m.ExtranonceSize)
	w.sv2jobs, w.notified = map[uint32]*job{}, map[string]notified{}
	w.resolveAuth(true, nil)
	if w.subscribed {
		w.welcome()
	}
}

// welcome starts a subscribed, authorized device: difficulty, extranonce,
// then the current job if there is one.
func (w *wire) welcome() {
	w.flush() // the answers first
	w.sendDifficulty()
	if w.extranonceSub {
		w.prefixInEn1 = true
		w.setExtranonce()
	}
	if w.current != nil && w.prev != nil {
		w.notify(w.current, true)
	}
}

// resolveAuth answers the authorizations waiting for the channel.
func (w *wire) resolveAuth(ok bool, e *RequestError) {
	for _, r := range w.replies {
		if r.auth && !r.done {
			if ok {
				r.resolve("true", nil)
			} else {
				r.resolve("", e)
			}
		}
	}
}

// failPending answers every waiting request with e.
func (w *wire) failPending(e *RequestError) {
	for _, r := range w.replies {
		if !r.done {
			r.resolve("", e)
		}
	}
}

// shareError maps a SubmitShares.Error code to Sv1's.
func shareError(code string) *RequestError {
	c := CodeOther
	switch code {
	case mining.CodeStaleShare, mining.CodeInvalidJobID:
		c = CodeJobNotFound
	case mining.CodeDuplicateShare:
		c = CodeDuplicate
	case mining.CodeDifficultyTooLow:
		c = CodeLowDifficulty
	case mining.CodeInvalidChannelID:
		c = CodeUnauthorized
	}
	return &RequestError{Code: c, Message: code}
}

func (w *wire) newJob(m *sv2.NewExtendedMiningJob) {
	j := &job{m: m, prefix: w.prefix, rollable: w.rollable}
	if _, ok := w.sv2jobs[m.JobID]; !ok {
		w.order = append(w.order, m.JobID)
	}
	w.sv2jobs[m.JobID] = j
	for len(w.order) > maxJobs {
		delete(w.sv2jobs, w.order[0])
		w.order = w.order[1:]
	}
	if m.MinNTime.Valid {
		w.current = j
		if w.prev != nil && w.subscribed {
			w.notify(j, false)
		}
	}
}

func (w *wire) newPrevHash(m *sv2.SetNewPrevHash) {
	w.prev = m
	j := w.sv2jobs[m.JobID]
	clear(w.sv2jobs)
	w.order = w.order[:0]
	clear(w.notified)
	w.current = nil
	if j == nil {
		return
	}
	w.sv2jobs[m.JobID], w.order = j, append(w.order, m.JobID)
	w.current = j
	if w.subscribed {
		w.notify(j, true)
	}
}

// notify sends j as a new Sv1 job; w.mu is held.
func (w *wire) notify(j *job, clean bool) {
	if w.prev == nil {
		return
	}
	if w.prefixInEn1 && string(j.prefix) != string(w.prefix) {
		return // made for the old extranonce1: the device can no longer mine it
	}
	if w.mask != 0 {
		want := w.mask
		if !j.m.VersionRollingAllowed {
			want = 0
		}
		if want != w.maskSent {
			w.maskSent = want
			w.out = appendNotification(w.out, "mining.set_version_mask")
			w.out = append(w.out, `"`+Uint32Hex(want)+`"]}`+"\n"...)
		}
	}
	ntime := uint32(w.cfg.Now().Unix())
	if v, ok := j.m.MinNTime.Get(); ok && v > ntime {
		ntime = v
	}
	if w.prev.MinNTime > ntime {
		ntime = w.prev.MinNTime
	}
	// Never the same header twice: a job sent again carries a later ntime.
	if ntime <= j.lastNTime {
		ntime = j.lastNTime + 1
	}
	j.lastNTime = ntime
	w.nextJob++
	id := strconv.FormatUint(w.nextJob, 16)
	slot := &w.ids[w.nextJob%maxJobs]
	delete(w.notified, *slot) // the oldest of the last maxJobs
	*slot = id
	w.notified[id] = notified{j: j, epoch: w.epoch, mask: w.maskSent}

	b := appendNotification(w.out, "mining.notify")
	b = appendString(b, id)
	b = append(b, `,"`...)
	b = append(b, PrevHashHex(w.prev.PrevHash)...)
	b = append(b, `","`...)
	b = hex.AppendEncode(b, j.m.CoinbaseTxPrefix)
	if !w.prefixInEn1 {
		b = hex.AppendEncode(b, j.prefix) // extranonce1 is the session's own bytes
	}
	b = append(b, `","`...)
	for range j.rollable - Extranonce1Size - w.cfg.Extranonce2Size {
		b = append(b, "00"...) // the channel's extranonce bytes the device does not roll
	}
	b = hex.AppendEncode(b, j.m.CoinbaseTxSuffix)
	b = append(b, `",[`...)
	for i, p := range j.m.MerklePath {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, p[:])
		b = append(b, '"')
	}
	b = append(b, `],"`...)
	b = append(b, Uint32Hex(j.m.Version)...)
	b = append(b, `","`...)
	b = append(b, Uint32Hex(w.prev.NBits)...)
	b = append(b, `","`...)
	b = append(b, Uint32Hex(ntime)...)
	if clean {
		b = append(b, "\",true]}\n"...)
	} else {
		b = append(b, "\",false]}\n"...)
	}
	w.out = b
	w.armKeepAlive()
}

// sendDifficulty tells the device the channel's target, if it changed.
func (w *wire) sendDifficulty() {
	d := target.Difficulty(w.target)
	if d == w.diffSent || !w.subscribed {
		return
	}
	w.diffSent = d
	w.out = appendNotification(w.out, "mining.set_difficulty")
	w.out = appendFloat(w.out, d)
	w.out = append(w.out, "]}\n"...)
}

// setExtranonce gives a device that takes it the channel's prefix in its
// extranonce1 (coinb1 then carries none); the jobs sent before are stale.
func (w *wire) setExtranonce() {
	w.epoch++
	w.out = appendNotification(w.out, "mining.set_extranonce")
	w.out = append(w.out, '"')
	w.out = hex.AppendEncode(w.out, w.prefix)
	w.out = hex.AppendEncode(w.out, w.sess.en1)
	w.out = append(w.out, `",`...)
	w.out = strconv.AppendInt(w.out, int64(w.cfg.Extranonce2Size), 10)
	w.out = append(w.out, "]}\n"...)
	if w.current != nil && string(w.current.prefix) == string(w.prefix) {
		w.notify(w.current, true)
	}
}

// reconnect asks the device to connect again (elsewhere, with a host),
// then the session ends.
func (w *wire) reconnect(host string, port uint16) {
	if w.ending {
		return
	}
	w.failPending(&RequestError{Code: CodeOther, Message: "the server is closing the session"})
	w.flush()
	w.out = appendNotification(w.out, "client.reconnect")
	if host != "" {
		w.out = appendString(w.out, host)
		w.out = append(w.out, ',')
		w.out = strconv.AppendInt(w.out, int64(port), 10)
		w.out = append(w.out, ",0"...)
	}
	w.out = append(w.out, "]}\n"...)
	w.ending = true
}

// armKeepAlive starts the wait after which the last job goes out again.
func (w *wire) armKeepAlive() {
	if w.timer == nil {
		w.timer = time.AfterFunc(w.cfg.KeepAlive, w.keepAlive)
		return
	}
	w.timer.Reset(w.cfg.KeepAlive)
}

// keepAlive sends the current job again, with a fresh ntime, to a device
// that got nothing new for KeepAlive.
func (w *wire) keepAlive() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.ending || w.current == nil {
		return
	}
	w.notify(w.current, false)
	w.flush()
}

// SetReadDeadline is the service's deadline, but for a session the server
// ended, which keeps its own (endLinger).
func (w *wire) SetReadDeadline(t time.Time) error {
	if w.reads.Load() != readOn {
		return nil
	}
	return w.nc.SetReadDeadline(t)
}

// The states of wire.reads.
const (
	readOn int32 = iota
	readEnded
	readStopping
)

// errStopping is ReadMessage's error once the service closes the session.
var errStopping = fmt.Errorf("%w: the server is closing the session", errClosed)

// CloseRead is the service closing the session gracefully (stopping, or
// DisconnectClient): reading stops; what is left to write, client.reconnect
// last (Close), gets closeGrace, so that a device that stopped reading
// holds no drain up. The socket's read side stays open: a close with the
// device's lines unread would reset the connection, client.reconnect lost.
func (w *wire) CloseRead() error {
	by := time.Now().Add(closeGrace)
	w.nc.SetWriteDeadline(by) // a write under way (w.mu held) ends by then
	w.reads.Store(readStopping)
	err := w.nc.SetReadDeadline(time.Now()) // the read under way ends now
	w.mu.Lock()
	w.stopping, w.stopBy = true, by
	w.room.Broadcast()
	w.mu.Unlock()
	return err
}

// closeGrace bounds the writes of a session being closed, and how long it
// reads on after client.reconnect.
const closeGrace = time.Second

// Close ends the connection, and remembers the session for a resumption.
// A session closed gracefully gets client.reconnect, then a half close: the
// device's lines are read and dropped until it hangs up, for closeGrace at
// most, on a goroutine of its own, so that Close returns at once.
func (w *wire) Close() error {
	by := time.Now().Add(closeGrace)
	w.nc.SetWriteDeadline(by) // a write under way (w.mu held) ends by then
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	linger := false
	if w.stopping && !w.ending && w.err == nil && w.subscribed {
		w.stopBy = by
		w.reconnect("", 0)
		w.flush()
		linger = w.err == nil
	}
	if w.err == nil {
		w.err = errClosed
	}
	w.room.Broadcast()
	if w.sess != nil && w.subscribed {
		hr := w.hashrate
		if w.open {
			hr = float32(target.Hashrate(w.target, w.cfg.SharesPerMinute))
		}
		w.g.remember(&session{id: w.sess.id, en1: w.sess.en1, hashrate: hr, at: w.cfg.Now(), source: service.SourceOf(w.nc.RemoteAddr())})
	}
	w.mu.Unlock()
	if c, ok := w.nc.(interface{ CloseWrite() error }); linger && ok {
		c.CloseWrite()
		w.nc.SetReadDeadline(by)
		go func() {
			io.Copy(io.Discard, w.nc) //nolint:errcheck // until the device hangs up, or by
			w.nc.Close()
		}()
		return nil
	}
	return w.nc.Close()
}

func (w *wire) RemoteAddr() net.Addr { return w.nc.RemoteAddr() }

// Handshake is the zero value: Stratum V1 is not encrypted.
func (w *wire) Handshake() transport.Handshake { return transport.Handshake{} }
