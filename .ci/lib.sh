# Shell functions shared by tests/run.sh, tests/cargo_lambda_smoke.sh and
# .ci/deploy-checks. Source it from the repository root; set $python first
# (default python3).

python=${python:-${PYTHON:-python3}}

# Creates .venv/<name> from a pinned requirement list, again only when the list changed.
install_venv() {
  local name=$1 requirements=$2 dir=.venv/$1
  if [ -f "$dir/.requirements" ] && cmp -s "$requirements" "$dir/.requirements"; then
    return
  fi
  echo "installing $name into $dir (pinned in $requirements)" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$dir/.requirements"
}

# A TCP port free on loopback now.
free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Installs a Debian package's program when it is missing (as root, with apt),
# or fails naming the package.
install_debian_program() {
  local program=$1 package=$2
  command -v "$program" >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $package (Debian package) for $program" >&2
    apt-get install -y -qq "$package" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq "$package" >/dev/null; }
  fi
  command -v "$program" >/dev/null || {
    echo "$program is needed: install the Debian package $package (apt-get install $package)" >&2
    exit 1
  }
}
