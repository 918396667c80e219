# Sourced by scripts/test and .ci/run: puts uv on PATH, installing it from PyPI if missing.
# pip puts it in ~/.local/bin (--user) or beside the interpreter's scripts: both go on PATH.
_uv_paths() {
  export PATH="$HOME/.local/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
  hash -r
}
if ! command -v uv >/dev/null 2>&1; then
  _uv_paths
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "== installing uv from PyPI"
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
  _uv_paths
fi
command -v uv >/dev/null 2>&1 || { echo "uv is not on PATH after installing it" >&2; exit 1; }
