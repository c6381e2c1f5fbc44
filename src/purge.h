/* purge: when and how free memory goes back to the kernel.
 *
 * The layers below keep freed memory and say when it was freed: an arena's
 * chunks hold dirty pages (free, still resident) stamped with the time they
 * went dirty, empty slabs wait in their class, huge blocks wait in huge's
 * cache. This layer decides when they go:
 *  - decay: what has been dirty for decay_ms (HUGESLAB_CONF, default
 *    PURGE_DEFAULT_DECAY_MS) is given back on the next pass; passes run
 *    from the arenas' slow paths (a hook after each entry point that freed
 *    memory; at most one every decay_ms / PURGE_PASSES_PER_DECAY per arena)
 *    and, with background_thread:1, from a thread while the program idles;
 *  - excess: an arena that shrank (in use under half its recent peak) and
 *    holds more dirty pages than a sixteenth of its pages in use (and more
 *    than its excess minimum freed since the last pass) gives the oldest back
 *    at once, down to a thirty-second of what is in use, so a program that
 *    frees much of its heap and then
 *    sleeps gets it back without a thread, while one that churns at a
 *    steady size keeps reusing its dirty pages;
 *  - huge pages are kept whole: free pages of a partly used chunk that asked
 *    for huge pages go back only when its arena is mostly free, on excess,
 *    or under malloc_trim; a chunk with nothing in use always goes whole;
 *  - malloc_trim(0) gives back everything free at once, down to the pages
 *    of partly used slabs that hold no live slot.
 * How: MADV_DONTNEED by default (RSS drops at once and tells the truth),
 * MADV_FREE with purge:free. */
#ifndef HS_PURGE_H
#define HS_PURGE_H

#include <stdbool.h>
#include <stddef.h>

/* One second: a page freed and reused within it costs no fault (a program's
 * steady churn stays resident), and a program that drops its heap has it
 * back within about a second and a half. */
#define PURGE_DEFAULT_DECAY_MS 1000

/* Install the triggers (init.c, after the arenas). */
void purge_init(void);

/* malloc_trim: give back every free page now (the caller flushed its own
 * thread cache). Returns bytes given back. */
size_t purge_trim(void);

/* Out of memory: give back cached huge blocks and dirty pages so a retry
 * can find address space and commit charge. Returns bytes given back. */
size_t purge_for_memory(void);

/* fork.c: no background thread starts from inside fork's handlers (their
 * flushes release memory): purge_prefork before anything else in the prepare
 * handler, purge_postfork_parent last in the parent's. The thread does not
 * survive fork; a child that frees memory starts its own, after
 * purge_postfork_child (last in the child's handler). */
void purge_prefork(void);
void purge_postfork_parent(void);
void purge_postfork_child(void);

/* The background thread's name (/proc/PID/task/TID/comm, ps -L, top -H). */
#define PURGE_THREAD_NAME "hugeslab-purge"

/* Whether the background thread is running (for tests and stats). */
bool purge_background_running(void);

#endif
