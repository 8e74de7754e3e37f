# Sourced by the scripts that drive the real app under Xvfb (scripts/real_window.sh,
# packaging/linux-smoke.sh): a private home (fresh settings, history and model folders) and a
# virtual screen. `private_session WIDTHxHEIGHT LOG` exports HOME, XDG_RUNTIME_DIR and
# DISPLAY and sets XVFB to the server's pid.
private_session() {
  HOME=$(mktemp -d); export HOME
  unset XDG_DATA_HOME XDG_CONFIG_HOME
  export XDG_RUNTIME_DIR="$HOME/run"; mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
  DISPLAY=":$((80 + RANDOM % 19))"; export DISPLAY
  Xvfb "$DISPLAY" -screen 0 "$1x24" >"$2" 2>&1 &
  XVFB=$!
}
