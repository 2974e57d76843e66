package server

import (
	"encoding/json"
	"strconv"
)

// The hot path's JSON, without reflection or maps. Both helpers handle
// only the plain forms and defer everything else to encoding/json, so
// what a client sees is exactly what the strict decoder and json.Encoder
// would give (the fuzz tests compare them).

// plainFields parses body when it is one JSON object whose members are
// exactly names, each once, with names free of escapes and values plain
// integers. ok is false for anything else (null, exponents, escapes,
// unknown or missing fields, errors of any kind): decodeFields judges it.
func plainFields(body []byte, names ...string) (vals [2]int64, ok bool) {
	if len(names) > len(vals) {
		return vals, false
	}
	var seen [2]bool
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return vals, false
	}
	i = skipWS(body, i+1)
	for n := 0; ; n++ {
		if n > 0 {
			if i >= len(body) || body[i] != ',' {
				break
			}
			i = skipWS(body, i+1)
		}
		if i >= len(body) || body[i] != '"' {
			return vals, false
		}
		start := i + 1
		i = start
		for i < len(body) && body[i] != '"' && body[i] != '\\' && body[i] >= 0x20 {
			i++
		}
		if i >= len(body) || body[i] != '"' {
			return vals, false
		}
		k := -1
		for j, name := range names {
			if string(body[start:i]) == name {
				k = j
			}
		}
		if k < 0 || seen[k] {
			return vals, false
		}
		seen[k] = true
		i = skipWS(body, i+1)
		if i >= len(body) || body[i] != ':' {
			return vals, false
		}
		i = skipWS(body, i+1)
		v, end, good := plainInt(body, i)
		if !good {
			return vals, false
		}
		vals[k] = v
		i = skipWS(body, end)
	}
	if i >= len(body) || body[i] != '}' || skipWS(body, i+1) != len(body) {
		return vals, false
	}
	for k := range names {
		if !seen[k] {
			return vals, false
		}
	}
	return vals, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainInt reads -?(0|[1-9][0-9]*) at b[i:] that fits an int64 and is
// not followed by a fraction or exponent.
func plainInt(b []byte, i int) (v int64, end int, ok bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var u uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i-start >= 19 { // 19 digits always fit in a uint64
			return 0, 0, false
		}
		u = u*10 + uint64(b[i]-'0')
		i++
	}
	switch {
	case i == start, b[start] == '0' && i-start > 1:
		return 0, 0, false
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, 0, false
	case neg && u > 1<<63, !neg && u > 1<<63-1:
		return 0, 0, false
	}
	if neg {
		return -int64(u), i, true
	}
	return int64(u), i, true
}

// appendOpResponse appends what json.NewEncoder(w).Encode(out) writes.
func appendOpResponse(b []byte, out opResponse) []byte {
	b = append(b, '{')
	if out.Key != "" {
		b = append(b, `"key":`...)
		b = appendJSONString(b, out.Key)
		b = append(b, ',')
	}
	b = append(b, `"value":`...)
	if out.Value == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *out.Value, 10)
	}
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, out.Outcome)
	if out.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, out.Error)
	}
	if out.Leader != "" {
		b = append(b, `,"leader":`...)
		b = appendJSONString(b, out.Leader)
	}
	return append(b, '}', '\n')
}

// appendJSONString quotes s as encoding/json does; strings that need any
// escaping (HTML characters included) are left to it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
