#!/usr/bin/env bash
# Real-browser test: a headless Chromium clicks through purchases on the storefront, through
# the bundled Remise sandbox (see purchase.mjs for the scenarios), then through the operator console
# (admin.mjs: settings, 支払方法, 商品; operations.mjs: 受注データ登録, 決済エラーログ, PayQuick 解除, the
# CSV, 送信メール (the demo's captured mail, the registered order's button, 送信テスト); signed in as an operator made with `shophost admin create-user`), and checks their outcomes: the card
# order's status against the config's card_jb, the multi-payment order turning 入金済み after the
# sandbox backyard's 入金通知, a declined card making no order, and the member's orders and card.
#
# It installs what it needs when missing (Debian's chromium and a Japanese font, and playwright-core from package-lock.json:
# never `npx playwright install`, which downloads its own browser), builds target/debug/shophost, runs
# it with a demo config on ports 18080/18081 (SHOP_PORT / SANDBOX_PORT to change) in a fresh temporary
# directory, so its SQLite database starts empty, and stops it at the end.
#
# Usage: bash tests/browser/run.sh   (screenshots land in tests/browser/screenshots/)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shop_port="${SHOP_PORT:-18080}"
sandbox_port="${SANDBOX_PORT:-18081}"
# The demo config run from a file is not the built-in demo: its published admin token is refused there.
admin_token="browser-test-token-$RANDOM$RANDOM"

# 1. The browser: Debian's own build, so nothing is downloaded outside the package manager; and a
# Japanese font, without which every screenshot shows empty boxes instead of the text.
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium chromium-driver)
command -v fc-list >/dev/null && [ -n "$(fc-list :lang=ja)" ] || packages+=(fonts-ipafont-gothic)
if [ "${#packages[@]}" -gt 0 ]; then
    echo "run.sh: installing ${packages[*]}" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
fi

# 2. The driver library, pinned by package-lock.json.
if [ ! -d "$here/node_modules/playwright-core" ]; then
    echo "run.sh: installing playwright-core" >&2
    (cd "$here" && npm ci --no-audit --no-fund)
fi

# 3. The shop.
for port in "$shop_port" "$sandbox_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "run.sh: port $port is in use; set SHOP_PORT / SANDBOX_PORT to free ports" >&2
        exit 1
    fi
done
(cd "$root" && cargo build -p shophost --bin shophost)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
binary="$target_dir/debug/shophost"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The built-in demo config (`shophost config demo`) with other ports.
"$binary" config demo |
    sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$shop_port/g" -e "s/127\.0\.0\.1:8081/127.0.0.1:$sandbox_port/g" \
        -e "s/demo-admin-token-change-me/$admin_token/" \
    >"$work/shophost.toml"

# The console's operator, made as a new shop's first operator is (the password on standard input).
operator_password="browser-operator-$RANDOM$RANDOM"
(cd "$work" && printf '%s\n' "$operator_password" |
    env -u SHOPHOST_CONFIG -u SHOPHOST_DATABASE_URL "$binary" admin create-user browser --config shophost.toml)

(
    cd "$work"
    exec env -u SHOPHOST_CONFIG -u SHOPHOST_DATABASE_URL -u SHOPHOST_ADMIN_TOKEN \
        -u SHOPHOST_LISTEN -u SHOPHOST_PUBLIC_URL \
        "$binary" serve --config shophost.toml
) >"$work/shophost.log" 2>&1 &
server_pid=$!

export SHOP_URL="http://127.0.0.1:$shop_port"
export SANDBOX_URL="http://127.0.0.1:$sandbox_port"
export ADMIN_TOKEN="$admin_token"
# The scenarios read the card job (card_jb) from the config the shop runs with.
export SHOP_CONFIG="$work/shophost.toml"
export OPERATOR_LOGIN="browser"
export OPERATOR_PASSWORD="$operator_password"

if ! node -e '
const url = process.env.SHOP_URL + "/healthz";
const deadline = Date.now() + 60000;
(async () => {
  while (Date.now() < deadline) {
    try { if ((await fetch(url)).ok) process.exit(0); } catch {}
    await new Promise(r => setTimeout(r, 250));
  }
  process.exit(1);
})();'; then
    echo "run.sh: the shop did not become healthy; its log:" >&2
    cat "$work/shophost.log" >&2
    exit 1
fi

# 4. The purchases, then the operator's console (after them: it changes settings and methods).
status=0
node "$here/purchase.mjs" || status=$?
if [ "$status" -eq 0 ]; then
    node "$here/admin.mjs" || status=$?
fi
if [ "$status" -eq 0 ]; then
    node "$here/operations.mjs" || status=$?
fi
if [ "$status" -ne 0 ]; then
    echo "run.sh: the browser test failed; the shop's log:" >&2
    tail -n 60 "$work/shophost.log" >&2
fi
exit "$status"
