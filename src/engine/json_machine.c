/*
 * json_machine.c — the schema's byte automaton (see json_machine.h).
 *
 * A stack of frames holds the objects and arrays being written; the lexer
 * fields of the state hold the scalar (or key) being written on top of
 * them.  Every transition checks that some completion is still accepted,
 * so the automaton never reaches a dead end: that is what lets the token
 * mask forbid nothing that could still finish.
 */
#include "json_machine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum lex
{
	LEX_VALUE,					/* a value of st->node starts with the next byte */
	LEX_NONE,					/* between tokens of the innermost container */
	LEX_KEY,
	LEX_STRING,
	LEX_NUMBER,
	LEX_LITERAL,
	LEX_DONE
};

enum phase
{
	OBJ_START,					/* after '{': a key or '}' */
	OBJ_KEY,					/* after ',': a key */
	OBJ_COLON,					/* after a key */
	OBJ_NEXT,					/* after a value: ',' or '}' */
	ARR_START,					/* after '[': a value or ']' */
	ARR_NEXT					/* after a value: ',' or ']' */
};

#define NUMBER_DIGITS 15		/* before and after the point */

static const char *const literals[] = {"true", "false", "null"};

/* Clear the lexer fields, so equal contexts give equal states. */
static void
lex_begin(struct json_state *st, enum lex lex, uint16_t node)
{
	st->lex = (uint8_t) lex;
	st->node = node;
	st->escape = 0;
	st->utf8_need = 0;
	st->utf8_lo = 0;
	st->utf8_hi = 0;
	st->len = 0;
	st->cand = 0;
	memset(st->buf, 0, sizeof st->buf);
}

static uint64_t
all_names(uint16_t n)
{
	return n >= 64 ? ~(uint64_t) 0 : ((uint64_t) 1 << n) - 1;
}

/* Properties that may come after `count` have passed: the next ones up to
 * and including the first required one. */
static uint64_t
key_candidates(const struct js_node *n, uint32_t count)
{
	uint64_t	from = count >= 64 ? 0 : all_names(n->props.n) & ~all_names((uint16_t) count);
	uint64_t	req = n->required & from;

	if (req == 0)
		return from;
	return from & ((req & (~req + 1)) * 2 - 1);
}

static bool
object_may_close(const struct js_node *n, uint32_t count)
{
	uint64_t	from = count >= 64 ? 0 : all_names(n->props.n) & ~all_names((uint16_t) count);

	return (n->required & from) == 0;
}

/* A value was completed: back to its container (or the end). */
static void
value_done(const struct json_schema *s, struct json_state *st)
{
	struct json_frame *f;

	lex_begin(st, st->depth == 0 ? LEX_DONE : LEX_NONE, 0);
	if (st->depth == 0)
		return;
	f = &st->stack[st->depth - 1];
	f->phase = s->nodes[f->node].kind == JS_OBJECT ? OBJ_NEXT : ARR_NEXT;
}

static bool
close_container(const struct json_schema *s, struct json_state *st)
{
	memset(&st->stack[--st->depth], 0, sizeof(struct json_frame));
	value_done(s, st);
	return true;
}

static bool
push_frame(struct json_state *st, uint16_t node, enum phase phase)
{
	if (st->depth > JSON_SCHEMA_MAX_DEPTH)
		return false;
	st->stack[st->depth++] = (struct json_frame) {.node = node, .phase = (uint8_t) phase};
	lex_begin(st, LEX_NONE, 0);
	return true;
}

/* ---- numbers --------------------------------------------------------------- */

/* Can a value of magnitude in [a, b) (closed: [a, b]) with the sign fit? */
static bool
range_fits(const struct js_node *n, bool neg, double a, double b, bool closed)
{
	if (!neg)
		return a <= n->maximum && (closed ? b >= n->minimum : b > n->minimum);
	return -a >= n->minimum && (closed ? -b <= n->maximum : -b < n->maximum);
}

/*
 * Some completion of the number text t[0..len) (grammatically valid so far)
 * lies within the bounds: the completions' magnitudes are one interval per
 * count of digits still to come before the point, or one after it.
 */
static bool
number_feasible(const struct js_node *n, const char *t, size_t len)
{
	bool		integer = n->kind == JS_INTEGER;
	bool		neg = t[0] == '-';
	size_t		i = neg;
	size_t		int_digits = 0;
	double		v = 0;
	double		frac = 0;
	double		unit = 1;

	for (; i < len && t[i] != '.'; i++, int_digits++)
		v = v * 10 + (t[i] - '0');
	if (int_digits == 0)
		return range_fits(n, neg, 0, 1e15, integer);
	if (i < len)
	{
		for (i++; i < len; i++)
		{
			unit /= 10;
			frac += (t[i] - '0') * unit;
		}
		return range_fits(n, neg, v + frac, v + frac + unit, unit < 1e-14);
	}
	if (v == 0)
		return range_fits(n, neg, 0, integer ? 0 : 1, integer);
	for (size_t k = int_digits; k <= NUMBER_DIGITS; k++, v *= 10)
		if (integer ? range_fits(n, neg, v, v + pow(10, (double) (k - int_digits)) - 1, true)
			: range_fits(n, neg, v, v + pow(10, (double) (k - int_digits)), false))
			return true;
	return false;
}

static bool
number_complete(const struct js_node *n, const struct json_state *st)
{
	char		last = st->len ? st->buf[st->len - 1] : 0;
	double		x;

	if (last < '0' || last > '9')
		return false;
	x = strtod(st->buf, NULL);
	return x >= n->minimum && x <= n->maximum;
}

/* May c extend the number text?  Grammar first, then the bounds. */
static bool
number_extends(const struct js_node *n, struct json_state *st, uint8_t c)
{
	const char *t = st->buf;
	size_t		len = st->len;
	const char *dot = memchr(t, '.', len);
	size_t		int_start = t[0] == '-';
	size_t		int_digits = (dot ? (size_t) (dot - t) : len) - int_start;

	if (c == '.')
	{
		if (n->kind == JS_INTEGER || dot || int_digits == 0)
			return false;
	}
	else if (c < '0' || c > '9')
		return false;
	else if (dot ? len - (size_t) (dot - t) - 1 >= NUMBER_DIGITS
			 : int_digits >= NUMBER_DIGITS || (int_digits == 1 && t[int_start] == '0'))
		return false;
	st->buf[st->len++] = (char) c;
	if (number_feasible(n, st->buf, st->len))
		return true;
	st->buf[--st->len] = '\0';
	return false;
}

/* ---- dates ----------------------------------------------------------------- */

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static int
two_digits(const char *t)
{
	return (t[0] - '0') * 10 + (t[1] - '0');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "hh:mm" (sep ':' between) or "hh:mm:ss" prefixes of t[0..n). */
static bool
clock_prefix_ok(const char *t, size_t n, size_t fields)
{
	for (size_t i = 0; i < n; i++)
	{
		if (i % 3 == 2)
		{
			if (t[i] != ':' || i / 3 + 1 >= fields)
				return false;
			continue;
		}
		if (!is_digit(t[i]) || i >= fields * 3 - 1)
			return false;
		if (i % 3 == 0 && t[i] > (i == 0 ? '2' : '5'))
			return false;
		if (i == 1 && t[0] == '2' && t[1] > '3')
			return false;
	}
	return true;
}

static bool
date_prefix_ok(const char *t, size_t n)
{
	int			year = 0;
	int			month;

	for (size_t i = 0; i < n && i < 10; i++)
		if ((i == 4 || i == 7) ? t[i] != '-' : !is_digit(t[i]))
			return false;
	if (n < 4)
		return true;
	year = two_digits(t) * 100 + two_digits(t + 2);
	if (year == 0 || (n >= 6 && t[5] > '1'))
		return false;
	if (n < 7)
		return true;
	month = two_digits(t + 5);
	if (month < 1 || month > 12)
		return false;
	if (n >= 9 && (t[8] - '0') * 10 > days_in_month(year, month))
		return false;
	return n < 10 || (two_digits(t + 8) >= 1 && two_digits(t + 8) <= days_in_month(year, month));
}

/* The part of a date-time after the seconds: [.f{1,6}] then Z or ±hh:mm.
 * Sets *complete when t[0..n) is a whole one. */
static bool
zone_prefix_ok(const char *t, size_t n, bool *complete)
{
	size_t		i = 0;

	*complete = false;
	if (i < n && t[i] == '.')
	{
		size_t		digits = 0;

		for (i++; i < n && is_digit(t[i]); i++)
			digits++;
		if (digits > 6 || (i < n && digits == 0))
			return false;
	}
	if (i == n)
		return true;
	if (t[i] == 'Z')
	{
		*complete = i + 1 == n;
		return i + 1 == n;
	}
	if (t[i] != '+' && t[i] != '-')
		return false;
	*complete = n - i - 1 == 5;
	return clock_prefix_ok(t + i + 1, n - i - 1, 2);
}

/* The formatted string so far is a prefix of a valid one; *complete when it
 * is whole. */
static bool
format_prefix_ok(enum js_format f, const char *t, size_t n, bool *complete)
{
	*complete = false;
	if (!date_prefix_ok(t, n))
		return false;
	if (f == JS_FORMAT_DATE)
	{
		*complete = n == 10;
		return n <= 10;
	}
	if (n <= 10)
		return true;
	if (t[10] != 'T' || !clock_prefix_ok(t + 11, n < 19 ? n - 11 : 8, 3))
		return false;
	return n <= 19 || zone_prefix_ok(t + 19, n - 19, complete);
}

/* ---- strings --------------------------------------------------------------- */

/* One more character of a free string, within maxLength.  Without a bound
 * that needs it, the count stops at minLength so that states repeat. */
static bool
count_char(const struct js_node *n, struct json_state *st)
{
	if (st->len >= n->max_length)
		return false;
	st->len++;
	if (n->max_length == UINT32_MAX && st->len > n->min_length)
		st->len = n->min_length;
	return true;
}

/* A byte of a key or an enum string: *matched is set to the name's index
 * when c is the closing quote of a whole name. */
static bool
names_step(const struct js_names *names, struct json_state *st, uint8_t c, int *matched)
{
	uint64_t	next = 0;

	*matched = -1;
	for (uint64_t m = st->cand; m; m &= m - 1)
	{
		int			i = __builtin_ctzll(m);

		if (c == '"' && names->len[i] == st->len)
			*matched = i;
		else if (names->len[i] > st->len && (uint8_t) names->text[i][st->len] == c)
			next |= (uint64_t) 1 << i;
	}
	if (c == '"')
		return *matched >= 0;
	st->cand = next;
	st->len++;
	return next != 0;
}

/* A UTF-8 lead byte: how many continuation bytes follow and the range of
 * the first (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
static bool
utf8_lead(struct json_state *st, uint8_t c)
{
	uint8_t		lo = 0x80;
	uint8_t		hi = 0xBF;

	if (c >= 0xC2 && c <= 0xDF)
		st->utf8_need = 1;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		st->utf8_need = 2;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		st->utf8_need = 3;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	}
	else
		return false;
	st->utf8_lo = lo;
	st->utf8_hi = hi;
	return true;
}

static bool
format_step(const struct json_schema *s, const struct js_node *n, struct json_state *st,
			uint8_t c)
{
	bool		complete;

	if (c == '"')
	{
		if (!format_prefix_ok(n->format, st->buf, st->len, &complete) || !complete)
			return false;
		value_done(s, st);
		return true;
	}
	if (st->len + 1 >= JSON_LEX_BUF)
		return false;
	st->buf[st->len++] = (char) c;
	return format_prefix_ok(n->format, st->buf, st->len, &complete);
}

static bool
string_step(const struct json_schema *s, struct json_state *st, uint8_t c)
{
	const struct js_node *n = &s->nodes[st->node];
	int			matched;

	if (n->names.n > 0)
	{
		if (!names_step(&n->names, st, c, &matched))
			return false;
		if (matched >= 0)
			value_done(s, st);
		return true;
	}
	if (n->format != JS_FORMAT_NONE)
		return format_step(s, n, st, c);
	if (st->utf8_need > 0)
	{
		if (c < st->utf8_lo || c > st->utf8_hi)
			return false;
		st->utf8_need--;
		st->utf8_lo = st->utf8_need ? 0x80 : 0;
		st->utf8_hi = st->utf8_need ? 0xBF : 0;
		return true;
	}
	if (st->escape)
	{
		st->escape = 0;
		return strchr("\"\\/bfnrt", c) != NULL && c != 0;
	}
	if (c == '"')
	{
		if (st->len < n->min_length)
			return false;
		value_done(s, st);
		return true;
	}
	if (c < 0x20)
		return false;
	if (c >= 0x80 && !utf8_lead(st, c))
		return false;
	st->escape = c == '\\';
	return count_char(n, st);
}

/* ---- values and containers ------------------------------------------------- */

/* The alternative of an anyOf (or the node itself) whose values can start
 * with c; -1 when none.  Alternatives start differently (json_schema.c). */
static int
resolve(const struct json_schema *s, uint16_t node, uint8_t c)
{
	const struct js_node *n = &s->nodes[node];

	switch (n->kind)
	{
		case JS_OBJECT: return c == '{' ? node : -1;
		case JS_ARRAY: return c == '[' ? node : -1;
		case JS_STRING: return c == '"' ? node : -1;
		case JS_NUMBER:
		case JS_INTEGER: return c == '-' || is_digit((char) c) ? node : -1;
		case JS_BOOLEAN: return c == 't' || c == 'f' ? node : -1;
		case JS_NULL: return c == 'n' ? node : -1;
		case JS_ANY_OF:
			for (uint16_t i = 0; i < n->n_alts; i++)
			{
				int			k = resolve(s, n->alts[i], c);

				if (k >= 0)
					return k;
			}
			return -1;
	}
	return -1;
}

static bool
value_start(const struct json_schema *s, struct json_state *st, uint16_t want, uint8_t c)
{
	int			k = resolve(s, want, c);
	const struct js_node *n;

	if (k < 0)
		return false;
	n = &s->nodes[k];
	switch (n->kind)
	{
		case JS_OBJECT:
			return push_frame(st, (uint16_t) k, OBJ_START);
		case JS_ARRAY:
			return push_frame(st, (uint16_t) k, ARR_START);
		case JS_STRING:
			lex_begin(st, LEX_STRING, (uint16_t) k);
			st->cand = all_names(n->names.n);
			return true;
		case JS_NUMBER:
		case JS_INTEGER:
			lex_begin(st, LEX_NUMBER, (uint16_t) k);
			st->buf[0] = (char) c;
			st->len = 1;
			return number_feasible(n, st->buf, 1);
		default:
			lex_begin(st, LEX_LITERAL, (uint16_t) k);
			st->cand = c == 't' ? 0 : c == 'f' ? 1 : 2;
			st->len = 1;
			return true;
	}
}

static bool
key_start(const struct json_schema *s, struct json_state *st, uint8_t c)
{
	const struct json_frame *f = &st->stack[st->depth - 1];
	uint64_t	cand = key_candidates(&s->nodes[f->node], f->count);

	if (c != '"' || cand == 0)
		return false;
	lex_begin(st, LEX_KEY, 0);
	st->cand = cand;
	return true;
}

static bool
array_item_start(const struct json_schema *s, struct json_state *st, uint8_t c)
{
	struct json_frame *f = &st->stack[st->depth - 1];
	const struct js_node *n = &s->nodes[f->node];

	if (f->count >= n->max_items)
		return false;
	f->count++;
	if (n->max_items == UINT32_MAX && f->count > n->min_items)
		f->count = n->min_items;	/* only the minimum still matters */
	f->phase = ARR_NEXT;
	if (c == ',')
	{
		lex_begin(st, LEX_VALUE, n->items);
		return true;
	}
	return value_start(s, st, n->items, c);
}

/* A byte between the tokens of the innermost container. */
static bool
structure_step(const struct json_schema *s, struct json_state *st, uint8_t c)
{
	struct json_frame *f = &st->stack[st->depth - 1];
	const struct js_node *n = &s->nodes[f->node];

	switch (f->phase)
	{
		case OBJ_START:
			if (c == '}')
				return object_may_close(n, 0) && close_container(s, st);
			return key_start(s, st, c);
		case OBJ_KEY:
			return key_start(s, st, c);
		case OBJ_COLON:
			if (c != ':')
				return false;
			lex_begin(st, LEX_VALUE, n->prop_node[f->count - 1]);
			return true;
		case OBJ_NEXT:
			if (c == '}')
				return object_may_close(n, f->count) && close_container(s, st);
			if (c != ',' || key_candidates(n, f->count) == 0)
				return false;
			f->phase = OBJ_KEY;
			return true;
		case ARR_START:
			if (c == ']')
				return n->min_items == 0 && close_container(s, st);
			return c != ',' && array_item_start(s, st, c);
		case ARR_NEXT:
			if (c == ']')
				return f->count >= n->min_items && close_container(s, st);
			return c == ',' && array_item_start(s, st, c);
	}
	return false;
}

static bool
key_step(const struct json_schema *s, struct json_state *st, uint8_t c)
{
	struct json_frame *f = &st->stack[st->depth - 1];
	int			matched;

	if (!names_step(&s->nodes[f->node].props, st, c, &matched))
		return false;
	if (matched >= 0)
	{
		f->count = (uint32_t) matched + 1;
		f->phase = OBJ_COLON;
		lex_begin(st, LEX_NONE, 0);
	}
	return true;
}

bool
json_step(const struct json_schema *s, struct json_state *st, uint8_t c)
{
	const struct js_node *n = &s->nodes[st->node];

	switch ((enum lex) st->lex)
	{
		case LEX_VALUE:
			return value_start(s, st, st->node, c);
		case LEX_NONE:
			return structure_step(s, st, c);
		case LEX_KEY:
			return key_step(s, st, c);
		case LEX_STRING:
			return string_step(s, st, c);
		case LEX_NUMBER:
			if (st->len < JSON_LEX_BUF - 1 && number_extends(n, st, c))
				return true;
			if (!number_complete(n, st))
				return false;
			value_done(s, st);
			return json_step(s, st, c);
		case LEX_LITERAL:
			if (c != (uint8_t) literals[st->cand][st->len])
				return false;
			if (literals[st->cand][++st->len] == '\0')
				value_done(s, st);
			return true;
		case LEX_DONE:
			return false;
	}
	return false;
}

void
json_state_init(const struct json_schema *s, struct json_state *st)
{
	memset(st, 0, sizeof(*st));
	lex_begin(st, LEX_VALUE, s->root);
}

bool
json_complete(const struct json_schema *s, const struct json_state *st)
{
	if (st->lex == LEX_DONE)
		return true;
	return st->lex == LEX_NUMBER && st->depth == 0 && number_complete(&s->nodes[st->node], st);
}

bool
json_closed(const struct json_state *st)
{
	return st->lex == LEX_DONE;
}

uint32_t
json_plain_room(const struct json_schema *s, const struct json_state *st)
{
	const struct js_node *n = &s->nodes[st->node];

	if (st->lex != LEX_STRING || n->names.n > 0 || n->format != JS_FORMAT_NONE ||
		st->utf8_need > 0 || st->escape)
		return 0;
	return n->max_length == UINT32_MAX ? UINT32_MAX : n->max_length - st->len;
}

bool
json_feed(const struct json_schema *s, struct json_state *st, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!json_step(s, st, (uint8_t) text[i]))
			return false;
	return true;
}
