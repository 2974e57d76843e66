//go:build tools

package deps

import (
	_ "github.com/anishathalye/porcupine"
	_ "github.com/prometheus/client_golang/prometheus"
)
