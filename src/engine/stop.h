/*
 * stop.h — stop strings in generated text.
 */
#ifndef DR1_STOP_H
#define DR1_STOP_H

#include <stddef.h>

/*
 * Stop strings: find the earliest occurrence of any stop string in text.
 * Returns its offset, or -1.  Also reports, through partial, the length of
 * the longest suffix of text that is a proper prefix of some stop string, so
 * a streaming caller knows how much to hold back.
 */
long		stop_find(const char *text, size_t len, const char *const *stops, size_t n_stops,
					  size_t *partial);

#endif
