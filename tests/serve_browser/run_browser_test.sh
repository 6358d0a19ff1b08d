#!/bin/sh
# End-to-end check of unet_serve's page in headless Chromium (driven by tests/unet_serve_test.cpp,
# BrowserShowsOverlayEndToEnd; also usable by hand against a running server):
#   sh tests/serve_browser/run_browser_test.sh http://127.0.0.1:8080 OUT_DIR
# Opens BASE_URL/?demo=1 twice: the page fetches the server's synthetic phantom, uploads it through
# its own upload code, waits for the result and sets document.title to "done: <mL> mL".
#   OUT_DIR/serve_dom.html  the DOM after the run (--dump-dom)
#   OUT_DIR/serve.png       a 1280x900 screenshot (--screenshot), the test artefact
# Exit 77 when no Chromium is installed (Debian: apt-get install -y chromium); 1 on failure.
# --virtual-time-budget lets the page run until it is idle: virtual time stands still while a
# request is in flight, and the page long-polls the job, so the budget is not spent waiting.
set -u
url=${1:?usage: run_browser_test.sh BASE_URL OUT_DIR}
out=${2:?usage: run_browser_test.sh BASE_URL OUT_DIR}

chrome=""
for c in ${CHROMIUM:-} chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then
    chrome=$(command -v "$c")
    break
  fi
done
if [ -z "$chrome" ]; then
  echo "SKIP: no chromium on PATH; install Debian's chromium package (apt-get install -y chromium)"
  exit 77
fi
mkdir -p "$out"

# Flags: root needs --no-sandbox; the network is closed, so every background connection
# (component updates, sync, field trials) is switched off or Chromium's own requests are refused.
run_chrome() {
  profile=$(mktemp -d)
  timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --no-default-browser-check \
    --user-data-dir="$profile" --window-size=1280,900 --force-device-scale-factor=1 \
    --force-color-profile=srgb --hide-scrollbars --virtual-time-budget=30000 "$@"
  rc=$?
  rm -rf "$profile"
  return $rc
}

rm -f "$out/serve_dom.html" "$out/serve.png"
echo "chromium: $("$chrome" --version 2>/dev/null)"
if ! run_chrome --dump-dom "$url/?demo=1" >"$out/serve_dom.html" 2>"$out/chromium_dom.log"; then
  echo "FAIL: chromium --dump-dom failed:"
  grep -v dbus "$out/chromium_dom.log" | tail -20
  exit 1
fi
title=$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' "$out/serve_dom.html")
echo "page title: $title"
case "$title" in
  done:*) ;;
  *)
    echo "FAIL: the page did not finish (title '$title'); chromium said:"
    grep -v dbus "$out/chromium_dom.log" | tail -20
    exit 1
    ;;
esac
if ! run_chrome --screenshot="$out/serve.png" "$url/?demo=1" >"$out/chromium_shot.log" 2>&1 ||
  [ ! -s "$out/serve.png" ]; then
  echo "FAIL: chromium --screenshot wrote nothing:"
  grep -v dbus "$out/chromium_shot.log" | tail -20
  exit 1
fi
echo "screenshot: $out/serve.png"
