/*
 * json_value.h — a small JSON reader: text to a tree of values.
 *
 * Enough to read a JSON Schema (json_schema.h): objects keep their members
 * in the order of the text, numbers are doubles, strings are decoded UTF-8
 * (\u escapes included).  Nesting is bounded (JSON_VALUE_MAX_DEPTH) so a
 * hostile text cannot exhaust the stack.
 */
#ifndef DR1_JSON_VALUE_H
#define DR1_JSON_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_VALUE_MAX_DEPTH 64

enum json_type
{
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

struct json_value
{
	enum json_type type;
	bool		boolean;
	double		number;
	bool		integral;		/* a number written without fraction or exponent */
	char	   *str;			/* JSON_STRING: NUL-terminated */
	size_t		len;
	size_t		n;				/* JSON_ARRAY, JSON_OBJECT: items */
	struct json_value *items;
	char	  **keys;			/* JSON_OBJECT: keys[i] names items[i] */
};

/* Parse text[0..len) (one value, whitespace around it allowed).  NULL with a
 * message giving the byte offset on a syntax error. */
struct json_value *json_parse(const char *text, size_t len, char *err);
void		json_value_free(struct json_value *v);

/* The member of an object named key, or NULL. */
const struct json_value *json_member(const struct json_value *obj, const char *key);

const char *json_type_name(enum json_type t);

#endif
