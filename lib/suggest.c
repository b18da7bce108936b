/* "Did you mean": the closest of a set of names to a word a user mistyped.
 * Names in this library are short (parameter, choice, role and type names),
 * so a plain edit distance over bounded lengths is enough. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define WORD_MAX 64

/* Optimal string alignment distance (Levenshtein plus transpositions of
 * adjacent letters, the commonest typing slip), ASCII case folded. */
static int fold(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int mixstage__edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  if (la > WORD_MAX || lb > WORD_MAX) return WORD_MAX * 2;
  int d[WORD_MAX + 1][WORD_MAX + 1];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      int same = fold((unsigned char)a[i - 1]) == fold((unsigned char)b[j - 1]);
      int v = d[i - 1][j - 1] + !same;
      if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && fold((unsigned char)a[i - 1]) == fold((unsigned char)b[j - 2]) &&
          fold((unsigned char)a[i - 2]) == fold((unsigned char)b[j - 1]) && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[la][lb];
}

/* Whether a candidate is close enough to be worth suggesting: within a third
 * of the word's length (at least 1, at most 3 edits), or the word is a
 * prefix of it ("band2_fr" -> "band2_freq"). */
static int plausible(const char *word, size_t lw, const char *cand, size_t lc, int dist) {
  int limit = (int)(lw / 3);
  if (limit < 1) limit = 1;
  if (limit > 3) limit = 3;
  if (dist <= limit) return 1;
  return lw >= 3 && lw < lc && strncmp(word, cand, lw) == 0;
}

void mixstage__suggest_init(mixstage__suggest *s, const char *word) {
  s->word = word ? word : "";
  s->best = NULL;
  s->best_len = 0;
  s->best_dist = WORD_MAX * 2;
}

void mixstage__suggest_offer(mixstage__suggest *s, const char *cand, size_t len) {
  size_t lw = strlen(s->word);
  int dist = mixstage__edit_distance(s->word, lw, cand, len);
  if (!plausible(s->word, lw, cand, len, dist)) return;
  if (dist < s->best_dist) {
    s->best = cand;
    s->best_len = len;
    s->best_dist = dist;
  }
}

void mixstage__suggest_offer_list(mixstage__suggest *s, const char *bar_separated) {
  for (const char *q = bar_separated; q && *q;) {
    const char *bar = strchr(q, '|');
    size_t n = bar ? (size_t)(bar - q) : strlen(q);
    mixstage__suggest_offer(s, q, n);
    q = bar ? bar + 1 : NULL;
  }
}

const char *mixstage__suggest_text(const mixstage__suggest *s, char *buf, size_t size) {
  if (!size) return "";
  buf[0] = 0;
  if (s->best) snprintf(buf, size, " (did you mean '%.*s'?)", (int)s->best_len, s->best);
  return buf;
}
