#!/bin/sh
# sim-replay-diff.sh BIN OUTDIR: runs a fixed set of simulated tests (seeds
# with different knobs, unsafe modes and nemeses) with raftcheck binary BIN
# and keeps, per run, its history, statuses, test.json and results.json
# with the wall-clock fields removed. Run it with the binaries of two
# builds, then `diff -r` (or cmp file by file) the two OUTDIRs: a change
# that must not alter any run's behaviour leaves them byte-identical.
set -eu
bin=$1
out=$2
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while read -r args; do
	i=$((i + 1))
	# The exit status is the verdict, recorded below; only a harness
	# failure (3) stops the script.
	rc=0
	# shellcheck disable=SC2086
	"$bin" test --backend sim --results "$tmp/$i" $args >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 3 ] && { echo "run $i ($args): harness failure" >&2; exit 1; }
	d=$tmp/$i/latest
	mkdir -p "$out/$i"
	echo "$args exit $rc" >"$out/$i/args"
	cp "$d/history.jsonl" "$d/statuses.jsonl" "$d/test.json" "$out/$i/"
	# Drop wall-clock fields and the results path; the notes keep the
	# simulator's event and network counts.
	sed -e '/"started_at":/d' -e '/"duration":/d' -e '/"check_duration":/d' -e '/"replay":/d' \
		-e 's/ in [0-9.]*[µmn]*s ([0-9]*x real time)//' "$d/results.json" >"$out/$i/results.json"
done <<'RUNS'
--seed 1 --time-limit 20s
--seed 2 --time-limit 20s
--seed 3 --time-limit 20s --nodes 3
--seed 4 --time-limit 20s --nodes 7
--seed 5 --time-limit 20s --nemesis kill
--seed 6 --time-limit 20s --nemesis pause
--seed 7 --time-limit 20s --nemesis partition
--seed 8 --time-limit 20s --nemesis none
--seed 19 --time-limit 20s --nemesis loss,latency,pause
--seed 20 --time-limit 20s --nemesis loss,kill,partition --nodes 3
--seed 9 --time-limit 20s --concurrency 30 --rate 500
--seed 10 --time-limit 20s --unsafe commit-prior-term
--seed 11 --time-limit 20s --unsafe vote-any-log
--seed 12 --time-limit 20s --unsafe forget-vote
--seed 13 --time-limit 20s --unsafe ack-before-persist
--seed 14 --time-limit 20s --unsafe no-fsync
--seed 15 --time-limit 20s --unsafe stale-reads
--seed 16 --time-limit 20s --unsafe no-dedup
--seed 17 --time-limit 30s --election-timeout 150ms --nemesis-interval 2s
--seed 18 --time-limit 30s --client-timeout 500ms --retries -1
--seed 1319 --time-limit 30s
--seed 42 --time-limit 60s
--seed 100 --time-limit 20s --nodes 3 --nemesis pause,kill --concurrency 4
--seed 101 --time-limit 20s --nodes 3 --unsafe commit-prior-term --nemesis kill,partition
RUNS
echo "$i runs stored in $out"
