#!/usr/bin/env bash
# Makes the agent image's root filesystem in OUT_DIR: node and the shared libraries it links,
# a minimal /etc/passwd and /etc/group, /tmp, and the compiled agent with exactly the files it
# imports (traced by loading it, see trace.mjs). Needs a build first (npx tsc -p tsconfig.json).
#
#   build.sh OUT_DIR        OUT_DIR must be absent, empty, or an earlier output of this script
#
# The entry point is ["/usr/local/bin/node","/knit/agent/main.js"]; see image.ts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
die() { echo "agent-image/build.sh: $*" >&2; exit 1; }
. "$repo/scripts/lib/node-rootfs.sh"

[ $# -eq 1 ] || die "usage: build.sh OUT_DIR"
out=$1
node_bin=${KNIT_AGENT_NODE:-/opt/node24/bin/node}
[ -x "$node_bin" ] || die "no node binary at $node_bin (set KNIT_AGENT_NODE)"
entry=$repo/dist/agent/main.js
[ -f "$entry" ] || die "$entry is missing: build first (npx tsc -p tsconfig.json)"

# /knit/package.json, written first, says a folder is this script's to wipe.
stamp='"name":"knit-agent"'
reset_output_dir "$out" knit/package.json "$stamp"
mkdir -p "$out/knit"
out=$(cd "$out" && pwd)
version=$("$node_bin" -p "require('$repo/package.json').version")
printf '{%s,"version":"%s","private":true,"type":"module"}\n' "$stamp" "$version" >"$out/knit/package.json"

make_node_rootfs "$out" "$node_bin"

# The agent: dist/<x> becomes /knit/<x>, node_modules/<x> becomes /knit/node_modules/<x>, so the
# relative imports between agent/ and core/ and the package lookups resolve as they do in the repo.
files=$("$node_bin" "$here/trace.mjs" "$entry")
[ -n "$files" ] || die "tracing $entry found no files"
while read -r f; do
  case $f in
    "$repo/dist/"*) rel=${f#"$repo/dist/"} ;;
    "$repo/node_modules/"*) rel=node_modules/${f#"$repo/node_modules/"} ;;
    *) die "the agent loads $f, which is neither in dist/ nor in node_modules/" ;;
  esac
  mkdir -p "$out/knit/$(dirname "$rel")"
  cp "$f" "$out/knit/$rel"
done <<<"$files"
echo "$out"
