package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// strictFields is an independent reading of what the decoders accept:
// one JSON object whose members are exactly want, each an integer.
func strictFields(t *testing.T, body []byte, want ...string) map[string]int64 {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("accepted invalid JSON %q", body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
	}
	if len(raw) != len(want) {
		t.Fatalf("accepted %q with members %v, want exactly %v", body, raw, want)
	}
	out := map[string]int64{}
	for _, name := range want {
		r, ok := raw[name]
		if !ok {
			t.Fatalf("accepted %q without %q", body, name)
		}
		n, err := strconv.ParseInt(string(r), 10, 64)
		if err != nil {
			t.Fatalf("accepted %q whose %q is %s, not a decimal int64", body, name, r)
		}
		out[name] = n
	}
	return out
}

// plainAgrees checks the fast path against the strict decoder: whatever
// plainFields accepts, decodeFields accepts with the same values.
func plainAgrees(t *testing.T, body []byte, names ...string) {
	t.Helper()
	vals, ok := plainFields(body, names...)
	if !ok {
		return
	}
	ptrs := make([]*int64, len(names))
	fields := map[string]**int64{}
	for i, name := range names {
		fields[name] = &ptrs[i]
	}
	if err := decodeFields(body, fields); err != nil {
		t.Fatalf("plainFields accepted %q, decodeFields says %v", body, err)
	}
	for i, name := range names {
		if ptrs[i] == nil || *ptrs[i] != vals[i] {
			t.Fatalf("plainFields(%q) %s = %d, decodeFields says %v", body, name, vals[i], ptrs[i])
		}
	}
}

// FuzzOpResponse: appendOpResponse writes what json.Encoder writes.
func FuzzOpResponse(f *testing.F) {
	f.Add("k", int64(5), true, "ok", "", "n1")
	f.Add("", int64(0), false, "fail", "key <&> \"quoted\"\n", "")
	f.Add("\xff\u2028", int64(-1), true, "info", "timed out", "n\x00")
	f.Fuzz(func(t *testing.T, key string, v int64, present bool, outcome, msg, leader string) {
		out := opResponse{Key: key, Outcome: outcome, Error: msg, Leader: leader}
		if present {
			out.Value = &v
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(out); err != nil {
			t.Fatal(err)
		}
		if got := appendOpResponse(nil, out); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendOpResponse(%+v) = %q, json.Encoder %q", out, got, want.Bytes())
		}
	})
}

func FuzzDecodeWrite(f *testing.F) {
	for _, s := range []string{
		`{"value":5}`, `{"value":-9223372036854775808}`, " {\"value\" : 0 }\n", `{"value":-0}`,
		`{"value":1}]`, `{"value":1}}`, `{"Value":1}`, `{"value":1,"value":2}`, `{"value":1.0}`,
		`{"value":1e2}`, `{"value":"1"}`, `{"value":null}`, `{}`, `[]`, `null`, ``, `{"value":`,
		`{"value":18446744073709551616}`, `{"value":1,"x":{}}`, "{\"value\":1}\x00", `{"val\u0075e":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		plainAgrees(t, body, "value")
		v, err := DecodeWrite(body)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("DecodeWrite(%q): error %v does not wrap errBadRequest", body, err)
			}
			return
		}
		if got := strictFields(t, body, "value")["value"]; got != v {
			t.Fatalf("DecodeWrite(%q) = %d, but the body says %d", body, v, got)
		}
		again, err := DecodeWrite(fmt.Appendf(nil, `{"value":%d}`, v))
		if err != nil || again != v {
			t.Fatalf("round trip of %d: got %d, %v", v, again, err)
		}
	})
}

func FuzzDecodeCAS(f *testing.F) {
	for _, s := range []string{
		`{"from":1,"to":2}`, `{"to":2,"from":1}`, `{"from":-1,"to":9223372036854775807}`,
		`{"from":1}`, `{"to":2}`, `{"from":1,"to":2,"from":3}`, `{"from":1,"to":2}]`, `{"From":1,"to":2}`,
		`{"from":1,"to":2,"value":3}`, `{"from":null,"to":2}`, `{"from":"1","to":2}`, `{"from":1,"to":2.5}`,
		`{"from":1,"to":[2]}`, `{"from":1 "to":2}`, `[1,2]`, `{"from":1,"to":2}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		plainAgrees(t, body, "from", "to")
		from, to, err := DecodeCAS(body)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("DecodeCAS(%q): error %v does not wrap errBadRequest", body, err)
			}
			return
		}
		fields := strictFields(t, body, "from", "to")
		if fields["from"] != from || fields["to"] != to {
			t.Fatalf("DecodeCAS(%q) = %d, %d, but the body says %v", body, from, to, fields)
		}
		f2, t2, err := DecodeCAS(fmt.Appendf(nil, `{"from":%d,"to":%d}`, from, to))
		if err != nil || f2 != from || t2 != to {
			t.Fatalf("round trip of %d, %d: got %d, %d, %v", from, to, f2, t2, err)
		}
	})
}

func FuzzDecodeSession(f *testing.F) {
	f.Add("c1", "1")
	f.Add("", "")
	f.Add("c1", "")
	f.Add("", "5")
	f.Add("c1", "0")
	f.Add("c1", "-1")
	f.Add("c1", "+1")
	f.Add("c1", "007")
	f.Add("c1", "18446744073709551615")
	f.Add("c1", "18446744073709551616")
	f.Fuzz(func(t *testing.T, id, seqText string) {
		h := http.Header{}
		if id != "" {
			h.Set("Client-Id", id)
		}
		if seqText != "" {
			h.Set("Request-Seq", seqText)
		}
		gotID, seq, err := DecodeSession(h)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("DecodeSession(%q, %q): error %v does not wrap errBadRequest", id, seqText, err)
			}
			return
		}
		if (gotID == "") != (seq == 0) {
			t.Fatalf("DecodeSession(%q, %q) = %q, %d: id and seq must come together", id, seqText, gotID, seq)
		}
		if gotID == "" {
			if id != "" || seqText != "" {
				t.Fatalf("DecodeSession(%q, %q) accepted as no session", id, seqText)
			}
			return
		}
		if gotID != id {
			t.Fatalf("DecodeSession: Client-Id %q came back as %q", id, gotID)
		}
		h2 := http.Header{}
		h2.Set("Client-Id", gotID)
		h2.Set("Request-Seq", strconv.FormatUint(seq, 10))
		id2, seq2, err := DecodeSession(h2)
		if err != nil || id2 != gotID || seq2 != seq {
			t.Fatalf("round trip of %q, %d: got %q, %d, %v", gotID, seq, id2, seq2, err)
		}
	})
}
