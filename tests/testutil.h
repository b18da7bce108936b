/* Measurement helpers shared by the test suites: signal generators, levels,
 * a windowed single-frequency DFT and a real FFT magnitude spectrum. */
#ifndef MIXSTAGE_TESTUTIL_H
#define MIXSTAGE_TESTUTIL_H
#include <stdint.h>
#include "mixstage.h"

#define TU_PI 3.14159265358979323846

/* The five mono sources of the small test songs (check_deliver,
 * check_profiles), each len floats from calloc (free()): a kick (a pitch-swept
 * 60 Hz thump every 24000 frames), a bass (55 + 110 Hz), a pad (A minor
 * triad), a lead (660 Hz with 4 Hz tremolo for its first lead_seconds) and
 * hat-like bursts every 6000 frames.  Fails the test when out of memory. */
void tu_song_sources(float *src[5], int64_t len, double fs, double lead_seconds);
/* Adds those sources to g as five mono strips, "Kick", "Bass", "Pad", "Lead"
 * and "Hat" (Pad panned -0.3, Lead +0.3, Hat +0.5); st receives them. */
void tu_song_strips(mixstage_graph *g, float *const src[5], int64_t len, mixstage_strip *st[5]);

/* Fills x[0..n-1] with amp * sin(2 pi f t + phase). */
void tu_sine(float *x, int64_t n, double freq, double fs, double amp, double phase);
/* White noise in [-amp, amp) from a fixed xorshift seed (deterministic). */
void tu_noise(float *x, int64_t n, double amp, uint32_t seed);
double tu_peak(const float *x, int64_t n);
double tu_rms(const float *x, int64_t n);
double tu_db(double gain); /* 20 log10, -inf guarded to -999 */
/* Amplitude of the component at freq (a sine of amplitude A gives A), using a
 * Blackman-Harris window; n should span many periods. */
double tu_tone_amplitude(const float *x, int64_t n, double freq, double fs);
/* Magnitude spectrum of n (power of two) samples with a Blackman-Harris
 * window, as amplitudes: mag[k] for k = 0..n/2, bin width fs/n.  A sine of
 * amplitude A centred on a bin reads A.  Returns 0, or -1 if n is not a
 * power of two. */
int tu_spectrum(const float *x, int n, double *mag);
/* Blackman-Harris main lobe half-width in bins (for skipping leakage). */
#define TU_BH_HALF_WIDTH 4
#endif
