/* libmixstage — editing a graph: remove, move and replace what was added.
 *
 * Tutorial
 * --------
 * Everything added to a graph can be taken out again, and the nodes of an
 * insert chain can be reordered or swapped for another type, without
 * rebuilding the graph:
 *
 *     mixstage_node *comp = mixstage_strip_insert(vox, "compressor",
 *                                                 MIXSTAGE_ROLE_STRIP, -1, &err);
 *     ...
 *     mixstage_node_move(comp, 0);              // first in the chain
 *     mixstage_node_replace(comp, "gate");      // same place, role, handle
 *     mixstage_node_remove(comp);               // comp is now invalid
 *     mixstage_strip_remove(vox);               // its inserts, sends, lanes too
 *     mixstage_graph_render(g, NULL, out, n);   // renders what remains
 *
 * Rules every call here follows:
 *
 *  - Edit-time.  Each call may free memory and must not run while another
 *    thread processes the graph.  From inside a render or process call (a
 *    source or progress callback) each is refused with MIXSTAGE_ESTATE and a
 *    message naming the object, and changes nothing.
 *  - All or nothing.  A call that fails leaves the graph exactly as it was;
 *    the graph's last error (mixstage_graph_last_error()) names the object
 *    at fault ("bus 'Drums': 2 strips or buses route into it (the first is
 *    strip 'Kick'); route them elsewhere before removing it").
 *  - Handles of removed objects are invalid, like a pointer after free():
 *    passing one to any call is undefined behaviour.  That covers the
 *    removed object and everything it took with it (its inserts, sends and
 *    lanes, and the sends into a removed FX return).  Language bindings, and
 *    any C program that keeps handles across edits it does not control,
 *    check an object's serial instead (see "Identity" below), which never
 *    touches freed memory.
 *  - Order.  The remaining strips, buses, sends and nodes keep their order;
 *    the indexes (mixstage_graph_strip(), mixstage_strip_node(), ...) of
 *    those after a removed one move down by one.
 *  - Prepare.  An edit unprepares the graph, as every edit-time change
 *    does: renders prepare by themselves, a real-time host calls
 *    mixstage_graph_prepare() (then mixstage_graph_locate() to resume where
 *    it was) before processing again.  The next prepare starts the DSP
 *    afresh for every object, edited or not: every node's state (filter
 *    memory, envelopes, a reverb's or delay's tail), latency-compensation
 *    and key delay lines, and parameter smoothing (values jump to their
 *    targets, or to their lanes' values), and sets the play position to 0; it restarts attached meters
 *    and empties gain-reduction histories (analysis.h).  Settings are kept:
 *    parameter values, lanes and their points, bypass, mute, solo,
 *    polarity, sources, routing, attached meters and history rings.  A
 *    render after any sequence of edits is bit-identical to a render of the
 *    same graph built from scratch in the resulting order.
 *  - Profiles (profile.h) act on roles, not on objects, so removals change
 *    nothing in them; a render profile goes on applying to what remains.
 *  - Graph files (graphfile.h) are written from the engine, so saving
 *    after edits writes what remains, replaced nodes as their new type;
 *    a mixstage_graphfile forgets the source path it recorded for a strip
 *    that was removed.
 *
 * Identity
 * --------
 * Every strip, bus, send, node and lane has a serial: a 64-bit number,
 * unique within its graph, never 0 and never reused (the mix bus has 1; each
 * object made later gets a higher one), which outlives the object as a
 * number.  mixstage_graph_strip_by_serial() (and the bus, send, node and
 * lane variants) return the live object with that serial, or NULL once it
 * is removed, in O(log n) without allocating and without dereferencing any
 * handle.  A binding's proxy keeps its graph and the serial and looks the
 * object up before each use:
 *
 *     uint64_t id = mixstage_node_serial(comp);
 *     ...
 *     mixstage_node *n = mixstage_graph_node_by_serial(g, id);
 *     if (!n) { ... the node was removed: raise a clear error ... }
 *
 * A node replaced by mixstage_node_replace() keeps its handle and serial.
 * A lane that is removed and then made again by mixstage_node_lane() (or
 * the strip, bus, send variants) is a new lane with a new serial.
 */
#ifndef MIXSTAGE_EDIT_H
#define MIXSTAGE_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Removal ---------------------------------------------------------------- */

/** Removes @p strip from its graph with everything it owns: its insert
 *  nodes, its sends, the automation lanes of its parameters and of those
 *  nodes and sends, and its source (a buffer copy is freed, a streamed file
 *  closed; a buffer the caller lent stays the caller's).  Meters attached to
 *  the strip are detached, not destroyed (the caller owns them; their
 *  figures so far are kept).  Nodes elsewhere whose sidechain key was this
 *  strip lose the key and say so (mixstage_node_sidechain_lost()).  The
 *  handle and every handle it took with it become invalid.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ESTATE (the graph is
 *          rendering).  Edit-time. */
MIXSTAGE_EXPORT int mixstage_strip_remove(mixstage_strip *strip);

/** Removes the group bus or FX return @p bus with its inserts, its sends
 *  and their lanes, its fader, pan and width lanes; an FX return takes the
 *  sends into it (from any strip or bus) with it.  Meters attached to it
 *  are detached; nodes keyed by it lose the key (as for a strip).  Refused
 *  while any strip or bus has the bus as its output: route them elsewhere
 *  first (mixstage_strip_set_output(), mixstage_bus_set_output()), so that
 *  nothing is silently re-routed.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_EINVAL (the mix bus, which
 *          cannot be removed); MIXSTAGE_ESTATE (a strip or bus routes into
 *          it: the message says how many and names the first, in graph
 *          order; or the graph is rendering).  Edit-time. */
MIXSTAGE_EXPORT int mixstage_bus_remove(mixstage_bus *bus);

/** Removes @p send (and its level lane) from the strip or bus it belongs
 *  to.  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ESTATE (rendering).
 *  Edit-time. */
MIXSTAGE_EXPORT int mixstage_send_remove(mixstage_send *send);

/** Removes @p node from its insert chain, with its lanes, its sidechain key
 *  and its gain-reduction history; the nodes after it move up by one.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ESTATE (rendering).
 *  Edit-time. */
MIXSTAGE_EXPORT int mixstage_node_remove(mixstage_node *node);

/** Removes an automation lane and its points: the parameter goes back to
 *  the value last set on it (its setter's target, the default if none),
 *  reached at the next prepare.  mixstage_*_find_lane() then returns NULL;
 *  mixstage_*_lane() makes a new, empty lane (with a new serial).  To keep
 *  the lane but drop its points, use mixstage_lane_clear().
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ESTATE (rendering).
 *  Edit-time. */
MIXSTAGE_EXPORT int mixstage_lane_remove(mixstage_lane *lane);

/* ---- Moving and replacing nodes --------------------------------------------- */

/** Moves @p node to @p position in its own insert chain: afterwards
 *  mixstage_strip_node(strip, position) (or the bus variant) is @p node, and
 *  the others keep their relative order.  -1 means last.  The node keeps
 *  everything it had (parameters, lanes, role, bypass, key, history).
 *  @return MIXSTAGE_OK (also when it is already there); MIXSTAGE_ENULL;
 *          MIXSTAGE_ERANGE (position outside -1 .. count-1);
 *          MIXSTAGE_ESTATE (rendering).  Edit-time. */
MIXSTAGE_EXPORT int mixstage_node_move(mixstage_node *node, int position);

/** Replaces @p node by a node of type @p type in place: same chain, same
 *  position, same role, same bypass, same handle and serial.  For each
 *  parameter of the new type:
 *   - a parameter of the old type with the same name gives its value when
 *     the new parameter accepts it: the same unit (mixstage_unit),
 *     within the new range, and for choice parameters (MIXSTAGE_UNIT_ENUM)
 *     the choice of the same name (its index may differ); otherwise the
 *     new type's default;
 *   - its lane, with all points, comes along when the new parameter is
 *     automatable, has the same unit, accepts every point's value and,
 *     for a choice parameter, has the same choices in the same order;
 *     otherwise the lane is freed (its handle becomes invalid, its serial
 *     finds nothing);
 *   - every other new parameter starts at its default.
 *  The sidechain key is kept when the new type takes one; otherwise it is
 *  cleared and mixstage_node_sidechain_lost() reports it.  The
 *  gain-reduction history is kept (emptied) when the new type reports gain
 *  reduction, else freed.  Replacing by the same type keeps everything (it
 *  only unprepares the graph).
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL (node or type NULL);
 *          MIXSTAGE_ENOTFOUND (no such type: the message suggests the
 *          closest); MIXSTAGE_ENOMEM (the node is unchanged);
 *          MIXSTAGE_ESTATE (rendering).  Edit-time. */
MIXSTAGE_EXPORT int mixstage_node_replace(mixstage_node *node, const char *type);

/* ---- Sidechain keys lost to a removal ------------------------------------------ */

/** When the strip or bus that keyed @p node's detector was removed (or
 *  mixstage_node_replace() gave the node a type that takes no key), the key
 *  is cleared: the node's detector listens to its own input again,
 *  mixstage_node_sidechain_strip() and _bus() return NULL, saving writes no
 *  key, and this returns the name the key had ("Kick").  NULL when the node
 *  has not lost a key, or for a NULL node.  A later
 *  mixstage_node_set_sidechain_strip(), _bus() or
 *  mixstage_node_clear_sidechain() forgets the loss.  The text lives in the
 *  node.  Edit-time. */
MIXSTAGE_EXPORT const char *mixstage_node_sidechain_lost(const mixstage_node *node);

/* ---- Identity ---------------------------------------------------------------- */

/** The object's serial (see "Identity" above); 0 for a NULL handle.
 *  Any thread that may read the graph. */
MIXSTAGE_EXPORT uint64_t mixstage_strip_serial(const mixstage_strip *strip);
MIXSTAGE_EXPORT uint64_t mixstage_bus_serial(const mixstage_bus *bus);
MIXSTAGE_EXPORT uint64_t mixstage_send_serial(const mixstage_send *send);
MIXSTAGE_EXPORT uint64_t mixstage_node_serial(const mixstage_node *node);
MIXSTAGE_EXPORT uint64_t mixstage_lane_serial(const mixstage_lane *lane);

/** The live object of @p graph with @p serial, or NULL when there is none
 *  of that kind (removed, never made, 0, another kind, or a NULL graph).
 *  O(log n), no allocation; never reads a removed object.  Edit-time (not
 *  while another thread edits the graph). */
MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_strip_by_serial(mixstage_graph *graph, uint64_t serial);
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_bus_by_serial(mixstage_graph *graph, uint64_t serial);
MIXSTAGE_EXPORT mixstage_send *mixstage_graph_send_by_serial(mixstage_graph *graph, uint64_t serial);
MIXSTAGE_EXPORT mixstage_node *mixstage_graph_node_by_serial(mixstage_graph *graph, uint64_t serial);
MIXSTAGE_EXPORT mixstage_lane *mixstage_graph_lane_by_serial(mixstage_graph *graph, uint64_t serial);

/** The strip or bus @p send belongs to (borrowed): at most one of the two
 *  is non-NULL; both NULL for a NULL send.  Edit-time. */
MIXSTAGE_EXPORT mixstage_strip *mixstage_send_source_strip(mixstage_send *send);
MIXSTAGE_EXPORT mixstage_bus *mixstage_send_source_bus(mixstage_send *send);

#ifdef __cplusplus
}
#endif
#endif
