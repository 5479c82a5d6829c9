#!/usr/bin/env bash
# Side by side with the peers: one-shot "say hi" with a 200-token streamed reply from the same
# local mock, wall time and peak RSS as medians, and ratios to `botcoder ask` (warm daemon).
#
#   cargo build --release --workspace --bins
#   bash scripts/bench-peers.sh            # botcoder (warm and cold), curl, and installed peers
#   PEERS_INSTALL=1 bash scripts/bench-peers.sh   # also `npm install` the peers into $PEERS_DIR
#
# Peers: `claude -p` (@anthropic-ai/claude-code, Anthropic wire via ANTHROPIC_BASE_URL) and
# `codex exec` (@openai/codex, a custom provider on the Responses wire) and `opencode run`
# (opencode-ai, an OpenAI-compatible custom provider; its first run fetches that SDK from npm,
# so one warm-up run is not measured). The mocks run on 127.0.0.1; HOME/XDG dirs are throwaway.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
BIN=target/release
PEERS_DIR=${PEERS_DIR:-/tmp/botcoder-peers}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; BOTCODER_SOCKET=$work/run/d.sock $BIN/botcoder daemon stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
[ -x $BIN/botcoder ] || { echo "build first: cargo build --release --workspace --bins" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package: time)" >&2; exit 2; }

$BIN/mock-llm --port 0 > "$work/openai.url" & sleep 0.3
$BIN/mock-llm --format anthropic --port 0 > "$work/anthropic.url" & sleep 0.3
$BIN/mock-llm --format responses --port 0 > "$work/responses.url" & sleep 0.3
openai=$(head -1 "$work/openai.url"); anthropic=$(head -1 "$work/anthropic.url" | sed 's#/v1$##')
responses=$(head -1 "$work/responses.url")

export HOME=$work/home XDG_DATA_HOME=$work/data XDG_STATE_HOME=$work/state XDG_CONFIG_HOME=$work/config \
  BOTCODER_SOCKET=$work/run/d.sock LLM_PROVIDER=local LOCAL_LLM_URL=$openai LOCAL_LLM_MODEL=mock
mkdir -p "$HOME" "$work/project"

measure() { # name, command... -> one "wall_s rss_kb" line per run in $work/<name>
  local name=$1; shift
  : > "$work/$name"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1 || true
    tail -1 "$work/t" >> "$work/$name"
  done
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
report() { # name
  local wall rss
  wall=$(cut -d' ' -f1 "$work/$1" | median); rss=$(cut -d' ' -f2 "$work/$1" | median)
  echo "$1 $wall $rss" >> "$work/summary"
}

$BIN/botcoder daemon start >/dev/null 2>&1
measure "botcoder-ask-warm" $BIN/botcoder ask --project "$work/project" "say hi"; report botcoder-ask-warm
cold() { $BIN/botcoder daemon stop >/dev/null 2>&1; $BIN/botcoder ask --project "$work/project" "say hi"; }
export -f cold; export BIN work
measure "botcoder-ask-cold" bash -c cold; report botcoder-ask-cold
measure "curl-floor" curl -sN -o /dev/null -X POST -H 'content-type: application/json' -d '{}' "$openai/chat/completions"; report curl-floor

if [ "${PEERS_INSTALL:-0}" = 1 ]; then
  mkdir -p "$PEERS_DIR" && (cd "$PEERS_DIR" && npm install --no-audit --no-fund @anthropic-ai/claude-code @openai/codex opencode-ai >/dev/null 2>&1 || true)
fi
if [ -x "$PEERS_DIR/node_modules/.bin/claude" ]; then
  measure "claude-p" env ANTHROPIC_BASE_URL="$anthropic" ANTHROPIC_API_KEY=sk-ant-mock DISABLE_TELEMETRY=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 "$PEERS_DIR/node_modules/.bin/claude" -p "say hi"
  report claude-p
else
  echo "claude-p skipped: not installed (PEERS_INSTALL=1 installs it)"
fi
if [ -x "$PEERS_DIR/node_modules/.bin/codex" ]; then
  mkdir -p "$HOME/.codex"
  printf 'model = "mock-model"\nmodel_provider = "mock"\n[model_providers.mock]\nname = "mock"\nbase_url = "%s"\nwire_api = "responses"\nenv_key = "MOCK_API_KEY"\n' "$responses" > "$HOME/.codex/config.toml"
  (cd "$work/project" && measure "codex-exec" env MOCK_API_KEY=mock "$PEERS_DIR/node_modules/.bin/codex" exec --skip-git-repo-check "say hi")
  report codex-exec
else
  echo "codex-exec skipped: not installed (PEERS_INSTALL=1 installs it)"
fi
if [ -x "$PEERS_DIR/node_modules/.bin/opencode" ]; then
  mkdir -p "$XDG_CONFIG_HOME/opencode"
  cat > "$XDG_CONFIG_HOME/opencode/opencode.json" <<JSON
{"provider": {"mock": {"npm": "@ai-sdk/openai-compatible", "name": "mock",
  "options": {"baseURL": "$openai", "apiKey": "mock"}, "models": {"mock-model": {"name": "mock-model"}}}},
 "model": "mock/mock-model"}
JSON
  (cd "$work/project" && "$PEERS_DIR/node_modules/.bin/opencode" run "warm up" >/dev/null 2>&1 || true)
  (cd "$work/project" && measure "opencode-run" "$PEERS_DIR/node_modules/.bin/opencode" run "say hi")
  report opencode-run
else
  echo "opencode-run skipped: not installed (PEERS_INSTALL=1 installs it)"
fi

base_wall=$(awk '$1=="botcoder-ask-warm"{print $2}' "$work/summary")
base_rss=$(awk '$1=="botcoder-ask-warm"{print $3}' "$work/summary")
printf "%-20s %10s %12s %10s %10s\n" tool "wall (s)" "peak RSS KB" "x wall" "x RSS"
while read -r name wall rss; do
  printf "%-20s %10s %12s %10.1f %10.1f\n" "$name" "$wall" "$rss" \
    "$(echo "$wall / $base_wall" | bc -l)" "$(echo "$rss / $base_rss" | bc -l)"
done < "$work/summary"
