#!/bin/sh
# agentd installer: what the one-liner from the platform UI runs.
#
#   curl -fsSL https://PLATFORM/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh
#   curl -fsSL https://PLATFORM/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh -s -- --mode user --name build-01
#
# It downloads the agentd build this platform serves (/download/manifest.json, then the
# tarball for this OS and CPU), checks its SHA-256, installs it (system: /usr/local/lib/
# agentd + /usr/local/bin/agentd; --mode user: ~/.local/lib/agentd + ~/.local/bin/agentd),
# then runs `agentd install`, which enrols the machine and starts the service. Arguments
# after `sh -s --` go to `agentd install`. The token travels in the environment only,
# never on a command line (every user can read command lines with `ps`).
#
# Running it again upgrades in place: each build goes into its own directory and the
# `current` link is switched in one rename, so a running agentd never sees a half copy;
# then `agentd install` sees the machine is enrolled, keeps the enrolment (no token is
# needed or spent, the daemon id stays) and restarts the service on the new build.
# `-s -- --force` with a new token enrols again instead.
#
# Environment: AGENTD_INSTALL_TOKEN (required unless --no-service/--token-file is used by
# agentd itself), AGENTD_PLATFORM_URL (default: the platform that served this script),
# AGENTD_INSTALL_DIR / AGENTD_BIN_DIR (override where the build and the command go),
# AGENTD_SKIP_ENROL=1 (install or upgrade the files only).
#
# POSIX sh: runs under dash and bash; checked with shellcheck.
# Everything is defined in main() and called on the last line, inside braces: a
# download cut short (curl | sh runs the script as it arrives) ends in an unfinished
# function or brace group, a syntax error, so nothing runs at all, instead of the first
# half (files without enrolment) or `main` without the arguments the person gave.
set -eu

main() {

  AGENTD_PLATFORM_URL="${AGENTD_PLATFORM_URL:-__AGENTD_PLATFORM_URL__}"
  BUILD_MARKER=.agentd-build

  say() { printf 'agentd-install: %s\n' "$*" >&2; }
  die() {
    printf 'agentd-install: error: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
  }

  # ---------------------------------------------------------------- arguments
  # Only --mode matters here (where to put the files); everything goes to `agentd install`.
  MODE=
  TOKEN_ARG=
  prev=
  for arg in "$@"; do
    case $prev in --mode) MODE=$arg ;; esac
    case $arg in --mode=*) MODE=${arg#--mode=} ;; --token | --token=* | --token-file | --token-file=*) TOKEN_ARG=1 ;; esac
    prev=$arg
  done
  case $MODE in
    '' | system | user) ;;
    *) die "--mode must be system or user (got \"$MODE\")" ;;
  esac

  case $AGENTD_PLATFORM_URL in
    __AGENTD_PLATFORM_*) die "no platform URL: this copy of install.sh was not downloaded from a platform" \
      "Set it: AGENTD_PLATFORM_URL=https://your-platform sh install.sh" ;;
    http://* | https://*) ;;
    *) die "AGENTD_PLATFORM_URL must start with http:// or https:// (got \"$AGENTD_PLATFORM_URL\")" ;;
  esac
  AGENTD_PLATFORM_URL=${AGENTD_PLATFORM_URL%/}

  # ---------------------------------------------------------------- this machine
  uname_s=$(uname -s)
  uname_m=$(uname -m)
  case $uname_s in
    Linux) OS=linux ;;
    Darwin) OS=darwin ;;
    *) die "unsupported operating system: $uname_s" "agentd runs on Linux and macOS." ;;
  esac
  case $uname_m in
    x86_64 | amd64) ARCH=x64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) die "unsupported CPU architecture: $uname_m" "agentd builds exist for x86_64 (x64) and aarch64 (arm64)." ;;
  esac

  UID_NOW=$(id -u)
  if [ -z "$MODE" ]; then
    # The same default as `agentd install`: the system service as root on Linux.
    if [ "$UID_NOW" = 0 ] && [ "$OS" = linux ]; then MODE=system; else MODE=user; fi
    set -- --mode "$MODE" "$@"
  fi

  if [ "$MODE" = system ]; then
    LIB_DIR=${AGENTD_INSTALL_DIR:-/usr/local/lib/agentd}
    BIN_DIR=${AGENTD_BIN_DIR:-/usr/local/bin}
  else
    [ -n "${HOME:-}" ] || die "HOME is not set; a per-user install needs it"
    LIB_DIR=${AGENTD_INSTALL_DIR:-$HOME/.local/lib/agentd}
    BIN_DIR=${AGENTD_BIN_DIR:-$HOME/.local/bin}
  fi

  # Say it before downloading anything: without a token only an upgrade of an installed
  # agentd can happen (`agentd install` then keeps its enrolment, or says it has none).
  if [ -z "${AGENTD_INSTALL_TOKEN:-}" ] && [ -z "$TOKEN_ARG" ] && [ "${AGENTD_SKIP_ENROL:-}" != 1 ]; then
    if [ -x "$BIN_DIR/agentd" ]; then
      say "no install token: upgrading the agentd in $BIN_DIR in place (its enrolment is kept)"
    else
      die "AGENTD_INSTALL_TOKEN is not set" \
        "Copy the install command from the platform UI (\"Add machine\"); it looks like:" \
        "  curl -fsSL <platform>/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh"
    fi
  fi

  no_permission() {
    die "no permission to write $1" \
      "Install the system service as root (the token stays out of sudo's command line):" \
      "  export AGENTD_INSTALL_TOKEN=…" \
      "  curl -fsSL $AGENTD_PLATFORM_URL/install.sh | sudo --preserve-env=AGENTD_INSTALL_TOKEN sh" \
      "or install for your user only:" \
      "  curl -fsSL $AGENTD_PLATFORM_URL/install.sh | AGENTD_INSTALL_TOKEN=… sh -s -- --mode user"
  }
  if [ "$MODE" = system ] && [ "$UID_NOW" != 0 ] && [ -z "${AGENTD_INSTALL_DIR:-}" ]; then
    no_permission "$LIB_DIR"
  fi

  # ---------------------------------------------------------------- tools
  if command -v curl >/dev/null 2>&1; then
    fetch() { curl -fsSL --proto '=https,http' --retry 3 -o "$2" "$1"; }
  elif command -v wget >/dev/null 2>&1; then
    fetch() { wget -q -O "$2" "$1"; }
  else
    die "neither curl nor wget is installed; one is needed to download agentd" \
      "Debian/Ubuntu: apt-get install -y curl   ·   Fedora/RHEL: dnf install -y curl"
  fi
  if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$1" | cut -d' ' -f1; }
  elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
  else
    die "neither sha256sum nor shasum is installed; agentd will not install a download it cannot verify" \
      "Debian/Ubuntu: apt-get install -y coreutils"
  fi
  command -v tar >/dev/null 2>&1 || die "tar is not installed; it is needed to unpack agentd"

  TMP=$(mktemp -d "${TMPDIR:-/tmp}/agentd-install.XXXXXX") || die "cannot create a temporary directory"
  PARTIAL=
  trap 'rm -rf "$TMP" ${PARTIAL:+"$PARTIAL"}' EXIT
  trap 'exit 130' INT TERM

  # ---------------------------------------------------------------- download + verify
  say "downloading from $AGENTD_PLATFORM_URL"
  fetch "$AGENTD_PLATFORM_URL/download/manifest.json" "$TMP/manifest.json" ||
    die "could not download $AGENTD_PLATFORM_URL/download/manifest.json" \
      "Check that the platform is reachable from this machine (proxy: set HTTPS_PROXY)."

  # manifest.json puts each artifact on one line: {"os":…,"arch":…,"file":…,"sha256":…,"size":…}
  field() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
  entry=$(grep "\"os\": *\"$OS\"" "$TMP/manifest.json" | grep "\"arch\": *\"$ARCH\"" | head -n 1 || true)
  if [ -z "$entry" ]; then
    available=$(sed -n 's/.*"os": *"\([^"]*\)".*"arch": *"\([^"]*\)".*/\1-\2/p' "$TMP/manifest.json" | tr '\n' ' ')
    die "this platform has no agentd build for $OS-$ARCH (it has: ${available:-none})"
  fi
  VERSION=$(field version <"$TMP/manifest.json" | head -n 1)
  FILE=$(printf '%s\n' "$entry" | field file)
  WANT=$(printf '%s\n' "$entry" | field sha256)
  case $FILE in
    '' | */* | .*) die "the manifest names an invalid file: \"$FILE\"" ;;
  esac
  [ -n "$WANT" ] || die "the manifest has no sha256 for $FILE"

  fetch "$AGENTD_PLATFORM_URL/download/$FILE" "$TMP/$FILE" || die "could not download $AGENTD_PLATFORM_URL/download/$FILE"
  GOT=$(sha256 "$TMP/$FILE")
  if [ "$GOT" != "$WANT" ]; then
    die "checksum mismatch for $FILE: the download is corrupt or was tampered with; nothing was installed" \
      "expected sha256 $WANT" "got      sha256 $GOT" "Try again; if it persists, tell the platform's operator."
  fi
  say "verified $FILE (sha256 $GOT)"

  # ---------------------------------------------------------------- install (atomic swap)
  mkdir -p "$LIB_DIR" 2>/dev/null || no_permission "$LIB_DIR"
  [ -w "$LIB_DIR" ] || no_permission "$LIB_DIR"
  mkdir -p "$BIN_DIR" 2>/dev/null || no_permission "$BIN_DIR"
  [ -w "$BIN_DIR" ] || no_permission "$BIN_DIR"

  # A fresh directory per install (same version twice included), switched in by renaming
  # a new `current` link over the old one.
  NEW="$VERSION.$(date +%Y%m%d%H%M%S).$$"
  PARTIAL="$LIB_DIR/.$NEW.partial"
  mkdir "$PARTIAL"
  tar -xzf "$TMP/$FILE" -C "$LIB_DIR/.$NEW.partial" || die "could not unpack $FILE"
  [ -x "$LIB_DIR/.$NEW.partial/bin/agentd" ] || die "$FILE does not contain bin/agentd"
  # The marker says "install.sh put this build here": the clean-up below removes only
  # directories that carry one naming themselves, never anything else in LIB_DIR (with
  # AGENTD_INSTALL_DIR=$HOME/.local that is share/, lib/, state/ of other programs).
  printf '%s\n' "$NEW" >"$LIB_DIR/.$NEW.partial/$BUILD_MARKER"
  chmod -R go-w "$LIB_DIR/.$NEW.partial"
  chmod 755 "$LIB_DIR/.$NEW.partial"
  mv "$LIB_DIR/.$NEW.partial" "$LIB_DIR/$NEW"
  PARTIAL=

  OLD=
  [ -L "$LIB_DIR/current" ] && OLD=$(readlink "$LIB_DIR/current")
  ln -s "$NEW" "$LIB_DIR/.current.$$"
  # rename(2) over the old link: -T (GNU) / -h (BSD) stop mv from moving INTO the directory it points at.
  if [ "$OS" = linux ]; then mv -T "$LIB_DIR/.current.$$" "$LIB_DIR/current"; else mv -h -f "$LIB_DIR/.current.$$" "$LIB_DIR/current"; fi
  ln -s "$LIB_DIR/current/bin/agentd" "$BIN_DIR/.agentd.$$"
  mv -f "$BIN_DIR/.agentd.$$" "$BIN_DIR/agentd"

  # Keep the build just replaced (a running daemon still uses it until its restart);
  # remove older builds this script installed (marker naming the directory), nothing else.
  for d in "$LIB_DIR"/*; do
    name=${d##*/}
    case $name in current | "$NEW" | "$OLD" | '*') continue ;; esac
    if [ -d "$d" ] && [ ! -L "$d" ] && [ -f "$d/$BUILD_MARKER" ] && [ ! -L "$d/$BUILD_MARKER" ] &&
      [ "$(cat "$d/$BUILD_MARKER")" = "$name" ]; then
      rm -rf "$d"
    fi
  done
  say "installed agentd $VERSION in $LIB_DIR/$NEW ($BIN_DIR/agentd)"
  case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) say "note: $BIN_DIR is not on your PATH; add it, e.g. export PATH=\"$BIN_DIR:\$PATH\"" ;;
  esac

  # ---------------------------------------------------------------- enrol + start
  if [ "${AGENTD_SKIP_ENROL:-}" = 1 ]; then
    say "AGENTD_SKIP_ENROL=1: files installed, not enrolling"
    exit 0
  fi
  rm -rf "$TMP"   # exec skips the EXIT trap
  trap - EXIT
  # The token stays in the environment (exported by the caller: `AGENTD_INSTALL_TOKEN=… sh`);
  # `agentd install` reads it from there and removes it from its own environment.
  exec "$BIN_DIR/agentd" install --platform "$AGENTD_PLATFORM_URL" "$@"
}

{ main "$@"; }
