package campaign

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/harness/store"
)

// shardResult is one shard's summary and the results store it lies in.
type shardResult struct {
	path  string // its summary.json
	root  string // the results store its run directories are under
	sum   *Summary
	shard Shard
}

// Merge puts the results of a sharded campaign back together: each of
// sources is a results store holding one campaign (DIR/campaigns/<ts>/
// summary.json), or a campaign directory itself. The shards must be of
// one campaign (same spec file contents, campaign seed and shard count)
// and distinct. Their run directories are copied into the results store
// out (a directory whose name is taken gets a -2, -3... suffix, as two
// shards may start the same test in the same second), and
// out/campaigns/<ts>/ gets the merged summary.json and index.html, with
// the runs in the order of the campaign's plan; with junit set, the JUnit
// report too. The merged summary's exit code is the one the campaign run
// in one piece would have; a shard missing, or one that did not finish,
// makes the campaign incomplete (exit 3 unless a run failed).
func Merge(out string, sources []string, junit string, now time.Time) (*Summary, string, error) {
	if len(sources) == 0 {
		return nil, "", errors.New("merge: no shard results given")
	}
	var shards []shardResult
	for _, src := range sources {
		r, err := readShard(src)
		if err != nil {
			return nil, "", err
		}
		shards = append(shards, r)
	}
	if err := checkShards(shards); err != nil {
		return nil, "", err
	}
	if junit != "" {
		if err := os.MkdirAll(filepath.Dir(junit), 0o755); err != nil {
			return nil, "", fmt.Errorf("--junit: %w", err)
		}
	}
	first := shards[0]
	merged := &Summary{Format: SummaryFormat, Version: SummaryVersion, Name: first.sum.Name, Spec: first.sum.Spec,
		SpecSHA256: first.sum.SpecSHA256, CampaignSeed: first.sum.CampaignSeed, Results: out,
		Planned: first.shard.CampaignRuns, Runs: []Record{}}
	var end time.Time
	incomplete := false
	present := map[int]bool{}
	var runs []Record
	for _, sh := range shards {
		merged.Merged = append(merged.Merged, sh.path)
		present[sh.shard.Index] = true
		if merged.StartedAt.IsZero() || sh.sum.StartedAt.Before(merged.StartedAt) {
			merged.StartedAt = sh.sum.StartedAt
		}
		if e := sh.sum.StartedAt.Add(time.Duration(sh.sum.Duration)); e.After(end) {
			end = e
		}
		incomplete = incomplete || !sh.sum.Done
		for _, r := range sh.sum.Runs {
			if r.Dir != "" {
				dir, err := copyRunDir(sh.root, out, r.Dir)
				if err != nil {
					return nil, "", fmt.Errorf("merge %s: run %s: %w", sh.path, r.Label, err)
				}
				r.Dir = dir
			}
			if r.Shrunk != "" {
				dir, err := copyRunDir(sh.root, out, r.Shrunk)
				if err != nil {
					return nil, "", fmt.Errorf("merge %s: run %s: its shrunk run: %w", sh.path, r.Label, err)
				}
				r.Shrunk = dir
			}
			runs = append(runs, r)
		}
	}
	for i := 1; i <= first.shard.Count; i++ {
		if !present[i] {
			merged.MissingShards = append(merged.MissingShards, i)
		}
	}
	slices.SortFunc(runs, func(a, b Record) int { return a.Index - b.Index })
	for _, r := range runs {
		merged.Add(r)
	}
	incomplete = incomplete || len(merged.MissingShards) > 0 || len(runs) != merged.Planned
	merged.Finish(end, incomplete)
	dir, err := store.NewRunDir(out, Dir, now)
	if err != nil {
		return nil, "", err
	}
	if err := merged.Write(dir); err != nil {
		return merged, dir, err
	}
	if junit != "" {
		if err := merged.WriteJUnit(junit); err != nil {
			return merged, dir, err
		}
	}
	return merged, dir, nil
}

// readShard finds and reads the one campaign summary of a results store
// (or of a campaign directory).
func readShard(src string) (shardResult, error) {
	path := filepath.Join(src, SummaryFile)
	root := filepath.Join(src, "..", "..")
	if _, err := os.Stat(path); err != nil {
		found, _ := filepath.Glob(filepath.Join(src, Dir, "*", SummaryFile))
		switch {
		case len(found) == 0:
			if _, err := os.Stat(src); err != nil {
				return shardResult{}, fmt.Errorf("merge: %w", err)
			}
			return shardResult{}, fmt.Errorf("merge: %s holds no campaign summary (want %s)", src,
				filepath.Join(src, Dir, "<timestamp>", SummaryFile))
		case len(found) > 1:
			return shardResult{}, fmt.Errorf("merge: %s holds %d campaigns; name the campaign directory of the shard: %q",
				src, len(found), found)
		}
		path, root = found[0], src
	}
	sum, err := ReadSummary(path)
	if err != nil {
		return shardResult{}, fmt.Errorf("merge: %w", err)
	}
	sh := Shard{Index: 1, Count: 1, CampaignRuns: sum.Planned}
	if sum.Shard != nil {
		sh = *sum.Shard
	}
	if sh.Count < 1 || sh.Index < 1 || sh.Index > sh.Count || sh.CampaignRuns < 0 {
		return shardResult{}, fmt.Errorf("merge: %s: bad shard %d/%d", path, sh.Index, sh.Count)
	}
	seen := map[int]bool{}
	for _, r := range sum.Runs {
		if r.Index < 0 || r.Index >= sh.CampaignRuns || r.Index%sh.Count != sh.Index-1 || seen[r.Index] {
			return shardResult{}, fmt.Errorf("merge: %s: run %s (index %d) does not belong to shard %v of %d runs",
				path, r.Label, r.Index, sh, sh.CampaignRuns)
		}
		seen[r.Index] = true
		// Checked before anything is copied, so a bad input leaves no
		// half-merged store.
		if r.Dir != "" {
			if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(r.Dir))); err != nil || !fi.IsDir() {
				return shardResult{}, fmt.Errorf("merge: %s: run %s: its run directory %s is not in the shard's results (%s)",
					path, r.Label, r.Dir, root)
			}
		}
	}
	return shardResult{path: path, root: root, sum: sum, shard: sh}, nil
}

// checkShards refuses shards of different campaigns and a shard given
// twice.
func checkShards(shards []shardResult) error {
	a := shards[0]
	seen := map[int]string{}
	for _, b := range shards {
		var diff string
		switch {
		case b.sum.Name != a.sum.Name:
			diff = fmt.Sprintf("campaign %q, not %q", b.sum.Name, a.sum.Name)
		case b.sum.SpecSHA256 != a.sum.SpecSHA256:
			diff = fmt.Sprintf("a different spec (%s, sha256 %.12s; %s has %s, sha256 %.12s)",
				b.sum.Spec, b.sum.SpecSHA256, a.path, a.sum.Spec, a.sum.SpecSHA256)
		case b.sum.CampaignSeed != a.sum.CampaignSeed:
			diff = fmt.Sprintf("campaign seed %d, not %d: pass the same --campaign-seed to every shard", b.sum.CampaignSeed, a.sum.CampaignSeed)
		case b.shard.Count != a.shard.Count:
			diff = fmt.Sprintf("shard %v, not of %d shards", b.shard, a.shard.Count)
		case b.shard.CampaignRuns != a.shard.CampaignRuns:
			diff = fmt.Sprintf("a plan of %d runs, not %d", b.shard.CampaignRuns, a.shard.CampaignRuns)
		}
		if diff != "" {
			return fmt.Errorf("merge: %s is not a shard of the campaign %s is from: %s", b.path, a.path, diff)
		}
		if other, ok := seen[b.shard.Index]; ok {
			return fmt.Errorf("merge: overlapping shards: %s and %s are both shard %v", other, b.path, b.shard)
		}
		seen[b.shard.Index] = b.path
	}
	return nil
}

// copyRunDir copies a run directory (rel, relative to the results store
// root) into the results store out, at rel or, when that is taken, at
// rel-2, rel-3, ...; it returns where it went. A source already in out
// stays.
func copyRunDir(root, out, rel string) (string, error) {
	src := filepath.Join(root, filepath.FromSlash(rel))
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("its run directory: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("its run directory %s is not a directory", src)
	}
	if same, err := sameDir(src, filepath.Join(out, filepath.FromSlash(rel))); err != nil || same {
		return rel, err
	}
	dst := rel
	for i := 2; ; i++ {
		_, err := os.Stat(filepath.Join(out, filepath.FromSlash(dst)))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return "", err
		}
		dst = fmt.Sprintf("%s-%d", rel, i)
	}
	if err := os.CopyFS(filepath.Join(out, filepath.FromSlash(dst)), os.DirFS(src)); err != nil {
		return "", fmt.Errorf("copy its run directory: %w", err)
	}
	return dst, nil
}

// sameDir reports whether a and b are the same directory (merging into
// one of the shards' own stores).
func sameDir(a, b string) (bool, error) {
	fb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}
