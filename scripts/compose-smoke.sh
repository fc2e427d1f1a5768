#!/usr/bin/env bash
# Smoke test of the Docker Compose deployment, for a host with Docker and its compose plugin:
# build and start every service (secrets made by scripts/make-secrets.sh when .env is missing),
# wait until the gateway is ready, remove a watermark from a short clip through the public API
# (identity cookie, one-call submit, status until completed, download), then take it all down.
#
#   scripts/compose-smoke.sh              # the whole round trip; exits non-zero on any failure
#   scripts/compose-smoke.sh --keep       # leave the stack running afterwards
#   SMOKE_URL=http://127.0.0.1:8000 scripts/compose-smoke.sh --api-only
#                                         # only the API round trip, against a product already running
#
# Needs: curl, python3 (JSON parsing), and ffmpeg on the host or in the gateway image (the clip).
set -euo pipefail
cd "$(dirname "$0")/.."

URL=${SMOKE_URL:-http://127.0.0.1:8000}
READY_SECONDS=${SMOKE_READY_SECONDS:-300}
TASK_SECONDS=${SMOKE_TASK_SECONDS:-300}
keep=0
api_only=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --api-only) api_only=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
compose() { docker compose "$@"; }
finish() {
  status=$?
  if [ "$api_only" = 0 ] && [ "$keep" = 0 ]; then
    [ "$status" = 0 ] || compose logs --tail 50 >&2 || true
    compose down -v >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  if [ "$status" = 0 ]; then echo "compose smoke: passed"; else echo "compose smoke: FAILED ($status)" >&2; fi
}
trap finish EXIT

field() {  # field <json file> <python expression over `d`>: print one value of an envelope
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

if [ "$api_only" = 0 ]; then
  command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 1; }
  [ -f .env ] || scripts/make-secrets.sh
  compose up --build --detach
fi

echo "waiting for $URL/readyz (up to ${READY_SECONDS}s)"
deadline=$((SECONDS + READY_SECONDS))
until curl -fs -o /dev/null "$URL/readyz"; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "the gateway did not become ready" >&2; exit 1; }
  sleep 2
done

# A 4-second clip with a fixed mark over moving content.
clip="$work/clip.mp4"
render=(-hide_banner -loglevel error -f lavfi -i "testsrc2=size=320x240:rate=25:duration=4"
        -vf "drawbox=x=16:y=16:w=80:h=24:color=white@0.6:t=fill" -c:v libx264 -pix_fmt yuv420p
        -movflags frag_keyframe+empty_moov -f mp4 pipe:1)
if command -v ffmpeg >/dev/null; then
  ffmpeg "${render[@]}" > "$clip"
else
  compose exec -T gateway ffmpeg "${render[@]}" > "$clip"
fi

jar="$work/cookies"
curl -fsS -c "$jar" -b "$jar" -o "$work/me.json" "$URL/api/user/info"
curl -sS -c "$jar" -b "$jar" -o "$work/submit.json" \
  -F task_type=watermark_removal \
  -F 'config={"regions": [[12, 12, 88, 32]], "method": "quality"}' \
  -F "file=@$clip;type=video/mp4" \
  "$URL/api/tasks/submit"
task=$(field "$work/submit.json" 'd["data"]["task_id"] if d.get("success") else sys.exit("submit refused: %s" % d)')
echo "task $task submitted"

deadline=$((SECONDS + TASK_SECONDS))
while :; do
  curl -fsS -b "$jar" -o "$work/status.json" "$URL/api/tasks/$task/status"
  status=$(field "$work/status.json" 'd["data"]["status"]')
  case "$status" in
    completed) break ;;
    failed|cancelled|expired) echo "the task ended $status: $(cat "$work/status.json")" >&2; exit 1 ;;
  esac
  [ "$SECONDS" -lt "$deadline" ] || { echo "the task is still $status after ${TASK_SECONDS}s" >&2; exit 1; }
  sleep 2
done

curl -fsS -b "$jar" -o "$work/result.mp4" "$URL/api/tasks/$task/download"
size=$(wc -c < "$work/result.mp4")
[ "$size" -gt 1000 ] || { echo "the result has only $size bytes" >&2; exit 1; }
echo "task $task completed; result $size bytes"
