package checker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// StatusSample is one node's state as sampled during a run: one line of a
// run directory's statuses.jsonl, written every ~500 ms of run time by both
// backends. An explanation uses them to say who led which term while the
// anomaly happened.
type StatusSample struct {
	Time   int64  `json:"time"`   // nanoseconds since the run started, the history's clock
	Node   string `json:"node"`   // e.g. "n1"
	Up     bool   `json:"up"`     // false: killed, paused or unreachable by the sampler
	Role   string `json:"role"`   // leader, follower, candidate (empty when down)
	Term   uint64 `json:"term"`   // the node's current term
	Leader string `json:"leader"` // the leader it knows of, empty if none
	Commit uint64 `json:"commit"` // its commit index
}

// ReadStatuses reads statuses.jsonl: one JSON object per line, blank lines
// skipped. An error names the line.
func ReadStatuses(r io.Reader) ([]StatusSample, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), maxLine)
	var out []StatusSample
	for line := 1; s.Scan(); line++ {
		b := s.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var st StatusSample
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("statuses line %d: %w", line, err)
		}
		if st.Node == "" {
			return nil, fmt.Errorf("statuses line %d: %w", line, errors.New(`missing "node"`))
		}
		out = append(out, st)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	return out, nil
}

// nodeStates says in words what each node was doing at time t: from each
// node's last sample at or before t (its first one when t comes before
// every sample), e.g. "n2 led term 4; n1, n3 followed n2 in term 4; n5 was
// down". Empty when there are no samples.
func nodeStates(samples []StatusSample, t int64) string {
	latest := make(map[string]StatusSample)
	for _, s := range samples {
		if cur, seen := latest[s.Node]; !seen || closer(s, cur, t) {
			latest[s.Node] = s
		}
	}
	if len(latest) == 0 {
		return ""
	}
	// Group nodes that say the same thing, in the order of the first node
	// of each group, so that five followers read as one phrase.
	nodes := make([]string, 0, len(latest))
	for n := range latest {
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, compareNodeNames)
	var phrases []string
	groups := make(map[string][]string)
	for _, n := range nodes {
		p := nodePhrase(latest[n])
		if groups[p] == nil {
			phrases = append(phrases, p)
		}
		groups[p] = append(groups[p], n)
	}
	parts := make([]string, len(phrases))
	for i, p := range phrases {
		parts[i] = strings.Join(groups[p], ", ") + " " + p
	}
	return strings.Join(parts, "; ")
}

// closer reports whether sample s describes time t better than cur: the
// newest sample at or before t, else the earliest after it.
func closer(s, cur StatusSample, t int64) bool {
	sIn, curIn := s.Time <= t, cur.Time <= t
	switch {
	case sIn != curIn:
		return sIn
	case sIn:
		return s.Time >= cur.Time
	}
	return s.Time < cur.Time
}

// nodePhrase is what follows a node's name: "led term 4", "was down".
func nodePhrase(s StatusSample) string {
	switch {
	case !s.Up:
		return "was down"
	case s.Role == "leader":
		return fmt.Sprintf("led term %d", s.Term)
	case s.Role == "follower" && s.Leader != "":
		return fmt.Sprintf("followed %s in term %d", s.Leader, s.Term)
	case s.Role == "follower":
		return fmt.Sprintf("followed no known leader in term %d", s.Term)
	case s.Role == "candidate":
		return fmt.Sprintf("stood for election in term %d", s.Term)
	case s.Role == "":
		return fmt.Sprintf("was up in term %d", s.Term)
	}
	return fmt.Sprintf("was %s in term %d", s.Role, s.Term)
}

// compareNodeNames orders n2 before n10.
func compareNodeNames(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
