#!/usr/bin/env bash
# Downloads from an S3 bucket: filestored on versitygw (see
# docs/benchmarks.md, "Downloads from S3"), 4 KiB random range GETs at 4 and
# 16 clients and whole downloads of one object, inline storage off.
#
#   bash scripts/bench-s3-download.sh                               # ./cmd/filestored
#   BASELINE=/tmp/old/filestored bash scripts/bench-s3-download.sh  # and an older build, interleaved
#
# Without FILESTORE_TEST_S3 it starts versitygw with .ci/services/s3.sh
# (as root). Each server gets a key prefix of its own in the bucket, which
# is left there (the test bucket's objects are the tests' to clean).
# Knobs: S3_OBJECT_SIZE (64MiB; KiB, MiB or GiB), RANGE_DURATION (10s), BENCH_ROUNDS (2),
# LARGE_REPS (3 whole downloads per figure). Writes fsbench's lines and
# machine.txt to BENCH_OUT (default /var/tmp/filestore-bench/s3-download-DATE).
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${BENCH_WORK:-/var/tmp/filestore-bench}
OUT=${BENCH_OUT:-$WORK/s3-download-$(date +%Y%m%dT%H%M%S)}
SIZE=${S3_OBJECT_SIZE:-64MiB}
RANGE_FOR=${RANGE_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-2}
REPS=${LARGE_REPS:-3}
ADDR=127.0.0.1:18084

say() { printf '\n== %s (%s)\n' "$*" "$(date +%T)" >&2; }
mkdir -p "$OUT" "$WORK/bin"
BIN=$(cd "$WORK/bin" && pwd)

PID=
cleanup() {
	[ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
}
trap cleanup EXIT

say build
go build -o "$BIN/fsbench" ./cmd/fsbench
CGO_ENABLED=0 go build -trimpath -o "$BIN/filestored-s3" ./cmd/filestored
FSB=$BIN/fsbench
if [ -z "${FILESTORE_TEST_S3:-}" ]; then
	eval "$(bash .ci/services/s3.sh)"
fi

{
	echo "date:    $(date -u +%FT%TZ)"
	echo "kernel:  $(uname -srm)"
	echo "cpus:    $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "go:      $(go version)"
	echo "object:  $SIZE; ranges for $RANGE_FOR per load, $ROUNDS rounds"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

export FILESTORE_JWT_SECRET
FILESTORE_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
bytes=$(numfmt --from=iec "${SIZE%iB}") # 64MiB: numfmt reads 64M
head -c "$bytes" /dev/urandom >"$OUT/object"

measure() { # measure LABEL EXE
	local label=$1 exe=$2 data=$OUT/$1-data
	rm -rf "$data" && mkdir -p "$data"
	"$exe" --addr "$ADDR" --data-dir "$data" --inline-max 0 --rate-ip 0 --rate-user 0 \
		--bucket "$FILESTORE_TEST_S3&prefix=bench-s3-download-$$-$label/" >"$data/log" 2>&1 &
	PID=$!
	"$FSB" wait -url "http://$ADDR/readyz" >/dev/null
	local tok loc c
	tok=$("$exe" token --sub bench --ttl 1h --data-dir "$data")
	loc=$(curl -sf -D - -o /dev/null -H "Authorization: Bearer $tok" --data-binary @"$OUT/object" \
		"http://$ADDR/v1/files?name=object" | awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
	for c in 4 16; do
		"$FSB" download -url "http://$ADDR$loc/content" -token "$tok" -range 4KiB -c "$c" -duration "$RANGE_FOR" \
			-pid "$PID" -label "$label-range-c$c" | tee "$OUT/$label-range-c$c.txt"
	done
	"$FSB" download -url "http://$ADDR$loc/content" -token "$tok" -count "$REPS" -pid "$PID" -label "$label-whole" |
		tee "$OUT/$label-whole.txt"
	kill "$PID" && wait "$PID" 2>/dev/null || true
	PID=
}

for r in $(seq "$ROUNDS"); do
	say "round $r: filestored"
	measure "new@$r" "$BIN/filestored-s3"
	if [ -n "${BASELINE:-}" ]; then
		say "round $r: baseline"
		measure "base@$r" "$BASELINE"
	fi
done
say "done: $OUT"
