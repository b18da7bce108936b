/* Allocation through the graph's allocator (mixstage_graph_config's alloc
 * and free), for every layer of the library.  Kept apart from the graph
 * model (graph.c) so that the files that only need memory do not depend on
 * it.  Edit-time only. */
#include <string.h>
#include "internal.h"

void *mixstage__galloc(mixstage_graph *g, size_t n, size_t size) {
  return mixstage__calloc(&g->alloc, n, size);
}

void mixstage__gfree(mixstage_graph *g, void *p) { mixstage__free(&g->alloc, p); }

int mixstage__grow(mixstage_graph *g, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return MIXSTAGE_OK;
  int ncap = *cap ? *cap * 2 : 8;
  while (ncap < need) ncap *= 2;
  void *n = mixstage__galloc(g, (size_t)ncap, elem);
  if (!n) return MIXSTAGE_ENOMEM;
  if (*arr) memcpy(n, *arr, (size_t)*cap * elem);
  mixstage__gfree(g, *arr);
  *arr = n;
  *cap = ncap;
  return MIXSTAGE_OK;
}
