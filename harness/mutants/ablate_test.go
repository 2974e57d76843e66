package mutants

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A fake raftcheck whose seed fails only while late duplicates are on:
// the ablation must name that feature, and only it, as needed, and the
// plain network as passing.
func TestAblationNamesTheFeatureACatchNeeded(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "raftcheck")
	script := `#!/bin/sh
case "$2" in
--backend)
	# test --backend sim --seed S --results DIR ...
	mkdir -p "$7/latest"
	echo '{"backend":"sim","seed":5,"backend_config":{"net":{"late_dup":0.01,"late_min_ns":1,"late_max_ns":2,"hold_frac":0.5}}}' >"$7/latest/test.json"
	exit 1 ;;
--replay)
	grep -Eq '"late_dup": ?0(,|$)' "$3" && exit 0
	exit 4 ;;
esac
echo "unexpected arguments: $*" >&2
exit 3
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a := ablate(context.Background(), bin, t.TempDir(), 5, Options{TimeLimit: "20s"})
	if a.Error != "" || !slices.Equal(a.Needed, []string{"late duplicates"}) || a.Plain {
		t.Fatalf("ablation %+v, want late duplicates needed and the plain network passing", a)
	}
	if got, want := a.String(), "late duplicates; plain network: passed"; got != want {
		t.Errorf("cell %q, want %q", got, want)
	}
}

// A seed that does not fail when run alone is reported, not ablated.
func TestAblationOfASeedThatPasses(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "raftcheck")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := ablate(context.Background(), bin, t.TempDir(), 9, Options{})
	if a.Error != "seed 9 passed when run alone" {
		t.Fatalf("ablation %+v", a)
	}
}
