/* The node types, in the order mixstage_node_type_name() lists them.
 * Each class lives in lib/nodes/<name>.c. */
#include <string.h>
#include "node.h"

extern const mixstage__node_class mixstage__gain_class;
/* REGISTRY-DECL */

const mixstage__node_class *const mixstage__node_classes[] = {
    &mixstage__gain_class,
    /* REGISTRY-ENTRY */
    NULL,
};

const mixstage__node_class *mixstage__find_node_class(const char *name) {
  if (!name) return NULL;
  for (int i = 0; mixstage__node_classes[i]; i++)
    if (strcmp(mixstage__node_classes[i]->name, name) == 0) return mixstage__node_classes[i];
  return NULL;
}
