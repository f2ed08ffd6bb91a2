# Stage: the API reference builds from the public headers (docs/Doxyfile)
# with no doxygen warning at all, so an undocumented public function, type,
# enum value, struct member or macro fails CI. HTML goes to build/docs/html.
stage_docs() {
    local dir="$HZ_ROOT/build/docs" log rc
    mkdir -p "$dir"
    log="$dir/warnings.log"
    # Absolute paths, so the result does not depend on the working directory.
    {
        echo "@INCLUDE = $HZ_ROOT/docs/Doxyfile"
        echo "INPUT = $HZ_ROOT/include/httpz"
        echo "STRIP_FROM_PATH = $HZ_ROOT/include"
        echo "STRIP_FROM_INC_PATH = $HZ_ROOT/include"
        echo "OUTPUT_DIRECTORY = $dir"
        echo "WARN_LOGFILE = $log"
    } >"$dir/Doxyfile.ci"
    (cd "$HZ_ROOT" && doxygen "$dir/Doxyfile.ci")
    rc=$?
    if [ -s "$log" ]; then
        echo "docs: doxygen warnings (every public symbol needs a doc comment):"
        cat "$log"
        rc=1
    fi
    if [ "$rc" -eq 0 ]; then
        echo "docs: API reference ok: $dir/html/index.html"
        hz_count 1 0
    else
        hz_count 0 1
    fi
    return "$rc"
}
hz_stage docs stage_docs
