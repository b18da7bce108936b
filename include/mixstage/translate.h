/* libmixstage — translation: previews through simulated playback systems.
 *
 * Tutorial
 * --------
 * The last check before delivering a mix is whether it "translates": how it
 * sounds on a phone, laptop, earbuds, in a car and on a club system.  This
 * module renders a buffer through a model of each:
 *
 *     for (int i = 0; mixstage_playback_system_name(i); i++)
 *       printf("%s: %s\n", mixstage_playback_system_name(i),
 *              mixstage_playback_system_description(i));
 *     int phone = mixstage_playback_system_find("phone");
 *     mixstage_translate(mix, frames, 2, 48000, phone, preview);   // same shape
 *     double db = mixstage_translate_response_db(phone, 100.0, 48000);
 *     // or one preview file per system: previews/song-phone.wav, ...
 *     mixstage_translate_write(mix, frames, 2, 48000, "previews", "song", NULL,
 *                              err, sizeof err);
 *
 * Each system is a small cascade of RBJ-cookbook biquads (the designed
 * tonal curve), preceded by a channel stage (mono fold, narrowed width, or
 * a mono sub) and, for the two small-speaker systems, followed by a soft-knee
 * compressor that stands in for the loudness/speaker-protection DSP those
 * devices run.  The curves are this library's own design, written from the
 * physics of each system rather than measured from a product:
 *
 *  laptop   Two 20-40 mm drivers in a shallow chassis: no output below
 *           ~180 Hz (4th-order Butterworth high-pass, the acoustic 2nd-order
 *           roll-off plus the protection high-pass laptops apply), a boxy
 *           +3 dB mid bump at 900 Hz (chassis resonance), +2 dB at 4 kHz
 *           (drivers firing at the listener or off the desk), top rolled off
 *           above 15 kHz (2nd-order low-pass).  Speakers ~30 cm apart at
 *           arm's length: side signal scaled to 0.35 (narrow image).  Speaker
 *           protection compressor: -14 dBFS threshold, 4:1, 6 dB knee, 2 ms
 *           attack, 100 ms release.
 *  phone    One tiny (~10 mm) driver: 4th-order high-pass at 500 Hz, a
 *           +5 dB presence bump at 3 kHz (the driver's resonant top octave,
 *           tuned for speech intelligibility), 4th-order low-pass at 12 kHz.
 *           One speaker: every channel gets the mono fold (the mean of the
 *           channels).  Phones loudness-maximise their speaker: compressor
 *           at -20 dBFS, 3:1, 10 dB knee, 3 ms attack, 120 ms release.
 *  earbuds  Sealed in the ear canal, so the low end is kept and lifted:
 *           +4 dB low shelf at 90 Hz (consumer "bass" tuning), 2nd-order
 *           high-pass at 22 Hz (leak through an imperfect seal), +4 dB at
 *           4.5 kHz, Q 1.4 (the ear-canal resonance the bud does not fully
 *           compensate), top rolled off above 17 kHz.  Full stereo
 *           separation (each ear hears one channel only).
 *  car      Cabin gain: a closed cabin pressurises below its first mode, so
 *           the low end rises: +6 dB low shelf at 70 Hz that keeps rising
 *           towards 20 Hz (2nd-order high-pass at 18 Hz for the door woofers'
 *           limit); +3 dB at 180 Hz, Q 1.2 (door-panel boominess); -2 dB
 *           around 2.5 kHz (tweeters off axis, below the dash); -3 dB high
 *           shelf at 8 kHz (absorption by seats and upholstery).  The
 *           listener sits off centre: side signal scaled to 0.7.  Road noise
 *           (60-70 dB SPL, mostly below 200 Hz) masks quiet low passages; it
 *           is not added, so judge the quiet parts with that in mind.
 *  club     PA with subwoofers: 4th-order high-pass at 30 Hz (sub-bass
 *           port tuning / protection), +5 dB around 55 Hz, Q 0.8 (sub
 *           emphasis of a club tuning, 40-80 Hz), -4 dB high shelf at 9 kHz
 *           (air absorption over the room's distances, horn roll-off).  The
 *           subs are mono: the side signal is high-passed with an 8th-order
 *           Linkwitz-Riley filter at 100 Hz (-48 dB at 50 Hz), so everything
 *           below ~100 Hz plays in mono, as a club crossover sums it.
 *
 * Sections whose design frequency is at or above 0.45 x the sample rate
 * (the top-end shaping at low rates) are left out: that band does not exist.
 * The output is not level-normalised: the passband is at 0 dB and the boosts
 * may raise peaks above full scale (write float, or leave headroom).
 *
 * Every call here is edit-time (offline): mixstage_translate_write()
 * allocates and does I/O; the others neither allocate nor lock and are
 * thread-safe.  Buffers are interleaved 32-bit float, counted in frames.
 */
#ifndef MIXSTAGE_TRANSLATE_H
#define MIXSTAGE_TRANSLATE_H

#include "common.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Playback systems, in the order mixstage_playback_system_name() lists them. */
typedef enum mixstage_playback_system {
  MIXSTAGE_PLAYBACK_LAPTOP = 0,  /**< "laptop" */
  MIXSTAGE_PLAYBACK_PHONE = 1,   /**< "phone" */
  MIXSTAGE_PLAYBACK_EARBUDS = 2, /**< "earbuds" */
  MIXSTAGE_PLAYBACK_CAR = 3,     /**< "car" */
  MIXSTAGE_PLAYBACK_CLUB = 4     /**< "club" */
} mixstage_playback_system;

/** Number of playback systems (5). */
MIXSTAGE_EXPORT int mixstage_playback_system_count(void);
/** Short name of system @p index ("laptop", "phone", ...), or NULL when
 *  @p index is out of range, so a loop can stop at NULL. */
MIXSTAGE_EXPORT const char *mixstage_playback_system_name(int index);
/** One-line description of system @p index (what the model does), or NULL
 *  when out of range. */
MIXSTAGE_EXPORT const char *mixstage_playback_system_description(int index);
/** Index of the system called @p name (exact, lower case).
 *  @return the index (>= 0); MIXSTAGE_ENULL if @p name is NULL;
 *          MIXSTAGE_ENOTFOUND for an unknown name. */
MIXSTAGE_EXPORT int mixstage_playback_system_find(const char *name);

/** Renders @p in through playback system @p system into @p out.
 *  Processing starts from silence (fresh filter and compressor state).
 *  @param in        frames x channels interleaved floats
 *  @param frames    frame count, >= 0 (frames, not samples)
 *  @param channels  1 .. 64; channels are treated as equals (no layout is
 *                   assumed: "mid" is the mean of all channels)
 *  @param rate      Hz, 8000 .. 768000
 *  @param system    a mixstage_playback_system index
 *  @param out       frames x channels floats; may equal @p in (in place)
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL if in or out is NULL with frames > 0;
 *          MIXSTAGE_EINVAL for a negative frame count, a channel count or
 *          rate out of range; MIXSTAGE_ERANGE for an unknown system. */
MIXSTAGE_EXPORT int mixstage_translate(const float *in, int64_t frames, int channels, double rate,
                                       int system, float *out);

/** The designed magnitude response of @p system at @p freq, in dB, computed
 *  analytically from its biquads: the response to content common to all
 *  channels (the centre image), with the compressor idle (signal below its
 *  knee).  Content panned away from the centre is further shaped by the
 *  channel stage described above.
 *  @param freq  Hz, 0 .. rate / 2
 *  @param rate  Hz, 8000 .. 768000
 *  @return the response in dB; NAN for an unknown system or a bad
 *          frequency or rate. */
MIXSTAGE_EXPORT double mixstage_translate_response_db(int system, double freq, double rate);

/** Writes one preview file per playback system, DIR/PREFIX-NAME.EXT (EXT
 *  from the format: wav, aiff, flac), each through mixstage_audio_write()
 *  (atomic: temporary file, fsync, rename).  Stops at the first failure;
 *  files already written stay.
 *  @param in, frames, channels, rate  as mixstage_translate()
 *  @param dir      an existing directory
 *  @param prefix   file-name prefix; NULL or "" for "preview"
 *  @param cfg      format settings; NULL for the defaults (WAV, PCM24, dither)
 *  @param err,errlen  optional message buffer
 *  @return MIXSTAGE_OK; the errors of mixstage_translate() and
 *          mixstage_audio_write(); MIXSTAGE_ENULL if dir is NULL;
 *          MIXSTAGE_EINVAL if a path would be longer than 4095 bytes;
 *          MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_translate_write(const float *in, int64_t frames, int channels,
                                             double rate, const char *dir, const char *prefix,
                                             const mixstage_write_config *cfg, char *err,
                                             size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
