#!/usr/bin/env bash
# Installs the providers' SDKs that tests/sdk_crosscheck.rs checks the presets against, at pinned
# versions, outside the repository, and prints the variables that point the test at them:
#
#     eval "$(tests/sdk/install.sh)"          # or: tests/sdk/install.sh /some/dir
#     cargo test --test sdk_crosscheck
#
# Python SDKs go into a virtualenv, Node SDKs into a directory of their own; either half is
# left out, with a note, when `python3` or `npm` is missing. Under GitHub Actions the variables
# are also appended to $GITHUB_ENV. Progress goes to stderr, the `export` lines to stdout.
set -euo pipefail

dir="${1:-${TOWER_WEBHOOK_SDK_DIR:-${TMPDIR:-/tmp}/tower-webhook-sdks}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

python_sdks=(
  standardwebhooks==1.1.0
  svix==2.9.1
  stripe==16.1.0
  slack_sdk==3.48.0
  twilio==9.13.0
  hubspot-api-client==12.0.0
  paddle-python-sdk==1.16.1
  workos==10.8.0
  squareup==46.0.0.20260916
  sendgrid==6.12.5
  discord-interactions==0.4.0
)

node_sdks=(
  @octokit/webhooks-methods@6.0.0
  standardwebhooks@1.3.0
  svix@2.5.0
  stripe@23.2.0
  twilio@6.3.1
  @paddle/paddle-node-sdk@3.10.0
  @workos-inc/node@12.3.0
  @mux/mux-node@15.3.0
  @linear/sdk@98.0.0
  discord-interactions@4.4.0
  @sendgrid/eventwebhook@8.0.0
)

exports=()

if command -v python3 >/dev/null; then
  echo "installing ${#python_sdks[@]} Python SDKs into $dir/venv" >&2
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${python_sdks[@]}" >&2
  exports+=("TOWER_WEBHOOK_SDK_PYTHON=$dir/venv/bin/python")
else
  echo "no python3: the Python SDKs are left out" >&2
fi

if command -v node >/dev/null && command -v npm >/dev/null; then
  echo "installing ${#node_sdks[@]} Node SDKs into $dir/node" >&2
  mkdir -p "$dir/node"
  [ -f "$dir/node/package.json" ] || echo '{"private": true}' >"$dir/node/package.json"
  # Install scripts are not needed by any of them, so none are run.
  npm install --prefix "$dir/node" --no-audit --no-fund --ignore-scripts --save-exact \
    --loglevel=error "${node_sdks[@]}" >&2
  exports+=("TOWER_WEBHOOK_SDK_NODE=$dir/node")
else
  echo "no node or npm: the Node SDKs are left out" >&2
fi

for line in "${exports[@]}"; do
  echo "export $line"
  if [ -n "${GITHUB_ENV:-}" ]; then
    echo "$line" >>"$GITHUB_ENV"
  fi
done
