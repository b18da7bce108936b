/* libmixstage — render profiles and stem bounces: the stem rules in code.
 *
 * Tutorial
 * --------
 * Every insert and send carries a role.  A profile says, for each role,
 * whether it is on, bypassed (passed through, latency kept) or muted
 * (silenced), and what to deliver: the profile's own mix, stems per strip or
 * per group bus, the mix-fx returns as their own stems, and the production
 * mix as a reference.  Three profiles are built in:
 *
 *   production  everything on but the mastering chain; delivers the mix.
 *   mix-stems   sends to mix-fx returns muted, bus dynamics and the
 *               placeholder limiter bypassed, console color applied to each
 *               stem on its own; delivers one stem per strip, the FX returns
 *               as stems, and the production mix as the reference.
 *   final       the placeholder limiter bypassed, the mastering chain on;
 *               delivers the mix.
 *
 *     const mixstage_profile *p = mixstage_profile_find("mix-stems");
 *     int err;
 *     mixstage_bounce *b = mixstage_graph_bounce(graph, p, NULL, &err);
 *     for (int i = 0; i < mixstage_bounce_count(b); i++)
 *       save(mixstage_bounce_name(b, i), mixstage_bounce_data(b, i),
 *            mixstage_bounce_frames(b), mixstage_bounce_channels(b));
 *     mixstage_bounce_destroy(b);
 *
 * How stems are made, in one pass over the graph: the production mix runs
 * as usual, and each stem forks from it where the rules differ.  A strip's
 * stem is that strip's output taken through every bus on its way to the mix
 * bus.  Linear stages on those buses (EQ, delay, reverb inserts, width) run
 * on the stem; dynamics stages (group compressors, the bus compressor when
 * on) apply the gain they applied in the production mix, whatever feeds
 * them in the profile (a return the profile mutes into a compressed group,
 * a group into a group), so the stem sounds as the strip sounds in the mix
 * and the stems still add up.  So do the forks a stem passes through in a
 * profile that delivers stems: a custom profile's mix output in such a
 * profile applies those production gains as well; nonlinear
 * stages that are not dynamics (saturation on a group) run on the stem too,
 * but then per-strip stems cannot add up exactly, and the bounce says so
 * (mixstage_bounce_adds_up()).  Sidechain keys are always the production
 * signal, even when the key's own strip is not in the stem.  Every output
 * is sample-aligned with the others and starts at frame 0.
 */
#ifndef MIXSTAGE_PROFILE_H
#define MIXSTAGE_PROFILE_H

#include "common.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mixstage_action {
  MIXSTAGE_ACTION_ON = 0,     /**< the stage runs */
  MIXSTAGE_ACTION_BYPASS = 1, /**< the stage passes audio through (its latency is kept) */
  MIXSTAGE_ACTION_MUTE = 2    /**< the stage's output is silenced (a muted send sends nothing) */
} mixstage_action;

typedef enum mixstage_stems {
  MIXSTAGE_STEMS_NONE = 0,      /**< no stems */
  MIXSTAGE_STEMS_PER_STRIP = 1, /**< one stem per strip */
  MIXSTAGE_STEMS_PER_GROUP = 2  /**< one stem per group bus, plus strips routed straight to the mix bus */
} mixstage_stems;

typedef struct mixstage_profile mixstage_profile;

/** Built-in profiles by index (0 production, 1 mix-stems, 2 final); NULL
 *  past the end.  Static: never destroy them. */
MIXSTAGE_EXPORT const mixstage_profile *mixstage_profile_builtin(int index);
/** A built-in profile by name, or NULL. */
MIXSTAGE_EXPORT const mixstage_profile *mixstage_profile_find(const char *name);

/** A custom profile named @p name (1 .. 63 bytes), starting as a copy of
 *  @p base (NULL: production).  Errors: MIXSTAGE_EINVAL (name),
 *  MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT mixstage_profile *mixstage_profile_create(const char *name, const mixstage_profile *base,
                                                          int *error);
/** Destroys a custom profile; accepts NULL (and ignores built-ins). */
MIXSTAGE_EXPORT void mixstage_profile_destroy(mixstage_profile *profile);

MIXSTAGE_EXPORT const char *mixstage_profile_name(const mixstage_profile *profile);
/** The action for @p role, or a negative error (MIXSTAGE_ENULL, MIXSTAGE_ERANGE). */
MIXSTAGE_EXPORT int mixstage_profile_action(const mixstage_profile *profile, int role);
/** Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE (role or action), MIXSTAGE_ESTATE (a built-in). */
MIXSTAGE_EXPORT int mixstage_profile_set_action(mixstage_profile *profile, int role, int action);
MIXSTAGE_EXPORT int mixstage_profile_stems(const mixstage_profile *profile);
MIXSTAGE_EXPORT int mixstage_profile_set_stems(mixstage_profile *profile, int stems);
/** 1 if the mix-fx returns are delivered as their own stems ("dry stems plus
 *  FX stems"): each return as the production mix hears it. */
MIXSTAGE_EXPORT int mixstage_profile_fx_stems(const mixstage_profile *profile);
MIXSTAGE_EXPORT int mixstage_profile_set_fx_stems(mixstage_profile *profile, int on);
/** 1 if the profile delivers its own mix. */
MIXSTAGE_EXPORT int mixstage_profile_mix(const mixstage_profile *profile);
MIXSTAGE_EXPORT int mixstage_profile_set_mix(mixstage_profile *profile, int on);
/** 1 if the production mix is also delivered, as the reference for A/B. */
MIXSTAGE_EXPORT int mixstage_profile_reference(const mixstage_profile *profile);
MIXSTAGE_EXPORT int mixstage_profile_set_reference(mixstage_profile *profile, int on);

/** Makes @p profile (NULL: production) govern the graph's own mix, as
 *  mixstage_graph_render() and real-time processing produce it: its actions
 *  on the roles of inserts and sends apply from the next control boundary.
 *  Stems and references come only from bounces.  The profile must stay
 *  alive while it is active.  Control-safe (one atomic store). */
MIXSTAGE_EXPORT int mixstage_graph_set_profile(mixstage_graph *graph, const mixstage_profile *profile);
/** The active profile (never NULL for a valid graph). */
MIXSTAGE_EXPORT const mixstage_profile *mixstage_graph_profile(const mixstage_graph *graph);

/* ---- bounces: a profile rendered to memory ---------------------------------- */

typedef enum mixstage_output_kind {
  MIXSTAGE_OUTPUT_MIX = 0,       /**< the profile's mix */
  MIXSTAGE_OUTPUT_STEM = 1,      /**< a strip's or group's stem */
  MIXSTAGE_OUTPUT_FX = 2,        /**< a mix-fx return printed as a stem */
  MIXSTAGE_OUTPUT_REFERENCE = 3  /**< the production mix */
} mixstage_output_kind;

typedef struct mixstage_bounce mixstage_bounce;

/** Renders @p profile offline: every output it delivers, in one pass, each
 *  as long as mixstage_graph_render_frames() says, interleaved with the mix
 *  bus's channels, latency removed.  @p cfg may be NULL (defaults; threads
 *  are honoured).  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOMEM, any prepare or
 *  render error; MIXSTAGE_ENUMERIC still returns the bounce.  Edit-time. */
MIXSTAGE_EXPORT mixstage_bounce *mixstage_graph_bounce(mixstage_graph *graph, const mixstage_profile *profile,
                                                       const mixstage_render_config *cfg, int *error);
MIXSTAGE_EXPORT void mixstage_bounce_destroy(mixstage_bounce *bounce);
MIXSTAGE_EXPORT int mixstage_bounce_count(const mixstage_bounce *bounce);
MIXSTAGE_EXPORT int64_t mixstage_bounce_frames(const mixstage_bounce *bounce);
MIXSTAGE_EXPORT int mixstage_bounce_channels(const mixstage_bounce *bounce);
MIXSTAGE_EXPORT const char *mixstage_bounce_profile(const mixstage_bounce *bounce);
/** The output's name: the strip, group or return name, "mix" or "reference". */
MIXSTAGE_EXPORT const char *mixstage_bounce_name(const mixstage_bounce *bounce, int index);
MIXSTAGE_EXPORT int mixstage_bounce_kind(const mixstage_bounce *bounce, int index);
/** The output's audio (frames x channels, interleaved), owned by the bounce. */
MIXSTAGE_EXPORT const float *mixstage_bounce_data(const mixstage_bounce *bounce, int index);
/** 1 if this stem adds up exactly with the others (every stage between its
 *  source and the mix bus is linear or dynamics, bus color aside: the rules
 *  apply it to each stem, and the null check bypasses it); 0 with the reason
 *  in mixstage_bounce_note().  The manifest's "adds_up" and the bindings'
 *  Bounce.adds_up() give this figure.
 *  @return 1 or 0; MIXSTAGE_ERANGE for a bad index or a NULL bounce */
MIXSTAGE_EXPORT int mixstage_bounce_adds_up(const mixstage_bounce *bounce, int index);
/** @deprecated The former name of mixstage_bounce_adds_up(), kept so that
 *  existing programs build and link; same arguments and result. */
MIXSTAGE_EXPORT int mixstage_bounce_nulls(const mixstage_bounce *bounce, int index);
MIXSTAGE_EXPORT const char *mixstage_bounce_note(const mixstage_bounce *bounce, int index);
/** The index of the output named @p name, or MIXSTAGE_ENOTFOUND. */
MIXSTAGE_EXPORT int mixstage_bounce_find(const mixstage_bounce *bounce, const char *name);

/* ---- streamed bounces: blocks handed over as they are rendered ------------ */

/** Receives one block of every output of a streamed bounce: the frames
 *  [@p frame, @p frame + @p frames) of the delivered timeline (latency
 *  removed, frame 0 is the first delivered frame), @p outputs[i] holding
 *  output i's block (frames x channels, interleaved; valid during the call
 *  only).  @p bounce describes the outputs (names, kinds, whether they add
 *  up); its data is NULL.  Called on the caller's thread, in order, whatever
 *  the thread count.  Return 0 to go on, a negative mixstage_status to stop
 *  the bounce with that status (MIXSTAGE_ECANCELLED to cancel). */
typedef int (*mixstage_bounce_block_fn)(void *user, const mixstage_bounce *bounce, int64_t frame, int frames,
                                        const float *const *outputs);

/** Flags of mixstage_graph_bounce_stream(). */
enum {
  /** Also measure the null check (mixstage_graph_null_check()) in the same
   *  pass, block by block; read it with mixstage_bounce_null_residual().
   *  The profile must deliver stems. */
  MIXSTAGE_BOUNCE_NULL_CHECK = 1
};

/** Renders @p profile as mixstage_graph_bounce() does, in one pass, but
 *  hands every block of every output to @p block instead of keeping it: the
 *  memory needed does not grow with the length.  Returns the bounce's
 *  description (mixstage_bounce_data() is NULL for every output; the names,
 *  kinds, notes, length and the null residual are set), to destroy with
 *  mixstage_bounce_destroy().  With MIXSTAGE_BOUNCE_NULL_CHECK in @p flags
 *  the null-check forks (stems with bus-color bypassed, the production mix
 *  with its mix-bus stages bypassed) run in the same pass and only their
 *  residual's peak is kept.
 *  @return the description, or NULL with @p error set: MIXSTAGE_ENULL,
 *          MIXSTAGE_EINVAL (unknown flags; the null check of a profile
 *          without stems), MIXSTAGE_ENOMEM, any prepare or render error,
 *          the status @p block returned.  MIXSTAGE_ENUMERIC still returns
 *          the description.  Edit-time. */
MIXSTAGE_EXPORT mixstage_bounce *mixstage_graph_bounce_stream(mixstage_graph *graph, const mixstage_profile *profile,
                                                              const mixstage_render_config *cfg, int flags,
                                                              mixstage_bounce_block_fn block, void *user,
                                                              int *error);

/** The null-check residual of a streamed bounce run with
 *  MIXSTAGE_BOUNCE_NULL_CHECK, in dBFS (-400 for exactly zero); NAN
 *  otherwise. */
MIXSTAGE_EXPORT double mixstage_bounce_null_residual(const mixstage_bounce *bounce);

/** The null check of the stem rules: bounce the stems of @p profile (NULL:
 *  mix-stems) with bus-color bypassed, add the stems and the FX stems, and
 *  subtract the production mix with its mix-bus stages (bus-color,
 *  bus-dynamics, placeholder-limiter, mastering) bypassed.  Writes the peak
 *  of the residual in dBFS (-inf as -400) to @p residual_db.  Both sums come
 *  out of one pass over the graph (the forks of mixstage_graph_bounce_stream()
 *  with MIXSTAGE_BOUNCE_NULL_CHECK), the residual accumulated block by block:
 *  no output is held in memory.  Errors as for mixstage_graph_bounce(), and
 *  MIXSTAGE_EINVAL if the profile has no stems. */
MIXSTAGE_EXPORT int mixstage_graph_null_check(mixstage_graph *graph, const mixstage_profile *profile,
                                              const mixstage_render_config *cfg, double *residual_db);

#ifdef __cplusplus
}
#endif
#endif
