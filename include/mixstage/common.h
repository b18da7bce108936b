/* libmixstage — common definitions: export macro, status codes, roles,
 * parameter introspection.
 *
 * Every function in libmixstage returns either a handle, or an int status:
 * MIXSTAGE_OK (0) or a negative mixstage_status code.  mixstage_strerror()
 * turns any code into a sentence and never returns NULL.  Objects that live in
 * a graph also record a last-error message naming the object at fault; read it
 * with mixstage_graph_last_error().
 *
 * Instruction sets.  One build runs on any x86-64 machine: the DSP kernels
 * use AVX and AVX2/FMA where the CPU has them and SSE2 otherwise, chosen once
 * when the library is loaded (other architectures: portable C).  A render is
 * bit-identical across runs, block sizes and thread counts; between machines
 * with different instruction sets its last bits may differ, within every
 * stated accuracy.  The environment variable MIXSTAGE_CPU caps the choice,
 * to reproduce the bits of a machine with less, or to test the baseline
 * kernels: "sse2", "avx" or "avx2" (everything the CPU has: the default).  A
 * cap never enables what the CPU lacks; any other value is reported on
 * stderr and ignored.  Set it before the process starts.
 */
#ifndef MIXSTAGE_COMMON_H
#define MIXSTAGE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MIXSTAGE_BUILDING) && defined(__GNUC__)
#define MIXSTAGE_EXPORT __attribute__((visibility("default")))
#else
#define MIXSTAGE_EXPORT
#endif

/* Real-time entry points are marked so that clang's RealtimeSanitizer
 * (-fsanitize=realtime) reports any allocation, lock or system call reached
 * from them.  Other compilers see nothing. */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(nonblocking) && !defined(SWIG)
#define MIXSTAGE_NONBLOCKING __attribute__((nonblocking))
#endif
#endif
#ifndef MIXSTAGE_NONBLOCKING
#define MIXSTAGE_NONBLOCKING
#endif

/** Status codes: one table generates the enum, mixstage_strerror() and
 *  mixstage_err_name().  X(name, value, message) */
#define MIXSTAGE_STATUS_MAP(X)                                                  \
  X(OK, 0, "success")                                                          \
  X(EINVAL, -1, "invalid argument")                                            \
  X(ENULL, -2, "a required handle or pointer is NULL")                         \
  X(ENOMEM, -3, "out of memory")                                               \
  X(ERANGE, -4, "value out of range")                                          \
  X(ENOTFOUND, -5, "no object, node type or parameter by that name or id")     \
  X(ECYCLE, -6, "the routing would create a cycle")                            \
  X(ESTATE, -7, "the call is not allowed in the object's current state")       \
  X(ECHANNELS, -8, "incompatible channel counts")                              \
  X(EBLOCKSIZE, -9, "block size is zero or larger than the graph's maximum")   \
  X(EEXIST, -10, "an object by that name already exists")                      \
  X(ENUMERIC, -11, "a node produced NaN or infinity; its state was reset")     \
  X(EIO, -12, "input/output error")                                            \
  X(EFORMAT, -13, "unsupported or malformed format")                           \
  X(ECANCELLED, -14, "cancelled by the caller")                                \
  X(EUNSUPPORTED, -15, "not supported by this object")

typedef enum mixstage_status {
#define MIXSTAGE__ENUM(name, value, msg) MIXSTAGE_##name = value,
  MIXSTAGE_STATUS_MAP(MIXSTAGE__ENUM)
#undef MIXSTAGE__ENUM
} mixstage_status;

/** A sentence describing @p status; never NULL (unknown codes get a generic
 *  sentence).  Thread-safe, no allocation. */
MIXSTAGE_EXPORT const char *mixstage_strerror(int status);
/** The symbolic name of @p status ("MIXSTAGE_ECYCLE"); never NULL. */
MIXSTAGE_EXPORT const char *mixstage_err_name(int status);

/** Library version as "MAJOR.MINOR.PATCH". */
MIXSTAGE_EXPORT const char *mixstage_version_string(void);

/** The roles of stages in a mix (see the stem rules).  A render profile is
 *  a policy over these. */
#define MIXSTAGE_ROLE_MAP(X)                                                   \
  X(STRIP, 0, "strip")                                                         \
  X(DESIGN, 1, "design")                                                       \
  X(MIX_FX, 2, "mix-fx")                                                       \
  X(BUS_COLOR, 3, "bus-color")                                                 \
  X(BUS_DYNAMICS, 4, "bus-dynamics")                                           \
  X(PLACEHOLDER_LIMITER, 5, "placeholder-limiter")                             \
  X(MASTERING, 6, "mastering")

typedef enum mixstage_role {
#define MIXSTAGE__ROLE(name, value, str) MIXSTAGE_ROLE_##name = value,
  MIXSTAGE_ROLE_MAP(MIXSTAGE__ROLE)
#undef MIXSTAGE__ROLE
  MIXSTAGE_ROLE_COUNT = 7
} mixstage_role;

/** The role's name ("mix-fx"), or NULL if @p role is out of range. */
MIXSTAGE_EXPORT const char *mixstage_role_name(int role);
/** The role by name; returns the role (>= 0) or MIXSTAGE_ENOTFOUND. */
MIXSTAGE_EXPORT int mixstage_role_from_name(const char *name);

/** Parameter units, for display and for binding introspection. */
typedef enum mixstage_unit {
  MIXSTAGE_UNIT_NONE = 0, /**< plain number */
  MIXSTAGE_UNIT_DB,       /**< decibels */
  MIXSTAGE_UNIT_HZ,       /**< hertz */
  MIXSTAGE_UNIT_MS,       /**< milliseconds */
  MIXSTAGE_UNIT_RATIO,    /**< ratio, e.g. 4 means 4:1 */
  MIXSTAGE_UNIT_PERCENT,  /**< 0..100 */
  MIXSTAGE_UNIT_PAN,      /**< -1 (left) .. +1 (right) */
  MIXSTAGE_UNIT_BOOL,     /**< 0 or 1 */
  MIXSTAGE_UNIT_ENUM,     /**< an index into a list of choices */
  MIXSTAGE_UNIT_Q,        /**< filter quality factor */
  MIXSTAGE_UNIT_SECONDS,  /**< seconds */
  MIXSTAGE_UNIT_BPM       /**< beats per minute */
} mixstage_unit;

/** Name of a unit ("dB", "Hz", ...); never NULL. */
MIXSTAGE_EXPORT const char *mixstage_unit_name(int unit);

/** Parameter introspection.  Strings are static and owned by the library. */
typedef struct mixstage_param_info {
  int id;              /**< stable id within its node type; never reused */
  const char *name;    /**< machine name, e.g. "threshold" */
  const char *label;   /**< human label, e.g. "Threshold" */
  int unit;            /**< a mixstage_unit */
  double min, max;     /**< inclusive range */
  double def;          /**< default value */
  int automatable;     /**< 1 if it takes an automation lane */
  const char *choices; /**< for MIXSTAGE_UNIT_ENUM: "a|b|c", else NULL */
} mixstage_param_info;

/** Automation segment shapes: the shape of the segment that ends at a point. */
typedef enum mixstage_curve {
  MIXSTAGE_CURVE_LINEAR = 0,     /**< straight line in the parameter's unit */
  MIXSTAGE_CURVE_EXPONENTIAL = 1, /**< geometric between two same-signed non-zero
                                      values; otherwise an exponential ease-in */
  MIXSTAGE_CURVE_STEP = 2         /**< holds the previous value, jumps at the point */
} mixstage_curve;

#ifdef __cplusplus
}
#endif
#endif
