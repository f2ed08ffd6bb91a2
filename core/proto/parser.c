/* parser.c - strict, incremental, zero-copy HTTP/1.1 request-head parser and
 * chunked-body decoder (RFC 9112, RFC 9110). The contract is in parser.h.
 *
 * Every check belongs to one byte position and bytes are examined strictly
 * left to right, so the first offending byte decides the verdict: a request
 * fed in any split gets the same result, and the same error kind, as one fed
 * whole. Limits work the same way: needing a byte beyond a bound is the
 * error, whether or not that byte has arrived, so a line that never ends
 * still gets its 414/431 as soon as it crosses the bound.
 *
 * Scanning of targets and field values uses SIMD: SSE2 on x86-64 and NEON
 * on aarch64, which those CPUs always have, chosen at compile time from the
 * compiler's CPU-feature macros. The target scanner also has an SSSE3 path
 * (a 16-entry table lookup per nibble, PSHUFB, classifies all ten special
 * bytes in a few instructions); it is used directly when the compiler
 * targets SSSE3 and is otherwise selected at run time with CPUID, so a
 * generic x86-64 build uses it on every CPU that has it. PSHUFB is then
 * written as inline asm, so that no function has to be compiled for
 * another target and the scanner is inlined like the others; the choice
 * is one predictable branch per request. HZ_PARSER_FORCE_SCALAR selects
 * the portable path, which the unit tests build as well;
 * HZ_PARSER_SELECTABLE (tests only) compiles every path this machine can
 * run and lets hz__parser_select() switch between them. Loads never cross
 * buf + len. 32-byte AVX2 loops measured slower than 16-byte SSE2 on
 * header-sized spans, so there are none.
 */
#include <string.h>
#include "parser.h"

enum { ISA_SCALAR = 0, ISA_SSE2, ISA_SSSE3, ISA_NEON };

#if !defined(HZ_PARSER_FORCE_SCALAR)
#if defined(__SSE2__)
#include <emmintrin.h>
#define HZ__SCAN_SSE2 1
#if defined(__SSSE3__)
#include <tmmintrin.h>
#define HZ__SCAN_SSSE3 2 /* the compiler targets it: no check at run time */
#elif defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define HZ__SCAN_SSSE3 1 /* chosen at run time */
#endif
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define HZ__SCAN_NEON 1
#endif
#endif

#if defined(HZ_PARSER_SELECTABLE)
static int forced_isa = -1; /* -1: the default choice */
#define SIMD_ALLOWED() (forced_isa != ISA_SCALAR)
#else
#define SIMD_ALLOWED() 1
#endif

#if defined(HZ__SCAN_SSSE3)
/* 1 when the target scanner may use SSSE3. */
static inline int use_ssse3(void)
{
#if defined(HZ_PARSER_SELECTABLE)
    if (forced_isa >= 0)
        return forced_isa == ISA_SSSE3;
#endif
#if HZ__SCAN_SSSE3 == 2
    return 1;
#else
    /* CPUID once; racing first callers store the same value */
    static int known; /* 0: not asked yet, 1: no, 2: yes */
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (HZ__UNLIKELY(!v)) {
        unsigned a, b, c, d;
        v = (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3)) ? 2 : 1;
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v == 2;
#endif
}
#endif

/* ------------------------------------------------------------------------ */
/* Error kinds                                                               */
/* ------------------------------------------------------------------------ */

static const short perr_status[] = {
#define HZ__PERR_STATUS_(name, status, msg) status,
    HZ__PARSE_ERRORS(HZ__PERR_STATUS_)
#undef HZ__PERR_STATUS_
};
static const char *const perr_name[] = {
#define HZ__PERR_NAME_(name, status, msg) #name,
    HZ__PARSE_ERRORS(HZ__PERR_NAME_)
#undef HZ__PERR_NAME_
};
static const char *const perr_text[] = {
#define HZ__PERR_TEXT_(name, status, msg) msg,
    HZ__PARSE_ERRORS(HZ__PERR_TEXT_)
#undef HZ__PERR_TEXT_
};

int hz__perr_status(hz__perr e)
{
    return (unsigned)e < HZ__PE_COUNT ? perr_status[e] : 400;
}

const char *hz__perr_name(hz__perr e)
{
    return (unsigned)e < HZ__PE_COUNT ? perr_name[e] : "UNKNOWN";
}

const char *hz__perr_text(hz__perr e)
{
    return (unsigned)e < HZ__PE_COUNT ? perr_text[e] : "unknown parse error";
}

const char *hz__parser_simd(void)
{
#if defined(HZ_PARSER_SELECTABLE)
    if (forced_isa == ISA_SCALAR)
        return "scalar";
#endif
#if defined(HZ__SCAN_SSSE3)
    if (use_ssse3())
        return "ssse3";
#endif
#if defined(HZ__SCAN_SSE2)
    return "sse2";
#elif defined(HZ__SCAN_NEON)
    return "neon";
#else
    return "scalar";
#endif
}

#if defined(HZ_PARSER_SELECTABLE)
int hz__parser_select(const char *path)
{
    int isa;
    if (!path)
        isa = -1;
    else if (!strcmp(path, "scalar"))
        isa = ISA_SCALAR;
#if defined(HZ__SCAN_SSE2)
    else if (!strcmp(path, "sse2"))
        isa = ISA_SSE2;
#endif
#if defined(HZ__SCAN_SSSE3)
    else if (!strcmp(path, "ssse3")) {
        forced_isa = -1;
        if (!use_ssse3())
            return -1; /* this CPU lacks it */
        isa = ISA_SSSE3;
    }
#endif
#if defined(HZ__SCAN_NEON)
    else if (!strcmp(path, "neon"))
        isa = ISA_NEON;
#endif
    else
        return -1;
    forced_isa = isa;
    return 0;
}
#endif

/* ------------------------------------------------------------------------ */
/* Character classes                                                         */
/* ------------------------------------------------------------------------ */

const unsigned char hz__chr_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x22, 0x37, 0xc6, 0x23, 0x37, 0x23, 0x37, 0x37, 0x36, 0x36, 0x37, 0x37, 0x36, 0x37, 0x37, 0x26,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x26, 0x36, 0xe6, 0x36, 0xe6, 0x22,
    0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x26, 0x86, 0x26, 0x27, 0x37,
    0xa7, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0xa6, 0x27, 0xa6, 0x37, 0x00,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

#define IS(c, k) ((hz__chr_class[(unsigned char)(c)] & (k)) != 0)
#define IS_OWS(c) ((c) == ' ' || (c) == '\t')
#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

static inline int hexval(unsigned c)
{
    if (c - '0' < 10u)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6u)
        return (int)(c - 'a' + 10);
    return -1;
}

/* Compares n bytes of s, case-insensitively, with a lowercase literal. */
static int ieq(const unsigned char *s, const char *lit, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned c = s[k];
        if (c - 'A' < 26u)
            c += 'a' - 'A';
        if (c != (unsigned char)lit[k])
            return 0;
    }
    return 1;
}

static inline uint64_t load64(const void *s)
{
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

static inline uint32_t load32(const void *s)
{
    uint32_t v;
    memcpy(&v, s, 4);
    return v;
}

/* Same for a field name of n >= 4 bytes, a word at a time (the last word
 * overlaps). Names are tchars, so OR-ing 0x20 into every byte maps exactly
 * the letters and leaves '-' and digits alone (their other preimages are
 * not tchars). */
static inline int name_eq(const unsigned char *s, const char *lit, size_t n)
{
    if (n >= 8) {
        for (size_t k = 0; k + 8 < n; k += 8)
            if ((load64(s + k) | 0x2020202020202020ull) != load64(lit + k))
                return 0;
        return (load64(s + n - 8) | 0x2020202020202020ull) == load64(lit + n - 8);
    }
    return (load32(s) | 0x20202020u) == load32(lit) &&
           (load32(s + n - 4) | 0x20202020u) == load32(lit + n - 4);
}

/* ------------------------------------------------------------------------ */
/* Scanners: first index in [i, e) whose byte needs a closer look, or e       */
/* ------------------------------------------------------------------------ */

/* Field values: stops at CTLs except HTAB (CR ends the value) and DEL. */
static inline size_t scan_value(const unsigned char *b, size_t i, size_t e)
{
#if defined(HZ__SCAN_SSE2)
    const __m128i c1f = _mm_set1_epi8(0x1f), ht = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
#define HZ__VALUE_MASK_(ptr)                                                                       \
    __extension__({                                                                                \
        __m128i x_ = _mm_loadu_si128((const __m128i *)(const void *)(ptr));                        \
        __m128i bad_ = _mm_cmpeq_epi8(_mm_min_epu8(x_, c1f), x_);                                  \
        bad_ = _mm_andnot_si128(_mm_cmpeq_epi8(x_, ht), bad_);                                     \
        bad_ = _mm_or_si128(bad_, _mm_cmpeq_epi8(x_, del));                                        \
        (unsigned)_mm_movemask_epi8(bad_);                                                         \
    })
    if (SIMD_ALLOWED()) {
        while (e - i >= 16) {
            unsigned m = HZ__VALUE_MASK_(b + i);
            if (m)
                return i + (unsigned)__builtin_ctz(m);
            i += 16;
        }
        if (i < e && e >= 16) {
            /* The last bytes: one load ending at e (bytes before i are ours too). */
            unsigned m = HZ__VALUE_MASK_(b + e - 16) >> (16 - (e - i));
            return m ? i + (unsigned)__builtin_ctz(m) : e;
        }
    }
#undef HZ__VALUE_MASK_
#elif defined(HZ__SCAN_NEON)
    const uint8x16_t c20 = vdupq_n_u8(0x20), ht = vdupq_n_u8('\t'), del = vdupq_n_u8(0x7f);
    while (SIMD_ALLOWED() && e - i >= 16) {
        uint8x16_t x = vld1q_u8(b + i);
        uint8x16_t bad = vbicq_u8(vcltq_u8(x, c20), vceqq_u8(x, ht));
        bad = vorrq_u8(bad, vceqq_u8(x, del));
        /* 4 bits per byte: the usual NEON stand-in for movemask */
        uint64_t m =
            vget_lane_u64(vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(bad), 4)), 0);
        if (m)
            return i + ((unsigned)__builtin_ctzll(m) >> 2);
        i += 16;
    }
#endif
    while (e - i >= 4) {
        if (!IS(b[i], C_VALUE))
            return i;
        if (!IS(b[i + 1], C_VALUE))
            return i + 1;
        if (!IS(b[i + 2], C_VALUE))
            return i + 2;
        if (!IS(b[i + 3], C_VALUE))
            return i + 3;
        i += 4;
    }
    while (i < e && IS(b[i], C_VALUE))
        i++;
    return i;
}

/* Request targets. The scanners below skip the bytes that need no closer
 * look: in the path (before the first '?') every VCHAR except '#', '%',
 * '?' and the C_NOT_PATH bytes; in the query every VCHAR except '#', '%'
 * and the C_NOT_QUERY bytes. They may stop early (a vector test may be
 * coarser); scan_target's slow branch decides each stop. */
static inline size_t skip_target_scalar(const unsigned char *b, size_t i, size_t e, int in_query)
{
    const unsigned stop = C_TARGET | (in_query ? C_NOT_QUERY : C_NOT_PATH);
#define HZ__PLAIN_(c) ((hz__chr_class[(c)] & stop) == C_TARGET)
    while (e - i >= 4) {
        if (!HZ__PLAIN_(b[i]))
            return i;
        if (!HZ__PLAIN_(b[i + 1]))
            return i + 1;
        if (!HZ__PLAIN_(b[i + 2]))
            return i + 2;
        if (!HZ__PLAIN_(b[i + 3]))
            return i + 3;
        i += 4;
    }
    while (i < e && HZ__PLAIN_(b[i]))
        i++;
    return i;
#undef HZ__PLAIN_
}

#if defined(HZ__SCAN_SSE2)
/* Compares per byte. The path test is exact; it costs twice the query's. */
static inline size_t skip_target_sse2(const unsigned char *b, size_t i, size_t e, const size_t *q)
{
    const int in_query = *q != 0;
    const __m128i c21 = _mm_set1_epi8(0x21), c02 = _mm_set1_epi8(0x02), c01 = _mm_set1_epi8(0x01);
    const __m128i del = _mm_set1_epi8(0x7f), lt_gt = _mm_set1_epi8('>'),
                  dq_hash = _mm_set1_epi8('#');
    const __m128i pct = _mm_set1_epi8('%'), qm = _mm_set1_epi8('?'), bsl = _mm_set1_epi8('\\');
    const __m128i grave = _mm_set1_epi8('`'), lbrace = _mm_set1_epi8('{');
    while (e - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        __m128i x2 = _mm_or_si128(x, c02); /* '<' '>' -> '>', '}' DEL -> DEL */
        /* signed compare: CTLs, SP and every byte >= 0x80 */
        __m128i bad = _mm_cmplt_epi8(x, c21);
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_or_si128(x, c01), dq_hash)); /* '"' '#' */
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, pct));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x2, lt_gt));
        if (!in_query) {
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x2, del));
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, qm));
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, bsl));
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, grave));
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, lbrace));
        } else {
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, del));
        }
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return i + (unsigned)__builtin_ctz(m);
        i += 16;
    }
    return skip_target_scalar(b, i, e, in_query);
}
#endif

#if defined(HZ__SCAN_SSSE3) || defined(HZ__SCAN_NEON)
/* Nibble tables for PSHUFB/TBL: a byte is special when
 * lo[byte & 15] & hi[byte >> 4] & (path or query bits) is not 0.
 *   0x01 every byte with high nibble 0, 1, 8-F (CTLs, obs-text)
 *   0x02 SP '"' '#' '%'      0x04 '<' '>' '?'     0x08 '\'
 *   0x10 '`'                 0x20 '{' '}' DEL
 *   0x40 '<' '>' (query)     0x80 DEL (query)
 * Path: 0x3f; query: 0xc3. */
#define HZ__TGT_LO_                                                                                \
    0x13, 0x01, 0x03, 0x03, 0x01, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x21, 0x4d, 0x21, 0x45, 0xa5
#define HZ__TGT_HI_                                                                                \
    0x01, 0x01, 0x02, 0x44, 0x00, 0x08, 0x10, 0xa0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01
static const unsigned char tgt_lo[16] = {HZ__TGT_LO_};
static const unsigned char tgt_hi[16] = {HZ__TGT_HI_};
#define HZ__TGT_PATH_BITS 0x3f
#define HZ__TGT_QUERY_BITS 0xc3
#endif

#if defined(HZ__SCAN_SSSE3)
#if HZ__SCAN_SSSE3 == 2
#define HZ__PSHUFB_(table, idx) _mm_shuffle_epi8((table), (idx))
#else
/* PSHUFB as an instruction rather than an intrinsic: no function needs to
 * be compiled for SSSE3, so this scanner is inlined into the parser like
 * the others, behind use_ssse3(). */
static inline __m128i pshufb_(__m128i table, __m128i idx)
{
    __asm__("pshufb %1, %0" : "+x"(table) : "x"(idx)); /* legacy SSE: no unaligned memory */
    return table;
}
#define HZ__PSHUFB_(table, idx) pshufb_((table), (idx))
#endif
static inline size_t skip_target_ssse3(const unsigned char *b, size_t i, size_t e, const size_t *q)
{
    const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)tgt_lo);
    const __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)tgt_hi);
    const __m128i nib = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128();
    const __m128i bits = _mm_set1_epi8((char)(*q ? HZ__TGT_QUERY_BITS : HZ__TGT_PATH_BITS));
    while (e - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        __m128i cl = _mm_and_si128(HZ__PSHUFB_(lo, _mm_and_si128(x, nib)),
                                   HZ__PSHUFB_(hi, _mm_and_si128(_mm_srli_epi16(x, 4), nib)));
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(cl, bits), zero)) ^ 0xffffu;
        if (m)
            return i + (unsigned)__builtin_ctz(m);
        i += 16;
    }
    return skip_target_scalar(b, i, e, *q != 0);
}
#endif

#if defined(HZ__SCAN_NEON)
static inline size_t skip_target_neon(const unsigned char *b, size_t i, size_t e, const size_t *q)
{
    const int in_query = *q != 0;
    const uint8x16_t lo = vld1q_u8(tgt_lo), hi = vld1q_u8(tgt_hi), nib = vdupq_n_u8(0x0f);
    const uint8x16_t bits = vdupq_n_u8(in_query ? HZ__TGT_QUERY_BITS : HZ__TGT_PATH_BITS);
    while (e - i >= 16) {
        uint8x16_t x = vld1q_u8(b + i);
        uint8x16_t cl =
            vandq_u8(vqtbl1q_u8(lo, vandq_u8(x, nib)), vqtbl1q_u8(hi, vshrq_n_u8(x, 4)));
        uint8x16_t bad = vtstq_u8(cl, bits);
        uint64_t m =
            vget_lane_u64(vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(bad), 4)), 0);
        if (m)
            return i + ((unsigned)__builtin_ctzll(m) >> 2);
        i += 16;
    }
    return skip_target_scalar(b, i, e, in_query);
}
#endif

/* The target from i: returns the index of the first byte the caller must
 * decide (SP, '%' without two hex digits before e, '#', CTL, DEL,
 * non-ASCII) or e. *q: index + 1 of the first '?' (0: none yet); *bad is
 * set when the path or the query holds a byte RFC 3986 leaves out of it
 * (C_NOT_PATH, C_NOT_QUERY): RFC 9112 §3 asks for a 400, given once the
 * target form is known, so the first offending byte of another kind still
 * decides. Every byte is looked at once. */
#define HZ__SCAN_TARGET_FN_(name, attr, skip)                                                      \
    attr static size_t name(const unsigned char *b, size_t i, size_t e, size_t *q, unsigned *bad)  \
    {                                                                                              \
        for (;;) {                                                                                 \
            i = skip(b, i, e, q);                                                                  \
            if (i >= e)                                                                            \
                return i;                                                                          \
            unsigned c_ = b[i], k_ = hz__chr_class[c_];                                            \
            if (c_ == '?') {                                                                       \
                if (!*q)                                                                           \
                    *q = i + 1;                                                                    \
                i++;                                                                               \
            } else if (k_ & C_TARGET) {                                                            \
                if (k_ & (*q ? C_NOT_QUERY : C_NOT_PATH))                                          \
                    *bad = 1;                                                                      \
                i++;                                                                               \
            } else if (c_ == '%' && e - i > 2 && IS(b[i + 1], C_HEX) && IS(b[i + 2], C_HEX)) {     \
                i += 3; /* pct-encoded = "%" HEXDIG HEXDIG */                                      \
            } else {                                                                               \
                return i;                                                                          \
            }                                                                                      \
        }                                                                                          \
    }

static inline size_t skip_target_portable(const unsigned char *b, size_t i, size_t e,
                                          const size_t *q)
{
    return skip_target_scalar(b, i, e, *q != 0);
}

HZ__SCAN_TARGET_FN_(scan_target_scalar, inline, skip_target_portable)
#if defined(HZ__SCAN_SSE2)
HZ__SCAN_TARGET_FN_(scan_target_sse2, inline, skip_target_sse2)
#endif
#if defined(HZ__SCAN_SSSE3)
HZ__SCAN_TARGET_FN_(scan_target_ssse3, inline, skip_target_ssse3)
#endif
#if defined(HZ__SCAN_NEON)
HZ__SCAN_TARGET_FN_(scan_target_neon, inline, skip_target_neon)
#endif

static inline size_t scan_target(const unsigned char *b, size_t i, size_t e, size_t *q,
                                 unsigned *bad)
{
#if defined(HZ__SCAN_SSSE3)
    if (use_ssse3())
        return scan_target_ssse3(b, i, e, q, bad);
#endif
#if defined(HZ__SCAN_SSE2)
    if (SIMD_ALLOWED())
        return scan_target_sse2(b, i, e, q, bad);
#elif defined(HZ__SCAN_NEON)
    if (SIMD_ALLOWED())
        return scan_target_neon(b, i, e, q, bad);
#endif
    return scan_target_scalar(b, i, e, q, bad);
}

/* Tokens (method, field names): short, and a table with four bytes per
 * step measured faster here than vector compares (tried: SSE2 class ranges,
 * and a vector search for ':' followed by a branch-free table check). */
static inline size_t scan_token(const unsigned char *b, size_t i, size_t e)
{
    while (e - i >= 4) {
        if (!IS(b[i], C_TCHAR))
            return i;
        if (!IS(b[i + 1], C_TCHAR))
            return i + 1;
        if (!IS(b[i + 2], C_TCHAR))
            return i + 2;
        if (!IS(b[i + 3], C_TCHAR))
            return i + 3;
        i += 4;
    }
    while (i < e && IS(b[i], C_TCHAR))
        i++;
    return i;
}

size_t hz__scan_token(const void *s, size_t len)
{
    return scan_token(s, 0, len);
}

size_t hz__scan_field_value(const void *s, size_t len)
{
    return scan_value(s, 0, len);
}

/* ------------------------------------------------------------------------ */
/* Pieces of the head                                                        */
/* ------------------------------------------------------------------------ */

static uint8_t method_id(const unsigned char *m, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(m, "GET", 3))
            return HZ__M_GET;
        if (!memcmp(m, "PUT", 3))
            return HZ__M_PUT;
        break;
    case 4:
        if (!memcmp(m, "POST", 4))
            return HZ__M_POST;
        if (!memcmp(m, "HEAD", 4))
            return HZ__M_HEAD;
        break;
    case 5:
        if (!memcmp(m, "PATCH", 5))
            return HZ__M_PATCH;
        if (!memcmp(m, "TRACE", 5))
            return HZ__M_TRACE;
        break;
    case 6:
        if (!memcmp(m, "DELETE", 6))
            return HZ__M_DELETE;
        break;
    case 7:
        if (!memcmp(m, "OPTIONS", 7))
            return HZ__M_OPTIONS;
        if (!memcmp(m, "CONNECT", 7))
            return HZ__M_CONNECT;
        break;
    default:
        break;
    }
    return HZ__M_OTHER;
}

/* authority = uri-host [ ":" port ] (RFC 3986 §3.2, RFC 9110 §7.2), without
 * userinfo (RFC 9110 §4.2.4: treat it as an error). IP literals are checked
 * for their alphabet only; ports have at most 5 digits. */
static int valid_authority(const unsigned char *s, size_t n, int host_required, int port_required)
{
    size_t i = 0;
    if (n && s[0] == '[') {
        size_t st;
        i = 1;
        if (i < n && (s[i] | 0x20) == 'v') { /* IPvFuture */
            st = ++i;
            while (i < n && IS(s[i], C_HEX))
                i++;
            if (i == st || i >= n || s[i] != '.')
                return 0;
            st = ++i;
            while (i < n && (IS(s[i], C_REG) || s[i] == ':'))
                i++;
        } else {
            st = i;
            while (i < n && (IS(s[i], C_HEX) || s[i] == ':' || s[i] == '.'))
                i++;
        }
        if (i == st || i >= n || s[i] != ']')
            return 0;
        i++;
    } else {
        while (i < n) {
            while (n - i >= 4 && IS(s[i], C_REG) && IS(s[i + 1], C_REG) && IS(s[i + 2], C_REG) &&
                   IS(s[i + 3], C_REG))
                i += 4;
            if (i == n)
                break;
            if (IS(s[i], C_REG)) {
                i++;
            } else if (s[i] == '%') {
                if (n - i < 3 || !IS(s[i + 1], C_HEX) || !IS(s[i + 2], C_HEX))
                    return 0;
                i += 3;
            } else {
                break;
            }
        }
        if (host_required && i == 0)
            return 0;
    }
    if (i == n)
        return !port_required;
    if (s[i] != ':')
        return 0;
    i++;
    if (n - i > 5 || (port_required && i == n))
        return 0;
    for (; i < n; i++)
        if (!IS_DIGIT(s[i]))
            return 0;
    return 1;
}

int hz__authority_valid(const void *s, size_t n)
{
    return valid_authority(s, n, 0, 0);
}

/* Classifies the complete target (its bytes are already known to be VCHARs
 * with valid %XX escapes) against the method. q: index + 1 of the first '?',
 * or 0; bad: scan_target saw a byte the path or the query may not hold
 * (a valid scheme and authority hold none, so in the absolute form it was
 * in the path or the query too). */
static hz__perr check_target(hz__req_head *h, const unsigned char *b, size_t q, unsigned bad)
{
    const unsigned char *t = b + h->target_off;
    size_t n = h->target_len, tend = h->target_off + n;
    size_t qend = q ? q - 1 : tend;

    if (t[0] == '/') { /* origin-form: the common case */
        if (HZ__UNLIKELY(h->method == HZ__M_CONNECT))
            return HZ__PE_TARGET_FORM;
        if (bad)
            return HZ__PE_TARGET;
        h->target_form = HZ__TF_ORIGIN;
        h->path_off = h->target_off;
        h->path_len = (uint32_t)(qend - h->target_off);
        return HZ__PE_NONE;
    }
    h->path_off = h->target_off;
    h->path_len = 0;
    if (n == 1 && t[0] == '*') { /* RFC 9112 §3.2.4: OPTIONS only */
        if (h->method != HZ__M_OPTIONS)
            return HZ__PE_TARGET_FORM;
        h->target_form = HZ__TF_ASTERISK;
        return HZ__PE_NONE;
    }
    int is_authority = valid_authority(t, n, 1, 1);
    if (h->method == HZ__M_CONNECT && is_authority) { /* RFC 9112 §3.2.3 */
        h->target_form = HZ__TF_AUTHORITY;
        h->host_off = h->target_off;
        h->host_len = (uint32_t)n;
        return HZ__PE_NONE;
    }

    /* absolute-form: scheme "://" authority path-abempty [ "?" query ].
     * Requiring "//" keeps "host:port" from reading as scheme "host". */
    size_t i = 0;
    if ((unsigned)((t[0] | 0x20) - 'a') < 26u) {
        i = 1;
        while (i < n && (((unsigned)((t[i] | 0x20) - 'a') < 26u) || IS_DIGIT(t[i]) || t[i] == '+' ||
                         t[i] == '-' || t[i] == '.'))
            i++;
    }
    if (i == 0 || n - i < 3 || memcmp(t + i, "://", 3) != 0)
        return is_authority ? HZ__PE_TARGET_FORM : HZ__PE_TARGET;
    size_t scheme_len = i;
    size_t a = i + 3, ae = a;
    while (ae < n && t[ae] != '/' && t[ae] != '?')
        ae++;
    /* RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid */
    int web = (scheme_len == 4 && ieq(t, "http", 4)) || (scheme_len == 5 && ieq(t, "https", 5));
    if (!valid_authority(t + a, ae - a, web, 0))
        return HZ__PE_TARGET;
    if (h->method == HZ__M_CONNECT)
        return HZ__PE_TARGET_FORM;
    if (bad)
        return HZ__PE_TARGET;
    h->target_form = HZ__TF_ABSOLUTE;
    h->host_off = (uint32_t)(h->target_off + a);
    h->host_len = (uint32_t)(ae - a);
    h->path_off = (uint32_t)(h->target_off + ae);
    h->path_len = (uint32_t)(qend - (h->target_off + ae));
    return HZ__PE_NONE;
}

/* Framing facts kept in hz__parser.framing. */
enum {
    FR_CL = 1u << 0,         /* a Content-Length was seen */
    FR_TE = 1u << 1,         /* a Transfer-Encoding was seen */
    FR_TE_CHUNKED = 1u << 2, /* "chunked" appeared */
    FR_TE_LAST_CHUNKED = 1u << 3,
    FR_TE_UNKNOWN = 1u << 4,  /* a coding we do not implement appeared */
    FR_HOST_TARGET = 1u << 5, /* host comes from the target's authority */
};

/* Content-Length = 1*DIGIT, or a list of identical values (RFC 9110 §8.6).
 * At most 19 digits and at most 2^63 - 1, so it fits every signed offset. */
static hz__perr parse_content_length(hz__parser *p, hz__req_head *h, const unsigned char *v,
                                     size_t n)
{
    size_t i = 0;
    for (;;) {
        while (i < n && IS_OWS(v[i]))
            i++;
        size_t st = i;
        uint64_t val = 0;
        while (i < n && IS_DIGIT(v[i])) {
            if (i - st >= 19)
                return HZ__PE_CONTENT_LENGTH;
            val = val * 10 + (uint64_t)(v[i] - '0');
            i++;
        }
        if (i == st || val > (uint64_t)INT64_MAX)
            return HZ__PE_CONTENT_LENGTH;
        while (i < n && IS_OWS(v[i]))
            i++;
        if (p->framing & FR_CL) {
            if (val != h->content_length)
                return HZ__PE_CL_CONFLICT;
        } else {
            p->framing |= FR_CL;
            h->content_length = val;
        }
        if (i == n)
            return HZ__PE_NONE;
        if (v[i] != ',')
            return HZ__PE_CONTENT_LENGTH;
        i++;
    }
}

/* quoted-string at v[i] == '"'; returns the index after it, or 0. */
static size_t skip_quoted(const unsigned char *v, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (v[i] == '"')
            return i + 1;
        if (v[i] == '\\') { /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (++i >= n || !IS(v[i], C_VALUE))
                return 0;
        } else if (!IS(v[i], C_QDTEXT)) {
            return 0;
        }
    }
    return 0;
}

/* Transfer-Encoding = #transfer-coding; transfer-coding = token
 * *( OWS ";" OWS token BWS "=" BWS ( token / quoted-string ) )
 * (RFC 9110 §10.1.4). Empty list elements are ignored (§5.6.1). The final
 * coding is judged when the head is complete. */
static hz__perr parse_transfer_encoding(hz__parser *p, const unsigned char *v, size_t n)
{
    size_t i = 0;
    p->framing |= FR_TE;
    for (;;) {
        while (i < n && IS_OWS(v[i]))
            i++;
        if (i == n)
            return HZ__PE_NONE;
        if (v[i] == ',') {
            i++;
            continue;
        }
        size_t st = i;
        while (i < n && IS(v[i], C_TCHAR))
            i++;
        size_t tl = i - st;
        if (tl == 0)
            return HZ__PE_TE_INVALID;
        int params = 0;
        for (;;) {
            size_t k = i;
            while (k < n && IS_OWS(v[k]))
                k++;
            if (k == n || v[k] != ';') {
                i = k;
                break;
            }
            k++;
            while (k < n && IS_OWS(v[k]))
                k++;
            size_t ps = k;
            while (k < n && IS(v[k], C_TCHAR))
                k++;
            if (k == ps)
                return HZ__PE_TE_INVALID;
            while (k < n && IS_OWS(v[k]))
                k++;
            if (k == n || v[k] != '=')
                return HZ__PE_TE_INVALID;
            k++;
            while (k < n && IS_OWS(v[k]))
                k++;
            if (k < n && v[k] == '"') {
                k = skip_quoted(v, k, n);
                if (!k)
                    return HZ__PE_TE_INVALID;
            } else {
                ps = k;
                while (k < n && IS(v[k], C_TCHAR))
                    k++;
                if (k == ps)
                    return HZ__PE_TE_INVALID;
            }
            params = 1;
            i = k;
        }
        if (i < n && v[i] != ',')
            return HZ__PE_TE_INVALID;
        if (tl == 7 && ieq(v + st, "chunked", 7)) {
            /* RFC 9112 §6.1: chunked at most once; it has no parameters */
            if (params || (p->framing & FR_TE_CHUNKED))
                return HZ__PE_TE_INVALID;
            p->framing |= FR_TE_CHUNKED | FR_TE_LAST_CHUNKED;
        } else {
            p->framing |= FR_TE_UNKNOWN;
            p->framing &= ~(uint32_t)FR_TE_LAST_CHUNKED;
        }
    }
}

/* Calls fn on each non-empty element of a comma list, trimmed of OWS. */
static uint32_t list_flags(const unsigned char *v, size_t n,
                           uint32_t (*fn)(const unsigned char *s, size_t len))
{
    uint32_t flags = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (IS_OWS(v[i]) || v[i] == ','))
            i++;
        size_t st = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > st && IS_OWS(v[e - 1]))
            e--;
        if (e > st)
            flags |= fn(v + st, e - st);
    }
    return flags;
}

static uint32_t connection_option(const unsigned char *s, size_t n)
{
    if (n == 5 && ieq(s, "close", 5))
        return HZ__HF_CONN_CLOSE;
    if (n == 10 && ieq(s, "keep-alive", 10))
        return HZ__HF_CONN_KEEPALIVE;
    if (n == 7 && ieq(s, "upgrade", 7))
        return HZ__HF_CONN_UPGRADE;
    return 0;
}

static uint32_t expectation(const unsigned char *s, size_t n)
{
    /* RFC 9110 §10.1.1: "100-continue" is the only expectation defined */
    return (n == 12 && ieq(s, "100-continue", 12)) ? HZ__HF_EXPECT_CONTINUE : HZ__HF_EXPECT_OTHER;
}

/* The fields the parser itself must understand (framing, Host, connection
 * options). Called once per complete field line. */
static hz__perr special_field(hz__parser *p, hz__req_head *h, const unsigned char *b,
                              const hz__field *f)
{
    const unsigned char *name = b + f->name_off, *v = b + f->value_off;
    size_t vn = f->value_len;
    hz__perr err;

    switch (f->name_len) {
    case 4:
        if (!name_eq(name, "host", 4))
            break;
        /* RFC 9112 §3.2: more than one Host -> 400, even if identical */
        if (p->nhost++)
            return HZ__PE_HOST_DUPLICATE;
        {
            /* the usual reg-name [":" port] first, inline; the rest (IP
             * literals, %XX) in valid_authority */
            size_t k = 0;
            while (k < vn && IS(v[k], C_REG))
                k++;
            if (k < vn && v[k] == ':' && vn - k <= 6) {
                k++;
                while (k < vn && IS_DIGIT(v[k]))
                    k++;
            }
            if (k != vn && !valid_authority(v, vn, 0, 0))
                return HZ__PE_HOST_INVALID;
        }
        if (!(p->framing & FR_HOST_TARGET)) {
            h->host_off = f->value_off;
            h->host_len = (uint32_t)vn;
        }
        break;
    case 6:
        if (name_eq(name, "expect", 6))
            h->flags |= list_flags(v, vn, expectation);
        break;
    case 10:
        if (name_eq(name, "connection", 10))
            h->flags |= list_flags(v, vn, connection_option);
        break;
    case 14:
        if (!name_eq(name, "content-length", 14))
            break;
        err = parse_content_length(p, h, v, vn);
        if (err)
            return err;
        /* RFC 9112 §6.1: CL with TE is a smuggling signal: reject */
        if (p->framing & FR_TE)
            return HZ__PE_CL_AND_TE;
        break;
    case 17:
        if (!name_eq(name, "transfer-encoding", 17))
            break;
        /* RFC 9112 §6.1: TE in 1.0 means the framing is unreliable */
        if (h->version_minor == 0)
            return HZ__PE_TE_HTTP10;
        err = parse_transfer_encoding(p, v, vn);
        if (err)
            return err;
        if (p->framing & FR_CL)
            return HZ__PE_CL_AND_TE;
        break;
    default:
        break;
    }
    return HZ__PE_NONE;
}

/* ------------------------------------------------------------------------ */
/* The request-head state machine                                            */
/* ------------------------------------------------------------------------ */

enum {
    PS_EMPTY = 0, /* skipping empty lines before the request line */
    PS_METHOD,
    PS_TARGET,  /* aux: index + 1 of the first '?' */
    PS_VERSION, /* pos: first byte of the version */
    PS_NAME,    /* in a field name (at line_start: maybe the final CRLF) */
    PS_OWS,
    PS_VALUE, /* aux: value offset */
    PS_DONE,
    PS_ERROR,
};

void hz__parser_init(hz__parser *p, const hz__parse_limits *limits, hz__field *fields)
{
    /* p->head is only meaningful once a call has saved it (see "more:") */
    p->limits = limits;
    p->fields = fields;
    p->pos = 0;
    p->line_start = 0;
    p->start = 0;
    p->state = 0;
    p->aux = 0;
    p->error = HZ__PE_NONE;
    p->nhost = 0;
    p->framing = 0;
    p->target_bad = 0;
}

int hz__parse_request(hz__parser *p, hz__req_head *out, const char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    const hz__parse_limits *lim = p->limits;
    /* The head is built in *out directly (no copy in the common one-call
     * case); between calls it is kept in p->head. */
    hz__req_head *h = out;
    hz__field *f;
    size_t i = p->pos, ls = p->line_start, e, hb, lb;
    size_t aux = p->aux; /* PS_TARGET: index + 1 of the first '?'; PS_VALUE: value offset */
    uint32_t n;          /* fields so far */
    uint32_t nl = 0;     /* the current field's name length */
    size_t tq;           /* scan_target's copy of aux (its address is taken) */
    unsigned tbad;       /* the target holds a byte its component may not */
    unsigned state = p->state;
    hz__perr ek, err;
    unsigned char c;

    /* Every byte of the head must lie below hb; the return value is an int. */
    hb = lim->header_bytes < 0x7fffffffu ? lim->header_bytes : 0x7fffffffu;

/* e = the first index we may not read: the end of the data or a bound;
 * ek = the error for needing a byte at e (NONE: it just has not arrived). */
#define BOUND(bound, kind)                                                                         \
    do {                                                                                           \
        lb = (bound);                                                                              \
        e = len;                                                                                   \
        ek = HZ__PE_NONE;                                                                          \
        if (lb < e) {                                                                              \
            e = lb;                                                                                \
            ek = (kind);                                                                           \
        }                                                                                          \
        if (hb < e) {                                                                              \
            e = hb;                                                                                \
            ek = HZ__PE_HEAD_TOO_LARGE;                                                            \
        }                                                                                          \
    } while (0)
#define NEED(j, st)                                                                                \
    do {                                                                                           \
        if ((j) >= e) {                                                                            \
            state = (st);                                                                          \
            goto more;                                                                             \
        }                                                                                          \
    } while (0)
#define FAIL(kind)                                                                                 \
    do {                                                                                           \
        err = HZ__PE_##kind;                                                                       \
        goto fail;                                                                                 \
    } while (0)

    if (HZ__UNLIKELY(state >= PS_DONE))
        return state == PS_DONE ? (int)p->pos : HZ_EPROTO;
    if (HZ__UNLIKELY(len < i))
        return HZ_EAGAIN; /* fewer bytes than last time: nothing new to look at */
    if (state == PS_EMPTY)
        memset(h, 0, sizeof(*h));
    else
        *h = p->head;
    n = h->nfields;

    switch (state) {
    case PS_EMPTY:
    case PS_METHOD:
    case PS_TARGET:
    case PS_VERSION:
        BOUND(lim->request_line, HZ__PE_URI_TOO_LONG);
        if (state == PS_METHOD)
            goto method;
        if (state == PS_TARGET)
            goto target;
        if (state == PS_VERSION)
            goto version;
        break;
    default: /* PS_NAME, PS_OWS, PS_VALUE */
        BOUND(ls + lim->field_size, HZ__PE_FIELD_TOO_LARGE);
        if (state == PS_NAME)
            goto name;
        nl = p->fields[n].name_len;
        if (state == PS_OWS)
            goto ows;
        goto value;
    }

    /* RFC 9112 §2.2: empty lines before the request line SHOULD be ignored;
     * they count against request_line so a flood of them is bounded. */
    for (;;) {
        NEED(i, PS_EMPTY);
        c = b[i];
        if (c == '\r') {
            NEED(i + 1, PS_EMPTY);
            if (b[i + 1] != '\n')
                FAIL(LINE_ENDING);
            i += 2;
            continue;
        }
        if (c == '\n')
            FAIL(LINE_ENDING);
        break;
    }
    p->start = (uint32_t)i;
    h->method_off = (uint32_t)i;
    if (HZ__LIKELY(e - i >= 5)) { /* the two methods nearly every request uses */
        if (!memcmp(b + i, "GET ", 4)) {
            h->method = HZ__M_GET;
            h->method_len = 3;
            i += 4;
            h->target_off = (uint32_t)i;
            aux = 0;
            goto target;
        }
        if (!memcmp(b + i, "POST ", 5)) {
            h->method = HZ__M_POST;
            h->method_len = 4;
            i += 5;
            h->target_off = (uint32_t)i;
            aux = 0;
            goto target;
        }
    }

method:
    i = scan_token(b, i, e);
    NEED(i, PS_METHOD);
    if (HZ__UNLIKELY(b[i] != ' ' || i == p->start)) {
        c = b[i];
        if (c == '\n')
            FAIL(LINE_ENDING);
        if (c == ' ' || c == '\r')
            FAIL(REQUEST_LINE);
        FAIL(METHOD);
    }
    h->method_len = (uint32_t)(i - p->start);
    h->method = method_id(b + p->start, h->method_len);
    i++;
    h->target_off = (uint32_t)i;
    aux = 0;

target:
    tq = aux;
    tbad = p->target_bad;
    for (;;) {
        i = scan_target(b, i, e, &tq, &tbad);
        aux = tq;
        p->target_bad = tbad; /* for a later call, if this one ends in the target */
        NEED(i, PS_TARGET);
        c = b[i];
        if (c == ' ')
            break;
        if (c == '%') { /* pct-encoded = "%" HEXDIG HEXDIG, not all here yet, or bad */
            NEED(i + 1, PS_TARGET);
            if (!IS(b[i + 1], C_HEX))
                FAIL(TARGET);
            NEED(i + 2, PS_TARGET);
            if (!IS(b[i + 2], C_HEX))
                FAIL(TARGET);
            i += 3;
        } else if (c == '\r') {
            FAIL(VERSION); /* "GET /" CRLF: no version (HTTP/0.9 is not served) */
        } else if (c == '\n') {
            FAIL(LINE_ENDING);
        } else {
            FAIL(TARGET); /* '#' fragment, CTL, DEL, non-ASCII */
        }
    }
    if (HZ__UNLIKELY(i == h->target_off))
        FAIL(REQUEST_LINE); /* two spaces */
    h->target_len = (uint32_t)(i - h->target_off);
    err = check_target(h, b, aux, tbad);
    if (err)
        goto fail;
    if (h->target_form >= HZ__TF_ABSOLUTE && h->target_form <= HZ__TF_AUTHORITY)
        p->framing |= FR_HOST_TARGET;
    i++;

version:
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF (RFC 9112 §2.3) */
    if (HZ__LIKELY(e - i >= 10 && !memcmp(b + i, "HTTP/1.1\r\n", 10))) {
        h->version_minor = 1;
        i += 10;
    } else {
        static const char http[] = "HTTP/";
        for (size_t k = 0; k < 10; k++) {
            NEED(i + k, PS_VERSION);
            c = b[i + k];
            if (c == '\n' && k != 9)
                FAIL(LINE_ENDING);
            if (k < 5) {
                if (c != (unsigned char)http[k])
                    goto bad_version;
            } else if (k == 5 || k == 7) {
                if (!IS_DIGIT(c))
                    goto bad_version;
            } else if (k == 6) {
                if (c != '.')
                    goto bad_version;
            } else if (k == 8) {
                if (c != '\r')
                    goto bad_version;
                /* well-formed: RFC 9110 §2.5, 1.x (x > 1) is served as 1.1 */
                if (b[i + 5] != '1')
                    FAIL(VERSION_UNSUPPORTED);
            } else if (c != '\n') {
                FAIL(LINE_ENDING);
            }
            continue;
        bad_version:
            if (c == ' ' && (k == 0 || k == 8))
                FAIL(REQUEST_LINE); /* extra or trailing space */
            FAIL(VERSION);
        }
        h->version_minor = b[i + 7] == '0' ? 0 : 1;
        i += 10;
    }
    ls = i;
    n = 0;

    for (;;) {
        BOUND(ls + lim->field_size, HZ__PE_FIELD_TOO_LARGE);
    name:
        i = scan_token(b, i, e);
        NEED(i, PS_NAME);
        if (HZ__UNLIKELY(b[i] != ':' || i == ls)) {
            c = b[i];
            if (i == ls) {
                if (c == '\r') { /* the empty line: end of the head */
                    NEED(i + 1, PS_NAME);
                    if (b[i + 1] != '\n')
                        FAIL(LINE_ENDING);
                    i += 2;
                    goto complete;
                }
                if (c == ' ' || c == '\t')
                    FAIL(OBS_FOLD); /* RFC 9112 §5.2; also a first field line with leading WS */
            } else if (c == ' ' || c == '\t') {
                FAIL(WS_BEFORE_COLON); /* RFC 9112 §5.1: MUST reject */
            }
            if (c == '\n')
                FAIL(LINE_ENDING);
            FAIL(FIELD_NAME); /* empty name, no colon, not a token */
        }
        if (HZ__UNLIKELY(n >= lim->header_count))
            FAIL(TOO_MANY_FIELDS);
        f = &p->fields[n];
        f->name_off = (uint32_t)ls;
        nl = (uint32_t)(i - ls);
        f->name_len = nl;
        i++;
        if (HZ__LIKELY(e - i >= 2 && b[i] == ' ' && !IS_OWS(b[i + 1]))) {
            aux = ++i; /* the usual single SP */
            goto value;
        }
    ows:
        while (i < e && IS_OWS(b[i]))
            i++;
        NEED(i, PS_OWS);
        aux = i;
    value:
        i = scan_value(b, i, e);
        NEED(i, PS_VALUE);
        if (HZ__UNLIKELY(b[i] != '\r')) {
            if (b[i] == '\n')
                FAIL(LINE_ENDING);
            FAIL(FIELD_VALUE); /* NUL, CTL, DEL */
        }
        NEED(i + 1, PS_VALUE);
        if (HZ__UNLIKELY(b[i + 1] != '\n'))
            FAIL(LINE_ENDING);
        {
            size_t vo = aux, ve = i;
            while (ve > vo && IS_OWS(b[ve - 1]))
                ve--;
            f = &p->fields[n];
            f->value_off = (uint32_t)vo;
            f->value_len = (uint32_t)(ve - vo);
            /* only names of these lengths and first letters matter (most
             * other fields are skipped with one compare): Host, Expect,
             * Connection, Content-Length, Transfer-Encoding */
            static const unsigned char special_first[18] = {
                [4] = 'h', [6] = 'e', [10] = 'c', [14] = 'c', [17] = 't'};
            if (nl < sizeof(special_first) && special_first[nl] == (b[ls] | 0x20)) {
                err = special_field(p, h, b, f);
                if (err)
                    goto fail;
            }
            n++;
        }
        i += 2;
        ls = i;
    }

complete:
    /* RFC 9112 §6.3: chunked must be the final coding (else 400); a coding we
     * do not implement before it is 501 (RFC 9112 §6.1) */
    if (p->framing & FR_TE) {
        if (!(p->framing & FR_TE_LAST_CHUNKED))
            FAIL(TE_NOT_CHUNKED);
        if (p->framing & FR_TE_UNKNOWN)
            FAIL(TE_UNKNOWN);
        h->body_kind = HZ__BODY_CHUNKED;
    } else if (p->framing & FR_CL) {
        h->body_kind = HZ__BODY_LENGTH;
    } else {
        h->body_kind = HZ__BODY_NONE;
    }
    if (h->version_minor == 1 && p->nhost == 0)
        FAIL(HOST_MISSING); /* RFC 9112 §3.2 */
    h->head_len = (uint32_t)i;
    h->nfields = n;
    h->fields = p->fields;
    p->state = PS_DONE;
    p->pos = (uint32_t)i;
    p->line_start = (uint32_t)i;
    return (int)i;

more:
    if (ek == HZ__PE_NONE) {
        h->nfields = n;
        p->head = *h;
        p->aux = (uint32_t)aux;
        p->state = state;
        p->pos = (uint32_t)i;
        p->line_start = (uint32_t)ls;
        return HZ_EAGAIN;
    }
    err = ek;
    /* RFC 9112 §3: a method longer than any implemented SHOULD get 501; the
     * request-line bound is only a target's 414 once the method has ended. */
    if (err == HZ__PE_URI_TOO_LONG && state == PS_METHOD)
        err = HZ__PE_METHOD_TOO_LONG;
fail:
    p->state = PS_ERROR;
    p->error = err;
    p->pos = (uint32_t)i;
    return HZ_EPROTO;
#undef BOUND
#undef NEED
#undef FAIL
}

/* ------------------------------------------------------------------------ */
/* Chunked decoder (RFC 9112 §7.1)                                           */
/* ------------------------------------------------------------------------ */

enum {
    CS_SIZE0 = 0, /* first digit of chunk-size */
    CS_SIZE,      /* more digits; count: digits so far */
    CS_SIZE_BWS,  /* whitespace after the size: only ';' may follow */
    CS_EXT_NAME0, /* after ';' (BWS allowed) */
    CS_EXT_NAME,  /* in chunk-ext-name */
    CS_EXT_NAME_WS,
    CS_EXT_VAL0,   /* after '=' (BWS allowed) */
    CS_EXT_TOKEN,  /* in a token value */
    CS_EXT_QUOTED, /* in a quoted-string value */
    CS_EXT_QPAIR,  /* after '\' */
    CS_EXT_END,    /* right after a value: ';', CR or BWS */
    CS_EXT_END_WS, /* whitespace after a value: only ';' may follow */
    CS_LINE_LF,    /* CR of the chunk line seen */
    CS_DATA,
    CS_DATA_CR,
    CS_DATA_LF,
    CS_TR_LINE, /* start of a trailer line or of the final CRLF */
    CS_TR_NAME,
    CS_TR_VALUE,
    CS_TR_LF,
    CS_END_LF,
    CS_DONE,
    CS_ERROR,
};

void hz__chunked_init(hz__chunked *c, const hz__parse_limits *limits)
{
    memset(c, 0, sizeof(*c));
    c->limits = limits;
}

int hz__chunked_decode(hz__chunked *c, const char *buf, size_t len, size_t *consumed,
                       const char **data, size_t *data_len)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0;
    unsigned st = c->state;
    hz__perr err;

    *data = NULL;
    *data_len = 0;
    if (st == CS_DONE) {
        *consumed = 0;
        return 0;
    }
    if (st == CS_ERROR) {
        *consumed = 0;
        return HZ_EPROTO;
    }

#define CFAIL(kind)                                                                                \
    do {                                                                                           \
        err = HZ__PE_##kind;                                                                       \
        goto fail;                                                                                 \
    } while (0)
/* extension bytes (everything after the size up to CR) are bounded */
#define EXT_BYTE()                                                                                 \
    do {                                                                                           \
        if (++c->count > c->limits->chunk_ext)                                                     \
            CFAIL(CHUNK_EXT_TOO_LONG);                                                             \
    } while (0)
#define TRAILER_BYTE()                                                                             \
    do {                                                                                           \
        if (++c->trailer_bytes > c->limits->trailer_bytes)                                         \
            CFAIL(TRAILER_TOO_LARGE);                                                              \
    } while (0)

    while (i < len) {
        unsigned ch = b[i];
        if (HZ__UNLIKELY(ch == '\n') && st < CS_LINE_LF)
            CFAIL(LINE_ENDING); /* bare LF in a chunk line */
        switch (st) {
        case CS_SIZE0:
            if (hexval(ch) < 0) {
                if (ch == '\n')
                    CFAIL(LINE_ENDING);
                CFAIL(CHUNK_SIZE); /* empty size, "-", SP, junk */
            }
            c->remaining = (uint64_t)hexval(ch);
            c->count = 1;
            st = CS_SIZE;
            break;
        case CS_SIZE: {
            int d = hexval(ch);
            if (d >= 0) {
                /* leading zeros are fine, but the line stays bounded */
                if (++c->count > 32 || c->remaining > ((uint64_t)INT64_MAX >> 4))
                    CFAIL(CHUNK_SIZE);
                c->remaining = (c->remaining << 4) | (uint64_t)d;
                break;
            }
            c->count = 0;
            if (ch == '\r') {
                st = CS_LINE_LF;
            } else if (ch == ';') {
                EXT_BYTE();
                st = CS_EXT_NAME0;
            } else if (ch == ' ' || ch == '\t') {
                EXT_BYTE();
                st = CS_SIZE_BWS;
            } else if (ch == '\n') {
                CFAIL(LINE_ENDING);
            } else {
                CFAIL(CHUNK_SIZE); /* "0x5", "0_2e", trailing junk */
            }
            break;
        }
        case CS_SIZE_BWS:
            EXT_BYTE();
            if (ch == ';')
                st = CS_EXT_NAME0;
            else if (ch != ' ' && ch != '\t')
                CFAIL(CHUNK_SIZE); /* "5 " CRLF: BWS only before ';' */
            break;
        case CS_EXT_NAME0:
            EXT_BYTE();
            if (IS(ch, C_TCHAR))
                st = CS_EXT_NAME;
            else if (ch != ' ' && ch != '\t')
                CFAIL(CHUNK_EXT);
            break;
        case CS_EXT_NAME:
            if (ch == '\r') {
                st = CS_LINE_LF;
                break;
            }
            EXT_BYTE();
            if (ch == '=')
                st = CS_EXT_VAL0;
            else if (ch == ';')
                st = CS_EXT_NAME0;
            else if (ch == ' ' || ch == '\t')
                st = CS_EXT_NAME_WS;
            else if (!IS(ch, C_TCHAR))
                CFAIL(CHUNK_EXT);
            break;
        case CS_EXT_NAME_WS:
            EXT_BYTE();
            if (ch == '=')
                st = CS_EXT_VAL0;
            else if (ch == ';')
                st = CS_EXT_NAME0;
            else if (ch != ' ' && ch != '\t')
                CFAIL(CHUNK_EXT);
            break;
        case CS_EXT_VAL0:
            EXT_BYTE();
            if (ch == '"')
                st = CS_EXT_QUOTED;
            else if (IS(ch, C_TCHAR))
                st = CS_EXT_TOKEN;
            else if (ch != ' ' && ch != '\t')
                CFAIL(CHUNK_EXT);
            break;
        case CS_EXT_TOKEN:
            if (IS(ch, C_TCHAR)) {
                EXT_BYTE();
                break;
            }
            st = CS_EXT_END;
            continue; /* re-examine this byte */
        case CS_EXT_QUOTED:
            EXT_BYTE();
            if (ch == '"')
                st = CS_EXT_END;
            else if (ch == '\\')
                st = CS_EXT_QPAIR;
            else if (!IS(ch, C_QDTEXT))
                CFAIL(CHUNK_EXT);
            break;
        case CS_EXT_QPAIR:
            EXT_BYTE();
            if (!IS(ch, C_VALUE))
                CFAIL(CHUNK_EXT);
            st = CS_EXT_QUOTED;
            break;
        case CS_EXT_END:
            if (ch == '\r') {
                st = CS_LINE_LF;
                break;
            }
            EXT_BYTE();
            if (ch == ';')
                st = CS_EXT_NAME0;
            else if (ch == ' ' || ch == '\t')
                st = CS_EXT_END_WS;
            else if (ch == '\n')
                CFAIL(LINE_ENDING);
            else
                CFAIL(CHUNK_EXT);
            break;
        case CS_EXT_END_WS:
            EXT_BYTE();
            if (ch == ';')
                st = CS_EXT_NAME0;
            else if (ch != ' ' && ch != '\t')
                CFAIL(CHUNK_EXT);
            break;
        case CS_LINE_LF:
            if (ch != '\n')
                CFAIL(LINE_ENDING);
            st = c->remaining ? CS_DATA : CS_TR_LINE;
            break;
        case CS_DATA: {
            size_t n = len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            c->remaining -= n;
            if (!c->remaining)
                st = CS_DATA_CR;
            c->state = st;
            *data = buf + i;
            *data_len = n;
            *consumed = i + n;
            return HZ__CHUNK_DATA;
        }
        case CS_DATA_CR:
            if (ch != '\r')
                CFAIL(CHUNK_DATA_CRLF);
            st = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (ch != '\n')
                CFAIL(CHUNK_DATA_CRLF);
            st = CS_SIZE0;
            break;
        case CS_TR_LINE:
            if (ch == '\r') {
                st = CS_END_LF;
                break;
            }
            if (ch == '\n')
                CFAIL(LINE_ENDING);
            TRAILER_BYTE();
            if (!IS(ch, C_TCHAR))
                CFAIL(TRAILER); /* obs-fold, empty name, junk */
            st = CS_TR_NAME;
            break;
        case CS_TR_NAME:
            if (ch == '\n')
                CFAIL(LINE_ENDING);
            TRAILER_BYTE();
            if (ch == ':')
                st = CS_TR_VALUE;
            else if (!IS(ch, C_TCHAR))
                CFAIL(TRAILER); /* whitespace before ':', no colon */
            break;
        case CS_TR_VALUE:
            if (ch == '\n')
                CFAIL(LINE_ENDING);
            TRAILER_BYTE();
            if (ch == '\r')
                st = CS_TR_LF;
            else if (!IS(ch, C_VALUE))
                CFAIL(TRAILER);
            break;
        case CS_TR_LF:
            if (ch != '\n')
                CFAIL(LINE_ENDING);
            TRAILER_BYTE();
            st = CS_TR_LINE;
            break;
        case CS_END_LF:
            if (ch != '\n')
                CFAIL(LINE_ENDING);
            c->state = CS_DONE;
            *consumed = i + 1;
            return 0;
        default:
            CFAIL(CHUNK_SIZE);
        }
        i++;
    }
    c->state = st;
    *consumed = len;
    return HZ_EAGAIN;

fail:
    c->state = CS_ERROR;
    c->error = err;
    *consumed = i;
    return HZ_EPROTO;
#undef CFAIL
#undef EXT_BYTE
#undef TRAILER_BYTE
}
