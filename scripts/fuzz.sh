#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan+UBSan, a build dir of their own)
# and runs each for SECONDS on a copy of its seed corpus, so runs never grow the tree. Fails
# (exit 1) naming the harness and the saved input on any crash, leak, UB or sanitizer report,
# hang or over-large allocation; a missing clang or libFuzzer runtime fails too.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]   fuzz each (default 20 s, every harness)
#   scripts/fuzz.sh --known                  replay tests/fuzz/known/: which known bugs still crash
#
# XBUILD_FUZZ_BUILD names the build dir (default build-fuzz). A crashing input is kept in
# BUILD/fuzz-artifacts/HARNESS/; reproduce it with BUILD/tests/fuzz/fuzz_HARNESS FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "fuzz.sh: error: $*" >&2; exit 1; }

mode=fuzz
if [ "${1:-}" = "--known" ]; then mode=known; shift; fi
seconds=20
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
[ "$seconds" -gt 0 ] || die "SECONDS must be a positive number"
build=${XBUILD_FUZZ_BUILD:-build-fuzz}

command -v clang >/dev/null && command -v clang++ >/dev/null ||
  die "clang is not installed; the harnesses need clang with libFuzzer: apt-get install clang lld libclang-rt-14-dev (scripts/setup.sh)"
runtime=$(clang++ -print-runtime-dir)/libclang_rt.fuzzer-x86_64.a
[ -f "$runtime" ] ||
  die "clang's libFuzzer runtime ($runtime) is missing: apt-get install libclang-rt-14-dev (scripts/setup.sh)"

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=true -Dtests=false --buildtype=debugoptimized -Doptimization=1 -Db_ndebug=false >/dev/null ||
    die "meson setup $build failed"
fi
ninja -C "$build" fuzzers >/dev/null || die "building the fuzz harnesses in $build failed (ninja -C $build fuzzers)"

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for d in tests/fuzz/corpus/*/; do harnesses+=("$(basename "$d")"); done
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/xbuild-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

if [ "$mode" = known ]; then
  # Each reproducer of a known, not yet fixed bug: "still crashes" is expected until its fix
  # is merged; "passes" means it can move into corpus/ (see tests/fuzz/known/README.md).
  shopt -s nullglob
  for f in tests/fuzz/known/*/*; do
    name=$(basename "$(dirname "$f")")
    if TMPDIR="$scratch" "$build/tests/fuzz/fuzz_$name" -rss_limit_mb=2048 -timeout=60 "$f" >"$scratch/log" 2>&1; then
      echo "fuzz.sh: $f: passes (move it into tests/fuzz/corpus/$name/)"
    else
      echo "fuzz.sh: $f: still crashes: $(grep -m1 -E 'property violated|ERROR: |SUMMARY' "$scratch/log" || tail -1 "$scratch/log")"
    fi
  done
  exit 0
fi

failed=()
for name in "${harnesses[@]}"; do
  bin="$build/tests/fuzz/fuzz_$name"
  [ -x "$bin" ] || die "no harness '$name' ($bin); harnesses: $(ls tests/fuzz/corpus | tr '\n' ' ')"
  [ -d "tests/fuzz/corpus/$name" ] || die "harness $name has no seed corpus tests/fuzz/corpus/$name/"
  work="$scratch/$name"
  mkdir -p "$work/tmp" "$work/artifacts"
  cp -r "tests/fuzz/corpus/$name" "$work/corpus"
  # A known bug the fuzzer finds within seconds even without its reproducer is kept out of
  # the run by a temporary setting in known/HARNESS.flags (first line: libFuzzer flags and
  # VAR=value environment settings; the rest: why).
  extra=() envs=()
  if [ -f "tests/fuzz/known/$name.flags" ]; then
    read -r -a words < "tests/fuzz/known/$name.flags"
    for w in "${words[@]}"; do
      if [[ "$w" == -* ]]; then extra+=("$w"); else envs+=("$w"); fi
    done
    echo "fuzz.sh: note: $name runs with ${words[*]} until the bug in tests/fuzz/known/$name.flags is fixed (then delete that file)"
  fi
  start=$SECONDS
  # -timeout: an input that runs for 25 s is a hang; -rss_limit_mb also caps one malloc.
  if env "${envs[@]}" TMPDIR="$work/tmp" "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 "${extra[@]}" \
       -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1; then
    runs=$(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$work/log" | grep -oE '[0-9]+$' || echo '?')
    echo "fuzz.sh: $name ok ($runs runs in $((SECONDS - start)) s, corpus $(ls "$work/corpus" | wc -l) inputs)"
  else
    keep="$build/fuzz-artifacts/$name"
    mkdir -p "$keep"
    saved=()
    for a in "$work/artifacts/"*; do
      [ -e "$a" ] || continue
      cp "$a" "$keep/" && saved+=("$keep/$(basename "$a")")
    done
    cp "$work/log" "$keep/log"
    echo "fuzz.sh: error: harness $name failed; the report:" >&2
    grep -E -A12 'property violated|ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error|uncaught exception|terminate called' \
      "$work/log" | head -40 >&2 || tail -30 "$work/log" >&2
    if [ ${#saved[@]} -gt 0 ]; then
      echo "fuzz.sh: error: harness $name crashed on ${saved[*]} (full log $keep/log); reproduce: $bin ${saved[0]}" >&2
    else
      echo "fuzz.sh: error: harness $name failed without a saved input (full log $keep/log)" >&2
    fi
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  die "${#failed[@]} harness(es) failed: ${failed[*]}"
fi
echo "fuzz.sh: all ${#harnesses[@]} harnesses ran ${seconds} s each without a crash"
