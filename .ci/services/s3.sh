#!/usr/bin/env bash
# Starts a local S3-compatible server for the integration tests (see
# shared/services.md §4): versitygw v1.8.0, posix backend, on 127.0.0.1:7070,
# with bucket filestore-test. The binary is built once with `go install` into
# ${TOOLS_DIR:-$HOME/.cache/filestore-tools}/versitygw-v1.8.0; data lives under
# ${S3_DATA_DIR:-/tmp/filestore-s3}. Idempotent; run as root.
#
# Progress goes to stderr. On success stdout holds only export lines for
# FILESTORE_TEST_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION,
# so a caller can run: eval "$(bash .ci/services/s3.sh)"
set -euo pipefail
VGW_VERSION=v1.8.0
TOOLS=${TOOLS_DIR:-$HOME/.cache/filestore-tools}/versitygw-$VGW_VERSION
DATA=${S3_DATA_DIR:-/tmp/filestore-s3}
ADDR=127.0.0.1:7070
BUCKET=filestore-test
REGION=us-east-1
export ROOT_ACCESS_KEY=${S3_ACCESS_KEY:-filestore}
export ROOT_SECRET_KEY=${S3_SECRET_KEY:-filestore-secret}

say() { echo "s3.sh: $*" >&2; }

if [ -x "$TOOLS/versitygw" ]; then
	say "versitygw $VGW_VERSION already installed in $TOOLS"
else
	say "installing versitygw $VGW_VERSION into $TOOLS (go install; the first build takes minutes)"
	mkdir -p "$TOOLS"
	GOBIN="$TOOLS" CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION" >&2
fi

mkdir -p "$DATA/root"
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# versitygw answers 400 to SigV4 requests without x-amz-content-sha256.
s3curl() {
	curl -s -o /dev/null -w '%{http_code}' -H "x-amz-content-sha256: $EMPTY_SHA256" \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$ROOT_ACCESS_KEY:$ROOT_SECRET_KEY" "$@" || true
}

if [ "$(s3curl "http://$ADDR/")" = 200 ]; then
	say "versitygw already answering on $ADDR"
else
	say "starting versitygw on $ADDR (posix backend in $DATA/root, log $DATA/vgw.log)"
	setsid nohup "$TOOLS/versitygw" --port "$ADDR" --quiet posix "$DATA/root" \
		</dev/null >"$DATA/vgw.log" 2>&1 &
	echo $! >"$DATA/vgw.pid"
	for _ in $(seq 1 200); do
		[ "$(s3curl "http://$ADDR/")" = 200 ] && break
		sleep 0.1
	done
	if [ "$(s3curl "http://$ADDR/")" != 200 ]; then
		say "versitygw did not start; log follows"
		cat "$DATA/vgw.log" >&2
		exit 1
	fi
fi

if [ "$(s3curl -I "http://$ADDR/$BUCKET")" = 200 ]; then
	say "bucket $BUCKET exists"
else
	say "creating bucket $BUCKET"
	s3curl -X PUT "http://$ADDR/$BUCKET" >/dev/null
	if [ "$(s3curl -I "http://$ADDR/$BUCKET")" != 200 ]; then
		say "bucket $BUCKET could not be created; log follows"
		cat "$DATA/vgw.log" >&2
		exit 1
	fi
fi

echo "export FILESTORE_TEST_S3='s3://$BUCKET?endpoint=http%3A%2F%2F${ADDR/:/%3A}&region=$REGION&use_path_style=true'"
echo "export AWS_ACCESS_KEY_ID='$ROOT_ACCESS_KEY'"
echo "export AWS_SECRET_ACCESS_KEY='$ROOT_SECRET_KEY'"
echo "export AWS_REGION='$REGION'"
