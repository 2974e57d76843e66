package mutants

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Report is one run of the corpus, as stored in mutants.json and committed
// as the baseline.
type Report struct {
	// Commit is the module's commit the mutants were applied to.
	Commit    string   `json:"commit"`
	Seeds     int      `json:"seeds"`
	TimeLimit string   `json:"time_limit"`
	Units     []string `json:"units"`
	Started   string   `json:"started"`
	Results   []Result `json:"results"`
	// Caught counts mutants the sim or the unit tests noticed; SimCaught
	// those the sim noticed; Rate is Caught/len(Results).
	Caught    int     `json:"caught"`
	SimCaught int     `json:"sim_caught"`
	Rate      float64 `json:"rate"`
}

// Tally fills in the counts from Results.
func (r *Report) Tally() {
	r.Caught, r.SimCaught = 0, 0
	for _, x := range r.Results {
		if x.Caught() {
			r.Caught++
		}
		if x.SimCaughtIt() {
			r.SimCaught++
		}
	}
	r.Rate = 0
	if len(r.Results) > 0 {
		r.Rate = float64(r.Caught) / float64(len(r.Results))
	}
}

// WriteMarkdown writes the table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Mutants: %d of %d caught (%.1f%%), %d by the simulator\n\n", r.Caught, len(r.Results), 100*r.Rate, r.SimCaught)
	fmt.Fprintf(&b, "Commit %s, %d sim seeds per mutant (--time-limit %s), unit tests %s, started %s.\n\n",
		r.Commit, r.Seeds, r.TimeLimit, strings.Join(r.Units, " "), r.Started)
	b.WriteString("| mutant | rule | file | sim | first seed | sim time | network it needed | unit tests | survived |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range r.Results {
		seed := "-"
		if x.FirstSeed > 0 {
			seed = fmt.Sprint(x.FirstSeed)
		}
		sim := x.Sim
		if x.SimDetail != "" {
			sim += ": " + x.SimDetail
		}
		if x.Error != "" {
			sim = "error: " + x.Error
		}
		survived := ""
		if !x.Caught() {
			survived = "**yes**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.0fs | %s | %s | %s |\n", x.Name, cell(x.Rule), x.File,
			cell(sim), seed, x.SimSeconds, cell(x.Ablation.String()), cell(unitText(x)), survived)
	}
	if r.hasAblations() {
		b.WriteString("\nNetwork it needed: the first failing seed run again with each of the simulator's harsher network features off in turn; " +
			"the features without which it passed, and whether it still failed with all of them off (loss, duplication and latency alone).\n")
	}
	var notes []Result
	for _, x := range r.Results {
		if x.Note != "" && !x.SimCaughtIt() {
			notes = append(notes, x)
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n## Why the simulator does not catch these\n\n")
		for _, x := range notes {
			fmt.Fprintf(&b, "- **%s**: %s\n", x.Name, strings.TrimSpace(x.Note))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) hasAblations() bool {
	for _, x := range r.Results {
		if x.Ablation != nil {
			return true
		}
	}
	return false
}

func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// Save writes mutants.json and mutants.md into dir.
func (r *Report) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(dir+"/mutants.json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(dir + "/mutants.md")
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadReport reads a mutants.json (the committed baseline).
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mutants: baseline: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("mutants: baseline %s: %w", path, err)
	}
	return &r, nil
}

// Compare checks r against the baseline: the catch rate must not drop.
// It also names every mutant the baseline caught that r does not (with
// fewer seeds than the baseline, a late catch may be missed: a warning,
// not a failure, unless the rate drops).
func Compare(r, base *Report) (lost []string, err error) {
	caughtBefore := map[string]bool{}
	for _, x := range base.Results {
		caughtBefore[x.Name] = x.Caught()
	}
	for _, x := range r.Results {
		if caughtBefore[x.Name] && !x.Caught() {
			lost = append(lost, x.Name)
		}
	}
	if r.Rate+1e-9 < base.Rate {
		return lost, fmt.Errorf("mutants: catch rate %.1f%% is below the baseline's %.1f%% (no longer caught: %s)",
			100*r.Rate, 100*base.Rate, strings.Join(lost, ", "))
	}
	return lost, nil
}
