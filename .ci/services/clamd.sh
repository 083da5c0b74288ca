#!/usr/bin/env bash
# Starts a ClamAV clamd for filestore's tests, with only filestore's own test
# signatures (never freshclam: there is no network, and tests need exact
# signature names). Idempotent: a clamd already answering PONG on this
# configuration is left running as it is (stop it to apply a changed
# configuration).
#
#   eval "$(.ci/services/clamd.sh | tail -n 2)"
#
# Listens on 127.0.0.1:3310 and on the unix socket $CLAMD_DIR/clamd.sock.
# Last lines printed:
#   export FILESTORE_TEST_CLAMD_UNIX=unix://$CLAMD_DIR/clamd.sock
#   export FILESTORE_TEST_CLAMD=tcp://127.0.0.1:3310
#
# Limits (clamd.conf): StreamMaxLength 100M = MaxFileSize 100M <= MaxScanSize
# 400M, with AlertExceedsMax yes.
#   - A stream over StreamMaxLength is refused ("INSTREAM size limit
#     exceeded. ERROR"); scan.ClamAV reports it as filestore.ErrScanLimit.
#   - MaxFileSize equal to StreamMaxLength means any stream clamd accepts is
#     scanned as a whole; AlertExceedsMax turns the silent "OK without
#     scanning" of larger inner files (or archives over MaxScanSize, which
#     counts an archive plus everything unpacked from it) into
#     "Heuristics.Limits.Exceeded.* FOUND", which scan.ClamAV also reports as
#     ErrScanLimit, never as infected. Not for every format: ClamAV 1.4.6
#     still answers OK for a zip member larger than MaxFileSize (a gzip of
#     the same content is reported); see the README.
#   - MaxScanSize stays at clamd's default 400M so that an archive at the
#     stream limit can still be unpacked and scanned.
# Stop it with: kill "$(cat "$CLAMD_DIR/clamd.pid")"
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
DIR=${CLAMD_DIR:-/tmp/filestore-clamd}
PORT=3310

if ! command -v clamd >/dev/null || ! command -v clamdscan >/dev/null || [ ! -d /usr/share/clamav-testfiles ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clamav-daemon clamdscan clamav-testfiles >/dev/null
fi

mkdir -p "$DIR/db"
# EICAR test string (68 bytes) anywhere in the content.
printf 'Filestore.Test.EICAR:0:*:%s\n' \
  58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a \
  >"$DIR/db/filestore-test.ndb"
# clam.exe of clamav-testfiles (544 bytes), found in every file of
# /usr/share/clamav-testfiles (archives, documents, packed executables).
printf '%s\n' 'aa15bcf478d165efd2065190eb473bcb:544:Filestore.Test.ClamExe' >"$DIR/db/filestore-test.hdb"

cat >"$DIR/clamd.conf" <<CONF
DatabaseDirectory $DIR/db
TCPSocket $PORT
TCPAddr 127.0.0.1
LocalSocket $DIR/clamd.sock
LocalSocketMode 666
FixStaleSocket yes
Foreground no
PidFile $DIR/clamd.pid
LogFile $DIR/clamd.log
LogTime yes
StreamMaxLength 100M
MaxFileSize 100M
MaxScanSize 400M
AlertExceedsMax yes
MaxThreads 4
SelfCheck 0
CONF

ping() { clamdscan --config-file="$DIR/clamd.conf" --ping "$1" >/dev/null 2>&1; }
if ! ping 1; then
  clamd --config-file="$DIR/clamd.conf" # daemonizes once its sockets listen
fi
if ! ping 60:1; then
  echo "clamd did not answer PING; log follows" >&2
  tail -n 50 "$DIR/clamd.log" >&2 || true
  exit 1
fi
echo "clamd $(clamdscan --config-file="$DIR/clamd.conf" --version 2>/dev/null || true) ready on tcp://127.0.0.1:$PORT and unix://$DIR/clamd.sock" >&2
echo "export FILESTORE_TEST_CLAMD_UNIX=unix://$DIR/clamd.sock"
echo "export FILESTORE_TEST_CLAMD=tcp://127.0.0.1:$PORT"
