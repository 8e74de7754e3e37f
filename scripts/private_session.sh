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

# `app_session WIDTHxHEIGHT LOG`: private_session, plus HIST (the app's history folder in that
# home) and a trap that stops the app (`$APP`, set it once started) and the screen on exit.
app_session() {
  private_session "$1" "$2"
  HIST="$HOME/.local/share/dynamicrafter-studio/history"
  APP=""
  trap 'kill $APP $XVFB 2>/dev/null || true' EXIT
  sleep 1
}
