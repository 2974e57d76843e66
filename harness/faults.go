package harness

import (
	"encoding/json"

	"github.com/raftcheck/raftcheck/checker"
)

// FaultsFromHistory lists the nemesis actions of a history, each from
// its invocation to its completion.
func FaultsFromHistory(events []checker.Event) []Fault {
	var out []Fault
	open := -1
	for _, e := range events {
		if !e.Nemesis {
			continue
		}
		switch e.Type {
		case checker.Invoke:
			out = append(out, Fault{Action: describe(e), Start: e.Time})
			open = len(out) - 1
		default:
			if open >= 0 {
				out[open].End = e.Time
				open = -1
			}
		}
	}
	return out
}

func describe(e checker.Event) string {
	var a struct {
		F     string   `json:"f"`
		Name  string   `json:"name"`
		Nodes []string `json:"nodes"`
	}
	if json.Unmarshal(e.Value, &a) != nil || a.F == "" {
		return e.F
	}
	s := a.F
	if a.Name != "" {
		s += " " + a.Name
	}
	for i, n := range a.Nodes {
		if i == 0 {
			s += " "
		} else {
			s += ","
		}
		s += n
	}
	return s
}
