package checker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a check. The zero value is Unknown, so that a
// verdict nobody set can never read as Valid.
type Verdict int

// The verdicts.
const (
	Unknown Verdict = iota // the check did not finish (deadline, cancellation)
	Valid                  // linearizable
	Invalid                // not linearizable
)

// String returns "unknown", "valid" or "invalid".
func (v Verdict) String() string {
	if name, ok := v.name(); ok {
		return name
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

func (v Verdict) name() (string, bool) {
	switch v {
	case Unknown:
		return "unknown", true
	case Valid:
		return "valid", true
	case Invalid:
		return "invalid", true
	}
	return "", false
}

// MarshalText makes a Verdict "valid", "invalid" or "unknown" in JSON.
func (v Verdict) MarshalText() ([]byte, error) {
	name, ok := v.name()
	if !ok {
		return nil, fmt.Errorf("marshal verdict: %d is not a verdict", int(v))
	}
	return []byte(name), nil
}

// UnmarshalText parses "valid", "invalid" or "unknown".
func (v *Verdict) UnmarshalText(text []byte) error {
	for _, c := range []Verdict{Unknown, Valid, Invalid} {
		if name, _ := c.name(); string(text) == name {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("unmarshal verdict: %q: want valid, invalid or unknown", text)
}

// ExitCode is raftcheck's exit status for the verdict: 0 valid, 1 invalid,
// 2 unknown.
func (v Verdict) ExitCode() int {
	switch v {
	case Valid:
		return 0
	case Invalid:
		return 1
	}
	return 2
}

// KeyResult is the verdict on one key's register.
type KeyResult struct {
	Key     string  `json:"key"`
	Verdict Verdict `json:"verdict"`
	Counts  Counts  `json:"counts"`
}

// Result is the outcome of [Check].
type Result struct {
	// Verdict is Invalid if any key is, else Unknown if any key is, else Valid.
	Verdict Verdict     `json:"verdict"`
	Counts  Counts      `json:"counts"` // over all keys
	Keys    []KeyResult `json:"keys"`   // sorted by key

	// infos holds porcupine's linearization info of the keys that are not
	// Valid, for the view; valid keys' are dropped to save memory.
	infos map[string]porcupine.LinearizationInfo
}

// Failing returns the keys whose verdict is not Valid, in key order.
func (r Result) Failing() []string {
	var keys []string
	for _, k := range r.Keys {
		if k.Verdict != Valid {
			keys = append(keys, k.Key)
		}
	}
	return keys
}

// LinearizationInfo returns porcupine's info for a failing key (one
// partition: the key's operations), as kept for rendering.
func (r Result) LinearizationInfo(key string) (porcupine.LinearizationInfo, bool) {
	info, ok := r.infos[key]
	return info, ok
}

// Check decides whether the client operations of a history are
// linearizable, key by key, in parallel. The context's deadline bounds the
// whole check and its cancellation stops it; keys not decided by then are
// Unknown, never Valid. The error is for an inconsistent history only.
func Check(ctx context.Context, events []Event) (Result, error) {
	ops, counts, err := operations(events)
	if err != nil {
		return Result{}, fmt.Errorf("check: %w", err)
	}
	_, parts := byKey(ops)
	res := Result{Keys: make([]KeyResult, 0, len(counts)), infos: make(map[string]porcupine.LinearizationInfo)}
	for k, c := range counts { // counts has every key, even one whose ops all failed
		res.Keys = append(res.Keys, KeyResult{Key: k, Counts: *c})
	}
	slices.SortFunc(res.Keys, func(a, b KeyResult) int { return strings.Compare(a.Key, b.Key) })

	infos := make([]porcupine.LinearizationInfo, len(res.Keys))
	jobs := make(chan int)
	var wg sync.WaitGroup
	// A pool, not a goroutine per key: porcupine's search can take a lot of
	// memory, and the deadline is shared anyway.
	for range min(runtime.GOMAXPROCS(0), len(res.Keys)) {
		wg.Go(func() {
			for i := range jobs {
				res.Keys[i].Verdict, infos[i] = checkKey(ctx, parts[res.Keys[i].Key])
			}
		})
	}
	for i := range res.Keys {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	res.Verdict = Valid
	for i, k := range res.Keys {
		res.Counts.add(k.Counts)
		switch k.Verdict {
		case Invalid:
			res.Verdict = Invalid
		case Unknown:
			if res.Verdict == Valid {
				res.Verdict = Unknown
			}
		}
		if k.Verdict != Valid {
			res.infos[k.Key] = infos[i]
		}
	}
	return res, nil
}

// checkKey checks one key's operations within what is left of ctx.
func checkKey(ctx context.Context, ops []porcupine.Operation) (Verdict, porcupine.LinearizationInfo) {
	if len(ops) == 0 {
		return Valid, porcupine.LinearizationInfo{}
	}
	if ctx.Err() != nil {
		return Unknown, porcupine.LinearizationInfo{}
	}
	var timeout time.Duration // porcupine: 0 means no limit
	if deadline, ok := ctx.Deadline(); ok {
		if timeout = time.Until(deadline); timeout <= 0 {
			return Unknown, porcupine.LinearizationInfo{}
		}
	}
	model := Model()
	model.Partition = nil // already one key
	// porcupine knows only a timeout; refusing steps once ctx is done is how
	// a cancellation reaches it. Steps refused that way could look like a
	// violation, hence the ctx.Err check on Illegal below.
	base := model.StepContext
	model.StepContext = func(pctx context.Context, state, input, output interface{}) (bool, interface{}) {
		if ctx.Err() != nil {
			return false, state
		}
		return base(pctx, state, input, output)
	}
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	switch {
	case res == porcupine.Ok:
		return Valid, info // a complete linearization was found: no step was refused
	case res == porcupine.Illegal && ctx.Err() == nil:
		return Invalid, info // ctx was never done, so no step was refused
	}
	return Unknown, info
}
