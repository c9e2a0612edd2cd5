package sv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Request is one line a miner sends: a JSON-RPC call (with an id) or
// notification (id null).
type Request struct {
	ID     json.RawMessage // as sent, echoed in the answer; "null" when absent
	Method string
	Params []json.RawMessage
	strs   []string // the params, when all are plain strings (the fast path)
}

// MaxIDSize bounds a request id: a number or a string, echoed in its answer.
const MaxIDSize = 64

// MaxParams bounds the parameters of a request: mining.submit has the most, 6.
const MaxParams = 8

// ErrNotJSONRPC is a line that is not a JSON-RPC request at all; a
// connection that sends one is closed.
var ErrNotJSONRPC = errors.New("sv1: not a JSON-RPC request")

// ParseRequest reads one line. A line that is no JSON object with a method
// fails with ErrNotJSONRPC; one with an unusable id or parameters with a
// *RequestError, which can be answered.
func ParseRequest(line []byte) (*Request, error) {
	if r, ok := parseFast(line); ok {
		return r, nil
	}
	return parseJSON(line)
}

// parseJSON is ParseRequest through encoding/json, for every line.
func parseJSON(line []byte) (*Request, error) {
	var raw struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSONRPC, err)
	}
	if raw.Method == nil {
		return nil, fmt.Errorf("%w: no method", ErrNotJSONRPC)
	}
	r := &Request{ID: raw.ID, Method: *raw.Method}
	if len(r.ID) == 0 {
		r.ID = json.RawMessage("null")
	}
	switch {
	case len(r.ID) > MaxIDSize:
		r.ID = json.RawMessage("null")
		return r, &RequestError{Code: CodeOther, Message: fmt.Sprintf("id of %d bytes, at most %d", len(raw.ID), MaxIDSize)}
	case r.ID[0] != '"' && r.ID[0] != '-' && (r.ID[0] < '0' || r.ID[0] > '9') && string(r.ID) != "null":
		r.ID = json.RawMessage("null")
		return r, &RequestError{Code: CodeOther, Message: "id must be a number or a string"}
	}
	p := bytes.TrimSpace(raw.Params)
	if len(p) == 0 || string(p) == "null" {
		return r, nil
	}
	if p[0] != '[' {
		return r, &RequestError{Code: CodeOther, Message: "params must be an array"}
	}
	if err := json.Unmarshal(p, &r.Params); err != nil {
		return r, &RequestError{Code: CodeOther, Message: "params: " + err.Error()}
	}
	if len(r.Params) > MaxParams {
		return r, &RequestError{Code: CodeOther, Message: fmt.Sprintf("%d params, at most %d", len(r.Params), MaxParams)}
	}
	return r, nil
}

// String returns parameter i as a string, or an error naming it.
func (r *Request) String(i int, name string) (string, error) {
	if i >= len(r.Params) {
		return "", &RequestError{Code: CodeOther, Message: fmt.Sprintf("%s: missing (param %d)", name, i)}
	}
	if r.strs != nil {
		return r.strs[i], nil
	}
	var s string
	if err := json.Unmarshal(r.Params[i], &s); err != nil {
		return "", &RequestError{Code: CodeOther, Message: fmt.Sprintf("%s: want a string", name)}
	}
	return s, nil
}

// Number returns parameter i as a finite number, or an error naming it.
func (r *Request) Number(i int, name string) (float64, error) {
	if i >= len(r.Params) {
		return 0, &RequestError{Code: CodeOther, Message: fmt.Sprintf("%s: missing (param %d)", name, i)}
	}
	var f float64
	if err := json.Unmarshal(r.Params[i], &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, &RequestError{Code: CodeOther, Message: fmt.Sprintf("%s: want a number", name)}
	}
	return f, nil
}

// Sv1 error codes, as pools have answered them since the first Stratum pools.
const (
	CodeOther         = 20
	CodeJobNotFound   = 21 // unknown or stale job
	CodeDuplicate     = 22
	CodeLowDifficulty = 23
	CodeUnauthorized  = 24
	CodeNotSubscribed = 25
)

// RequestError is an answer's error: [code, message, null].
type RequestError struct {
	Code    int
	Message string
}

func (e *RequestError) Error() string { return fmt.Sprintf("sv1: error %d: %s", e.Code, e.Message) }

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// appendResult appends the answer to id with a result already in JSON.
func appendResult(b []byte, id json.RawMessage, result string) []byte {
	b = append(b, `{"id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, ",\"error\":null}\n"...)
}

// appendError appends the answer to id with an error.
func appendError(b []byte, id json.RawMessage, e *RequestError) []byte {
	b = append(b, `{"id":`...)
	b = append(b, id...)
	b = append(b, `,"result":null,"error":[`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, ',')
	b = appendString(b, e.Message)
	return append(b, ",null]}\n"...)
}

// appendNotification starts a server notification; params follow, then "]}\n".
func appendNotification(b []byte, method string) []byte {
	b = append(b, `{"id":null,"method":"`...)
	b = append(b, method...)
	return append(b, `","params":[`...)
}

// appendFloat appends a difficulty: an integer when it is one, as most
// firmware expects, or the shortest exact decimal.
func appendFloat(b []byte, f float64) []byte {
	if f == math.Trunc(f) && f < 1<<53 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// parseFast reads the lines devices send most, shares above all, without
// encoding/json: an object of id (a number, a plain string or null), method
// (a plain string) and params (plain strings), in any order. A plain string
// has no escapes and is printable ASCII. Anything else is left to
// encoding/json (ok false), which gives the same result for these lines.
func parseFast(line []byte) (r *Request, ok bool) {
	p := fastParser{b: line}
	if !p.byte('{') {
		return nil, false
	}
	r = &Request{}
	var seen [3]bool
	for {
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		switch key {
		case "id":
			if seen[0] {
				return nil, false
			}
			seen[0] = true
			id, ok := p.id()
			if !ok {
				return nil, false
			}
			r.ID = json.RawMessage(id)
		case "method":
			if seen[1] {
				return nil, false
			}
			seen[1] = true
			if r.Method, ok = p.str(); !ok {
				return nil, false
			}
		case "params":
			if seen[2] || !p.byte('[') {
				return nil, false
			}
			seen[2] = true
			r.strs, r.Params = make([]string, 0, 6), make([]json.RawMessage, 0, 6) // a submit's
			if !p.byte(']') {
				for {
					start := p.i
					s, ok := p.str()
					if !ok || len(r.strs) == MaxParams {
						return nil, false
					}
					r.strs = append(r.strs, s)
					r.Params = append(r.Params, json.RawMessage(line[start:p.i]))
					if p.byte(']') {
						break
					}
					if !p.byte(',') {
						return nil, false
					}
				}
			}
		default:
			return nil, false
		}
		if p.byte('}') {
			break
		}
		if !p.byte(',') {
			return nil, false
		}
	}
	p.space()
	if p.i != len(p.b) || !seen[1] {
		return nil, false
	}
	if r.ID == nil {
		r.ID = json.RawMessage("null")
	}
	return r, true
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\r' || p.b[p.i] == '\n') {
		p.i++
	}
}

// byte consumes c after any space.
func (p *fastParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str consumes a plain string.
func (p *fastParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return "", false
		}
	}
	return "", false
}

// id consumes an id: a plain string, a small integer or null, and returns
// its JSON, copied.
func (p *fastParser) id() (string, bool) {
	p.space()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '"' {
		if _, ok := p.str(); !ok || p.i-start > MaxIDSize {
			return "", false
		}
		return string(p.b[start:p.i]), true
	}
	if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return "null", true
	}
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	// Leading zeros, fractions and exponents are encoding/json's to judge.
	if n := p.i - digits; n == 0 || n > 18 || (n > 1 && p.b[digits] == '0') {
		return "", false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return "", false
	}
	return string(p.b[start:p.i]), true
}
