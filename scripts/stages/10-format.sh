# Stage: every C file is clang-formatted (.clang-format). The files are
# checked HZ_JOBS at a time, in batches (one clang-format per file was most
# of this stage's 25 s).
stage_format() {
    local files
    files=$(git -C "$HZ_ROOT" ls-files '*.c' '*.h' '*.h.in' 2>/dev/null || find "$HZ_ROOT" -name '*.[ch]' -not -path '*/build*' -printf '%P\n')
    # A batch that fails is checked again file by file, to name the files.
    (cd "$HZ_ROOT" && printf '%s\n' $files | xargs -P "$HZ_JOBS" -n 16 sh -c '
        clang-format --dry-run -Werror "$@" >/dev/null 2>&1 && exit 0
        for f in "$@"; do
            clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "not formatted: $f"
        done
        exit 1' sh)
}
hz_stage format stage_format
