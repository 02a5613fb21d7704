// The `cpu` device of needle_edu: every kernel of the flat protocol (see the docstring of
// needle_edu/backend_ndarray/backend_numpy.py), in C++ with OpenMP threads.
//
// Each function checks its arguments cheaply before touching memory (students may call the
// module directly), dispatches on the dtype of its buffers (float32 or float64), and works in
// chunks of about a million elements, checking for Ctrl-C between chunks.
//
// The kernels notebook a06 asks for (compact, matmul) are marked `// BEGIN SOLUTION a06` ...
// `// END SOLUTION`: the a06 student build compiles this file with those lines replaced by a
// NotImplementedError, so that its cpu device cannot stand in for the student's C++.

#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define NEEDLE_POSIX 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#define NEEDLE_X86 1
#else
#define NEEDLE_X86 0
#endif

#if NEEDLE_X86 && defined(__GNUC__) && !defined(__clang__)
#define NEEDLE_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NEEDLE_SIMD_CLONES
#endif

namespace py = pybind11;

namespace needle_cpu {

using idx_t = std::int64_t;

constexpr std::size_t kAlign = 64;                 // one cache line, one AVX-512 register
constexpr idx_t kParallelMin = idx_t(1) << 15;     // below this many elements, one thread
constexpr idx_t kChunk = idx_t(1) << 20;           // elements between two Ctrl-C checks
constexpr int kMaxDims = 64;                       // as numpy

// ---------------------------------------------------------------------------------------
// Errors, threads, Ctrl-C
// ---------------------------------------------------------------------------------------

inline std::string to_str(const std::string& s) { return s; }
inline std::string to_str(const char* s) { return s; }
inline std::string to_str(const py::handle& h) { return py::str(h).cast<std::string>(); }
inline std::string to_str(long long v) { return std::to_string(v); }
inline std::string to_str(long v) { return std::to_string(v); }
inline std::string to_str(int v) { return std::to_string(v); }
inline std::string to_str(unsigned long v) { return std::to_string(v); }

template <typename... Args>
std::string cat(const Args&... args) {
  std::string s;
  (s.append(to_str(args)), ...);
  return s;
}

[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }

inline void check_signals() {
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// GNU OpenMP's thread pool does not survive fork(): a child process (multiprocessing, data
// loader workers) that opened a parallel region would hang. So a child runs on one thread.
bool g_forked_child = false;
void mark_forked_child() { g_forked_child = true; }

inline int max_threads() {
#ifdef _OPENMP
  return g_forked_child ? 1 : std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// The start of part t of [0, len) cut into `parts` pieces, rounded down to 16 elements so
// that two threads never write the same cache line.
inline idx_t split_point(idx_t len, int parts, int t) {
  if (t >= parts) return len;
  return (len / parts * t + (len % parts) * t / parts) & ~idx_t(15);
}

// Runs body(begin, end) over [0, n) items, each costing about `cost` elements of work.
// The items are taken in chunks of about kChunk elements a thread; a chunk big enough is cut into a
// few pieces per thread, handed out dynamically (so a thread the OS delays holds up little),
// and Ctrl-C is checked between chunks (in this, the calling thread).
// `body` runs inside an OpenMP region, so it must not throw or touch Python.
template <class Body>
void parallel_chunks(idx_t n, idx_t cost, Body&& body, idx_t min_parallel = kParallelMin) {
  if (n <= 0) return;
  cost = std::max<idx_t>(cost, 1);
  const int nt = max_threads();
  const idx_t chunk = std::max<idx_t>(nt, kChunk * nt / cost);
  for (idx_t c0 = 0; c0 < n; c0 += chunk) {
    const idx_t c1 = std::min(n, c0 + chunk);
    const idx_t len = c1 - c0;
    const int pieces = (nt > 1 && len * cost >= min_parallel) ? int(std::min<idx_t>(4 * nt, len)) : 1;
    if (pieces == 1) {
      body(c0, c1);
    } else {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
      for (int t = 0; t < pieces; ++t) {
        // Single elements are cut at multiples of 16 (whole cache lines).
        const idx_t b = c0 + (cost == 1 ? split_point(len, pieces, t) : len * t / pieces);
        const idx_t e = c0 + (cost == 1 ? split_point(len, pieces, t + 1) : len * (t + 1) / pieces);
        if (b < e) body(b, e);
      }
    }
    if (c1 < n) check_signals();
  }
}

// Overflow-checked product of non-negative sizes.
idx_t checked_product(const char* fn, std::initializer_list<idx_t> dims) {
  idx_t r = 1;
  for (idx_t d : dims) {
    if (d < 0) value_error(cat(fn, ": sizes must be non-negative, got ", d));
    if (__builtin_mul_overflow(r, d, &r)) value_error(cat(fn, ": the sizes overflow 64 bits"));
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// The buffer
// ---------------------------------------------------------------------------------------

enum class DType { f32, f64 };

inline const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }
inline std::size_t itemsize(DType d) { return d == DType::f32 ? 4 : 8; }

// Freed large buffers are kept and handed out again for the same size. Memory fresh from the
// OS costs a page fault per 4 KiB page on first touch, about a millisecond per 2 MiB: a training
// step that frees and asks for the same sizes op after op would pay it on every op.
// Only buffers of kCachedMin bytes or more are kept (smaller ones malloc reuses itself), at most
// kCacheLimit bytes in all; a buffer that does not fit goes back to the OS.
class BufferCache {
 public:
  static constexpr std::size_t kCachedMin = std::size_t(64) << 10;
  static constexpr std::size_t kCacheLimit = std::size_t(256) << 20;

  void* take(std::size_t bytes) {
    if (bytes < kCachedMin) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    cached_ -= bytes;
    return p;
  }

  // True when the cache keeps `p`; false when the caller must free it.
  bool give(void* p, std::size_t bytes) {
    if (bytes < kCachedMin) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > kCacheLimit) return false;
    free_.emplace(bytes, p);
    cached_ += bytes;
    return true;
  }

  std::size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : free_) std::free(entry.second);
    free_.clear();
    cached_ = 0;
  }

  // In a forked child the lock may have been held by a thread that no longer exists.
  void reset_lock_after_fork() { new (&mutex_) std::mutex(); }

 private:
  std::mutex mutex_;
  std::unordered_multimap<std::size_t, void*> free_;
  std::size_t cached_ = 0;
};

BufferCache g_buffers;

// The size aligned_malloc really allocates for `bytes`, and the alignment it uses.
constexpr std::size_t kHugePage = std::size_t(2) << 20;
inline std::size_t buffer_alignment(std::size_t bytes) { return bytes >= 2 * kHugePage ? kHugePage : kAlign; }
inline std::size_t buffer_bytes(std::size_t bytes) {
  const std::size_t align = buffer_alignment(bytes);
  return std::max<std::size_t>(align, (bytes + align - 1) / align * align);
}

// 64-byte aligned, uninitialised memory; never null (size 0 gets one cache line).
// A large buffer is 2 MiB aligned and asks Linux for transparent huge pages, as numpy does:
// a fresh 64 MiB output then costs 32 page faults on first touch instead of 16384.
void* aligned_malloc(std::size_t bytes) {
  const std::size_t rounded = buffer_bytes(bytes);
  if (void* reused = g_buffers.take(rounded)) return reused;
  void* p = std::aligned_alloc(buffer_alignment(bytes), rounded);
  if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (rounded >= 2 * kHugePage) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
  return p;
}

// Frees what aligned_malloc(bytes) returned: into the cache, or back to the OS.
struct BufferDeleter {
  std::size_t bytes = 0;
  void operator()(void* p) const {
    if (!g_buffers.give(p, buffer_bytes(bytes))) std::free(p);
  }
};

template <typename T>
using Scratch = std::unique_ptr<T[], BufferDeleter>;

template <typename T>
Scratch<T> scratch(idx_t n) {
  const std::size_t bytes = std::size_t(n) * sizeof(T);
  return Scratch<T>(static_cast<T*>(aligned_malloc(bytes)), BufferDeleter{bytes});
}

class Array {
 public:
  Array(idx_t size, DType dtype) : size_(size), dtype_(dtype) {
    if (size < 0) value_error(cat("Array: size must be non-negative, got ", size));
    if (std::size_t(size) > (std::size_t(1) << 56) / itemsize(dtype))
      value_error(cat("Array: size ", size, " is too large"));
    const std::size_t bytes = std::size_t(size) * itemsize(dtype);
    ptr_ = std::unique_ptr<void, BufferDeleter>(aligned_malloc(bytes), BufferDeleter{bytes});
  }
  idx_t size() const { return size_; }
  DType dtype() const { return dtype_; }
  template <typename T>
  T* data() const { return static_cast<T*>(ptr_.get()); }
  const void* raw() const { return ptr_.get(); }

 private:
  idx_t size_;
  DType dtype_;
  std::unique_ptr<void, BufferDeleter> ptr_;
};

DType parse_dtype(const py::object& obj) {
  std::string name;
  if (py::isinstance<py::str>(obj)) {  // the canonical names, as NDArray passes them: no numpy call
    name = obj.cast<std::string>();
    if (name == "float32") return DType::f32;
    if (name == "float64") return DType::f64;
  }
  try {
    name = py::str(py::dtype::from_args(obj).attr("name")).cast<std::string>();
  } catch (py::error_already_set&) {
    type_error(cat("Array: dtype must be \"float32\" or \"float64\", got ", py::repr(obj)));
  }
  if (name == "float32") return DType::f32;
  if (name == "float64") return DType::f64;
  type_error(cat("Array: dtype must be \"float32\" or \"float64\", got ", name));
}

// Calls f(T{}) with T the element type of `dtype`.
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::f32) return f(float{});
  return f(double{});
}

void check_dtypes(const char* fn, std::initializer_list<const Array*> arrays) {
  const DType d = (*arrays.begin())->dtype();
  for (const Array* a : arrays) {
    if (a->dtype() != d) {
      std::string got;
      for (const Array* b : arrays) got += std::string(got.empty() ? "" : ", ") + dtype_name(b->dtype());
      type_error(cat(fn, ": all buffers must have the same dtype, got ", got));
    }
  }
}

void check_same_size(const char* fn, std::initializer_list<const Array*> arrays) {
  const idx_t n = (*arrays.begin())->size();
  for (const Array* a : arrays) {
    if (a->size() != n) {
      std::string got;
      for (const Array* b : arrays) got += (got.empty() ? "" : ", ") + std::to_string(b->size());
      value_error(cat(fn, ": all buffers must have the same size, got sizes ", got));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Strided views: compact, setitem, to_numpy
// ---------------------------------------------------------------------------------------

// A validated strided view, simplified: dimensions of size 1 dropped, and neighbouring
// dimensions merged when they walk memory as one (e.g. a compact view becomes 1-D).
struct View {
  int nd = 0;
  idx_t shape[kMaxDims];
  idx_t strides[kMaxDims];
  idx_t offset = 0;
  idx_t size = 0;
};

std::string tuple_str(const std::vector<idx_t>& v) {
  std::string s = "(";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

std::string int128_str(__int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  std::string s;
  for (; v != 0; v /= 10) s += char('0' + int(neg ? -(v % 10) : v % 10));
  if (neg) s += '-';
  return std::string(s.rbegin(), s.rend());
}

View make_view(const char* fn, const std::vector<idx_t>& shape, const std::vector<idx_t>& strides,
               idx_t offset, idx_t buffer_size) {
  if (shape.size() != strides.size())
    value_error(cat(fn, ": shape ", tuple_str(shape), " and strides ", tuple_str(strides),
                    " have different lengths"));
  if (shape.size() > std::size_t(kMaxDims)) value_error(cat(fn, ": at most 64 dimensions"));
  View v;
  v.size = 1;
  for (idx_t d : shape) {
    if (d < 0) value_error(cat(fn, ": negative dimension in shape ", tuple_str(shape)));
    if (__builtin_mul_overflow(v.size, d, &v.size))
      value_error(cat(fn, ": shape ", tuple_str(shape), " overflows 64 bits"));
  }
  if (v.size == 0) return v;  // nothing is read or written

  // The lowest and highest element the view reaches must lie inside the buffer.
  __int128 lo = offset, hi = offset;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const __int128 reach = __int128(strides[i]) * (shape[i] - 1);
    (reach < 0 ? lo : hi) += reach;
  }
  if (lo < 0 || hi >= buffer_size)
    value_error(cat(fn, ": the view shape=", tuple_str(shape), " strides=", tuple_str(strides),
                    " offset=", offset, " reaches elements ", int128_str(lo), "..", int128_str(hi), " outside a buffer of size ", buffer_size));

  v.offset = offset;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (v.nd > 0 && v.strides[v.nd - 1] == strides[i] * shape[i]) {
      v.shape[v.nd - 1] *= shape[i];
      v.strides[v.nd - 1] = strides[i];
    } else {
      v.shape[v.nd] = shape[i];
      v.strides[v.nd] = strides[i];
      ++v.nd;
    }
  }
  if (v.nd == 0) {  // a single element
    v.nd = 1;
    v.shape[0] = 1;
    v.strides[0] = 1;
  }
  return v;
}

// Calls fn(row, offset) for rows [r0, r1) of the view, a row being its last dimension and
// `offset` the buffer index of the row's first element.
template <class Fn>
void for_rows(const View& v, idx_t r0, idx_t r1, Fn&& fn) {
  idx_t index[kMaxDims];
  idx_t off = v.offset;
  idx_t r = r0;
  for (int d = v.nd - 2; d >= 0; --d) {
    index[d] = r % v.shape[d];
    r /= v.shape[d];
    off += index[d] * v.strides[d];
  }
  for (idx_t row = r0; row < r1; ++row) {
    fn(row, off);
    for (int d = v.nd - 2; d >= 0; --d) {
      off += v.strides[d];
      if (++index[d] < v.shape[d]) break;
      off -= v.strides[d] * v.shape[d];
      index[d] = 0;
    }
  }
}

// True when no two elements of the view share a buffer index (a sufficient test: sorted by
// stride, each dimension steps over everything the smaller ones reach).
bool non_overlapping(const View& v) {
  idx_t s[kMaxDims], n[kMaxDims];
  int order[kMaxDims];
  for (int d = 0; d < v.nd; ++d) order[d] = d;
  std::sort(order, order + v.nd,
            [&](int x, int y) { return std::llabs(v.strides[x]) < std::llabs(v.strides[y]); });
  for (int d = 0; d < v.nd; ++d) {
    s[d] = std::llabs(v.strides[order[d]]);
    n[d] = v.shape[order[d]];
  }
  idx_t extent = 1;
  for (int d = 0; d < v.nd; ++d) {
    if (s[d] < extent) return false;
    extent = s[d] * (n[d] - 1) + extent;
  }
  return true;
}

// Calls fn(row, j0, j1, off) over the view, row by row (a row is its last dimension),
// where `off` is the buffer index of the row's element 0 and [j0, j1) a piece of the row:
// long rows are cut in pieces so that the threads and the Ctrl-C checks still have them.
template <class Fn>
void parallel_rows(const View& v, bool parallel, Fn&& fn) {
  constexpr idx_t kPiece = idx_t(1) << 16;
  const idx_t len = v.shape[v.nd - 1];
  const idx_t rows = v.size / len;
  const idx_t min_parallel = parallel ? kParallelMin : std::numeric_limits<idx_t>::max();
  if (len <= kPiece) {
    parallel_chunks(rows, len, [&](idx_t r0, idx_t r1) {
      for_rows(v, r0, r1, [&](idx_t row, idx_t off) { fn(row, 0, len, off); });
    }, min_parallel);
  } else {
    const idx_t pieces = (len + kPiece - 1) / kPiece;
    parallel_chunks(rows * pieces, kPiece, [&](idx_t t0, idx_t t1) {
      for (idx_t t = t0; t < t1; ++t) {
        const idx_t row = t / pieces, j0 = (t % pieces) * kPiece;
        for_rows(v, row, row + 1, [&](idx_t, idx_t off) { fn(row, j0, std::min(len, j0 + kPiece), off); });
      }
    }, min_parallel);
  }
}

// dst[k * ldd + r] = src[r * lds + k] for r, k < L = 16 bytes / sizeof(T): one small block of a
// transpose, through registers (the 4 x 4 float transpose of SSE, written with GCC's shuffles).
template <typename T>
inline void transpose_block(const T* src, idx_t lds, T* dst, idx_t ldd) {
  if constexpr (std::is_same_v<T, float>) {
    typedef float V __attribute__((vector_size(16)));
    typedef int M __attribute__((vector_size(16)));
    V r[4];
    for (int k = 0; k < 4; ++k) std::memcpy(&r[k], src + k * lds, sizeof(V));
    const V lo01 = __builtin_shuffle(r[0], r[1], M{0, 4, 1, 5}), hi01 = __builtin_shuffle(r[0], r[1], M{2, 6, 3, 7});
    const V lo23 = __builtin_shuffle(r[2], r[3], M{0, 4, 1, 5}), hi23 = __builtin_shuffle(r[2], r[3], M{2, 6, 3, 7});
    const V o[4] = {__builtin_shuffle(lo01, lo23, M{0, 1, 4, 5}), __builtin_shuffle(lo01, lo23, M{2, 3, 6, 7}),
                    __builtin_shuffle(hi01, hi23, M{0, 1, 4, 5}), __builtin_shuffle(hi01, hi23, M{2, 3, 6, 7})};
    for (int k = 0; k < 4; ++k) std::memcpy(dst + k * ldd, &o[k], sizeof(V));
  } else {
    typedef double V __attribute__((vector_size(16)));
    typedef long long M __attribute__((vector_size(16)));
    V r0, r1;
    std::memcpy(&r0, src, sizeof(V));
    std::memcpy(&r1, src + lds, sizeof(V));
    const V o0 = __builtin_shuffle(r0, r1, M{0, 2}), o1 = __builtin_shuffle(r0, r1, M{1, 3});
    std::memcpy(dst, &o0, sizeof(V));
    std::memcpy(dst + ldd, &o1, sizeof(V));
  }
}

// out[i] = a[view(i)]: the compact copy of a strided view.
template <typename T>
void gather(const T* src, const View& v, T* out) {
  if (v.size == 0) return;
  const idx_t len = v.shape[v.nd - 1];
  const idx_t step = v.strides[v.nd - 1];
  if (step == 1 || step == 0 || v.nd == 1) {
    // Rows are contiguous, or one element repeated (a broadcast: 0.06 ms where the tiles below
    // took 0.47 for 64x16x28x28), or the whole view is one strided row: copy row by row.
    parallel_rows(v, true, [&](idx_t row, idx_t j0, idx_t j1, idx_t off) {
      T* dst = out + row * len;
      const T* s = src + off;
      if (step == 1) {
        std::memcpy(dst + j0, s + j0, std::size_t(j1 - j0) * sizeof(T));
      } else if (step == 0) {
        std::fill(dst + j0, dst + j1, s[0]);
      } else {
        for (idx_t j = j0; j < j1; ++j) dst[j] = s[j * step];
      }
    });
    return;
  }
  // The last stride is not 1 (a transpose, say): copy the last two dimensions in square
  // tiles through a buffer in L1. A tile's columns are read down (along contiguous memory in
  // a transpose) into the buffer, then its rows written out whole. Walking the view row by
  // row instead reads TB lines a whole row apart for each row of the tile: when rows are a
  // multiple of 4 KiB apart they all fall into one set of the L1 cache and evict each other.
  constexpr idx_t TB = 32, kCols = 1024;
  View planes = v;  // the view without its last two dimensions, one "row" per plane
  planes.nd = v.nd - 1;
  planes.shape[planes.nd - 1] = 1;
  const idx_t R = v.shape[v.nd - 2], C = len;
  const idx_t rs = v.strides[v.nd - 2], cs = step;
  const idx_t row_tiles = (R + TB - 1) / TB, col_pieces = (C + kCols - 1) / kCols;
  const idx_t n_planes = v.size / (R * C);
  parallel_chunks(n_planes * row_tiles * col_pieces, TB * std::min(C, kCols), [&](idx_t t0, idx_t t1) {
    for (idx_t t = t0; t < t1; ++t) {
      const idx_t plane = t / (row_tiles * col_pieces);
      const idx_t i0 = (t / col_pieces % row_tiles) * TB, c0 = (t % col_pieces) * kCols;
      idx_t base = 0;
      for_rows(planes, plane, plane + 1, [&](idx_t, idx_t off) { base = off; });
      T* dst = out + plane * R * C;
      const idx_t i1 = std::min(R, i0 + TB), c1 = std::min(C, c0 + kCols);
      constexpr idx_t L = 16 / sizeof(T);
      if (rs == 1 && C * idx_t(sizeof(T)) % 2048 == 0 && cs * idx_t(sizeof(T)) % 2048 != 0) {
        // A transpose whose output rows (only) are a multiple of 2 KiB apart: a tile's TB rows
        // would share a few cache sets. L x L blocks through registers instead, L rows of the
        // output at a time along the whole piece; the ragged edges one value at a time.
        const idx_t ib = i0 + (i1 - i0) / L * L, cb = c0 + (c1 - c0) / L * L;
        for (idx_t i = i0; i < ib; i += L)
          for (idx_t j = c0; j < cb; j += L) transpose_block(src + base + j * cs + i, cs, dst + i * C + j, C);
        for (idx_t j = c0; j < c1; ++j)
          for (idx_t i = j < cb ? ib : i0; i < i1; ++i) dst[i * C + j] = src[base + j * cs + i];
        continue;
      }
      T tile[TB][TB];  // tile[j][i]: column j of the tile
      for (idx_t j0 = c0; j0 < c1; j0 += TB) {
        const idx_t j1 = std::min(c1, j0 + TB);
        if (rs == 1 && (i1 - i0) % L == 0 && (j1 - j0) % L == 0) {  // a transpose: in L x L blocks
          for (idx_t j = j0; j < j1; j += L)
            for (idx_t i = i0; i < i1; i += L) transpose_block(src + base + j * cs + i, cs, dst + i * C + j, C);
          continue;
        }
        for (idx_t j = j0; j < j1; ++j) {
          const T* s = src + base + j * cs;
          for (idx_t i = i0; i < i1; ++i) tile[j - j0][i - i0] = s[i * rs];
        }
        for (idx_t i = i0; i < i1; ++i)
          for (idx_t j = j0; j < j1; ++j) dst[i * C + j] = tile[j - j0][i - i0];
      }
    }
  });
}

// dst[view(i)] = value(i), value(i) being a[i] (ewise_setitem) or a scalar (scalar_setitem).
template <typename T, class Value>
void scatter(T* dst, const View& v, Value&& value) {
  if (v.size == 0) return;
  const idx_t len = v.shape[v.nd - 1];
  const idx_t step = v.strides[v.nd - 1];
  // Where elements are written twice: one thread, in row-major order, so the last write wins.
  parallel_rows(v, non_overlapping(v), [&](idx_t row, idx_t j0, idx_t j1, idx_t off) {
    T* d = dst + off;
    const idx_t first = row * len;
    if (step == 1) {
      for (idx_t j = j0; j < j1; ++j) d[j] = value(first + j);
    } else {
      for (idx_t j = j0; j < j1; ++j) d[j * step] = value(first + j);
    }
  });
}

void compact(const Array& a, Array& out, const std::vector<idx_t>& shape,
             const std::vector<idx_t>& strides, idx_t offset) {
  check_dtypes("compact", {&a, &out});
  const View v = make_view("compact", shape, strides, offset, a.size());
  if (v.size != out.size())
    value_error(cat("compact: out has size ", out.size(), " but the view of shape ",
                    tuple_str(shape), " has ", v.size, " elements"));
  // BEGIN SOLUTION a06
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (a.raw() == out.raw()) {  // in place: go through a copy
      Scratch<T> tmp = scratch<T>(v.size);
      gather(a.data<T>(), v, tmp.get());
      std::memcpy(out.data<T>(), tmp.get(), std::size_t(v.size) * sizeof(T));
    } else {
      gather(a.data<T>(), v, out.data<T>());
    }
  });
  // END SOLUTION
}

void ewise_setitem(const Array& a, Array& out, const std::vector<idx_t>& shape,
                   const std::vector<idx_t>& strides, idx_t offset) {
  check_dtypes("ewise_setitem", {&a, &out});
  const View v = make_view("ewise_setitem", shape, strides, offset, out.size());
  if (v.size != a.size())
    value_error(cat("ewise_setitem: a has size ", a.size(), " but the view of shape ",
                    tuple_str(shape), " has ", v.size, " elements"));
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = a.data<T>();
    Scratch<T> tmp;
    if (a.raw() == out.raw()) {
      tmp = scratch<T>(v.size);
      std::memcpy(tmp.get(), src, std::size_t(v.size) * sizeof(T));
      src = tmp.get();
    }
    scatter(out.data<T>(), v, [src](idx_t i) { return src[i]; });
  });
}

void scalar_setitem(idx_t size, double val, Array& out, const std::vector<idx_t>& shape,
                    const std::vector<idx_t>& strides, idx_t offset) {
  const View v = make_view("scalar_setitem", shape, strides, offset, out.size());
  if (v.size != size)
    value_error(cat("scalar_setitem: size is ", size, " but the view of shape ",
                    tuple_str(shape), " has ", v.size, " elements"));
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T value = T(val);
    scatter(out.data<T>(), v, [value](idx_t) { return value; });
  });
}

py::array to_numpy(const Array& a, const std::vector<idx_t>& shape,
                   const std::vector<idx_t>& strides, idx_t offset) {
  const View v = make_view("to_numpy", shape, strides, offset, a.size());
  return dispatch(a.dtype(), [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> result(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    gather(a.data<T>(), v, result.mutable_data());
    return std::move(result);
  });
}

void from_numpy(const py::array& a, Array& out) {
  const bool f32 = py::isinstance<py::array_t<float>>(a) && out.dtype() == DType::f32;
  const bool f64 = py::isinstance<py::array_t<double>>(a) && out.dtype() == DType::f64;
  if (!f32 && !f64)
    type_error(cat("from_numpy: the numpy array has dtype ", py::str(a.dtype()),
                   " but out has dtype ", dtype_name(out.dtype())));
  if (idx_t(a.size()) != out.size())
    value_error(cat("from_numpy: the numpy array has ", a.size(), " elements but out has ",
                    out.size()));
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto c = py::array_t<T, py::array::c_style>::ensure(a);  // copies only if not contiguous
    if (!c) throw py::error_already_set();
    const T* src = c.data();
    T* dst = out.data<T>();
    parallel_chunks(out.size(), 1, [=](idx_t b, idx_t e) {
      std::memcpy(dst + b, src + b, std::size_t(e - b) * sizeof(T));
    });
  });
}

void fill(Array& out, double val) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = out.data<T>();
    const T value = T(val);
    parallel_chunks(out.size(), 1, [=](idx_t b, idx_t e) { std::fill(dst + b, dst + e, value); });
  });
}

// ---------------------------------------------------------------------------------------
// Elementwise operations
// ---------------------------------------------------------------------------------------

// NaN propagates like np.maximum: if either side is NaN the result is NaN. (Written with ||:
// the same test with a bitwise | vectorized three times slower under gcc 12.)
template <typename T>
inline T maximum(T a, T b) { return (a != a || a > b) ? a : b; }

#define NEEDLE_BINARY(Name, expr)                         \
  struct Name {                                           \
    template <typename T>                                 \
    T operator()(T a, T b) const { return expr; }         \
  };
NEEDLE_BINARY(Add, a + b)
NEEDLE_BINARY(Sub, a - b)
NEEDLE_BINARY(Mul, a * b)
NEEDLE_BINARY(Div, a / b)
NEEDLE_BINARY(Power, std::pow(a, b))
NEEDLE_BINARY(Maximum, maximum(a, b))
NEEDLE_BINARY(Eq, a == b ? T(1) : T(0))
NEEDLE_BINARY(Ne, a != b ? T(1) : T(0))
NEEDLE_BINARY(Lt, a < b ? T(1) : T(0))
NEEDLE_BINARY(Le, a <= b ? T(1) : T(0))
NEEDLE_BINARY(Gt, a > b ? T(1) : T(0))
NEEDLE_BINARY(Ge, a >= b ? T(1) : T(0))
#undef NEEDLE_BINARY

#define NEEDLE_UNARY(Name, expr)                          \
  struct Name {                                           \
    template <typename T>                                 \
    T operator()(T a) const { return expr; }              \
  };
NEEDLE_UNARY(Neg, -a)
NEEDLE_UNARY(Log, std::log(a))
NEEDLE_UNARY(Tanh, std::tanh(a))
NEEDLE_UNARY(Sqrt, std::sqrt(a))

// exp of a float32 in a form the compiler can vectorize (std::exp is a library call, one
// element at a time): in double precision, e^x = 2^n * e^r with n = round(x / ln 2) and
// |r| <= ln(2) / 2, e^r by its Taylor polynomial (relative error < 1e-12), and 2^n built
// directly in the exponent bits; rounding to float then gives inf, 0 and denormals as usual.
// The special cases are picked with integer masks on the bits, not with branches: the
// compiler would not vectorize a branch around floating point operations (they may trap).
// e^x for a double x with |x| <= 160.
inline double exp_f64_core(double x) {
  const double shifter = 0x1.8p52;  // adding it rounds to an integer, kept in the low bits
  const double t = x * 1.4426950408889634 + shifter;
  const double n = t - shifter;
  const double r = x - n * 0.6931471805599453;
  double p = 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  std::int64_t bits, shifter_bits;
  std::memcpy(&bits, &t, sizeof bits);
  std::memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
  const std::int64_t scale_bits = (bits - shifter_bits + 1023) << 52;  // 2^n, n in [-231, 231]
  double scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  return p * scale;
}

// The float `result` of f(xf), except that a NaN xf gives the same NaN back.
inline float keep_nan(float xf, float result) {
  std::int32_t xi, ri;
  std::memcpy(&xi, &xf, sizeof xi);
  std::memcpy(&ri, &result, sizeof ri);
  const std::int32_t nan_mask = -std::int32_t((xi & 0x7fffffff) > 0x7f800000);
  ri = (xi & nan_mask) | (ri & ~nan_mask);
  float out;
  std::memcpy(&out, &ri, sizeof out);
  return out;
}

inline float exp_f32(float xf) {
  std::int32_t xi;
  std::memcpy(&xi, &xf, sizeof xi);
  // |x| > 110: e^x is 0 or inf as a float; clamp to +-110 so that 2^n stays a normal double.
  const std::int32_t big_mask = -std::int32_t((xi & 0x7fffffff) > 0x42dc0000);  // 110.0f
  const std::int32_t clamped = (xi & std::int32_t(0x80000000)) | 0x42dc0000;
  const std::int32_t xci = (clamped & big_mask) | (xi & ~big_mask);
  float xc;
  std::memcpy(&xc, &xci, sizeof xc);
  return keep_nan(xf, float(exp_f64_core(xc)));
}

// tanh of a float32, vectorizable the same way: tanh|x| = (1 - e) / (1 + e) with e = e^(-2|x|)
// in double; below |x| = 1/16, where 1 - e would lose digits, its odd Taylor polynomial.
inline float tanh_f32(float xf) {
  const double x = xf;
  const double a = x < 0 ? -x : x;
  const double ac = a < 20.0 ? a : 20.0;  // tanh(20) is 1 as a float; NaN lands here too
  const double e = exp_f64_core(-2.0 * ac);
  const double a2 = ac * ac;
  const double taylor = ac * (1.0 + a2 * (-1.0 / 3 + a2 * (2.0 / 15 + a2 * (-17.0 / 315 + a2 * (62.0 / 2835)))));
  const double ratio = (1.0 - e) / (1.0 + e);
  const double t = ac < 0.0625 ? taylor : ratio;
  return keep_nan(xf, float(std::copysign(t, x)));
}

NEEDLE_UNARY(Exp, std::exp(a))
#undef NEEDLE_UNARY

NEEDLE_SIMD_CLONES void exp_loop_f32(const float* x, float* z, idx_t n) {
#pragma omp simd
  for (idx_t i = 0; i < n; ++i) z[i] = exp_f32(x[i]);
}

NEEDLE_SIMD_CLONES void tanh_loop_f32(const float* x, float* z, idx_t n) {
#pragma omp simd
  for (idx_t i = 0; i < n; ++i) z[i] = tanh_f32(x[i]);
}

// Transcendental functions cost tens of cycles an element: worth threads much sooner.
template <class Op> constexpr idx_t parallel_min = kParallelMin;
template <> constexpr idx_t parallel_min<Power> = kParallelMin / 16;
template <> constexpr idx_t parallel_min<Log> = kParallelMin / 16;
template <> constexpr idx_t parallel_min<Exp> = kParallelMin / 16;
template <> constexpr idx_t parallel_min<Tanh> = kParallelMin / 16;
// ... except exp and tanh of float32, vectorized below: about a nanosecond an element.
template <class Op, typename T>
constexpr bool vectorized_f32 = std::is_same_v<T, float> && (std::is_same_v<Op, Exp> || std::is_same_v<Op, Tanh>);

// The loops themselves, compiled for AVX-512, AVX2 and plain x86-64; the best one the CPU
// supports is picked when the module loads (GCC function multiversioning).
template <class Op, typename T>
NEEDLE_SIMD_CLONES void binary_loop(const T* x, const T* y, T* z, idx_t n) {
  const Op op;
#pragma omp simd
  for (idx_t i = 0; i < n; ++i) z[i] = op(x[i], y[i]);
}

template <class Op, typename T>
NEEDLE_SIMD_CLONES void scalar_loop(const T* x, T y, T* z, idx_t n) {
  const Op op;
#pragma omp simd
  for (idx_t i = 0; i < n; ++i) z[i] = op(x[i], y);
}

template <class Op, typename T>
NEEDLE_SIMD_CLONES void unary_loop(const T* x, T* z, idx_t n) {
  const Op op;
#pragma omp simd
  for (idx_t i = 0; i < n; ++i) z[i] = op(x[i]);
}

template <class Op>
void ewise_binary(const char* fn, const Array& a, const Array& b, Array& out) {
  check_dtypes(fn, {&a, &b, &out});
  check_same_size(fn, {&a, &b, &out});
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    T* z = out.data<T>();
    parallel_chunks(out.size(), 1, [=](idx_t lo, idx_t hi) {
      binary_loop<Op>(x + lo, y + lo, z + lo, hi - lo);
    }, parallel_min<Op>);
  });
}

template <class Op>
void scalar_binary(const char* fn, const Array& a, double val, Array& out) {
  check_dtypes(fn, {&a, &out});
  check_same_size(fn, {&a, &out});
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    const T y = T(val);
    T* z = out.data<T>();
    // x ** 2 (Adam's squared gradients) as x * x: the same correctly rounded result, no pow call.
    const bool square = std::is_same_v<Op, Power> && y == T(2);
    parallel_chunks(out.size(), 1, [=](idx_t lo, idx_t hi) {
      if (square)
        binary_loop<Mul>(x + lo, x + lo, z + lo, hi - lo);
      else
        scalar_loop<Op>(x + lo, y, z + lo, hi - lo);
    }, square ? kParallelMin : parallel_min<Op>);
  });
}

template <class Op>
void ewise_unary(const char* fn, const Array& a, Array& out) {
  check_dtypes(fn, {&a, &out});
  check_same_size(fn, {&a, &out});
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.data<T>();
    T* z = out.data<T>();
    parallel_chunks(out.size(), 1, [=](idx_t lo, idx_t hi) {
      if constexpr (std::is_same_v<Op, Exp> && std::is_same_v<T, float>)
        exp_loop_f32(x + lo, z + lo, hi - lo);
      else if constexpr (std::is_same_v<Op, Tanh> && std::is_same_v<T, float>)
        tanh_loop_f32(x + lo, z + lo, hi - lo);
      else
        unary_loop<Op>(x + lo, z + lo, hi - lo);
    }, vectorized_f32<Op, T> ? kParallelMin / 2 : parallel_min<Op>);
  });
}

// ---------------------------------------------------------------------------------------
// Reductions over the middle axis of a compact (outer, reduce, inner) block
// ---------------------------------------------------------------------------------------

template <typename T>
struct SumOp {
  T operator()(T a, T b) const { return a + b; }
};
template <typename T>
struct MaxOp {
  T operator()(T a, T b) const { return maximum(a, b); }
};

// Reduces x[0..n), n >= 1, with 16 independent accumulators: the compiler turns the lanes
// into SIMD registers without reordering any single lane's additions.
template <typename T, class Op>
NEEDLE_SIMD_CLONES T reduce_contiguous(const T* x, idx_t n) {
  constexpr int L = 16;
  const Op op;
  if (n < L) {
    T acc = x[0];
    for (idx_t i = 1; i < n; ++i) acc = op(acc, x[i]);
    return acc;
  }
  T lane[L];
  for (int l = 0; l < L; ++l) lane[l] = x[l];
  idx_t i = L;
  for (; i + L <= n; i += L)
#pragma omp simd
    for (int l = 0; l < L; ++l) lane[l] = op(lane[l], x[i + l]);
  for (; i < n; ++i) lane[0] = op(lane[0], x[i]);
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] = op(lane[l], lane[l + w]);
  return lane[0];
}

// dst[j] = op(dst[j], rows[r * ld + j]) for r in [0, n_rows), j in [0, w), row after row.
template <class Op, typename T>
NEEDLE_SIMD_CLONES void fold_rows(T* __restrict dst, const T* rows, idx_t ld, idx_t n_rows, idx_t w) {
  const Op op;
  idx_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {  // four rows per pass over dst, in the same order
    const T* r0 = rows + r * ld;
    const T* r1 = r0 + ld;
    const T* r2 = r1 + ld;
    const T* r3 = r2 + ld;
#pragma omp simd
    for (idx_t j = 0; j < w; ++j) dst[j] = op(op(op(op(dst[j], r0[j]), r1[j]), r2[j]), r3[j]);
  }
  for (; r < n_rows; ++r) {
    const T* row = rows + r * ld;
#pragma omp simd
    for (idx_t j = 0; j < w; ++j) dst[j] = op(dst[j], row[j]);
  }
}

template <template <typename> class OpT>
void reduce(const char* fn, const Array& a, Array& out, idx_t outer, idx_t red, idx_t inner) {
  check_dtypes(fn, {&a, &out});
  const idx_t total = checked_product(fn, {outer, red, inner});
  const idx_t kept = checked_product(fn, {outer, inner});
  if (a.size() != total || out.size() != kept)
    value_error(cat(fn, ": a has size ", a.size(), " and out has size ", out.size(),
                    ", expected ", total, " and ", kept, " for (outer, reduce, inner) = (",
                    outer, ", ", red, ", ", inner, ")"));
  if (kept == 0) return;
  constexpr bool is_max = std::is_same_v<OpT<float>, MaxOp<float>>;
  if (red == 0) {
    if (is_max) value_error(cat(fn, ": zero-size reduction has no identity (reduce = 0)"));
    fill(out, 0.0);
    return;
  }
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using Op = OpT<T>;
    const T* x = a.data<T>();
    T* y = out.data<T>();
    if (inner == 1) {
      constexpr idx_t piece = idx_t(1) << 16;
      if (red <= piece) {  // many short rows: one row per item
        parallel_chunks(outer, red, [=](idx_t r0, idx_t r1) {
          for (idx_t r = r0; r < r1; ++r) y[r] = reduce_contiguous<T, Op>(x + r * red, red);
        });
        return;
      }
      // Few long rows: each row in pieces reduced in parallel, then the pieces in order.
      const idx_t n_pieces = (red + piece - 1) / piece;
      std::vector<T> partial(n_pieces);
      T* part = partial.data();
      for (idx_t r = 0; r < outer; ++r) {
        const T* row = x + r * red;
        parallel_chunks(n_pieces, piece, [=](idx_t p0, idx_t p1) {
          for (idx_t p = p0; p < p1; ++p)
            part[p] = reduce_contiguous<T, Op>(row + p * piece, std::min(piece, red - p * piece));
        });
        y[r] = reduce_contiguous<T, Op>(part, n_pieces);
      }
      return;
    }
    // inner > 1: walk down the rows, folding each whole row into the output row, in column
    // blocks that stay in L1 and slabs of rows short enough to check for Ctrl-C between.
    constexpr idx_t CB = 2048;
    const idx_t width = std::min(inner, CB);
    const idx_t col_blocks = (inner + CB - 1) / CB;
    const idx_t slab = std::max<idx_t>(1, kChunk / width);
    for (idx_t s0 = 0; s0 < red; s0 += slab) {
      const idx_t s1 = std::min(red, s0 + slab);
      parallel_chunks(outer * col_blocks, (s1 - s0) * width, [=](idx_t t0, idx_t t1) {
        for (idx_t t = t0; t < t1; ++t) {
          const idx_t o = t / col_blocks, c0 = (t % col_blocks) * CB;
          const idx_t w = std::min(CB, inner - c0);
          T* dst = y + o * inner + c0;
          const T* src = x + o * red * inner + c0;
          idx_t r = s0;
          if (r == 0) {
            std::memcpy(dst, src, std::size_t(w) * sizeof(T));
            r = 1;
          }
          fold_rows<Op>(dst, src + r * inner, inner, s1 - r, w);
        }
      });
      if (s1 < red) check_signals();
    }
  });
}

// ---------------------------------------------------------------------------------------
// Matrix multiplication
// ---------------------------------------------------------------------------------------
//
// C (m x p) = A (m x n) @ B (n x p), all row-major. The tiling idea, from the inside out:
//
//  * The micro-kernel computes one MR x NR tile of C (e.g. 6 x 16 floats) entirely in
//    registers: MR*NR/VW vector accumulators. For each k it loads one row of NR values of B
//    (NR/VW vectors), broadcasts MR values of A, and does MR*NR/VW fused multiply-adds.
//    Many independent accumulators keep the FMA units busy despite their latency, and each
//    value loaded is used NR/VW (or MR) times.
//  * Its operands are packed: a KC x NR sliver of B and an MR x KC sliver of A are copied
//    into contiguous buffers in exactly the order the micro-kernel reads them (zero-padded
//    at the edges), so it streams memory linearly with no stride arithmetic.
//  * Cache blocking: a KC x NC panel of B is packed once (it lives in L3), an MC x KC block
//    of A is packed by each thread (it lives in L2), and the micro-kernel's KC x NR sliver
//    of B is reused across the whole A block from L1.
//  * Threads share the packed B panel and take different blocks of rows of A (and, when
//    there are fewer row blocks than threads, different column ranges of the panel).
//  * Packing costs a pass over memory, so it is skipped where it does not pay: a block of A
//    that meets only a few slivers of B (a product with few columns, as in a small MLP) is
//    read where it lies, its rows lda apart, and only its last, partial tile is packed. A last
//    sliver of B at most NR/2 wide gets tiles of half the width, not twice the zero padding.

template <typename T>
struct MicroKernel {
  using Run = void (*)(idx_t kc, const T* A, idx_t lda, const T* B, T* C, idx_t ldc, int mr,
                       int nr, bool accumulate);
  int mr, nr;                        // the register tile
  Run packed, in_place;              // A packed as kc x MR (lda unused), or read where it lies
  Run packed_half, in_place_half;    // the same for MR x NR/2 tiles: a narrow last sliver of B
  Run in_place_low, in_place_low_half;  // MR/2 rows read where they lie: for rows that alias
  const char* isa;
};

// C[0:mr, 0:nr] (+)= A @ Bp, Bp packed as kc x NR (NR = NV vectors of VW); A packed as
// kc x MR (kPackedA), or MR whole rows of the matrix, lda apart.
template <typename T, int MR, int NV, int VW, bool kPackedA>
static inline __attribute__((always_inline)) void micro_kernel_body(
    idx_t kc, const T* __restrict A, idx_t lda, const T* __restrict B, T* __restrict C,
    idx_t ldc, int mr, int nr, bool accumulate) {
  typedef T V __attribute__((vector_size(VW * sizeof(T))));
  constexpr int NR = NV * VW;
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};

  for (idx_t k = 0; k < kc; ++k) {
    V b[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) std::memcpy(&b[j], B + j * VW, sizeof(V));
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const T a = kPackedA ? A[i] : A[i * lda];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] += a * b[j];
    }
    A += kPackedA ? MR : 1;
    B += NR;
  }

  if (mr == MR && nr == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) {
        T* c = C + i * ldc + j * VW;
        V v = acc[i][j];
        if (accumulate) {
          V old;
          std::memcpy(&old, c, sizeof(V));
          v += old;
        }
        std::memcpy(c, &v, sizeof(V));
      }
  } else {  // an edge tile: only part of it is inside C
    alignas(64) T tile[MR][NR];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NV; ++j) std::memcpy(&tile[i][j * VW], &acc[i][j], sizeof(V));
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) C[i * ldc + j] = (accumulate ? C[i * ldc + j] : T(0)) + tile[i][j];
  }
}

// The same body compiled for several instruction sets, picked at run time (no -march flag).
#define NEEDLE_MICRO_KERNEL(name, target)                                                    \
  template <typename T, int MR, int NV, int VW, bool kPackedA>                               \
  target void name(idx_t kc, const T* A, idx_t lda, const T* B, T* C, idx_t ldc, int mr,      \
                   int nr, bool accumulate) {                                                \
    micro_kernel_body<T, MR, NV, VW, kPackedA>(kc, A, lda, B, C, ldc, mr, nr, accumulate);   \
  }
NEEDLE_MICRO_KERNEL(micro_kernel_generic, )
#if NEEDLE_X86
NEEDLE_MICRO_KERNEL(micro_kernel_avx2, __attribute__((target("avx2,fma"))))
NEEDLE_MICRO_KERNEL(micro_kernel_avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif
#undef NEEDLE_MICRO_KERNEL

// The four variants of one tile size, MR x (NV vectors of VW), compiled by `kernel`.
#define NEEDLE_KERNELS(kernel, T, MR, NV, VW)                                                 \
  &kernel<T, MR, NV, VW, true>, &kernel<T, MR, NV, VW, false>, &kernel<T, MR, NV / 2, VW, true>, \
      &kernel<T, MR, NV / 2, VW, false>, &kernel<T, MR / 2, NV, VW, false>,                     \
      &kernel<T, MR / 2, NV / 2, VW, false>

// NEEDLE_EDU_CPU_ISA=generic|avx2|avx512 forces a kernel (for testing and for teaching).
template <typename T>
MicroKernel<T> choose_kernel() {
  constexpr int W = 32 / sizeof(T);  // elements in a 256-bit vector
  const char* env = std::getenv("NEEDLE_EDU_CPU_ISA");
  const std::string want = env ? env : "";
#if NEEDLE_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  if (avx512 && (want.empty() || want == "avx512"))
    return {12, 4 * W, NEEDLE_KERNELS(micro_kernel_avx512, T, 12, 2, 2 * W), "avx512"};
  if (avx2 && (want.empty() || want == "avx2" || want == "avx512"))
    return {6, 2 * W, NEEDLE_KERNELS(micro_kernel_avx2, T, 6, 2, W), "avx2"};
#endif
  return {4, W, NEEDLE_KERNELS(micro_kernel_generic, T, 4, 2, W / 2), "generic"};
}
#undef NEEDLE_KERNELS

template <typename T>
const MicroKernel<T>& micro_kernel() {
  static const MicroKernel<T> k = choose_kernel<T>();
  return k;
}

// Cache blocks, in elements (tuned on a Zen 4; -DNEEDLE_KC_BYTES=... to experiment): an
// MC x KC block of A takes 480 KB of float32 (in L2), a KC x NR sliver of B 32 KB (L1).
#ifndef NEEDLE_KC_BYTES
#define NEEDLE_KC_BYTES 2048
#endif
#ifndef NEEDLE_MC_BYTES
#define NEEDLE_MC_BYTES 960
#endif
template <typename T> constexpr idx_t kKC = NEEDLE_KC_BYTES / sizeof(T);
template <typename T> constexpr idx_t kMCmax = NEEDLE_MC_BYTES / sizeof(T);   // a multiple of 4, 6 and 12
template <typename T> constexpr idx_t kNC = 16384 / sizeof(T);
constexpr idx_t kPanelBytes = idx_t(16) << 20;  // packed B: half of L3
constexpr idx_t kPanelsToPackA = 4;  // a block of A meeting more slivers of B than this is packed

template <typename T>
void pack_A(const T* A, idx_t lda, idx_t mc, idx_t kc, int MR, T* Ap) {
  for (idx_t ir = 0; ir < mc; ir += MR) {
    const int mr = int(std::min<idx_t>(MR, mc - ir));
    const T* src = A + ir * lda;
    // Row by row: the reads stream along rows of A (a column-wise walk over MR rows a
    // power-of-two apart would map them all to the same cache set).
    for (int i = 0; i < mr; ++i)
      for (idx_t k = 0; k < kc; ++k) Ap[k * MR + i] = src[i * lda + k];
    for (int i = mr; i < MR; ++i)
      for (idx_t k = 0; k < kc; ++k) Ap[k * MR + i] = T(0);
    Ap += MR * kc;
  }
}

template <typename T>
void pack_B_panel(const T* B, idx_t ldb, idx_t nr, idx_t kc, int NR, T* Bp) {
  for (idx_t k = 0; k < kc; ++k) {
    std::memcpy(Bp, B + k * ldb, std::size_t(nr) * sizeof(T));
    for (idx_t j = nr; j < NR; ++j) Bp[j] = T(0);
    Bp += NR;
  }
}

// Thin products (fewer than 4 rows, or fewer than 4 columns) would waste most of a register
// tile on zero padding. They get plain vectorized loops instead, bound by memory anyway.

// C[0:m, j0:j1] = A @ B[:, j0:j1] as m rows of axpys: C[i, :] += A[i, k] * B[k, :].
template <typename T>
NEEDLE_SIMD_CLONES void axpy_rows(const T* A, const T* B, T* C, idx_t m, idx_t n, idx_t p,
                                  idx_t j0, idx_t j1) {
  for (idx_t i = 0; i < m; ++i) std::fill(C + i * p + j0, C + i * p + j1, T(0));
  for (idx_t k = 0; k < n; ++k) {
    const T* b = B + k * p;
    for (idx_t i = 0; i < m; ++i) {
      const T a = A[i * n + k];
      T* c = C + i * p;
#pragma omp simd
      for (idx_t j = j0; j < j1; ++j) c[j] += a * b[j];
    }
  }
}

// x . y with 16 independent lanes (vectorizable without reordering any lane's sum).
template <typename T>
NEEDLE_SIMD_CLONES T dot(const T* x, const T* y, idx_t n) {
  constexpr int L = 16;
  T lane[L] = {};
  idx_t i = 0;
  for (; i + L <= n; i += L)
#pragma omp simd
    for (int l = 0; l < L; ++l) lane[l] += x[i + l] * y[i + l];
  T tail = 0;
  for (; i < n; ++i) tail += x[i] * y[i];
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
  return lane[0] + tail;
}

template <typename T>
void gemm_thin(const T* A, const T* B, T* C, idx_t m, idx_t n, idx_t p, int nthreads,
               bool interruptible) {
  Scratch<T> Bt;
  // Few rows: axpys along the rows of B. Few columns (also when both are few): dot products.
  const bool axpys = p >= 4;
  if (!axpys && p > 1) {  // dot products want the columns of B contiguous
    Bt = scratch<T>(p * n);
    for (idx_t k = 0; k < n; ++k)
      for (idx_t j = 0; j < p; ++j) Bt[j * n + k] = B[k * p + j];
  }
  const T* cols = Bt ? Bt.get() : B;
  // Tasks: blocks of columns of C (axpys) or of rows of C (dot products).
  constexpr idx_t kJB = 1024, kIB = 64;
  const idx_t tasks = axpys ? (p + kJB - 1) / kJB : (m + kIB - 1) / kIB;
  const idx_t task_work = std::max<idx_t>(1, axpys ? m * n * kJB : kIB * n * p);
  const idx_t group = std::max<idx_t>(nthreads, (idx_t(1) << 30) / task_work);
  for (idx_t g0 = 0; g0 < tasks; g0 += group) {
    const idx_t g1 = std::min(tasks, g0 + group);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1) if (nthreads > 1 && g1 - g0 > 1)
    for (idx_t t = g0; t < g1; ++t) {
      if (axpys) {
        axpy_rows(A, B, C, m, n, p, t * kJB, std::min(p, (t + 1) * kJB));
      } else {
        for (idx_t i = t * kIB; i < std::min(m, (t + 1) * kIB); ++i)
          for (idx_t j = 0; j < p; ++j) C[i * p + j] = dot(A + i * n, cols + j * n, n);
      }
    }
    if (interruptible) check_signals();
  }
}

// One matrix product. With nthreads > 1 it opens OpenMP regions; with interruptible it
// checks for Ctrl-C between them (so it must then run in the thread holding the GIL).
template <typename T>
void gemm(const T* A, const T* B, T* C, idx_t m, idx_t n, idx_t p, int nthreads,
          bool interruptible) {
  if (m == 0 || p == 0) return;
  if (n == 0) {
    std::fill(C, C + m * p, T(0));
    return;
  }
  if (m < 4 || p < 4) {
    gemm_thin(A, B, C, m, n, p, nthreads, interruptible);
    return;
  }
  const MicroKernel<T>& uk = micro_kernel<T>();
  const int MR = uk.mr, NR = uk.nr;
  // Rows a multiple of 4 KiB apart share one set of the L1 cache: read in place, MR of them
  // would evict each other, so such rows are read MR/2 at a time (one thread, 512 x 1024 @
  // 1024 x 32: 0.34 ms, where packing A took 0.64 ms).
  const bool rows_alias = n * idx_t(sizeof(T)) % 4096 == 0;
  const int SR = rows_alias ? MR / 2 : MR;  // the rows of a tile whose A is read in place
  // A last sliver of B at most NR/2 wide is packed, and multiplied, as half-width tiles.
  const auto half_width = [NR](idx_t nr) { return nr <= NR / 2; };
  const idx_t KC = kKC<T>;
  const idx_t NC = std::min(kNC<T>, (p + NR - 1) / NR * NR);
  // Several KC-row slabs of B are packed at once (up to kPanelBytes), so that the threads
  // meet (at the end of a parallel region) as rarely as possible.
  const idx_t K2 = std::min((n + KC - 1) / KC * KC,
                            std::max<idx_t>(1, kPanelBytes / idx_t(sizeof(T)) / NC / KC) * KC);

  // Row blocks: as few as fit in L2, but a multiple of the thread count when possible.
  const idx_t mr_tiles = (m + MR - 1) / MR;
  idx_t n_blocks = (m + kMCmax<T> - 1) / kMCmax<T>;
  n_blocks = std::min(mr_tiles, (n_blocks + nthreads - 1) / nthreads * nthreads);
  const idx_t MC = ((m + n_blocks - 1) / n_blocks + MR - 1) / MR * MR;
  const idx_t n_ic = (m + MC - 1) / MC;

  Scratch<T> Bp = scratch<T>(std::min(K2, n) * NC);
  Scratch<T> Ap = scratch<T>(idx_t(nthreads) * MC * std::min(KC, n));

  for (idx_t jc = 0; jc < p; jc += NC) {
    const idx_t nc = std::min(NC, p - jc);
    const idx_t panels = (nc + NR - 1) / NR;
    // A block of A meeting only a few slivers of B is read in place (see the comment above).
    const bool pack_A_blocks = panels > kPanelsToPackA;
    // Also split the columns of the panel, so that there are a few tasks per thread for
    // the threads to balance; but each column group packs its own copy of the A block, so
    // then not into groups narrower than 512 columns.
    const idx_t want = nthreads > 1 ? 8 * nthreads : 1;
    const idx_t n_jg = std::max<idx_t>(
        1, std::min((want + n_ic - 1) / n_ic, pack_A_blocks ? nc / 512 : panels));
    const idx_t tasks = n_ic * n_jg;
    for (idx_t kk = 0; kk < n; kk += K2) {
      const idx_t k2 = std::min(K2, n - kk);
      const idx_t slabs = (k2 + KC - 1) / KC;
      // Tasks in groups of ~2^32 multiply-adds (a few tens of ms) between Ctrl-C checks.
      const idx_t task_work = std::max<idx_t>(1, MC * k2 * nc / n_jg);
      idx_t group = std::max<idx_t>(1, (idx_t(1) << 32) / task_work);
      group = std::max<idx_t>(nthreads, group / nthreads * nthreads);
      T* bp = Bp.get();
      for (idx_t g0 = 0; g0 < tasks; g0 += group) {
        const idx_t g1 = std::min(tasks, g0 + group);
        // One parallel region: with the first group the threads pack the slab of B, and after
        // the barrier that ends that loop they share the tasks.
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
        {
          if (g0 == 0) {
            // Slab s holds rows kk + s*KC ... of B as `panels` slivers of kc x NR, at Bp + s*KC*NC.
#pragma omp for schedule(dynamic, 4)
            for (idx_t item = 0; item < slabs * panels; ++item) {
              const idx_t sl = item / panels, jp = item % panels;
              const idx_t kc = std::min(KC, k2 - sl * KC);
              const idx_t nr = std::min<idx_t>(NR, nc - jp * NR);
              pack_B_panel(B + (kk + sl * KC) * p + jc + jp * NR, p, nr, kc,
                           half_width(nr) ? NR / 2 : NR, bp + sl * KC * NC + jp * NR * kc);
            }
          }
#pragma omp for schedule(dynamic, 1)
          for (idx_t t = g0; t < g1; ++t) {
            const idx_t ic = (t / n_jg) * MC, jg = t % n_jg;
            const idx_t mc = std::min(MC, m - ic);
            const idx_t p0 = panels * jg / n_jg, p1 = panels * (jg + 1) / n_jg;
            T* ap = Ap.get() + idx_t(thread_id()) * MC * std::min(KC, n);
            const idx_t in_place_rows = pack_A_blocks ? 0 : mc / SR * SR;
            for (idx_t sl = 0; sl < slabs; ++sl) {
              const idx_t pc = kk + sl * KC, kc = std::min(KC, n - pc);
              const T* a = A + ic * n + pc;
              pack_A(a + in_place_rows * n, n, mc - in_place_rows, kc, MR, ap);
              for (idx_t jp = p0; jp < p1; ++jp) {
                const int nr = int(std::min<idx_t>(NR, nc - jp * NR));
                const bool half = half_width(nr);
                const T* b = bp + sl * KC * NC + jp * NR * kc;
                for (idx_t ir = 0; ir < mc;) {
                  const bool in_place = ir < in_place_rows;
                  const int rows = in_place ? SR : MR;
                  const int mr = int(std::min<idx_t>(rows, mc - ir));
                  const auto run = !in_place   ? (half ? uk.packed_half : uk.packed)
                                   : SR == MR ? (half ? uk.in_place_half : uk.in_place)
                                              : (half ? uk.in_place_low_half : uk.in_place_low);
                  run(kc, in_place ? a + ir * n : ap + (ir - in_place_rows) * kc, n, b,
                      C + (ic + ir) * p + jc + jp * NR, p, mr, nr, pc > 0);
                  ir += rows;
                }
              }
            }
          }
        }
        if (interruptible) check_signals();
      }
    }
  }
}

void matmul(const Array& a, const Array& b, Array& out, idx_t batch, idx_t m, idx_t n, idx_t p) {
  check_dtypes("matmul", {&a, &b, &out});
  const idx_t a_size = checked_product("matmul", {batch, m, n});
  const idx_t b_size = checked_product("matmul", {batch, n, p});
  const idx_t c_size = checked_product("matmul", {batch, m, p});
  const idx_t work = checked_product("matmul", {m, n, p});
  if (a.size() != a_size || b.size() != b_size || out.size() != c_size)
    value_error(cat("matmul: sizes a=", a.size(), ", b=", b.size(), ", out=", out.size(),
                    " do not match (batch, m, n, p) = (", batch, ", ", m, ", ", n, ", ", p,
                    "), which needs ", a_size, ", ", b_size, ", ", c_size));
  if (c_size == 0) return;
  // BEGIN SOLUTION a06
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* A = a.data<T>();
    const T* B = b.data<T>();
    T* C = out.data<T>();
    Scratch<T> tmp;
    if (out.raw() == a.raw() || out.raw() == b.raw()) {  // out aliases an input
      tmp = scratch<T>(c_size);
      C = tmp.get();
    }
    const int nt = max_threads();
    if (work >= (idx_t(1) << 19) || batch == 1 || nt == 1) {
      // Big matrices: the threads share each product.
      const int threads = work >= (idx_t(1) << 19) ? nt : 1;
      for (idx_t i = 0; i < batch; ++i) {
        gemm(A + i * m * n, B + i * n * p, C + i * m * p, m, n, p, threads, true);
        check_signals();
      }
    } else {
      // Many small matrices: one product per thread.
      parallel_chunks(batch, std::max<idx_t>(1, work / 16), [=](idx_t b0, idx_t b1) {
        for (idx_t i = b0; i < b1; ++i)
          gemm(A + i * m * n, B + i * n * p, C + i * m * p, m, n, p, 1, false);
      });
    }
    if (tmp) std::memcpy(out.data<T>(), tmp.get(), std::size_t(c_size) * sizeof(T));
  });
  // END SOLUTION
}

}  // namespace needle_cpu

// ---------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------

namespace {

using namespace needle_cpu;

template <class Op>
void def_binary(py::module_& m, const std::string& op) {
  const std::string ew = "ewise_" + op, sc = "scalar_" + op;
  m.def(ew.c_str(),
        [ew](const Array& a, const Array& b, Array& out) { ewise_binary<Op>(ew.c_str(), a, b, out); },
        py::arg("a"), py::arg("b"), py::arg("out"), ("out = " + op + "(a, b), elementwise").c_str());
  m.def(sc.c_str(),
        [sc](const Array& a, double val, Array& out) { scalar_binary<Op>(sc.c_str(), a, val, out); },
        py::arg("a"), py::arg("val"), py::arg("out"), ("out = " + op + "(a, val), elementwise").c_str());
}

template <class Op>
void def_unary(py::module_& m, const std::string& op) {
  const std::string ew = "ewise_" + op;
  m.def(ew.c_str(), [ew](const Array& a, Array& out) { ewise_unary<Op>(ew.c_str(), a, out); },
        py::arg("a"), py::arg("out"), ("out = " + op + "(a), elementwise").c_str());
}

}  // namespace

PYBIND11_MODULE(_backend_cpu, m) {
  m.doc() = "needle_edu's cpu device: the flat kernel protocol in C++ with OpenMP.";
#ifdef NEEDLE_POSIX
  pthread_atfork(nullptr, nullptr, &mark_forked_child);
  pthread_atfork(nullptr, nullptr, [] { g_buffers.reset_lock_after_fork(); });
#endif

  // The buffer protocol: numpy.asarray(array) is a flat view of the same memory (no copy), which
  // is how kernels compiled elsewhere (needle_edu.cpu_kernel, notebook a06) reach the buffer.
  py::class_<Array>(m, "Array", py::buffer_protocol(),
                    "A flat, 64-byte aligned buffer of float32 or float64.")
      .def(py::init([](idx_t size, const py::object& dtype) {
             return new Array(size, parse_dtype(dtype));
           }),
           py::arg("size"), py::arg("dtype") = "float32")
      .def_buffer([](Array& a) {
        const py::ssize_t item = py::ssize_t(itemsize(a.dtype()));
        return py::buffer_info(const_cast<void*>(a.raw()), item,
                               a.dtype() == DType::f32 ? py::format_descriptor<float>::format()
                                                       : py::format_descriptor<double>::format(),
                               1, {py::ssize_t(a.size())}, {item});
      })
      .def_property_readonly("size", &Array::size)
      .def_property_readonly("dtype", [](const Array& a) { return dtype_name(a.dtype()); })
      .def("__repr__", [](const Array& a) {
        return "Array(" + std::to_string(a.size()) + ", dtype=\"" + dtype_name(a.dtype()) + "\")";
      });

  m.def("available", []() { return py::make_tuple(true, ""); },
        "Whether this device can run here, and why not.");
  m.def("num_threads", &max_threads, "The number of OpenMP threads the kernels use.");
  m.def("cached_buffer_bytes", [] { return g_buffers.cached_bytes(); },
        "Bytes of freed buffers kept for reuse (at most 256 MiB; buffers of 64 KiB or more).");
  m.def("release_cached_buffers", [] { g_buffers.clear(); },
        "Give the freed buffers kept for reuse back to the operating system.");

  m.def("from_numpy", &from_numpy, py::arg("a"), py::arg("out"));
  m.def("to_numpy", &to_numpy, py::arg("a"), py::arg("shape"), py::arg("strides"),
        py::arg("offset"));
  m.def("fill", &fill, py::arg("out"), py::arg("val"));
  m.def("compact", &compact, py::arg("a"), py::arg("out"), py::arg("shape"), py::arg("strides"),
        py::arg("offset"));
  m.def("ewise_setitem", &ewise_setitem, py::arg("a"), py::arg("out"), py::arg("shape"),
        py::arg("strides"), py::arg("offset"));
  m.def("scalar_setitem", &scalar_setitem, py::arg("size"), py::arg("val"), py::arg("out"),
        py::arg("shape"), py::arg("strides"), py::arg("offset"));

  def_binary<Add>(m, "add");
  def_binary<Sub>(m, "sub");
  def_binary<Mul>(m, "mul");
  def_binary<Div>(m, "div");
  def_binary<Power>(m, "power");
  def_binary<Maximum>(m, "maximum");
  def_binary<Eq>(m, "eq");
  def_binary<Ne>(m, "ne");
  def_binary<Lt>(m, "lt");
  def_binary<Le>(m, "le");
  def_binary<Gt>(m, "gt");
  def_binary<Ge>(m, "ge");
  def_unary<Neg>(m, "neg");
  def_unary<Log>(m, "log");
  def_unary<Exp>(m, "exp");
  def_unary<Tanh>(m, "tanh");
  def_unary<Sqrt>(m, "sqrt");

  m.def("reduce_sum",
        [](const Array& a, Array& out, idx_t outer, idx_t reduce_, idx_t inner) {
          reduce<SumOp>("reduce_sum", a, out, outer, reduce_, inner);
        },
        py::arg("a"), py::arg("out"), py::arg("outer"),
        py::arg("reduce"), py::arg("inner"));
  m.def("reduce_max",
        [](const Array& a, Array& out, idx_t outer, idx_t reduce_, idx_t inner) {
          reduce<MaxOp>("reduce_max", a, out, outer, reduce_, inner);
        },
        py::arg("a"), py::arg("out"), py::arg("outer"),
        py::arg("reduce"), py::arg("inner"));
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"),
        py::arg("m"), py::arg("n"), py::arg("p"));
}
