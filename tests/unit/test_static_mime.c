/* test_static_mime.c - the built-in Content-Type table. */
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

static const char *mt(const char *name)
{
    return hz_mime_type(name, strlen(name));
}

Test(mime, known_extensions)
{
    cr_assert_str_eq(mt("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(mt("a.htm"), "text/html; charset=utf-8");
    cr_assert_str_eq(mt("s.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(mt("app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(mt("d.json"), "application/json");
    cr_assert_str_eq(mt("r.txt"), "text/plain; charset=utf-8");
    cr_assert_str_eq(mt("README.md"), "text/markdown; charset=utf-8");
    cr_assert_str_eq(mt("p.png"), "image/png");
    cr_assert_str_eq(mt("p.jpg"), "image/jpeg");
    cr_assert_str_eq(mt("p.jpeg"), "image/jpeg");
    cr_assert_str_eq(mt("p.gif"), "image/gif");
    cr_assert_str_eq(mt("p.svg"), "image/svg+xml");
    cr_assert_str_eq(mt("favicon.ico"), "image/x-icon");
    cr_assert_str_eq(mt("m.wasm"), "application/wasm");
    cr_assert_str_eq(mt("doc.pdf"), "application/pdf");
    cr_assert_str_eq(mt("f.woff2"), "font/woff2");
}

Test(mime, case_and_paths)
{
    cr_assert_str_eq(mt("INDEX.HTML"), "text/html; charset=utf-8");
    cr_assert_str_eq(mt("/a/b.c/photo.PnG"), "image/png");
    cr_assert_str_eq(mt("archive.tar.gz"), "application/gzip");
    cr_assert_str_eq(mt("f.WoFf2"), "font/woff2", "the longest extension, mixed case");
    cr_assert_str_eq(mt("clip.MP4"), "video/mp4");
}

/* Every entry of the table by its own extension, upper-cased too. */
Test(mime, every_entry)
{
    static const char *const pairs[][2] = {
        {"a.html", "text/html; charset=utf-8"},
        {"a.mjs", "text/javascript; charset=utf-8"},
        {"a.map", "application/json"},
        {"a.csv", "text/csv; charset=utf-8"},
        {"a.xml", "application/xml"},
        {"a.webp", "image/webp"},
        {"a.avif", "image/avif"},
        {"a.bmp", "image/bmp"},
        {"a.zip", "application/zip"},
        {"a.tar", "application/x-tar"},
        {"a.woff", "font/woff"},
        {"a.ttf", "font/ttf"},
        {"a.otf", "font/otf"},
        {"a.mp3", "audio/mpeg"},
        {"a.ogg", "audio/ogg"},
        {"a.wav", "audio/wav"},
        {"a.webm", "video/webm"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char up[16];
        size_t n = strlen(pairs[i][0]);
        for (size_t k = 0; k <= n; k++)
            up[k] = (char)(pairs[i][0][k] >= 'a' && pairs[i][0][k] <= 'z' ? pairs[i][0][k] - 32
                                                                          : pairs[i][0][k]);
        cr_assert_str_eq(mt(pairs[i][0]), pairs[i][1], "%s", pairs[i][0]);
        cr_assert_str_eq(mt(up), pairs[i][1], "%s", up);
    }
}

Test(mime, defaults)
{
    const char *dflt = "application/octet-stream";
    cr_assert_str_eq(mt("noext"), dflt);
    cr_assert_str_eq(mt("a.unknownext"), dflt);
    cr_assert_str_eq(mt(".html"), dflt, "a dot file has no extension");
    cr_assert_str_eq(mt("dir/.css"), dflt);
    cr_assert_str_eq(mt("dir.html/file"), dflt, "the dot is in a directory");
    cr_assert_str_eq(mt("trailing."), dflt);
    cr_assert_str_eq(mt("x.bin"), dflt);
    cr_assert_str_eq(mt("a.mp"), dflt, "a prefix of mp3 and mp4");
    cr_assert_str_eq(mt("a.htmlx"), dflt, "longer than any extension");
    cr_assert_str_eq(mt("a.woff22"), dflt);
    cr_assert_str_eq(mt(""), dflt);
    cr_assert_str_eq(hz_mime_type(NULL, 0), dflt);
    /* Only len bytes count. */
    cr_assert_str_eq(hz_mime_type("a.html.png", 6), "text/html; charset=utf-8");
}
