// The `cuda` device of needle_edu: every kernel of the flat protocol as a CUDA kernel.
//
// The protocol is the docstring of needle_edu/backend_ndarray/backend_numpy.py, and that
// module is the reference: this file exposes the same names with the same arguments.
//
// How the file is organised:
//   1. errors: every CUDA call is checked and turned into a Python RuntimeError; every bad
//      argument is caught *before* any CUDA call and becomes a ValueError or TypeError;
//   2. Array: a flat buffer of float32 or float64 in GPU memory (cudaMalloc / cudaFree);
//   3. the kernels, templated on the element type T (float or double):
//        strided views (compact / setitem), element-wise ops, reductions, matmul;
//   4. the host wrappers that check their arguments, pick T from the buffers' dtype and
//      launch; and the pybind11 module.
//
// Kernel launches are asynchronous: a launch error (bad configuration) is caught at once
// with cudaGetLastError, but an error *while the kernel runs* (say, an illegal address)
// is only reported by the next synchronising call, usually the cudaMemcpy of to_numpy.
// Run with CUDA_LAUNCH_BLOCKING=1 to make every launch synchronous when debugging.

#include <cuda_runtime.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

// ---------------------------------------------------------------------------------------
// 1. Errors
// ---------------------------------------------------------------------------------------

// Turns a failed CUDA runtime call into a RuntimeError that names the call.
void check_cuda(cudaError_t err, const char* call) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // reset the (non-sticky) error so later calls start clean
    throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorString(err) + " (" +
                             cudaGetErrorName(err) + ")");
  }
}
#define CUDA_CHECK(call) check_cuda((call), #call)

// After every kernel launch: was the launch itself accepted?
#define CUDA_CHECK_LAUNCH(kernel) check_cuda(cudaGetLastError(), "launching " kernel)

std::string join(const std::vector<int64_t>& v) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << (v.size() == 1 ? ",)" : ")");
  return s.str();
}

// a * b and a + b on int64, raising ValueError instead of overflowing.
int64_t checked_mul(int64_t a, int64_t b, const char* fn) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw py::value_error(std::string(fn) + ": sizes overflow int64");
  return r;
}
int64_t checked_add(int64_t a, int64_t b, const char* fn) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw py::value_error(std::string(fn) + ": sizes overflow int64");
  return r;
}

// ---------------------------------------------------------------------------------------
// 2. Array: a flat buffer in GPU memory
// ---------------------------------------------------------------------------------------

enum class DType { float32, float64 };

const char* dtype_name(DType d) { return d == DType::float32 ? "float32" : "float64"; }
size_t itemsize(DType d) { return d == DType::float32 ? sizeof(float) : sizeof(double); }

// Owns `bytes` of device memory; nothing is allocated for 0 bytes (ptr stays null).
// cudaFree waits for the work already queued on the device, so a temporary may be freed
// right after launching the kernel that uses it.
class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes) {
    if (bytes > 0) CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  ~DeviceMemory() {
    if (ptr_) cudaFree(ptr_);  // a destructor must not throw: an error here is ignored
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

class Array {
 public:
  Array(int64_t size, DType dtype) : size_(size), dtype_(dtype), memory_(bytes(size, dtype)) {}

  int64_t size() const { return size_; }
  DType dtype() const { return dtype_; }
  template <class T>
  T* data() const { return static_cast<T*>(memory_.get()); }
  void* raw() const { return memory_.get(); }

 private:
  static size_t bytes(int64_t size, DType dtype) {
    if (size < 0) throw py::value_error("Array: size must be >= 0, got " + std::to_string(size));
    return static_cast<size_t>(checked_mul(size, static_cast<int64_t>(itemsize(dtype)), "Array"));
  }
  int64_t size_;
  DType dtype_;
  DeviceMemory memory_;
};

// The dtype argument of Array(size, dtype): anything numpy understands as float32/float64.
DType parse_dtype(const py::object& dtype) {
  if (py::isinstance<py::str>(dtype)) {  // the canonical names, as NDArray passes them: no numpy call
    std::string name = dtype.cast<std::string>();
    if (name == "float32") return DType::float32;
    if (name == "float64") return DType::float64;
  }
  std::string name = py::dtype::from_args(dtype).attr("name").cast<std::string>();
  if (name == "float32") return DType::float32;
  if (name == "float64") return DType::float64;
  throw py::type_error("Array: dtype must be float32 or float64, got " + name);
}

// Calls f(T{}) with T = float or double, following the dtype: f is a generic lambda.
template <class F>
void dispatch(DType dtype, F&& f) {
  if (dtype == DType::float32)
    f(float{});
  else
    f(double{});
}

// ---------------------------------------------------------------------------------------
// 3. Kernels
// ---------------------------------------------------------------------------------------
//
// Element-wise kernels use a grid-stride loop: thread t of the grid handles elements
// t, t + (threads in the grid), ... so any grid size covers any n, and consecutive threads
// touch consecutive elements (coalesced memory accesses).

constexpr int kThreads = 256;        // threads per block of the 1-D kernels
constexpr int64_t kMaxBlocks = 65535;  // more blocks than this only adds loop iterations

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(ceil_div(n, kThreads), 1), kMaxBlocks));
}

#define GRID_STRIDE_LOOP(i, n)                                                      \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// --- strided views ------------------------------------------------------------------

constexpr int kMaxDims = 8;

// A strided view, passed to kernels by value (it lands in the kernel's parameter space).
struct StridedView {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];  // in elements, may be 0 or negative
  int64_t offset;
};

// Row-major index i of the compact array -> position of that element in the strided buffer.
__device__ int64_t strided_position(int64_t i, const StridedView& v) {
  int64_t pos = v.offset;
  for (int d = v.ndim - 1; d >= 0; --d) {  // the last axis varies fastest
    pos += (i % v.shape[d]) * v.strides[d];
    i /= v.shape[d];
  }
  return pos;
}

// One thread per element of the compact side, so that side is read/written coalesced.
template <class T>
__global__ void compact_kernel(const T* a, T* out, int64_t n, StridedView v) {
  GRID_STRIDE_LOOP(i, n) out[i] = a[strided_position(i, v)];
}

template <class T>
__global__ void ewise_setitem_kernel(const T* a, T* out, int64_t n, StridedView v) {
  GRID_STRIDE_LOOP(i, n) out[strided_position(i, v)] = a[i];
}

template <class T>
__global__ void scalar_setitem_kernel(T val, T* out, int64_t n, StridedView v) {
  GRID_STRIDE_LOOP(i, n) out[strided_position(i, v)] = val;
}

template <class T>
__global__ void fill_kernel(T* out, T val, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = val;
}

// --- element-wise ops: one functor per op ---------------------------------------------
// The math functions are the CUDA overloads (log(float) is logf, ...). Semantics follow
// numpy: x / 0 is inf or nan, maximum propagates NaN, comparisons with NaN are false
// (except ne) and give 1.0 or 0.0 in the element type.

struct Add     { template <class T> __device__ T operator()(T a, T b) const { return a + b; } };
struct Sub     { template <class T> __device__ T operator()(T a, T b) const { return a - b; } };
struct Mul     { template <class T> __device__ T operator()(T a, T b) const { return a * b; } };
struct Div     { template <class T> __device__ T operator()(T a, T b) const { return a / b; } };
struct Power   { template <class T> __device__ T operator()(T a, T b) const { return pow(a, b); } };
struct Maximum { template <class T> __device__ T operator()(T a, T b) const { return (a > b || isnan(a)) ? a : b; } };
struct Eq      { template <class T> __device__ T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };
struct Ne      { template <class T> __device__ T operator()(T a, T b) const { return a != b ? T(1) : T(0); } };
struct Lt      { template <class T> __device__ T operator()(T a, T b) const { return a < b ? T(1) : T(0); } };
struct Le      { template <class T> __device__ T operator()(T a, T b) const { return a <= b ? T(1) : T(0); } };
struct Gt      { template <class T> __device__ T operator()(T a, T b) const { return a > b ? T(1) : T(0); } };
struct Ge      { template <class T> __device__ T operator()(T a, T b) const { return a >= b ? T(1) : T(0); } };

struct Neg  { template <class T> __device__ T operator()(T a) const { return -a; } };
struct Log  { template <class T> __device__ T operator()(T a) const { return log(a); } };
struct Exp  { template <class T> __device__ T operator()(T a) const { return exp(a); } };
struct Tanh { template <class T> __device__ T operator()(T a) const { return tanh(a); } };
struct Sqrt { template <class T> __device__ T operator()(T a) const { return sqrt(a); } };

template <class T, class Op>
__global__ void ewise_binary_kernel(const T* a, const T* b, T* out, int64_t n, Op op) {
  GRID_STRIDE_LOOP(i, n) out[i] = op(a[i], b[i]);
}

template <class T, class Op>
__global__ void scalar_binary_kernel(const T* a, T val, T* out, int64_t n, Op op) {
  GRID_STRIDE_LOOP(i, n) out[i] = op(a[i], val);
}

template <class T, class Op>
__global__ void ewise_unary_kernel(const T* a, T* out, int64_t n, Op op) {
  GRID_STRIDE_LOOP(i, n) out[i] = op(a[i]);
}

// --- reductions over the middle axis of a compact (outer, reduce, inner) block ----------

struct SumOp {
  template <class T> __device__ static T identity() { return T(0); }
  template <class T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  template <class T> __device__ static T identity() { return T(-INFINITY); }
  template <class T> __device__ T operator()(T a, T b) const { return Maximum{}(a, b); }
};

// Combines the values of the 32 lanes of a warp; the result is valid in lane 0.
template <class T, class Op>
__device__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// inner == 1: each row of `reduce` contiguous elements is reduced by one block.
// The block's threads stride through the row together (coalesced), each keeping a partial
// result; warps combine partials with shuffles, then warp 0 combines the warps' results.
// blockDim.x is a multiple of 32 (so every warp is full) and at most 1024.
template <class T, class Op>
__global__ void reduce_rows_kernel(const T* a, T* out, int64_t outer, int64_t reduce, Op op) {
  __shared__ T warp_results[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  for (int64_t row = blockIdx.x; row < outer; row += gridDim.x) {  // same row for the whole block
    const T* x = a + row * reduce;
    T acc = Op::template identity<T>();
    for (int64_t r = threadIdx.x; r < reduce; r += blockDim.x) acc = op(acc, x[r]);
    acc = warp_reduce(acc, op);
    if (lane == 0) warp_results[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < warps ? warp_results[lane] : Op::template identity<T>();
      acc = warp_reduce(acc, op);
      if (lane == 0) out[row] = acc;
    }
    __syncthreads();  // warp_results is reused for the next row
  }
}

// inner > 1: one thread per output (o, i) walks the `reduce` elements a[o, :, i]. Threads
// with consecutive i read consecutive addresses at every step (coalesced).
template <class T, class Op>
__global__ void reduce_columns_kernel(const T* a, T* out, int64_t outer, int64_t reduce,
                                      int64_t inner, Op op) {
  GRID_STRIDE_LOOP(j, outer * inner) {
    const int64_t o = j / inner, i = j % inner;
    const T* x = a + o * reduce * inner + i;
    T acc = Op::template identity<T>();
    for (int64_t r = 0; r < reduce; ++r) acc = op(acc, x[r * inner]);
    out[j] = acc;
  }
}

// --- matmul -----------------------------------------------------------------------------
//
// Tiling. Each block computes a TILE x TILE (64 x 64) tile of C = A @ B. It walks the
// shared dimension n in steps of TILE_K (16): the 256 threads copy a 64 x 16 slab of A and
// a 16 x 64 slab of B into shared memory (each element read from global memory once per
// block instead of once per output), synchronise, and accumulate the slab's contribution.
// Each thread owns a 4 x 4 register tile of C: rows ty + 16*i and columns tx + 16*j
// (i, j = 0..3). Per k it loads 4 values of A and 4 of B from shared memory and does 16
// multiply-adds, so shared-memory traffic is 8 loads per 16 FMAs. Spreading a thread's
// columns 16 apart keeps the final stores coalesced (consecutive tx, consecutive columns)
// and the shared-memory reads free of bank conflicts. Loads outside A or B give 0 and
// stores outside C are skipped, so m, n and p need not be multiples of the tiles.

constexpr int TILE = 64;                  // block tile of C: TILE x TILE
constexpr int TILE_K = 16;                // step along the shared dimension
constexpr int SIDE = 16;                  // threads per block: SIDE x SIDE
constexpr int WORK = TILE / SIDE;         // register tile per thread: WORK x WORK
constexpr int MM_THREADS = SIDE * SIDE;   // 256
static_assert(TILE * TILE_K % MM_THREADS == 0, "slab loads must split evenly over the threads");

template <class T>
__global__ void matmul_kernel(const T* a, const T* b, T* out, int64_t batch, int64_t m, int64_t n,
                              int64_t p) {
  __shared__ T a_slab[TILE_K][TILE + 1];  // a_slab[k][r] = A[row0 + r, k0 + k]; +1 avoids bank conflicts
  __shared__ T b_slab[TILE_K][TILE];      // b_slab[k][c] = B[k0 + k, col0 + c]
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * SIDE + tx;
  const int64_t tiles_m = ceil_div(m, TILE), tiles_p = ceil_div(p, TILE);

  // The grid may be smaller than (tiles_p, tiles_m, batch) (grid.y and grid.z stop at
  // 65535): each block then walks several tiles. These loops are uniform over the block,
  // so the __syncthreads() inside are reached by all its threads.
  for (int64_t z = blockIdx.z; z < batch; z += gridDim.z)
    for (int64_t tile_r = blockIdx.y; tile_r < tiles_m; tile_r += gridDim.y)
      for (int64_t tile_c = blockIdx.x; tile_c < tiles_p; tile_c += gridDim.x) {
        const T* A = a + z * m * n;
        const T* B = b + z * n * p;
        T* C = out + z * m * p;
        const int64_t row0 = tile_r * TILE, col0 = tile_c * TILE;
        T acc[WORK][WORK] = {};

        for (int64_t k0 = 0; k0 < n; k0 += TILE_K) {
          // A slab (TILE rows x TILE_K columns): 16 consecutive threads read one row's 16
          // consecutive elements.
          for (int l = tid; l < TILE * TILE_K; l += MM_THREADS) {
            const int r = l / TILE_K, k = l % TILE_K;
            const int64_t row = row0 + r, col = k0 + k;
            a_slab[k][r] = (row < m && col < n) ? A[row * n + col] : T(0);
          }
          // B slab (TILE_K rows x TILE columns): a warp reads 32 consecutive elements of a row.
          for (int l = tid; l < TILE_K * TILE; l += MM_THREADS) {
            const int k = l / TILE, c = l % TILE;
            const int64_t row = k0 + k, col = col0 + c;
            b_slab[k][c] = (row < n && col < p) ? B[row * p + col] : T(0);
          }
          __syncthreads();  // the slabs are complete

#pragma unroll
          for (int k = 0; k < TILE_K; ++k) {
            T a_reg[WORK], b_reg[WORK];
#pragma unroll
            for (int i = 0; i < WORK; ++i) a_reg[i] = a_slab[k][ty + i * SIDE];
#pragma unroll
            for (int j = 0; j < WORK; ++j) b_reg[j] = b_slab[k][tx + j * SIDE];
#pragma unroll
            for (int i = 0; i < WORK; ++i)
#pragma unroll
              for (int j = 0; j < WORK; ++j) acc[i][j] += a_reg[i] * b_reg[j];
          }
          __syncthreads();  // everyone is done with the slabs before they are overwritten
        }

#pragma unroll
        for (int i = 0; i < WORK; ++i)
#pragma unroll
          for (int j = 0; j < WORK; ++j) {
            const int64_t row = row0 + ty + i * SIDE, col = col0 + tx + j * SIDE;
            if (row < m && col < p) C[row * p + col] = acc[i][j];
          }
      }
}

// ---------------------------------------------------------------------------------------
// 4. Host wrappers: check the arguments, then launch
// ---------------------------------------------------------------------------------------

std::string describe(const char* name, const Array& x) {
  return std::string(name) + " (size " + std::to_string(x.size()) + ", " + dtype_name(x.dtype()) + ")";
}

// Same dtype for every buffer (TypeError), then the same size (ValueError).
void check_same(const char* fn, std::initializer_list<std::pair<const char*, const Array*>> arrays,
                bool same_size = true) {
  const Array& first = *arrays.begin()->second;
  std::string all;
  for (const auto& [name, x] : arrays) all += (all.empty() ? "" : ", ") + describe(name, *x);
  for (const auto& [name, x] : arrays)
    if (x->dtype() != first.dtype()) throw py::type_error(std::string(fn) + ": dtypes differ: " + all);
  if (same_size)
    for (const auto& [name, x] : arrays)
      if (x->size() != first.size()) throw py::value_error(std::string(fn) + ": sizes differ: " + all);
}

// Checks a strided view of `buffer` and packs it for the kernels: rank at most kMaxDims,
// shape >= 0, and every element it reaches inside the buffer. Returns prod(shape) in *count.
StridedView make_view(const char* fn, const Array& buffer, const std::vector<int64_t>& shape,
                      const std::vector<int64_t>& strides, int64_t offset, int64_t* count) {
  const std::string view = std::string(fn) + ": the view (shape " + join(shape) + ", strides " +
                           join(strides) + ", offset " + std::to_string(offset) + ")";
  if (shape.size() != strides.size()) throw py::value_error(view + " has len(shape) != len(strides)");
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw py::value_error(view + " has more than " + std::to_string(kMaxDims) + " dimensions");
  StridedView v{};
  v.ndim = static_cast<int>(shape.size());
  v.offset = offset;
  int64_t n = 1, lowest = offset, highest = offset;  // positions reached
  for (int d = 0; d < v.ndim; ++d) {
    if (shape[d] < 0) throw py::value_error(view + " has a negative dimension");
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
    n = checked_mul(n, shape[d], fn);
    if (shape[d] > 0) {
      const int64_t reach = checked_mul(strides[d], shape[d] - 1, fn);
      if (reach > 0) highest = checked_add(highest, reach, fn);
      else lowest = checked_add(lowest, reach, fn);
    }
  }
  if (n > 0 && (lowest < 0 || highest >= buffer.size()))
    throw py::value_error(view + " reaches elements " + std::to_string(lowest) + ".." +
                          std::to_string(highest) + ", outside " + describe("the buffer", buffer));
  *count = n;
  return v;
}

// True when the view is the row-major layout of `count` consecutive elements.
bool is_compact(const StridedView& v) {
  int64_t expected = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    if (v.shape[d] != 1 && v.strides[d] != expected) return false;
    expected *= v.shape[d];
  }
  return true;
}

// A device copy of `a` (used when a kernel's input and output are the same buffer).
std::unique_ptr<Array> device_copy(const Array& a) {
  auto copy = std::make_unique<Array>(a.size(), a.dtype());
  if (a.size() > 0)
    CUDA_CHECK(cudaMemcpy(copy->raw(), a.raw(), a.size() * itemsize(a.dtype()), cudaMemcpyDeviceToDevice));
  return copy;
}

// --- availability -----------------------------------------------------------------------

std::pair<bool, std::string> available() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return {false, cudaGetErrorString(err)};
  }
  if (count == 0) return {false, "no CUDA-capable device is detected"};
  return {true, ""};
}

std::string device_name() {
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return prop.name;
}

// --- buffers ----------------------------------------------------------------------------

void from_numpy(const py::array& a, Array& out) {
  const bool dtype_ok = out.dtype() == DType::float32 ? py::isinstance<py::array_t<float>>(a)
                                                      : py::isinstance<py::array_t<double>>(a);
  if (!dtype_ok)
    throw py::type_error("from_numpy: the numpy array has dtype " +
                         py::str(a.dtype()).cast<std::string>() + ", " + describe("out", out) + " needs " +
                         dtype_name(out.dtype()));
  if (a.ndim() != 1 || a.shape(0) != out.size())
    throw py::value_error("from_numpy: needs a 1-D numpy array of " + std::to_string(out.size()) +
                          " elements, got shape " + py::str(a.attr("shape")).cast<std::string>());
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("from_numpy: the numpy array must be contiguous");
  if (out.size() > 0)
    CUDA_CHECK(cudaMemcpy(out.raw(), a.data(), out.size() * itemsize(out.dtype()), cudaMemcpyHostToDevice));
}

py::array to_numpy(const Array& a, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                   int64_t offset) {
  int64_t n;
  const StridedView v = make_view("to_numpy", a, shape, strides, offset, &n);
  py::array result;
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::array_t<T> host(shape);  // a new C-contiguous numpy array
    if (n > 0) {
      const T* source = a.data<T>() + offset;
      std::unique_ptr<Array> compacted;
      if (!is_compact(v)) {  // gather the view into a compact temporary on the device first
        compacted = std::make_unique<Array>(n, a.dtype());
        compact_kernel<T><<<blocks_for(n), kThreads>>>(a.data<T>(), compacted->data<T>(), n, v);
        CUDA_CHECK_LAUNCH("compact_kernel");
        source = compacted->data<T>();
      }
      CUDA_CHECK(cudaMemcpy(host.mutable_data(), source, n * sizeof(T), cudaMemcpyDeviceToHost));
    }
    result = std::move(host);
  });
  return result;
}

void fill(Array& out, double val) {
  if (out.size() == 0) return;
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    fill_kernel<T><<<blocks_for(out.size()), kThreads>>>(out.data<T>(), static_cast<T>(val), out.size());
    CUDA_CHECK_LAUNCH("fill_kernel");
  });
}

// --- strided views ----------------------------------------------------------------------

void compact(const Array& a, Array& out, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
             int64_t offset) {
  check_same("compact", {{"a", &a}, {"out", &out}}, /*same_size=*/false);
  int64_t n;
  const StridedView v = make_view("compact", a, shape, strides, offset, &n);
  if (out.size() != n)
    throw py::value_error("compact: " + describe("out", out) + " must hold prod(shape) = " + std::to_string(n) +
                          " elements");
  if (n == 0) return;
  const std::unique_ptr<Array> copy = &a == &out ? device_copy(a) : nullptr;  // reading while writing
  const Array& source = copy ? *copy : a;
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    compact_kernel<T><<<blocks_for(n), kThreads>>>(source.data<T>(), out.data<T>(), n, v);
    CUDA_CHECK_LAUNCH("compact_kernel");
  });
}

// Note: if the view reaches an element twice (a zero stride), which of the values written
// there wins is unspecified, as with any parallel scatter.
void ewise_setitem(const Array& a, Array& out, const std::vector<int64_t>& shape,
                   const std::vector<int64_t>& strides, int64_t offset) {
  check_same("ewise_setitem", {{"a", &a}, {"out", &out}}, /*same_size=*/false);
  int64_t n;
  const StridedView v = make_view("ewise_setitem", out, shape, strides, offset, &n);
  if (a.size() != n)
    throw py::value_error("ewise_setitem: " + describe("a", a) + " must hold prod(shape) = " + std::to_string(n) +
                          " elements");
  if (n == 0) return;
  const std::unique_ptr<Array> copy = &a == &out ? device_copy(a) : nullptr;
  const Array& source = copy ? *copy : a;
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    ewise_setitem_kernel<T><<<blocks_for(n), kThreads>>>(source.data<T>(), out.data<T>(), n, v);
    CUDA_CHECK_LAUNCH("ewise_setitem_kernel");
  });
}

void scalar_setitem(int64_t size, double val, Array& out, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& strides, int64_t offset) {
  int64_t n;
  const StridedView v = make_view("scalar_setitem", out, shape, strides, offset, &n);
  if (size != n)
    throw py::value_error("scalar_setitem: size " + std::to_string(size) + " != prod(shape) = " + std::to_string(n));
  if (n == 0) return;
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    scalar_setitem_kernel<T><<<blocks_for(n), kThreads>>>(static_cast<T>(val), out.data<T>(), n, v);
    CUDA_CHECK_LAUNCH("scalar_setitem_kernel");
  });
}

// --- element-wise -----------------------------------------------------------------------
// `out` may be `a` or `b`: each thread reads element i before writing element i.

template <class Op>
void ewise_binary(const char* fn, const Array& a, const Array& b, Array& out) {
  check_same(fn, {{"a", &a}, {"b", &b}, {"out", &out}});
  if (out.size() == 0) return;
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    ewise_binary_kernel<T><<<blocks_for(out.size()), kThreads>>>(a.data<T>(), b.data<T>(), out.data<T>(),
                                                                 out.size(), Op{});
    CUDA_CHECK_LAUNCH("ewise_binary_kernel");
  });
}

// The scalar is first rounded to the element type, as numpy's a.dtype.type(val).
template <class Op>
void scalar_binary(const char* fn, const Array& a, double val, Array& out) {
  check_same(fn, {{"a", &a}, {"out", &out}});
  if (out.size() == 0) return;
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    scalar_binary_kernel<T><<<blocks_for(out.size()), kThreads>>>(a.data<T>(), static_cast<T>(val),
                                                                  out.data<T>(), out.size(), Op{});
    CUDA_CHECK_LAUNCH("scalar_binary_kernel");
  });
}

template <class Op>
void ewise_unary(const char* fn, const Array& a, Array& out) {
  check_same(fn, {{"a", &a}, {"out", &out}});
  if (out.size() == 0) return;
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    ewise_unary_kernel<T><<<blocks_for(out.size()), kThreads>>>(a.data<T>(), out.data<T>(), out.size(), Op{});
    CUDA_CHECK_LAUNCH("ewise_unary_kernel");
  });
}

// --- reductions -------------------------------------------------------------------------

template <class Op>
void reduce_middle(const char* fn, const Array& a, Array& out, int64_t outer, int64_t reduce, int64_t inner) {
  check_same(fn, {{"a", &a}, {"out", &out}}, /*same_size=*/false);
  if (outer < 0 || reduce < 0 || inner < 0)
    throw py::value_error(std::string(fn) + ": outer, reduce and inner must be >= 0");
  const int64_t in_size = checked_mul(checked_mul(outer, reduce, fn), inner, fn);
  const int64_t out_size = checked_mul(outer, inner, fn);
  if (a.size() != in_size || out.size() != out_size)
    throw py::value_error(std::string(fn) + ": for (outer, reduce, inner) = " + join({outer, reduce, inner}) +
                          ", a must hold " + std::to_string(in_size) + " elements and out " +
                          std::to_string(out_size) + "; got " + describe("a", a) + ", " + describe("out", out));
  if (reduce == 0 && std::is_same_v<Op, MaxOp>)  // as numpy: max of nothing is an error
    throw py::value_error(std::string(fn) + ": zero-size array to reduction operation maximum which has no identity");
  if (out_size == 0) return;
  // out may be a only when reduce == 1: each output then reads just its own element.
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if (inner == 1) {
      // Just enough full warps to cover a row, at most kThreads threads.
      const int threads = static_cast<int>(std::clamp<int64_t>(ceil_div(reduce, 32) * 32, 32, kThreads));
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(outer, kMaxBlocks));
      reduce_rows_kernel<T><<<blocks, threads>>>(a.data<T>(), out.data<T>(), outer, reduce, Op{});
      CUDA_CHECK_LAUNCH("reduce_rows_kernel");
    } else {
      reduce_columns_kernel<T><<<blocks_for(out_size), kThreads>>>(a.data<T>(), out.data<T>(), outer, reduce,
                                                                   inner, Op{});
      CUDA_CHECK_LAUNCH("reduce_columns_kernel");
    }
  });
}

// --- matmul -----------------------------------------------------------------------------

void matmul(const Array& a, const Array& b, Array& out, int64_t batch, int64_t m, int64_t n, int64_t p) {
  check_same("matmul", {{"a", &a}, {"b", &b}, {"out", &out}}, /*same_size=*/false);
  if (batch < 0 || m < 0 || n < 0 || p < 0) throw py::value_error("matmul: batch, m, n and p must be >= 0");
  const int64_t a_size = checked_mul(checked_mul(batch, m, "matmul"), n, "matmul");
  const int64_t b_size = checked_mul(checked_mul(batch, n, "matmul"), p, "matmul");
  const int64_t out_size = checked_mul(checked_mul(batch, m, "matmul"), p, "matmul");
  if (a.size() != a_size || b.size() != b_size || out.size() != out_size)
    throw py::value_error("matmul: (batch, m, n, p) = " + join({batch, m, n, p}) + " needs a, b, out of " +
                          std::to_string(a_size) + ", " + std::to_string(b_size) + ", " + std::to_string(out_size) +
                          " elements; got " + describe("a", a) + ", " + describe("b", b) + ", " + describe("out", out));
  if (out_size == 0) return;
  // Writing C while other blocks still read A or B would race: work on copies.
  const std::unique_ptr<Array> a_copy = &a == &out ? device_copy(a) : nullptr;
  const std::unique_ptr<Array> b_copy = &b == &out ? device_copy(b) : nullptr;
  const Array& lhs = a_copy ? *a_copy : a;
  const Array& rhs = b_copy ? *b_copy : b;
  const dim3 block(SIDE, SIDE);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(ceil_div(p, TILE), kMaxBlocks)),
                  static_cast<unsigned>(std::min<int64_t>(ceil_div(m, TILE), kMaxBlocks)),
                  static_cast<unsigned>(std::min<int64_t>(batch, kMaxBlocks)));
  dispatch(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    matmul_kernel<T><<<grid, block>>>(lhs.data<T>(), rhs.data<T>(), out.data<T>(), batch, m, n, p);
    CUDA_CHECK_LAUNCH("matmul_kernel");
  });
}

// --- pybind11 ---------------------------------------------------------------------------

template <class Op>
void def_binary(py::module_& m, const char* ewise_name, const char* scalar_name) {
  m.def(ewise_name, [ewise_name](const Array& a, const Array& b, Array& out) { ewise_binary<Op>(ewise_name, a, b, out); },
        py::arg("a"), py::arg("b"), py::arg("out"));
  m.def(scalar_name, [scalar_name](const Array& a, double val, Array& out) { scalar_binary<Op>(scalar_name, a, val, out); },
        py::arg("a"), py::arg("val"), py::arg("out"));
}

template <class Op>
void def_unary(py::module_& m, const char* name) {
  m.def(name, [name](const Array& a, Array& out) { ewise_unary<Op>(name, a, out); }, py::arg("a"), py::arg("out"));
}

}  // namespace

PYBIND11_MODULE(_backend_cuda, m) {
  m.doc() = "needle_edu's cuda device: the flat kernel protocol of backend_numpy, as CUDA kernels.";

  py::class_<Array>(m, "Array", "A flat buffer of float32 or float64 in GPU memory.")
      .def(py::init([](int64_t size, const py::object& dtype) { return new Array(size, parse_dtype(dtype)); }),
           py::arg("size"), py::arg("dtype") = "float32")
      .def_property_readonly("size", &Array::size)
      .def_property_readonly("dtype", [](const Array& a) { return std::string(dtype_name(a.dtype())); })
      .def("__repr__", [](const Array& a) {
        return "Array(" + std::to_string(a.size()) + ", dtype='" + dtype_name(a.dtype()) + "')";
      });

  m.def("available", &available,
        "(True, '') when a CUDA device can be used here, else (False, the reason). Never raises.");
  m.def("device_name", &device_name, "The name of CUDA device 0.");

  m.def("from_numpy", &from_numpy, py::arg("a"), py::arg("out"));
  m.def("to_numpy", &to_numpy, py::arg("a"), py::arg("shape"), py::arg("strides"), py::arg("offset"));
  m.def("fill", &fill, py::arg("out"), py::arg("val"));
  m.def("compact", &compact, py::arg("a"), py::arg("out"), py::arg("shape"), py::arg("strides"), py::arg("offset"));
  m.def("ewise_setitem", &ewise_setitem, py::arg("a"), py::arg("out"), py::arg("shape"), py::arg("strides"),
        py::arg("offset"));
  m.def("scalar_setitem", &scalar_setitem, py::arg("size"), py::arg("val"), py::arg("out"), py::arg("shape"),
        py::arg("strides"), py::arg("offset"));

  def_binary<Add>(m, "ewise_add", "scalar_add");
  def_binary<Sub>(m, "ewise_sub", "scalar_sub");
  def_binary<Mul>(m, "ewise_mul", "scalar_mul");
  def_binary<Div>(m, "ewise_div", "scalar_div");
  def_binary<Power>(m, "ewise_power", "scalar_power");
  def_binary<Maximum>(m, "ewise_maximum", "scalar_maximum");
  def_binary<Eq>(m, "ewise_eq", "scalar_eq");
  def_binary<Ne>(m, "ewise_ne", "scalar_ne");
  def_binary<Lt>(m, "ewise_lt", "scalar_lt");
  def_binary<Le>(m, "ewise_le", "scalar_le");
  def_binary<Gt>(m, "ewise_gt", "scalar_gt");
  def_binary<Ge>(m, "ewise_ge", "scalar_ge");

  def_unary<Neg>(m, "ewise_neg");
  def_unary<Log>(m, "ewise_log");
  def_unary<Exp>(m, "ewise_exp");
  def_unary<Tanh>(m, "ewise_tanh");
  def_unary<Sqrt>(m, "ewise_sqrt");

  m.def("reduce_sum", [](const Array& a, Array& out, int64_t outer, int64_t reduce, int64_t inner) {
          reduce_middle<SumOp>("reduce_sum", a, out, outer, reduce, inner);
        }, py::arg("a"), py::arg("out"), py::arg("outer"), py::arg("reduce"), py::arg("inner"));
  m.def("reduce_max", [](const Array& a, Array& out, int64_t outer, int64_t reduce, int64_t inner) {
          reduce_middle<MaxOp>("reduce_max", a, out, outer, reduce, inner);
        }, py::arg("a"), py::arg("out"), py::arg("outer"), py::arg("reduce"), py::arg("inner"));
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"), py::arg("m"), py::arg("n"),
        py::arg("p"));
}
