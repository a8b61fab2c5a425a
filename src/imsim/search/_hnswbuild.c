/*
 * HNSW graph construction for uint8 vectors under L1, in FAISS's layout.
 *
 * FAISS's IndexHNSWFlat keeps float32 vectors and spends most of its build in
 * float L1 distances (3,136 bytes per MNIST row). Here the graph is built on the
 * uint8 rows themselves with the SIMD sum of absolute differences (784 bytes, 13
 * instructions per distance), following FAISS's algorithm step for step: greedy
 * descent through the upper levels, a beam search of width efConstruction on each
 * level of the new point, FAISS's neighbour-selection heuristic
 * (shrink_neighbor_list), links both ways with the same pruning when a list is
 * full. The caller (hnsw.py) draws the levels as FAISS does, passes FAISS's
 * offsets and neighbour-count table, and hands the finished arrays to a FAISS
 * index, which searches, saves and loads it as if it had built it.
 *
 * Distances are exact integers, so the graph does not depend on the instruction set.
 * One thread: the caller releases the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define IMSIM_X86 1
#include <immintrin.h>
#endif

typedef int32_t (*sad_fn)(const uint8_t *a, const uint8_t *b, Py_ssize_t d);

static int32_t sad_scalar(const uint8_t *a, const uint8_t *b, Py_ssize_t d)
{
    int32_t s = 0;
    for (Py_ssize_t j = 0; j < d; j++) {
        int t = (int)a[j] - (int)b[j];
        s += t < 0 ? -t : t;
    }
    return s;
}

#ifdef IMSIM_X86
__attribute__((target("avx2")))
static int32_t sad_avx2(const uint8_t *a, const uint8_t *b, Py_ssize_t d)
{
    __m256i s = _mm256_setzero_si256();
    Py_ssize_t j = 0;
    for (; j + 32 <= d; j += 32)
        s = _mm256_add_epi64(s, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(a + j)),
                                                _mm256_loadu_si256((const __m256i *)(b + j))));
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi64(h, _mm_unpackhi_epi64(h, h));
    return (int32_t)_mm_cvtsi128_si64(h) + sad_scalar(a + j, b + j, d - j);
}

__attribute__((target("avx512f,avx512bw")))
static int32_t sad_avx512(const uint8_t *a, const uint8_t *b, Py_ssize_t d)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    Py_ssize_t j = 0;
    for (; j + 128 <= d; j += 128) {
        s0 = _mm512_add_epi64(s0, _mm512_sad_epu8(_mm512_loadu_si512((const void *)(a + j)),
                                                  _mm512_loadu_si512((const void *)(b + j))));
        s1 = _mm512_add_epi64(s1, _mm512_sad_epu8(_mm512_loadu_si512((const void *)(a + j + 64)),
                                                  _mm512_loadu_si512((const void *)(b + j + 64))));
    }
    for (; j < d; j += 64) { /* masked loads read nothing past the row */
        __mmask64 m = d - j >= 64 ? ~(__mmask64)0 : (__mmask64)((1ULL << (d - j)) - 1);
        s0 = _mm512_add_epi64(s0, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(m, a + j),
                                                  _mm512_maskz_loadu_epi8(m, b + j)));
    }
    return (int32_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1));
}
#endif

static sad_fn sad = sad_scalar;

/* ----------------------------------------------------------------- heaps */

typedef struct {
    int32_t d, id;
} Nd;

/* max-heap (sign = 1) or min-heap (sign = -1) on d */
static inline int above(Nd a, Nd b, int sign) { return sign > 0 ? a.d > b.d : a.d < b.d; }

static void heap_push(Nd *h, int *n, Nd x, int sign)
{
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!above(x, h[p], sign))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static Nd heap_pop(Nd *h, int *n, int sign)
{
    Nd top = h[0], x = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && above(h[c + 1], h[c], sign))
            c++;
        if (!above(h[c], x, sign))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = x;
    return top;
}

/* ---------------------------------------------------------------- builder */

typedef struct {
    const uint8_t *X;
    Py_ssize_t n, d;
    const int32_t *level;   /* level of each point (0 = bottom only) */
    const int64_t *offsets; /* first neighbour slot of each point */
    const int64_t *cum;     /* slots below each level: level l is [cum[l], cum[l+1]) */
    int32_t *nb;            /* neighbour slots, -1 = empty */
    int efc;
    int32_t *visited, stamp;
    Nd *cand, *res, *tmp, *sel; /* scratch */
    int32_t *ids;               /* scratch: neighbours to measure */
    int32_t entry, max_level;
} B;

static inline const uint8_t *row(const B *b, int32_t i) { return b->X + (Py_ssize_t)i * b->d; }

static inline void prefetch_row(const B *b, int32_t i)
{
#if defined(__GNUC__) || defined(__clang__)
    const uint8_t *x = row(b, i);
    for (Py_ssize_t o = 0; o < b->d; o += 64)
        __builtin_prefetch(x + o);
#else
    (void)b;
    (void)i;
#endif
}

static inline int32_t *links(const B *b, int32_t i, int lev, int *size)
{
    *size = (int)(b->cum[lev + 1] - b->cum[lev]);
    return b->nb + b->offsets[i] + b->cum[lev];
}

static void greedy(const B *b, const uint8_t *q, int lev, int32_t *ep, int32_t *dep)
{
    for (;;) {
        int32_t prev = *ep, size;
        const int32_t *l = links(b, prev, lev, &size);
        for (int s = 0; s < size && l[s] >= 0; s++) {
            int32_t dv = sad(q, row(b, l[s]), b->d);
            if (dv < *dep) {
                *ep = l[s];
                *dep = dv;
            }
        }
        if (*ep == prev)
            return;
    }
}

/* beam search of width ef on level lev from ep: the results, ascending, in b->res
   (sorted in place); returns their number */
static int search_layer(B *b, const uint8_t *q, int32_t ep, int32_t dep, int lev, int ef)
{
    if (++b->stamp == INT32_MAX) {
        memset(b->visited, 0, (size_t)b->n * sizeof(int32_t));
        b->stamp = 1;
    }
    int nc = 0, nr = 0;
    Nd e = {dep, ep};
    heap_push(b->cand, &nc, e, -1);
    heap_push(b->res, &nr, e, 1);
    b->visited[ep] = b->stamp;
    while (nc > 0) {
        Nd c = heap_pop(b->cand, &nc, -1);
        if (c.d > b->res[0].d)
            break;
        int size, m = 0;
        const int32_t *l = links(b, c.id, lev, &size);
        /* the unvisited neighbours first, their rows prefetched, so that the
           distances wait for memory once rather than once per row */
        for (int s = 0; s < size && l[s] >= 0; s++) {
            int32_t v = l[s];
            if (b->visited[v] == b->stamp)
                continue;
            b->visited[v] = b->stamp;
            b->ids[m++] = v;
            prefetch_row(b, v);
        }
        for (int t = 0; t < m; t++) {
            int32_t v = b->ids[t];
            int32_t dv = sad(q, row(b, v), b->d);
            if (nr < ef || dv < b->res[0].d) {
                Nd x = {dv, v};
                heap_push(b->cand, &nc, x, -1);
                heap_push(b->res, &nr, x, 1);
                if (nr > ef)
                    heap_pop(b->res, &nr, 1);
            }
        }
    }
    for (int i = nr; i > 0; i--) { /* heap -> ascending */
        int m = i;
        Nd top = heap_pop(b->res, &m, 1);
        b->res[i - 1] = top;
    }
    return nr;
}

/* FAISS's shrink_neighbor_list: from `in` (ascending, count of them) keep those
   closer to the point than to every neighbour kept before them, at most max_size;
   fewer than max_size candidates are all kept. Returns how many are in `out`. */
static int shrink(const B *b, const Nd *in, int count, int max_size, Nd *out)
{
    if (count < max_size) {
        memmove(out, in, (size_t)count * sizeof(Nd));
        return count;
    }
    int no = 0;
    for (int i = 0; i < count; i++) {
        int good = 1;
        for (int j = 0; j < no && good; j++)
            good = sad(row(b, out[j].id), row(b, in[i].id), b->d) >= in[i].d;
        if (good) {
            out[no++] = in[i];
            if (no >= max_size)
                break;
        }
    }
    return no;
}

/* FAISS's add_link: dest into src's list on level lev, pruning a full list */
static void add_link(B *b, int32_t src, int32_t dest, int lev)
{
    int size;
    int32_t *l = links(b, src, lev, &size);
    if (l[size - 1] < 0) {
        int i = size;
        while (i > 0 && l[i - 1] < 0)
            i--;
        l[i] = dest;
        return;
    }
    const uint8_t *x = row(b, src);
    int m = 0;
    Nd *t = b->tmp;
    t[m++] = (Nd){sad(x, row(b, dest), b->d), dest};
    for (int s = 0; s < size; s++)
        t[m++] = (Nd){sad(x, row(b, l[s]), b->d), l[s]};
    for (int i = 1; i < m; i++) { /* insertion sort, ascending (stable) */
        Nd v = t[i];
        int j = i;
        while (j > 0 && t[j - 1].d > v.d) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = v;
    }
    int kept = shrink(b, t, m, size, t);
    for (int s = 0; s < size; s++)
        l[s] = s < kept ? t[s].id : -1;
}

static void insert(B *b, int32_t q)
{
    int L = b->level[q];
    if (b->entry < 0) {
        b->entry = q;
        b->max_level = L;
        return;
    }
    const uint8_t *x = row(b, q);
    int32_t ep = b->entry, dep = sad(x, row(b, ep), b->d);
    int lev = b->max_level;
    for (; lev > L; lev--)
        greedy(b, x, lev, &ep, &dep);
    for (; lev >= 0; lev--) {
        int nr = search_layer(b, x, ep, dep, lev, b->efc);
        ep = b->res[0].id; /* the nearest found enters the next level down */
        dep = b->res[0].d;
        int size;
        links(b, q, lev, &size);
        int ns = shrink(b, b->res, nr, size, b->sel);
        for (int i = 0; i < ns; i++)
            add_link(b, q, b->sel[i].id, lev);
        for (int i = 0; i < ns; i++)
            add_link(b, b->sel[i].id, q, lev);
    }
    if (L > b->max_level) {
        b->entry = q;
        b->max_level = L;
    }
}

/* build(X, d, level, offsets, cum, neighbors, ef_construction) -> (entry, max_level)
   X: n x d uint8; level: int32 (n); offsets: int64 (n + 1); cum: int64 (levels + 1);
   neighbors: int32 (offsets[n]), all -1 on entry. */
static PyObject *py_build(PyObject *self, PyObject *args)
{
    Py_buffer X, LV, OF, CU, NB;
    Py_ssize_t d;
    int efc;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*w*i", &X, &d, &LV, &OF, &CU, &NB, &efc))
        return NULL;
    PyObject *res = NULL;
    B b;
    memset(&b, 0, sizeof(b));
    Py_ssize_t n = d > 0 ? X.len / d : 0, ncum = CU.len / 8;
    int ok = d > 0 && efc > 0 && n < INT32_MAX && LV.len >= n * 4 && OF.len >= (n + 1) * 8 && ncum >= 2;
    const int64_t *off = OF.buf, *cum = CU.buf;
    const int32_t *lv = LV.buf;
    int maxslots = 0;
    for (Py_ssize_t l = 0; ok && l + 1 < ncum; l++) {
        ok = cum[l + 1] > cum[l];
        if (ok && cum[l + 1] - cum[l] > maxslots)
            maxslots = (int)(cum[l + 1] - cum[l]);
    }
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = lv[i] >= 0 && lv[i] + 1 < ncum && off[i + 1] - off[i] == cum[lv[i] + 1] && off[i] >= 0;
    ok = ok && off[0] == 0 && NB.len >= off[n] * 4;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "inconsistent HNSW arrays");
        goto done;
    }
    b.X = X.buf;
    b.n = n;
    b.d = d;
    b.level = lv;
    b.offsets = off;
    b.cum = cum;
    b.nb = NB.buf;
    b.efc = efc;
    b.entry = -1;
    b.max_level = -1;
    b.visited = calloc((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    b.cand = malloc((size_t)(n + 1) * sizeof(Nd));
    b.res = malloc((size_t)(efc + 2) * sizeof(Nd));
    b.tmp = malloc((size_t)(maxslots + 1) * sizeof(Nd));
    b.sel = malloc((size_t)(efc + 2) * sizeof(Nd));
    b.ids = malloc((size_t)(maxslots + 1) * sizeof(int32_t));
    if (!b.visited || !b.cand || !b.res || !b.tmp || !b.sel || !b.ids) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        insert(&b, (int32_t)i);
    Py_END_ALLOW_THREADS
    res = Py_BuildValue("ii", (int)b.entry, (int)b.max_level);
done:
    free(b.visited);
    free(b.cand);
    free(b.res);
    free(b.tmp);
    free(b.sel);
    free(b.ids);
    PyBuffer_Release(&X);
    PyBuffer_Release(&LV);
    PyBuffer_Release(&OF);
    PyBuffer_Release(&CU);
    PyBuffer_Release(&NB);
    return res;
}

static PyMethodDef methods[] = {
    {"build", py_build, METH_VARARGS,
     "build(X, d, level, offsets, cum, neighbors, ef_construction) -> (entry_point, max_level)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hnswbuild",
    "HNSW graph construction on uint8 vectors under L1, in FAISS's layout (see hnsw.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__hnswbuild(void)
{
#ifdef IMSIM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        sad = sad_avx512;
    else if (__builtin_cpu_supports("avx2"))
        sad = sad_avx2;
#endif
    return PyModule_Create(&module);
}
