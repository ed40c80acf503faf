#!/usr/bin/env bash
# deps.sh — the include graph between src/ folders, and a check that every
# edge points down the module stack.
#
#   scripts/deps.sh            print "from -> to (n includes)" per folder pair
#   scripts/deps.sh --check    also exit 1 if an edge points up or sideways
#
# The stack, bottom first, is CMakeLists.txt's WF_MODULES; a module may
# include the headers of the modules listed in its WF_DEPS_<module>. Includes
# are written "folder/file.h" (the build adds -I src), which is what this
# script reads. cli/ sits on top of every module and is shown too.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1

declare -A allowed
modules=$(sed -n 's/^set(WF_MODULES \(.*\))$/\1/p' CMakeLists.txt)
for m in $modules; do
    allowed[$m]=$(sed -n "s/^set(WF_DEPS_$m *\(.*\))\$/\1/p" CMakeLists.txt)
done

bad=0
edges=$(for dir in src/* cli; do
    [ -d "$dir" ] || continue
    from=${dir#src/}
    grep -ho '^#include "[a-z_]*/[^"]*"' "$dir"/*.[ch] 2>/dev/null |
        sed 's/^#include "\([a-z_]*\)\/.*/\1/' | grep -vx "$from" |
        sed "s/^/$from /" || true
done | sort | uniq -c | awk '{print $2, $3, $1}')

echo "folder include graph (from -> to: includes); stack bottom-up: $modules"
while read -r from to n; do
    [ -n "$from" ] || continue
    mark=""
    if [ "$from" != cli ] && [ -n "${allowed[$from]+x}" ]; then
        case " ${allowed[$from]} " in
            *" $to "*) ;;
            *) mark="   <-- not below $from"; bad=1 ;;
        esac
    fi
    printf '  %-8s -> %-8s %3d%s\n' "$from" "$to" "$n" "$mark"
done <<< "$edges"

if [ $check = 1 ] && [ $bad = 1 ]; then
    echo "deps.sh: an include points up or sideways (see the marked lines)" >&2
    exit 1
fi
exit 0
