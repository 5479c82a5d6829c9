#!/bin/sh
# Lists the `use crate::X` edges between daemon/src top-level modules, one "from -> to" a
# line with a count, and the cycles among them (pairs that import each other).
# Usage: scripts/module-edges.sh [daemon/src]
src=${1:-daemon/src}
edges=$(for f in $(find "$src" -name '*.rs'); do
    rel=${f#"$src"/}
    from=${rel%%/*}
    from=${from%.rs}
    grep -o 'crate::[a-z_][a-z_0-9]*' "$f" | sed "s/crate::/$from -> /"
done | awk '$1 != $3' | sort | uniq -c)
echo "$edges"
echo "cycles:"
echo "$edges" | awk '{print $2, $4}' | while read -r a b; do
    if echo "$edges" | awk '{print $2, $4}' | grep -qx "$b $a" && [ "$a" \< "$b" ]; then
        echo "  $a <-> $b"
    fi
done
