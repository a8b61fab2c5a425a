/*
 * Exact L1 (Manhattan) distances for uint8 pixels and float32 latents.
 *
 * uint8: the SIMD sum-of-absolute-differences instruction (vpsadbw) adds the
 * |a - b| of 8 bytes into one 64-bit lane, so one instruction covers 64 pixels
 * (AVX-512BW) or 32 (AVX2). Four query rows are compared with four data rows at a
 * time (AVX-512: 16 accumulators in registers; AVX2, with half the registers, two
 * queries at a time), so each load feeds 4 SADs and the loads stay below the SAD
 * rate. Data rows come in tiles of 32 (25 KB, in L1) that every query of a block
 * of 512 (400 KB, in L2) passes over. Top-k selection is fused with the
 * distances: each 4 x 4 block is compared with the heaps' current k-th distances
 * at once and only a distance below them is pushed. Integer sums: every code
 * path gives the same result bit for bit.
 *
 * float32: a tile of data rows is transposed to (d, tile) so the same dimension of
 * 16 (or 8) rows sits in one register; the distance of each row is accumulated
 * dimension by dimension in order, acc = acc + |x_j - q_j|, exactly as the numpy
 * fallback in kernels.py does, so the float results are identical too (there is
 * no multiply, hence no fused-multiply-add that could round differently).
 *
 * The instruction set is picked once at import from what the CPU reports
 * (AVX-512BW with VL, AVX2, else portable C); `set_isa` forces a lower one for tests.
 *
 * Functions work on a range of queries and a range of data rows and release the
 * GIL, so kernels.py runs two ranges on two threads at once. Top-k results keep
 * a max-heap of (distance, id) per query: ties go to the smaller id.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define IMSIM_X86 1
#include <immintrin.h>
#endif

enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
static const char *ISA_NAMES[] = {"scalar", "avx2", "avx512"};
static int isa_best = ISA_SCALAR; /* what the CPU supports */
static int isa_used = ISA_SCALAR; /* what the kernels use now */

/* queries sharing one data tile: float32 tiles are transposed once per block of
   queries, so more queries share each */
#ifndef QB_U8
#define QB_U8 512 /* 512 * 784 bytes of queries stay in L2 */
#endif
#define QB_F32 256
#ifndef U8_TILE
#define U8_TILE 32 /* uint8 rows per tile: 32 * 784 bytes stay in L1 */
#endif
#define CAND 64     /* candidates gathered per batch in the candidate-list search */

/* ------------------------------------------------------------------ uint8 SAD */

/* out[r] = sum_j |a[j] - b[r][j]| for r = 0..3 */
typedef void (*sad4_fn)(const uint8_t *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out);

static void sad4_scalar(const uint8_t *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out)
{
    for (int r = 0; r < 4; r++) {
        const uint8_t *x = b[r];
        int32_t s = 0;
        for (Py_ssize_t j = 0; j < d; j++) {
            int t = (int)a[j] - (int)x[j];
            s += t < 0 ? -t : t;
        }
        out[r] = s;
    }
}


/* out[4 * i + r] = sum_j |a[i][j] - b[r][j]| for i = 0..1, r = 0..3: two queries
   share each data load, which halves the traffic from L2 */
typedef void (*sad8_fn)(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out);

static void sad8_scalar(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out)
{
    sad4_scalar(a[0], b, d, out);
    sad4_scalar(a[1], b, d, out + 4);
}

/* out[4 * i + r] = sum_j |a[i][j] - b[r][j]| for i, r = 0..3: four queries share
   each data load (AVX-512 has the 32 registers this needs; elsewhere it is two
   sad8 calls). Returns the bit mask of out[l] < bound[l] (0 when bound is NULL),
   so that a caller selecting the k nearest reads `out` back only when some
   distance qualifies (reading 4 bytes of a fresh 64-byte store is slow). */
typedef uint32_t (*sad16_fn)(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d,
                             int32_t *out, const int32_t *bound);

static sad8_fn sad8;

static uint32_t below(const int32_t *out, const int32_t *bound, int n)
{
    uint32_t mask = 0;
    for (int l = 0; bound != NULL && l < n; l++)
        mask |= (uint32_t)(out[l] < bound[l]) << l;
    return mask;
}

static uint32_t sad16_pairs(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d,
                            int32_t *out, const int32_t *bound)
{
    sad8(a, b, d, out);
    sad8(a + 2, b, d, out + 8);
    return below(out, bound, 16);
}

#ifdef IMSIM_X86
static inline int32_t sad_tail(const uint8_t *a, const uint8_t *x, Py_ssize_t j, Py_ssize_t d)
{
    int32_t s = 0;
    for (; j < d; j++) {
        int t = (int)a[j] - (int)x[j];
        s += t < 0 ? -t : t;
    }
    return s;
}

__attribute__((target("avx2")))
static void sad4_avx2(const uint8_t *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    Py_ssize_t j = 0;
    for (; j + 32 <= d; j += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + j));
        s0 = _mm256_add_epi64(s0, _mm256_sad_epu8(va, _mm256_loadu_si256((const __m256i *)(b[0] + j))));
        s1 = _mm256_add_epi64(s1, _mm256_sad_epu8(va, _mm256_loadu_si256((const __m256i *)(b[1] + j))));
        s2 = _mm256_add_epi64(s2, _mm256_sad_epu8(va, _mm256_loadu_si256((const __m256i *)(b[2] + j))));
        s3 = _mm256_add_epi64(s3, _mm256_sad_epu8(va, _mm256_loadu_si256((const __m256i *)(b[3] + j))));
    }
    if (j + 16 <= d) {
        __m128i va = _mm_loadu_si128((const __m128i *)(a + j));
        s0 = _mm256_add_epi64(s0, _mm256_zextsi128_si256(_mm_sad_epu8(va, _mm_loadu_si128((const __m128i *)(b[0] + j)))));
        s1 = _mm256_add_epi64(s1, _mm256_zextsi128_si256(_mm_sad_epu8(va, _mm_loadu_si128((const __m128i *)(b[1] + j)))));
        s2 = _mm256_add_epi64(s2, _mm256_zextsi128_si256(_mm_sad_epu8(va, _mm_loadu_si128((const __m128i *)(b[2] + j)))));
        s3 = _mm256_add_epi64(s3, _mm256_zextsi128_si256(_mm_sad_epu8(va, _mm_loadu_si128((const __m128i *)(b[3] + j)))));
        j += 16;
    }
    /* Each lane is below 2**32 (255 * d < 2**31 is checked in Python), so two
       sums share one 64-bit lane and one horizontal reduction serves both. */
    __m256i p01 = _mm256_add_epi64(s0, _mm256_slli_epi64(s1, 32));
    __m256i p23 = _mm256_add_epi64(s2, _mm256_slli_epi64(s3, 32));
    __m128i h01 = _mm_add_epi64(_mm256_castsi256_si128(p01), _mm256_extracti128_si256(p01, 1));
    __m128i h23 = _mm_add_epi64(_mm256_castsi256_si128(p23), _mm256_extracti128_si256(p23, 1));
    h01 = _mm_add_epi64(h01, _mm_unpackhi_epi64(h01, h01));
    h23 = _mm_add_epi64(h23, _mm_unpackhi_epi64(h23, h23));
    uint64_t v01 = (uint64_t)_mm_cvtsi128_si64(h01), v23 = (uint64_t)_mm_cvtsi128_si64(h23);
    out[0] = (int32_t)(uint32_t)v01 + sad_tail(a, b[0], j, d);
    out[1] = (int32_t)(v01 >> 32) + sad_tail(a, b[1], j, d);
    out[2] = (int32_t)(uint32_t)v23 + sad_tail(a, b[2], j, d);
    out[3] = (int32_t)(v23 >> 32) + sad_tail(a, b[3], j, d);
}

__attribute__((target("avx512f,avx512bw")))
static void sad4_avx512(const uint8_t *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    Py_ssize_t j = 0;
    for (; j + 64 <= d; j += 64) {
        __m512i va = _mm512_loadu_si512((const void *)(a + j));
        s0 = _mm512_add_epi64(s0, _mm512_sad_epu8(va, _mm512_loadu_si512((const void *)(b[0] + j))));
        s1 = _mm512_add_epi64(s1, _mm512_sad_epu8(va, _mm512_loadu_si512((const void *)(b[1] + j))));
        s2 = _mm512_add_epi64(s2, _mm512_sad_epu8(va, _mm512_loadu_si512((const void *)(b[2] + j))));
        s3 = _mm512_add_epi64(s3, _mm512_sad_epu8(va, _mm512_loadu_si512((const void *)(b[3] + j))));
    }
    if (j < d) { /* masked loads read nothing past the row */
        __mmask64 m = (__mmask64)((1ULL << (d - j)) - 1);
        __m512i va = _mm512_maskz_loadu_epi8(m, a + j);
        s0 = _mm512_add_epi64(s0, _mm512_sad_epu8(va, _mm512_maskz_loadu_epi8(m, b[0] + j)));
        s1 = _mm512_add_epi64(s1, _mm512_sad_epu8(va, _mm512_maskz_loadu_epi8(m, b[1] + j)));
        s2 = _mm512_add_epi64(s2, _mm512_sad_epu8(va, _mm512_maskz_loadu_epi8(m, b[2] + j)));
        s3 = _mm512_add_epi64(s3, _mm512_sad_epu8(va, _mm512_maskz_loadu_epi8(m, b[3] + j)));
    }
    uint64_t v01 = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s0, _mm512_slli_epi64(s1, 32)));
    uint64_t v23 = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s2, _mm512_slli_epi64(s3, 32)));
    out[0] = (int32_t)(uint32_t)v01;
    out[1] = (int32_t)(v01 >> 32);
    out[2] = (int32_t)(uint32_t)v23;
    out[3] = (int32_t)(v23 >> 32);
}

/* the sum of the four 64-bit lanes of x and of y, as one 64-bit number each
   below 2**32: x in the low half, y in the high half */
__attribute__((target("avx2")))
static inline uint64_t hsum2_avx2(__m256i x, __m256i y)
{
    __m256i p = _mm256_add_epi64(x, _mm256_slli_epi64(y, 32));
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    h = _mm_add_epi64(h, _mm_unpackhi_epi64(h, h));
    return (uint64_t)_mm_cvtsi128_si64(h);
}

/* written out with named accumulators and the tail first: with an array of
   accumulators and the tail after the loop, gcc 12 keeps the sums on the stack */
__attribute__((target("avx2")))
static void sad8_avx2(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out)
{
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s02 = s00, s03 = s00;
    __m256i s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    Py_ssize_t end = d / 32 * 32;
    if (end + 16 <= d) { /* one 16-byte step of the tail */
        __m128i a0 = _mm_loadu_si128((const __m128i *)(a[0] + end));
        __m128i a1 = _mm_loadu_si128((const __m128i *)(a[1] + end));
        __m128i v;
#define TAIL16(R)                                                                   \
        v = _mm_loadu_si128((const __m128i *)(b[R] + end));                         \
        s0##R = _mm256_zextsi128_si256(_mm_sad_epu8(a0, v));                        \
        s1##R = _mm256_zextsi128_si256(_mm_sad_epu8(a1, v));
        TAIL16(0) TAIL16(1) TAIL16(2) TAIL16(3)
#undef TAIL16
    }
    for (Py_ssize_t j = 0; j < end; j += 32) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a[0] + j));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a[1] + j));
        __m256i v;
#define STEP32(R)                                                                   \
        v = _mm256_loadu_si256((const __m256i *)(b[R] + j));                        \
        s0##R = _mm256_add_epi64(s0##R, _mm256_sad_epu8(a0, v));                    \
        s1##R = _mm256_add_epi64(s1##R, _mm256_sad_epu8(a1, v));
        STEP32(0) STEP32(1) STEP32(2) STEP32(3)
#undef STEP32
    }
    Py_ssize_t j = end + 16 <= d ? end + 16 : end; /* what is left: under 16 bytes */
    uint64_t v;
    v = hsum2_avx2(s00, s01);
    out[0] = (int32_t)(uint32_t)v + sad_tail(a[0], b[0], j, d);
    out[1] = (int32_t)(v >> 32) + sad_tail(a[0], b[1], j, d);
    v = hsum2_avx2(s02, s03);
    out[2] = (int32_t)(uint32_t)v + sad_tail(a[0], b[2], j, d);
    out[3] = (int32_t)(v >> 32) + sad_tail(a[0], b[3], j, d);
    v = hsum2_avx2(s10, s11);
    out[4] = (int32_t)(uint32_t)v + sad_tail(a[1], b[0], j, d);
    out[5] = (int32_t)(v >> 32) + sad_tail(a[1], b[1], j, d);
    v = hsum2_avx2(s12, s13);
    out[6] = (int32_t)(uint32_t)v + sad_tail(a[1], b[2], j, d);
    out[7] = (int32_t)(v >> 32) + sad_tail(a[1], b[3], j, d);
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static void sad8_avx512(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d, int32_t *out)
{
    __m512i s[8];
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_setzero_si512();
    Py_ssize_t j = 0;
    for (; j + 64 <= d; j += 64) {
        __m512i a0 = _mm512_loadu_si512((const void *)(a[0] + j));
        __m512i a1 = _mm512_loadu_si512((const void *)(a[1] + j));
        for (int r = 0; r < 4; r++) {
            __m512i vb = _mm512_loadu_si512((const void *)(b[r] + j));
            s[r] = _mm512_add_epi64(s[r], _mm512_sad_epu8(a0, vb));
            s[4 + r] = _mm512_add_epi64(s[4 + r], _mm512_sad_epu8(a1, vb));
        }
    }
    /* the rest in 256-bit steps, the last one masked so that it reads nothing past
       the row: a 16-byte tail (784 = 12 * 64 + 16) costs half a 512-bit step */
    for (; j < d; j += 32) {
        __mmask32 m = d - j >= 32 ? ~(__mmask32)0 : (__mmask32)((1U << (d - j)) - 1);
        __m256i a0 = _mm256_maskz_loadu_epi8(m, a[0] + j);
        __m256i a1 = _mm256_maskz_loadu_epi8(m, a[1] + j);
        for (int r = 0; r < 4; r++) {
            __m256i vb = _mm256_maskz_loadu_epi8(m, b[r] + j);
            s[r] = _mm512_add_epi64(s[r], _mm512_zextsi256_si512(_mm256_sad_epu8(a0, vb)));
            s[4 + r] = _mm512_add_epi64(s[4 + r], _mm512_zextsi256_si512(_mm256_sad_epu8(a1, vb)));
        }
    }
    for (int i = 0; i < 8; i += 2) { /* two sums per 64-bit lane, as in sad4_avx2 */
        uint64_t v = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s[i], _mm512_slli_epi64(s[i + 1], 32)));
        out[i] = (int32_t)(uint32_t)v;
        out[i + 1] = (int32_t)(v >> 32);
    }
}
#endif

#ifdef IMSIM_X86
/* lane l of the result: the sum of the 8 lanes of v[l] */
__attribute__((target("avx512f")))
static inline __m512i hsum8x8(const __m512i *v)
{
    __m512i u[4], w[2];
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi64(_mm512_unpacklo_epi64(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi64(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_epi64(_mm512_shuffle_i64x2(u[2 * i], u[2 * i + 1], 0x88),
                                _mm512_shuffle_i64x2(u[2 * i], u[2 * i + 1], 0xDD));
    return _mm512_add_epi64(_mm512_shuffle_i64x2(w[0], w[1], 0x88),
                            _mm512_shuffle_i64x2(w[0], w[1], 0xDD));
}

/* the 4 x 4 block body, written out so that the 16 accumulators stay in registers
   (an array indexed in loops ends up on the stack) */
#define SAD16_ROW(R, VB)                                                       \
    do {                                                                       \
        __m512i vb_ = (VB);                                                    \
        s0##R = _mm512_add_epi64(s0##R, _mm512_sad_epu8(a0, vb_));            \
        s1##R = _mm512_add_epi64(s1##R, _mm512_sad_epu8(a1, vb_));            \
        s2##R = _mm512_add_epi64(s2##R, _mm512_sad_epu8(a2, vb_));            \
        s3##R = _mm512_add_epi64(s3##R, _mm512_sad_epu8(a3, vb_));            \
    } while (0)
#define SAD16_STEP(LOAD)                                                       \
    do {                                                                       \
        __m512i a0 = LOAD(a[0]), a1 = LOAD(a[1]), a2 = LOAD(a[2]), a3 = LOAD(a[3]); \
        SAD16_ROW(0, LOAD(b[0]));                                              \
        SAD16_ROW(1, LOAD(b[1]));                                              \
        SAD16_ROW(2, LOAD(b[2]));                                              \
        SAD16_ROW(3, LOAD(b[3]));                                              \
    } while (0)
/* tail rows side by side: lanes 2r, 2r + 1 of t belong to row r */
#define SAD16_TAIL(I, A)                                                       \
    do {                                                                       \
        __m512i t_ = _mm512_sad_epu8(_mm512_broadcast_i32x4(_mm_maskz_loadu_epi8(m, (A) + j)), vb); \
        s##I##0 = _mm512_mask_add_epi64(s##I##0, 0x03, s##I##0, t_);          \
        s##I##1 = _mm512_mask_add_epi64(s##I##1, 0x0C, s##I##1, t_);          \
        s##I##2 = _mm512_mask_add_epi64(s##I##2, 0x30, s##I##2, t_);          \
        s##I##3 = _mm512_mask_add_epi64(s##I##3, 0xC0, s##I##3, t_);          \
    } while (0)
#define PAIR64(X, Y) _mm512_add_epi64((X), _mm512_slli_epi64((Y), 32))

__attribute__((target("avx512f,avx512bw,avx512vl")))
static uint32_t sad16_avx512(const uint8_t *const *a, const uint8_t *const *b, Py_ssize_t d,
                             int32_t *out, const int32_t *bound)
{
    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s02 = s00, s03 = s00;
    __m512i s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    __m512i s20 = s00, s21 = s00, s22 = s00, s23 = s00;
    __m512i s30 = s00, s31 = s00, s32 = s00, s33 = s00;
    /* the tail first: after the main loop only the reduction needs the sums, so
       the compiler keeps them in place (with the tail after it, gcc 12 copies all
       16 accumulators on every iteration) */
    Py_ssize_t j = d / 64 * 64;
    if (j < d && d - j <= 16) {
        /* a short tail (784 = 12 * 64 + 16): the 16-byte tails of the 4 data rows
           side by side in one register, each query's tail in all four 128-bit
           lanes, so one SAD per query covers the 4 rows */
        __mmask16 m = (__mmask16)((1U << (d - j)) - 1);
        __m512i vb = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(m, b[0] + j));
        vb = _mm512_inserti32x4(vb, _mm_maskz_loadu_epi8(m, b[1] + j), 1);
        vb = _mm512_inserti32x4(vb, _mm_maskz_loadu_epi8(m, b[2] + j), 2);
        vb = _mm512_inserti32x4(vb, _mm_maskz_loadu_epi8(m, b[3] + j), 3);
        SAD16_TAIL(0, a[0]);
        SAD16_TAIL(1, a[1]);
        SAD16_TAIL(2, a[2]);
        SAD16_TAIL(3, a[3]);
    } else if (j < d) { /* masked loads read nothing past the row */
        __mmask64 m = (__mmask64)((1ULL << (d - j)) - 1);
#define LOAD_MASKED(P) _mm512_maskz_loadu_epi8(m, (P) + j)
        SAD16_STEP(LOAD_MASKED);
#undef LOAD_MASKED
    }
    Py_ssize_t end = j;
#define LOAD_FULL(P) _mm512_loadu_si512((const void *)((P) + j))
    for (j = 0; j < end; j += 64)
        SAD16_STEP(LOAD_FULL);
#undef LOAD_FULL
    /* two sums per 64-bit lane (each is below 2**31), then one transposing
       reduction gives the 16 sums in order */
    __m512i p[8] = {PAIR64(s00, s01), PAIR64(s02, s03), PAIR64(s10, s11), PAIR64(s12, s13),
                    PAIR64(s20, s21), PAIR64(s22, s23), PAIR64(s30, s31), PAIR64(s32, s33)};
    __m512i v = hsum8x8(p);
    _mm512_storeu_si512((void *)out, v);
    return bound == NULL ? 0 : (uint32_t)_mm512_cmplt_epi32_mask(v, _mm512_loadu_si512((const void *)bound));
}
#undef SAD16_ROW
#undef SAD16_STEP
#undef SAD16_TAIL
#undef PAIR64
#endif

/* -------------------------------------------------------- float32 L1 on a tile */

/* out[p] = sum_j |T[j*ld + p] - q[j]| for p < n (n a multiple of 64, n <= ld) */
typedef void (*l1f_fn)(const float *q, const float *T, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t n, float *out);

static void l1f_scalar(const float *q, const float *T, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t n, float *out)
{
    for (Py_ssize_t p = 0; p < n; p++)
        out[p] = 0.0f;
    for (Py_ssize_t j = 0; j < d; j++) {
        const float *t = T + j * ld;
        float qj = q[j];
        for (Py_ssize_t p = 0; p < n; p++)
            out[p] += fabsf(t[p] - qj);
    }
}

#ifdef IMSIM_X86
__attribute__((target("avx2")))
static void l1f_avx2(const float *q, const float *T, Py_ssize_t d, Py_ssize_t ld,
                     Py_ssize_t n, float *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (Py_ssize_t p = 0; p < n; p += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (Py_ssize_t j = 0; j < d; j++) {
            const float *t = T + j * ld + p;
            __m256 qj = _mm256_set1_ps(q[j]);
            a0 = _mm256_add_ps(a0, _mm256_andnot_ps(sign, _mm256_sub_ps(_mm256_loadu_ps(t), qj)));
            a1 = _mm256_add_ps(a1, _mm256_andnot_ps(sign, _mm256_sub_ps(_mm256_loadu_ps(t + 8), qj)));
            a2 = _mm256_add_ps(a2, _mm256_andnot_ps(sign, _mm256_sub_ps(_mm256_loadu_ps(t + 16), qj)));
            a3 = _mm256_add_ps(a3, _mm256_andnot_ps(sign, _mm256_sub_ps(_mm256_loadu_ps(t + 24), qj)));
        }
        _mm256_storeu_ps(out + p, a0);
        _mm256_storeu_ps(out + p + 8, a1);
        _mm256_storeu_ps(out + p + 16, a2);
        _mm256_storeu_ps(out + p + 24, a3);
    }
}

__attribute__((target("avx512f")))
static void l1f_avx512(const float *q, const float *T, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t n, float *out)
{
    for (Py_ssize_t p = 0; p < n; p += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (Py_ssize_t j = 0; j < d; j++) {
            const float *t = T + j * ld + p;
            __m512 qj = _mm512_set1_ps(q[j]);
            a0 = _mm512_add_ps(a0, _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(t), qj)));
            a1 = _mm512_add_ps(a1, _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(t + 16), qj)));
            a2 = _mm512_add_ps(a2, _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(t + 32), qj)));
            a3 = _mm512_add_ps(a3, _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(t + 48), qj)));
        }
        _mm512_storeu_ps(out + p, a0);
        _mm512_storeu_ps(out + p + 16, a1);
        _mm512_storeu_ps(out + p + 32, a2);
        _mm512_storeu_ps(out + p + 48, a3);
    }
}
#endif

static sad4_fn sad4 = sad4_scalar;
static sad8_fn sad8 = sad8_scalar;
static sad16_fn sad16 = sad16_pairs;
static l1f_fn l1f = l1f_scalar;

static void use_isa(int isa)
{
    isa_used = isa;
    sad4 = sad4_scalar;
    sad8 = sad8_scalar;
    sad16 = sad16_pairs;
    l1f = l1f_scalar;
#ifdef IMSIM_X86
    if (isa == ISA_AVX2) {
        sad4 = sad4_avx2;
        sad8 = sad8_avx2;
        l1f = l1f_avx2;
    } else if (isa == ISA_AVX512) {
        sad4 = sad4_avx512;
        sad8 = sad8_avx512;
        sad16 = sad16_avx512;
        l1f = l1f_avx512;
    }
#endif
}

/* ------------------------------------------- one data set, one thread's scratch */

enum { KIND_U8 = 0, KIND_F32 = 1 };

typedef struct {
    int kind;
    Py_ssize_t d, tile;     /* dimensions, rows per data tile */
    Py_ssize_t ld;          /* float32: row stride of T, tile + 16 so that the d rows
                               do not all map to the same L1 cache sets */
    const uint8_t *Qb, *Xb; /* uint8 data */
    const float *Qf, *Xf;   /* float32 data */
    float *T;               /* float32: transposed tile, d x tile */
    int32_t *ibuf;          /* uint8: distances of up to four queries to one tile */
    float *fbuf;            /* float32: distances of one query to one tile */
} Ctx;

static Py_ssize_t round64(Py_ssize_t n) { return (n + 63) / 64 * 64; }

static int ctx_init(Ctx *c, int kind, Py_ssize_t d, const void *Q, const void *X)
{
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->d = d;
    if (kind == KIND_U8) {
        c->Qb = Q;
        c->Xb = X;
        c->tile = U8_TILE;
        /* four queries' distances to a tile, or one query's to a batch of candidates */
        c->ibuf = malloc(4 * (size_t)(c->tile > CAND ? c->tile : CAND) * sizeof(int32_t));
        return c->ibuf != NULL;
    }
    c->Qf = Q;
    c->Xf = X;
    /* ~256 KiB of transposed tile whatever d is, so it stays in L2 */
    Py_ssize_t t = 65536 / d / 64 * 64;
    c->tile = t < CAND ? CAND : (t > 4096 ? 4096 : t);
    c->ld = c->tile + 16;
    c->T = malloc((size_t)d * (size_t)c->ld * sizeof(float));
    c->fbuf = malloc((size_t)c->tile * sizeof(float));
    return c->T != NULL && c->fbuf != NULL;
}

static void ctx_free(Ctx *c)
{
    free(c->T);
    free(c->ibuf);
    free(c->fbuf);
}

/* float32: transpose rows ids[0..m) (or xb..xb+m when ids is NULL) into T */
static void tile_transpose(Ctx *c, Py_ssize_t xb, const int64_t *ids, Py_ssize_t m)
{
    Py_ssize_t d = c->d, ld = c->ld, mm = round64(m);
    for (Py_ssize_t p = 0; p < m; p++) {
        const float *x = c->Xf + (ids ? ids[p] : xb + p) * d;
        for (Py_ssize_t j = 0; j < d; j++)
            c->T[j * ld + p] = x[j];
    }
    for (Py_ssize_t j = 0; j < d; j++) /* padding rows: defined values, results unused */
        for (Py_ssize_t p = m; p < mm; p++)
            c->T[j * ld + p] = 0.0f;
}

/* row pointers of 4 data rows from p on; past m the last row repeats */
static inline void rows4(const Ctx *c, Py_ssize_t xb, const int64_t *ids, Py_ssize_t p,
                         Py_ssize_t m, const uint8_t **b)
{
    for (int r = 0; r < 4; r++) {
        Py_ssize_t pr = p + r < m ? p + r : m - 1;
        b[r] = c->Xb + (ids ? ids[pr] : xb + pr) * c->d;
    }
}

/* pointers of queries q .. q + nqr - 1 (nqr <= 4); past them the last repeats */
static inline void queries4(const Ctx *c, Py_ssize_t q, int nqr, const uint8_t **a)
{
    for (int i = 0; i < 4; i++)
        a[i] = c->Qb + (q + (i < nqr ? i : nqr - 1)) * c->d;
}

/* out[4 * i + r]: distance of query a[i] (i < nqr) to data row b[r], r < 4; returns
   the mask of out[l] < bound[l] as sad16 does */
static inline uint32_t sad_block(const uint8_t *const *a, int nqr, const uint8_t *const *b,
                                 Py_ssize_t d, int32_t *out, const int32_t *bound)
{
    if (nqr > 2)
        return sad16(a, b, d, out, bound);
    if (nqr == 2)
        sad8(a, b, d, out);
    else
        sad4(a[0], b, d, out);
    return below(out, bound, 4 * nqr);
}

/* uint8: ibuf[i * tile + p] = distance of query q + i (i < nqr <= 4) to row ids[p]
   (or xb + p when ids is NULL), p < m */
static void tile_dist_u8(Ctx *c, Py_ssize_t q, int nqr, Py_ssize_t xb, const int64_t *ids, Py_ssize_t m)
{
    const uint8_t *a[4], *b[4];
    int32_t out[16];
    queries4(c, q, nqr, a);
    for (Py_ssize_t p = 0; p < m; p += 4) {
        rows4(c, xb, ids, p, m, b);
        sad_block(a, nqr, b, c->d, out, NULL);
        for (int i = 0; i < nqr; i++)
            for (int r = 0; r < 4 && p + r < m; r++)
                c->ibuf[i * c->tile + p + r] = out[4 * i + r];
    }
}

/* float32: fbuf[p] = distance of query q to the p-th row transposed into T, p < m */
static void tile_dist_f32(Ctx *c, Py_ssize_t q, Py_ssize_t m)
{
    l1f(c->Qf + q * c->d, c->T, c->d, c->ld, round64(m), c->fbuf);
}

/* ------------------------------------------------------- top-k max-heaps */

/* the heap's root is its worst entry: largest distance, then largest id */
static inline int worse(double da, int64_t ia, double db, int64_t ib)
{
    return da > db || (da == db && ia > ib);
}

static void sift_down(double *hd, int64_t *hi, Py_ssize_t n, Py_ssize_t i)
{
    double d = hd[i];
    int64_t id = hi[i];
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && worse(hd[c + 1], hi[c + 1], hd[c], hi[c]))
            c++;
        if (!worse(hd[c], hi[c], d, id))
            break;
        hd[i] = hd[c];
        hi[i] = hi[c];
        i = c;
    }
    hd[i] = d;
    hi[i] = id;
}

typedef struct {
    double *d;
    int64_t *id;
    Py_ssize_t n, k;
} Heap;

static inline void heap_push(Heap *h, double d, int64_t id)
{
    if (h->n < h->k) {
        Py_ssize_t i = h->n++;
        while (i > 0) {
            Py_ssize_t p = (i - 1) / 2;
            if (!worse(d, id, h->d[p], h->id[p]))
                break;
            h->d[i] = h->d[p];
            h->id[i] = h->id[p];
            i = p;
        }
        h->d[i] = d;
        h->id[i] = id;
    } else if (worse(h->d[0], h->id[0], d, id)) {
        h->d[0] = d;
        h->id[0] = id;
        sift_down(h->d, h->id, h->k, 0);
    }
}

/* heap -> ascending (distance, id); missing entries become (+inf, -1) */
static void heap_finish(Heap *h)
{
    for (Py_ssize_t n = h->n - 1; n > 0; n--) {
        double d = h->d[0];
        int64_t id = h->id[0];
        h->d[0] = h->d[n];
        h->id[0] = h->id[n];
        h->d[n] = d;
        h->id[n] = id;
        sift_down(h->d, h->id, n, 0);
    }
    for (Py_ssize_t i = h->n; i < h->k; i++) {
        h->d[i] = INFINITY;
        h->id[i] = -1;
    }
}

/* Push v[p] with id xb + p for p < m. Ids rise through the scan, so only a
   strictly smaller distance can displace the root; most blocks of 64 hold none
   and are skipped by a comparison loop the compiler vectorises. */
#define DEFINE_SCAN(NAME, T)                                                        \
    static void NAME(Heap *h, const T *v, Py_ssize_t m, Py_ssize_t xb)              \
    {                                                                               \
        Py_ssize_t p = 0;                                                           \
        for (; p < m && h->n < h->k; p++)                                           \
            heap_push(h, (double)v[p], xb + p);                                     \
        while (p < m) {                                                             \
            Py_ssize_t e = p + 64 < m ? p + 64 : m;                                 \
            T thr = (T)h->d[0]; /* exact: the root came from a value of type T */   \
            int any = 0;                                                            \
            for (Py_ssize_t r = p; r < e; r++)                                      \
                any |= v[r] < thr;                                                  \
            if (any)                                                                \
                for (Py_ssize_t r = p; r < e; r++)                                  \
                    if (v[r] < (T)h->d[0])                                          \
                        heap_push(h, (double)v[r], xb + r);                         \
            p = e;                                                                  \
        }                                                                           \
    }
DEFINE_SCAN(scan_f32, float)

/* the distance below which a row enters the heap: ids rise through a scan, so
   once the heap is full only a strictly smaller distance displaces its root.
   uint8 distances are below 255 * d < 2**31 - 1, so INT32_MAX admits any. */
static inline int32_t heap_bound(const Heap *h)
{
    return h->n < h->k ? INT32_MAX : (int32_t)h->d[0];
}

/* uint8 top-k, selection fused with the distances: queries q .. q + nqr - 1
   (nqr <= 4, heaps h[0..nqr)) against rows xb .. xb + m. Each block of 4 x 4
   distances is compared with the heaps' bounds at once; most blocks hold no
   distance below them and never touch a heap. */
static void tile_topk_u8(Ctx *c, Heap *h, Py_ssize_t q, int nqr, Py_ssize_t xb, Py_ssize_t m)
{
    const uint8_t *a[4], *b[4];
    int32_t out[16], bound[16];
    queries4(c, q, nqr, a);
    for (int l = 0; l < 16; l++) /* missing queries: INT32_MIN admits nothing */
        bound[l] = l / 4 < nqr ? heap_bound(&h[l / 4]) : INT32_MIN;
    for (Py_ssize_t p = 0; p < m; p += 4) {
        rows4(c, xb, NULL, p, m, b);
        uint32_t mask = sad_block(a, nqr, b, c->d, out, bound);
        if (m - p < 4) /* repeated rows past the tile */
            mask &= 0x1111u * ((1u << (m - p)) - 1);
        for (int l = 0; mask != 0; l++, mask >>= 1) {
            int i = l / 4;
            if ((mask & 1) && out[l] < bound[l]) { /* the bound may have dropped since */
                heap_push(&h[i], (double)out[l], xb + p + l % 4);
                int32_t nb = heap_bound(&h[i]);
                for (int r = 0; r < 4; r++)
                    bound[4 * i + r] = nb;
            }
        }
    }
}

/* ------------------------------------------------------------- the drivers */

/* out[q * ld + x] for q in [q0, q1), x in [x0, x1); out is int32 (uint8) or float32 */
static void run_pairwise(Ctx *c, void *out, Py_ssize_t ld, Py_ssize_t q0, Py_ssize_t q1,
                         Py_ssize_t x0, Py_ssize_t x1)
{
    Py_ssize_t qbs = c->kind == KIND_U8 ? QB_U8 : QB_F32;
    for (Py_ssize_t qb = q0; qb < q1; qb += qbs) {
        Py_ssize_t qe = qb + qbs < q1 ? qb + qbs : q1;
        for (Py_ssize_t xb = x0; xb < x1; xb += c->tile) {
            Py_ssize_t m = xb + c->tile < x1 ? c->tile : x1 - xb;
            if (c->kind == KIND_U8) {
                for (Py_ssize_t q = qb; q < qe; q += 4) {
                    int nqr = qe - q < 4 ? (int)(qe - q) : 4;
                    tile_dist_u8(c, q, nqr, xb, NULL, m);
                    for (int i = 0; i < nqr; i++)
                        memcpy((int32_t *)out + (q + i) * ld + xb, c->ibuf + i * c->tile,
                               (size_t)m * sizeof(int32_t));
                }
            } else {
                tile_transpose(c, xb, NULL, m);
                for (Py_ssize_t q = qb; q < qe; q++) {
                    tile_dist_f32(c, q, m);
                    memcpy((float *)out + q * ld + xb, c->fbuf, (size_t)m * sizeof(float));
                }
            }
        }
    }
}

/* k nearest rows in [x0, x1) for queries [q0, q1): rows q of D, I (n_queries x k) */
static void run_topk(Ctx *c, Py_ssize_t k, double *D, int64_t *I, Py_ssize_t q0, Py_ssize_t q1,
                     Py_ssize_t x0, Py_ssize_t x1)
{
    Heap h[QB_U8 > QB_F32 ? QB_U8 : QB_F32];
    Py_ssize_t qbs = c->kind == KIND_U8 ? QB_U8 : QB_F32;
    for (Py_ssize_t qb = q0; qb < q1; qb += qbs) {
        Py_ssize_t qe = qb + qbs < q1 ? qb + qbs : q1;
        for (Py_ssize_t q = qb; q < qe; q++)
            h[q - qb] = (Heap){D + q * k, I + q * k, 0, k};
        for (Py_ssize_t xb = x0; xb < x1; xb += c->tile) {
            Py_ssize_t m = xb + c->tile < x1 ? c->tile : x1 - xb;
            if (c->kind == KIND_U8) {
                for (Py_ssize_t q = qb; q < qe; q += 4)
                    tile_topk_u8(c, &h[q - qb], q, qe - q < 4 ? (int)(qe - q) : 4, xb, m);
            } else {
                tile_transpose(c, xb, NULL, m);
                for (Py_ssize_t q = qb; q < qe; q++) {
                    tile_dist_f32(c, q, m);
                    scan_f32(&h[q - qb], c->fbuf, m, xb);
                }
            }
        }
        for (Py_ssize_t q = qb; q < qe; q++)
            heap_finish(&h[q - qb]);
    }
}

/* k nearest among each query's candidates ids[indptr[q]:indptr[q+1]]: duplicates
   skipped, at most `cap` distinct candidates checked (cap < 0: all).
   Returns -1 when an id is out of [0, n), -2 when out of memory, else 0. */
static int run_candidates(Ctx *c, Py_ssize_t k, const int64_t *indptr, const int64_t *ids,
                          Py_ssize_t n, Py_ssize_t cap, double *D, int64_t *I, int64_t *checked,
                          Py_ssize_t q0, Py_ssize_t q1)
{
    int32_t *stamp = calloc((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    if (stamp == NULL)
        return -2;
    int status = 0;
    int64_t batch[CAND];
    for (Py_ssize_t q = q0; q < q1 && status == 0; q++) {
        Heap h = {D + q * k, I + q * k, 0, k};
        Py_ssize_t seen = 0, m = 0;
        int32_t mark = (int32_t)(q - q0 + 1);
        for (int64_t t = indptr[q]; t <= indptr[q + 1]; t++) {
            int last = t == indptr[q + 1] || (cap >= 0 && seen >= cap);
            if (!last) {
                int64_t id = ids[t];
                if (id < 0 || id >= n) {
                    status = -1;
                    break;
                }
                if (stamp[id] == mark)
                    continue;
                stamp[id] = mark;
                batch[m++] = id;
                seen++;
            }
            if (m == CAND || (last && m > 0)) {
                if (c->kind == KIND_U8) {
                    tile_dist_u8(c, q, 1, 0, batch, m);
                    for (Py_ssize_t p = 0; p < m; p++)
                        heap_push(&h, c->ibuf[p], batch[p]);
                } else {
                    tile_transpose(c, 0, batch, m);
                    tile_dist_f32(c, q, m);
                    for (Py_ssize_t p = 0; p < m; p++)
                        heap_push(&h, c->fbuf[p], batch[p]);
                }
                m = 0;
            }
            if (last)
                break;
        }
        heap_finish(&h);
        checked[q] = seen;
    }
    free(stamp);
    return status;
}

/* ------------------------------------------------------------ Python glue */

static int check_len(Py_buffer *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name)
{
    if (b->len < items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected at least %zd", name,
                     b->len, items * itemsize);
        return 0;
    }
    return 1;
}

static int check_ranges(Py_ssize_t d, Py_ssize_t q0, Py_ssize_t q1, Py_ssize_t nq,
                        Py_ssize_t x0, Py_ssize_t x1, Py_ssize_t n)
{
    if (d < 1 || q0 < 0 || q1 < q0 || q1 > nq || x0 < 0 || x1 < x0 || x1 > n) {
        PyErr_SetString(PyExc_ValueError, "query or data range out of bounds");
        return 0;
    }
    return 1;
}

static PyObject *memory_error(void)
{
    return PyErr_NoMemory();
}

/* pairwise(kind, Q, X, d, out, ld, q0, q1, x0, x1) */
static PyObject *py_pairwise(PyObject *self, PyObject *args)
{
    int kind;
    Py_buffer Q, X, out;
    Py_ssize_t d, ld, q0, q1, x0, x1;
    if (!PyArg_ParseTuple(args, "iy*y*nw*nnnnn", &kind, &Q, &X, &d, &out, &ld, &q0, &q1, &x0, &x1))
        return NULL;
    PyObject *res = NULL;
    Py_ssize_t isz = kind == KIND_U8 ? 1 : 4;
    Py_ssize_t nq = d > 0 ? Q.len / (d * isz) : 0, n = d > 0 ? X.len / (d * isz) : 0;
    if (check_ranges(d, q0, q1, nq, x0, x1, n) && x1 <= ld &&
        check_len(&out, q1 > 0 ? (q1 - 1) * ld + x1 : 0, 4, "out")) {
        Ctx c;
        int ok = ctx_init(&c, kind, d, Q.buf, X.buf);
        if (ok) {
            Py_BEGIN_ALLOW_THREADS
            run_pairwise(&c, out.buf, ld, q0, q1, x0, x1);
            Py_END_ALLOW_THREADS
            res = Py_None;
            Py_INCREF(res);
        } else {
            memory_error();
        }
        ctx_free(&c);
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "leading dimension smaller than the data range");
    }
    PyBuffer_Release(&Q);
    PyBuffer_Release(&X);
    PyBuffer_Release(&out);
    return res;
}

/* topk(kind, Q, X, d, k, D, I, q0, q1, x0, x1) */
static PyObject *py_topk(PyObject *self, PyObject *args)
{
    int kind;
    Py_buffer Q, X, D, I;
    Py_ssize_t d, k, q0, q1, x0, x1;
    if (!PyArg_ParseTuple(args, "iy*y*nnw*w*nnnn", &kind, &Q, &X, &d, &k, &D, &I, &q0, &q1, &x0, &x1))
        return NULL;
    PyObject *res = NULL;
    Py_ssize_t isz = kind == KIND_U8 ? 1 : 4;
    Py_ssize_t nq = d > 0 ? Q.len / (d * isz) : 0, n = d > 0 ? X.len / (d * isz) : 0;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "k must be at least 1");
    } else if (check_ranges(d, q0, q1, nq, x0, x1, n) && check_len(&D, q1 * k, 8, "D") &&
               check_len(&I, q1 * k, 8, "I")) {
        Ctx c;
        if (ctx_init(&c, kind, d, Q.buf, X.buf)) {
            Py_BEGIN_ALLOW_THREADS
            run_topk(&c, k, D.buf, I.buf, q0, q1, x0, x1);
            Py_END_ALLOW_THREADS
            res = Py_None;
            Py_INCREF(res);
        } else {
            memory_error();
        }
        ctx_free(&c);
    }
    PyBuffer_Release(&Q);
    PyBuffer_Release(&X);
    PyBuffer_Release(&D);
    PyBuffer_Release(&I);
    return res;
}

/* candidates(kind, Q, X, d, k, indptr, ids, cap, D, I, checked, q0, q1) */
static PyObject *py_candidates(PyObject *self, PyObject *args)
{
    int kind;
    Py_buffer Q, X, P, C, D, I, N;
    Py_ssize_t d, k, cap, q0, q1;
    if (!PyArg_ParseTuple(args, "iy*y*nny*y*nw*w*w*nn", &kind, &Q, &X, &d, &k, &P, &C, &cap,
                          &D, &I, &N, &q0, &q1))
        return NULL;
    PyObject *res = NULL;
    Py_ssize_t isz = kind == KIND_U8 ? 1 : 4;
    Py_ssize_t nq = d > 0 ? Q.len / (d * isz) : 0, n = d > 0 ? X.len / (d * isz) : 0;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "k must be at least 1");
    } else if (check_ranges(d, q0, q1, nq, 0, 0, n) && check_len(&P, q1 + 1, 8, "indptr") &&
               check_len(&D, q1 * k, 8, "D") && check_len(&I, q1 * k, 8, "I") &&
               check_len(&N, q1, 8, "checked")) {
        const int64_t *indptr = P.buf;
        Py_ssize_t n_ids = C.len / 8;
        int ok = 1;
        for (Py_ssize_t q = q0; q < q1 && ok; q++)
            ok = indptr[q] >= 0 && indptr[q] <= indptr[q + 1] && indptr[q + 1] <= n_ids;
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "indptr is not a valid offset array for ids");
        } else {
            Ctx c;
            int status = -2;
            if (ctx_init(&c, kind, d, Q.buf, X.buf)) {
                Py_BEGIN_ALLOW_THREADS
                status = run_candidates(&c, k, indptr, C.buf, n, cap, D.buf, I.buf, N.buf, q0, q1);
                Py_END_ALLOW_THREADS
            }
            ctx_free(&c);
            if (status == 0) {
                res = Py_None;
                Py_INCREF(res);
            } else if (status == -1) {
                PyErr_Format(PyExc_ValueError, "candidate id out of range [0, %zd)", n);
            } else {
                memory_error();
            }
        }
    }
    PyBuffer_Release(&Q);
    PyBuffer_Release(&X);
    PyBuffer_Release(&P);
    PyBuffer_Release(&C);
    PyBuffer_Release(&D);
    PyBuffer_Release(&I);
    PyBuffer_Release(&N);
    return res;
}

static PyObject *py_isa(PyObject *self, PyObject *noargs)
{
    return PyUnicode_FromString(ISA_NAMES[isa_used]);
}

static PyObject *py_available_isas(PyObject *self, PyObject *noargs)
{
    PyObject *list = PyList_New(0);
    for (int i = 0; list != NULL && i <= isa_best; i++) {
        PyObject *s = PyUnicode_FromString(ISA_NAMES[i]);
        if (s == NULL || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(s);
    }
    return list;
}

static PyObject *py_set_isa(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    for (int i = 0; i <= ISA_AVX512; i++) {
        if (strcmp(name, ISA_NAMES[i]) == 0) {
            if (i > isa_best) {
                PyErr_Format(PyExc_ValueError, "this CPU does not support %s (best: %s)", name,
                             ISA_NAMES[isa_best]);
                return NULL;
            }
            use_isa(i);
            Py_RETURN_NONE;
        }
    }
    PyErr_Format(PyExc_ValueError, "unknown instruction set %s, expected scalar, avx2 or avx512", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"pairwise", py_pairwise, METH_VARARGS, "pairwise(kind, Q, X, d, out, ld, q0, q1, x0, x1)"},
    {"topk", py_topk, METH_VARARGS, "topk(kind, Q, X, d, k, D, I, q0, q1, x0, x1)"},
    {"candidates", py_candidates, METH_VARARGS,
     "candidates(kind, Q, X, d, k, indptr, ids, cap, D, I, checked, q0, q1)"},
    {"isa", py_isa, METH_NOARGS, "The instruction set the kernels use now."},
    {"available_isas", py_available_isas, METH_NOARGS, "Instruction sets this CPU supports."},
    {"set_isa", py_set_isa, METH_VARARGS, "Use another supported instruction set (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_l1kernel",
    "SIMD L1 distance kernels for uint8 and float32 (see kernels.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__l1kernel(void)
{
#ifdef IMSIM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        isa_best = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2"))
        isa_best = ISA_AVX2;
#endif
    use_isa(isa_best);
    PyObject *m = PyModule_Create(&module);
    if (m != NULL) {
        PyModule_AddIntConstant(m, "KIND_U8", KIND_U8);
        PyModule_AddIntConstant(m, "KIND_F32", KIND_F32);
    }
    return m;
}
