/*
 * shared._kernels: the inner loops of the signal path that numpy cannot run well.
 *
 * - sos_filter: a cascade of biquads (transposed direct form II, the layout and arithmetic of
 *   scipy.signal.sosfilt) over every channel of a block, state carried in a caller's array.
 *   Each output needs the one before it, so numpy has no vector form of it, and sosfilt pays a
 *   generic dispatch per sample; here the channels and sections of one frame are one loop.
 *   sos_power is the same loop writing only the weighted power of each frame (the loudness
 *   meter's K-weighted input), so the filtered channels never reach memory.
 * - true_peak_rows: the largest |value| of the 4x interpolated signal for rows of frames, the
 *   polyphase FIR of BS.1770-4 Annex 2. Products, absolute values and maxima are fused in
 *   registers, eight frames a vector; numpy would write every phase of every frame to memory.
 * - true_peak_block: a detector block in one pass (sample magnitudes, the rows worth
 *   interpolating, their peaks), what TruePeakDetector.measure needs.
 * - delayed_gain: the limiter's output step (delay line, gain, clip) in one pass.
 * - ramp_gain: control-rate gains interpolated to the frames and applied, in one pass.
 * - mid_side: the width stage's side gain on the first two channels, in one pass.
 * - encode_s16: TPDF-dithered 16-bit PCM (mastering_service/chain/encoding.py's definition).
 * - float_planes: single-precision decoder planes to a cleaned float64 block (shared/audio.py).
 * - level_segments / pair_moments: per-segment sums and peaks of a block in one pass (the level
 *   meter's 100 ms frames, the stereo image's chunks), where numpy would write a temporary
 *   array per term.
 * - running_median: a median filter down the columns of a spectrogram (the HPSS of the
 *   fingerprint), a sorting network run on eight columns at a time in registers, where numpy
 *   would write every comparator's result to memory.
 * - stft_power: the fingerprint's windowed power spectra, eight frames at a time in vector
 *   lanes, window, FFT and power in one pass (numpy's single-precision FFT runs one frame at
 *   a time, 5x slower; scipy's costs 0.2 s to import in every process that uses it).
 *
 * All are plain loops over buffers the Python side owns and shapes; every output is the same
 * arithmetic whatever the block it arrives in, so a stream cut anywhere gives the same bytes.
 * Each checks its buffers before the loop runs and releases the GIL while it runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- buffers --------------------------------------------------------------------------------- */

/* A 1- to 3-D buffer of one element type, with its strides in elements. */
typedef struct {
    Py_buffer view;
    Py_ssize_t shape[3];
    Py_ssize_t step[3];
} Array;

/* ``formats``: the struct codes accepted (one character each), all of ``itemsize`` bytes. */
static int array_get(PyObject *object, Array *array, const char *name, const char *formats,
                     Py_ssize_t itemsize, int ndim, int writable) {
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, &array->view, flags) < 0) {
        return -1;
    }
    Py_buffer *view = &array->view;
    const char *got = view->format ? view->format : "B";
    if (got[0] == '=' || got[0] == '<' || got[0] == '@') {
        got++;
    }
    if (got[0] == '\0' || got[1] != '\0' || strchr(formats, got[0]) == NULL ||
        view->itemsize != itemsize || view->ndim != ndim) {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-D array of '%c', got %d-D of '%s'", name,
                     ndim, formats[0], view->ndim, got);
        PyBuffer_Release(view);
        return -1;
    }
    for (int d = 0; d < ndim; d++) {
        if (view->strides[d] % view->itemsize != 0) {
            PyErr_Format(PyExc_ValueError, "%s has a stride that is not whole elements", name);
            PyBuffer_Release(view);
            return -1;
        }
        array->shape[d] = view->shape[d];
        array->step[d] = view->strides[d] / view->itemsize;
    }
    return 0;
}

static int array_is_contiguous(const Array *array) {
    Py_ssize_t expected = 1;
    for (int d = array->view.ndim - 1; d >= 0; d--) {
        if (array->shape[d] > 1 && array->step[d] != expected) {
            return 0;
        }
        expected *= array->shape[d];
    }
    return 1;
}

/* One buffer argument of a kernel: what it must be. */
typedef struct {
    const char *name;
    const char *formats;
    Py_ssize_t itemsize;
    int ndim;
    int writable;
    int optional; /* None is accepted and leaves the view empty (buf NULL) */
} Spec;

static void arrays_release(Array *arrays, int count) {
    for (int i = 0; i < count; i++) {
        if (arrays[i].view.obj != NULL) {
            PyBuffer_Release(&arrays[i].view);
        }
    }
}

/* Views of ``count`` arguments as ``specs`` say; on failure none is held. */
static int arrays_get(PyObject *const *objects, const Spec *specs, Array *arrays, int count) {
    for (int i = 0; i < count; i++) {
        if (specs[i].optional && objects[i] == Py_None) {
            memset(&arrays[i], 0, sizeof arrays[i]);
            continue;
        }
        if (array_get(objects[i], &arrays[i], specs[i].name, specs[i].formats, specs[i].itemsize,
                      specs[i].ndim, specs[i].writable) < 0) {
            arrays_release(arrays, i);
            return -1;
        }
    }
    return 0;
}

/* A kernel's answer once its buffers are released: None, or ValueError(problem). */
static PyObject *verdict(const char *problem) {
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Built twice on x86-64 (AVX2 with FMA, and the baseline), chosen once when the module loads.
 * The module is compiled with -ffp-contract=off, so every product and sum is rounded as written
 * (the sections match sosfilt bit for bit on any machine). These loops may fuse: in the 16-bit
 * encoder and the limiter's output step every fused product is exact, so the bytes are the same
 * either way; only the true-peak rows and the power spectra, whose last bits matter to nobody,
 * differ. They are also built without trapping math: nothing here reads floating-point flags
 * or traps, and the compiler may then compute both sides of a selection, which lets the 16-bit
 * encoder's loop vectorise (0.27 -> 0.17 ms per 65 536 stereo frames); values are rounded as
 * before. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES \
    __attribute__((target_clones("arch=x86-64-v3", "default"),                                  \
                   optimize("fp-contract=fast", "no-trapping-math")))
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* ---- second-order sections ------------------------------------------------------------------- */

/* Where the filtered frames go: each channel into y, or only the per-frame sum of
 * weights[c] * y_c^2 into power (a weight of 0 skips its channel, a weight of 1 does not scale:
 * the arithmetic of shared.blocks.weighted_power, in its order). */
typedef struct {
    double *y;
    Py_ssize_t y_frame, y_channel;
    const double *weights;
    double *power;
} Sink;

/* Largest cascade and channel count the register-held loop is specialised for. */
#define FIXED_SECTIONS 4
#define FIXED_CHANNELS 2

/* Arithmetic of one section on one sample: z is its (z0, z1), q its (b0 b1 b2 a0 a1 a2). */
#define SECTION_STEP(q, z0, z1, v)                                                            \
    do {                                                                                      \
        double w_ = (q)[0] * (v) + (z0);                                                      \
        (z0) = (q)[1] * (v) - (q)[4] * w_ + (z1);                                             \
        (z1) = (q)[2] * (v) - (q)[5] * w_;                                                    \
        (v) = w_;                                                                             \
    } while (0)

#define SINK_FRAME(sink, n, c, v, total)                                                      \
    do {                                                                                      \
        if ((sink).power == NULL) {                                                           \
            (sink).y[(n) * (sink).y_frame + (c) * (sink).y_channel] = (v);                    \
        } else if ((sink).weights[c] == 1.0) {                                                \
            (total) += (v) * (v);                                                             \
        } else if ((sink).weights[c] != 0.0) {                                                \
            (total) += (sink).weights[c] * ((v) * (v));                                       \
        }                                                                                     \
    } while (0)

/* The recursion with the coefficients and the state in locals: with ``sections`` and
 * ``channels`` constant after inlining they live in registers, and the channels of a frame are
 * independent chains the processor runs side by side. */
static inline __attribute__((always_inline)) void run_sections_fixed(
    const double *sos, Py_ssize_t sections, double *state, Py_ssize_t channels, const double *x,
    Py_ssize_t x_frame, Py_ssize_t x_channel, Sink sink, Py_ssize_t frames) {
    double q[FIXED_SECTIONS][6];
    double z[FIXED_SECTIONS][FIXED_CHANNELS][2];
    for (Py_ssize_t s = 0; s < sections; s++) {
        memcpy(q[s], sos + 6 * s, sizeof q[s]);
        for (Py_ssize_t c = 0; c < channels; c++) {
            z[s][c][0] = state[(s * channels + c) * 2];
            z[s][c][1] = state[(s * channels + c) * 2 + 1];
        }
    }
    for (Py_ssize_t n = 0; n < frames; n++) {
        double total = 0.0;
        for (Py_ssize_t c = 0; c < channels; c++) {
            double v = x[n * x_frame + c * x_channel];
            for (Py_ssize_t s = 0; s < sections; s++) {
                SECTION_STEP(q[s], z[s][c][0], z[s][c][1], v);
            }
            SINK_FRAME(sink, n, c, v, total);
        }
        if (sink.power != NULL) {
            sink.power[n] = total;
        }
    }
    for (Py_ssize_t s = 0; s < sections; s++) {
        for (Py_ssize_t c = 0; c < channels; c++) {
            state[(s * channels + c) * 2] = z[s][c][0];
            state[(s * channels + c) * 2 + 1] = z[s][c][1];
        }
    }
}

/* Any cascade over any channel count, the state in the caller's array. */
static void run_sections_any(const double *sos, Py_ssize_t sections, double *state,
                             Py_ssize_t channels, const double *x, Py_ssize_t x_frame,
                             Py_ssize_t x_channel, Sink sink, Py_ssize_t frames) {
    for (Py_ssize_t n = 0; n < frames; n++) {
        double total = 0.0;
        for (Py_ssize_t c = 0; c < channels; c++) {
            double v = x[n * x_frame + c * x_channel];
            double *z = state + 2 * c;
            for (Py_ssize_t s = 0; s < sections; s++, z += 2 * channels) {
                SECTION_STEP(sos + 6 * s, z[0], z[1], v);
            }
            SINK_FRAME(sink, n, c, v, total);
        }
        if (sink.power != NULL) {
            sink.power[n] = total;
        }
    }
}

/* The common shapes get the register-held loop; the arithmetic is the same either way. */
#define FIXED_CASE(S, C)                                                                       \
    if (sections == (S) && channels == (C)) {                                                 \
        run_sections_fixed(sos, (S), state, (C), x, x_frame, x_channel, sink, frames);        \
        return;                                                                               \
    }

static void run_sections(const double *sos, Py_ssize_t sections, double *state,
                         Py_ssize_t channels, const double *x, Py_ssize_t x_frame,
                         Py_ssize_t x_channel, Sink sink, Py_ssize_t frames) {
    if (sink.power == NULL) {
        FIXED_CASE(1, 1) FIXED_CASE(2, 1) FIXED_CASE(3, 1) FIXED_CASE(4, 1)
        FIXED_CASE(1, 2) FIXED_CASE(2, 2) FIXED_CASE(3, 2) FIXED_CASE(4, 2)
    } else {
        FIXED_CASE(2, 1) FIXED_CASE(2, 2)
    }
    run_sections_any(sos, sections, state, channels, x, x_frame, x_channel, sink, frames);
}

/* What is wrong with sos, state and x together, or NULL. */
static const char *check_sections(const Array *sos, const Array *state, const Array *x) {
    Py_ssize_t sections = sos->shape[0], channels = x->shape[1];
    if (sos->shape[1] != 6 || !array_is_contiguous(sos)) {
        return "sos must be a C-ordered (n, 6) array";
    }
    if (state->shape[0] != sections || state->shape[1] != channels || state->shape[2] != 2 ||
        !array_is_contiguous(state)) {
        return "state must be a C-ordered (sections, channels, 2) array";
    }
    const double *coefficients = sos->view.buf;
    for (Py_ssize_t s = 0; s < sections; s++) {
        if (coefficients[6 * s + 3] != 1.0) {
            return "each section must be normalised (a0 = 1)";
        }
    }
    return NULL;
}

PyDoc_STRVAR(sos_filter_doc,
"sos_filter(sos, state, x, y)\n--\n\n"
"Run the sections ``sos`` ((n, 6) float64, C order, a0 = 1) over ``x`` ((frames, channels)\n"
"float64, any strides) into ``y`` (same shape, writable, not overlapping ``x``), updating\n"
"``state`` ((n, channels, 2) float64, C order) in place: scipy.signal.sosfilt's zi, per channel.");

static const Spec SOS_FILTER_ARGS[] = {
    {"sos", "d", 8, 2, 0, 0}, {"state", "d", 8, 3, 1, 0},
    {"x", "d", 8, 2, 0, 0},   {"y", "d", 8, 2, 1, 0},
};

static PyObject *sos_filter(PyObject *module, PyObject *args) {
    PyObject *objects[4];
    if (!PyArg_ParseTuple(args, "OOOO:sos_filter", &objects[0], &objects[1], &objects[2],
                          &objects[3])) {
        return NULL;
    }
    Array a[4];
    if (arrays_get(objects, SOS_FILTER_ARGS, a, 4) < 0) {
        return NULL;
    }
    const Array *sos = &a[0], *state = &a[1], *x = &a[2], *y = &a[3];
    const char *problem = check_sections(sos, state, x);
    if (problem == NULL && (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1])) {
        problem = "y must have the shape of x";
    }
    if (problem == NULL) {
        Sink sink = {y->view.buf, y->step[0], y->step[1], NULL, NULL};
        Py_BEGIN_ALLOW_THREADS
        run_sections(sos->view.buf, sos->shape[0], state->view.buf, x->shape[1], x->view.buf,
                     x->step[0], x->step[1], sink, x->shape[0]);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 4);
    return verdict(problem);
}

PyDoc_STRVAR(sos_power_doc,
"sos_power(sos, state, x, weights, power)\n--\n\n"
"As sos_filter, but only the per-frame sum over channels of weights[c] * y_c^2 is written, to\n"
"``power`` ((frames,) float64, C order); ``weights``: (channels,) float64. A weight of 0 skips\n"
"its channel and a weight of 1 does not scale it, in channel order (shared.blocks.weighted_power).");

static const Spec SOS_POWER_ARGS[] = {
    {"sos", "d", 8, 2, 0, 0},     {"state", "d", 8, 3, 1, 0}, {"x", "d", 8, 2, 0, 0},
    {"weights", "d", 8, 1, 0, 0}, {"power", "d", 8, 1, 1, 0},
};

static PyObject *sos_power(PyObject *module, PyObject *args) {
    PyObject *objects[5];
    if (!PyArg_ParseTuple(args, "OOOOO:sos_power", &objects[0], &objects[1], &objects[2],
                          &objects[3], &objects[4])) {
        return NULL;
    }
    Array a[5];
    if (arrays_get(objects, SOS_POWER_ARGS, a, 5) < 0) {
        return NULL;
    }
    const Array *sos = &a[0], *state = &a[1], *x = &a[2], *weights = &a[3], *power = &a[4];
    const char *problem = check_sections(sos, state, x);
    if (problem == NULL && (weights->shape[0] != x->shape[1] || !array_is_contiguous(weights))) {
        problem = "weights must be C-ordered, one per channel";
    }
    if (problem == NULL && (power->shape[0] != x->shape[0] || !array_is_contiguous(power))) {
        problem = "power must be C-ordered, one per frame";
    }
    if (problem == NULL) {
        Sink sink = {NULL, 0, 0, weights->view.buf, power->view.buf};
        Py_BEGIN_ALLOW_THREADS
        run_sections(sos->view.buf, sos->shape[0], state->view.buf, x->shape[1], x->view.buf,
                     x->step[0], x->step[1], sink, x->shape[0]);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 5);
    return verdict(problem);
}

/* ---- true-peak rows -------------------------------------------------------------------------- */

/* Frames per vector: eight single-precision lanes (one AVX register, two SSE ones). */
#define LANES 8
/* Longest row, most taps per half window and most phases the kernel's stack buffers hold. */
#define MAX_ROW 64
#define MAX_HALF 32
#define MAX_PHASES 16

typedef float vfloat __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t vint __attribute__((vector_size(LANES * sizeof(int32_t))));

#define VABS(v) ((vfloat)((vint)(v) & 0x7fffffff))
#define VMAX(a, b) ((vfloat)(((vint)(a) & ((a) > (b))) | ((vint)(b) & ~((a) > (b)))))

/* The interpolation phases in their mirrored form. Phase p and phase factor - p of a
 * fractional-delay interpolator are each other's taps reversed, so over the window positions
 * 1 .. 2H of an output (oldest first), with s_i = w[i] + w[2H + 1 - i] and
 * d_i = w[i] - w[2H + 1 - i] for i = 1 .. H:
 *   A = (y_p + y_{factor-p}) / 2 = sum_i a_i s_i,   B = (y_p - y_{factor-p}) / 2 = sum_i b_i d_i,
 * and max(|y_p|, |y_{factor-p}|) = |A| + |B|; the middle phase of an even factor is symmetric,
 * an A alone. ``taps`` holds the ``sums`` rows (a of each pair, then the middle phase's) and
 * then one ``b`` row per pair: half the products of the phases written out. */
static inline __attribute__((always_inline)) void true_peak_rows_of(
    const double *planar, Py_ssize_t channels, Py_ssize_t width, const int64_t *rows,
    Py_ssize_t count, const float *taps, Py_ssize_t sums, Py_ssize_t pairs, Py_ssize_t half,
    Py_ssize_t row, float *out) {
    const Py_ssize_t span = row + 2 * half;
    const float *differences = taps + sums * half;
    for (Py_ssize_t r = 0; r < count; r++) {
        vfloat best[MAX_ROW / LANES];
        memset(best, 0, sizeof best);
        for (Py_ssize_t c = 0; c < channels; c++) {
            const double *source = planar + c * width + rows[r] * row;
            float window[MAX_ROW + 2 * MAX_HALF + LANES];
            for (Py_ssize_t i = 0; i < span; i++) {
                window[i] = (float)source[i];
            }
            for (Py_ssize_t g = 0; g < row / LANES; g++) {
                vfloat a[MAX_PHASES], b[MAX_PHASES];
                for (Py_ssize_t k = 0; k < sums; k++) {
                    a[k] = (vfloat){0};
                }
                for (Py_ssize_t k = 0; k < pairs; k++) {
                    b[k] = (vfloat){0};
                }
                for (Py_ssize_t i = 1; i <= half; i++) {
                    vfloat early, late;
                    memcpy(&early, window + g * LANES + i, sizeof early);
                    memcpy(&late, window + g * LANES + 2 * half + 1 - i, sizeof late);
                    vfloat sum = early + late, difference = early - late;
                    for (Py_ssize_t k = 0; k < sums; k++) {
                        a[k] += taps[k * half + i - 1] * sum;
                    }
                    for (Py_ssize_t k = 0; k < pairs; k++) {
                        b[k] += differences[k * half + i - 1] * difference;
                    }
                }
                vfloat largest = best[g];
                for (Py_ssize_t k = 0; k < pairs; k++) {
                    vfloat both = VABS(a[k]) + VABS(b[k]);
                    largest = VMAX(largest, both);
                }
                for (Py_ssize_t k = pairs; k < sums; k++) {
                    vfloat alone = VABS(a[k]);
                    largest = VMAX(largest, alone);
                }
                best[g] = largest;
            }
        }
        memcpy(out + r * row, best, (size_t)row * sizeof(float));
    }
}

/* For each listed row r and each frame j < row of it, out[r][j] is the largest over channels
 * and phases of the interpolated |value| at frame r * row + j (window positions 1 .. 2H after
 * it). The detector's own shape (4x: one pair and a middle phase, H = 8, 16-frame rows) is
 * compiled with its loop bounds known, the same arithmetic as any other. */
VECTOR_CLONES
static void run_true_peak_rows(const double *planar, Py_ssize_t channels, Py_ssize_t width,
                               const int64_t *rows, Py_ssize_t count, const float *taps,
                               Py_ssize_t sums, Py_ssize_t pairs, Py_ssize_t half,
                               Py_ssize_t row, float *out) {
    if (sums == 2 && pairs == 1 && half == 8 && row == 16) {
        true_peak_rows_of(planar, channels, width, rows, count, taps, 2, 1, 8, 16, out);
    } else {
        true_peak_rows_of(planar, channels, width, rows, count, taps, sums, pairs, half, row,
                          out);
    }
}

/* Checks a mirrored ``taps`` array against ``pairs`` and the row length; NULL when it fits. */
static const char *check_mirrored_taps(const Array *taps, Py_ssize_t pairs, Py_ssize_t row) {
    Py_ssize_t half = taps->shape[1], sums = taps->shape[0] - pairs;
    if (!array_is_contiguous(taps)) {
        return "taps must be C-ordered";
    }
    if (pairs < 0 || sums < pairs || sums > pairs + 1 || sums < 1 || sums > MAX_PHASES) {
        return "taps must hold the sum rows (one per pair, and the middle phase) and one "
               "difference row per pair";
    }
    if (half < 1 || half > MAX_HALF || 2 * half > row) {
        return "taps must have 1 to 32 columns, at most half a row";
    }
    return NULL;
}

PyDoc_STRVAR(true_peak_rows_doc,
"true_peak_rows(planar, rows, taps, pairs, out)\n--\n\n"
"For row r = rows[k] of ``planar`` ((channels, width) float64, C order) and each of its\n"
"R = out.shape[1] frames j (a multiple of 8, at most 64), out[k, j] (float32) becomes the\n"
"largest over channels and phases of the interpolated |value| of frame r*R + j, from window\n"
"positions 1 .. 2H after it. ``taps``: (sums + pairs, H) float32, C order, the mirrored form\n"
"(shared/_kernels.c); every window must lie inside planar.");

/* int64 is 'l' where long has 64 bits and 'q' elsewhere. */
static const Spec TRUE_PEAK_ROWS_ARGS[] = {
    {"planar", "d", 8, 2, 0, 0}, {"rows", "ql", 8, 1, 0, 0},
    {"taps", "f", 4, 2, 0, 0},   {"out", "f", 4, 2, 1, 0},
};

static PyObject *true_peak_rows(PyObject *module, PyObject *args) {
    PyObject *objects[4];
    Py_ssize_t pairs;
    if (!PyArg_ParseTuple(args, "OOOnO:true_peak_rows", &objects[0], &objects[1], &objects[2],
                          &pairs, &objects[3])) {
        return NULL;
    }
    Array a[4];
    if (arrays_get(objects, TRUE_PEAK_ROWS_ARGS, a, 4) < 0) {
        return NULL;
    }
    const Array *planar = &a[0], *rows = &a[1], *taps = &a[2], *out = &a[3];
    const char *problem = NULL;
    Py_ssize_t width = planar->shape[1], count = rows->shape[0], row = out->shape[1];
    if (!array_is_contiguous(planar) || !array_is_contiguous(rows) || !array_is_contiguous(out)) {
        problem = "planar, rows and out must be C-ordered";
    } else if (out->shape[0] != count) {
        problem = "out must have one row per entry of rows";
    } else if (row <= 0 || row % LANES != 0 || row > MAX_ROW) {
        problem = "rows must be a positive multiple of 8 frames, at most 64";
    } else if ((problem = check_mirrored_taps(taps, pairs, row)) == NULL) {
        const int64_t *listed = rows->view.buf;
        for (Py_ssize_t k = 0; k < count; k++) {
            if (listed[k] < 0 || listed[k] * row + row + 2 * taps->shape[1] > width) {
                problem = "a row's window reaches outside planar";
                break;
            }
        }
    }
    if (problem == NULL) {
        Py_BEGIN_ALLOW_THREADS
        run_true_peak_rows(planar->view.buf, planar->shape[0], width, rows->view.buf, count,
                           taps->view.buf, taps->shape[0] - pairs, pairs, taps->shape[1], row,
                           out->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 4);
    return verdict(problem);
}

/* ---- true-peak blocks ------------------------------------------------------------------------ */

/* What TruePeakDetector.measure learns from one block of its extended buffer (see
 * shared/true_peak.py): outputs first .. end - 1 (row-relative), output o centred on buffer
 * frame o + delay. Rows whose window provably stays under the threshold are not interpolated.
 * Returns -1 (with no exception set) when the scratch memory cannot be had. */
static int run_true_peak_block(const double *planar, Py_ssize_t channels, Py_ssize_t width,
                               Py_ssize_t first, Py_ssize_t end, Py_ssize_t delay,
                               const float *taps, Py_ssize_t sums, Py_ssize_t pairs,
                               Py_ssize_t half, double gain_bound, double floor,
                               double frame_floor,
                               double *frame_peaks, double *true_peak, double *sample_peak) {
    const Py_ssize_t row = 2 * delay, rows = width / row;
    double *row_max = PyMem_RawMalloc((size_t)rows * sizeof(double));
    int64_t *listed = PyMem_RawMalloc((size_t)rows * sizeof(int64_t));
    /* Doubles, so the same scratch holds the frame magnitudes first. */
    float *peaks = PyMem_RawMalloc((size_t)width * sizeof(double));
    if (row_max == NULL || listed == NULL || peaks == NULL) {
        PyMem_RawFree(row_max);
        PyMem_RawFree(listed);
        PyMem_RawFree(peaks);
        return -1;
    }
    /* The largest |sample| over channels, frame by frame (into the peaks' scratch, which is
     * as long as the buffer), then per row, over the block's own frames and at the centre of
     * each output (the phase-0 point). */
    double *magnitude = (double *)peaks;
    for (Py_ssize_t i = 0; i < width; i++) {
        magnitude[i] = fabs(planar[i]);
    }
    for (Py_ssize_t c = 1; c < channels; c++) {
        const double *x = planar + c * width;
        for (Py_ssize_t i = 0; i < width; i++) {
            double v = fabs(x[i]);
            magnitude[i] = v > magnitude[i] ? v : magnitude[i];
        }
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        double largest = 0.0;
        for (Py_ssize_t i = r * row; i < (r + 1) * row; i++) {
            largest = magnitude[i] > largest ? magnitude[i] : largest;
        }
        row_max[r] = largest;
    }
    double best = floor, own = 0.0;
    for (Py_ssize_t i = first + 2 * delay; i < end + 2 * delay; i++) {
        own = magnitude[i] > own ? magnitude[i] : own;
    }
    for (Py_ssize_t i = first + delay; i < end + delay; i++) {
        best = magnitude[i] > best ? magnitude[i] : best;
    }
    if (frame_peaks != NULL) {
        memcpy(frame_peaks, magnitude + first + delay, (size_t)(end - first) * sizeof(double));
    }
    /* Row r reads buffer rows r and r + 1: none of its outputs can exceed gain_bound times the
     * largest |sample| there. */
    double threshold = frame_peaks != NULL && frame_floor < best ? frame_floor : best;
    Py_ssize_t count = 0;
    for (Py_ssize_t r = 0; r + 1 < rows; r++) {
        double reach = row_max[r] > row_max[r + 1] ? row_max[r] : row_max[r + 1];
        if (reach * gain_bound > threshold) {
            listed[count++] = r;
        }
    }
    run_true_peak_rows(planar, channels, width, listed, count, taps, sums, pairs, half, row,
                       peaks);
    /* Only this block's outputs count: not those of an earlier block sharing the first row,
     * nor the ones after it that the next block decides. */
    for (Py_ssize_t k = 0; k < count; k++) {
        const Py_ssize_t start = listed[k] * row;
        const Py_ssize_t lo = first > start ? first - start : 0;
        const Py_ssize_t hi = end - start < row ? end - start : row;
        const float *value = peaks + k * row;
        for (Py_ssize_t j = lo; j < hi; j++) {
            double v = (double)value[j];
            best = v > best ? v : best;
        }
        if (frame_peaks != NULL) {
            for (Py_ssize_t j = lo; j < hi; j++) {
                double v = (double)value[j];
                double *frame = frame_peaks + (start + j - first);
                *frame = v > *frame ? v : *frame;
            }
        }
    }
    PyMem_RawFree(row_max);
    PyMem_RawFree(listed);
    PyMem_RawFree(peaks);
    *true_peak = best;
    *sample_peak = own;
    return 0;
}

PyDoc_STRVAR(true_peak_block_doc,
"true_peak_block(planar, first, end, delay, taps, pairs, gain_bound, floor, frame_floor,\n"
"                frame_peaks)\n"
"--\n\n"
"(true peak, sample peak) of outputs first .. end - 1 of a true-peak detector's extended\n"
"buffer ``planar`` ((channels, width) float64, C order, width a multiple of 2 * delay, finite):\n"
"output o is the largest of |planar[:, o + delay]| and the true_peak_rows value of frame o.\n"
"The true peak is at least ``floor``. Rows whose window, times ``gain_bound``, cannot exceed\n"
"the running maximum (or ``frame_floor``, when ``frame_peaks`` is given) are not interpolated.\n"
"``frame_peaks``: None, or (end - first,) float64 to receive each output (exact wherever it\n"
"could exceed frame_floor, elsewhere the sample magnitude).");

static const Spec TRUE_PEAK_BLOCK_ARGS[] = {
    {"planar", "d", 8, 2, 0, 0}, {"taps", "f", 4, 2, 0, 0}, {"frame_peaks", "d", 8, 1, 1, 1},
};

static PyObject *true_peak_block(PyObject *module, PyObject *args) {
    PyObject *objects[3];
    Py_ssize_t first, end, delay, pairs;
    double gain_bound, floor, frame_floor;
    if (!PyArg_ParseTuple(args, "OnnnOndddO:true_peak_block", &objects[0], &first, &end, &delay,
                          &objects[1], &pairs, &gain_bound, &floor, &frame_floor, &objects[2])) {
        return NULL;
    }
    Array a[3];
    if (arrays_get(objects, TRUE_PEAK_BLOCK_ARGS, a, 3) < 0) {
        return NULL;
    }
    const Array *planar = &a[0], *taps = &a[1], *frame_peaks = &a[2];
    const int with_frames = frame_peaks->view.buf != NULL;
    const char *problem = NULL;
    Py_ssize_t width = planar->shape[1], row = 2 * delay;
    if (!array_is_contiguous(planar) || (with_frames && !array_is_contiguous(frame_peaks))) {
        problem = "planar and frame_peaks must be C-ordered";
    } else if (row <= 0 || row % LANES != 0 || row > MAX_ROW) {
        problem = "2 * delay must be a positive multiple of 8, at most 64";
    } else if (width % row != 0 || first < 0 || first > end || end + 2 * delay > width ||
               first >= row) {
        problem = "first and end must lie in the buffer's first row and its body";
    } else if (with_frames && frame_peaks->shape[0] != end - first) {
        problem = "frame_peaks must have end - first entries";
    } else {
        problem = check_mirrored_taps(taps, pairs, row);
    }
    double peak = floor, own = 0.0;
    int failed = 0;
    if (problem == NULL) {
        Py_BEGIN_ALLOW_THREADS
        failed = run_true_peak_block(planar->view.buf, planar->shape[0], width, first, end, delay,
                                     taps->view.buf, taps->shape[0] - pairs, pairs,
                                     taps->shape[1], gain_bound, floor, frame_floor,
                                     with_frames ? frame_peaks->view.buf : NULL, &peak, &own);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 3);
    if (problem != NULL) {
        return verdict(problem);
    }
    if (failed) {
        return PyErr_NoMemory();
    }
    return Py_BuildValue("(dd)", peak, own);
}

/* ---- decoded planes ---------------------------------------------------------------------------- */

PyDoc_STRVAR(float_planes_doc,
"float_planes(planes, out, limit)\n--\n\n"
"Interleave single-precision channel planes (a sequence of ``channels`` 1-D float32 arrays of\n"
"at least ``frames`` samples) into ``out`` ((frames, channels) float64, C order): NaN and\n"
"infinities become 0, magnitudes beyond ``limit`` are clamped to it (the decoder's cleaning,\n"
"shared.audio._clean, in the same pass).");

/* Most channel planes float_planes takes. */
#define MAX_PLANES 64

static PyObject *float_planes(PyObject *module, PyObject *args) {
    PyObject *planes_object, *objects[MAX_PLANES + 1];
    double limit;
    if (!PyArg_ParseTuple(args, "OOd:float_planes", &planes_object, &objects[0], &limit)) {
        return NULL;
    }
    PyObject *planes = PySequence_Fast(planes_object, "planes must be a sequence of arrays");
    if (planes == NULL) {
        return NULL;
    }
    Py_ssize_t channels = PySequence_Fast_GET_SIZE(planes);
    if (channels < 1 || channels > MAX_PLANES) {
        Py_DECREF(planes);
        return verdict("planes must hold 1 to 64 arrays");
    }
    Spec specs[MAX_PLANES + 1] = {{"out", "d", 8, 2, 1, 0}};
    for (Py_ssize_t c = 0; c < channels; c++) {
        objects[c + 1] = PySequence_Fast_GET_ITEM(planes, c);
        specs[c + 1] = (Spec){"plane", "f", 4, 1, 0, 0};
    }
    Array a[MAX_PLANES + 1];
    int count = (int)channels + 1;
    if (arrays_get(objects, specs, a, count) < 0) {
        Py_DECREF(planes);
        return NULL;
    }
    const Array *out = &a[0];
    Py_ssize_t frames = out->shape[0];
    const char *problem = NULL;
    if (out->shape[1] != channels || !array_is_contiguous(out)) {
        problem = "out must be C-ordered, one column per plane";
    }
    for (Py_ssize_t c = 0; problem == NULL && c < channels; c++) {
        if (a[c + 1].shape[0] < frames || !array_is_contiguous(&a[c + 1])) {
            problem = "every plane must hold out's frames, contiguously";
        }
    }
    if (problem == NULL) {
        double *y = out->view.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t c = 0; c < channels; c++) {
            const float *x = a[c + 1].view.buf;
            for (Py_ssize_t n = 0; n < frames; n++) {
                double v = (double)x[n];
                v = isfinite(v) ? v : 0.0;
                v = v < -limit ? -limit : v;
                v = v > limit ? limit : v;
                y[n * channels + c] = v;
            }
        }
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, count);
    Py_DECREF(planes);
    return verdict(problem);
}

/* ---- segment statistics --------------------------------------------------------------------- */

PyDoc_STRVAR(level_segments_doc,
"level_segments(x, starts, sums, maxima)\n--\n\n"
"Level statistics of consecutive segments of ``x`` ((frames, channels) float64, any strides):\n"
"segment j runs from starts[j] to starts[j + 1] (the last to the end of x; ``starts`` (k,)\n"
"int64, ascending, starts[0] = 0). sums[j] ((k, 2) float64, C order) becomes the sum over the\n"
"segment of the squared mono mix (the channels each scaled by 1/channels, summed in order;\n"
"one channel passes unscaled) and of the channel power (the sum of x_c^2 / channels, in\n"
"order; one channel unscaled); maxima[j] ((k,) float64) the largest |x| of any channel\n"
"(0 for an empty segment). The arithmetic of shared.levels.LevelMeter, summed in frame order.");

static const Spec LEVEL_SEGMENTS_ARGS[] = {
    {"x", "d", 8, 2, 0, 0}, {"starts", "ql", 8, 1, 0, 0},
    {"sums", "d", 8, 2, 1, 0}, {"maxima", "d", 8, 1, 1, 0},
};

static void run_level_segments(const double *x, Py_ssize_t frame_step, Py_ssize_t channel_step,
                               Py_ssize_t frames, Py_ssize_t channels, const int64_t *starts,
                               Py_ssize_t segments, double *sums, double *maxima) {
    const double share = 1.0 / (double)channels;
    for (Py_ssize_t j = 0; j < segments; j++) {
        Py_ssize_t end = j + 1 < segments ? (Py_ssize_t)starts[j + 1] : frames;
        double mono_squares = 0.0, power = 0.0, peak = 0.0;
        for (Py_ssize_t n = (Py_ssize_t)starts[j]; n < end; n++) {
            const double *frame = x + n * frame_step;
            double mono, frame_power;
            if (channels == 1) {
                mono = frame[0];
                frame_power = mono * mono;
                peak = fabs(mono) > peak ? fabs(mono) : peak;
            } else {
                mono = frame[0] * share;
                frame_power = share * (frame[0] * frame[0]);
                peak = fabs(frame[0]) > peak ? fabs(frame[0]) : peak;
                for (Py_ssize_t c = 1; c < channels; c++) {
                    double v = frame[c * channel_step];
                    mono += v * share;
                    frame_power += share * (v * v);
                    peak = fabs(v) > peak ? fabs(v) : peak;
                }
            }
            mono_squares += mono * mono;
            power += frame_power;
        }
        sums[2 * j] = mono_squares;
        sums[2 * j + 1] = power;
        maxima[j] = peak;
    }
}

static PyObject *level_segments(PyObject *module, PyObject *args) {
    PyObject *objects[4];
    if (!PyArg_ParseTuple(args, "OOOO:level_segments", &objects[0], &objects[1], &objects[2],
                          &objects[3])) {
        return NULL;
    }
    Array a[4];
    if (arrays_get(objects, LEVEL_SEGMENTS_ARGS, a, 4) < 0) {
        return NULL;
    }
    const Array *x = &a[0], *starts = &a[1], *sums = &a[2], *maxima = &a[3];
    const char *problem = NULL;
    Py_ssize_t frames = x->shape[0], channels = x->shape[1], segments = starts->shape[0];
    const int64_t *s = starts->view.buf;
    if (channels < 1) {
        problem = "x must have at least one channel";
    } else if (!array_is_contiguous(starts)) {
        problem = "starts must be C-ordered";
    } else if (sums->shape[0] != segments || sums->shape[1] != 2 || !array_is_contiguous(sums)) {
        problem = "sums must be C-ordered, (segments, 2)";
    } else if (maxima->shape[0] != segments || !array_is_contiguous(maxima)) {
        problem = "maxima must be C-ordered, one per segment";
    } else if (segments > 0 && s[0] != 0) {
        problem = "starts must begin at 0";
    }
    for (Py_ssize_t j = 1; problem == NULL && j < segments; j++) {
        if (s[j] < s[j - 1] || s[j] > frames) {
            problem = "starts must ascend within the frames of x";
        }
    }
    if (problem == NULL && segments > 0) {
        Py_BEGIN_ALLOW_THREADS
        run_level_segments(x->view.buf, x->step[0], x->step[1], frames, channels, s, segments,
                           sums->view.buf, maxima->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 4);
    return verdict(problem);
}

PyDoc_STRVAR(pair_moments_doc,
"pair_moments(x, length, out)\n--\n\n"
"Raw moments of the first two channels of ``x`` ((frames, channels >= 2) float64, any\n"
"strides) over consecutive chunks of ``length`` frames (frames a whole number of chunks):\n"
"out[j] ((chunks, 5) float64, C order) becomes the chunk's sums of L, R, L^2, R^2 and L*R,\n"
"each summed in frame order (so a chunk gives the same bits wherever it sits in memory).");

static const Spec PAIR_MOMENTS_ARGS[] = {{"x", "d", 8, 2, 0, 0}, {"out", "d", 8, 2, 1, 0}};

static void run_pair_moments(const double *x, Py_ssize_t frame_step, Py_ssize_t channel_step,
                             Py_ssize_t length, Py_ssize_t chunks, double *out) {
    for (Py_ssize_t j = 0; j < chunks; j++) {
        const double *chunk = x + j * length * frame_step;
        double sum_l = 0.0, sum_r = 0.0, sum_ll = 0.0, sum_rr = 0.0, sum_lr = 0.0;
        for (Py_ssize_t n = 0; n < length; n++) {
            double l = chunk[n * frame_step], r = chunk[n * frame_step + channel_step];
            sum_l += l;
            sum_r += r;
            sum_ll += l * l;
            sum_rr += r * r;
            sum_lr += l * r;
        }
        double *row = out + 5 * j;
        row[0] = sum_l;
        row[1] = sum_r;
        row[2] = sum_ll;
        row[3] = sum_rr;
        row[4] = sum_lr;
    }
}

static PyObject *pair_moments(PyObject *module, PyObject *args) {
    PyObject *objects[2];
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "OnO:pair_moments", &objects[0], &length, &objects[1])) {
        return NULL;
    }
    Array a[2];
    if (arrays_get(objects, PAIR_MOMENTS_ARGS, a, 2) < 0) {
        return NULL;
    }
    const Array *x = &a[0], *out = &a[1];
    const char *problem = NULL;
    Py_ssize_t frames = x->shape[0];
    Py_ssize_t chunks = length > 0 ? frames / length : 0;
    if (x->shape[1] < 2) {
        problem = "x must have at least two channels";
    } else if (length < 1 || frames % length != 0) {
        problem = "the frames of x must be a whole number of chunks of length >= 1";
    } else if (out->shape[0] != chunks || out->shape[1] != 5 || !array_is_contiguous(out)) {
        problem = "out must be C-ordered, (chunks, 5)";
    }
    if (problem == NULL && chunks > 0) {
        Py_BEGIN_ALLOW_THREADS
        run_pair_moments(x->view.buf, x->step[0], x->step[1], length, chunks, out->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 2);
    return verdict(problem);
}

/* ---- running median ------------------------------------------------------------------------ */

PyDoc_STRVAR(running_median_doc,
"running_median(values, size, pairs, out)\n--\n\n"
"``out`` ((rows, columns) float32, C order) becomes the median of the ``size`` (odd) values of\n"
"each column of ``values`` ((rows, columns) float32, finite, C order) centred on each row, the\n"
"column reflected at its ends (numpy.pad's 'reflect': the end value is not repeated).\n"
"``pairs`` ((m, 2) int64): a compare-exchange network that leaves the median of ``size`` values\n"
"at index size // 2 (fingerprint_service.features.tonal.median_network); it runs on eight\n"
"columns at a time, in registers and L1.");

static const Spec RUNNING_MEDIAN_ARGS[] = {
    {"values", "f", 4, 2, 0, 0}, {"pairs", "ql", 8, 2, 0, 0}, {"out", "f", 4, 2, 1, 0}};

/* Largest window and network running_median takes. */
#define MAX_MEDIAN 255
#define MAX_COMPARATORS 8192

#define VMIN(a, b) ((vfloat)(((vint)(a) & ((a) < (b))) | ((vint)(b) & ~((a) < (b)))))

/* Row ``i`` of a column of ``n`` rows, reflected into [0, n) as often as needed. */
static inline __attribute__((always_inline)) Py_ssize_t reflected(Py_ssize_t i, Py_ssize_t n) {
    if (n == 1) {
        return 0;
    }
    Py_ssize_t period = 2 * (n - 1);
    i %= period;
    i = i < 0 ? i + period : i;
    return i < n ? i : period - i;
}

VECTOR_CLONES
static void run_running_median(const float *v, Py_ssize_t rows, Py_ssize_t columns,
                               Py_ssize_t size, const int64_t *pairs, Py_ssize_t comparators,
                               float *out) {
    const float *taps[MAX_MEDIAN];
    vfloat window[MAX_MEDIAN];
    float scalar[MAX_MEDIAN];
    Py_ssize_t radius = size / 2, whole = columns - columns % LANES;
    for (Py_ssize_t i = 0; i < rows; i++) {
        for (Py_ssize_t k = 0; k < size; k++) {
            taps[k] = v + reflected(i - radius + k, rows) * columns;
        }
        float *row = out + i * columns;
        for (Py_ssize_t c = 0; c < whole; c += LANES) {
            for (Py_ssize_t k = 0; k < size; k++) {
                memcpy(&window[k], taps[k] + c, sizeof(vfloat));
            }
            for (Py_ssize_t m = 0; m < comparators; m++) {
                vfloat a = window[pairs[2 * m]], b = window[pairs[2 * m + 1]];
                window[pairs[2 * m]] = VMIN(a, b);
                window[pairs[2 * m + 1]] = VMAX(a, b);
            }
            memcpy(row + c, &window[radius], sizeof(vfloat));
        }
        for (Py_ssize_t c = whole; c < columns; c++) {
            for (Py_ssize_t k = 0; k < size; k++) {
                scalar[k] = taps[k][c];
            }
            for (Py_ssize_t m = 0; m < comparators; m++) {
                float a = scalar[pairs[2 * m]], b = scalar[pairs[2 * m + 1]];
                scalar[pairs[2 * m]] = a < b ? a : b;
                scalar[pairs[2 * m + 1]] = a < b ? b : a;
            }
            row[c] = scalar[radius];
        }
    }
}

static PyObject *running_median(PyObject *module, PyObject *args) {
    PyObject *objects[3];
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "OnOO:running_median", &objects[0], &size, &objects[1],
                          &objects[2])) {
        return NULL;
    }
    Array a[3];
    if (arrays_get(objects, RUNNING_MEDIAN_ARGS, a, 3) < 0) {
        return NULL;
    }
    const Array *values = &a[0], *pairs = &a[1], *out = &a[2];
    const char *problem = NULL;
    Py_ssize_t rows = values->shape[0], columns = values->shape[1];
    Py_ssize_t comparators = pairs->shape[0];
    const int64_t *p = pairs->view.buf;
    if (size < 1 || size % 2 == 0 || size > MAX_MEDIAN) {
        problem = "size must be odd, 1 to 255";
    } else if (!array_is_contiguous(values)) {
        problem = "values must be C-ordered";
    } else if (out->shape[0] != rows || out->shape[1] != columns || !array_is_contiguous(out)) {
        problem = "out must be C-ordered, of the shape of values";
    } else if (pairs->shape[1] != 2 || comparators > MAX_COMPARATORS ||
               !array_is_contiguous(pairs)) {
        problem = "pairs must be C-ordered, (comparators, 2), at most 8192";
    }
    for (Py_ssize_t m = 0; problem == NULL && m < 2 * comparators; m++) {
        if (p[m] < 0 || p[m] >= size) {
            problem = "pairs must index the window";
        }
    }
    const float *x = values->view.buf;
    for (Py_ssize_t n = 0; problem == NULL && n < rows * columns; n++) {
        if (!isfinite(x[n])) {
            problem = "values must be finite";
        }
    }
    if (problem == NULL && rows > 0 && columns > 0) {
        Py_BEGIN_ALLOW_THREADS
        run_running_median(x, rows, columns, size, p, comparators, out->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 3);
    return verdict(problem);
}

/* ---- short-time power spectra ---------------------------------------------------------------- */

PyDoc_STRVAR(stft_power_doc,
"stft_power(samples, window, hop, twiddles, first_bin, scale, out)\n--\n\n"
"Power spectra of windowed frames: row i of ``out`` ((frames, bins) float32, C order) becomes\n"
"scale * |X_i[k]|^2 for k = first_bin .. first_bin + bins - 1, where X_i is the DFT of\n"
"samples[i * hop : i * hop + n] * window (``samples`` 1-D float32, C order; ``window`` (n,)\n"
"float32, n a power of two, 2 to 65536). ``twiddles`` ((n / 2, 2) float32, C order): cos and\n"
"sin of 2 pi k / n for k < n / 2. Single precision, as scipy.fft.rfft of float32 frames: the\n"
"even and odd samples are the real and imaginary parts of an n / 2 point complex FFT (radix 2,\n"
"eight frames at a time in vector lanes), whose halves then give the real frame's spectrum.");

static const Spec STFT_POWER_ARGS[] = {
    {"samples", "f", 4, 1, 0, 0}, {"window", "f", 4, 1, 0, 0},
    {"twiddles", "f", 4, 2, 0, 0}, {"out", "f", 4, 2, 1, 0}};

/* Longest frame stft_power takes. */
#define MAX_FFT 65536

/* Eight frames' complex FFT of m points, in place: ``re`` and ``im`` in bit-reversed order in,
 * natural order out. ``tw`` is the n = 2m point table, so W_len^j sits at j * n / len. */
VECTOR_CLONES
static void run_fft_lanes(vfloat *re, vfloat *im, Py_ssize_t m, const float *tw) {
    for (Py_ssize_t half = 1; half < m; half *= 2) {
        Py_ssize_t stride = m / half;
        for (Py_ssize_t start = 0; start < m; start += 2 * half) {
            vfloat *ar = re + start, *ai = im + start, *br = ar + half, *bi = ai + half;
            for (Py_ssize_t j = 0; j < half; j++) {
                /* b * W with W = cos - i sin. */
                float c = tw[2 * j * stride], s = tw[2 * j * stride + 1];
                vfloat tr = br[j] * c + bi[j] * s, ti = bi[j] * c - br[j] * s;
                br[j] = ar[j] - tr;
                bi[j] = ai[j] - ti;
                ar[j] = ar[j] + tr;
                ai[j] = ai[j] + ti;
            }
        }
    }
}

VECTOR_CLONES
static void run_stft_power(const float *x, const float *window, Py_ssize_t n, Py_ssize_t hop,
                           const float *tw, Py_ssize_t first_bin, Py_ssize_t bins, float scale,
                           Py_ssize_t frames, const int32_t *reversed, vfloat *re, vfloat *im,
                           float *out) {
    Py_ssize_t m = n / 2;
    for (Py_ssize_t f0 = 0; f0 < frames; f0 += LANES) {
        Py_ssize_t lanes = frames - f0 < LANES ? frames - f0 : LANES;
        /* Windowed even samples as the real parts, odd ones as the imaginary parts. */
        for (Py_ssize_t k = 0; k < m; k++) {
            vfloat even = {0}, odd = {0};
            for (Py_ssize_t l = 0; l < lanes; l++) {
                const float *s = x + (f0 + l) * hop + 2 * k;
                even[l] = s[0] * window[2 * k];
                odd[l] = s[1] * window[2 * k + 1];
            }
            re[reversed[k]] = even;
            im[reversed[k]] = odd;
        }
        run_fft_lanes(re, im, m, tw);
        /* With Z the FFT of z = even + i odd: E = (Z[k] + conj Z[m - k]) / 2 and
         * O = (Z[k] - conj Z[m - k]) / 2i are the halves' spectra, X[k] = E + W_n^k O. */
        for (Py_ssize_t b = 0; b < bins; b++) {
            Py_ssize_t k = first_bin + b;
            vfloat power;
            if (k == 0 || k == m) {
                vfloat edge = k == 0 ? re[0] + im[0] : re[0] - im[0];
                power = edge * edge;
            } else {
                vfloat zr = re[k], zi = im[k], yr = re[m - k], yi = -im[m - k];
                vfloat er = 0.5f * (zr + yr), ei = 0.5f * (zi + yi);
                vfloat orr = 0.5f * (zi - yi), oi = -0.5f * (zr - yr);
                float c = tw[2 * k], s = tw[2 * k + 1];
                vfloat xr = er + (orr * c + oi * s), xi = ei + (oi * c - orr * s);
                power = xr * xr + xi * xi;
            }
            power *= scale;
            for (Py_ssize_t l = 0; l < lanes; l++) {
                out[(f0 + l) * bins + b] = power[l];
            }
        }
    }
}

static PyObject *stft_power(PyObject *module, PyObject *args) {
    PyObject *objects[4];
    Py_ssize_t hop, first_bin;
    float scale;
    if (!PyArg_ParseTuple(args, "OOnOnfO:stft_power", &objects[0], &objects[1], &hop,
                          &objects[2], &first_bin, &scale, &objects[3])) {
        return NULL;
    }
    Array a[4];
    if (arrays_get(objects, STFT_POWER_ARGS, a, 4) < 0) {
        return NULL;
    }
    const Array *samples = &a[0], *window = &a[1], *twiddles = &a[2], *out = &a[3];
    const char *problem = NULL;
    Py_ssize_t n = window->shape[0], m = n / 2, frames = out->shape[0], bins = out->shape[1];
    if (n < 2 || n > MAX_FFT || (n & (n - 1)) != 0 || !array_is_contiguous(window)) {
        problem = "window must be C-ordered, its length a power of two, 2 to 65536";
    } else if (twiddles->shape[0] != m || twiddles->shape[1] != 2 ||
               !array_is_contiguous(twiddles)) {
        problem = "twiddles must be a C-ordered (n / 2, 2) array";
    } else if (hop < 1) {
        problem = "hop must be at least 1";
    } else if (first_bin < 0 || first_bin + bins > m + 1) {
        problem = "bins must lie within 0 .. n / 2";
    } else if (!array_is_contiguous(out) || !array_is_contiguous(samples)) {
        problem = "samples and out must be C-ordered";
    } else if (frames > 0 && samples->shape[0] < (frames - 1) * hop + n) {
        problem = "samples must hold (frames - 1) * hop + n values";
    }
    int32_t *reversed = NULL;
    char *lanes = NULL;
    if (problem == NULL && frames > 0 && bins > 0) {
        reversed = PyMem_RawMalloc((size_t)m * sizeof(int32_t));
        /* Two arrays of m vectors, aligned to a vector. */
        lanes = PyMem_RawMalloc((size_t)(2 * m + 1) * sizeof(vfloat));
        if (reversed == NULL || lanes == NULL) {
            PyMem_RawFree(reversed);
            PyMem_RawFree(lanes);
            arrays_release(a, 4);
            return PyErr_NoMemory();
        }
        int bits = 0;
        while (((Py_ssize_t)1 << bits) < m) {
            bits++;
        }
        for (Py_ssize_t k = 0; k < m; k++) {
            int32_t r = 0;
            for (int i = 0; i < bits; i++) {
                r |= (int32_t)((k >> i) & 1) << (bits - 1 - i);
            }
            reversed[k] = r;
        }
        uintptr_t align = sizeof(vfloat) - 1;
        vfloat *re = (vfloat *)(((uintptr_t)lanes + align) & ~align), *im = re + m;
        Py_BEGIN_ALLOW_THREADS
        run_stft_power(samples->view.buf, window->view.buf, n, hop, twiddles->view.buf,
                       first_bin, bins, scale, frames, reversed, re, im, out->view.buf);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(reversed);
    PyMem_RawFree(lanes);
    arrays_release(a, 4);
    return verdict(problem);
}

/* ---- look-ahead gain ------------------------------------------------------------------------ */

PyDoc_STRVAR(delayed_gain_doc,
"delayed_gain(x, held, gains, limit, out) -> lowest gain\n--\n\n"
"The limiter's output step: ``out`` ((frames, channels) float64, C order) becomes ``x``\n"
"((frames, channels) float64, finite, any strides) delayed by the len(held) frames of ``held``\n"
"((delay, channels) float64, C order; updated in place to the frames held for the next\n"
"block), times ``gains`` ((frames,) float64), clipped to +-limit. Where every gain is 1 the\n"
"delayed frames pass unchanged (no clip). Returns the smallest gain (1 for no frames).");

/* Rows first .. first + count of x into dst (C order), whatever x's strides. */
static void copy_rows(const double *x, Py_ssize_t x_frame, Py_ssize_t x_channel,
                      Py_ssize_t first, Py_ssize_t count, Py_ssize_t channels, double *dst) {
    if (x_channel == 1 && x_frame == channels) {
        memcpy(dst, x + first * channels, (size_t)(count * channels) * sizeof(double));
        return;
    }
    for (Py_ssize_t n = 0; n < count; n++) {
        for (Py_ssize_t c = 0; c < channels; c++) {
            dst[n * channels + c] = x[(first + n) * x_frame + c * x_channel];
        }
    }
}

static inline __attribute__((always_inline)) double clip_to(double value, double limit) {
    value = value < -limit ? -limit : value;
    return value > limit ? limit : value;
}

/* The AVX2 clone scales and clips four samples a step; products and clips are exact either way. */
VECTOR_CLONES
static void run_delayed_gain(const double *x, Py_ssize_t x_frame, Py_ssize_t x_channel,
                             double *held, Py_ssize_t delay, const double *gains,
                             Py_ssize_t frames, Py_ssize_t channels, double limit, int scale,
                             double *out) {
    Py_ssize_t from_held = frames < delay ? frames : delay;
    if (scale) {
        /* Each output read once from where it comes from, scaled and clipped on the way. */
        const Py_ssize_t head = from_held * channels;
        for (Py_ssize_t k = 0; k < head; k++) {
            out[k] = clip_to(held[k] * gains[k / channels], limit);
        }
        if (x_channel == 1 && x_frame == channels && channels == 2) {
            double *y = out + head;
            const double *g = gains + from_held;
            for (Py_ssize_t n = 0; n < frames - from_held; n++) {
                y[2 * n] = clip_to(x[2 * n] * g[n], limit);
                y[2 * n + 1] = clip_to(x[2 * n + 1] * g[n], limit);
            }
        } else {
            for (Py_ssize_t n = from_held; n < frames; n++) {
                for (Py_ssize_t c = 0; c < channels; c++) {
                    out[n * channels + c] =
                        clip_to(x[(n - from_held) * x_frame + c * x_channel] * gains[n], limit);
                }
            }
        }
    } else {
        memcpy(out, held, (size_t)(from_held * channels) * sizeof(double));
        copy_rows(x, x_frame, x_channel, 0, frames - from_held, channels,
                  out + from_held * channels);
    }
    /* What the next block's first frames are: the held frames not yet out, then x's last. */
    Py_ssize_t kept = delay - from_held;
    memmove(held, held + from_held * channels, (size_t)(kept * channels) * sizeof(double));
    copy_rows(x, x_frame, x_channel, frames - (delay - kept), delay - kept, channels,
              held + kept * channels);
}

/* The smallest of gains[0 .. n) and 1: four running minima side by side, a vector's worth (one
 * chain would wait out a comparison's latency per gain, a third of the output step's time). */
VECTOR_CLONES
static double lowest_gain(const double *gains, Py_ssize_t n) {
    double lowest[4] = {1.0, 1.0, 1.0, 1.0};
    Py_ssize_t k = 0;
    for (; k + 4 <= n; k += 4) {
        for (int j = 0; j < 4; j++) {
            lowest[j] = gains[k + j] < lowest[j] ? gains[k + j] : lowest[j];
        }
    }
    for (; k < n; k++) {
        lowest[0] = gains[k] < lowest[0] ? gains[k] : lowest[0];
    }
    double a = lowest[0] < lowest[1] ? lowest[0] : lowest[1];
    double b = lowest[2] < lowest[3] ? lowest[2] : lowest[3];
    return a < b ? a : b;
}

static const Spec DELAYED_GAIN_ARGS[] = {
    {"x", "d", 8, 2, 0, 0}, {"held", "d", 8, 2, 1, 0},
    {"gains", "d", 8, 1, 0, 0}, {"out", "d", 8, 2, 1, 0},
};

static PyObject *delayed_gain(PyObject *module, PyObject *args) {
    PyObject *objects[4];
    double limit;
    if (!PyArg_ParseTuple(args, "OOOdO:delayed_gain", &objects[0], &objects[1], &objects[2],
                          &limit, &objects[3])) {
        return NULL;
    }
    Array a[4];
    if (arrays_get(objects, DELAYED_GAIN_ARGS, a, 4) < 0) {
        return NULL;
    }
    const Array *x = &a[0], *held = &a[1], *gains = &a[2], *out = &a[3];
    const char *problem = NULL;
    Py_ssize_t frames = x->shape[0], channels = x->shape[1];
    if (held->shape[1] != channels || !array_is_contiguous(held)) {
        problem = "held must be C-ordered, with the channels of x";
    } else if (gains->shape[0] != frames || !array_is_contiguous(gains)) {
        problem = "gains must be C-ordered, one per frame of x";
    } else if (out->shape[0] != frames || out->shape[1] != channels ||
               !array_is_contiguous(out)) {
        problem = "out must be C-ordered, of the shape of x";
    }
    double lowest = 1.0;
    if (problem == NULL) {
        const double *g = gains->view.buf;
        Py_BEGIN_ALLOW_THREADS
        lowest = lowest_gain(g, frames);
        run_delayed_gain(x->view.buf, x->step[0], x->step[1], held->view.buf, held->shape[0], g,
                         frames, channels, limit, lowest != 1.0, out->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 4);
    if (problem != NULL) {
        return verdict(problem);
    }
    return PyFloat_FromDouble(lowest);
}

/* ---- control-rate gains ---------------------------------------------------------------------- */

PyDoc_STRVAR(ramp_gain_doc,
"ramp_gain(x, points, offset, ramp, out)\n--\n\n"
"``out`` ((frames, channels) float64, C order) becomes ``x`` ((frames, channels) float64, any\n"
"strides) times gains interpolated between control points: frame n, at position\n"
"i = offset + n of the grid, gets points[k] + (points[k + 1] - points[k]) * ramp[j] with\n"
"k, j = divmod(i, len(ramp)) (``points`` (groups + 1,) float64, ``ramp`` (D,) float64).");

static const Spec RAMP_GAIN_ARGS[] = {
    {"x", "d", 8, 2, 0, 0}, {"points", "d", 8, 1, 0, 0},
    {"ramp", "d", 8, 1, 0, 0}, {"out", "d", 8, 2, 1, 0},
};

static PyObject *ramp_gain(PyObject *module, PyObject *args) {
    PyObject *objects[4];
    Py_ssize_t offset;
    if (!PyArg_ParseTuple(args, "OOnOO:ramp_gain", &objects[0], &objects[1], &offset,
                          &objects[2], &objects[3])) {
        return NULL;
    }
    Array a[4];
    if (arrays_get(objects, RAMP_GAIN_ARGS, a, 4) < 0) {
        return NULL;
    }
    const Array *x = &a[0], *points = &a[1], *ramp = &a[2], *out = &a[3];
    const char *problem = NULL;
    Py_ssize_t frames = x->shape[0], channels = x->shape[1], period = ramp->shape[0];
    if (out->shape[0] != frames || out->shape[1] != channels || !array_is_contiguous(out)) {
        problem = "out must be C-ordered, of the shape of x";
    } else if (period < 1 || !array_is_contiguous(ramp) || !array_is_contiguous(points)) {
        problem = "ramp and points must be C-ordered, ramp not empty";
    } else if (offset < 0 ||
               (frames > 0 && (offset + frames - 1) / period + 1 >= points->shape[0])) {
        problem = "points must reach past the group of the last frame";
    }
    if (problem == NULL) {
        const double *p = points->view.buf, *r = ramp->view.buf, *v = x->view.buf;
        const Py_ssize_t frame_step = x->step[0], channel_step = x->step[1];
        double *y = out->view.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t n = 0; n < frames; n++) {
            Py_ssize_t i = offset + n, k = i / period, j = i % period;
            double g = p[k] + (p[k + 1] - p[k]) * r[j];
            for (Py_ssize_t c = 0; c < channels; c++) {
                y[n * channels + c] = v[n * frame_step + c * channel_step] * g;
            }
        }
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 4);
    return verdict(problem);
}

/* ---- mid/side width ---------------------------------------------------------------------------- */

PyDoc_STRVAR(mid_side_doc,
"mid_side(x, side_gain, out)\n--\n\n"
"``out`` ((frames, channels) float64, C order) becomes ``x`` ((frames, channels) float64, at\n"
"least 2 channels, any strides) with the side of its first two channels scaled: with\n"
"M = 0.5 * (L + R) and S = (0.5 * side_gain) * (L - R), L' = M + S and R' = M - S; any other\n"
"channel is copied (mastering_service.chain.width, bit for bit).");

static const Spec MID_SIDE_ARGS[] = {{"x", "d", 8, 2, 0, 0}, {"out", "d", 8, 2, 1, 0}};

/* Not a vector clone: a fused multiply-add would round M + S differently from numpy. */
static void run_mid_side(const double *x, Py_ssize_t frame_step, Py_ssize_t channel_step,
                         Py_ssize_t frames, Py_ssize_t channels, double half_gain,
                         double *out) {
    for (Py_ssize_t n = 0; n < frames; n++) {
        const double *frame = x + n * frame_step;
        double *y = out + n * channels;
        double left = frame[0], right = frame[channel_step];
        double mid = 0.5 * (left + right), side = half_gain * (left - right);
        y[0] = mid + side;
        y[1] = mid - side;
        for (Py_ssize_t c = 2; c < channels; c++) {
            y[c] = frame[c * channel_step];
        }
    }
}

static PyObject *mid_side(PyObject *module, PyObject *args) {
    PyObject *objects[2];
    double side_gain;
    if (!PyArg_ParseTuple(args, "OdO:mid_side", &objects[0], &side_gain, &objects[1])) {
        return NULL;
    }
    Array a[2];
    if (arrays_get(objects, MID_SIDE_ARGS, a, 2) < 0) {
        return NULL;
    }
    const Array *x = &a[0], *out = &a[1];
    const char *problem = NULL;
    if (x->shape[1] < 2) {
        problem = "x must have at least two channels";
    } else if (out->shape[0] != x->shape[0] || out->shape[1] != x->shape[1] ||
               !array_is_contiguous(out)) {
        problem = "out must be a C-ordered array of the shape of x";
    }
    if (problem == NULL) {
        Py_BEGIN_ALLOW_THREADS
        run_mid_side(x->view.buf, x->step[0], x->step[1], x->shape[0], x->shape[1],
                     0.5 * side_gain, out->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 2);
    return verdict(problem);
}

/* ---- 16-bit encoding -------------------------------------------------------------------------- */

/* Integer finaliser "lowbias32" (C. Wellons, hash-prospector): a bijection on uint32 whose output
 * bits pass avalanche tests. */
static inline __attribute__((always_inline)) uint32_t lowbias32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    h *= 0x846ca68bU;
    h ^= h >> 16;
    return h;
}

/* Sample k (frame-major) of the block: the dither of key first_key + k, the silence rule,
 * rounding half to even, the clip. */
static inline __attribute__((always_inline)) int16_t s16_sample(double v, uint32_t key) {
    uint32_t h = lowbias32(key);
    double dither = (double)((int32_t)(h >> 16) - (int32_t)(h & 0xffffU)) * (1.0 / 65536.0);
    /* Below half a 24-bit LSB is digital silence: not dithered. */
    if (fabs(v) < 0x1p-24) {
        dither = 0.0;
    }
    double scaled = rint(v * 32768.0 + dither);
    scaled = scaled < -32768.0 ? -32768.0 : scaled;
    scaled = scaled > 32767.0 ? 32767.0 : scaled;
    return (int16_t)scaled;
}

/* On x86-64 the AVX2 clone hashes and rounds eight samples a step; the baseline calls rint.
 * Hash, scaling by 2^15 and rounding are exact, so every clone gives the same bytes. */
VECTOR_CLONES
static void run_s16(const double *x, Py_ssize_t frame_step, Py_ssize_t channel_step,
                    Py_ssize_t frames, Py_ssize_t channels, uint32_t first_key, int16_t *out) {
    if (channel_step == 1 && frame_step == channels) {
        const Py_ssize_t samples = frames * channels;
        for (Py_ssize_t k = 0; k < samples; k++) {
            out[k] = s16_sample(x[k], first_key + (uint32_t)k);
        }
        return;
    }
    uint32_t key = first_key;
    for (Py_ssize_t n = 0; n < frames; n++) {
        for (Py_ssize_t c = 0; c < channels; c++, key++) {
            out[n * channels + c] = s16_sample(x[n * frame_step + c * channel_step], key);
        }
    }
}

PyDoc_STRVAR(encode_s16_doc,
"encode_s16(x, first_key, out)\n--\n\n"
"TPDF-dithered 16-bit PCM of ``x`` ((frames, channels) float64, finite, any strides) into\n"
"``out`` ((frames, channels) int16, C order): sample k (frame-major) gets the dither of\n"
"lowbias32(first_key + k mod 2**32), (high 16 bits - low 16 bits) / 2**16 LSB, none where\n"
"|x| < 2**-24; then x * 2**15 + dither rounded half to even and clipped to the int16 range\n"
"(mastering_service.chain.encoding, bit for bit).");

static const Spec ENCODE_S16_ARGS[] = {{"x", "d", 8, 2, 0, 0}, {"out", "h", 2, 2, 1, 0}};

static PyObject *encode_s16(PyObject *module, PyObject *args) {
    PyObject *objects[2];
    unsigned long long first_key;
    if (!PyArg_ParseTuple(args, "OKO:encode_s16", &objects[0], &first_key, &objects[1])) {
        return NULL;
    }
    Array a[2];
    if (arrays_get(objects, ENCODE_S16_ARGS, a, 2) < 0) {
        return NULL;
    }
    const Array *x = &a[0], *out = &a[1];
    const char *problem = NULL;
    if (out->shape[0] != x->shape[0] || out->shape[1] != x->shape[1] ||
        !array_is_contiguous(out)) {
        problem = "out must be a C-ordered array of the shape of x";
    } else if (first_key > 0xffffffffULL) {
        problem = "first_key must fit in 32 bits";
    }
    if (problem == NULL) {
        Py_BEGIN_ALLOW_THREADS
        run_s16(x->view.buf, x->step[0], x->step[1], x->shape[0], x->shape[1],
                (uint32_t)first_key, out->view.buf);
        Py_END_ALLOW_THREADS
    }
    arrays_release(a, 2);
    return verdict(problem);
}

/* ---- module ---------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"sos_filter", sos_filter, METH_VARARGS, sos_filter_doc},
    {"sos_power", sos_power, METH_VARARGS, sos_power_doc},
    {"true_peak_rows", true_peak_rows, METH_VARARGS, true_peak_rows_doc},
    {"true_peak_block", true_peak_block, METH_VARARGS, true_peak_block_doc},
    {"encode_s16", encode_s16, METH_VARARGS, encode_s16_doc},
    {"delayed_gain", delayed_gain, METH_VARARGS, delayed_gain_doc},
    {"ramp_gain", ramp_gain, METH_VARARGS, ramp_gain_doc},
    {"mid_side", mid_side, METH_VARARGS, mid_side_doc},
    {"float_planes", float_planes, METH_VARARGS, float_planes_doc},
    {"level_segments", level_segments, METH_VARARGS, level_segments_doc},
    {"pair_moments", pair_moments, METH_VARARGS, pair_moments_doc},
    {"running_median", running_median, METH_VARARGS, running_median_doc},
    {"stft_power", stft_power, METH_VARARGS, stft_power_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "shared._kernels",
    "The signal path's compiled inner loops (see shared/_kernels.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module_definition); }
