#!/usr/bin/env bash
# Rewrites the FILES table of master/src/service/console.rs (between "// BEGIN FILES" and
# "// END FILES") from the files under assets/console, so every console file is
# embedded. The unit test `every_file_under_assets_console_is_embedded` fails when the
# table is out of date.
set -euo pipefail
cd "$(dirname "$0")/../.."
rs=master/src/service/console.rs
table="$(cd assets/console && find . -type f ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort |
  while read -r f; do printf '    file!("%s"),\n' "$f"; done)"
awk -v table="$table" '
  /\/\/ BEGIN FILES/ { print; print table; skip = 1; next }
  /\/\/ END FILES/ { skip = 0 }
  !skip { print }
' "$rs" > "$rs.tmp"
mv "$rs.tmp" "$rs"
