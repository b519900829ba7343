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

[ $# -eq 1 ] || die "usage: build.sh OUT_DIR"
out=$1
node_bin=${KNIT_AGENT_NODE:-/opt/node24/bin/node}
[ -x "$node_bin" ] || die "no node binary at $node_bin (set KNIT_AGENT_NODE)"
entry=$repo/dist/agent/main.js
[ -f "$entry" ] || die "$entry is missing: build first (npx tsc -p tsconfig.json)"

# Never wipe a folder this script did not make.
marker=.knit-agent-rootfs
if [ -e "$out" ]; then
  [ -d "$out" ] || die "OUT_DIR: $out is not a folder"
  if [ -n "$(ls -A "$out")" ] && [ ! -e "$out/$marker" ]; then die "OUT_DIR: $out is not empty and was not made by this script"; fi
  rm -rf "$out"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Made first, so a half-built folder can be built over.
touch "$out/$marker"

# node, stripped of its symbols (about a third of its size), and what the dynamic loader needs.
mkdir -p "$out/usr/local/bin"
cp -L "$node_bin" "$out/usr/local/bin/node"
if command -v strip >/dev/null; then strip --strip-all "$out/usr/local/bin/node"; fi
ldd "$node_bin" | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
done

mkdir -p "$out/etc" "$out/tmp"
chmod 1777 "$out/tmp"
printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$out/etc/group"

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
version=$("$node_bin" -p "require('$repo/package.json').version")
printf '{"name":"knit-agent","version":"%s","private":true,"type":"module"}\n' "$version" >"$out/knit/package.json"
echo "$out"
