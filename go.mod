module github.com/raftcheck/raftcheck

go 1.26.0

require (
	github.com/anishathalye/porcupine v1.3.1 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
)
