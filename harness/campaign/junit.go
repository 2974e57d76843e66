package campaign

import (
	"encoding/xml"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// JUnit XML, the subset CI systems read (Jenkins, GitLab, GitHub
// reporters): one testsuite, one testcase per run.

// JUnitSuites is the document's root.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is the campaign.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	Cases      []JUnitCase     `xml:"testcase"`
}

// JUnitProperty is a name and a value.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is a run.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitProblem `xml:"failure,omitempty"`
	Error     *JUnitProblem `xml:"error,omitempty"`
	SystemOut *JUnitOutput  `xml:"system-out,omitempty"`
}

// JUnitOutput is a case's output, kept verbatim.
type JUnitOutput struct {
	Text string `xml:",cdata"`
}

// JUnitProblem is a failure or an error: a one-line message, a type, and
// the details as text.
type JUnitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// JUnit renders the summary as JUnit XML. A run that failed (a verdict
// other than expected) or whose check did not finish is a <failure>
// carrying the verdict, the replay command and the path of its report; a
// run the harness failed on is an <error>. Paths are the results root as
// given joined with the run's directory, as they lie in a CI artifact.
func (s *Summary) JUnit() ([]byte, error) {
	suite := JUnitSuite{Name: s.Name, Tests: len(s.Runs), Time: secs(time.Duration(s.Duration)),
		Timestamp: s.StartedAt.UTC().Format("2006-01-02T15:04:05"),
		Properties: []JUnitProperty{{"spec", s.Spec}, {"results", s.Results},
			{"campaign_seed", fmt.Sprint(s.CampaignSeed)}, {"exit_code", fmt.Sprint(s.ExitCode)}}}
	if s.Shard != nil {
		suite.Properties = append(suite.Properties, JUnitProperty{"shard", s.Shard.String()})
	}
	if len(s.MissingShards) > 0 {
		suite.Properties = append(suite.Properties, JUnitProperty{"missing_shards", fmt.Sprint(s.MissingShards)})
	}
	if s.Interrupted {
		suite.Properties = append(suite.Properties, JUnitProperty{"interrupted",
			fmt.Sprintf("after %d of %d runs", len(s.Runs), s.Planned)})
	}
	for _, r := range s.Runs {
		c := JUnitCase{Name: r.Label, Classname: "raftcheck." + s.Name + "." + r.Name,
			Time: secs(time.Duration(r.Duration))}
		details := s.details(r)
		switch r.Outcome {
		case Pass:
			c.SystemOut = &JUnitOutput{details}
		case Fail, Unknown:
			suite.Failures++
			c.Failure = &JUnitProblem{Message: failMessage(r), Type: r.Verdict, Text: details}
		default:
			suite.Errors++
			c.Error = &JUnitProblem{Message: "harness error: " + r.Error, Type: "harness", Text: details}
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := JUnitSuites{Name: "raftcheck campaign " + s.Name, Tests: suite.Tests, Failures: suite.Failures,
		Errors: suite.Errors, Time: suite.Time, Suites: []JUnitSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// WriteJUnit writes the JUnit XML file.
func (s *Summary) WriteJUnit(file string) error {
	b, err := s.JUnit()
	if err != nil {
		return err
	}
	return writeAtomic(file, b)
}

func failMessage(r Record) string {
	switch {
	case r.Outcome == Unknown:
		return "unknown: the linearizability check did not finish (check-timeout)"
	case r.Verdict == "invalid":
		return "invalid: not linearizable"
	}
	return fmt.Sprintf("%s, but expected %s: the checker missed the bug this run injects", r.Verdict, r.Expect)
}

// details is a run's text in the report: verdict, replay, where to look.
func (s *Summary) details(r Record) string {
	var b strings.Builder
	if r.Verdict != "" {
		fmt.Fprintf(&b, "verdict: %s (expected %s)\n", r.Verdict, r.Expect)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	if len(r.FailingKeys) > 0 {
		fmt.Fprintf(&b, "failing keys: %s\n", strings.Join(r.FailingKeys, ", "))
	}
	fmt.Fprintf(&b, "operations: %d ok, %d fail, %d info\n", r.Counts.OK, r.Counts.Fail, r.Counts.Info)
	fmt.Fprintf(&b, "replay: %s\n", r.Replay)
	if r.Dir != "" {
		dir := path.Join(filepath.ToSlash(s.Results), r.Dir)
		fmt.Fprintf(&b, "report: %s\n", path.Join(dir, RunReport))
		if r.HTML != "" {
			fmt.Fprintf(&b, "history: %s\n", path.Join(dir, r.HTML))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
