/*
 * json_machine.h — the byte-level automaton of a compiled schema: it reads
 * output one byte at a time and says whether the bytes so far are still a
 * prefix of some JSON text that the schema accepts.
 *
 * The language, chosen so that every accepted prefix can be completed and
 * so that generation cannot loop without progress:
 *   - compact JSON: no whitespace outside strings (a model cannot pad
 *     forever, and equal states repeat, which the mask cache relies on);
 *   - object properties in the order the schema lists them, each at most
 *     once, required ones never skipped, unknown ones never written;
 *   - strings: any valid UTF-8 except control characters, the escapes
 *     \" \\ \/ \b \f \n \r \t (no \u), lengths counted in code points;
 *   - numbers: -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 15 digits before
 *     and 15 after the point (integers: no point), no exponent; bounds are
 *     checked on every prefix (some completion must fit) and on the value;
 *   - date: YYYY-MM-DD, a real calendar day, year 0001-9999; date-time:
 *     that, "T", hh:mm:ss, optional .f{1,6}, then Z or +hh:mm / -hh:mm.
 * Strings without maxLength and arrays without maxItems are unbounded: the
 * request's max_tokens is what ends those.
 *
 * The state is a plain value (copy it to branch): equal prefixes in the
 * same context give byte-identical states, so states can be hashed.
 */
#ifndef DR1_JSON_MACHINE_H
#define DR1_JSON_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_schema.h"

#define JSON_LEX_BUF 40

struct json_frame
{
	uint16_t	node;			/* object or array node */
	uint8_t		phase;
	uint8_t		pad;
	uint32_t	count;			/* object: properties passed (last written + 1);
								 * array: items begun */
};

struct json_state
{
	struct json_frame stack[JSON_SCHEMA_MAX_DEPTH + 1];
	uint8_t		depth;
	uint8_t		lex;			/* what the next byte continues */
	uint8_t		escape;			/* string: after a backslash */
	uint8_t		utf8_need;		/* string: continuation bytes still due */
	uint8_t		utf8_lo;		/* the range of the next continuation byte */
	uint8_t		utf8_hi;
	uint16_t	node;			/* the scalar's node, or the value expected */
	uint32_t	len;			/* string: characters (saturated when no bound
								 * needs them); literal, number, format: bytes */
	uint64_t	cand;			/* key or enum: the names still matching */
	char		buf[JSON_LEX_BUF];	/* number or formatted string so far */
};

/* The state before any output: a value of the root schema is expected. */
void		json_state_init(const struct json_schema *s, struct json_state *st);

/* Read one byte; false (st unspecified) when no accepted text continues so. */
bool		json_step(const struct json_schema *s, struct json_state *st, uint8_t byte);

/* True when the text so far is a whole accepted value (the end may come). */
bool		json_complete(const struct json_schema *s, const struct json_state *st);

/* True when the value is complete and nothing can follow it. */
bool		json_closed(const struct json_state *st);

/* How many bytes of printable ASCII other than '"' and '\\' may follow,
 * each leaving the state as it is but for a character count: the room left
 * in a free string (UINT32_MAX: unbounded), 0 anywhere else.  The token
 * mask accepts whole runs of such tokens at once. */
uint32_t	json_plain_room(const struct json_schema *s, const struct json_state *st);

/* Feed bytes; false on the first one refused. */
bool		json_feed(const struct json_schema *s, struct json_state *st, const char *text,
					  size_t len);

#endif
