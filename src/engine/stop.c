/*
 * stop.c — finding stop strings in generated text.
 *
 * The text grows as tokens are detokenized; the scheduler searches it after
 * each token for the first match.  stop_find can also say how many trailing
 * bytes might still become a stop string with the next token, for a caller
 * that streams text and must not send them too early; nothing streams text
 * yet (serve's TOKEN frames carry a count), so the scheduler passes NULL.
 */
#include "stop.h"

#include <string.h>

long
stop_find(const char *text, size_t len, const char *const *stops, size_t n_stops,
		  size_t *partial)
{
	long		first = -1;
	size_t		hold = 0;

	for (size_t i = 0; i < n_stops; i++)
	{
		const char *stop = stops[i];
		size_t		slen;
		const char *hit;

		if (stop == NULL || stop[0] == '\0')
			continue;
		slen = strlen(stop);
		hit = memmem(text, len, stop, slen);
		if (hit && (first < 0 || hit - text < first))
			first = hit - text;

		/* longest suffix of text that is a proper prefix of stop */
		for (size_t k = slen - 1 < len ? slen - 1 : len; k > hold; k--)
			if (memcmp(text + len - k, stop, k) == 0)
			{
				hold = k;
				break;
			}
	}
	if (partial)
		*partial = hold;
	return first;
}
