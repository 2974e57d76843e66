package checker

import (
	"fmt"
	"io"
	"time"

	"github.com/anishathalye/porcupine"
)

// defaultRecheck bounds the re-check WriteHTML runs when it needs one.
const defaultRecheck = time.Minute

// HTMLOptions tunes [WriteHTML].
type HTMLOptions struct {
	// All renders every key, not only those that are not Valid. The page
	// grows with the history; by default a large valid history renders small.
	All bool
	// Timeout bounds the re-check of the rendered keys, needed when there is
	// more than one (porcupine renders one LinearizationInfo, and keeps no
	// way to merge them). 0 means one minute. A key that was Unknown is
	// rendered with the partial linearizations found in that time.
	Timeout time.Duration
}

// WriteHTML writes porcupine's visualization of the keys that are not Valid
// in res (or of every key with opts.All), with every nemesis event as an
// annotation on the "nemesis" row. Rendering only the failing keys is what
// keeps the page small: porcupine embeds every partial linearization of
// every partition it is given. events must be the history res was checked
// from.
//
// It must not run concurrently with another WriteHTML of the same Result:
// porcupine reorders the kept LinearizationInfo in place while rendering.
func WriteHTML(w io.Writer, res Result, events []Event, opts HTMLOptions) error {
	keys := res.Failing()
	if opts.All {
		keys = nil
		for _, k := range res.Keys {
			keys = append(keys, k.Key)
		}
	}
	info, err := renderInfo(res, events, keys, opts)
	if err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	info.AddAnnotations(nemesisAnnotations(events))
	if err := porcupine.Visualize(Model(), info, w); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

// renderInfo returns a LinearizationInfo holding exactly the given keys.
func renderInfo(res Result, events []Event, keys []string, opts HTMLOptions) (porcupine.LinearizationInfo, error) {
	if len(keys) == 0 {
		return porcupine.LinearizationInfo{}, nil
	}
	if len(keys) == 1 {
		if info, ok := res.infos[keys[0]]; ok {
			return info, nil // the check's own: no need to search again
		}
	}
	ops, err := Operations(events)
	if err != nil {
		return porcupine.LinearizationInfo{}, err
	}
	_, parts := byKey(ops)
	var selected []porcupine.Operation
	for _, k := range keys {
		selected = append(selected, parts[k]...)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultRecheck
	}
	// The verdicts are res's; this search only recovers what to draw.
	_, info := porcupine.CheckOperationsVerbose(Model(), selected, timeout)
	return info, nil
}
