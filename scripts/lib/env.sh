# Shared by the scripts: Node 24 first on PATH when it was installed the documented way,
# and dependencies installed exactly as locked.
if [ -x /opt/node24/bin/node ]; then
  export PATH="/opt/node24/bin:$PATH"
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  echo "knit needs Node.js 22 or newer (found $(node -v 2>/dev/null || echo none))." >&2
  echo "Install Node 24 LTS, e.g.: npm install -g --prefix /opt/node24 node@24" >&2
  exit 1
fi

ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing dependencies (npm ci)…" >&2
    npm ci --no-audit --no-fund >&2
  fi
}
