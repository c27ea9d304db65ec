#!/usr/bin/env bash
# Checks that .ci/run runs exactly the test command the README gives users.
set -euo pipefail
root=${1:?usage: ci_matches_readme.sh PROJECT_ROOT}
readme_cmd=$(sed -n '/<!-- test-command -->/,/<!-- \/test-command -->/p' "$root/README.md" |
             grep -v '^<!--' | grep -v '^```' | sed '/^$/d')
ci_cmd=$(grep -v '^#' "$root/.ci/run" | grep -v '^set ' | grep -v '^cd ' | sed '/^$/d')
if [[ -z "$readme_cmd" ]]; then
  echo "README.md has no test command between <!-- test-command --> markers" >&2
  exit 1
fi
if [[ "$readme_cmd" != "$ci_cmd" ]]; then
  echo "README test command:  $readme_cmd" >&2
  echo ".ci/run runs:         $ci_cmd" >&2
  exit 1
fi
echo "ok: .ci/run runs the README's test command: $readme_cmd"
