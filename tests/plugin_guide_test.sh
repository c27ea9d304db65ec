#!/usr/bin/env bash
# Follows docs/plugin-guide.md literally: writes every file the guide shows
# (a code block after "<!-- file: NAME -->"), runs every command block (after
# "<!-- command -->") in order, and checks what the guide says happens.
set -euo pipefail
source_dir=${1:?usage: plugin_guide_test.sh SOURCE_DIR BUILD_DIR}
build_dir=${2:?}
work=$(mktemp -d)
trap 'kill %1 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
export HUTONG_SOURCE=$source_dir HUTONG_BUILD=$build_dir

# Split the guide into files and a script of its commands.
awk -v dir="$work" '
  /^<!-- file: .* -->$/ { name = $3; want = "file"; next }
  /^<!-- command -->$/ { want = "command"; next }
  /^```/ {
    if (inside) { inside = 0; want = ""; next }
    if (want != "") { inside = 1; target = (want == "file") ? dir "/" name : dir "/guide-commands.sh"; next }
  }
  inside { print > target }
' "$source_dir/docs/plugin-guide.md"

for f in roster_lines.cc CMakeLists.txt hutong.yaml roster.txt guide-commands.sh; do
  [[ -s $f ]] || { echo "the guide did not yield $f" >&2; exit 1; }
done

bash -e guide-commands.sh > guide-output.txt 2>&1 || { cat guide-output.txt; exit 1; }
cat guide-output.txt

grep -q "ok: hutong.yaml: 1 connector(s)" guide-output.txt
grep -Eq "^roster +running +3 +2 +1 " guide-output.txt
grep -q "row.cell_count" guide-output.txt
grep -q '"key":"11010519491231002X"' guide-output.txt
grep -q '"key":"440524188001010014"' guide-output.txt
echo "ok: the plugin guide, followed literally, builds, checks, loads and runs a plugin"
