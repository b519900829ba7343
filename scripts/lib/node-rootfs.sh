# The base both of knit's images share, made without a base image (none can be pulled here).
# Sourced, not run.
#
# make_node_rootfs OUT NODE_BIN: node, stripped of its symbols (about a third of its size), at
# /usr/local/bin/node with the shared libraries the dynamic loader needs for it; /etc/passwd and
# /etc/group with root, nobody and knit (65532, the images' unprivileged user); a world-writable /tmp.
make_node_rootfs() {
  local out=$1 node_bin=$2 lib
  mkdir -p "$out/usr/local/bin" "$out/etc" "$out/tmp"
  cp -L "$node_bin" "$out/usr/local/bin/node"
  if command -v strip >/dev/null; then strip --strip-all "$out/usr/local/bin/node"; fi
  copy_linked_libraries "$out" "$node_bin"
  chmod 1777 "$out/tmp"
  printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\nknit:x:65532:65532:knit:/tmp:/sbin/nologin\n' >"$out/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nknit:x:65532:\n' >"$out/etc/group"
}

# copy_linked_libraries OUT ELF...: the shared libraries each ELF file (a binary, a native addon)
# links, at the same paths under OUT.
copy_linked_libraries() {
  local out=$1 lib elf; shift
  for elf in "$@"; do ldd "$elf"; done | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | sort -u | while read -r lib; do
    [ -e "$out$lib" ] && continue
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
  done
}

# reset_output_dir OUT STAMP_FILE STAMP_TEXT: empties OUT for a fresh build, but never wipes a
# folder the build did not make: a non-empty OUT must hold STAMP_FILE containing STAMP_TEXT (which
# the build writes first). Fails, naming OUT_DIR, otherwise.
reset_output_dir() {
  local out=$1 stamp_file=$2 stamp_text=$3
  if [ -e "$out" ]; then
    [ -d "$out" ] || die "OUT_DIR: $out is not a folder"
    if [ -n "$(ls -A "$out")" ] && ! grep -qsF -- "$stamp_text" "$out/$stamp_file"; then die "OUT_DIR: $out is not empty and was not made by this script"; fi
    rm -rf "$out"
  fi
  mkdir -p "$out"
}
