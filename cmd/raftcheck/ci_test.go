package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// actionlintInstall is how to get the actionlint the workflows are
// checked with (.ci/run installs it).
const actionlintInstall = "go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// The GitHub workflows (the nightly campaign runs this command) pass
// actionlint, shellcheck included when it is installed.
func TestWorkflowsPassActionlint(t *testing.T) {
	bin, err := exec.LookPath("actionlint")
	if err != nil {
		t.Skipf("actionlint is not on PATH; install it with: %s", actionlintInstall)
	}
	root := filepath.Join("..", "..")
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", pat))
		for _, f := range m {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, rel)
		}
	}
	if len(files) == 0 {
		t.Fatal("no workflows in .github/workflows")
	}
	cmd := exec.Command(bin, append([]string{"-no-color"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint %v: %v\n%s", files, err, out)
	}
	t.Logf("actionlint: %d workflows clean", len(files))
}
