#!/usr/bin/env bash
# Reproduces every figure of docs/benchmarks.md: the HTTP loads (filestored,
# tusd, the bare and hash-only reference servers, plain http.ServeContent),
# each beside its reference measured in the same run, and the library-level
# go test benchmarks. Everything listens on 127.0.0.1 and every process this
# script starts is stopped by its pid when it ends.
#
#   bash scripts/bench.sh                    # everything (about 7 minutes on 2 cores with BASELINE, less without)
#   BENCH_ONLY="small go" bash scripts/bench.sh   # some parts: large rss dedup download small go
#
# Results go to $BENCH_OUT (default $BENCH_WORK/results-<time>): one JSON file per
# load (fsbench -json), gobench.txt, machine.txt and report.md (the tables,
# from "fsbench report"). PostgreSQL comes from $BENCH_POSTGRES or
# $FILESTORE_TEST_POSTGRES (a role with CREATEDB); when neither is set and we
# are root, .ci/services/postgres.sh starts one; likewise the S3 server of
# BenchmarkPutDedup's S3 pair ($FILESTORE_TEST_S3, else .ci/services/s3.sh).
# tusd v2.9.1 is installed with go install into $TOOLS_DIR (default
# ~/.cache/filestore-tools), never into the repository, as the issue says
# (go's default, cgo on; built with CGO_ENABLED=0 its peak RSS was the same,
# see docs/benchmarks.md). filestored is built as README's "Deploying"
# says (CGO_ENABLED=0). FILESTORED=/path/to/filestored measures that binary instead
# of building ./cmd/filestored. BASELINE=/path/to/filestored also measures
# that (older) binary, interleaved with this one, under the same loads: its
# results are named base-*, and the report compares the two.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${TOOLS_DIR:-$HOME/.cache/filestore-tools}
TUSD_VERSION=v2.9.1
TUSD=$TOOLS/tusd-$TUSD_VERSION/tusd
WORK=${BENCH_WORK:-/var/tmp/filestore-bench} # must be on a real disk, not tmpfs
OUT=${BENCH_OUT:-$WORK/results-$(date +%Y%m%dT%H%M%S)}
ONLY=${BENCH_ONLY:-large rss dedup download small go}
LARGE=${LARGE_SIZE:-1GiB}      # the large uploads and downloads
REPS=${LARGE_REPS:-3}          # sequential large uploads (and whole downloads) per figure
SMALL_FOR=${SMALL_DURATION:-6s} # each 4 KiB upload load
RANGE_FOR=${RANGE_DURATION:-5s} # each 4 KiB range load
ROUNDS=${BENCH_ROUNDS:-3}      # interleaved rounds of the 4 KiB loads; a figure is their median
SEED=4242                      # content of the stored 1 GiB file (dedup, downloads)
FS_ADDR=127.0.0.1:18080 TUS_ADDR=127.0.0.1:18081 REF_ADDR=127.0.0.1:18082 BASE_ADDR=127.0.0.1:18083

say() { printf '\n== %s (%s)\n' "$*" "$(date +%T)" >&2; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

mkdir -p "$WORK" "$OUT" "$WORK/bin"
BIN=$(cd "$WORK/bin" && pwd)

# --- processes: started in the background, stopped by pid ---------------
PIDS=()
LAST_PID=
start() { # start NAME CMD...: runs CMD with its output in $WORK/NAME.log
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}
stop() { # stop PID
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]+"${keep[@]}"}")
}
cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop "$p"; done
	rm -rf "$WORK/trash"
	# new_pgdb runs in command substitutions (subshells), so the databases
	# are found by the name prefix of this run ($$ is this script's pid).
	[ -z "${PG:-}" ] || psql -Atq "$PG" -c "SELECT datname FROM pg_database WHERE datname LIKE 'fsbench\_$$\_%'" 2>/dev/null |
		while read -r p; do psql -q "$PG" -c "DROP DATABASE IF EXISTS $p WITH (FORCE)" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# --- tools ---------------------------------------------------------------
say build
go build -o "$BIN/fsbench" ./cmd/fsbench
if [ -n "${FILESTORED:-}" ]; then
	cp "$FILESTORED" "$BIN/filestored" # a given binary instead of ./cmd/filestored
else
	# The deployment build of README's "Deploying": a static binary (no C,
	# so no libc mapped into the process; about 2.5 MiB less peak RSS).
	CGO_ENABLED=0 go build -trimpath -o "$BIN/filestored" ./cmd/filestored
fi
if [ -n "${BASELINE:-}" ]; then
	cp "$BASELINE" "$BIN/filestored-base"
fi
base() { [ -n "${BASELINE:-}" ]; }
if [ ! -x "$TUSD" ]; then
	say "install tusd $TUSD_VERSION into $(dirname "$TUSD")"
	GOBIN=$(mkdir -p "$(dirname "$TUSD")" && cd "$(dirname "$TUSD")" && pwd) GOFLAGS=-buildvcs=false \
		go install "github.com/tus/tusd/v2/cmd/tusd@$TUSD_VERSION"
fi
FSB=$BIN/fsbench

PG=${BENCH_POSTGRES:-${FILESTORE_TEST_POSTGRES:-}}
if { want small || want go; } && [ -z "$PG" ] && [ "$(id -u)" = 0 ]; then
	pg_env=$(bash .ci/services/postgres.sh)
	eval "$pg_env"
	PG=$FILESTORE_TEST_POSTGRES
fi
# BenchmarkPutDedup's S3 pair runs on $FILESTORE_TEST_S3; as root without
# it, .ci/services/s3.sh starts versitygw.
if want go && [ -z "${FILESTORE_TEST_S3:-}" ] && [ "$(id -u)" = 0 ]; then
	s3_env=$(bash .ci/services/s3.sh)
	eval "$s3_env"
fi

# --- the machine -----------------------------------------------------------
{
	echo "date:    $(date -u +%FT%TZ)"
	echo "kernel:  $(uname -srm)"
	echo "cpus:    $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "memory:  $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
	echo "disk:    $(df -h "$WORK" | awk 'NR==2 {print $1 " " $2 " (" $5 " used), mounted on " $6}') $(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || true)"
	echo "go:      $(go version)"
	echo "tusd:    $TUSD_VERSION"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)  ($(uptime))"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# --- servers -----------------------------------------------------------------
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export FILESTORE_JWT_SECRET=$SECRET
FS_PID=
start_filestored() { # start_filestored NAME [DATABASE_URL]; FS_EXE and FS_AT pick the binary and address
	local data=$WORK/$1 exe=${FS_EXE:-$BIN/filestored} addr=${FS_AT:-$FS_ADDR}
	[ ! -e "$data" ] || retire "$data" # left by an interrupted run
	mkdir -p "$data"
	local db=()
	[ -z "${2:-}" ] || db=(--database "$2")
	# One owner runs every load, 64 uploads at once: no cap on an owner's
	# uploads in progress (a build older than that flag has none).
	local cap=()
	! "$exe" --help 2>&1 | grep -q -- '-uploads-per-user' || cap=(--uploads-per-user 0)
	start "$1" "$exe" --addr "$addr" --data-dir "$data" "${db[@]+"${db[@]}"}" \
		--max-size 5GiB --rate-ip 0 --rate-user 0 "${cap[@]+"${cap[@]}"}"
	FS_PID=$LAST_PID
	"$FSB" wait -url "http://$addr/healthz"
}
# retire moves a data directory aside, to be deleted at the end: on ext4
# without a journal, creating files is slow while many inodes were freed in
# the last 30 s (find_inode_bit skips recently deleted inodes), so deleting
# thousands of small files between loads would slow the next load down.
TRASH_N=0
retire() {
	TRASH_N=$((TRASH_N + 1))
	mkdir -p "$WORK/trash"
	mv "$1" "$WORK/trash/$TRASH_N"
}
stop_filestored() {
	stop "$FS_PID"
	retire "$WORK/$1"
}
TUS_PID=
start_tusd() {
	[ ! -e "$WORK/tusd" ] || retire "$WORK/tusd"
	mkdir -p "$WORK/tusd"
	start tusd "$TUSD" -host 127.0.0.1 -port "${TUS_ADDR##*:}" -upload-dir "$WORK/tusd" -base-path /files/ \
		-verbose=false -show-startup-logs=false -show-greeting=false -expose-metrics=false
	TUS_PID=$LAST_PID
	"$FSB" wait -url "http://$TUS_ADDR/files/"
}
stop_tusd() {
	stop "$TUS_PID"
	sync # tusd does not sync: its writeback must not run during the next load
	retire "$WORK/tusd"
}
REF_PID=
start_ref() { # start_ref serve-bare|serve-file FLAGS...
	start ref "$FSB" "$@" -addr "$REF_ADDR" -max-time 30m
	REF_PID=$LAST_PID
	"$FSB" wait -url "http://$REF_ADDR/"
}
new_pgdb() { # prints the URL of a fresh database on $PG
	local name=fsbench_$$_$RANDOM
	psql -q "$PG" -c "CREATE DATABASE $name" >/dev/null
	echo "$PG" | sed -E "s#(//[^/]*/)[^?]*#\1$name#"
}

# token prints a token of filestored (the same secret) for owner bench.
token() { "$BIN/filestored" token --sub bench --ttl 2h; }
json() { "$FSB" "$@" -json; }

# --- 1 GiB durable uploads, and peak RSS -----------------------------------
if want large || want rss; then
	say "large: bare reference (hash + write + one fdatasync)"
	mkdir -p "$WORK/bare" && rm -rf "${WORK:?}/bare/"*
	start_ref serve-bare -dir "$WORK/bare" -sync end
	json post -url "http://$REF_ADDR/" -size "$LARGE" -count "$REPS" -pid "$REF_PID" -label bare >"$OUT/large-bare.json"
	stop "$REF_PID"
	rm -rf "${WORK:?}/bare/"*
	say "large: bare reference with overlapped writeback"
	start_ref serve-bare -dir "$WORK/bare" -sync overlap
	json post -url "http://$REF_ADDR/" -size "$LARGE" -count "$REPS" -pid "$REF_PID" -label bare-overlap >"$OUT/large-bare-overlap.json"
	stop "$REF_PID"
	rm -rf "$WORK/bare"

	say "large: filestored, local directory + SQLite"
	start_filestored fs-large
	FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size "$LARGE" -count "$REPS" -pid "$FS_PID" >"$OUT/large-sqlite.json"
	stop_filestored fs-large
	if want rss; then
		# A server of its own, with as many uploads as the $LARGE figure:
		# peak RSS grows over a process's first uploads (its heap reaching
		# the GC's goal), whatever their size, so both figures must start
		# from the same state to compare sizes.
		say "rss: filestored, $REPS uploads of 4 GiB on a fresh server"
		start_filestored fs-rss
		FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size 4GiB -count "$REPS" -pid "$FS_PID" >"$OUT/large4g-sqlite.json"
		stop_filestored fs-rss
	fi
	if base; then
		say "large: baseline filestored"
		FS_EXE=$BIN/filestored-base start_filestored fs-large-base
		FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size "$LARGE" -count "$REPS" -pid "$FS_PID" >"$OUT/base-large-sqlite.json"
		stop_filestored fs-large-base
	fi

	say "large: tusd (no sync)"
	start_tusd
	json tus -url "http://$TUS_ADDR/files/" -size "$LARGE" -count "$REPS" -pid "$TUS_PID" >"$OUT/large-tusd.json"
	stop_tusd
fi

# --- uploads of content already stored, and downloads ---------------------
if want dedup || want download; then
	say "dedup: hash-only reference"
	start_ref serve-bare -mode hash
	json post -url "http://$REF_ADDR/" -size "$LARGE" -count "$REPS" -seed "$SEED" -same -pid "$REF_PID" >"$OUT/dedup-hash.json"
	stop "$REF_PID"

	say "dedup: filestored, content already stored"
	start_filestored fs-dedup
	LAST_FS_PID=$FS_PID
	export FSBENCH_TOKEN
	FSBENCH_TOKEN=$(token)
	stored=$(json upload -url "http://$FS_ADDR" -size "$LARGE" -count 1 -seed "$SEED" -name-prefix original)
	location=$(echo "$stored" | sed -n 's/.*"location": "\([^"]*\)".*/\1/p')
	[ -n "$location" ] || { echo "the first upload failed: $stored" >&2; exit 1; }
	BASE_PID= base_location=
	if base; then
		FS_EXE=$BIN/filestored-base FS_AT=$BASE_ADDR start_filestored fs-dedup-base
		BASE_PID=$FS_PID
		FS_PID=$LAST_FS_PID
		base_stored=$(json upload -url "http://$BASE_ADDR" -size "$LARGE" -count 1 -seed "$SEED" -name-prefix original)
		base_location=$(echo "$base_stored" | sed -n 's/.*"location": "\([^"]*\)".*/\1/p')
		[ -n "$base_location" ] || { echo "the baseline's first upload failed: $base_stored" >&2; exit 1; }
	fi
	if want dedup; then
		json upload -url "http://$FS_ADDR" -size "$LARGE" -count "$REPS" -seed "$SEED" -same -pid "$FS_PID" >"$OUT/dedup-sqlite.json"
		json upload -url "http://$FS_ADDR" -size "$LARGE" -count "$REPS" -seed "$SEED" -same -digest -pid "$FS_PID" >"$OUT/dedup-sqlite-digest.json"
		if base; then
			json upload -url "http://$BASE_ADDR" -size "$LARGE" -count "$REPS" -seed "$SEED" -same -pid "$BASE_PID" >"$OUT/base-dedup-sqlite.json"
			json upload -url "http://$BASE_ADDR" -size "$LARGE" -count "$REPS" -seed "$SEED" -same -digest -pid "$BASE_PID" >"$OUT/base-dedup-sqlite-digest.json"
		fi
	fi
	if want download; then
		# The object filestored stored: the only file of that size in its bucket.
		size=$(echo "$stored" | sed -n 's/.*"size": \([0-9]*\).*/\1/p')
		blob=$(find "$WORK/fs-dedup/blobs" -type f -printf '%s %p\n' | awk -v s="$size" '$1 == s {print $2; exit}')
		[ -n "$blob" ] || { echo "no stored object found" >&2; exit 1; }
		start_ref serve-file -file "$blob"
		say "download: the whole file, then 4 KiB ranges ($ROUNDS rounds), from both in turn"
		json download -url "http://$REF_ADDR/f" -count "$REPS" -pid "$REF_PID" >"$OUT/download-file.json"
		json download -url "http://$FS_ADDR$location/content" -count "$REPS" -pid "$FS_PID" >"$OUT/download-sqlite.json"
		if base; then
			json download -url "http://$BASE_ADDR$base_location/content" -count "$REPS" -pid "$BASE_PID" >"$OUT/base-download-sqlite.json"
		fi
		for r in $(seq "$ROUNDS"); do
			json download -url "http://$REF_ADDR/f" -range 4KiB -c 16 -duration "$RANGE_FOR" -pid "$REF_PID" >"$OUT/range-file@$r.json"
			json download -url "http://$FS_ADDR$location/content" -range 4KiB -c 16 -duration "$RANGE_FOR" -pid "$FS_PID" >"$OUT/range-sqlite@$r.json"
			if base; then
				json download -url "http://$BASE_ADDR$base_location/content" -range 4KiB -c 16 -duration "$RANGE_FOR" -pid "$BASE_PID" >"$OUT/base-range-sqlite@$r.json"
			fi
		done
		stop "$REF_PID"
	fi
	unset FSBENCH_TOKEN
	stop_filestored fs-dedup
	if base; then
		stop "$BASE_PID"
		retire "$WORK/fs-dedup-base"
	fi
fi

# --- 4 KiB durable uploads at 16 and 64 clients ----------------------------
if want small; then
	[ -n "$PG" ] || say "small: no PostgreSQL (set BENCH_POSTGRES or FILESTORE_TEST_POSTGRES): its figures are skipped"
	for r in $(seq "$ROUNDS"); do
		for c in 16 64; do
			say "small: round $r, $c clients: tusd, filestored + SQLite, filestored + PostgreSQL"
			start_tusd
			json tus -url "http://$TUS_ADDR/files/" -size 4KiB -c "$c" -duration "$SMALL_FOR" -pid "$TUS_PID" >"$OUT/small-tusd-c$c@$r.json"
			stop_tusd

			start_filestored fs-small
			FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size 4KiB -c "$c" -duration "$SMALL_FOR" -pid "$FS_PID" >"$OUT/small-sqlite-c$c@$r.json"
			stop_filestored fs-small
			if base; then
				FS_EXE=$BIN/filestored-base start_filestored fs-small
				FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size 4KiB -c "$c" -duration "$SMALL_FOR" -pid "$FS_PID" >"$OUT/base-small-sqlite-c$c@$r.json"
				stop_filestored fs-small
			fi

			if [ -n "$PG" ]; then
				start_filestored fs-small "$(new_pgdb)"
				FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size 4KiB -c "$c" -duration "$SMALL_FOR" -pid "$FS_PID" >"$OUT/small-postgres-c$c@$r.json"
				stop_filestored fs-small
				if base; then
					FS_EXE=$BIN/filestored-base start_filestored fs-small "$(new_pgdb)"
					FSBENCH_TOKEN=$(token) json upload -url "http://$FS_ADDR" -size 4KiB -c "$c" -duration "$SMALL_FOR" -pid "$FS_PID" >"$OUT/base-small-postgres-c$c@$r.json"
					stop_filestored fs-small
				fi
			fi
		done
	done
fi

# --- library level (no HTTP) -----------------------------------------------
if want go; then
	say "go test -bench (library level)"
	: >"$OUT/gobench.txt"
	FILESTORE_TEST_POSTGRES=$PG go test -count 1 -run '^$' -bench 'BenchmarkPut4KiB' -benchtime 2000x . | tee -a "$OUT/gobench.txt"
	go test -count 1 -run '^$' -bench 'BenchmarkPutLarge|BenchmarkPutDedup' -benchtime 3x . | tee -a "$OUT/gobench.txt"
fi

echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
"$FSB" report -dir "$OUT" >"$OUT/report.md"
say "report ($OUT/report.md)"
cat "$OUT/report.md"
