#!/usr/bin/env bash
# Builds the libFuzzer targets (address sanitizer + coverage) and runs one for a number of seconds.
#   Fuzz/run.sh TARGET SECONDS [libFuzzer options...]     TARGET: FuzzVAEFile, FuzzImage or FuzzModelFile
# Seeds come from Fixtures/; the growing corpus lives in Fuzz/.build/corpus/TARGET (not in git). Exits non-zero on
# any crash, leak, timeout or out-of-memory, leaving the reproducer as Fuzz/.build/crash-* (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: Fuzz/run.sh TARGET SECONDS}
seconds=${2:?usage: Fuzz/run.sh TARGET SECONDS}
shift 2
case "$target" in
    FuzzVAEFile) seeds=(../Fixtures/vae ../Fixtures/hostile) ;;
    FuzzImage) seeds=(../Fixtures/images ../Fixtures/broken ../Fixtures/hostile) ;;
    FuzzModelFile) seeds=(../Fixtures/models) ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
# --sanitize instruments only this package's targets; the -X flags instrument vaecodec's modules too (Swift and C),
# without which libFuzzer would mutate blind.
swift build -c release --product "$target" --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address >&2
corpus=.build/corpus/$target
mkdir -p "$corpus"
# rss_limit_mb: a hostile input must not take more than the product's documented bound either.
exec ".build/release/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix=.build/ "$@" "$corpus" "${seeds[@]}"
