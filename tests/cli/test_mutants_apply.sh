#!/usr/bin/env bash
# Every mutant in tests/mutants/*.txt applies as written (`MUTATE_CHECK=1 scripts/mutate.py`): its file
# exists and its find occurs exactly once. So a code change that strands a mutant fails `make test`, not
# the next hour-long `make mutate`. The check is then shown to fail on a stranded mutant (a find that no
# longer occurs) and on an ambiguous one (a find that occurs twice), in a copy of the tree.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
command -v python3 >/dev/null || skip_or_fail "python3 is missing"
src=${CCG_SOURCE_DIR:-$(dirname "$0")/../..}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }

out=$(MUTATE_CHECK=1 python3 "$src/scripts/mutate.py" 2>&1) && ok || bad "the tree's mutants do not all apply: $out"
echo "$out" | grep -q "mutants apply as written" && ok || bad "no summary line: $out"

# A copy of what the check reads: the script, one mutant file, and the source it names.
mkdir -p "$tmp/t/scripts" "$tmp/t/tests/mutants" "$tmp/t/src"
cp "$src/scripts/mutate.py" "$tmp/t/scripts/"
printf 'int f(int a)\n{\n    return a > 0;\n}\n' > "$tmp/t/src/f.c"
cat > "$tmp/t/tests/mutants/m.txt" <<'M'
mutant: t.flip
file: src/f.c
find:     return a > 0;
replace:     return a >= 0;
tests: test_nothing
M
out=$(MUTATE_CHECK=1 python3 "$tmp/t/scripts/mutate.py" 2>&1) && ok || bad "a valid mutant is refused: $out"

printf 'int f(int a)\n{\n    return a != 0;\n}\n' > "$tmp/t/src/f.c" # the code moved on
out=$(MUTATE_CHECK=1 python3 "$tmp/t/scripts/mutate.py" 2>&1) && bad "a stranded mutant passed" || ok
echo "$out" | grep -q "t.flip.*find-not-unique.*occurs 0 times" && ok || bad "the stranded mutant is not named: $out"

printf 'int f(int a)\n{\n    return a > 0;\n    return a > 0;\n}\n' > "$tmp/t/src/f.c"
out=$(MUTATE_CHECK=1 python3 "$tmp/t/scripts/mutate.py" 2>&1) && bad "an ambiguous mutant passed" || ok
echo "$out" | grep -q "occurs 2 times" && ok || bad "the ambiguous mutant is not named: $out"

rm "$tmp/t/src/f.c"
out=$(MUTATE_CHECK=1 python3 "$tmp/t/scripts/mutate.py" 2>&1) && bad "a mutant of a missing file passed" || ok
echo "$out" | grep -q "invalid: no file src/f.c" && ok || bad "the missing file is not named: $out"

echo "test_mutants_apply: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
