#!/usr/bin/env bash
# Fails (naming the files) when a C++ file of the repository is not formatted with .clang-format.
# Fix with: git ls-files '*.cpp' '*.hpp' '*.h' | xargs clang-format -i
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v clang-format >/dev/null; then
  echo "clang-format is missing: scripts/setup.sh installs it" >&2
  exit 1
fi
unformatted=()
while IFS= read -r -d '' file; do
  clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(git ls-files -z '*.cpp' '*.hpp' '*.h')
if [ ${#unformatted[@]} -ne 0 ]; then
  printf 'not formatted with .clang-format: %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "format ok: every C++ file follows .clang-format ($(clang-format --version | head -1))"
