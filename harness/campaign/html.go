package campaign

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/harness/store"
)

// HTML renders index.html: the campaign's totals and a table of its
// runs colored by verdict, each linking to its run's report
// (../../<dir>/index.html, the campaign directory being
// results/campaigns/<timestamp>/) and history view.
func (s *Summary) HTML() ([]byte, error) {
	t, err := template.New("index").Funcs(template.FuncMap{
		"dur":     func(d store.Duration) string { return time.Duration(d).String() },
		"inc":     func(i int) int { return i + 1 },
		"join":    func(s []string) string { return strings.Join(s, ", ") },
		"seconds": func(r Record) string { return time.Duration(r.Duration).Round(10 * time.Millisecond).String() },
		"nemesis": func(r Record) string { return orNone(strings.Join(r.Config.Nemesis, ",")) },
		"runLink": func(r Record, file string) string { return "../../" + r.Dir + "/" + file },
		"status":  s.status,
		"verdictClass": func(r Record) string {
			if r.Verdict == "" {
				return "error"
			}
			return r.Verdict
		},
		"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	}).Parse(indexTemplate)
	if err != nil {
		return nil, fmt.Errorf("index.html template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, s); err != nil {
		return nil, fmt.Errorf("render index.html: %w", err)
	}
	return buf.Bytes(), nil
}

// status words the campaign's state for the page's heading.
func (s *Summary) status() string {
	switch {
	case !s.Done && !s.Interrupted:
		return fmt.Sprintf("running: %d of %d runs done", len(s.Runs), s.Planned)
	case s.Interrupted:
		return fmt.Sprintf("interrupted after %d of %d runs (exit %d)", len(s.Runs), s.Planned, s.ExitCode)
	case s.ExitCode == ExitValid:
		return fmt.Sprintf("all %d runs passed (exit 0)", len(s.Runs))
	}
	return fmt.Sprintf("%d of %d runs did not pass (exit %d)", len(s.Runs)-s.Totals.Pass, len(s.Runs), s.ExitCode)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

const indexTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>campaign {{.Name}}: {{status}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #555; margin: 0.2em 0 1em; }
.totals span { display: inline-block; padding: 0.2em 0.6em; margin-right: 0.4em; border-radius: 3px; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.85em; }
.valid, .pass { background: #dff3e3; }
.invalid, .fail { background: #f9d6d5; }
.unknown { background: #fff1c2; }
.error { background: #e4e4e4; }
tr.fail td.outcome, tr.error td.outcome { font-weight: bold; }
</style>
</head>
<body>
<h1>campaign {{.Name}}</h1>
<p class="meta">spec <code>{{.Spec}}</code> · started {{time .StartedAt}}{{if .Done}} · took {{dur .Duration}}{{end}} · campaign seed {{.CampaignSeed}}{{with .Shard}} · shard {{.Index}} of {{.Count}}{{end}}{{if .Merged}} · merged from {{len .Merged}} shards{{end}}{{if .MissingShards}} · <strong>missing shards {{.MissingShards}}</strong>{{end}} · {{status}}</p>
<p class="totals"><span class="pass">{{.Totals.Pass}} passed</span><span class="fail">{{.Totals.Fail}} failed</span><span class="unknown">{{.Totals.Unknown}} unknown</span><span class="error">{{.Totals.Error}} harness errors</span>
· <a href="summary.json">summary.json</a></p>
<table>
<thead><tr><th>#</th><th>run</th><th>seed</th><th>backend</th><th>nodes</th><th>nemesis</th><th>time limit</th><th>unsafe</th><th>expect</th><th>verdict</th><th>outcome</th><th>ok</th><th>fail</th><th>info</th><th>took</th><th>report</th><th>replay</th></tr></thead>
<tbody>
{{range $i, $r := .Runs}}<tr class="{{$r.Outcome}}">
<td class="num">{{$i | inc}}</td><td>{{$r.Name}}</td><td class="num">{{$r.Config.Seed}}</td><td>{{$r.Config.Backend}}</td><td class="num">{{$r.Config.Nodes}}</td><td>{{nemesis $r}}</td><td>{{dur $r.Config.TimeLimit}}</td><td>{{$r.Config.Unsafe}}</td><td>{{$r.Expect}}</td>
<td class="{{verdictClass $r}}">{{if $r.Verdict}}{{$r.Verdict}}{{else}}—{{end}}</td>
<td class="outcome">{{$r.Outcome}}{{if $r.Error}}: {{$r.Error}}{{end}}{{if $r.FailingKeys}} (keys {{join $r.FailingKeys}}){{end}}</td>
<td class="num">{{$r.Counts.OK}}</td><td class="num">{{$r.Counts.Fail}}</td><td class="num">{{$r.Counts.Info}}</td><td class="num">{{seconds $r}}</td>
<td>{{if $r.Dir}}<a href="{{runLink $r "index.html"}}">report</a>{{if $r.HTML}} · <a href="{{runLink $r $r.HTML}}">history</a>{{end}}{{end}}{{if $r.Shrunk}} · <a href="../../{{$r.Shrunk}}/index.html">shrunk</a>{{end}}</td>
<td><code>{{$r.Replay}}</code></td>
</tr>
{{end}}</tbody>
</table>
</body>
</html>
`
