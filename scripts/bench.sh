#!/usr/bin/env bash
# Runs the whole rvs benchmark suite and writes BENCHMARKS.md (repo root) with
# its plots in benchmarks/ (issue 8).
#
#   sudo bash scripts/bench.sh [--quick] [--out DIR] [--skip LIST]
#
#   --quick     short runs (criterion quick mode, 2 s rate runs, 5 s wrk runs):
#               about 10 minutes instead of about 40 on a 2-core machine
#   --out DIR   where raw results and logs go (default target/bench-results)
#   --skip LIST comma-separated steps not to run: criterion (all four suites)
#               or one of pipeline, conn, sched, control; worker_rate,
#               linerate, sidebyside
#
# Steps: deps (scripts/deps.sh and python3-matplotlib), release build,
# machine description, criterion suites (pipeline, conn, sched, control),
# worker_rate, linerate, side by side, report. A step that fails is reported
# (its log is in DIR/logs/) and the rest still run; the report says "not run"
# for what is missing, and this script exits non-zero at the end when any step
# failed. Every step runs under a time limit. Ctrl-C stops the running step
# (and its children) and then the script.
#
# Raw results: DIR/machine.json, DIR/criterion/ (criterion's estimates),
# DIR/worker_rate.json, DIR/linerate.json, DIR/sidebyside.json, DIR/steps.tsv
# (what ran and how it ended); DIR/scaling.json is read when present (it is
# written on a 16-core machine, not by this script). Rerun only the report
# with: /usr/bin/python3 scripts/bench/report.py DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

QUICK=0
OUT="$ROOT/target/bench-results"
SKIP=""
STEP_FN=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --out)
            [ $# -ge 2 ] || { echo "bench.sh: --out needs a directory" >&2; exit 2; }
            OUT="$2"
            shift
            ;;
        --skip)
            [ $# -ge 2 ] || { echo "bench.sh: --skip needs a list" >&2; exit 2; }
            SKIP="$2"
            shift
            ;;
        --step)
            # Internal: run one step function in a process of its own, so
            # that timeout(1) can bound it (see step below).
            [ $# -ge 2 ] || { echo "bench.sh: --step needs a function" >&2; exit 2; }
            STEP_FN="$2"
            shift
            ;;
        -h | --help) usage 0 ;;
        *)
            echo "bench.sh: unknown argument: $1" >&2
            usage 2 >&2
            ;;
    esac
    shift
done

KNOWN_SKIPS="criterion pipeline conn sched control worker_rate linerate sidebyside"
IFS=',' read -r -a SKIPS <<<"$SKIP"
for s in "${SKIPS[@]}"; do
    case " $KNOWN_SKIPS " in
        *" $s "*) ;;
        *)
            echo "bench.sh: --skip: unknown step '$s' (known: ${KNOWN_SKIPS// /, })" >&2
            exit 2
            ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "bench.sh: run as root (sudo): the side-by-side run builds network namespaces" >&2
    exit 1
fi

# sudo drops the user's PATH: find cargo the way deps.sh does, also in the
# home of the user who ran sudo (with that user's rustup toolchains).
if ! command -v cargo >/dev/null 2>&1; then
    for home in "$HOME" ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)"}; do
        if [ -x "$home/.cargo/bin/cargo" ]; then
            export PATH="$home/.cargo/bin:$PATH"
            if [ -d "$home/.rustup" ]; then
                export RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
            fi
            break
        fi
    done
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# criterion writes its estimates under DIR/criterion, where the report reads
# them (and nothing of an earlier run is left, see below).
export CRITERION_HOME="$OUT/criterion"

if [ "$QUICK" = 1 ]; then
    MODE=quick
    CRITERION_ARGS=(--quick --warm-up-time 1 --measurement-time 2)
    RATE_SECS=2
    SBS_SECS=5
else
    MODE=full
    CRITERION_ARGS=()
    RATE_SECS=5
    SBS_SECS=10
fi
PY=/usr/bin/python3

# The steps that are more than one command. Each runs as
# `bench.sh --step NAME [--quick] --out DIR` in a process of its own.

deps() {
    bash "$ROOT/scripts/deps.sh"
    if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
        env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib ||
            {
                env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
                    env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib
            }
    fi
    "$PY" -c 'import matplotlib; print("matplotlib", matplotlib.__version__)'
    command -v cargo
}

# The bench binaries are built here, so that the bench steps' times are
# their runs (linerate builds in its own step: it is newer and optional).
build() {
    cargo build --release
    cargo bench --no-run --bench pipeline --bench conn --bench sched --bench control \
        --bench worker_rate
}

criterion_pipeline() { cargo bench --bench pipeline -- "${CRITERION_ARGS[@]}"; }
criterion_conn() { cargo bench --bench conn -- "${CRITERION_ARGS[@]}"; }
criterion_sched() { cargo bench --bench sched -- "${CRITERION_ARGS[@]}"; }
criterion_control() { cargo bench --bench control -- "${CRITERION_ARGS[@]}"; }

worker_rate() {
    RVS_BENCH_OUT="$OUT" RVS_RATE_SECS="$RATE_SECS" cargo bench --bench worker_rate
    [ -s "$OUT/worker_rate.json" ] || { echo "worker_rate wrote no $OUT/worker_rate.json" >&2; return 1; }
}

linerate() {
    if [ "$QUICK" = 1 ]; then
        export RVS_LINERATE_QUICK=1
    fi
    RVS_BENCH_OUT="$OUT" cargo bench --bench linerate
    [ -s "$OUT/linerate.json" ] || { echo "linerate wrote no $OUT/linerate.json" >&2; return 1; }
}

sidebyside() {
    bash "$ROOT/scripts/bench/sidebyside.sh" --secs "$SBS_SECS" --out "$OUT/sidebyside.json"
    [ -s "$OUT/sidebyside.json" ] || { echo "sidebyside wrote no $OUT/sidebyside.json" >&2; return 1; }
}

report() {
    local notes=()
    [ -f "$ROOT/benchmarks/notes.md" ] && notes=(--notes "$ROOT/benchmarks/notes.md")
    "$PY" "$ROOT/scripts/bench/report.py" "$OUT" "${notes[@]}"
}

if [ -n "$STEP_FN" ]; then
    case "$STEP_FN" in
        deps | build | criterion_pipeline | criterion_conn | criterion_sched | criterion_control | \
            worker_rate | linerate | sidebyside | report) "$STEP_FN" ;;
        *)
            echo "bench.sh: --step: unknown step function '$STEP_FN'" >&2
            exit 2
            ;;
    esac
    exit 0
fi

# skipped NAME [GROUP]: true when NAME (or its GROUP) is in --skip.
skipped() {
    local s
    for s in "${SKIPS[@]}"; do
        if [ "$s" = "$1" ] || { [ $# -ge 2 ] && [ "$s" = "$2" ]; }; then
            return 0
        fi
    done
    return 1
}

LOGS="$OUT/logs"
# A run starts clean: results of an earlier run never mix into this one's
# report. scaling.json is kept (it comes from another machine).
rm -rf "$LOGS" "$OUT/criterion"
rm -f "$OUT/machine.json" "$OUT/worker_rate.json" "$OUT/linerate.json" \
    "$OUT/sidebyside.json" "$OUT/steps.tsv" "$OUT/run.tsv"
mkdir -p "$LOGS"
printf 'mode\t%s\nstarted\t%s\nskip\t%s\n' "$MODE" "$(date -u +%FT%TZ)" "$SKIP" >"$OUT/run.tsv"

TOTAL=11
N=0
FAILED=()
CURRENT=""

# Stops the running step: timeout(1) passes the signal on to the step's
# whole process group.
on_signal() {
    echo
    echo "==> interrupted" >&2
    if [ -n "$CURRENT" ]; then
        kill -TERM "$CURRENT" 2>/dev/null || true
        wait "$CURRENT" 2>/dev/null || true
    fi
    exit 130
}
trap on_signal INT TERM

# Keeps the caller's files the caller's when run through sudo.
give_back() {
    if [ -n "${SUDO_UID:-}" ] && [ -n "${SUDO_GID:-}" ]; then
        chown -R "$SUDO_UID:$SUDO_GID" "$OUT" 2>/dev/null || true
        for p in "$ROOT/BENCHMARKS.md" "$ROOT/benchmarks"; do
            if [ -e "$p" ]; then
                chown -R "$SUDO_UID:$SUDO_GID" "$p" 2>/dev/null || true
            fi
        done
        case "$CARGO_TARGET_DIR" in
            "$ROOT"/*) chown -R "$SUDO_UID:$SUDO_GID" "$CARGO_TARGET_DIR" 2>/dev/null || true ;;
        esac
    fi
}
trap give_back EXIT

record() { # name status secs detail
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/steps.tsv"
}

fmt_secs() {
    printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# Shows the lines of a step's output worth seeing while it runs: criterion's
# results (a long benchmark id stands on its own line before its "time:"
# line: they are joined), cargo's progress and anything that looks like
# trouble. All of the output is in the step's log.
show_progress() {
    local line id="" trouble='error|panicked|FAILED|^==>|Mpps|req/s|^ +(Compiling|Finished|Running) '
    while IFS= read -r line; do
        if [[ "$line" =~ ^Benchmarking ]]; then
            continue
        elif [[ "$line" =~ ^[A-Za-z][^[:space:]]*$ ]]; then
            id="$line"
            continue
        elif [[ "$line" =~ ^[[:space:]]+time: ]] && [ -n "$id" ]; then
            printf '    %-40s %s\n' "$id" "${line#"${line%%[![:space:]]*}"}"
        elif [[ "$line" =~ ^[A-Za-z][^[:space:]]*[[:space:]]+time: ]] || [[ "$line" =~ $trouble ]]; then
            printf '    %s\n' "$line"
        fi
        id=""
    done
}

# step NAME ESTIMATE LIMIT_SECS CMD...: runs CMD in a process group of its
# own under a time limit, its output in DIR/logs/NAME.log, and records how
# it ended. A failure is reported and the run goes on.
step() {
    local name="$1" estimate="$2" limit="$3"
    shift 3
    N=$((N + 1))
    local log="$LOGS/${name//[: ]/_}.log"
    echo "==> [$N/$TOTAL] $name ($estimate)"
    local start=$SECONDS rc=0
    : >"$log"
    timeout -k 30 "$limit" "$@" >>"$log" 2>&1 &
    CURRENT=$!
    tail -n +1 -s 1 --pid="$CURRENT" -f "$log" | show_progress &
    local shower=$!
    wait "$CURRENT" || rc=$?
    CURRENT=""
    wait "$shower" 2>/dev/null || true
    local took=$((SECONDS - start))
    if [ "$rc" = 0 ]; then
        echo "    done in $(fmt_secs "$took")"
        record "$name" ok "$took" ""
    else
        local why="exit status $rc"
        [ "$rc" = 124 ] && why="time limit of $(fmt_secs "$limit") reached"
        echo "    FAILED ($why) after $(fmt_secs "$took"); last lines of $log:" >&2
        tail -n 15 "$log" | sed 's/^/    | /' >&2
        record "$name" failed "$took" "$why; log: ${log#"$ROOT"/}"
        FAILED+=("$name")
    fi
}

skip_step() { # name why
    N=$((N + 1))
    echo "==> [$N/$TOTAL] $1: skipped ($2)"
    record "$1" skipped 0 "$2"
}

# step_fn NAME ESTIMATE LIMIT FUNCTION: step running one of the functions
# above through this script.
step_fn() {
    local q=()
    [ "$QUICK" = 1 ] && q=(--quick)
    step "$1" "$2" "$3" bash "$ROOT/scripts/bench.sh" --step "$4" "${q[@]}" --out "$OUT"
}

echo "==> rvs benchmarks, $MODE run; results in ${OUT#"$ROOT"/}, CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
RUN_START=$SECONDS

step_fn deps "about 1 min; more when apt installs packages" 1200 deps
step_fn build "release binaries and bench binaries: up to 10 min from clean" 2400 build
step machine "a few seconds" 60 "$PY" "$ROOT/scripts/bench/machine.py" "$OUT/machine.json"

# Estimates measured on the 2-core development machine with the bench
# binaries already compiled (compiling one adds a minute or two).
estimate() {
    case "$QUICK/$1" in
        1/sched) echo "about 2 min" ;;
        1/*) echo "under 1 min" ;;
        0/pipeline) echo "about 3 min" ;;
        0/conn) echo "about 1 min" ;;
        0/sched) echo "about 4 min" ;;
        0/control) echo "about 2 min" ;;
    esac
}
for b in pipeline conn sched control; do
    if skipped "$b" criterion; then
        skip_step "criterion: $b" "--skip"
    else
        step_fn "criterion: $b" "$(estimate "$b")" 2400 "criterion_$b"
    fi
done

if skipped worker_rate; then
    skip_step worker_rate "--skip"
else
    step_fn worker_rate "about $((2 * RATE_SECS + 10)) s" 900 worker_rate
fi

if skipped linerate; then
    skip_step linerate "--skip"
elif ! grep -Eq '^name *= *"linerate"' "$ROOT/Cargo.toml"; then
    skip_step linerate "this checkout has no linerate bench"
else
    if [ "$QUICK" = 1 ]; then est="about 3 min"; else est="about 10 min"; fi
    step_fn linerate "$est" 2400 linerate
fi

if skipped sidebyside; then
    skip_step sidebyside "--skip"
elif [ ! -f "$ROOT/scripts/bench/sidebyside.sh" ]; then
    skip_step sidebyside "scripts/bench/sidebyside.sh is not in this checkout"
else
    # Four contenders, a keep-alive and a short-connection wrk run each, and
    # a fresh topology for every contender.
    step_fn sidebyside "about $(((8 * SBS_SECS + 4 * 20 + 59) / 60)) min" 2400 sidebyside
fi

step_fn report "a few seconds" 300 report

echo "==> finished in $(fmt_secs $((SECONDS - RUN_START))): BENCHMARKS.md, benchmarks/*.png; raw results in ${OUT#"$ROOT"/}"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "==> failed steps: ${FAILED[*]} (logs in ${LOGS#"$ROOT"/})" >&2
    exit 1
fi
