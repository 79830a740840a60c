/*
 * mea's native addon: onnxruntime sessions run with every output written straight into the caller's typed arrays, and
 * the few numeric kernels of training that a benchmark showed JS or WebAssembly could not run fast enough (AdamW,
 * dropout masks, column statistics), each computing exactly the bits of the code it stands in for.
 *
 * Why the onnxruntime part exists: onnxruntime-node's binding hands every output back in a new ArrayBuffer even when the caller gave one
 * to write into, so a training step paid for allocating, zero-filling, page-faulting and copying its 58 MB of
 * gradients and its saved activations, and for the garbage collections that memory brought (about 30 ms of a 180 ms
 * step on 2 cores; see bench/step.ts). This binding drives the very library onnxruntime-node ships, loaded from that
 * package at run time, through onnxruntime's C API: a table of function pointers that only grows at its end, so a
 * position in it never changes meaning. It needs no onnxruntime headers to build, only Node's node_api.h and a C
 * compiler. Where it cannot be built or loaded, mea uses onnxruntime-node (src/model/graph-session.ts).
 *
 * JS interface, synchronous like onnxruntime-node's own run:
 *   init(libraryPath, apiVersion) -> onnxruntime's version string
 *   createSession(modelBytes, threads) -> { session, inputs: string[], outputs: string[] }
 *   run(session, inputNames, inputArrays, inputDims, outputNames, outputArrays, outputDims) -> results
 *   release(session)
 *   adamw(memory, slots, decay, b1, c1, b2, c2, stepSize, invBc2, eps, threads)
 *   fillMask(out, state, block, threshold, keep)
 *   columnChunk(rows, k, dim, mean, m2) -> index of the first non-finite value, or -1
 * Arrays are Float32Array or Float64Array; dims are arrays of integers whose product is the array's length. An output
 * array must already have the output's shape (onnxruntime refuses one that does not), or be null: onnxruntime then
 * allocates that output and `results[i]` is { data, dims }, a copy (a caller's first run, to learn the shapes).
 * `results[i]` is undefined for an output written in place.
 */
#include <dlfcn.h>
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtAllocator OrtAllocator;

/* What the library's one exported function, OrtGetApiBase, returns. */
typedef struct {
  const void* (*GetApi)(uint32_t version);
  const char* (*GetVersionString)(void);
} OrtApiBase;

/* Positions in the OrtApi table of the functions used here. */
enum {
  API_GetErrorMessage = 2,
  API_CreateEnv = 3,
  API_CreateSessionFromArray = 8,
  API_Run = 9,
  API_CreateSessionOptions = 10,
  API_SetSessionExecutionMode = 13,
  API_SetSessionGraphOptimizationLevel = 23,
  API_SetIntraOpNumThreads = 24,
  API_SetInterOpNumThreads = 25,
  API_SessionGetInputCount = 30,
  API_SessionGetOutputCount = 31,
  API_SessionGetInputName = 36,
  API_SessionGetOutputName = 37,
  API_CreateTensorWithDataAsOrtValue = 49,
  API_GetTensorMutableData = 51,
  API_GetTensorElementType = 60,
  API_GetDimensionsCount = 61,
  API_GetDimensions = 62,
  API_GetTensorTypeAndShape = 65,
  API_CreateCpuMemoryInfo = 69,
  API_AllocatorFree = 76,
  API_GetAllocatorWithDefaultOptions = 78,
  API_ReleaseStatus = 93,
  API_ReleaseSession = 95,
  API_ReleaseValue = 96,
  API_ReleaseTensorTypeAndShapeInfo = 99,
  API_ReleaseSessionOptions = 100,
  API_AddSessionConfigEntry = 130,
};

enum { ELEM_FLOAT = 1, ELEM_DOUBLE = 11 };
enum { ARENA_ALLOCATOR = 1, MEM_TYPE_DEFAULT = 0 };
enum { OPTIMIZE_ALL = 99, SEQUENTIAL = 0, LOG_WARNING = 2 };
enum { MAX_RANK = 8 };

typedef OrtStatus* (*CreateEnvFn)(int, const char*, OrtEnv**);
typedef const char* (*GetErrorMessageFn)(const OrtStatus*);
typedef void (*ReleaseFn)(void*);
typedef OrtStatus* (*CreateSessionFromArrayFn)(const OrtEnv*, const void*, size_t, const OrtSessionOptions*, OrtSession**);
typedef OrtStatus* (*RunFn)(OrtSession*, const void*, const char* const*, const OrtValue* const*, size_t, const char* const*,
                            size_t, OrtValue**);
typedef OrtStatus* (*CreateSessionOptionsFn)(OrtSessionOptions**);
typedef OrtStatus* (*SetIntFn)(OrtSessionOptions*, int);
typedef OrtStatus* (*CountFn)(const OrtSession*, size_t*);
typedef OrtStatus* (*NameFn)(const OrtSession*, size_t, OrtAllocator*, char**);
typedef OrtStatus* (*CreateTensorFn)(const OrtMemoryInfo*, void*, size_t, const int64_t*, size_t, int, OrtValue**);
typedef OrtStatus* (*CreateCpuMemoryInfoFn)(int, int, OrtMemoryInfo**);
typedef OrtStatus* (*GetAllocatorFn)(OrtAllocator**);
typedef OrtStatus* (*AllocatorFreeFn)(OrtAllocator*, void*);
typedef OrtStatus* (*ConfigEntryFn)(OrtSessionOptions*, const char*, const char*);
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef OrtStatus* (*GetTypeAndShapeFn)(const OrtValue*, OrtTensorTypeAndShapeInfo**);
typedef OrtStatus* (*GetElementTypeFn)(const OrtTensorTypeAndShapeInfo*, int*);
typedef OrtStatus* (*GetDimensionsCountFn)(const OrtTensorTypeAndShapeInfo*, size_t*);
typedef OrtStatus* (*GetDimensionsFn)(const OrtTensorTypeAndShapeInfo*, int64_t*, size_t);
typedef OrtStatus* (*GetMutableDataFn)(OrtValue*, void**);

static const void* const* api = NULL;
static const char* version = NULL;
static OrtEnv* env = NULL;
static OrtMemoryInfo* cpu = NULL;

#define FN(type, name) ((type)api[API_##name])

static napi_value fail(napi_env e, const char* message) {
  napi_throw_error(e, NULL, message);
  return NULL;
}

/* A non-null status becomes a pending JS exception; returns whether it did. */
static int failed(napi_env e, OrtStatus* status, const char* what) {
  if (status == NULL) return 0;
  char message[2048];
  snprintf(message, sizeof message, "onnxruntime %s: %s", what, FN(GetErrorMessageFn, GetErrorMessage)(status));
  FN(ReleaseFn, ReleaseStatus)(status);
  napi_throw_error(e, NULL, message);
  return 1;
}

#define NAPI(call)                                                 \
  do {                                                             \
    if ((call) != napi_ok) return fail(e, "mea-native: bad argument"); \
  } while (0)

static napi_value init(napi_env e, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (api == NULL) {
    char path[4096];
    size_t len;
    uint32_t apiVersion;
    if (argc < 2) return fail(e, "mea-native: init(libraryPath, apiVersion)");
    NAPI(napi_get_value_string_utf8(e, argv[0], path, sizeof path, &len));
    NAPI(napi_get_value_uint32(e, argv[1], &apiVersion));
    /* The same file onnxruntime-node loaded is the same library in memory: one onnxruntime, one environment. */
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) return fail(e, dlerror());
    const OrtApiBase* (*getBase)(void) = (const OrtApiBase* (*)(void))dlsym(lib, "OrtGetApiBase");
    if (getBase == NULL) return fail(e, "mea-native: the library exports no OrtGetApiBase");
    const OrtApiBase* base = getBase();
    const void* const* table = (const void* const*)base->GetApi(apiVersion);
    if (table == NULL) return fail(e, "mea-native: the library does not offer that API version");
    api = table;
    version = base->GetVersionString();
    /* An environment that already exists in the process (onnxruntime-node's) is returned, not created twice. */
    if (failed(e, FN(CreateEnvFn, CreateEnv)(LOG_WARNING, "mea", &env), "CreateEnv")) {
      api = NULL;
      return NULL;
    }
    if (failed(e, FN(CreateCpuMemoryInfoFn, CreateCpuMemoryInfo)(ARENA_ALLOCATOR, MEM_TYPE_DEFAULT, &cpu), "CreateCpuMemoryInfo")) {
      api = NULL;
      return NULL;
    }
  }
  napi_value result;
  NAPI(napi_create_string_utf8(e, version, NAPI_AUTO_LENGTH, &result));
  return result;
}

typedef struct {
  OrtSession* session;
} Session;

static void finalizeSession(napi_env e, void* data, void* hint) {
  (void)e;
  (void)hint;
  Session* s = (Session*)data;
  if (s->session != NULL) FN(ReleaseFn, ReleaseSession)(s->session);
  free(s);
}

static napi_value names(napi_env e, OrtSession* session, CountFn count, NameFn name) {
  OrtAllocator* allocator;
  size_t n;
  napi_value list;
  if (failed(e, FN(GetAllocatorFn, GetAllocatorWithDefaultOptions)(&allocator), "GetAllocatorWithDefaultOptions")) return NULL;
  if (failed(e, count(session, &n), "session count")) return NULL;
  NAPI(napi_create_array_with_length(e, n, &list));
  for (size_t i = 0; i < n; i++) {
    char* s;
    napi_value v;
    if (failed(e, name(session, i, allocator, &s), "session name")) return NULL;
    napi_status st = napi_create_string_utf8(e, s, NAPI_AUTO_LENGTH, &v);
    FN(AllocatorFreeFn, AllocatorFree)(allocator, s);
    NAPI(st);
    NAPI(napi_set_element(e, list, (uint32_t)i, v));
  }
  return list;
}

static napi_value createSession(napi_env e, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (api == NULL) return fail(e, "mea-native: init() first");
  if (argc < 2) return fail(e, "mea-native: createSession(modelBytes, threads)");
  void* bytes;
  size_t length;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  int32_t threads;
  NAPI(napi_get_typedarray_info(e, argv[0], &type, &length, &bytes, &buffer, &offset));
  if (type != napi_uint8_array) return fail(e, "mea-native: the model must be a Uint8Array");
  NAPI(napi_get_value_int32(e, argv[1], &threads));

  OrtSessionOptions* options;
  if (failed(e, FN(CreateSessionOptionsFn, CreateSessionOptions)(&options), "CreateSessionOptions")) return NULL;
  /* The options onnxruntime-node is given for the same sessions (src/model/graph-session.ts). */
  OrtStatus* status = FN(SetIntFn, SetIntraOpNumThreads)(options, threads < 1 ? 1 : threads);
  if (status == NULL) status = FN(SetIntFn, SetInterOpNumThreads)(options, 1);
  if (status == NULL) status = FN(SetIntFn, SetSessionExecutionMode)(options, SEQUENTIAL);
  if (status == NULL) status = FN(SetIntFn, SetSessionGraphOptimizationLevel)(options, OPTIMIZE_ALL);
  if (status == NULL) status = FN(ConfigEntryFn, AddSessionConfigEntry)(options, "session.intra_op.allow_spinning", "0");
  OrtSession* session = NULL;
  if (status == NULL) status = FN(CreateSessionFromArrayFn, CreateSessionFromArray)(env, bytes, length, options, &session);
  FN(ReleaseFn, ReleaseSessionOptions)(options);
  if (failed(e, status, "session")) return NULL;

  Session* s = (Session*)malloc(sizeof(Session));
  if (s == NULL) {
    FN(ReleaseFn, ReleaseSession)(session);
    return fail(e, "mea-native: out of memory");
  }
  s->session = session;
  napi_value result, handle, inputs, outputs;
  NAPI(napi_create_object(e, &result));
  if (napi_create_external(e, s, finalizeSession, NULL, &handle) != napi_ok) {
    finalizeSession(e, s, NULL);
    return fail(e, "mea-native: cannot wrap the session");
  }
  NAPI(napi_set_named_property(e, result, "session", handle));
  inputs = names(e, session, FN(CountFn, SessionGetInputCount), FN(NameFn, SessionGetInputName));
  if (inputs == NULL) return NULL;
  outputs = names(e, session, FN(CountFn, SessionGetOutputCount), FN(NameFn, SessionGetOutputName));
  if (outputs == NULL) return NULL;
  NAPI(napi_set_named_property(e, result, "inputs", inputs));
  NAPI(napi_set_named_property(e, result, "outputs", outputs));
  return result;
}

static Session* sessionOf(napi_env e, napi_value v) {
  void* data;
  if (napi_get_value_external(e, v, &data) != napi_ok) return NULL;
  return (Session*)data;
}

static napi_value release(napi_env e, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  Session* s = argc < 1 ? NULL : sessionOf(e, argv[0]);
  if (s == NULL) return fail(e, "mea-native: release(session)");
  if (s->session != NULL) FN(ReleaseFn, ReleaseSession)(s->session);
  s->session = NULL;
  return NULL;
}

/* One side (inputs or outputs) of a run: names copied to C strings, tensors over the JS arrays' memory. */
typedef struct {
  size_t n;
  char** names;
  OrtValue** values;
} Side;

static void freeSide(Side* side) {
  for (size_t i = 0; i < side->n; i++) {
    free(side->names[i]);
    if (side->values[i] != NULL) FN(ReleaseFn, ReleaseValue)(side->values[i]);
  }
  free(side->names);
  free(side->values);
}

/*
 * Fills `side` from three parallel JS arrays; on failure a JS exception is pending and 0 is returned. Where `allowNull`,
 * a null array leaves its value null, for onnxruntime to allocate.
 */
static int readSide(napi_env e, napi_value jsNames, napi_value jsArrays, napi_value jsDims, Side* side, const char* what,
                    int allowNull) {
  uint32_t n, nArrays, nDims;
  char message[512];
  side->n = 0;
  side->names = NULL;
  side->values = NULL;
  if (napi_get_array_length(e, jsNames, &n) != napi_ok || napi_get_array_length(e, jsArrays, &nArrays) != napi_ok ||
      napi_get_array_length(e, jsDims, &nDims) != napi_ok || n != nArrays || n != nDims) {
    snprintf(message, sizeof message, "mea-native: %s: names, arrays and dims must be arrays of one length", what);
    napi_throw_type_error(e, NULL, message);
    return 0;
  }
  side->names = (char**)calloc(n == 0 ? 1 : n, sizeof(char*));
  side->values = (OrtValue**)calloc(n == 0 ? 1 : n, sizeof(OrtValue*));
  if (side->names == NULL || side->values == NULL) {
    napi_throw_error(e, NULL, "mea-native: out of memory");
    return 0;
  }
  side->n = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value name, array, dims, arrayBuffer;
    size_t len, elements, byteOffset;
    napi_typedarray_type type;
    void* data;
    uint32_t rank;
    int64_t shape[MAX_RANK];
    if (napi_get_element(e, jsNames, i, &name) != napi_ok || napi_get_value_string_utf8(e, name, NULL, 0, &len) != napi_ok) {
      snprintf(message, sizeof message, "mea-native: %s %u: the name must be a string", what, i);
      napi_throw_type_error(e, NULL, message);
      return 0;
    }
    side->names[i] = (char*)malloc(len + 1);
    if (side->names[i] == NULL) {
      napi_throw_error(e, NULL, "mea-native: out of memory");
      return 0;
    }
    napi_get_value_string_utf8(e, name, side->names[i], len + 1, &len);
    if (napi_get_element(e, jsArrays, i, &array) != napi_ok) return fail(e, "mea-native: bad argument") != NULL;
    napi_valuetype kind;
    if (allowNull && napi_typeof(e, array, &kind) == napi_ok && kind == napi_null) continue;
    if (
        napi_get_typedarray_info(e, array, &type, &elements, &data, &arrayBuffer, &byteOffset) != napi_ok ||
        (type != napi_float32_array && type != napi_float64_array)) {
      snprintf(message, sizeof message, "mea-native: %s '%s': expected a Float32Array or Float64Array", what, side->names[i]);
      napi_throw_type_error(e, NULL, message);
      return 0;
    }
    if (napi_get_element(e, jsDims, i, &dims) != napi_ok || napi_get_array_length(e, dims, &rank) != napi_ok || rank > MAX_RANK) {
      snprintf(message, sizeof message, "mea-native: %s '%s': dims must be an array of at most %d numbers", what, side->names[i], MAX_RANK);
      napi_throw_type_error(e, NULL, message);
      return 0;
    }
    int64_t product = 1;
    for (uint32_t d = 0; d < rank; d++) {
      napi_value v;
      int64_t x;
      if (napi_get_element(e, dims, d, &v) != napi_ok || napi_get_value_int64(e, v, &x) != napi_ok || x < 0) {
        snprintf(message, sizeof message, "mea-native: %s '%s': dims must be non-negative integers", what, side->names[i]);
        napi_throw_type_error(e, NULL, message);
        return 0;
      }
      shape[d] = x;
      product *= x;
    }
    if ((size_t)product != elements) {
      snprintf(message, sizeof message, "mea-native: %s '%s': dims hold %lld elements, the array %zu", what, side->names[i],
               (long long)product, elements);
      napi_throw_range_error(e, NULL, message);
      return 0;
    }
    size_t bytes = elements * (type == napi_float32_array ? 4 : 8);
    int elem = type == napi_float32_array ? ELEM_FLOAT : ELEM_DOUBLE;
    if (failed(e, FN(CreateTensorFn, CreateTensorWithDataAsOrtValue)(cpu, data, bytes, shape, rank, elem, &side->values[i]),
               side->names[i]))
      return 0;
  }
  return 1;
}

/* { data, dims } of an output onnxruntime allocated: a copy in a new typed array. */
static napi_value copyOut(napi_env e, OrtValue* value, const char* name) {
  OrtTensorTypeAndShapeInfo* shapeInfo;
  int elem;
  size_t rank;
  int64_t dims[MAX_RANK];
  void* data;
  if (failed(e, FN(GetTypeAndShapeFn, GetTensorTypeAndShape)(value, &shapeInfo), name)) return NULL;
  OrtStatus* status = FN(GetElementTypeFn, GetTensorElementType)(shapeInfo, &elem);
  if (status == NULL) status = FN(GetDimensionsCountFn, GetDimensionsCount)(shapeInfo, &rank);
  if (status == NULL && rank > MAX_RANK) {
    FN(ReleaseFn, ReleaseTensorTypeAndShapeInfo)(shapeInfo);
    return fail(e, "mea-native: an output has too many dimensions");
  }
  if (status == NULL) status = FN(GetDimensionsFn, GetDimensions)(shapeInfo, dims, rank);
  FN(ReleaseFn, ReleaseTensorTypeAndShapeInfo)(shapeInfo);
  if (status == NULL) status = FN(GetMutableDataFn, GetTensorMutableData)(value, &data);
  if (failed(e, status, name)) return NULL;
  if (elem != ELEM_FLOAT && elem != ELEM_DOUBLE) return fail(e, "mea-native: an output is neither float32 nor float64");
  size_t count = 1;
  for (size_t d = 0; d < rank; d++) count *= (size_t)dims[d];
  size_t width = elem == ELEM_FLOAT ? 4 : 8;
  napi_value result, jsDims, buffer, array;
  void* copy;
  NAPI(napi_create_arraybuffer(e, count * width, &copy, &buffer));
  if (count > 0) memcpy(copy, data, count * width);
  NAPI(napi_create_typedarray(e, elem == ELEM_FLOAT ? napi_float32_array : napi_float64_array, count, buffer, 0, &array));
  NAPI(napi_create_array_with_length(e, rank, &jsDims));
  for (size_t d = 0; d < rank; d++) {
    napi_value v;
    NAPI(napi_create_int64(e, dims[d], &v));
    NAPI(napi_set_element(e, jsDims, (uint32_t)d, v));
  }
  NAPI(napi_create_object(e, &result));
  NAPI(napi_set_named_property(e, result, "data", array));
  NAPI(napi_set_named_property(e, result, "dims", jsDims));
  return result;
}

static napi_value collect(napi_env e, const Side* out, const int* allocated) {
  napi_value results, undefined;
  NAPI(napi_create_array_with_length(e, out->n, &results));
  NAPI(napi_get_undefined(e, &undefined));
  for (size_t i = 0; i < out->n; i++) {
    napi_value r = allocated[i] ? copyOut(e, out->values[i], out->names[i]) : undefined;
    if (r == NULL) return NULL;
    NAPI(napi_set_element(e, results, (uint32_t)i, r));
  }
  return results;
}

static napi_value run(napi_env e, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (api == NULL) return fail(e, "mea-native: init() first");
  Session* s = argc < 7 ? NULL : sessionOf(e, argv[0]);
  if (s == NULL) return fail(e, "mea-native: run(session, inputNames, inputs, inputDims, outputNames, outputs, outputDims)");
  if (s->session == NULL) return fail(e, "mea-native: the session was released");
  Side in = {0, NULL, NULL}, out = {0, NULL, NULL};
  napi_value results = NULL;
  int ok = readSide(e, argv[1], argv[2], argv[3], &in, "input", 0) && readSide(e, argv[4], argv[5], argv[6], &out, "output", 1);
  if (ok) {
    int* allocated = (int*)calloc(out.n == 0 ? 1 : out.n, sizeof(int));
    for (size_t i = 0; allocated != NULL && i < out.n; i++) allocated[i] = out.values[i] == NULL;
    /* No JS runs until this returns, so the arrays' memory stays where it is. */
    OrtStatus* status = allocated == NULL ? NULL
                                          : FN(RunFn, Run)(s->session, NULL, (const char* const*)in.names,
                                                           (const OrtValue* const*)in.values, in.n, (const char* const*)out.names,
                                                           out.n, out.values);
    if (allocated == NULL) napi_throw_error(e, NULL, "mea-native: out of memory");
    else if (!failed(e, status, "run")) results = collect(e, &out, allocated);
    free(allocated);
  }
  freeSide(&in);
  freeSide(&out);
  return results;
}

/*
 * AdamW in float32 over tensors laid out in one memory (src/model/adamw-simd.ts's arena), computed exactly as that
 * WebAssembly kernel computes it, operation for operation in IEEE single precision (built with -ffp-contract=off, so
 * no fused multiply-add changes a rounding), so both give the same bits. The kernel there was compute-bound on one
 * thread (17 ms a step for the reference net here); this one uses AVX2 where the processor has it, on `threads`
 * threads, each taking its share of every tensor.
 */
typedef struct {
  float decay, b1, c1, b2, c2, stepSize, invBc2, eps;
} AdamWStep;

typedef struct {
  char* memory;
  const int32_t* slots;
  size_t tensors;
  const AdamWStep* k;
  int part, parts;
} AdamWJob;

__attribute__((target_clones("avx2", "default"))) static void adamwRange(float* restrict w, const float* restrict g,
                                                                          float* restrict m, float* restrict v, size_t n,
                                                                          const AdamWStep* k) {
  const float decay = k->decay, b1 = k->b1, c1 = k->c1, b2 = k->b2, c2 = k->c2, stepSize = k->stepSize, invBc2 = k->invBc2,
              eps = k->eps;
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * decay - (stepSize * mi) / (sqrtf(vi) * invBc2 + eps);
  }
}

static void* adamwPart(void* arg) {
  const AdamWJob* job = (const AdamWJob*)arg;
  for (size_t t = 0; t < job->tensors; t++) {
    const int32_t* s = job->slots + 5 * t;
    size_t n = (size_t)s[4];
    /* Cut at multiples of 16 elements (64 bytes), so two threads never write one cache line. */
    size_t from = (n * job->part / job->parts) & ~(size_t)15, to = job->part + 1 == job->parts ? n : (n * (job->part + 1) / job->parts) & ~(size_t)15;
    if (to <= from) continue;
    adamwRange((float*)(job->memory + s[0]) + from, (const float*)(job->memory + s[1]) + from, (float*)(job->memory + s[2]) + from,
               (float*)(job->memory + s[3]) + from, to - from, job->k);
  }
  return NULL;
}

enum { MAX_THREADS = 16 };

static napi_value adamw(napi_env e, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (argc < 11) return fail(e, "mea-native: adamw(memory, slots, decay, b1, c1, b2, c2, stepSize, invBc2, eps, threads)");
  napi_typedarray_type type;
  size_t length, slotCount, offset;
  void *memory, *slots;
  napi_value buffer;
  if (napi_get_typedarray_info(e, argv[0], &type, &length, &memory, &buffer, &offset) != napi_ok || type != napi_float32_array)
    return fail(e, "mea-native: adamw: memory must be a Float32Array");
  if (napi_get_typedarray_info(e, argv[1], &type, &slotCount, &slots, &buffer, &offset) != napi_ok || type != napi_int32_array ||
      slotCount % 5 != 0)
    return fail(e, "mea-native: adamw: slots must be an Int32Array of (w, g, m, v byte offsets, length) per tensor");
  double c[8];
  for (int i = 0; i < 8; i++) NAPI(napi_get_value_double(e, argv[2 + i], &c[i]));
  int32_t threads;
  NAPI(napi_get_value_int32(e, argv[10], &threads));
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  const int32_t* s = (const int32_t*)slots;
  size_t bytes = length * 4;
  for (size_t t = 0; t < slotCount / 5; t++) {
    size_t n = (size_t)s[5 * t + 4];
    for (int j = 0; j < 4; j++)
      if (s[5 * t + j] < 0 || s[5 * t + j] % 4 != 0 || (size_t)s[5 * t + j] + n * 4 > bytes) return fail(e, "mea-native: adamw: a slot lies outside the memory");
  }
  AdamWStep k = {(float)c[0], (float)c[1], (float)c[2], (float)c[3], (float)c[4], (float)c[5], (float)c[6], (float)c[7]};
  AdamWJob jobs[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  int started = 0;
  for (int p = 0; p < threads; p++) jobs[p] = (AdamWJob){(char*)memory, s, slotCount / 5, &k, p, threads};
  for (int p = 1; p < threads; p++) {
    if (pthread_create(&ids[p], NULL, adamwPart, &jobs[p]) != 0) break;
    started = p;
  }
  /* Parts whose thread could not start run here. */
  adamwPart(&jobs[0]);
  for (int p = started + 1; p < threads; p++) adamwPart(&jobs[p]);
  for (int p = 1; p <= started; p++) pthread_join(ids[p], NULL);
  return NULL;
}

/*
 * Dropout masks from mea's sfc32 stream (src/model/rng.ts, fillMask): for each run of `block` entries one 32-bit draw
 * u, and the run is 0 where u < threshold (a threshold above 2^32 - 1: always), else `keep`. The same draws and values as the
 * JS loop, which the stream's serial dependency held to ~2.8 ns an entry. `state` (4 x int32) is read and advanced.
 */
static napi_value fillMask(napi_env e, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (argc < 5) return fail(e, "mea-native: fillMask(out, state, block, threshold, keep)");
  napi_typedarray_type type, stateType;
  size_t length, stateLength, offset;
  void *out, *statePtr;
  napi_value buffer;
  uint32_t block;
  double threshold, keep;
  if (napi_get_typedarray_info(e, argv[0], &type, &length, &out, &buffer, &offset) != napi_ok ||
      (type != napi_float32_array && type != napi_float64_array))
    return fail(e, "mea-native: fillMask: out must be a Float32Array or Float64Array");
  if (napi_get_typedarray_info(e, argv[1], &stateType, &stateLength, &statePtr, &buffer, &offset) != napi_ok ||
      stateType != napi_int32_array || stateLength != 4)
    return fail(e, "mea-native: fillMask: state must be an Int32Array of 4");
  NAPI(napi_get_value_uint32(e, argv[2], &block));
  NAPI(napi_get_value_double(e, argv[3], &threshold));
  NAPI(napi_get_value_double(e, argv[4], &keep));
  if (block == 0) return fail(e, "mea-native: fillMask: block must be at least 1");
  uint32_t* st = (uint32_t*)statePtr;
  uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
  /* u < threshold for an integer u is u < ceil(threshold). */
  const int all = threshold > 4294967295.0;
  const double ceiled = ceil(threshold);
  const uint32_t limit = ceiled >= 4294967295.0 ? 4294967295u : ceiled <= 0 ? 0 : (uint32_t)ceiled;
  const float keep32 = (float)keep;
#define SFC32_NEXT(t)      \
  const uint32_t t = a + b + d; \
  d += 1;                       \
  a = b ^ (b >> 9);             \
  b = c + (c << 3);             \
  c = (c << 21) | (c >> 11);    \
  c += t
  if (type == napi_float32_array && block == 1 && !all) {
    /* The common case (elementwise dropout) without a branch per entry: keep's bits or zero's, by a mask. */
    uint32_t keepBits;
    memcpy(&keepBits, &keep32, sizeof keepBits);
    uint32_t* o = (uint32_t*)out;
    for (size_t i = 0; i < length; i++) {
      SFC32_NEXT(t);
      o[i] = keepBits & (0u - (uint32_t)(t >= limit));
    }
  } else {
    for (size_t start = 0; start < length; start += block) {
      SFC32_NEXT(t);
      const int zero = all || t < limit;
      const size_t end = start + block < length ? start + block : length;
      if (type == napi_float32_array) {
        float* o = (float*)out;
        for (size_t i = start; i < end; i++) o[i] = zero ? 0.0f : keep32;
      } else {
        double* o = (double*)out;
        for (size_t i = start; i < end; i++) o[i] = zero ? 0.0 : keep;
      }
    }
  }
#undef SFC32_NEXT
  st[0] = a;
  st[1] = b;
  st[2] = c;
  st[3] = d;
  return NULL;
}

/*
 * One chunk of src/model/standardise.ts's column statistics: `rows` holds k rows of dim float32 values; each column's
 * mean and sum of squared deviations from it go into `mean` and `m2` (float64), with the JS loops' operations in their
 * order (per column, rows summed first to last; (x - mean)^2 as a product), so the same bits, vectorised across
 * columns. The JS loops ran at ~3 ns a value: 2.5 s of an 80k-segment training run.
 */
__attribute__((target_clones("avx2", "default"))) static long columnChunkRange(const float* restrict rows, size_t k, size_t dim,
                                                                                double* restrict mean, double* restrict m2) {
  for (size_t j = 0; j < dim; j++) mean[j] = 0, m2[j] = 0;
  for (size_t r = 0; r < k; r++) {
    const float* row = rows + r * dim;
    /* An exponent of all ones is an infinity or a NaN: one OR over the row tells whether to look closer. */
    uint32_t special = 0;
    for (size_t j = 0; j < dim; j++) {
      uint32_t bits;
      memcpy(&bits, &row[j], sizeof bits);
      special |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    if (special) {
      for (size_t j = 0; j < dim; j++)
        if (!isfinite(row[j])) return (long)(r * dim + j);
    }
    for (size_t j = 0; j < dim; j++) mean[j] += (double)row[j];
  }
  for (size_t j = 0; j < dim; j++) mean[j] /= (double)k;
  for (size_t r = 0; r < k; r++) {
    const float* row = rows + r * dim;
    for (size_t j = 0; j < dim; j++) {
      const double d = (double)row[j] - mean[j];
      m2[j] += d * d;
    }
  }
  return -1;
}

static napi_value columnChunk(napi_env e, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (argc < 5) return fail(e, "mea-native: columnChunk(rows, k, dim, mean, m2)");
  napi_typedarray_type type;
  size_t length, meanLength, m2Length, offset;
  void *rows, *mean, *m2;
  napi_value buffer;
  uint32_t k, dim;
  if (napi_get_typedarray_info(e, argv[0], &type, &length, &rows, &buffer, &offset) != napi_ok || type != napi_float32_array)
    return fail(e, "mea-native: columnChunk: rows must be a Float32Array");
  NAPI(napi_get_value_uint32(e, argv[1], &k));
  NAPI(napi_get_value_uint32(e, argv[2], &dim));
  if (napi_get_typedarray_info(e, argv[3], &type, &meanLength, &mean, &buffer, &offset) != napi_ok || type != napi_float64_array ||
      napi_get_typedarray_info(e, argv[4], &type, &m2Length, &m2, &buffer, &offset) != napi_ok || type != napi_float64_array)
    return fail(e, "mea-native: columnChunk: mean and m2 must be Float64Arrays");
  if (k == 0 || (size_t)k * dim > length || meanLength < dim || m2Length < dim) return fail(e, "mea-native: columnChunk: sizes do not fit");
  napi_value result;
  NAPI(napi_create_int64(e, columnChunkRange((const float*)rows, k, dim, (double*)mean, (double*)m2), &result));
  return result;
}

static napi_value Init(napi_env e, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"createSession", NULL, createSession, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_default, NULL},
      {"adamw", NULL, adamw, NULL, NULL, NULL, napi_default, NULL},
      {"fillMask", NULL, fillMask, NULL, NULL, NULL, napi_default, NULL},
      {"columnChunk", NULL, columnChunk, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(e, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
