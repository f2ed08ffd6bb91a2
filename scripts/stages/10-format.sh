# Stage: every C file is clang-formatted (.clang-format).
stage_format() {
    local files bad=0
    files=$(git -C "$HZ_ROOT" ls-files '*.c' '*.h' '*.h.in' 2>/dev/null || find "$HZ_ROOT" -name '*.[ch]' -not -path '*/build*')
    for f in $files; do
        clang-format --dry-run -Werror "$HZ_ROOT/$f" >/dev/null 2>&1 || { echo "not formatted: $f"; bad=1; }
    done
    return $bad
}
hz_stage format stage_format
