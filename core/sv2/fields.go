package sv2

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Field is one field of a message, named as in the specification.
type Field struct {
	Name  string // spec name with spaces as underscores, e.g. "coinbase_tx_value_remaining"
	Value any    // the Go value of the field
}

// Fields returns m's fields in wire order. For *Unknown it returns the raw payload as "payload".
func Fields(m Message) []Field {
	if u, ok := m.(*Unknown); ok {
		return []Field{{Name: "payload", Value: u.Payload}}
	}
	v := reflect.ValueOf(m).Elem()
	t := v.Type()
	fs := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		if name, ok := t.Field(i).Tag.Lookup("sv2"); ok {
			fs = append(fs, Field{Name: name, Value: v.Field(i).Interface()})
		}
	}
	return fs
}

// FieldsJSON renders m's fields as one JSON object, keys in wire order:
// integers and F32 as numbers (U64 exactly), BOOL as true/false, STR0_255 as
// a string, byte fields (B0_*, U256, PUBKEY, SIGNATURE) as lowercase hex in
// wire order, sequences as arrays and OPTION as null or its value. A TLV is an
// object {"extension":N,"field":N,"value":"<hex>"}, with "user_identity" added
// as a string for that field of Worker-Specific Hashrate Tracking. Bytes of a
// STR0_255 that are not UTF-8 become U+FFFD; NonUTF8Fields names such fields.
// An F32 that is NaN or infinite, which JSON cannot express, is written as a string.
func FieldsJSON(m Message) []byte {
	b := []byte{'{'}
	for i, f := range Fields(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Name)
		b = append(b, ':')
		b = appendJSONValue(b, reflect.ValueOf(f.Value))
	}
	return append(b, '}')
}

// NonUTF8Fields returns the names of m's string fields that are not valid UTF-8.
func NonUTF8Fields(m Message) []string {
	var names []string
	for _, f := range Fields(m) {
		if s, ok := f.Value.(string); ok && !utf8.ValidString(s) {
			names = append(names, f.Name)
		}
	}
	return names
}

type optional interface{ optional() (any, bool) }

func appendJSONValue(b []byte, v reflect.Value) []byte {
	if t, ok := v.Interface().(TLV); ok {
		b = append(b, `{"extension":`...)
		b = strconv.AppendUint(b, uint64(t.Extension), 10)
		b = append(b, `,"field":`...)
		b = strconv.AppendUint(b, uint64(t.Field), 10)
		b = append(b, `,"value":`...)
		b = appendHex(b, t.Value)
		if t.Extension == ExtensionWorkerHashrate && t.Field == TLVFieldUserIdentity {
			b = append(b, `,"user_identity":`...)
			b = appendJSONString(b, string(t.Value))
		}
		return append(b, '}')
	}
	if o, ok := v.Interface().(optional); ok {
		x, set := o.optional()
		if !set {
			return append(b, "null"...)
		}
		return appendJSONValue(b, reflect.ValueOf(x))
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10)
	case reflect.Float32:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no NaN or infinity; a string keeps the value visible.
			return appendJSONString(b, strconv.FormatFloat(f, 'g', -1, 32))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 32)
	case reflect.String:
		return appendJSONString(b, v.String())
	case reflect.Array: // U256, Pubkey, Signature
		raw := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(raw), v)
		return appendHex(b, raw)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return appendHex(b, v.Bytes())
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, v.Index(i))
		}
		return append(b, ']')
	}
	panic("sv2: no JSON form for field kind " + v.Kind().String()) // unreachable for this package's messages
}

func appendHex(b []byte, raw []byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, raw)
	return append(b, '"')
}

// appendJSONString uses encoding/json, which replaces invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // cannot fail for a string
	return append(b, q...)
}
